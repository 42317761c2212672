/*
 * seed_archive: builds a real archive of stamped bags for the reconciliation tests by doing what
 * tsbagd's sealer and sender do, with tsbag's own modules: append journal entries (content
 * stored), seal one bag, mark it sent, send a WS-Security-signed SignRequest to the simulator's
 * TimeStampAuthority over HTTPS, parse the SignResponse, verify the token (as in stamping, with
 * the live-clock check) and record the stamp.
 *   seed_archive ARCHIVE TSA_URL PKI_DIR BAGS ENTRIES_PER_BAG [FIRST_LABEL]
 * With TSB_SEED_CHAIN=1 in the environment the bags are chained (sealer.chain).
 */
#include "dss.h"
#include "err.h"
#include "hash.h"
#include "fetch_sync.h"
#include "keystore.h"
#include "store.h"
#include "token.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "seed_archive: %s: %s: %s\n", what, tsb_strerror(r), tsb_err_detail());
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: seed_archive ARCHIVE TSA_URL PKI_DIR BAGS ENTRIES [LABEL]\n");
        return 2;
    }
    const char *archive = argv[1], *url = argv[2], *pki = argv[3];
    int bags = atoi(argv[4]), per = atoi(argv[5]);
    const char *label = argc > 6 ? argv[6] : "rx";
    const char *chain_env = getenv("TSB_SEED_CHAIN");
    bool chain = chain_env != NULL && strcmp(chain_env, "1") == 0;
    char p12[1024], pass[1024], anchors[1024], ca[1024];
    snprintf(p12, sizeof(p12), "%s/hospital.p12", pki);
    snprintf(pass, sizeof(pass), "%s/hospital.pass", pki);
    snprintf(anchors, sizeof(anchors), "%s/tsa-ca.pem", pki);
    snprintf(ca, sizeof(ca), "%s/tls-ca.pem", pki);

    struct tsb_store *s = NULL;
    struct tsb_keystore *ks = NULL;
    struct tsb_token_verifier *v = NULL;
    struct tsb_keystore_source src = {.path = p12, .password_file = pass};
    int r;
    if ((r = tsb_store_open(archive, NULL, &s)) != 0)
        die("archive", r);
    if ((r = tsb_keystore_load(&src, now_ms(), &ks)) != 0)
        die("keystore", r);
    if ((r = tsb_token_verifier_new(anchors, &v)) != 0)
        die("trust anchors", r);
    struct tsb_fetch_opts fo = {
        .ca_file = ca, .connect_timeout_ms = 5000, .timeout_ms = 30000, .max_response = 16 << 20};
    for (int b = 0; b < bags; b++) {
        struct tsb_entry_in in[64];
        char text[64][64];
        int64_t refs[64];
        int n = per < 64 ? per : 64;
        for (int i = 0; i < n; i++) {
            memset(&in[i], 0, sizeof(in[i]));
            snprintf(text[i], sizeof(text[i]), "1|71000436|%s-%d-%d|NEW|1", label, b, i);
            in[i].content = (const uint8_t *)text[i];
            in[i].content_len = strlen(text[i]);
            tsb_sha256(in[i].content, in[i].content_len, in[i].digest);
            in[i].source = "pharmacy";
            in[i].received_ms = now_ms();
        }
        if ((r = tsb_store_append(s, in, (size_t)n, refs)) != 0)
            die("append", r);
        struct tsb_seal_opts so = {.max_entries = (size_t)n, .now_ms = now_ms(), .chain = chain};
        struct tsb_seal_result res;
        if ((r = tsb_store_seal(s, &so, &res)) != 0 || res.bags != 1)
            die("seal", r ? r : TSB_EINTERNAL);
        struct tsb_bag_rec bag;
        if ((r = tsb_store_bag_get(s, res.first_seq, &bag)) != 0)
            die("bag", r);
        char rid[TSB_DSS_REQUEST_ID_MAX];
        if ((r = tsb_dss_request_id("tsa_0406798006_01", bag.seq, rid)) != 0 ||
            (r = tsb_store_bag_mark_sent(
                 s, bag.seq, rid, "urn:ehealth:profiles:timestamping:2.1-cert", now_ms())) != 0)
            die("mark sent", r);
        struct tsb_dss_request rq = {.bag = bag.bytes,
                                     .bag_len = bag.bytes_len,
                                     .request_id = rid,
                                     .profile = "urn:ehealth:profiles:timestamping:2.1-cert",
                                     .carrier = TSB_CARRIER_BASE64XML};
        struct tsb_wss_opts wo = {.now_ms = now_ms(), .ttl_s = 60};
        struct tsb_buf req, resp;
        long status = 0;
        tsb_buf_init(&req, 64 << 20);
        tsb_buf_init(&resp, 16 << 20);
        if ((r = tsb_dss_build_signed(&rq, ks, &wo, &req)) != 0)
            die("SignRequest", r);
        if ((r = tsb_fetch_sync_post(&fo, url, "urn:be:fgov:ehealth:timestamping:protocol:v2:stamp",
                                     req.p, req.len, &resp, &status)) != 0)
            die("POST", r);
        struct tsb_dss_response dr;
        tsb_dss_response_init(&dr);
        if ((r = tsb_dss_parse_response(resp.p, resp.len, 16 << 20, rid, &dr)) != 0)
            die("SignResponse", r);
        if (dr.kind != TSB_DSS_OK) {
            char why[512];
            tsb_dss_response_reason(&dr, why, sizeof(why));
            fprintf(stderr, "seed_archive: TSA refused bag %lld: %s\n", (long long)bag.seq, why);
            return 1;
        }
        struct tsb_token_result tr;
        struct tsb_token_verify_opts vo = {
            .check_skew = true, .now_ms = now_ms(), .max_skew_s = 300};
        if ((r = tsb_token_verify(v, dr.token.p, dr.token.len, bag.digest, &vo, &tr)) != 0) {
            fprintf(stderr, "seed_archive: token: %s\n", tsb_token_result_reason(&tr));
            return 1;
        }
        struct tsb_stamp st = {.sign_response = resp.p,
                               .sign_response_len = resp.len,
                               .token = dr.token.p,
                               .token_len = dr.token.len,
                               .tsa_serial = tr.serial,
                               .gen_time_ms = tr.gen_time_ms};
        if ((r = tsb_store_bag_record_stamp(s, bag.seq, &st, now_ms())) != 0)
            die("record stamp", r);
        tsb_dss_response_cleanup(&dr);
        tsb_buf_cleanup(&req);
        tsb_buf_cleanup(&resp);
        tsb_bag_rec_cleanup(&bag);
    }
    printf("seeded %d bags of %d entries\n", bags, per);
    tsb_token_verifier_free(v);
    tsb_keystore_free(ks);
    tsb_store_close(s);
    return 0;
}
