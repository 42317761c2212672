/*
 * ers_record: the archive side of an evidence record as an auditor would receive it, for the
 * renew tests. Usage: ers_record ARCHIVE SEQ OUT [ANCHORS_PEM [AT_MS]]
 * Writes bag SEQ's EvidenceRecord (tsb_store_ers_record, DER) to OUT; with ANCHORS_PEM, also
 * verifies it with the ers library's verifier against the bag's data objects read from the archive
 * (its bytes, its eHealth token, its second token when its group has one), each token chained to
 * ANCHORS_PEM at its genTime, as of AT_MS (default now). Prints "verified chains=N ats=M alg=A"
 * or "failed <reason word>: <sentence>". Exit 0 verified (or written), 1 failed, 2 could not run.
 */
#include "clock.h"
#include "err.h"
#include "ers.h"
#include "mem.h"
#include "store.h"
#include "store_ers.h"
#include "token.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: ers_record ARCHIVE SEQ OUT [ANCHORS_PEM [AT_MS]]\n");
        return 2;
    }
    int rc = 2;
    struct tsb_store *s = NULL;
    struct tsb_token_verifier *v = NULL;
    struct tsb_bag_rec b = {0};
    struct tsb_tsa2_rec t2 = {0};
    struct tsb_buf der;
    tsb_buf_init(&der, 64u << 20);
    int64_t seq = strtoll(argv[2], NULL, 10);
    struct tsb_store_open_opts so = {.readonly = true};
    unsigned members = 0;
    if (tsb_store_open(argv[1], &so, &s) != 0 || tsb_store_ers_record(s, seq, &der) != 0 ||
        tsb_store_ers_members(s, seq, &members) != 0) {
        fprintf(stderr, "ers_record: %s\n", tsb_err_detail());
        goto out;
    }
    FILE *f = fopen(argv[3], "wb");
    if (f == NULL || fwrite(der.p, 1, der.len, f) != der.len || fclose(f) != 0) {
        fprintf(stderr, "ers_record: cannot write %s\n", argv[3]);
        goto out;
    }
    if (argc == 4) {
        rc = 0;
        goto out;
    }
    struct tsb_slice objs[3];
    size_t n = 0;
    if (tsb_store_bag_get(s, seq, &b) != 0 || tsb_token_verifier_new(argv[4], &v) != 0 ||
        ((members & TSB_ERS_OBJ_TSA2) && tsb_store_tsa2_get(s, seq, &t2) != 0)) {
        fprintf(stderr, "ers_record: %s\n", tsb_err_detail());
        goto out;
    }
    objs[n++] = (struct tsb_slice){b.bytes, b.bytes_len};
    objs[n++] = (struct tsb_slice){b.token, b.token_len};
    if (members & TSB_ERS_OBJ_TSA2)
        objs[n++] = (struct tsb_slice){t2.token, t2.token_len};
    struct tsb_ers_verify_opts vo = {
        .tv = v, .at_ms = argc == 6 ? strtoll(argv[5], NULL, 10) : tsb_now_ms()};
    struct tsb_ers_verify_result res;
    if (tsb_ers_verify(der.p, der.len, objs, n, &vo, &res) == 0) {
        printf("verified chains=%zu ats=%zu alg=%s objects=%zu\n", res.n_chains, res.n_ats,
               tsb_ers_alg_name(res.current_alg), n);
        rc = 0;
    } else {
        printf("failed %s: %s\n", tsb_ers_fail_name(res.fail), res.msg);
        rc = 1;
    }
out:
    tsb_bag_rec_cleanup(&b);
    tsb_tsa2_rec_cleanup(&t2);
    tsb_token_verifier_free(v);
    tsb_store_close(s);
    tsb_buf_cleanup(&der);
    return rc;
}
