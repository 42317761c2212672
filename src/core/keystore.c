/*
 * keystore: PKCS#12 loading with the password wiped on every path. The key bag is chosen by its
 * friendlyName ("authentication", as eHealth issues them) so a keystore holding several keys
 * (authentication, encryption) yields the right one; the certificate is the one whose public key
 * matches. Everything else in the file becomes the chain.
 *
 * Keystores written by older Java tools encrypt with PKCS#12 PBEs that OpenSSL 3 keeps in its
 * legacy provider (RC2-40-CBC certificate bags; 3DES keys on some builds). When the default
 * provider cannot decrypt a part, the file is read again with a private library context holding
 * the legacy and default providers, only for the decryption: the key and certificates that come
 * out are plain ASN.1 turned into objects of the default context, so nothing else in the process
 * (TLS, token verification) ever sees a legacy algorithm.
 */
#include "keystore.h"
#include "keystore_signer.h"

#include "err.h"
#include "log.h"
#include "mem.h"
#include "xml.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/openssl/x509.h>
#include <xmlsec/xmlsec.h>

#define PASS_MAX 1024

struct tsb_keystore {
    EVP_PKEY *key;
    X509 *cert;
    STACK_OF(X509) * chain;
    enum tsb_key_type type;
    char desc[512];
};

/* Reads the password into pass[PASS_MAX] (NUL-terminated). The caller wipes pass. */
static int read_password(const struct tsb_keystore_source *src, char *pass)
{
    if (src->password_env != NULL && src->password_env[0] != '\0') {
        const char *v = getenv(src->password_env);
        if (v == NULL)
            return tsb_err(TSB_ECONFIG, "keystore password variable %s is not set",
                           src->password_env);
        size_t n = strlen(v);
        if (n >= PASS_MAX)
            return tsb_err(TSB_ECONFIG, "keystore password in %s is longer than %d bytes",
                           src->password_env, PASS_MAX - 1);
        memcpy(pass, v, n + 1);
        return 0;
    }
    if (src->password_file == NULL || src->password_file[0] == '\0')
        return tsb_err(TSB_ECONFIG, "no keystore password source: set tsa.keystore_password_file "
                                    "or tsa.keystore_password_env");
    return tsb_secret_file_read(src->password_file, "keystore password file", pass, PASS_MAX);
}

int tsb_secret_file_read(const char *path, const char *what, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return tsb_err(TSB_ECONFIG, "cannot open %s %s: %s", what, path, strerror(errno));
    /* unbuffered: the secret must not linger in a stdio buffer we cannot wipe */
    setvbuf(f, NULL, _IONBF, 0);
    int r = 0;
    if (fgets(out, (int)cap, f) == NULL) {
        out[0] = '\0'; /* an empty file is an empty secret */
    } else {
        size_t n = strlen(out);
        if (n == cap - 1 && out[n - 1] != '\n' && !feof(f))
            r = tsb_err(TSB_ECONFIG, "%s %s: first line is longer than %zu bytes", what, path,
                        cap - 2);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
            out[--n] = '\0';
    }
    fclose(f);
    return r;
}

int tsb_credentials_file_read(const char *what, const char *path, const char *exposes, bool refuse,
                              char *out, size_t cap)
{
    int r = tsb_secret_file_check(what, path, exposes, refuse);
    if (r == 0)
        r = tsb_secret_file_read(path, what, out, cap);
    const char *colon = r == 0 ? strchr(out, ':') : NULL;
    if (r == 0 && (colon == NULL || colon == out))
        r = tsb_err(TSB_ECONFIG, "%s %s: the first line must be user:password", what, path);
    if (r != 0)
        OPENSSL_cleanse(out, cap);
    return r;
}

static bool is_alias(PKCS12_SAFEBAG *bag)
{
    char *name = PKCS12_get_friendlyname(bag);
    bool yes = name != NULL && strcmp(name, TSB_KEYSTORE_ALIAS) == 0;
    OPENSSL_free(name);
    return yes;
}

struct found {
    EVP_PKEY *named; /* key with the alias */
    EVP_PKEY *other; /* first key without it */
    int keys;
    STACK_OF(X509) * certs;
    char undecryptable[80]; /* the PBE of the first part that could not be decrypted, or "" */
};

/* Forgets what a failed walk found, before the retry with the legacy provider. */
static void found_reset(struct found *fd)
{
    EVP_PKEY_free(fd->named);
    EVP_PKEY_free(fd->other);
    fd->named = fd->other = NULL;
    fd->keys = 0;
    while (sk_X509_num(fd->certs) > 0)
        X509_free(sk_X509_pop(fd->certs));
    fd->undecryptable[0] = '\0';
}

static void note_undecryptable(struct found *fd, const X509_ALGOR *alg)
{
    const ASN1_OBJECT *obj = NULL;
    if (fd->undecryptable[0] != '\0')
        return;
    if (alg != NULL)
        X509_ALGOR_get0(&obj, NULL, NULL, alg);
    if (obj == NULL || OBJ_obj2txt(fd->undecryptable, sizeof(fd->undecryptable), obj, 0) <= 0)
        snprintf(fd->undecryptable, sizeof(fd->undecryptable), "an unknown algorithm");
}

/* lctx: NULL for the default library context, or the one with the legacy provider. */
static int take_bag(PKCS12_SAFEBAG *bag, const char *pass, OSSL_LIB_CTX *lctx, struct found *fd)
{
    int nid = PKCS12_SAFEBAG_get_nid(bag);
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    EVP_PKEY *pk = NULL;

    if (nid == NID_certBag) {
        if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate)
            return 0;
        X509 *c = PKCS12_SAFEBAG_get1_cert(bag);
        if (c == NULL)
            return tsb_err(TSB_ECONFIG, "keystore holds an unreadable certificate");
        if (!sk_X509_push(fd->certs, c)) {
            X509_free(c);
            return tsb_err(TSB_ENOMEM, "cannot store certificate");
        }
        return 0;
    }
    if (nid == NID_keyBag) {
        const PKCS8_PRIV_KEY_INFO *p = PKCS12_SAFEBAG_get0_p8inf(bag);
        pk = p ? EVP_PKCS82PKEY(p) : NULL;
    } else if (nid == NID_pkcs8ShroudedKeyBag) {
        p8 = PKCS12_decrypt_skey_ex(bag, pass, (int)strlen(pass), lctx, NULL);
        if (p8 == NULL) {
            const X509_ALGOR *alg = NULL;
            X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, NULL);
            note_undecryptable(fd, alg);
        }
        pk = p8 ? EVP_PKCS82PKEY(p8) : NULL; /* in the default context */
        PKCS8_PRIV_KEY_INFO_free(p8);
    } else {
        return 0; /* CRL and secret bags are not ours */
    }
    if (pk == NULL)
        return tsb_err(TSB_ECONFIG, "keystore holds a private key that cannot be decrypted "
                                    "(unsupported algorithm?)");
    fd->keys++;
    if (fd->named == NULL && is_alias(bag)) {
        fd->named = pk;
    } else if (fd->other == NULL) {
        fd->other = pk;
    } else {
        EVP_PKEY_free(pk);
    }
    return 0;
}

/* The safe contents of an encrypted part, decrypted in lctx (NULL: the default context). */
static STACK_OF(PKCS12_SAFEBAG) *
    decrypt_part(PKCS7 *p7, const char *pass, OSSL_LIB_CTX *lctx, struct found *fd)
{
    PKCS7_ENC_CONTENT *ec = p7->d.encrypted ? p7->d.encrypted->enc_data : NULL;
    if (ec == NULL || ec->enc_data == NULL)
        return NULL;
    STACK_OF(PKCS12_SAFEBAG) *bags =
        PKCS12_item_decrypt_d2i_ex(ec->algorithm, ASN1_ITEM_rptr(PKCS12_SAFEBAGS), pass,
                                   (int)strlen(pass), ec->enc_data, 1, lctx, NULL);
    if (bags == NULL)
        note_undecryptable(fd, ec->algorithm);
    return bags;
}

static int walk(PKCS12 *p12, const char *pass, OSSL_LIB_CTX *lctx, struct found *fd)
{
    int r = TSB_EINTERNAL;
    STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
    if (safes == NULL)
        return tsb_err(TSB_ECONFIG, "keystore has no readable content");
    for (int i = 0; i < sk_PKCS7_num(safes); i++) {
        PKCS7 *p7 = sk_PKCS7_value(safes, i);
        STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
        int nid = OBJ_obj2nid(p7->type);
        if (nid == NID_pkcs7_data)
            bags = PKCS12_unpack_p7data(p7);
        else if (nid == NID_pkcs7_encrypted)
            bags = decrypt_part(p7, pass, lctx, fd);
        else
            continue;
        if (bags == NULL) {
            r = tsb_err(TSB_ECONFIG,
                        "keystore part %d cannot be decrypted (unsupported "
                        "algorithm?)",
                        i);
            goto out;
        }
        for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
            if ((r = take_bag(sk_PKCS12_SAFEBAG_value(bags, j), pass, lctx, fd)) != 0) {
                sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
                goto out;
            }
        }
        sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    }
    r = 0;
out:
    sk_PKCS7_pop_free(safes, PKCS7_free);
    return r;
}

/* A private library context with the legacy provider, and the default one (loading any provider
 * explicitly leaves the default out otherwise). The providers' references are dropped before the
 * context: freeing the context alone leaks them. */
struct legacy_ctx {
    OSSL_LIB_CTX *ctx;
    OSSL_PROVIDER *legacy, *dflt;
};

static void legacy_ctx_cleanup(struct legacy_ctx *l)
{
    if (l->legacy != NULL)
        OSSL_PROVIDER_unload(l->legacy);
    if (l->dflt != NULL)
        OSSL_PROVIDER_unload(l->dflt);
    OSSL_LIB_CTX_free(l->ctx);
    memset(l, 0, sizeof(*l));
}

static int legacy_ctx_init(struct legacy_ctx *l, const char *path, const char *alg)
{
    if ((l->ctx = OSSL_LIB_CTX_new()) == NULL)
        tsb_fatal("out of memory");
    if ((l->legacy = OSSL_PROVIDER_load(l->ctx, "legacy")) == NULL ||
        (l->dflt = OSSL_PROVIDER_load(l->ctx, "default")) == NULL) {
        legacy_ctx_cleanup(l);
        return tsb_err(TSB_ECONFIG,
                       "keystore %s is encrypted with %s, which needs OpenSSL's legacy provider, "
                       "and the legacy provider cannot be loaded (is ossl-modules/legacy.so "
                       "installed?)",
                       path, alg);
    }
    return 0;
}

static void describe(struct tsb_keystore *ks)
{
    char subject[256] = "?", serial[80] = "?", until[64] = "?";
    X509_NAME_oneline(X509_get_subject_name(ks->cert), subject, sizeof(subject));
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ks->cert), NULL);
    char *dec = bn ? BN_bn2dec(bn) : NULL;
    if (dec)
        snprintf(serial, sizeof(serial), "%s", dec);
    OPENSSL_free(dec);
    BN_free(bn);
    BIO *b = BIO_new(BIO_s_mem());
    if (b && ASN1_TIME_print(b, X509_get0_notAfter(ks->cert)) > 0) {
        int n = BIO_read(b, until, sizeof(until) - 1);
        until[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
    snprintf(ks->desc, sizeof(ks->desc), "%s key, certificate %s serial %s valid until %s",
             ks->type == TSB_KEY_RSA ? "RSA" : "EC", subject, serial, until);
}

int tsb_keystore_load(const struct tsb_keystore_source *src, int64_t now_ms,
                      struct tsb_keystore **out)
{
    int r = TSB_EINTERNAL;
    char pass[PASS_MAX];
    BIO *in = NULL;
    PKCS12 *p12 = NULL;
    struct found fd = {0};
    struct tsb_keystore *ks = NULL;
    struct legacy_ctx lctx = {0};

    pass[0] = '\0';
    if ((fd.certs = sk_X509_new_null()) == NULL)
        tsb_fatal("out of memory");
    if ((r = read_password(src, pass)) != 0)
        goto out;
    if ((in = BIO_new_file(src->path, "rb")) == NULL) {
        r = tsb_err(TSB_ECONFIG, "cannot open keystore %s: %s", src->path, strerror(errno));
        goto out;
    }
    if ((p12 = d2i_PKCS12_bio(in, NULL)) == NULL) {
        r = tsb_err(TSB_ECONFIG, "keystore %s is not a PKCS#12 file", src->path);
        goto out;
    }
    if (PKCS12_mac_present(p12) && !PKCS12_verify_mac(p12, pass, (int)strlen(pass))) {
        r = tsb_err(TSB_ECONFIG, "keystore %s: wrong password (integrity check failed)", src->path);
        goto out;
    }
    if ((r = walk(p12, pass, NULL, &fd)) != 0 && fd.undecryptable[0] != '\0') {
        char alg[sizeof(fd.undecryptable)];
        snprintf(alg, sizeof(alg), "%s", fd.undecryptable);
        found_reset(&fd);
        ERR_clear_error();
        if ((r = legacy_ctx_init(&lctx, src->path, alg)) != 0)
            goto out;
        tsb_warn("keystore %s: %s is not in OpenSSL's default provider (older Java tools write "
                 "such files); reading it with the legacy provider",
                 src->path, alg);
        r = walk(p12, pass, lctx.ctx, &fd);
    }
    if (r != 0) {
        r = tsb_err(r, "keystore %s: %s", src->path, tsb_err_detail());
        goto out;
    }
    EVP_PKEY *key = fd.named;
    if (key == NULL && fd.keys == 1)
        key = fd.other;
    if (key == NULL) {
        r = tsb_err(TSB_ECONFIG,
                    fd.keys == 0 ? "keystore %s holds no private key"
                                 : "keystore %s holds several keys and none is named "
                                   "'" TSB_KEYSTORE_ALIAS "'",
                    src->path);
        goto out;
    }
    ks = tsb_calloc(1, sizeof(*ks));
    if (key == fd.named)
        fd.named = NULL;
    else
        fd.other = NULL;
    ks->key = key;
    int base = EVP_PKEY_get_base_id(key);
    if (base == EVP_PKEY_RSA) {
        ks->type = TSB_KEY_RSA;
    } else if (base == EVP_PKEY_EC) {
        ks->type = TSB_KEY_EC;
    } else {
        r = tsb_err(TSB_ECONFIG, "keystore %s: key type %s is neither RSA nor EC", src->path,
                    OBJ_nid2sn(base));
        goto out;
    }
    for (int i = 0; i < sk_X509_num(fd.certs); i++) {
        X509 *c = sk_X509_value(fd.certs, i);
        if (X509_check_private_key(c, key) == 1) {
            ks->cert = c;
            (void)sk_X509_delete(fd.certs, i);
            break;
        }
    }
    ERR_clear_error(); /* X509_check_private_key queues errors for every mismatch */
    if (ks->cert == NULL) {
        r = tsb_err(TSB_ECONFIG, "keystore %s has no certificate for its private key", src->path);
        goto out;
    }
    ks->chain = fd.certs;
    fd.certs = NULL;
    describe(ks);
    time_t now = (time_t)(now_ms / 1000);
    if (X509_cmp_time(X509_get0_notAfter(ks->cert), &now) < 0) {
        r = tsb_err(TSB_ECONFIG, "keystore %s: the hospital certificate has expired (%s)",
                    src->path, ks->desc);
        goto out;
    }
    if (X509_cmp_time(X509_get0_notBefore(ks->cert), &now) > 0) {
        r = tsb_err(TSB_ECONFIG, "keystore %s: the hospital certificate is not valid yet (%s)",
                    src->path, ks->desc);
        goto out;
    }
    *out = ks;
    ks = NULL;
    r = 0;
out:
    OPENSSL_cleanse(pass, sizeof(pass));
    EVP_PKEY_free(fd.named);
    EVP_PKEY_free(fd.other);
    sk_X509_pop_free(fd.certs, X509_free);
    PKCS12_free(p12);
    BIO_free(in);
    tsb_keystore_free(ks);
    legacy_ctx_cleanup(&lctx);
    ERR_clear_error();
    return r;
}

int tsb_secret_file_check(const char *what, const char *path, const char *exposes, bool refuse)
{
    struct stat st;
    if (path == NULL || path[0] == '\0' || stat(path, &st) != 0)
        return 0;
    mode_t open_bits = st.st_mode & (S_IRWXG | S_IRWXO);
    if (open_bits == 0)
        return 0;
    char msg[512];
    snprintf(msg, sizeof(msg),
             "%s %s is accessible by group or others (mode %04o): whoever can read it can copy "
             "%s; chmod 0600 it, owned by the user tsbagd runs as",
             what, path, (unsigned)(st.st_mode & 07777), exposes);
    if (refuse)
        return tsb_err(TSB_ECONFIG, "%s (tsa.keystore_permissions=refuse)", msg);
    tsb_warn("keystore: %s", msg);
    return 0;
}

int tsb_keystore_check_private(const struct tsb_keystore_source *src, bool refuse)
{
    static const char key[] = "the hospital's eHealth key";
    int r = tsb_secret_file_check("keystore", src->path, key, refuse);
    if (r == 0 && (src->password_env == NULL || src->password_env[0] == '\0'))
        r = tsb_secret_file_check("keystore password file", src->password_file, key, refuse);
    return r;
}

void tsb_keystore_forget_env(const char *name)
{
    extern char **environ;
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0)
        return;
    /* unsetenv only unlinks the entry: its bytes stay where /proc/<pid>/environ reads them */
    for (char **e = environ; e != NULL && *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            OPENSSL_cleanse(*e, strlen(*e));
    unsetenv(name);
}

void tsb_keystore_free(struct tsb_keystore *ks)
{
    if (ks == NULL)
        return;
    EVP_PKEY_free(ks->key);
    X509_free(ks->cert);
    sk_X509_pop_free(ks->chain, X509_free);
    free(ks);
}

X509 *tsb_keystore_cert(const struct tsb_keystore *ks)
{
    return ks->cert;
}

int64_t tsb_keystore_not_after_ms(const struct tsb_keystore *ks)
{
    struct tm tm;
    const ASN1_TIME *na = X509_get0_notAfter(ks->cert);
    if (na == NULL || ASN1_TIME_to_tm(na, &tm) != 1) {
        ERR_clear_error();
        return 0;
    }
    return (int64_t)timegm(&tm) * 1000;
}

int tsb_keystore_ca_count(const struct tsb_keystore *ks)
{
    return sk_X509_num(ks->chain);
}

int tsb_keystore_check_chain(const struct tsb_keystore *ks)
{
    int n = sk_X509_num(ks->chain), r = TSB_EINTERNAL;
    if (n <= 0)
        return tsb_err(TSB_ENOTFOUND, "the keystore holds no CA certificate");
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (st == NULL || ctx == NULL) {
        r = tsb_err(TSB_ECRYPTO, "OpenSSL could not allocate a certificate store");
        goto out;
    }
    for (int i = 0; i < n; i++)
        X509_STORE_add_cert(st, sk_X509_value(ks->chain, i));
    X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_STORE_CTX_init(ctx, st, ks->cert, ks->chain) != 1) {
        r = tsb_err(TSB_ECRYPTO, "OpenSSL could not set up the chain check");
        goto out;
    }
    r = X509_verify_cert(ctx) == 1
            ? 0
            : tsb_err(TSB_ECONFIG, "%s",
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    ERR_clear_error();
    return r;
}

enum tsb_key_type tsb_keystore_key_type(const struct tsb_keystore *ks)
{
    return ks->type;
}

const char *tsb_keystore_describe(const struct tsb_keystore *ks)
{
    return ks->desc;
}

int tsb_keystore_xmlsec_key(const struct tsb_keystore *ks, xmlSecKeyPtr *out)
{
    int r = TSB_EINTERNAL;
    xmlSecKeyPtr key = NULL;
    xmlSecKeyDataPtr data = NULL;

    tsb_xml_init();
    if (!EVP_PKEY_up_ref(ks->key))
        return tsb_err(TSB_ECRYPTO, "cannot reference the hospital key");
    if ((data = xmlSecOpenSSLEvpKeyAdopt(ks->key)) == NULL) {
        EVP_PKEY_free(ks->key);
        r = tsb_err(TSB_ECRYPTO, "xmlsec refused the hospital key");
        goto out;
    }
    if ((key = xmlSecKeyCreate()) == NULL || xmlSecKeySetValue(key, data) < 0) {
        r = tsb_err(TSB_ECRYPTO, "cannot build an xmlsec key");
        goto out;
    }
    data = NULL; /* owned by key */
    *out = key;
    key = NULL;
    r = 0;
out:
    if (data != NULL)
        xmlSecKeyDataDestroy(data);
    if (key != NULL)
        xmlSecKeyDestroy(key);
    return r;
}
