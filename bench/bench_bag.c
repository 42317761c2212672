/*
 * bench_bag: the sealer's worst case, a 100 000-entry bag. Reports the time to build it (one-shot
 * tsb_bag_build and the streaming writer), its size, the memory it costs (RSS growth measured
 * with the kernel's peak counter VmHWM, reset through /proc/self/clear_refs before each
 * measurement) for several bag sizes so the growth per entry can be compared with the bytes per
 * entry, and the time and memory to parse it back (a sanity check compares the parsed entries
 * with the built ones). Never run by the tests.
 *
 *   bench_bag [ENTRIES [RUNS]]      (defaults 100000 and 7)
 */
#include "bag.h"
#include "err.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall and CPU time of one measured run. */
struct timing {
    double w0, c0;
};
static void start(struct timing *t)
{
    t->w0 = clock_s(CLOCK_MONOTONIC);
    t->c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
}
static void stop(const struct timing *t, double *wall, double *cpu)
{
    *cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - t->c0;
    *wall = clock_s(CLOCK_MONOTONIC) - t->w0;
}

/* A "VmXXX:   123 kB" field of /proc/self/status, in KiB; -1 if absent. */
static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            v = strtol(line + klen + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* Resets VmHWM to the current RSS (Linux: echo 5 > /proc/self/clear_refs). */
static int reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f == NULL)
        return -1;
    int r = fputs("5", f) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_bag: %s failed: %s\n", what, tsb_err_detail());
    exit(1);
}

static int build_stream(const struct tsb_bag_opts *o, const struct tsb_bag_entry *e, size_t n,
                        struct tsb_buf *out)
{
    struct tsb_bag_writer w;
    int r;
    if ((r = tsb_bag_writer_begin(&w, o, 1, out)) != 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if ((r = tsb_bag_writer_add(&w, e[i].ref, e[i].digest)) != 0)
            return r;
    return tsb_bag_writer_end(&w);
}

static void report(const char *what, double *wall, double *cpu, int runs, size_t n)
{
    qsort(wall, (size_t)runs, sizeof(*wall), cmp_double);
    qsort(cpu, (size_t)runs, sizeof(*cpu), cmp_double);
    printf("%-20s wall best %8.2f ms median %8.2f ms | cpu best %8.2f ms median %8.2f ms "
           "(%.2f M entries/s)\n",
           what, wall[0] * 1e3, wall[runs / 2] * 1e3, cpu[0] * 1e3, cpu[runs / 2] * 1e3,
           (double)n / cpu[0] / 1e6);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 100000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (n == 0 || runs <= 0 || runs > 1000) {
        fprintf(stderr, "usage: bench_bag [ENTRIES [RUNS]]\n");
        return 2;
    }
    /* A fixed mmap threshold (glibc otherwise raises it after the first big free and keeps later
     * bags in the heap): every bag-sized buffer is a fresh mapping returned on free, so the RSS
     * growth measured below is the buffer's own cost and every timed run pays its page faults. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    /* Refs as the archive assigns them (increasing, 7-digit, with gaps); random digests */
    uint64_t seed = 42;
    struct tsb_bag_entry *e = calloc(n, sizeof(*e));
    int64_t ref = 1000000;
    for (size_t i = 0; i < n; i++) {
        ref += 1 + (int64_t)(rnd(&seed) % 3);
        e[i].ref = ref;
        for (size_t k = 0; k < TSB_SHA256_LEN; k += 8) {
            uint64_t v = rnd(&seed);
            memcpy(e[i].digest + k, &v, 8);
        }
    }
    const struct tsb_bag_opts hex = {.ns = TSB_BAG_NS_V2, .enc = TSB_HASH_HEX};
    const struct tsb_bag_opts b64 = {.ns = TSB_BAG_NS_V2, .enc = TSB_HASH_BASE64};
    double *t = calloc((size_t)runs, sizeof(*t)), *tc = calloc((size_t)runs, sizeof(*tc));
    struct timing tm;
    struct tsb_buf b;

    printf("# %zu entries, %d runs each\n", n, runs);
    /* fresh: a new buffer per run (what the sealer does), paying the kernel's page faults for
     * every byte; reused: one buffer kept across runs, i.e. the writer's own cost */
    const struct {
        const char *name;
        int stream, reuse;
        const struct tsb_bag_opts *o;
    } modes[] = {
        {"build hex", 0, 0, &hex},         {"build base64", 0, 0, &b64},
        {"stream hex", 1, 0, &hex},        {"build hex reused", 0, 1, &hex},
        {"stream hex reused", 1, 1, &hex},
    };
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        size_t bytes = 0;
        tsb_buf_init(&b, (size_t)1 << 30);
        if (modes[m].reuse && tsb_bag_build(modes[m].o, 1, e, n, &b) != 0) /* pre-fault */
            die("build");
        for (int r = 0; r < runs; r++) {
            if (modes[m].reuse)
                tsb_buf_reset(&b);
            else { /* a new mapping for each run */
                tsb_buf_cleanup(&b);
                tsb_buf_init(&b, (size_t)1 << 30);
            }
            start(&tm);
            int rc = modes[m].stream ? build_stream(modes[m].o, e, n, &b)
                                     : tsb_bag_build(modes[m].o, 1, e, n, &b);
            stop(&tm, &t[r], &tc[r]);
            if (rc != 0)
                die(modes[m].name);
            bytes = b.len;
        }
        tsb_buf_cleanup(&b);
        report(modes[m].name, t, tc, runs, n);
        printf("%-20s %zu bytes (%.1f bytes/entry)\n", "", bytes, (double)bytes / (double)n);
    }
    printf("process VmHWM after the build runs: %ld KiB\n", status_kib("VmHWM"));

    /* memory: RSS growth while building bags of increasing size */
    printf("# memory: RSS growth (VmHWM after - VmRSS before) while building one bag\n");
    size_t steps[] = {n / 10, n / 4, n / 2, n};
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        for (int stream = 0; stream < 2; stream++) {
            if (steps[s] == 0)
                continue;
            tsb_buf_init(&b, (size_t)1 << 30);
            if (reset_hwm() != 0) {
                printf("cannot reset VmHWM (/proc/self/clear_refs); memory figures skipped\n");
                goto parse;
            }
            long rss0 = status_kib("VmRSS");
            int rc = stream ? build_stream(&hex, e, steps[s], &b)
                            : tsb_bag_build(&hex, 1, e, steps[s], &b);
            long hwm = status_kib("VmHWM");
            if (rc != 0)
                die("build");
            double growth = (double)(hwm - rss0) * 1024;
            printf("%-7s %7zu entries: bag %9zu bytes, RSS growth %9.0f bytes = %6.1f bytes/entry "
                   "(%.2f x the bag)\n",
                   stream ? "stream" : "build", steps[s], b.len, growth, growth / (double)steps[s],
                   growth / (double)b.len);
            tsb_buf_cleanup(&b);
        }
    }

parse:
    tsb_buf_init(&b, (size_t)1 << 30);
    if (tsb_bag_build(&hex, 1, e, n, &b) != 0)
        die("build");
    /* memory first: the first parse of the process grows the heap, later ones reuse it */
    struct tsb_bag *bag = NULL;
    if (reset_hwm() == 0) {
        long rss0 = status_kib("VmRSS");
        if (tsb_bag_parse(b.p, b.len, NULL, &bag) != 0)
            die("parse");
        long hwm = status_kib("VmHWM");
        printf("parse RSS growth: %ld KiB (%.1f bytes/entry, %.1f x the bag; libxml2 tree)\n",
               hwm - rss0, (double)(hwm - rss0) * 1024 / (double)n,
               (double)(hwm - rss0) * 1024 / (double)b.len);
        tsb_bag_free(bag);
        bag = NULL;
    }
    for (int r = 0; r < runs; r++) {
        start(&tm);
        if (tsb_bag_parse(b.p, b.len, NULL, &bag) != 0)
            die("parse");
        stop(&tm, &t[r], &tc[r]);
        if (bag->n != n || memcmp(bag->entries, e, n * sizeof(*e)) != 0) {
            fprintf(stderr, "bench_bag: the parsed bag differs from the built one\n");
            return 1;
        }
        tsb_bag_free(bag);
        bag = NULL;
    }
    report("parse hex", t, tc, runs, n);
    tsb_buf_cleanup(&b);
    free(tc);
    free(t);
    free(e);
    return 0;
}
