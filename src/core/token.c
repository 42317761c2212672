/*
 * token: RFC 3161 decoding and verification with OpenSSL's PKCS7/TS/X509 primitives, one check at a
 * time (rather than TS_RESP_verify_token) so that each outcome can be reported separately: an
 * auditor needs to know that the signature is fine but the TSA certificate had expired, not just
 * "invalid". The chain is verified with the verification time set to genTime; certificates inside
 * the token are only ever untrusted intermediates.
 */
#include "token.h"

#include "codec.h"
#include "err.h"
#include "log.h"

#include <openssl/bio.h>
#include <openssl/err.h>
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
    STACK_OF(X509) * anchors; /* also searched for a signer the token does not carry */
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

int tsb_token_verifier_new(const char *anchors_pem, struct tsb_token_verifier **out)
{
    int r = TSB_EINTERNAL;
    BIO *in = NULL;
    struct tsb_token_verifier *v = tsb_calloc(1, sizeof(*v));
    v->store = X509_STORE_new();
    v->anchors = sk_X509_new_null();
    if (v->store == NULL || v->anchors == NULL)
        tsb_fatal("out of memory");
    if ((in = BIO_new_file(anchors_pem, "r")) == NULL) {
        r = tsb_err(TSB_ECONFIG, "cannot open TSA trust anchors %s: %s", anchors_pem,
                    strerror(errno));
        goto out;
    }
    X509 *c;
    while ((c = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(v->store, c) != 1 || !sk_X509_push(v->anchors, c)) {
            X509_free(c);
            r = tsb_err(TSB_ECONFIG, "cannot add a certificate of %s", anchors_pem);
            goto out;
        }
    }
    ERR_clear_error(); /* PEM_read ends with "no start line" */
    if (sk_X509_num(v->anchors) == 0) {
        r = tsb_err(TSB_ECONFIG, "%s holds no PEM certificate", anchors_pem);
        goto out;
    }
    *out = v;
    v = NULL;
    r = 0;
out:
    BIO_free(in);
    tsb_token_verifier_free(v);
    return r;
}

void tsb_token_verifier_free(struct tsb_token_verifier *v)
{
    if (v == NULL)
        return;
    X509_STORE_free(v->store);
    sk_X509_pop_free(v->anchors, X509_free);
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
    *out = (int64_t)timegm(&tm) * 1000 + ms;
    return 0;
}

static void fmt_ms(int64_t ms, char out[64])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void cert_name(X509 *c, char *out, size_t n)
{
    X509_NAME_oneline(X509_get_subject_name(c), out, (int)n);
}

static void check_imprint(TS_TST_INFO *tst, const uint8_t digest[TSB_SHA256_LEN],
                          struct tsb_token_result *res)
{
    TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
    const ASN1_OBJECT *obj = NULL;
    X509_ALGOR_get0(&obj, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
    int nid = OBJ_obj2nid(obj);
    if (nid != NID_sha256) {
        char name[80];
        OBJ_obj2txt(name, sizeof(name), obj, 0);
        set(res, TSB_TCHK_IMPRINT_ALG, TSB_CHECK_FAIL,
            "the token hashes with %s, not SHA-256: it does not stamp this bag", name);
        set(res, TSB_TCHK_IMPRINT, TSB_CHECK_SKIPPED, "not checked: imprint algorithm is wrong");
        return;
    }
    set(res, TSB_TCHK_IMPRINT_ALG, TSB_CHECK_PASS, "SHA-256");
    ASN1_OCTET_STRING *m = TS_MSG_IMPRINT_get_msg(mi);
    if (ASN1_STRING_length(m) != TSB_SHA256_LEN ||
        memcmp(ASN1_STRING_get0_data(m), digest, TSB_SHA256_LEN) != 0) {
        char want[65], got[65] = "";
        tsb_hex_encode(digest, TSB_SHA256_LEN, want);
        if (ASN1_STRING_length(m) == TSB_SHA256_LEN)
            tsb_hex_encode(ASN1_STRING_get0_data(m), TSB_SHA256_LEN, got);
        set(res, TSB_TCHK_IMPRINT, TSB_CHECK_FAIL,
            "the token stamps SHA-256 %s but the bag's SHA-256 is %s: the token belongs to other "
            "data or the bag was altered",
            got[0] ? got : "(wrong length)", want);
        return;
    }
    set(res, TSB_TCHK_IMPRINT, TSB_CHECK_PASS, "matches the bag's SHA-256");
}

static bool check_signature(PKCS7 *p7, PKCS7_SIGNER_INFO *si, X509 *signer,
                            struct tsb_token_result *res)
{
    bool ok = false;
    char buf[4096];
    BIO *b = PKCS7_dataInit(p7, NULL);
    if (b != NULL) {
        while (BIO_read(b, buf, sizeof(buf)) > 0)
            ;
        ok = PKCS7_signatureVerify(b, p7, si, signer) == 1;
    }
    BIO_free_all(b);
    ERR_clear_error();
    if (ok)
        set(res, TSB_TCHK_SIGNATURE, TSB_CHECK_PASS, "the signature matches the token content");
    else
        set(res, TSB_TCHK_SIGNATURE, TSB_CHECK_FAIL,
            "the CMS signature does not verify: the token was altered or forged");
    return ok;
}

/* Returns the verified chain (signer first) or NULL. untrusted: the token's certificates and any
 * extra ones. */
static STACK_OF(X509) * check_chain(const struct tsb_token_verifier *v, STACK_OF(X509) * untrusted,
                                    X509 *signer, int64_t gen_ms, struct tsb_token_result *res)
{
    STACK_OF(X509) *chain = NULL;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    char when[64], name[256];
    fmt_ms(gen_ms, when);
    cert_name(signer, name, sizeof(name));
    if (ctx == NULL || X509_STORE_CTX_init(ctx, v->store, signer, untrusted) != 1) {
        set(res, TSB_TCHK_CHAIN, TSB_CHECK_FAIL, "internal error: cannot set up chain checking");
        goto out;
    }
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

static void check_eku(X509 *signer, struct tsb_token_result *res)
{
    char name[256];
    cert_name(signer, name, sizeof(name));
    uint32_t flags = X509_get_extension_flags(signer);
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
    set(res, TSB_TCHK_EKU, TSB_CHECK_PASS, "timeStamping, critical");
}

static void check_time(int64_t gen_ms, const struct tsb_token_verify_opts *o,
                       struct tsb_token_result *res)
{
    if (!o->check_skew) {
        set(res, TSB_TCHK_GEN_TIME, TSB_CHECK_SKIPPED, "not checked (audit mode)");
        return;
    }
    int64_t d = gen_ms - o->now_ms;
    char g[64], n[64];
    fmt_ms(gen_ms, g);
    fmt_ms(o->now_ms, n);
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
                     const uint8_t digest[TSB_SHA256_LEN], const struct tsb_token_verify_opts *o,
                     struct tsb_token_result *res)
{
    PKCS7 *p7 = NULL;
    TS_TST_INFO *tst = NULL;
    STACK_OF(X509) *chain = NULL;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509 *signer = NULL;
    const unsigned char *q = der;

    memset(res, 0, sizeof(*res));
    if (untrusted == NULL)
        tsb_fatal("out of memory");
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

    check_imprint(tst, digest, res);

    PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sis, 0);
    X509_NAME *iss = si->issuer_and_serial->issuer;
    ASN1_INTEGER *ser = si->issuer_and_serial->serial;
    for (int i = 0; p7->d.sign->cert != NULL && i < sk_X509_num(p7->d.sign->cert); i++)
        if (X509_up_ref(sk_X509_value(p7->d.sign->cert, i)) != 1 ||
            !sk_X509_push(untrusted, sk_X509_value(p7->d.sign->cert, i)))
            tsb_fatal("out of memory");
    if (o->extra_pem != NULL)
        read_extra(o->extra_pem, o->extra_pem_len, untrusted);
    signer = X509_find_by_issuer_and_serial(untrusted, iss, ser);
    if (signer == NULL)
        signer = X509_find_by_issuer_and_serial(v->anchors, iss, ser);
    if (signer == NULL) {
        set(res, TSB_TCHK_SIGNER, TSB_CHECK_FAIL,
            "the token's signer certificate is neither in the token nor in the TSA trust "
            "anchors");
        skip_from(res, TSB_TCHK_SIGNATURE, "the signer certificate is unknown");
        check_time(gen_ms, o, res);
        goto out;
    }
    cert_name(signer, res->tsa_subject, sizeof(res->tsa_subject));
    set(res, TSB_TCHK_SIGNER, TSB_CHECK_PASS, "%s", res->tsa_subject);

    check_signature(p7, si, signer, res);
    chain = check_chain(v, untrusted, signer, gen_ms, res);
    if (chain != NULL && o->chain_pem != NULL)
        write_chain(chain, o->chain_pem);
    check_ess(si, signer, chain, res);
    check_eku(signer, res);
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
