/*
 * tsa: RFC 3161 token issuance with OpenSSL's TS_RESP_CTX. Each stamp builds a TimeStampReq for
 * the SHA-256 digest (certReq true, so the signer certificate is included), and answers it with
 * the simulator's serial number and clock (genTime to the millisecond), ESSCertIDv2 over SHA-256
 * and the development policy OID. Fault modifiers: a flipped imprint, the rogue signer, no
 * certificates (certReq false), an RSASSA-PSS signature (the TSTInfo re-signed with CMS, since
 * TS_RESP_CTX only signs PKCS#1 v1.5); the caller chooses the imprint's algorithm and data.
 */
#include "sim.h"

#include "err.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <stdio.h>
#include <string.h>

static int load_pem(const char *dir, const char *name, X509 **cert, EVP_PKEY **key)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return tsb_err(TSB_ECONFIG, "cannot open %s", path);
    *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    f = fopen(path, "r");
    if (f == NULL)
        return tsb_err(TSB_ECONFIG, "cannot open %s", path);
    *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (*cert == NULL || *key == NULL)
        return tsb_err(TSB_ECONFIG, "cannot read %s/%s.pem and .key", dir, name);
    return 0;
}

int sim_tsa_load(struct sim_tsa *t, const char *pki_dir, const char *signer, const char *chain,
                 const char *policy)
{
    int r = TSB_EINTERNAL;
    memset(t, 0, sizeof(*t));
    snprintf(t->policy, sizeof(t->policy), "%s", policy);
    ASN1_OBJECT *o = OBJ_txt2obj(policy, 1);
    if (o == NULL) {
        r = tsb_err(TSB_ECONFIG, "TSA policy \"%s\" is not a dotted OID", policy);
        goto out;
    }
    ASN1_OBJECT_free(o);
    if ((r = load_pem(pki_dir, signer, &t->cert, &t->key)) != 0 ||
        (r = load_pem(pki_dir, "rogue-tsa", &t->rogue_cert, &t->rogue_key)) != 0)
        goto out;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", pki_dir, chain);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        r = tsb_err(TSB_ECONFIG, "cannot open %s", path);
        goto out;
    }
    t->chain = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        sk_X509_push(t->chain, x);
    fclose(f);
    ERR_clear_error();
    r = 0;
out:
    if (r != 0)
        sim_tsa_cleanup(t);
    return r;
}

void sim_tsa_cleanup(struct sim_tsa *t)
{
    X509_free(t->cert);
    X509_free(t->rogue_cert);
    EVP_PKEY_free(t->key);
    EVP_PKEY_free(t->rogue_key);
    sk_X509_pop_free(t->chain, X509_free);
    memset(t, 0, sizeof(*t));
}

struct stamp_arg {
    int64_t serial;
    int64_t time_ms;
};

static ASN1_INTEGER *serial_cb(TS_RESP_CTX *ctx, void *data)
{
    const struct stamp_arg *a = data;
    ASN1_INTEGER *i = ASN1_INTEGER_new();
    if (i == NULL || !ASN1_INTEGER_set_int64(i, a->serial)) {
        ASN1_INTEGER_free(i);
        return NULL;
    }
    return i;
}

static int time_cb(TS_RESP_CTX *ctx, void *data, long *sec, long *usec)
{
    const struct stamp_arg *a = data;
    *sec = (long)(a->time_ms / 1000);
    *usec = (long)(a->time_ms % 1000) * 1000;
    return 1;
}

/* A DER TimeStampReq for md over digest, asking for the signer certificate when certs. */
static int make_request(const uint8_t *digest, size_t digest_len, const EVP_MD *md, bool certs,
                        BIO **out)
{
    int r = TSB_ECRYPTO;
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *alg = X509_ALGOR_new();
    BIO *b = BIO_new(BIO_s_mem());
    if (req == NULL || mi == NULL || alg == NULL || b == NULL)
        goto out;
    X509_ALGOR_set_md(alg, md);
    if (!TS_REQ_set_version(req, 1) || !TS_MSG_IMPRINT_set_algo(mi, alg) ||
        !TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)digest, (int)digest_len) ||
        !TS_REQ_set_msg_imprint(req, mi) || !TS_REQ_set_cert_req(req, certs) ||
        i2d_TS_REQ_bio(b, req) != 1)
        goto out;
    *out = b;
    b = NULL;
    r = 0;
out:
    BIO_free(b);
    X509_ALGOR_free(alg);
    TS_MSG_IMPRINT_free(mi);
    TS_REQ_free(req);
    return r == 0 ? 0 : tsb_err(TSB_ECRYPTO, "cannot build the TimeStampReq");
}

/* Signs the TSTInfo of rsp again with CMS and RSASSA-PSS (SHA-256, salt = digest length),
 * with the signed attributes a TSA puts: content type, message digest, ESSCertIDv2. */
static int resign_pss(struct sim_tsa *t, TS_RESP *rsp, bool certs, struct tsb_buf *token)
{
    int r = TSB_ECRYPTO;
    unsigned char *tst = NULL, *ess = NULL, *der = NULL;
    BIO *in = NULL;
    ESS_SIGNING_CERT_V2 *sc = NULL;
    CMS_ContentInfo *cms = NULL;
    int tn = i2d_TS_TST_INFO(TS_RESP_get_tst_info(rsp), &tst);
    unsigned fl = CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP | CMS_KEY_PARAM;
    if (tn <= 0 || (in = BIO_new_mem_buf(tst, tn)) == NULL ||
        (cms = CMS_sign(NULL, NULL, NULL, NULL, fl)) == NULL ||
        !CMS_set1_eContentType(cms, OBJ_nid2obj(NID_id_smime_ct_TSTInfo)))
        goto out;
    CMS_SignerInfo *si =
        CMS_add1_signer(cms, t->cert, t->key, EVP_sha256(), fl | (certs ? 0 : CMS_NOCERTS));
    EVP_PKEY_CTX *pctx = si ? CMS_SignerInfo_get0_pkey_ctx(si) : NULL;
    if (pctx == NULL || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0)
        goto out;
    sc = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), t->cert, NULL, 0);
    int sn = sc ? i2d_ESS_SIGNING_CERT_V2(sc, &ess) : 0;
    if (sn <= 0 || !CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2,
                                                V_ASN1_SEQUENCE, ess, sn))
        goto out;
    for (int i = 0; certs && i < sk_X509_num(t->chain); i++)
        if (!CMS_add1_cert(cms, sk_X509_value(t->chain, i)))
            goto out;
    int n = CMS_final(cms, in, NULL, CMS_BINARY) ? i2d_CMS_ContentInfo(cms, &der) : 0;
    if (n <= 0)
        goto out;
    r = tsb_buf_append(token, der, (size_t)n);
out:
    OPENSSL_free(der);
    OPENSSL_free(ess);
    OPENSSL_free(tst);
    ESS_SIGNING_CERT_V2_free(sc);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return r == TSB_ECRYPTO ? tsb_err(r, "cannot re-sign the token with RSASSA-PSS") : r;
}

TS_RESP_CTX *sim_tsa_ctx_new(struct sim_tsa *t, bool rogue)
{
    TS_RESP_CTX *ctx = TS_RESP_CTX_new();
    ASN1_OBJECT *policy = OBJ_txt2obj(t->policy, 1);
    if (ctx == NULL || policy == NULL ||
        !TS_RESP_CTX_set_signer_cert(ctx, rogue ? t->rogue_cert : t->cert) ||
        !TS_RESP_CTX_set_signer_key(ctx, rogue ? t->rogue_key : t->key) ||
        !TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) ||
        !TS_RESP_CTX_set_def_policy(ctx, policy) ||
        !TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) ||
        (!rogue && t->chain && !TS_RESP_CTX_set_certs(ctx, t->chain))) {
        TS_RESP_CTX_free(ctx);
        ctx = NULL;
    }
    ASN1_OBJECT_free(policy);
    return ctx;
}

int sim_tsa_stamp(struct sim_tsa *t, const uint8_t *digest, size_t digest_len, const EVP_MD *md,
                  int64_t serial, int64_t time_ms, unsigned flags, struct tsb_buf *resp,
                  struct tsb_buf *token)
{
    int r = TSB_EINTERNAL;
    TS_RESP_CTX *ctx = NULL;
    TS_RESP *rsp = NULL;
    BIO *reqbio = NULL;
    unsigned char *der = NULL;
    uint8_t d[EVP_MAX_MD_SIZE];
    if (digest_len > sizeof(d))
        return tsb_err(TSB_EINVAL, "digest of %zu bytes", digest_len);
    memcpy(d, digest, digest_len);
    if (flags & SIM_STAMP_WRONG_IMPRINT)
        d[0] ^= 0x01;
    struct stamp_arg arg = {serial, time_ms};
    bool certs = (flags & SIM_STAMP_NO_CERTS) == 0;
    if ((r = make_request(d, digest_len, md, certs, &reqbio)) != 0)
        goto out;
    bool rogue = (flags & SIM_STAMP_ROGUE) != 0;
    ctx = sim_tsa_ctx_new(t, rogue);
    if (ctx == NULL || !TS_RESP_CTX_add_md(ctx, md) ||
        !TS_RESP_CTX_set_clock_precision_digits(ctx, 3)) {
        r = tsb_err(TSB_ECRYPTO, "cannot configure the TSA context");
        goto out;
    }
    TS_RESP_CTX_set_serial_cb(ctx, serial_cb, &arg);
    TS_RESP_CTX_set_time_cb(ctx, time_cb, &arg);
    /* ESSCertIDv2 only: the v1 (SHA-1) form is not added when a digest is set */
    rsp = TS_RESP_create_response(ctx, reqbio);
    if (rsp == NULL || ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(rsp))) !=
                           TS_STATUS_GRANTED) {
        r = tsb_err(TSB_ECRYPTO, "OpenSSL refused to issue the token");
        goto out;
    }
    int n = i2d_TS_RESP(rsp, &der);
    if (n <= 0 || (r = tsb_buf_append(resp, der, (size_t)n)) != 0) {
        r = n <= 0 ? tsb_err(TSB_ECRYPTO, "cannot encode the TimeStampResp") : r;
        goto out;
    }
    OPENSSL_free(der);
    der = NULL;
    if (flags & SIM_STAMP_PSS) {
        r = resign_pss(t, rsp, certs, token);
        goto out;
    }
    n = i2d_PKCS7(TS_RESP_get_token(rsp), &der);
    if (n <= 0 || (r = tsb_buf_append(token, der, (size_t)n)) != 0) {
        r = n <= 0 ? tsb_err(TSB_ECRYPTO, "cannot encode the TimeStampToken") : r;
        goto out;
    }
    r = 0;
out:
    OPENSSL_free(der);
    TS_RESP_free(rsp);
    TS_RESP_CTX_free(ctx);
    BIO_free(reqbio);
    ERR_clear_error();
    return r;
}
