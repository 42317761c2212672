/*
 * tsq: TimeStampReq/TimeStampResp with OpenSSL's TS_* API. The reply checks are the requester's
 * (RFC 3161 §2.4.2): a granted status (granted or grantedWithMods) carrying a token, the token's
 * nonce equal to ours (a replayed or misrouted answer fails here), and its messageImprint equal
 * to the SHA-256 we asked for (an answer for other bytes fails here even if the token verifies).
 * Everything else about the token is left to token.c.
 */
#include "tsq.h"

#include "codec.h"
#include "err.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ts.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tsb_tsq_fail_name(enum tsb_tsq_fail f)
{
    static const char *const names[] = {"ok", "malformed", "refused", "nonce", "imprint"};
    return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "unknown";
}

/* The three imprint algorithms a tree or a bag is stamped with. */
static const EVP_MD *imprint_md(const char *alg)
{
    if (alg == NULL)
        return NULL;
    if (strcmp(alg, "sha256") == 0)
        return EVP_sha256();
    if (strcmp(alg, "sha384") == 0)
        return EVP_sha384();
    if (strcmp(alg, "sha512") == 0)
        return EVP_sha512();
    return NULL;
}

int tsb_tsq_request(const uint8_t digest[TSB_SHA256_LEN], const uint8_t nonce[TSB_TSQ_NONCE_LEN],
                    struct tsb_buf *der)
{
    return tsb_tsq_request_alg("sha256", digest, TSB_SHA256_LEN, nonce, der);
}

int tsb_tsq_request_alg(const char *alg, const uint8_t *digest, size_t digest_len,
                        const uint8_t nonce[TSB_TSQ_NONCE_LEN], struct tsb_buf *der)
{
    int r = TSB_ECRYPTO;
    const EVP_MD *md = imprint_md(alg);
    if (md == NULL || (size_t)EVP_MD_get_size(md) != digest_len)
        return tsb_err(TSB_EINVAL,
                       "TimeStampReq: %zu bytes are no %s digest (sha256, sha384 or sha512)",
                       digest_len, alg ? alg : "(null)");
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *a = X509_ALGOR_new();
    BIGNUM *bn = BN_bin2bn(nonce, TSB_TSQ_NONCE_LEN, NULL);
    ASN1_INTEGER *n = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    unsigned char *out = NULL;
    int len = -1;
    if (req == NULL || mi == NULL || a == NULL || n == NULL)
        goto out;
    X509_ALGOR_set_md(a, md);
    if (TS_MSG_IMPRINT_set_algo(mi, a) != 1 ||
        TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)digest, (int)digest_len) != 1 ||
        TS_REQ_set_version(req, 1) != 1 || TS_REQ_set_msg_imprint(req, mi) != 1 ||
        TS_REQ_set_nonce(req, n) != 1 || TS_REQ_set_cert_req(req, 1) != 1 ||
        (len = i2d_TS_REQ(req, &out)) <= 0)
        goto out;
    r = tsb_buf_append(der, out, (size_t)len);
out:
    if (r == TSB_ECRYPTO)
        r = tsb_err(TSB_ECRYPTO, "cannot build the TimeStampReq");
    OPENSSL_free(out);
    ASN1_INTEGER_free(n);
    BN_free(bn);
    X509_ALGOR_free(a);
    TS_MSG_IMPRINT_free(mi);
    TS_REQ_free(req);
    ERR_clear_error();
    return r;
}

__attribute__((format(printf, 3, 4))) static enum tsb_tsq_fail
refuse(enum tsb_tsq_fail f, char why[TSB_TSQ_REASON_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, TSB_TSQ_REASON_MAX, fmt, ap);
    va_end(ap);
    return f;
}

/* "rejection (badAlg; unknown policy)": the PKIStatus, failure bits and the TSA's text. */
static void status_text(TS_STATUS_INFO *si, long status, char *out, size_t n)
{
    static const char *const status_names[] = {"granted",           "grantedWithMods",
                                               "rejection",         "waiting",
                                               "revocationWarning", "revocationNotification"};
    static const struct {
        int bit;
        const char *name;
    } bits[] = {{TS_INFO_BAD_ALG, "badAlg"},
                {TS_INFO_BAD_REQUEST, "badRequest"},
                {TS_INFO_BAD_DATA_FORMAT, "badDataFormat"},
                {TS_INFO_TIME_NOT_AVAILABLE, "timeNotAvailable"},
                {TS_INFO_UNACCEPTED_POLICY, "unacceptedPolicy"},
                {TS_INFO_UNACCEPTED_EXTENSION, "unacceptedExtension"},
                {TS_INFO_ADD_INFO_NOT_AVAILABLE, "addInfoNotAvailable"},
                {TS_INFO_SYSTEM_FAILURE, "systemFailure"}};
    size_t used = (size_t)snprintf(out, n, "%s",
                                   status >= 0 && status <= 5 ? status_names[status] : "unknown");
    const ASN1_BIT_STRING *fi = TS_STATUS_INFO_get0_failure_info(si);
    const char *sep = " (";
    for (size_t i = 0; fi != NULL && i < sizeof(bits) / sizeof(bits[0]) && used < n; i++)
        if (ASN1_BIT_STRING_get_bit(fi, bits[i].bit)) {
            used += (size_t)snprintf(out + used, n - used, "%s%s", sep, bits[i].name);
            sep = ", ";
        }
    const STACK_OF(ASN1_UTF8STRING) *txt = TS_STATUS_INFO_get0_text(si);
    for (int i = 0; txt != NULL && i < sk_ASN1_UTF8STRING_num(txt) && used < n; i++) {
        const ASN1_UTF8STRING *s = sk_ASN1_UTF8STRING_value(txt, i);
        used += (size_t)snprintf(out + used, n - used, "%s\"%.*s\"", sep,
                                 ASN1_STRING_length(s) > 200 ? 200 : ASN1_STRING_length(s),
                                 (const char *)ASN1_STRING_get0_data(s));
        sep = ", ";
    }
    if (strcmp(sep, ", ") == 0 && used < n)
        snprintf(out + used, n - used, ")");
}

/* The nonce as lowercase hex for messages ("absent" when there is none). */
static void nonce_hex(const ASN1_INTEGER *n, char *out, size_t len)
{
    BIGNUM *bn = n ? ASN1_INTEGER_to_BN(n, NULL) : NULL;
    char *h = bn ? BN_bn2hex(bn) : NULL;
    snprintf(out, len, "%s", h ? h : "absent");
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    OPENSSL_free(h);
    BN_free(bn);
}

/* The checks of both: what names the data requested in the imprint failure's sentence. */
static enum tsb_tsq_fail check_reply(const uint8_t *p, size_t len, const char *alg,
                                     const uint8_t *digest, size_t digest_len,
                                     const uint8_t nonce[TSB_TSQ_NONCE_LEN], struct tsb_buf *token,
                                     char why[TSB_TSQ_REASON_MAX], const char *what)
{
    const EVP_MD *want_md = imprint_md(alg);
    enum tsb_tsq_fail f = TSB_TSQ_MALFORMED;
    const unsigned char *q = p;
    TS_RESP *resp = len <= LONG_MAX ? d2i_TS_RESP(NULL, &q, (long)len) : NULL;
    BIGNUM *want = BN_bin2bn(nonce, TSB_TSQ_NONCE_LEN, NULL), *got = NULL;
    unsigned char *der = NULL;
    char st[300], a[40], b[40];
    if (resp == NULL || q != p + len) {
        f = refuse(TSB_TSQ_MALFORMED, why, "the answer (%zu bytes) is not a DER TimeStampResp",
                   len);
        goto out;
    }
    TS_STATUS_INFO *si = TS_RESP_get_status_info(resp);
    long status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));
    status_text(si, status, st, sizeof(st));
    if (status != 0 && status != 1) {
        f = refuse(TSB_TSQ_REFUSED, why, "the TSA refused the request: PKIStatus %ld, %s", status,
                   st);
        goto out;
    }
    PKCS7 *tok = TS_RESP_get_token(resp);
    TS_TST_INFO *tst = TS_RESP_get_tst_info(resp);
    int n = tok ? i2d_PKCS7(tok, &der) : -1;
    if (n <= 0 || tst == NULL) {
        f = refuse(TSB_TSQ_MALFORMED, why, "the TimeStampResp says %s but carries no token", st);
        goto out;
    }
    const ASN1_INTEGER *tn = TS_TST_INFO_get_nonce(tst);
    got = tn ? ASN1_INTEGER_to_BN(tn, NULL) : NULL;
    if (want == NULL || got == NULL || BN_cmp(want, got) != 0) {
        char sent[TSB_TSQ_NONCE_HEX];
        tsb_hex_encode(nonce, TSB_TSQ_NONCE_LEN, sent);
        nonce_hex(tn, a, sizeof(a));
        f = refuse(TSB_TSQ_NONCE, why,
                   "the token's nonce (%s) is not the request's (%s): an answer to another "
                   "request",
                   a, sent);
        goto out;
    }
    TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
    X509_ALGOR *ialg = TS_MSG_IMPRINT_get_algo(mi);
    ASN1_OCTET_STRING *md = TS_MSG_IMPRINT_get_msg(mi);
    const ASN1_OBJECT *oid = NULL;
    X509_ALGOR_get0(&oid, NULL, NULL, ialg);
    if (want_md == NULL || OBJ_obj2nid(oid) != EVP_MD_get_type(want_md) ||
        (size_t)ASN1_STRING_length(md) != digest_len ||
        memcmp(ASN1_STRING_get0_data(md), digest, digest_len) != 0) {
        OBJ_obj2txt(b, sizeof(b), oid, 0);
        f = refuse(TSB_TSQ_IMPRINT, why,
                   "the token's messageImprint (%s, %d bytes) is not the %s requested: it stamps "
                   "other data",
                   b, ASN1_STRING_length(md), what);
        goto out;
    }
    if (tsb_buf_append(token, der, (size_t)n) != 0) {
        f = refuse(TSB_TSQ_MALFORMED, why, "the token (%d bytes) is over the response cap", n);
        goto out;
    }
    why[0] = '\0';
    f = TSB_TSQ_OK;
out:
    OPENSSL_free(der);
    BN_free(want);
    BN_free(got);
    TS_RESP_free(resp);
    ERR_clear_error();
    return f;
}

enum tsb_tsq_fail tsb_tsq_check_reply(const uint8_t *p, size_t len,
                                      const uint8_t digest[TSB_SHA256_LEN],
                                      const uint8_t nonce[TSB_TSQ_NONCE_LEN], struct tsb_buf *token,
                                      char why[TSB_TSQ_REASON_MAX])
{
    return check_reply(p, len, "sha256", digest, TSB_SHA256_LEN, nonce, token, why,
                       "SHA-256 of the bag");
}

enum tsb_tsq_fail tsb_tsq_check_reply_alg(const uint8_t *p, size_t len, const char *alg,
                                          const uint8_t *digest, size_t digest_len,
                                          const uint8_t nonce[TSB_TSQ_NONCE_LEN],
                                          struct tsb_buf *token, char why[TSB_TSQ_REASON_MAX])
{
    char what[40];
    snprintf(what, sizeof(what), "%s tree root", alg ? alg : "(null)");
    return check_reply(p, len, alg, digest, digest_len, nonce, token, why, what);
}
