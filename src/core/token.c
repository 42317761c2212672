/*
 * token: RFC 3161 decoding and verification with OpenSSL's PKCS7/TS/X509 primitives, one check at a
 * time (rather than TS_RESP_verify_token) so that each outcome can be reported separately: an
 * auditor needs to know that the signature is fine but the TSA certificate had expired, not just
 * "invalid". The chain is verified with the verification time set to genTime; certificates inside
 * the token and in tsa.tsa_certs are only ever untrusted intermediates. The signature is checked
 * with the CMS API (PKCS7_signatureVerify knows no RSASSA-PSS parameters); the TSA certificate's
 * purpose is OpenSSL's X509_PURPOSE_TIMESTAMP_SIGN, spelt out rule by rule for the report.
 */
#include "token.h"

#include "codec.h"
#include "err.h"
#include "log.h"
#include "timefmt.h"
#include "tz.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ess.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LAYERS 4

struct tsb_token_verifier {
    X509_STORE *store;
    STACK_OF(X509) * anchors;         /* also searched for a signer the token does not carry */
    STACK_OF(X509) * certs;           /* tsa.tsa_certs: untrusted signers and intermediates */
    STACK_OF(ASN1_OBJECT) * policies; /* tsa.policy_oids; empty accepts any */
};

static const char *const check_names[TSB_TCHK_N] = {
    "token structure",
    "messageImprint algorithm",
    "messageImprint",
    "signer certificate",
    "CMS signature",
    "certificate chain at genTime",
    "ESS signing certificate",
    "timeStamping key usage",
    "TSA policy",
    "genTime against local clock",
};

const char *tsb_token_check_name(enum tsb_token_check c)
{
    return (unsigned)c < TSB_TCHK_N ? check_names[c] : "unknown check";
}

/* ---- decoding ------------------------------------------------------------------------------ */

/* A complete DER TimeStampToken: a signed PKCS7 whose content is a TSTInfo. */
static bool is_token(const uint8_t *p, size_t len)
{
    const unsigned char *q = p;
    PKCS7 *p7 = d2i_PKCS7(NULL, &q, (long)len);
    bool ok = false;
    if (p7 != NULL && q == p + len && PKCS7_type_is_signed(p7)) {
        TS_TST_INFO *tst = PKCS7_to_TS_TST_INFO(p7);
        ok = tst != NULL;
        TS_TST_INFO_free(tst);
    }
    PKCS7_free(p7);
    ERR_clear_error();
    return ok;
}

static int from_response(const uint8_t *p, size_t len, struct tsb_buf *der)
{
    int r = TSB_EINTERNAL;
    const unsigned char *q = p;
    unsigned char *out = NULL;
    TS_RESP *resp = d2i_TS_RESP(NULL, &q, (long)len);
    if (resp == NULL || q != p + len) {
        r = tsb_err(TSB_EFORMAT,
                    "token is neither a TimeStampToken nor a TimeStampResp "
                    "(%zu bytes after base64)",
                    len);
        goto out;
    }
    TS_STATUS_INFO *si = TS_RESP_get_status_info(resp);
    long status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));
    if (status != 0 && status != 1) {
        r = tsb_err(TSB_ETOKEN, "the TimeStampResp status is %ld (not granted)", status);
        goto out;
    }
    PKCS7 *tok = TS_RESP_get_token(resp);
    int n = tok ? i2d_PKCS7(tok, &out) : -1;
    if (n <= 0 || !is_token(out, (size_t)n)) {
        r = tsb_err(TSB_EFORMAT, "the TimeStampResp carries no valid TimeStampToken");
        goto out;
    }
    r = tsb_buf_append(der, out, (size_t)n);
out:
    OPENSSL_free(out);
    TS_RESP_free(resp);
    ERR_clear_error();
    return r;
}

int tsb_token_decode(const uint8_t *text, size_t len, struct tsb_buf *der,
                     struct tsb_token_form *form)
{
    int r = TSB_EINTERNAL;
    struct tsb_buf cur, next;
    struct tsb_token_form f = {0};
    tsb_buf_init(&cur, len + 1);
    tsb_buf_init(&next, len + 1);

    if ((r = tsb_buf_append(&cur, text, len)) != 0)
        goto out;
    /* the element is xs:base64Binary: the first layer is mandatory */
    while (f.base64_layers == 0 || tsb_b64_looks_like(cur.p, cur.len)) {
        if (f.base64_layers == MAX_LAYERS) {
            r = tsb_err(TSB_EFORMAT, "token is still base64 after %d layers", MAX_LAYERS);
            goto out;
        }
        tsb_buf_reset(&next);
        if ((r = tsb_b64_decode_buf((const char *)cur.p, cur.len, true, &next)) != 0) {
            r = tsb_err(TSB_EFORMAT, "token layer %d is not base64: %s", f.base64_layers + 1,
                        tsb_err_detail());
            goto out;
        }
        struct tsb_buf t = cur;
        cur = next;
        next = t;
        f.base64_layers++;
    }
    if (cur.len == 0) {
        r = tsb_err(TSB_EFORMAT, "token is empty");
        goto out;
    }
    if (is_token(cur.p, cur.len)) {
        r = tsb_buf_append(der, cur.p, cur.len);
    } else {
        f.full_response = true;
        r = from_response(cur.p, cur.len, der);
    }
    if (r == 0 && form != NULL)
        *form = f;
out:
    tsb_buf_cleanup(&cur);
    tsb_buf_cleanup(&next);
    return r;
}

/* ---- verifier ------------------------------------------------------------------------------ */

/* Appends every PEM certificate of path to st (and to store when non-NULL); what names the file's
 * role in errors. */
static int read_pem_file(const char *path, const char *what, STACK_OF(X509) * st, X509_STORE *store)
{
    int r = TSB_EINTERNAL;
    int before = sk_X509_num(st);
    BIO *in = BIO_new_file(path, "r");
    if (in == NULL) {
        r = tsb_err(TSB_ECONFIG, "cannot open %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    X509 *c;
    while ((c = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        if ((store != NULL && X509_STORE_add_cert(store, c) != 1) || !sk_X509_push(st, c)) {
            X509_free(c);
            r = tsb_err(TSB_ECONFIG, "cannot add a certificate of %s %s", what, path);
            goto out;
        }
    }
    if (sk_X509_num(st) == before) {
        r = tsb_err(TSB_ECONFIG, "%s %s holds no PEM certificate", what, path);
        goto out;
    }
    r = 0;
out:
    ERR_clear_error(); /* PEM_read ends with "no start line" */
    BIO_free(in);
    return r;
}

/* OpenSSL could not allocate what a check needs: TSB_ECRYPTO, not a verdict on the token. */
static int crypto_failed(const char *what)
{
    ERR_clear_error();
    return tsb_err(TSB_ECRYPTO, "OpenSSL could not allocate %s (out of memory)", what);
}

/* Appends a new reference to c to st. */
static int push_ref(STACK_OF(X509) * st, X509 *c)
{
    if (X509_up_ref(c) != 1)
        return crypto_failed("a certificate reference");
    if (!sk_X509_push(st, c)) {
        X509_free(c);
        return crypto_failed("a certificate list");
    }
    return 0;
}

int tsb_token_verifier_new(const char *anchors_pem, struct tsb_token_verifier **out)
{
    int r = TSB_EINTERNAL;
    struct tsb_token_verifier *v = tsb_calloc(1, sizeof(*v));
    v->store = X509_STORE_new();
    v->anchors = sk_X509_new_null();
    v->certs = sk_X509_new_null();
    v->policies = sk_ASN1_OBJECT_new_null();
    if (v->store == NULL || v->anchors == NULL || v->certs == NULL || v->policies == NULL) {
        r = crypto_failed("a certificate store");
        goto out;
    }
    if ((r = read_pem_file(anchors_pem, "TSA trust anchors", v->anchors, v->store)) != 0)
        goto out;
    *out = v;
    v = NULL;
out:
    tsb_token_verifier_free(v);
    return r;
}

int tsb_token_verifier_add_certs(struct tsb_token_verifier *v, const char *certs_pem)
{
    if (certs_pem == NULL || certs_pem[0] == '\0')
        return 0;
    return read_pem_file(certs_pem, "TSA certificates (tsa.tsa_certs)", v->certs, NULL);
}

int tsb_token_verifier_set_policies(struct tsb_token_verifier *v, const char *oids)
{
    int r = TSB_EINTERNAL;
    STACK_OF(ASN1_OBJECT) *st = sk_ASN1_OBJECT_new_null();
    char *copy = tsb_strdup(oids ? oids : "");
    char *save = NULL;
    if (st == NULL) {
        r = crypto_failed("a policy list");
        goto out;
    }
    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        t += strspn(t, " \t");
        size_t n = strlen(t);
        while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
            t[--n] = '\0';
        if (n == 0)
            continue;
        /* numeric only: a name such as "sha256" is no TSA policy */
        ASN1_OBJECT *o = strspn(t, "0123456789.") == n ? OBJ_txt2obj(t, 1) : NULL;
        if (o == NULL || !sk_ASN1_OBJECT_push(st, o)) {
            ASN1_OBJECT_free(o);
            r = tsb_err(TSB_ECONFIG, "tsa.policy_oids: '%s' is not a dotted OID such as 2.16.56.1",
                        t);
            goto out;
        }
    }
    sk_ASN1_OBJECT_pop_free(v->policies, ASN1_OBJECT_free);
    v->policies = st;
    st = NULL;
    r = 0;
out:
    ERR_clear_error();
    sk_ASN1_OBJECT_pop_free(st, ASN1_OBJECT_free);
    free(copy);
    return r;
}

int tsb_token_verifier_from_files(const char *anchors_pem, const char *certs_pem,
                                  const char *policy_oids, struct tsb_token_verifier **out)
{
    struct tsb_token_verifier *v = NULL;
    int r = tsb_token_verifier_new(anchors_pem, &v);
    if (r == 0 && (r = tsb_token_verifier_add_certs(v, certs_pem)) == 0 &&
        (r = tsb_token_verifier_set_policies(v, policy_oids)) == 0) {
        *out = v;
        return 0;
    }
    tsb_token_verifier_free(v);
    return r;
}

void tsb_token_verifier_free(struct tsb_token_verifier *v)
{
    if (v == NULL)
        return;
    X509_STORE_free(v->store);
    sk_X509_pop_free(v->anchors, X509_free);
    sk_X509_pop_free(v->certs, X509_free);
    sk_ASN1_OBJECT_pop_free(v->policies, ASN1_OBJECT_free);
    free(v);
}

__attribute__((format(printf, 4, 5))) static void set(struct tsb_token_result *res,
                                                      enum tsb_token_check c,
                                                      enum tsb_check_outcome o, const char *fmt,
                                                      ...)
{
    res->outcome[c] = o;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message[c], TSB_TOKEN_MSG_MAX, fmt, ap);
    va_end(ap);
}

static void skip_from(struct tsb_token_result *res, int from, const char *why)
{
    for (int c = from; c < TSB_TCHK_N; c++)
        if (res->outcome[c] == TSB_CHECK_NOT_RUN)
            set(res, c, TSB_CHECK_SKIPPED, "not checked: %s", why);
}

/* A certificate's notAfter in ms since the epoch (0 when it cannot be read). */
static int64_t cert_not_after_ms(const X509 *c)
{
    struct tm tm;
    const ASN1_TIME *t = X509_get0_notAfter(c);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (tsb_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
            tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) *
           1000;
}

/* GeneralizedTime "YYYYMMDDHHMMSS[.fff...]Z" to ms since the epoch. */
static int gen_time_ms(const ASN1_GENERALIZEDTIME *t, int64_t *out)
{
    const char *s = (const char *)ASN1_STRING_get0_data(t);
    int n = ASN1_STRING_length(t);
    struct tm tm;
    if (s == NULL || n < 15 || ASN1_TIME_to_tm(t, &tm) != 1)
        return TSB_EFORMAT;
    int64_t ms = 0;
    if (n > 15 && s[14] == '.') {
        int scale = 100;
        for (int i = 15; i < n && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
            ms += scale > 0 ? (s[i] - '0') * scale : 0;
    }
    int64_t secs = tsb_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
                   tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    *out = secs * 1000 + ms;
    return 0;
}

static void cert_name(X509 *c, char *out, size_t n)
{
    X509_NAME_oneline(X509_get_subject_name(c), out, (int)n);
}

/* messageImprint algorithms: accepted ones carry their digest, refused ones a reason. */
static const struct imprint_alg {
    int nid;
    const char *name;
    const EVP_MD *(*md)(void);
} imprint_algs[] = {
    {NID_sha256, "SHA-256", EVP_sha256},
    {NID_sha384, "SHA-384", EVP_sha384},
    {NID_sha512, "SHA-512", EVP_sha512},
    {NID_sha1, "SHA-1", NULL},
    {NID_md5, "MD5", NULL},
};

static const struct imprint_alg *imprint_alg_by_nid(int nid)
{
    for (size_t i = 0; i < sizeof(imprint_algs) / sizeof(imprint_algs[0]); i++)
        if (imprint_algs[i].nid == nid)
            return &imprint_algs[i];
    return NULL;
}

int tsb_token_digest(const char *alg, const uint8_t *p, size_t len,
                     uint8_t out[TSB_TOKEN_IMPRINT_MAX], size_t *out_len)
{
    for (size_t i = 0; i < sizeof(imprint_algs) / sizeof(imprint_algs[0]); i++) {
        const struct imprint_alg *a = &imprint_algs[i];
        if (strcmp(a->name, alg) != 0 || a->md == NULL)
            continue;
        unsigned int n = 0;
        if (EVP_Digest(p, len, out, &n, a->md(), NULL) != 1) {
            ERR_clear_error();
            return tsb_err(TSB_ECRYPTO, "%s digest failed", alg);
        }
        *out_len = n;
        return 0;
    }
    return tsb_err(TSB_EINVAL, "imprint algorithm %s is not accepted (SHA-256, SHA-384, SHA-512)",
                   alg);
}

/* Hex of p[0..n), shortened to its first 32 bytes so that two fit in a message. */
static void short_hex(const uint8_t *p, size_t n, char out[72])
{
    size_t k = n > 32 ? 32 : n;
    tsb_hex_encode(p, k, out);
    if (k < n)
        strcpy(out + 2 * k, "...");
}

static void check_imprint(TS_TST_INFO *tst, const uint8_t *digest,
                          const struct tsb_token_verify_opts *o, struct tsb_token_result *res)
{
    TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
    const ASN1_OBJECT *obj = NULL;
    X509_ALGOR_get0(&obj, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
    const struct imprint_alg *a = imprint_alg_by_nid(OBJ_obj2nid(obj));
    ASN1_OCTET_STRING *m = TS_MSG_IMPRINT_get_msg(mi);
    size_t mlen = (size_t)ASN1_STRING_length(m);
    if (a != NULL)
        snprintf(res->imprint_alg, sizeof(res->imprint_alg), "%s", a->name);
    else
        OBJ_obj2txt(res->imprint_alg, sizeof(res->imprint_alg), obj, 1);
    res->imprint_len = mlen <= TSB_TOKEN_IMPRINT_MAX ? mlen : 0;
    memcpy(res->imprint, ASN1_STRING_get0_data(m), res->imprint_len);
    if (a == NULL || a->md == NULL) {
        if (a != NULL)
            set(res, TSB_TCHK_IMPRINT_ALG, TSB_CHECK_FAIL,
                "the token's messageImprint uses %s, which is refused: it no longer resists "
                "collisions (SHA-256, SHA-384 or SHA-512 are accepted)",
                a->name);
        else
            set(res, TSB_TCHK_IMPRINT_ALG, TSB_CHECK_FAIL,
                "the token's messageImprint uses algorithm %s, which is not accepted (SHA-256, "
                "SHA-384 or SHA-512)",
                res->imprint_alg);
        set(res, TSB_TCHK_IMPRINT, TSB_CHECK_SKIPPED, "not checked: imprint algorithm is refused");
        return;
    }
    res->imprint_alg_ok = true;
    set(res, TSB_TCHK_IMPRINT_ALG, TSB_CHECK_PASS, "%s", a->name);

    uint8_t want[TSB_TOKEN_IMPRINT_MAX];
    size_t wlen = 0;
    if (o->imprint != NULL) {
        /* longer than any digest: matches no token (reported as the mismatch below) */
        wlen = o->imprint_len <= sizeof(want) ? o->imprint_len : 0;
        memcpy(want, o->imprint, wlen);
    } else if (o->data != NULL) {
        if (tsb_token_digest(a->name, o->data, o->data_len, want, &wlen) != 0) {
            set(res, TSB_TCHK_IMPRINT, TSB_CHECK_FAIL, "internal error: %s", tsb_err_detail());
            return;
        }
    } else if (a->nid == NID_sha256 && digest != NULL) {
        memcpy(want, digest, TSB_SHA256_LEN);
        wlen = TSB_SHA256_LEN;
    } else {
        set(res, TSB_TCHK_IMPRINT, TSB_CHECK_FAIL,
            "cannot compare: the token's imprint is %s and only the bag's SHA-256 is known",
            a->name);
        return;
    }
    if (mlen != wlen || memcmp(ASN1_STRING_get0_data(m), want, wlen) != 0) {
        char w[72], g[72] = "(wrong length)";
        short_hex(want, wlen, w);
        if (mlen == wlen)
            short_hex(ASN1_STRING_get0_data(m), mlen, g);
        set(res, TSB_TCHK_IMPRINT, TSB_CHECK_FAIL,
            "the token stamps %s %s but the bag's %s is %s: the token belongs to other data or "
            "the bag was altered",
            a->name, g, a->name, w);
        return;
    }
    set(res, TSB_TCHK_IMPRINT, TSB_CHECK_PASS, "matches the bag's %s", a->name);
}

/* "RSASSA-PSS with SHA-256", "ecdsa-with-SHA384", "RSA PKCS#1 v1.5 with SHA-256" into out;
 * returns the signature algorithm's NID. */
static int signature_alg(CMS_SignerInfo *si, char *out, size_t n)
{
    X509_ALGOR *dig = NULL, *sig = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
    const ASN1_OBJECT *dobj = NULL, *sobj = NULL;
    X509_ALGOR_get0(&dobj, NULL, NULL, dig);
    X509_ALGOR_get0(&sobj, NULL, NULL, sig);
    int snid = OBJ_obj2nid(sobj);
    const struct imprint_alg *d = imprint_alg_by_nid(OBJ_obj2nid(dobj));
    const char *dn = d ? d->name : OBJ_nid2sn(OBJ_obj2nid(dobj));
    if (snid == NID_rsaEncryption)
        snprintf(out, n, "RSA PKCS#1 v1.5 with %s", dn);
    else if (snid == NID_rsassaPss)
        snprintf(out, n, "RSASSA-PSS with %s", dn);
    else
        snprintf(out, n, "%s", OBJ_nid2sn(snid));
    return snid;
}

/* The CMS API verifies PKCS#1 v1.5, RSASSA-PSS (parameters from the SignerInfo, for rsaEncryption
 * and id-RSASSA-PSS keys alike) and ECDSA; the chain is checked separately, at genTime. Returns
 * TSB_ECRYPTO, the check not run, when OpenSSL cannot allocate the signer list. */
static int check_signature(const uint8_t *der, size_t len, X509 *signer,
                           struct tsb_token_result *res)
{
    bool ok = false;
    char alg[96] = "?";
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (certs == NULL || !sk_X509_push(certs, signer)) {
        sk_X509_free(certs);
        return crypto_failed("the signer list");
    }
    const unsigned char *q = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
    STACK_OF(CMS_SignerInfo) *sis = cms ? CMS_get0_SignerInfos(cms) : NULL;
    if (sis != NULL && sk_CMS_SignerInfo_num(sis) == 1) {
        int snid = signature_alg(sk_CMS_SignerInfo_value(sis, 0), alg, sizeof(alg));
        res->pss_rsa_key =
            snid == NID_rsassaPss && EVP_PKEY_get_base_id(X509_get0_pubkey(signer)) == EVP_PKEY_RSA;
        ok = CMS_verify(cms, certs, NULL, NULL, NULL,
                        CMS_NO_SIGNER_CERT_VERIFY | CMS_NOINTERN | CMS_BINARY) == 1;
    }
    sk_X509_free(certs);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
    if (ok)
        set(res, TSB_TCHK_SIGNATURE, TSB_CHECK_PASS, "the signature (%s) matches the token content",
            alg);
    else
        set(res, TSB_TCHK_SIGNATURE, TSB_CHECK_FAIL,
            "the CMS signature (%s) does not verify: the token was altered or forged", alg);
    return 0;
}

/* The signer's own purpose is reported by check_purpose; the chain check reports the rest. */
static int chain_cb(int ok, X509_STORE_CTX *ctx)
{
    if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_INVALID_PURPOSE &&
        X509_STORE_CTX_get_error_depth(ctx) == 0)
        return 1;
    return ok;
}

/* Returns the verified chain (signer first) or NULL. untrusted: the token's certificates and any
 * extra ones. */
static STACK_OF(X509) * check_chain(const struct tsb_token_verifier *v, STACK_OF(X509) * untrusted,
                                    X509 *signer, int64_t gen_ms, struct tsb_token_result *res)
{
    STACK_OF(X509) *chain = NULL;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    char when[TSB_TIME_STR_MAX], name[256];
    tsb_time_utc(gen_ms, when);
    cert_name(signer, name, sizeof(name));
    if (ctx == NULL || X509_STORE_CTX_init(ctx, v->store, signer, untrusted) != 1) {
        set(res, TSB_TCHK_CHAIN, TSB_CHECK_FAIL, "internal error: cannot set up chain checking");
        goto out;
    }
    /* as TS_RESP_verify_token: the CAs above the signer must be fit to issue TSA certificates */
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_TIMESTAMP_SIGN);
    X509_STORE_CTX_set_verify_cb(ctx, chain_cb);
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(vp, (time_t)(gen_ms / 1000));
    X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_verify_cert(ctx) == 1) {
        chain = X509_STORE_CTX_get1_chain(ctx);
        set(res, TSB_TCHK_CHAIN, TSB_CHECK_PASS,
            "%s chains to a configured TSA anchor and was valid at %s", name, when);
        goto out;
    }
    int e = X509_STORE_CTX_get_error(ctx);
    X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
    char badname[256] = "?";
    if (bad != NULL)
        cert_name(bad, badname, sizeof(badname));
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        set(res, TSB_TCHK_CHAIN, TSB_CHECK_FAIL,
            "certificate %s had already expired at the token's genTime %s", badname, when);
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        set(res, TSB_TCHK_CHAIN, TSB_CHECK_FAIL,
            "certificate %s was not yet valid at the token's genTime %s", badname, when);
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        set(res, TSB_TCHK_CHAIN, TSB_CHECK_FAIL,
            "the TSA certificate %s does not chain to any configured TSA trust anchor "
            "(tsa.trust_anchors): untrusted timestamp authority",
            name);
        break;
    default:
        set(res, TSB_TCHK_CHAIN, TSB_CHECK_FAIL, "certificate %s: %s", badname,
            X509_verify_cert_error_string(e));
    }
out:
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return chain;
}

static const uint8_t *attr_der(PKCS7_SIGNER_INFO *si, int nid, int *len)
{
    ASN1_TYPE *t = PKCS7_get_signed_attribute(si, nid);
    if (t == NULL || t->type != V_ASN1_SEQUENCE)
        return NULL;
    *len = t->value.sequence->length;
    return t->value.sequence->data;
}

static void check_ess(PKCS7_SIGNER_INFO *si, X509 *signer, STACK_OF(X509) * chain,
                      struct tsb_token_result *res)
{
    int l1 = 0, l2 = 0;
    const uint8_t *d1 = attr_der(si, NID_id_smime_aa_signingCertificate, &l1);
    const uint8_t *d2 = attr_der(si, NID_id_smime_aa_signingCertificateV2, &l2);
    if (d1 == NULL && d2 == NULL) {
        set(res, TSB_TCHK_ESS, TSB_CHECK_FAIL,
            "the token names no signing certificate (no ESSCertID or ESSCertIDv2)");
        return;
    }
    if (d1 != NULL && d2 != NULL) {
        set(res, TSB_TCHK_ESS, TSB_CHECK_FAIL,
            "the token carries both ESSCertID and ESSCertIDv2; exactly one is allowed");
        return;
    }
    ESS_SIGNING_CERT *ss = d1 ? d2i_ESS_SIGNING_CERT(NULL, &d1, l1) : NULL;
    ESS_SIGNING_CERT_V2 *ss2 = d2 ? d2i_ESS_SIGNING_CERT_V2(NULL, &d2, l2) : NULL;
    STACK_OF(X509) *own = NULL;
    if (ss == NULL && ss2 == NULL) {
        set(res, TSB_TCHK_ESS, TSB_CHECK_FAIL, "the signing certificate attribute is malformed");
        goto out;
    }
    if (chain == NULL) { /* chain failed: still say whether the identifier names the signer */
        own = sk_X509_new_null();
        sk_X509_push(own, signer);
        chain = own;
    }
    if (OSSL_ESS_check_signing_certs(ss, ss2, chain, 1) > 0)
        set(res, TSB_TCHK_ESS, TSB_CHECK_PASS, "%s names the signer",
            ss ? "ESSCertID" : "ESSCertIDv2");
    else
        set(res, TSB_TCHK_ESS, TSB_CHECK_FAIL,
            "the %s in the token does not match the certificate that signed it",
            ss ? "ESSCertID" : "ESSCertIDv2");
out:
    sk_X509_free(own);
    ESS_SIGNING_CERT_free(ss);
    ESS_SIGNING_CERT_V2_free(ss2);
    ERR_clear_error();
}

/* keyUsage bits as openssl x509 -text names them, for messages. */
static void key_usage_names(uint32_t ku, char *out, size_t n)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } bits[] = {
        {KU_DIGITAL_SIGNATURE, "digitalSignature"},
        {KU_NON_REPUDIATION, "nonRepudiation"},
        {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
        {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
        {KU_KEY_AGREEMENT, "keyAgreement"},
        {KU_KEY_CERT_SIGN, "keyCertSign"},
        {KU_CRL_SIGN, "cRLSign"},
        {KU_ENCIPHER_ONLY, "encipherOnly"},
        {KU_DECIPHER_ONLY, "decipherOnly"},
    };
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
        if ((ku & bits[i].bit) && used < n)
            used += (size_t)snprintf(out + used, n - used, "%s%s", used ? ", " : "", bits[i].name);
    if (out[0] == '\0')
        snprintf(out, n, "(none)");
}

/* OpenSSL 3.0's X509_PURPOSE_TIMESTAMP_SIGN for the signer (v3_purp.c), rule by rule so that the
 * report names the one broken; X509_check_purpose itself has the last word. */
static void check_purpose(X509 *signer, struct tsb_token_result *res)
{
    char name[256], kus[160];
    cert_name(signer, name, sizeof(name));
    uint32_t flags = X509_get_extension_flags(signer);
    uint32_t ku = X509_get_key_usage(signer);
    const uint32_t sig = KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION;
    if ((flags & EXFLAG_KUSAGE) && (!(ku & sig) || (ku & ~sig))) {
        key_usage_names(ku, kus, sizeof(kus));
        set(res, TSB_TCHK_EKU, TSB_CHECK_FAIL,
            "certificate %s has keyUsage %s: a TSA certificate may only have digitalSignature "
            "and/or nonRepudiation",
            name, kus);
        return;
    }
    if (!(flags & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage(signer) & XKU_TIMESTAMP)) {
        set(res, TSB_TCHK_EKU, TSB_CHECK_FAIL,
            "certificate %s is not allowed to issue timestamps (no timeStamping extended key "
            "usage)",
            name);
        return;
    }
    if (X509_get_extended_key_usage(signer) != XKU_TIMESTAMP) {
        set(res, TSB_TCHK_EKU, TSB_CHECK_FAIL,
            "certificate %s has extended key usages besides timeStamping (RFC 3161 forbids it)",
            name);
        return;
    }
    int i = X509_get_ext_by_NID(signer, NID_ext_key_usage, -1);
    if (i < 0 || !X509_EXTENSION_get_critical(X509_get_ext(signer, i))) {
        set(res, TSB_TCHK_EKU, TSB_CHECK_FAIL,
            "certificate %s has the timeStamping usage but not marked critical (RFC 3161 "
            "requires it)",
            name);
        return;
    }
    if (X509_check_purpose(signer, X509_PURPOSE_TIMESTAMP_SIGN, 0) != 1) {
        ERR_clear_error();
        set(res, TSB_TCHK_EKU, TSB_CHECK_FAIL,
            "certificate %s is unsuitable for timestamp signing (OpenSSL's timestampsign "
            "purpose)",
            name);
        return;
    }
    set(res, TSB_TCHK_EKU, TSB_CHECK_PASS, "timeStamping, critical");
}

static void check_policy(const struct tsb_token_verifier *v, TS_TST_INFO *tst,
                         struct tsb_token_result *res)
{
    const ASN1_OBJECT *p = TS_TST_INFO_get_policy_id(tst);
    int n = sk_ASN1_OBJECT_num(v->policies);
    if (n <= 0) {
        set(res, TSB_TCHK_POLICY, TSB_CHECK_PASS, "%s (tsa.policy_oids accepts any)", res->policy);
        return;
    }
    for (int i = 0; i < n; i++)
        if (p != NULL && OBJ_cmp(p, sk_ASN1_OBJECT_value(v->policies, i)) == 0) {
            set(res, TSB_TCHK_POLICY, TSB_CHECK_PASS, "%s, listed in tsa.policy_oids", res->policy);
            return;
        }
    set(res, TSB_TCHK_POLICY, TSB_CHECK_FAIL,
        "the token was issued under TSA policy %s, which tsa.policy_oids does not list",
        res->policy[0] ? res->policy : "(none)");
}

static void check_time(int64_t gen_ms, const struct tsb_token_verify_opts *o,
                       struct tsb_token_result *res)
{
    if (!o->check_skew) {
        set(res, TSB_TCHK_GEN_TIME, TSB_CHECK_SKIPPED, "not checked (audit mode)");
        return;
    }
    int64_t d = gen_ms - o->now_ms;
    char g[TSB_TIME_STR_MAX], n[TSB_TIME_STR_MAX];
    tsb_time_utc(gen_ms, g);
    tsb_time_utc(o->now_ms, n);
    if (d > o->max_skew_s * 1000 || -d > o->max_skew_s * 1000)
        set(res, TSB_TCHK_GEN_TIME, TSB_CHECK_FAIL,
            "genTime %s is %lld s from the local clock %s (allowed %lld s, tsa.gen_time_skew_s): "
            "check this machine's clock (NTP) or the TSA's",
            g, (long long)(d / 1000), n, (long long)o->max_skew_s);
    else
        set(res, TSB_TCHK_GEN_TIME, TSB_CHECK_PASS, "within %lld s of the local clock",
            (long long)o->max_skew_s);
}

/* Reads every certificate of a PEM blob into st; stops quietly at the first unreadable one. */
static void read_extra(const uint8_t *pem, size_t len, STACK_OF(X509) * st)
{
    BIO *in = BIO_new_mem_buf(pem, (int)len);
    X509 *c;
    while (in != NULL && (c = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(st, c))
            X509_free(c);
    BIO_free(in);
    ERR_clear_error();
}

static void write_chain(STACK_OF(X509) * chain, struct tsb_buf *out)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    for (int i = 0; b != NULL && i < sk_X509_num(chain); i++)
        PEM_write_bio_X509(b, sk_X509_value(chain, i));
    long n = b ? BIO_get_mem_data(b, &p) : 0;
    if (n > 0)
        tsb_buf_append(out, p, (size_t)n);
    BIO_free(b);
}

int tsb_token_verify(const struct tsb_token_verifier *v, const uint8_t *der, size_t len,
                     const uint8_t *digest, const struct tsb_token_verify_opts *o,
                     struct tsb_token_result *res)
{
    PKCS7 *p7 = NULL;
    TS_TST_INFO *tst = NULL;
    STACK_OF(X509) *chain = NULL;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509 *signer = NULL;
    const unsigned char *q = der;
    int r =
        0; /* TSB_ECRYPTO once OpenSSL could not allocate: the checks not reached stay NOT_RUN */

    memset(res, 0, sizeof(*res));
    if (untrusted == NULL) {
        r = crypto_failed("a certificate list");
        goto out;
    }
    p7 = d2i_PKCS7(NULL, &q, (long)len);
    if (p7 == NULL || q != der + len || !PKCS7_type_is_signed(p7) ||
        (tst = PKCS7_to_TS_TST_INFO(p7)) == NULL) {
        set(res, TSB_TCHK_PARSE, TSB_CHECK_FAIL,
            "not an RFC 3161 TimeStampToken (CMS SignedData with a TSTInfo)");
        skip_from(res, TSB_TCHK_IMPRINT_ALG, "the token cannot be read");
        goto out;
    }
    STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
    if (sis == NULL || sk_PKCS7_SIGNER_INFO_num(sis) != 1) {
        set(res, TSB_TCHK_PARSE, TSB_CHECK_FAIL, "a TimeStampToken must have exactly one signer");
        skip_from(res, TSB_TCHK_IMPRINT_ALG, "the token cannot be read");
        goto out;
    }
    int64_t gen_ms = 0;
    if (gen_time_ms(TS_TST_INFO_get_time(tst), &gen_ms) != 0) {
        set(res, TSB_TCHK_PARSE, TSB_CHECK_FAIL, "the token's genTime is malformed");
        skip_from(res, TSB_TCHK_IMPRINT_ALG, "the token cannot be read");
        goto out;
    }
    res->gen_time_ms = gen_ms;
    BIGNUM *bn = ASN1_INTEGER_to_BN(TS_TST_INFO_get_serial(tst), NULL);
    char *dec = bn ? BN_bn2dec(bn) : NULL;
    snprintf(res->serial, sizeof(res->serial), "%s", dec ? dec : "");
    OPENSSL_free(dec);
    BN_free(bn);
    OBJ_obj2txt(res->policy, sizeof(res->policy), TS_TST_INFO_get_policy_id(tst), 1);
    set(res, TSB_TCHK_PARSE, TSB_CHECK_PASS, "TimeStampToken, serial %s", res->serial);

    check_imprint(tst, digest, o, res);
    check_policy(v, tst, res);

    PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sis, 0);
    X509_NAME *iss = si->issuer_and_serial->issuer;
    ASN1_INTEGER *ser = si->issuer_and_serial->serial;
    for (int i = 0; p7->d.sign->cert != NULL && i < sk_X509_num(p7->d.sign->cert); i++)
        if ((r = push_ref(untrusted, sk_X509_value(p7->d.sign->cert, i))) != 0)
            goto out;
    if (o->extra_pem != NULL)
        read_extra(o->extra_pem, o->extra_pem_len, untrusted);
    for (int i = 0; i < sk_X509_num(v->certs); i++)
        if ((r = push_ref(untrusted, sk_X509_value(v->certs, i))) != 0)
            goto out;
    signer = X509_find_by_issuer_and_serial(untrusted, iss, ser);
    if (signer == NULL)
        signer = X509_find_by_issuer_and_serial(v->anchors, iss, ser);
    if (signer == NULL) {
        set(res, TSB_TCHK_SIGNER, TSB_CHECK_FAIL,
            "the token's signer certificate is neither in the token nor in tsa.tsa_certs nor in "
            "the TSA trust anchors");
        skip_from(res, TSB_TCHK_SIGNATURE, "the signer certificate is unknown");
        check_time(gen_ms, o, res);
        goto out;
    }
    cert_name(signer, res->tsa_subject, sizeof(res->tsa_subject));
    res->signer_not_after_ms = cert_not_after_ms(signer);
    set(res, TSB_TCHK_SIGNER, TSB_CHECK_PASS, "%s", res->tsa_subject);

    if ((r = check_signature(der, len, signer, res)) != 0)
        goto out;
    chain = check_chain(v, untrusted, signer, gen_ms, res);
    if (chain != NULL && o->chain_pem != NULL)
        write_chain(chain, o->chain_pem);
    check_ess(si, signer, chain, res);
    check_purpose(signer, res);
    check_time(gen_ms, o, res);
out:
    res->ok = true;
    for (int c = 0; c < TSB_TCHK_N; c++)
        if (res->outcome[c] == TSB_CHECK_FAIL || res->outcome[c] == TSB_CHECK_NOT_RUN)
            res->ok = false;
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(untrusted, X509_free);
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
    ERR_clear_error();
    if (r != 0) {
        res->ok = false;
        return r; /* the detail says what OpenSSL could not allocate */
    }
    if (res->ok)
        return 0;
    return tsb_err(TSB_ETOKEN, "%s", tsb_token_result_reason(res));
}

const char *tsb_token_result_reason(const struct tsb_token_result *res)
{
    if (res->ok)
        return "token verified";
    for (int c = 0; c < TSB_TCHK_N; c++)
        if (res->outcome[c] == TSB_CHECK_FAIL)
            return res->message[c];
    return "token verification did not complete";
}
