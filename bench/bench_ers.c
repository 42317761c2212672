/*
 * bench_ers: the cost of one renew tree: building a hash tree over N leaves, writing every leaf's
 * reduced hash tree and ArchiveTimeStamp (with a 2 KiB stand-in token), and decoding and walking
 * each ArchiveTimeStamp back to the root (the verifier's part without the token check, which is
 * token.c's). CPU seconds of this process per phase, best and worst of RUNS runs; the tree's own
 * memory is 2 * N * digest length bytes. Never run by the tests.
 *
 *   bench_ers [LEAVES [RUNS]]      (defaults 65536, the renew.max_tree_leaves default, and 3)
 */
#include "ers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One run: phase times into t[0..3) (tree, reduced + encode, decode + walk). */
static int run(enum tsb_ers_alg alg, size_t n, const uint8_t *token, size_t token_len, double t[3])
{
    size_t len = tsb_ers_alg_len(alg);
    uint8_t *leaves = malloc(n * len), root[TSB_ERS_HASH_MAX];
    for (size_t i = 0; i < n; i++) {
        char s[32];
        int k = snprintf(s, sizeof(s), "leaf %zu", i);
        if (tsb_ers_digest(alg, (const uint8_t *)s, (size_t)k, leaves + i * len) != 0)
            return 1;
    }
    struct tsb_ers_tree *tree = NULL;
    double c0 = cpu_s();
    if (tsb_ers_tree_new(alg, leaves, n, &tree) != 0)
        return 1;
    double c1 = cpu_s();
    struct tsb_buf rht, *ats = calloc(n, sizeof(*ats));
    tsb_buf_init(&rht, 1 << 16);
    for (size_t i = 0; i < n; i++) {
        tsb_buf_reset(&rht);
        tsb_buf_init(&ats[i], 1 << 16);
        if (tsb_ers_tree_reduced(tree, i, NULL, 0, &rht) != 0 ||
            tsb_ers_ats_encode(alg, rht.p, rht.len, token, token_len, &ats[i]) != 0)
            return 1;
    }
    double c2 = cpu_s();
    for (size_t i = 0; i < n; i++) {
        struct tsb_ers_ats a;
        if (tsb_ers_ats_decode(ats[i].p, ats[i].len, NULL, &a) != 0 ||
            (n > 1 && tsb_ers_ats_root(alg, &a, root) != 0) ||
            (n > 1 && memcmp(root, tsb_ers_tree_root(tree), len) != 0))
            return 1;
        tsb_ers_ats_cleanup(&a);
    }
    double c3 = cpu_s();
    t[0] = c1 - c0;
    t[1] = c2 - c1;
    t[2] = c3 - c2;
    for (size_t i = 0; i < n; i++)
        tsb_buf_cleanup(&ats[i]);
    free(ats);
    tsb_buf_cleanup(&rht);
    tsb_ers_tree_free(tree);
    free(leaves);
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 65536;
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    if (n == 0 || runs <= 0) {
        fprintf(stderr, "usage: bench_ers [LEAVES [RUNS]]\n");
        return 2;
    }
    /* a stand-in timeStamp: one DER SEQUENCE of 2 KiB, the size of a token with its certificate */
    static uint8_t token[2048 + 4] = {0x30, 0x82, 0x08, 0x00};
    static const char *const phase[3] = {"tree", "reduced+ATS", "decode+walk"};
    static const enum tsb_ers_alg algs[] = {TSB_ERS_SHA256, TSB_ERS_SHA512};
    printf("# %zu leaves, CPU seconds, best - worst of %d runs\n", n, runs);
    for (size_t a = 0; a < 2; a++) {
        double best[3] = {1e9, 1e9, 1e9}, worst[3] = {0, 0, 0}, t[3];
        for (int r = 0; r < runs; r++) {
            if (run(algs[a], n, token, sizeof(token), t) != 0) {
                fprintf(stderr, "bench_ers: %s run failed\n", tsb_ers_alg_name(algs[a]));
                return 1;
            }
            for (int p = 0; p < 3; p++) {
                best[p] = t[p] < best[p] ? t[p] : best[p];
                worst[p] = t[p] > worst[p] ? t[p] : worst[p];
            }
        }
        for (int p = 0; p < 3; p++)
            printf("%-7s %-12s %8.3f - %8.3f s  (%.2f - %.2f us per leaf)\n",
                   tsb_ers_alg_name(algs[a]), phase[p], best[p], worst[p],
                   best[p] * 1e6 / (double)n, worst[p] * 1e6 / (double)n);
    }
    return 0;
}
