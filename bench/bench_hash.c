/*
 * bench_hash: journal hashing throughput of tsb_hasher (one reused EVP context, the ingest hot
 * path) for several entry sizes. Each run hashes for a fixed time; the best of the runs is
 * reported as entries/s and MB/s (10^6 bytes/s, the unit of `openssl speed`). Rates are given per
 * second of this process's CPU time (what `openssl speed` divides by, unless -elapsed) and per
 * second of wall time (which a busy shared machine inflates). Never run by the tests.
 *
 *   bench_hash [SECONDS_PER_RUN [RUNS]]      (defaults 0.5 and 5)
 */
#include "hash.h"

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

int main(int argc, char **argv)
{
    static const size_t sizes[] = {64, 256, 1024, 4096, 16384};
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (secs <= 0 || runs <= 0) {
        fprintf(stderr, "usage: bench_hash [SECONDS_PER_RUN [RUNS]]\n");
        return 2;
    }
    size_t max = sizes[sizeof(sizes) / sizeof(sizes[0]) - 1];
    uint8_t *buf = malloc(max);
    for (size_t i = 0; i < max; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    struct tsb_hasher *h = tsb_hasher_new(max);
    uint8_t d[TSB_SHA256_LEN];
    unsigned sink = 0;

    printf("# tsb_hasher SHA-256, best of %d runs of %.2f s CPU each\n", runs, secs);
    printf("# %-11s %12s %10s %14s %14s\n", "size", "entries/s", "MB/s", "worst MB/s",
           "best wall MB/s");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        double best = 0, worst = 0, best_wall = 0;
        for (int r = 0; r < runs; r++) {
            size_t n = 0;
            double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC), c;
            do {
                /* look at the clock every 256 entries only */
                for (int k = 0; k < 256; k++) {
                    buf[0] = (uint8_t)n; /* a different entry each time */
                    if (tsb_hasher_digest(h, buf, sizes[s], d) != 0) {
                        fprintf(stderr, "bench_hash: digest failed\n");
                        return 1;
                    }
                    sink += d[0];
                    n++;
                }
                c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
            } while (c < secs);
            double w = clock_s(CLOCK_MONOTONIC) - w0;
            double rate = (double)n / c, wall = (double)n / w;
            if (rate > best)
                best = rate;
            if (worst == 0 || rate < worst)
                worst = rate;
            if (wall > best_wall)
                best_wall = wall;
        }
        printf("hash size=%-6zu %12.0f %10.1f %14.1f %14.1f\n", sizes[s], best,
               best * (double)sizes[s] / 1e6, worst * (double)sizes[s] / 1e6,
               best_wall * (double)sizes[s] / 1e6);
    }
    tsb_hasher_free(h);
    free(buf);
    return sink == 0xffffffffu; /* keep the digests observable */
}
