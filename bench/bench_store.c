/*
 * bench_store: archive append throughput (entries/s) per batch size, with synchronous=FULL on the
 * disk holding DIR (one fsync per batch), and the time to seal 100 000 staged entries into one
 * bag. Usage: bench_store [DIR [append|seal]] (DIR defaults to $TMPDIR or /tmp; both parts run
 * by default). Each figure uses a fresh archive. bench_store into ARCHIVE [BATCHES] appends
 * BATCHES (50) batches of 1024 entries to an existing archive instead (the append rate of a
 * large archive: bench/run-scale.sh); bench_store stats ARCHIVE times tsb_store_stats (the
 * figures of tsbag status and the daemon's STATUS reply) on a read-only connection: the first call
 * of a fresh connection, then the median of 100.
 */
#include "err.h"
#include "hash.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the calling thread: the store's own cost, without waiting for the disk */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "bench_store: %s: %s: %s\n", what, tsb_strerror(r), tsb_err_detail());
    exit(1);
}

static struct tsb_store *fresh(const char *dir, const char *name, char *path, size_t pathsz)
{
    snprintf(path, pathsz, "%s/%s", dir, name);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[4200];
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    struct tsb_store *s = NULL;
    int r = tsb_store_open(path, NULL, &s);
    if (r != 0)
        die("open", r);
    return s;
}

static void cleanup(const char *path)
{
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[4200];
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
}

/* Fills batch with n entries numbered from *next (digest of the number, realistic fields). */
static void fill(struct tsb_entry_in *batch, char (*cref)[24], size_t n, uint64_t *next,
                 const uint8_t *content, size_t content_len)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t k = (*next)++;
        tsb_sha256((const uint8_t *)&k, sizeof(k), batch[i].digest);
        snprintf(cref[i], 24, "RX%016llu", (unsigned long long)k);
        batch[i].source = "his-pharmacy";
        batch[i].format_id = "eprescription-v1";
        batch[i].client_ref = cref[i];
        batch[i].received_ms = 1700000000000LL + (int64_t)k;
        batch[i].content = content;
        batch[i].content_len = content_len;
    }
}

/* Appends total entries in batches of batch_size to s; prints the rate inside tsb_store_append. */
static void append_batches(struct tsb_store *s, size_t batch_size, size_t total, size_t content_len,
                           uint64_t first)
{
    struct tsb_entry_in *batch = calloc(batch_size, sizeof(*batch));
    char(*cref)[24] = calloc(batch_size, sizeof(*cref));
    int64_t *refs = calloc(batch_size, sizeof(*refs));
    uint8_t *content = NULL;
    if (content_len) {
        content = malloc(content_len);
        memset(content, 'p', content_len);
    }
    uint64_t next = first;
    size_t batches = total / batch_size;
    double busy = 0, cpu = 0;
    for (size_t b = 0; b < batches; b++) {
        fill(batch, cref, batch_size, &next, content, content_len);
        double t0 = now_s(), c0 = cpu_s();
        int r = tsb_store_append(s, batch, batch_size, refs);
        cpu += cpu_s() - c0;
        busy += now_s() - t0;
        if (r != 0)
            die("append", r);
    }
    size_t n = batches * batch_size;
    printf("append  batch %5zu  content %4zu B  %8zu entries  %7.3f s  %10.0f entries/s  "
           "%8.0f commits/s  %6.2f us CPU/entry\n",
           batch_size, content_len, n, busy, (double)n / busy, (double)batches / busy,
           cpu * 1e6 / (double)n);
    free(batch);
    free(cref);
    free(refs);
    free(content);
}

/* Runs the digest index's steps (schema 0012) until no complete chunk is pending, as tsbagd's
 * writer does between batches: the CPU they add per entry indexed, and how long one step holds
 * the writer (the acks queued behind it). */
static void index_steps(struct tsb_store *s)
{
    int64_t lag = 0, before = 0;
    size_t steps = 0;
    double cpu = 0, busy = 0, longest = 0;
    int r = tsb_store_hash_index_lag(s, &before);
    if (r != 0)
        die("index lag", r);
    for (lag = before; lag >= TSB_HASH_CHUNK; steps++) {
        double t0 = now_s(), c0 = cpu_s();
        if ((r = tsb_store_hash_index_step(s, &lag)) != 0)
            die("index step", r);
        cpu += cpu_s() - c0;
        double t = now_s() - t0;
        busy += t;
        longest = t > longest ? t : longest;
    }
    int64_t n = before - lag;
    if (n > 0)
        printf("index   %zu steps  %8lld entries  %7.3f s  %6.2f us CPU/entry  step mean %.2f ms, "
               "max %.2f ms\n",
               steps, (long long)n, busy, cpu * 1e6 / (double)n, busy * 1e3 / (double)steps,
               longest * 1e3);
}

static void bench_append(const char *dir, size_t batch_size, size_t total, size_t content_len)
{
    char path[4096];
    struct tsb_store *s = fresh(dir, "bench-append.db", path, sizeof(path));
    append_batches(s, batch_size, total, content_len, 1);
    index_steps(s);
    tsb_store_close(s);
    cleanup(path);
}

static void bench_into(const char *path, size_t batches)
{
    struct tsb_store *s = NULL;
    struct tsb_store_stats st;
    int r = tsb_store_open(path, NULL, &s);
    if (r != 0 || (r = tsb_store_stats(s, &st)) != 0)
        die("open", r);
    printf("bench_store: %s holds %lld entries\n", path, (long long)st.entries);
    append_batches(s, 1024, 1024 * batches, 0, (uint64_t)st.last_ref + 1000000000ULL);
    index_steps(s); /* the digest index's deferred share of those appends, at this size */
    tsb_store_close(s);
}

static void bench_seal(const char *dir, size_t n)
{
    char path[4096];
    struct tsb_store *s = fresh(dir, "bench-seal.db", path, sizeof(path));
    size_t bs = 4096;
    struct tsb_entry_in *batch = calloc(bs, sizeof(*batch));
    char(*cref)[24] = calloc(bs, sizeof(*cref));
    int64_t *refs = calloc(bs, sizeof(*refs));
    uint64_t next = 1;
    for (size_t done = 0; done < n; done += bs) {
        size_t k = n - done < bs ? n - done : bs;
        fill(batch, cref, k, &next, NULL, 0);
        int r = tsb_store_append(s, batch, k, refs);
        if (r != 0)
            die("append", r);
    }
    struct tsb_seal_opts o = {.max_entries = n, .now_ms = 1};
    struct tsb_seal_result res;
    double t0 = now_s();
    int r = tsb_store_seal(s, &o, &res);
    double dt = now_s() - t0;
    if (r != 0)
        die("seal", r);
    struct tsb_bag_rec b;
    if ((r = tsb_store_bag_get(s, res.first_seq, &b)) != 0)
        die("bag_get", r);
    printf("seal    %zu staged entries -> %zu bag(s), %zu bytes  %7.3f s\n", res.entries, res.bags,
           b.bytes_len, dt);
    tsb_bag_rec_cleanup(&b);
    tsb_store_close(s);
    cleanup(path);
    free(batch);
    free(cref);
    free(refs);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_stats(const char *path)
{
    struct tsb_store *s = NULL;
    struct tsb_store_stats st;
    struct tsb_store_open_opts o = {.readonly = true};
    double t0 = now_s();
    int r = tsb_store_open(path, &o, &s);
    double t1 = now_s();
    if (r != 0 || (r = tsb_store_stats(s, &st)) != 0)
        die("stats", r);
    double t2 = now_s(), v[100];
    for (int i = 0; i < 100; i++) {
        double a = now_s();
        if ((r = tsb_store_stats(s, &st)) != 0)
            die("stats", r);
        v[i] = now_s() - a;
    }
    qsort(v, 100, sizeof(v[0]), cmp_d);
    printf(
        "stats   %lld entries: open %.3f ms, first tsb_store_stats %.3f ms, then median %.3f ms, "
        "max %.3f ms\n",
        (long long)st.entries, (t1 - t0) * 1e3, (t2 - t1) * 1e3, v[50] * 1e3, v[99] * 1e3);
    tsb_store_close(s);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "stats") == 0) {
        bench_stats(argv[2]);
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "into") == 0) {
        bench_into(argv[2], argc > 3 ? (size_t)atol(argv[3]) : 50);
        return 0;
    }
    const char *dir = argc > 1 ? argv[1] : getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    const char *part = argc > 2 ? argv[2] : "";
    int r = tsb_store_setup_process(); /* as tsbagd does */
    if (r != 0)
        die("SQLite setup", r);
    printf("bench_store: archives in %s (synchronous=FULL, WAL)\n", dir);
    if (strcmp(part, "cpu") == 0) { /* the writer's batch sizes under load, CPU per entry */
        bench_append(dir, 256, 256 * 400, 0);
        bench_append(dir, 1024, 1024 * 100, 0);
        return 0;
    }
    if (strcmp(part, "seal") != 0) {
        bench_append(dir, 1, 2000, 0);
        bench_append(dir, 64, 64 * 500, 0);
        bench_append(dir, 1024, 1024 * 200, 0);
        bench_append(dir, 256, 256 * 400, 0);
        bench_append(dir, 4096, 4096 * 100, 0);
        bench_append(dir, 1024, 1024 * 50, 1024);
    }
    if (strcmp(part, "append") != 0)
        bench_seal(dir, 100000);
    return 0;
}
