/*
 * rfc3161: the simulator's second, independent TSA for tsbag's [tsa2]: POST /rfc3161 with an
 * application/timestamp-query body (RFC 3161 §3.4) is answered with an
 * application/timestamp-reply TimeStampResp by OpenSSL's TS_RESP_CTX, signed by the dev-pki's
 * tsa2 signer under its own root and policy (never the eHealth simulator's). Fault knobs:
 * tsa2-down (HTTP 503, no token), tsa2-wrong-nonce and tsa2-wrong-imprint (the request is
 * altered before it is answered, so the token is a valid one for another request) and
 * tsa2-untrusted (signed by rogue-tsa, which chains to nothing); tsa2-next signs with the
 * dev-pki's tsa2-next certificate instead (the TSA's renewed certificate, for the evidence-record
 * renewal tests). genTime is the simulator's clock (the clock-offset knob moves it).
 */
#include "sim.h"

#include "err.h"
#include "log.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <stdio.h>
#include <string.h>

int sim_tsa2_load(struct sim_tsa2 *t, const char *pki_dir)
{
    char path[4096], policy[64] = "";
    memset(t, 0, sizeof(*t));
    snprintf(path, sizeof(path), "%s/tsa2-policy.txt", pki_dir);
    FILE *f = fopen(path, "r");
    bool read = f != NULL && fgets(policy, sizeof(policy), f) != NULL;
    if (f != NULL)
        fclose(f);
    if (!read)
        return tsb_err(TSB_ECONFIG, "cannot read %s", path);
    policy[strcspn(policy, "\r\n")] = '\0';
    int r = sim_tsa_load(&t->tsa, pki_dir, "tsa2", "tsa2-ca.pem", policy);
    t->loaded = r == 0;
    if (r != 0)
        return r;
    /* optional: a PKI from before tools/dev-pki wrote it has none (the knob then answers 500) */
    snprintf(path, sizeof(path), "%s/tsa2-next.pem", pki_dir);
    if ((f = fopen(path, "r")) != NULL) {
        t->next_cert = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/tsa2-next.key", pki_dir);
    if ((f = fopen(path, "r")) != NULL) {
        t->next_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    ERR_clear_error();
    return 0;
}

void sim_tsa2_cleanup(struct sim_tsa2 *t)
{
    if (t->loaded)
        sim_tsa_cleanup(&t->tsa);
    X509_free(t->next_cert);
    EVP_PKEY_free(t->next_key);
    memset(t, 0, sizeof(*t));
}

/* genTime: the simulator's clock, so that clock-offset moves the second TSA's time too */
static int time_cb(TS_RESP_CTX *ctx, void *data, long *sec, long *usec)
{
    (void)ctx;
    int64_t ms = sim_now_ms(data);
    *sec = (long)(ms / 1000);
    *usec = (long)(ms % 1000) * 1000;
    return 1;
}

static ASN1_INTEGER *serial_cb(TS_RESP_CTX *ctx, void *data)
{
    (void)ctx;
    ASN1_INTEGER *i = ASN1_INTEGER_new();
    if (i == NULL || !ASN1_INTEGER_set_int64(i, *(const int64_t *)data)) {
        ASN1_INTEGER_free(i);
        return NULL;
    }
    return i;
}

/* The request as the faults want it answered: DER in a memory BIO, or NULL if it is none. */
static BIO *request_bio(const uint8_t *p, size_t len, const struct sim_fault_set *fs)
{
    const unsigned char *q = p;
    TS_REQ *req = d2i_TS_REQ(NULL, &q, (long)len);
    BIO *b = NULL;
    if (req == NULL || q != p + len)
        goto out;
    if (fs->on[SIM_K_TSA2_NONCE]) {
        const ASN1_INTEGER *n = TS_REQ_get_nonce(req);
        ASN1_INTEGER *other = ASN1_INTEGER_new();
        int64_t v = 0;
        if (n == NULL || !ASN1_INTEGER_get_int64(&v, n))
            v = 7;
        ASN1_INTEGER_set_int64(other, v ^ 1);
        TS_REQ_set_nonce(req, other);
        ASN1_INTEGER_free(other);
    }
    if (fs->on[SIM_K_TSA2_IMPRINT]) {
        ASN1_OCTET_STRING *md = TS_MSG_IMPRINT_get_msg(TS_REQ_get_msg_imprint(req));
        unsigned char d[EVP_MAX_MD_SIZE];
        int dl = ASN1_STRING_length(md);
        if (dl > 0 && dl <= (int)sizeof(d)) {
            memcpy(d, ASN1_STRING_get0_data(md), (size_t)dl);
            d[0] ^= 0x01;
            ASN1_OCTET_STRING_set(md, d, dl);
        }
    }
    b = BIO_new(BIO_s_mem());
    if (b != NULL && i2d_TS_REQ_bio(b, req) != 1) {
        BIO_free(b);
        b = NULL;
    }
out:
    TS_REQ_free(req);
    return b;
}

static void text_answer(struct sim_answer *ans, int status, const char *text)
{
    ans->http_status = status;
    tsb_buf_append_str(&ans->body, text);
}

void sim_rfc3161_handle(struct sim_service *s, const struct sim_fault_set *fs, const uint8_t *p,
                        size_t len, struct sim_answer *ans, const char **content_type)
{
    struct sim_tsa *t = &s->tsa2.tsa;
    TS_RESP_CTX *ctx = NULL;
    TS_RESP *rsp = NULL;
    unsigned char *der = NULL;
    BIO *req = NULL;
    tsb_buf_init(&ans->body, 1 << 20);
    *content_type = "text/plain; charset=utf-8";
    if (fs->on[SIM_K_TSA2_DOWN]) {
        text_answer(ans, 503, "second TSA down (injected fault tsa2-down)\n");
        goto out;
    }
    if ((req = request_bio(p, len, fs)) == NULL) {
        text_answer(ans, 400, "the body is not a DER TimeStampReq\n");
        goto out;
    }
    bool rogue = fs->on[SIM_K_TSA2_UNTRUSTED];
    bool next = !rogue && fs->on[SIM_K_TSA2_NEXT];
    int64_t serial;
    pthread_mutex_lock(&s->mu);
    serial = ++s->tsa2.serial;
    pthread_mutex_unlock(&s->mu);
    ctx = sim_tsa_ctx_new(t, rogue);
    if (next && (s->tsa2.next_cert == NULL || s->tsa2.next_key == NULL)) {
        text_answer(ans, 500,
                    "fault tsa2-next: the PKI has no tsa2-next.pem and .key: regenerate it with "
                    "tools/dev-pki --force\n");
        goto out;
    }
    if (ctx == NULL || !TS_RESP_CTX_add_md(ctx, EVP_sha256()) ||
        !TS_RESP_CTX_add_md(ctx, EVP_sha384()) || !TS_RESP_CTX_add_md(ctx, EVP_sha512()) ||
        (next && (!TS_RESP_CTX_set_signer_cert(ctx, s->tsa2.next_cert) ||
                  !TS_RESP_CTX_set_signer_key(ctx, s->tsa2.next_key)))) {
        text_answer(ans, 500, "cannot configure the second TSA\n");
        goto out;
    }
    TS_RESP_CTX_set_serial_cb(ctx, serial_cb, &serial);
    TS_RESP_CTX_set_time_cb(ctx, time_cb, &s->faults);
    /* a refused request (another algorithm, a policy we do not have) is a TimeStampResp too */
    rsp = TS_RESP_create_response(ctx, req);
    int n = rsp ? i2d_TS_RESP(rsp, &der) : -1;
    if (n <= 0) {
        text_answer(ans, 500, "OpenSSL could not answer the request\n");
        goto out;
    }
    tsb_buf_append(&ans->body, der, (size_t)n);
    ans->http_status = 200;
    *content_type = "application/timestamp-reply";
    tsb_info("rfc3161: answered serial %lld%s%s%s%s", (long long)serial,
             fs->on[SIM_K_TSA2_NONCE] ? " (fault tsa2-wrong-nonce)" : "",
             fs->on[SIM_K_TSA2_IMPRINT] ? " (fault tsa2-wrong-imprint)" : "",
             rogue ? " (fault tsa2-untrusted)" : "", next ? " (fault tsa2-next)" : "");
out:
    OPENSSL_free(der);
    TS_RESP_free(rsp);
    TS_RESP_CTX_free(ctx);
    BIO_free(req);
    ERR_clear_error();
}
