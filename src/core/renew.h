/*
 * renew: what one `tsbag renew` run does to the archive (RFC 4998 archive timestamps), with the
 * RFC 3161 round trip left to the caller (a stamp callback: the CLI's blocking TSA client, or a
 * test's). Three passes, each in trees of at most max_leaves bags, one timestamp per tree:
 *   1. initial: the stamped bags not yet covered, each as the group of its data objects (its
 *      bytes, its eHealth token, its second token if it has one), chain 1;
 *   2. rehash (only when asked, RFC 4998 §5.2 hash-tree renewal): every covered bag whose latest
 *      chain uses another algorithm gets a new chain over its data objects rehashed together with
 *      its ArchiveTimeStampSequence;
 *   3. renewal (§5.2 timestamp renewal): every bag whose latest ArchiveTimeStamp's TSA
 *      certificate expires within the margin gets the next position of its chain over the hash of
 *      that ArchiveTimeStamp's timeStamp.
 * Each tree is read from one snapshot (short: the bags' hashes are kept, never their bytes),
 * stamped with no transaction open, its token verified by the callback, then committed in one
 * short write transaction (tsb_store_ers_add_tree). A crash at any point leaves whole trees only;
 * a re-run resumes with what is still uncovered or due, and the archive's primary key refuses a
 * second ArchiveTimeStamp in the same role. Called by cmd_renew.c and the tests.
 */
#ifndef TSB_RENEW_H
#define TSB_RENEW_H

#include "ers.h"
#include "mem.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A verified timestamp over a tree root, as the stamp callback returns it. */
struct tsb_renew_token {
    struct tsb_buf der; /* the TimeStampToken (DER); initialised by the caller of the callback */
    char serial[80];    /* decimal TSTInfo.serialNumber */
    char subject[256];  /* signer certificate subject */
    int64_t gen_time_ms;
    int64_t not_after_ms; /* the signer certificate's notAfter */
};

/* Has root (len bytes, algorithm alg) timestamped and verified (status, nonce, imprint, signature,
 * chain at genTime, policy) into *tok. Returns 0, or an error whose detail names the cause (TSA
 * unreachable, token refused and why). */
typedef int (*tsb_renew_stamp_fn)(void *arg, enum tsb_ers_alg alg, const uint8_t *root, size_t len,
                                  struct tsb_renew_token *tok);

/* What the run did, for its report. */
struct tsb_renew_tree_done {
    enum tsb_ers_kind kind;
    enum tsb_ers_alg alg;
    int64_t tree_id; /* 0 in a dry run */
    size_t leaves;
    int64_t first_seq, last_seq;
    const struct tsb_renew_token *tok; /* NULL in a dry run */
    int64_t late;                      /* renewal: bags whose old certificate had expired */
};
typedef void (*tsb_renew_report_fn)(void *arg, const struct tsb_renew_tree_done *t);

struct tsb_renew_opts {
    enum tsb_ers_alg alg;    /* chain 1 of bags not yet covered (renew.alg, or rehash's) */
    enum tsb_ers_alg rehash; /* TSB_ERS_ALG_NONE: no hash-tree renewal */
    size_t max_leaves;       /* renew.max_tree_leaves */
    int64_t margin_ms;       /* renew.margin_days */
    int64_t now_ms;
    bool dry_run;             /* count what would be done; no stamp, no write */
    const char *url;          /* the TSA, archived with each tree */
    tsb_renew_stamp_fn stamp; /* not called in a dry run */
    void *stamp_arg;
    tsb_renew_report_fn report; /* may be NULL; called after each tree is committed */
    void *report_arg;
};

struct tsb_renew_result {
    size_t trees[3];   /* by kind (TSB_ERS_INITIAL, RENEWAL, REHASH) */
    size_t bags[3];    /* bags stamped, by kind */
    int64_t conflicts; /* trees refused because another run had covered a bag first */
};

/* Runs the three passes. 0 when everything due was done (or there was nothing); on error, the
 * trees committed before it stay (res says how many) and the detail names the cause:
 * TSB_ETOKEN (renewal refused: the TSA's certificate would not outlive the one renewed; nothing
 * written for that tree), the stamp callback's error, TSB_EBUSY, TSB_EDURABLE. */
int tsb_renew_run(struct tsb_store *s, const struct tsb_renew_opts *o,
                  struct tsb_renew_result *res);

#endif
