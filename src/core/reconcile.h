/*
 * reconcile: one reconciliation of the archive with eHealth's TimeStampConsult over one period
 * (normally one local day), and the report that `tsbag reconcile` prints and records. Pure core:
 * it builds and signs the SOAP messages (consult.c, wss.c), hands them to a caller-supplied
 * transport, parses the answers, verifies what eHealth returns (bag.c, dss.c, token.c) and writes
 * only through the store's never-overwrite functions.
 *
 * Per period: checkCompleteness with the local TSList (serial + genTime of every stamped or
 * recovered bag stamped in the period). OK: nothing to do. INCOMPLETE: getTimestamp for the listed
 * timestamps in batches of at most 10; each returned bag must parse strictly, its token must
 * verify against SHA-256(bag bytes) with the TSA anchors (no live-clock skew check: the bag is
 * old) and carry exactly the requested serial and genTime; it is then imported as recovered, or,
 * when its SequenceNumber exists locally with other bytes or its entries contradict local rows,
 * kept as a conflict beside the local data. ERROR: eHealth's Error Type and Number are reported;
 * when the error may come from timestamps eHealth does not know, a second checkCompleteness with
 * an empty TSList (which lists everything eHealth holds for the period) names the local bags
 * missing at eHealth, and the check is repeated without them.
 */
#ifndef TSB_RECONCILE_H
#define TSB_RECONCILE_H

#include "bag.h"
#include "check.h"
#include "consult.h"
#include "keystore.h"
#include "mem.h"
#include "store.h"
#include "token.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sends one signed SOAP request and appends the answer's body to resp. Returns 0 when an answer
 * arrived (a SOAP Fault included) or a TSB_E* code with a detail (network, TLS, timeout, HTTP). */
typedef int (*tsb_consult_post_fn)(void *arg, const uint8_t *req, size_t len, struct tsb_buf *resp);

struct tsb_reconcile_opts {
    struct tsb_store *store;                   /* read-write */
    const struct tsb_keystore *keystore;       /* signs the requests */
    const struct tsb_token_verifier *verifier; /* TSA trust anchors */
    const char *id_hospital;
    enum tsb_bag_ns ns;
    int64_t wss_ttl_s;
    struct tsb_consult_limits limits;
    tsb_consult_post_fn post;
    void *post_arg;
    tsb_progress_cb on_progress; /* may be NULL */
    void *progress_arg;
    int64_t first_seq; /* sealer.first_sequence: bags below it belong to the previous client and
                          are listed as present, never imported; 0 means 1 */
};

/* ---- the report --------------------------------------------------------------------------- */

struct tsb_rep_day {
    int64_t from_ms, to_ms;
    int64_t local;          /* timestamps listed */
    int64_t remote_missing; /* timestamps eHealth reported missing here */
    char status[16];        /* OK, INCOMPLETE, ERROR, or "" when no answer */
    char resolved[16];      /* after an ERROR resolved by naming unknown timestamps: the status of
                               the repeated check, else "" */
    struct tsb_consult_error error;
    bool completed; /* the day's completeness is known (OK/INCOMPLETE, or an ERROR resolved) */
};

struct tsb_rep_bag {
    int64_t seq; /* 0 when unknown */
    char serial[TSB_CONSULT_SERIAL_MAX];
    int64_t gen_time_ms;
    int64_t entries;
    char detail[512];
};

struct tsb_rep_list {
    struct tsb_rep_bag *v;
    size_t n, cap;
};

struct tsb_rep_violations {
    struct tsb_violation *v;
    size_t n, cap;
};

struct tsb_report {
    int64_t started_ms, finished_ms;
    bool local_only;
    int64_t from_ms, to_ms; /* the whole period asked for */
    char timezone[64];
    int64_t done_to_ms; /* end of the last completed day, 0 if none */
    struct tsb_rep_day *days;
    size_t n_days, cap_days;
    int64_t check_calls, get_calls;
    struct tsb_rep_list recovered;   /* imported as recovered */
    struct tsb_rep_list present;     /* eHealth listed them but the same bytes are already here */
    struct tsb_rep_list unrecovered; /* eHealth reported them missing; could not be imported */
    struct tsb_rep_list missing_at_ehealth; /* local bags eHealth does not know */
    struct tsb_rep_list conflicts;          /* recovered bags that disagree with the archive */
    struct tsb_rep_list errors; /* things that could not be done (seq/serial may be empty) */
    bool local_checked;
    struct tsb_check_stats local;
    struct tsb_rep_violations violations;
};

void tsb_report_init(struct tsb_report *rep);
void tsb_report_cleanup(struct tsb_report *rep);
/* Adds an error line (could not run some part) to the report. */
void tsb_report_error(struct tsb_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends a violation (use as the check's on_violation with the report as arg). */
void tsb_report_violation(void *rep, const struct tsb_violation *v);

/* 0 clean, 1 discrepancies (missing at eHealth, unrecoverable, conflicts, violations), 2 could
 * not run (some period not checked, an error talking to eHealth or reading the archive), 3 the
 * archive file is damaged (SQLite's integrity check; before anything else). */
int tsb_report_exit_code(const struct tsb_report *rep);
/* "clean", "discrepancies", "failed", "damaged" for the exit code. */
const char *tsb_report_result(const struct tsb_report *rep);
/* Appends the report as one JSON object (documented in docs/reconcile.md). */
int tsb_report_json(const struct tsb_report *rep, struct tsb_buf *out);

/* ---- running ------------------------------------------------------------------------------ */

/* Reconciles [from_ms, to_ms] (inclusive) with eHealth, appending what happened to rep. Returns 0
 * when the period's completeness is known (whatever it found), or a TSB_E* code when it could not
 * be established (the reason is also in rep->errors). Store failures while importing are
 * returned too. */
int tsb_reconcile_period(const struct tsb_reconcile_opts *o, int64_t from_ms, int64_t to_ms,
                         struct tsb_report *rep);

/* One signed checkCompleteness with an empty TSList for [from_ms, to_ms], sent through o->post;
 * the answer is parsed into a (initialised here, cleaned up by the caller). Reads and writes no
 * archive (o->store is unused): tsbag doctor's authenticated end-to-end probe. Returns 0 when an
 * answer parsed (a SOAP Fault included), or the transport's or parser's TSB_E* code. */
int tsb_reconcile_probe(const struct tsb_reconcile_opts *o, int64_t from_ms, int64_t to_ms,
                        struct tsb_consult_answer *a);

/* Records the run (counters, result, JSON report) in the archive's reconcile_runs. */
int tsb_report_record(struct tsb_store *s, const struct tsb_report *rep, int64_t *run_id);

#endif
