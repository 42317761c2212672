/*
 * bench_seal_send: the cost of turning a 100 000-entry backlog into the bytes that go to the TSA:
 * seal (bag built, hashed and committed), load the bag, build the SOAP/DSS envelope, sign it with
 * WS-Security (xmlsec1, exc-c14n + SHA-256 over the ~16 MB Body) and serialise it; then, when a
 * simulator URL is given, POST it and verify the token. Reports wall time per phase and the peak
 * resident memory of the process after each phase.
 * The bag is cut at MAX_BAG_BYTES (default 4194304, sealer.max_bag_bytes's default), as tsbagd
 * cuts it, so "one full-size bag" is the largest the default configuration makes. A second
 * full-size bag (ENTRIES more staged, not timed) is then sealed as tsbagd does, its bytes one
 * part per transaction before the commit: the longest of those transactions is printed beside
 * the first bag's one-transaction commit, which is what acks wait behind at most.
 * Usage: bench_seal_send PKI_DIR [ENTRIES [URL [MAX_BAG_BYTES]]]  (PKI_DIR from tools/dev-pki;
 * ENTRIES 100000)
 */
#include "dss.h"
#include "err.h"
#include "fetch.h"
#include "hash.h"
#include "keystore.h"
#include "store.h"
#include "token.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "bench_seal_send: %s: %s: %s\n", what, tsb_strerror(r), tsb_err_detail());
    exit(1);
}

static void row(const char *what, double t0, double t1)
{
    printf("%-44s %9.3f s   peak RSS %5ld MiB\n", what, t1 - t0, peak_mib());
}

struct post {
    struct tsb_fetch *f;
    int cls;
    long status;
    struct tsb_buf body;
};

static void on_done(void *arg, const struct tsb_fetch_result *res)
{
    struct post *p = arg;
    p->cls = res->cls;
    p->status = res->http_status;
    tsb_buf_append(&p->body, res->body, res->body_len);
    tsb_fetch_close(p->f, NULL, NULL);
}

/* Appends n entries numbered from `from` (not measured). */
static void stage(struct tsb_store *s, size_t from, size_t n)
{
    struct tsb_entry_in *batch = calloc(4096, sizeof(*batch));
    int64_t *refs = calloc(4096, sizeof(*refs));
    for (size_t done = 0; done < n;) {
        size_t k = n - done < 4096 ? n - done : 4096;
        for (size_t i = 0; i < k; i++) {
            char e[64];
            int l = snprintf(e, sizeof(e), "entry %zu", from + done + i);
            tsb_sha256((const uint8_t *)e, (size_t)l, batch[i].digest);
            batch[i].source = "bench";
            batch[i].received_ms = (int64_t)time(NULL) * 1000;
        }
        int r = tsb_store_append(s, batch, k, refs);
        if (r != 0)
            die("append", r);
        done += k;
    }
    free(batch);
    free(refs);
}

/* The next bag sealed as tsbagd does since schema 0011: its bytes written one part per write
 * transaction, then the commit. Prints the longest of those transactions: what an ack waits
 * behind at most, beside the one-transaction commit timed before. */
static void seal_in_parts(struct tsb_store *s, struct tsb_store *ro, struct tsb_seal_opts *so)
{
    struct tsb_seal_plan plan = {0};
    int r = tsb_store_seal_prepare(ro, so, &plan);
    if (r != 0)
        die("seal plan", r);
    size_t parts = tsb_bag_parts(plan.bytes.len);
    double longest = 0, t0 = now_s();
    for (size_t i = 0; i < parts; i++) {
        double a = now_s();
        if ((r = tsb_store_seal_write_part(s, &plan, i)) != 0)
            die("seal part", r);
        longest = now_s() - a > longest ? now_s() - a : longest;
    }
    double tc = now_s();
    if ((r = tsb_store_seal_commit(s, &plan, so->now_ms)) != 0)
        die("seal commit", r);
    double t1 = now_s();
    printf("bag 2: %zu entries, %zu bytes in %zu parts\n", plan.entries, plan.bytes.len, parts);
    row("seal in parts, every part", t0, tc);
    row("seal in parts, the longest part", 0, longest);
    row("seal in parts, the commit after them", tc, t1);
    tsb_seal_plan_cleanup(&plan);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_seal_send PKI_DIR [ENTRIES [URL [MAX_BAG_BYTES]]]\n");
        return 2;
    }
    const char *pki = argv[1];
    size_t n = argc > 2 ? (size_t)atol(argv[2]) : 100000;
    const char *url = argc > 3 && argv[3][0] ? argv[3] : NULL;
    size_t max_bag = argc > 4 ? (size_t)atol(argv[4]) : 4194304;
    char dir[] = "/tmp/bench-seal-send-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char path[4200], p12[4200], pass[4200], anchors[4200], tlsca[4200];
    snprintf(path, sizeof(path), "%s/archive.db", dir);
    snprintf(p12, sizeof(p12), "%s/hospital.p12", pki);
    snprintf(pass, sizeof(pass), "%s/hospital.pass", pki);
    snprintf(anchors, sizeof(anchors), "%s/tsa-ca.pem", pki);
    snprintf(tlsca, sizeof(tlsca), "%s/tls-ca.pem", pki);

    struct tsb_store *s = NULL;
    int r = tsb_store_open(path, NULL, &s);
    if (r != 0)
        die("open", r);
    stage(s, 0, n);
    printf("entries: %zu\n", n);

    /* the seal as tsbagd does it: planned on a read-only connection outside the writer, then
     * committed by the writer (the only part acks wait behind) */
    struct tsb_store *ro = NULL;
    struct tsb_store_open_opts roo = {.readonly = true};
    if ((r = tsb_store_open(path, &roo, &ro)) != 0)
        die("open read-only", r);
    double t0 = now_s();
    struct tsb_seal_opts so = {.bag = {.ns = TSB_BAG_NS_V2, .enc = TSB_HASH_HEX},
                               .max_entries = n,
                               .max_bytes = max_bag,
                               .now_ms = (int64_t)time(NULL) * 1000};
    struct tsb_seal_plan plan = {0};
    if ((r = tsb_store_seal_prepare(ro, &so, &plan)) != 0)
        die("seal plan", r);
    double tp = now_s();
    if ((r = tsb_store_seal_commit(s, &plan, so.now_ms)) != 0)
        die("seal commit", r);
    double t1 = now_s();
    row("seal, plan (read, build bag, hash)", t0, tp);
    row("seal, commit (writer's transaction)", tp, t1);
    row("seal, plan + commit", t0, t1);
    printf("bag: %zu entries\n", plan.entries);
    tsb_seal_plan_cleanup(&plan);
    /* a second full-size bag, sealed in parts (its entries staged now, not measured) */
    stage(s, n, n);
    seal_in_parts(s, ro, &so);
    tsb_store_close(ro);

    struct tsb_bag_rec bag;
    double tl = now_s();
    if ((r = tsb_store_bag_next_unstamped(s, &bag)) != 0)
        die("load", r);
    double t2 = now_s();
    row("load bag from archive", tl, t2);
    printf("bag bytes: %zu (%" PRId64 " entries)\n", bag.bytes_len, bag.entry_count);

    struct tsb_keystore *ks = NULL;
    struct tsb_keystore_source src = {.path = p12, .password_file = pass};
    if ((r = tsb_keystore_load(&src, (int64_t)time(NULL) * 1000, &ks)) != 0)
        die("keystore", r);
    char rid[TSB_DSS_REQUEST_ID_MAX];
    tsb_dss_request_id("tsa_0406798006_01", bag.seq, rid);
    struct tsb_dss_request rq = {.bag = bag.bytes,
                                 .bag_len = bag.bytes_len,
                                 .request_id = rid,
                                 .profile = "urn:ehealth:profiles:timestamping:2.1-cert",
                                 .carrier = TSB_CARRIER_BASE64XML};
    double t3 = now_s();
    xmlDocPtr doc = NULL;
    if ((r = tsb_dss_build(&rq, &doc)) != 0)
        die("build", r);
    double t4 = now_s();
    row("build envelope (base64, tree)", t3, t4);
    struct tsb_wss_opts wo = {.now_ms = (int64_t)time(NULL) * 1000, .ttl_s = 60};
    if ((r = tsb_wss_sign(doc, ks, &wo)) != 0)
        die("sign", r);
    double t5 = now_s();
    row("WS-Security sign (exc-c14n, sha256, RSA)", t4, t5);
    xmlFreeDoc(doc);
    struct tsb_buf msg;
    tsb_buf_init(&msg, tsb_dss_request_max(bag.bytes_len));
    double t6 = now_s();
    if ((r = tsb_dss_build_signed(&rq, ks, &wo, &msg)) != 0)
        die("build_signed", r);
    double t7 = now_s();
    row("build + sign + serialise (what the sender does)", t6, t7);
    printf("request bytes: %zu\n", msg.len);

    if (url != NULL) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct post p = {0};
        tsb_buf_init(&p.body, 64 << 20);
        struct tsb_fetch_opts fo = {.ca_file = tlsca,
                                    .connect_timeout_ms = 10000,
                                    .timeout_ms = 120000,
                                    .max_response = 64 << 20};
        if ((r = tsb_fetch_new(&loop, &fo, &p.f)) != 0)
            die("fetch", r);
        struct tsb_fetch_request fr = {.url = url,
                                       .soap_action =
                                           "urn:be:fgov:ehealth:timestamping:protocol:v2:stamp",
                                       .body = msg.p,
                                       .body_len = msg.len};
        double t8 = now_s();
        if ((r = tsb_fetch_post(p.f, &fr, on_done, &p)) != 0)
            die("post", r);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        double t9 = now_s();
        row("POST to the TSA and wait for the answer", t8, t9);
        printf("HTTP %ld (%s), %zu response bytes\n", p.status, tsb_fetch_class_name(p.cls),
               p.body.len);
        struct tsb_dss_response dr;
        tsb_dss_response_init(&dr);
        if ((r = tsb_dss_parse_response(p.body.p, p.body.len, 64 << 20, rid, &dr)) != 0)
            die("parse", r);
        struct tsb_token_verifier *v = NULL;
        if ((r = tsb_token_verifier_new(anchors, &v)) != 0)
            die("anchors", r);
        struct tsb_token_result tr;
        struct tsb_token_verify_opts vo = {
            .check_skew = true, .now_ms = (int64_t)time(NULL) * 1000, .max_skew_s = 300};
        r = tsb_token_verify(v, dr.token.p, dr.token.len, bag.digest, &vo, &tr);
        double t10 = now_s();
        row("parse answer + verify token", t9, t10);
        printf("token: %s\n", tsb_token_result_reason(&tr));
        tsb_token_verifier_free(v);
        tsb_dss_response_cleanup(&dr);
        tsb_buf_cleanup(&p.body);
    }
    tsb_buf_cleanup(&msg);
    tsb_keystore_free(ks);
    tsb_bag_rec_cleanup(&bag);
    tsb_store_close(s);
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
