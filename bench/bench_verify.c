/*
 * bench_verify: how long an auditor waits for one entry in a large archive. Builds (or reuses) an
 * archive of BAGS bags x 1 000 entries through the store API, each bag stamped with its own real
 * RFC 3161 token over its own bytes (made here with OpenSSL's TS_RESP_CTX and the development
 * TSA key), then times verification as `tsbag verify` does it (tsb_audit over a read-only
 * connection): the first entry in a fresh process (cold), then random entries by Ref and by hash
 * (each in another bag: bag load, parse and token verification), and entries of the bag just
 * verified (cached token). Usage: bench_verify PKI_DIR [DIR [BAGS]] (PKI_DIR from tools/dev-pki;
 * DIR defaults to $TMPDIR or /tmp; BAGS to 1000). The archive DIR/bench-verify-BAGS.db is kept
 * between runs; delete it to rebuild.
 */
#include "audit.h"
#include "bag.h"
#include "err.h"
#include "hash.h"
#include "store.h"

#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PER_BAG     1000
#define BUILD_BATCH 20
#define SAMPLES     200

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "bench_verify: %s: %s: %s\n", what, tsb_strerror(r), tsb_err_detail());
    exit(1);
}

static void digest_of(uint64_t n, uint8_t d[TSB_SHA256_LEN])
{
    char doc[64];
    int len = snprintf(doc, sizeof(doc), "prescription %llu", (unsigned long long)n);
    tsb_sha256((const uint8_t *)doc, (size_t)len, d);
}

static ASN1_INTEGER *serial_cb(TS_RESP_CTX *ctx, void *data)
{
    (void)ctx;
    uint64_t *next = data;
    ASN1_INTEGER *s = ASN1_INTEGER_new();
    ASN1_INTEGER_set_uint64(s, (*next)++);
    return s;
}

/* The tokens' genTime: the second the stamp row records too (set before each token), so that the
 * archive check finds serial and genTime of every token equal to its row. */
static time_t gen_time_s;

static int time_cb(TS_RESP_CTX *ctx, void *data, long *sec, long *usec)
{
    (void)ctx;
    (void)data;
    *sec = (long)gen_time_s;
    *usec = 0;
    return 1;
}

/* A DER TimeStampToken over digest, signed by the TSA of ctx. */
static unsigned char *make_token(TS_RESP_CTX *ctx, const uint8_t digest[TSB_SHA256_LEN], int *len)
{
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *alg = X509_ALGOR_new();
    X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL);
    TS_MSG_IMPRINT_set_algo(mi, alg);
    TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)digest, TSB_SHA256_LEN);
    TS_REQ_set_version(req, 1);
    TS_REQ_set_msg_imprint(req, mi);
    TS_REQ_set_cert_req(req, 1);
    BIO *b = BIO_new(BIO_s_mem());
    i2d_TS_REQ_bio(b, req);
    TS_RESP *resp = TS_RESP_create_response(ctx, b);
    unsigned char *der = NULL;
    if (resp == NULL || TS_RESP_get_token(resp) == NULL ||
        (*len = i2d_PKCS7(TS_RESP_get_token(resp), &der)) <= 0) {
        fprintf(stderr, "bench_verify: TS_RESP_create_response failed\n");
        exit(1);
    }
    TS_RESP_free(resp);
    BIO_free(b);
    X509_ALGOR_free(alg);
    TS_MSG_IMPRINT_free(mi);
    TS_REQ_free(req);
    return der;
}

static TS_RESP_CTX *tsa_ctx(const char *pki, uint64_t *serial)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/tsa.pem", pki);
    FILE *f = fopen(p, "r");
    X509 *cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    snprintf(p, sizeof(p), "%s/tsa.key", pki);
    f = fopen(p, "r");
    EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (cert == NULL || key == NULL) {
        fprintf(stderr, "bench_verify: cannot read %s/tsa.pem and tsa.key (run tools/dev-pki)\n",
                pki);
        exit(1);
    }
    TS_RESP_CTX *ctx = TS_RESP_CTX_new();
    ASN1_OBJECT *policy = OBJ_txt2obj("2.999.7355.1.1", 1);
    TS_RESP_CTX_set_signer_cert(ctx, cert);
    TS_RESP_CTX_set_signer_key(ctx, key);
    TS_RESP_CTX_set_def_policy(ctx, policy);
    TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256());
    TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256());
    TS_RESP_CTX_add_md(ctx, EVP_sha256());
    TS_RESP_CTX_set_serial_cb(ctx, serial_cb, serial);
    TS_RESP_CTX_set_time_cb(ctx, time_cb, NULL);
    ASN1_OBJECT_free(policy);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ctx;
}

static void build(const char *path, const char *pki, int bags)
{
    struct tsb_store *s = NULL;
    int r;
    double t0 = now_s();
    if ((r = tsb_store_open(path, NULL, &s)) != 0)
        die("open", r);
    struct tsb_entry_in *batch = calloc(PER_BAG * BUILD_BATCH, sizeof(*batch));
    int64_t *refs = calloc(PER_BAG * BUILD_BATCH, sizeof(*refs));
    uint64_t n = 0;
    /* BUILD_BATCH bags per append transaction: an archive of 10 000 bags builds in minutes */
    for (int b = 0; b < bags; b += BUILD_BATCH) {
        int k = bags - b < BUILD_BATCH ? bags - b : BUILD_BATCH;
        for (int i = 0; i < k * PER_BAG; i++, n++) {
            batch[i].source = "pharmacy";
            batch[i].received_ms = 1772355600000LL + (int64_t)n * 300;
            digest_of(n, batch[i].digest);
        }
        if ((r = tsb_store_append(s, batch, (size_t)k * PER_BAG, refs)) != 0)
            die("append", r);
        if (b % 1000 == 0)
            fprintf(stderr, "bench_verify: %d of %d bags appended\n", b, bags);
    }
    /* the digest index, as tsbagd's writer fills it between batches: lookups by hash probe it,
     * and an archive left unindexed would have them scan every entry above its watermark */
    for (int64_t lag = TSB_HASH_CHUNK; lag >= TSB_HASH_CHUNK;)
        if ((r = tsb_store_hash_index_step(s, &lag)) != 0)
            die("digest index", r);
    struct tsb_seal_opts so = {.max_entries = PER_BAG, .now_ms = 1772355600000LL};
    struct tsb_seal_result sr;
    if ((r = tsb_store_seal(s, &so, &sr)) != 0 || sr.bags != (size_t)bags)
        die("seal", r);
    double t1 = now_s();
    uint64_t serial = 1;
    TS_RESP_CTX *ctx = tsa_ctx(pki, &serial);
    static const char env[] = "<SignResponse/>"; /* not read by verification */
    for (int64_t seq = 1; seq <= bags; seq++) {
        struct tsb_bag_rec rec;
        int len;
        if ((r = tsb_store_bag_get(s, seq, &rec)) != 0)
            die("bag_get", r);
        gen_time_s = time(NULL);
        unsigned char *tok = make_token(ctx, rec.digest, &len);
        char ser[32];
        snprintf(ser, sizeof(ser), "%llu", (unsigned long long)(serial - 1));
        struct tsb_stamp st = {.sign_response = (const uint8_t *)env,
                               .sign_response_len = sizeof(env) - 1,
                               .token = tok,
                               .token_len = (size_t)len,
                               .tsa_serial = ser,
                               .gen_time_ms = (int64_t)gen_time_s * 1000};
        if ((r = tsb_store_bag_mark_sent(s, seq, "bench",
                                         "urn:ehealth:profiles:timestamping:2.1-cert",
                                         st.gen_time_ms)) != 0 ||
            (r = tsb_store_bag_record_stamp(s, seq, &st, st.gen_time_ms)) != 0)
            die("stamp", r);
        OPENSSL_free(tok);
        tsb_bag_rec_cleanup(&rec);
    }
    TS_RESP_CTX_free(ctx);
    tsb_store_close(s);
    free(batch);
    free(refs);
    printf("built %s: %d bags x %d entries (append+index+seal %.1f s, stamp %.1f s)\n", path, bags,
           PER_BAG, t1 - t0, now_s() - t1);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Wall median/p90/max and CPU median, in ms. */
static void report(const char *what, double *v, double *c, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    qsort(c, (size_t)n, sizeof(*c), cmp_d);
    printf("%-48s wall median %7.3f p90 %7.3f max %7.3f; CPU median %7.3f ms (n=%d)\n", what,
           v[n / 2] * 1e3, v[n * 9 / 10] * 1e3, v[n - 1] * 1e3, c[n / 2] * 1e3, n);
}

static struct tsb_audit_result res;

static int by_hash_cb(void *arg, const struct tsb_entry_rec *e)
{
    void **p = arg;
    int r = tsb_audit_archive_entry(p[0], p[1], e, NULL, &res);
    return r != 0 ? r : (res.verdict == TSB_VERDICT_VALID ? 0 : -100);
}

static int ref_cb(void *arg, const struct tsb_entry_rec *e)
{
    *(int64_t *)arg = e->ref;
    return 0;
}

static void verify_ref(struct tsb_audit *a, struct tsb_store *s, int64_t ref)
{
    struct tsb_entry_rec e;
    int r = tsb_store_entry_by_ref(s, ref, &e);
    if (r != 0)
        die("entry_by_ref", r);
    if ((r = tsb_audit_archive_entry(a, s, &e, NULL, &res)) != 0)
        die("audit", r);
    if (res.verdict != TSB_VERDICT_VALID) {
        fprintf(stderr, "bench_verify: Ref %lld is %s: %s\n", (long long)ref,
                tsb_verdict_name(res.verdict),
                res.failed >= 0 ? res.message[res.failed] : res.note);
        exit(1);
    }
    tsb_entry_rec_cleanup(&e);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_verify PKI_DIR [DIR [BAGS]]\n");
        return 2;
    }
    const char *pki = argv[1];
    const char *dir = argc > 2 ? argv[2] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int bags = argc > 3 ? atoi(argv[3]) : 1000;
    char path[4096], anchors[4096], wal[4200];
    snprintf(path, sizeof(path), "%s/bench-verify-%d.db", dir, bags);
    snprintf(anchors, sizeof(anchors), "%s/tsa-ca.pem", pki);
    struct stat st;
    if (stat(path, &st) != 0)
        build(path, pki, bags);
    srand(7);

    /* cold: a fresh process opens the archive, loads the anchors and verifies one entry */
    double t0 = now_s(), u0 = cpu_s();
    struct tsb_store *s = NULL;
    struct tsb_audit *a = NULL;
    struct tsb_store_open_opts o = {.readonly = true};
    int r;
    if ((r = tsb_store_open(path, &o, &s)) != 0)
        die("open read-only", r);
    if ((r = tsb_audit_new(anchors, NULL, NULL, &a)) != 0)
        die("anchors", r);
    double t1 = now_s();
    int64_t total = (int64_t)bags * PER_BAG;
    verify_ref(a, s, total / 2 + 17);
    double t2 = now_s(), u2 = cpu_s();
    printf("cold: open archive + load anchors %.3f ms, first verify (Ref %lld) %.3f ms, total "
           "%.3f ms wall, %.3f ms CPU\n",
           (t1 - t0) * 1e3, (long long)(total / 2 + 17), (t2 - t1) * 1e3, (t2 - t0) * 1e3,
           (u2 - u0) * 1e3);

    double v[SAMPLES], cv[SAMPLES];
    for (int i = 0; i < SAMPLES; i++) { /* a different bag each time */
        int64_t ref =
            1 + (int64_t)((((uint64_t)rand() << 16) ^ (uint64_t)rand()) % (uint64_t)total);
        double a0 = now_s(), c0 = cpu_s();
        verify_ref(a, s, ref);
        v[i] = now_s() - a0;
        cv[i] = cpu_s() - c0;
    }
    report("warm, by Ref, another bag each time", v, cv, SAMPLES);

    for (int i = 0; i < SAMPLES; i++) {
        uint64_t n = (((uint64_t)rand() << 16) ^ (uint64_t)rand()) % (uint64_t)total;
        uint8_t d[TSB_SHA256_LEN];
        digest_of(n, d);
        void *p[2] = {a, s};
        double a0 = now_s(), c0 = cpu_s();
        if ((r = tsb_store_entries_by_hash(s, d, by_hash_cb, p)) != 0 || res.ref != (int64_t)n + 1)
            die("verify by hash", r);
        v[i] = now_s() - a0;
        cv[i] = cpu_s() - c0;
    }
    report("warm, by hash (document), another bag each time", v, cv, SAMPLES);

    int64_t base = (total / 3 / PER_BAG) * PER_BAG + 1;
    verify_ref(a, s, base);
    for (int i = 0; i < SAMPLES; i++) {
        double a0 = now_s(), c0 = cpu_s();
        verify_ref(a, s, base + 1 + i % (PER_BAG - 1));
        v[i] = now_s() - a0;
        cv[i] = cpu_s() - c0;
    }
    report("warm, by Ref, same bag (token cached)", v, cv, SAMPLES);

    /* where the time of a cache miss goes */
    struct tsb_token_verifier *tv = NULL;
    if ((r = tsb_token_verifier_new(anchors, &tv)) != 0)
        die("verifier", r);
    double vl[SAMPLES], vp[SAMPLES], vt[SAMPLES], cl[SAMPLES], cp[SAMPLES], ct[SAMPLES];
    double vh[SAMPLES], ch[SAMPLES];
    for (int i = 0; i < SAMPLES; i++) {
        int64_t seq = 1 + rand() % bags;
        struct tsb_bag_rec rec;
        struct tsb_bag *pb = NULL;
        struct tsb_token_result tr;
        struct tsb_token_verify_opts to = {0};
        uint8_t d[TSB_SHA256_LEN];
        double b0 = now_s(), c0 = cpu_s();
        if ((r = tsb_store_bag_get(s, seq, &rec)) != 0)
            die("bag_get", r);
        double b1 = now_s(), c1 = cpu_s();
        if ((r = tsb_bag_parse(rec.bytes, rec.bytes_len, NULL, &pb)) != 0)
            die("bag_parse", r);
        double b2 = now_s(), c2 = cpu_s();
        tsb_sha256(rec.bytes, rec.bytes_len, d);
        if ((r = tsb_token_verify(tv, rec.token, rec.token_len, d, &to, &tr)) != 0)
            die("token_verify", r);
        double b3 = now_s(), c3 = cpu_s();
        vl[i] = b1 - b0;
        vp[i] = b2 - b1;
        vt[i] = b3 - b2;
        cl[i] = c1 - c0;
        cp[i] = c2 - c1;
        ct[i] = c3 - c2;
        if (i == 0)
            printf("bag size: %zu bytes, token %zu bytes\n", rec.bytes_len, rec.token_len);
        tsb_bag_free(pb);
        tsb_bag_rec_cleanup(&rec);
    }
    for (int i = 0; i < SAMPLES; i++) { /* the lookup by hash alone: no bag read, no verify */
        uint64_t n = (((uint64_t)rand() << 16) ^ (uint64_t)rand()) % (uint64_t)total;
        uint8_t d[TSB_SHA256_LEN];
        int64_t got = 0;
        digest_of(n, d);
        double a0 = now_s(), c0 = cpu_s();
        if ((r = tsb_store_entries_by_hash(s, d, ref_cb, &got)) != 0 || got != (int64_t)n + 1)
            die("lookup by hash", r);
        vh[i] = now_s() - a0;
        ch[i] = cpu_s() - c0;
    }
    report("  part: lookup by hash (the Ref only)", vh, ch, SAMPLES);
    report("  part: load one bag row (bytes + token)", vl, cl, SAMPLES);
    report("  part: parse the bag (libxml2, 1000 entries)", vp, cp, SAMPLES);
    report("  part: SHA-256 of the bag + token checks", vt, ct, SAMPLES);
    tsb_token_verifier_free(tv);

    tsb_audit_free(a);
    tsb_store_close(s);
    long long size = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    snprintf(wal, sizeof(wal), "%s-wal", path);
    long long wsize = stat(wal, &st) == 0 ? (long long)st.st_size : 0;
    printf("archive: %d bags x %d entries, %lld bytes (%.1f MiB) + WAL %lld bytes\n", bags, PER_BAG,
           size, (double)size / 1048576.0, wsize);
    return 0;
}
