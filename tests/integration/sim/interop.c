/*
 * sim_interop: the other half of integration.sim_interop. It speaks for tsbag's own client code
 * (keystore.c, wss.c, dss.c, token.c) without the network, so the shell driver can put curl and a
 * real ehealth-sim between the two halves:
 *   sim_interop sign PKI BAG CARRIER OUT   build and sign a SignRequest for BAG with
 * PKI/hospital.p12; prints the RequestID sim_interop check PKI BAG ID RESP      parse RESP, expect
 * Success echoing ID, verify the token against PKI/tsa-ca.pem and SHA-256(BAG)
 */
#include "dss.h"
#include "err.h"
#include "hash.h"
#include "keystore.h"
#include "mem.h"
#include "token.h"
#include "xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct tsb_buf b;
    tsb_buf_init(&b, 256u << 20);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (tsb_buf_append(&b, tmp, n) != 0)
            break;
    fclose(f);
    return tsb_buf_take(&b, len);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int die(const char *what)
{
    fprintf(stderr, "sim_interop: %s: %s\n", what, tsb_err_detail());
    return 1;
}

static int do_sign(const char *pki, const char *bag_path, const char *carrier, const char *out)
{
    char p12[4096], pass[4096], id[TSB_DSS_REQUEST_ID_MAX];
    snprintf(p12, sizeof(p12), "%s/hospital.p12", pki);
    snprintf(pass, sizeof(pass), "%s/hospital.pass", pki);
    struct tsb_keystore_source src = {.path = p12, .password_file = pass};
    struct tsb_keystore *ks = NULL;
    if (tsb_keystore_load(&src, now_ms(), &ks) != 0)
        return die("keystore");
    size_t len = 0;
    uint8_t *bag = slurp(bag_path, &len);
    if (bag == NULL)
        return die("bag");
    if (tsb_dss_request_id("tsa_0406798006_01", 1, id) != 0)
        return die("request id");
    struct tsb_dss_request rq = {
        .bag = bag,
        .bag_len = len,
        .request_id = id,
        .profile = "urn:ehealth:profiles:timestamping:2.1-cert",
        .carrier =
            strcmp(carrier, "base64data") == 0 ? TSB_CARRIER_BASE64DATA : TSB_CARRIER_BASE64XML,
    };
    struct tsb_wss_opts wo = {.now_ms = now_ms(), .ttl_s = 60};
    struct tsb_buf msg;
    tsb_buf_init(&msg, 256u << 20);
    if (tsb_dss_build_signed(&rq, ks, &wo, &msg) != 0)
        return die("sign");
    FILE *f = fopen(out, "wb");
    if (f == NULL || fwrite(msg.p, 1, msg.len, f) != msg.len || fclose(f) != 0)
        return die("write");
    printf("%s\n", id);
    tsb_buf_cleanup(&msg);
    free(bag);
    tsb_keystore_free(ks);
    return 0;
}

static int do_check(const char *pki, const char *bag_path, const char *id, const char *resp_path)
{
    size_t blen = 0, rlen = 0;
    uint8_t *bag = slurp(bag_path, &blen), *resp = slurp(resp_path, &rlen);
    if (bag == NULL || resp == NULL)
        return die("read");
    struct tsb_dss_response r;
    tsb_dss_response_init(&r);
    if (tsb_dss_parse_response(resp, rlen, 64u << 20, id, &r) != 0)
        return die("parse response");
    if (r.kind != TSB_DSS_OK) {
        char why[512];
        tsb_dss_response_reason(&r, why, sizeof(why));
        fprintf(stderr, "sim_interop: not a success: %s\n", why);
        return 1;
    }
    char anchors[4096];
    snprintf(anchors, sizeof(anchors), "%s/tsa-ca.pem", pki);
    struct tsb_token_verifier *v = NULL;
    if (tsb_token_verifier_new(anchors, &v) != 0)
        return die("anchors");
    uint8_t d[TSB_SHA256_LEN];
    tsb_sha256(bag, blen, d);
    struct tsb_token_verify_opts o = {.check_skew = true, .now_ms = now_ms(), .max_skew_s = 300};
    struct tsb_token_result res;
    if (tsb_token_verify(v, r.token.p, r.token.len, d, &o, &res) != 0) {
        fprintf(stderr, "sim_interop: token: %s\n", tsb_token_result_reason(&res));
        return 1;
    }
    printf("token verified\n");
    tsb_token_verifier_free(v);
    tsb_dss_response_cleanup(&r);
    free(bag);
    free(resp);
    return 0;
}

int main(int argc, char **argv)
{
    tsb_xml_init();
    if (argc == 6 && strcmp(argv[1], "sign") == 0)
        return do_sign(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 6 && strcmp(argv[1], "check") == 0)
        return do_check(argv[2], argv[3], argv[4], argv[5]);
    fprintf(stderr, "usage: sim_interop sign PKI BAG CARRIER OUT | check PKI BAG ID RESP\n");
    return 2;
}
