/*
 * tsbag verify: proves, for an auditor, that journal entries existed unchanged at their stamp
 * time, from the archive (opened read-only, safe while tsbagd runs) or from an evidence package
 * with no archive at all. Each result names every check, the verdict, and in plain words what a
 * failure means; a bag's RFC 4998 evidence record (ers.c) is verified as of --at (default now),
 * and one that does not hold makes its entries INVALID. Output is text or --json (one object,
 * results in input order).
 * Exit: 0 every result VALID; 1 some INVALID; 3 some NOT FOUND (none INVALID); 4 some NOT YET
 * STAMPED (none INVALID or NOT FOUND); 2 usage, or the archive, package or anchors unreadable.
 */
#include "cli.h"

#include "audit.h"
#include "audit2.h"
#include "clock.h"
#include "codec.h"
#include "err.h"
#include "ers.h"
#include "evidence.h"
#include "json.h"
#include "store.h"
#include "store_ers.h"
#include "timefmt.h"
#include "token.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_NOT_FOUND   3
#define EXIT_NOT_STAMPED 4
#define JSON_LINE_MAX    ((size_t)1 << 20) /* one result line; its texts are bounded arrays */
#define ER_MAX           ((size_t)8 << 20) /* an evidence record read from the archive */

/* A bag's evidence record as checked: absent, not checked (no trust anchors), verified, or
 * missing: absent while the bag's token's TSA certificate has expired at the verification time,
 * so that nothing proves the bag then (a failure, like a record that does not hold). */
enum er_state { ER_NONE, ER_UNCHECKED, ER_VERIFIED, ER_MISSING };

struct er_check {
    enum er_state state;
    int rc; /* tsb_ers_verify's: 0 when the evidence holds */
    struct tsb_ers_verify_result res;
};

struct report {
    bool json;
    bool package; /* advice names the package instead of the archive */
    const char *zone;
    size_t n, counts[4];
    bool progress; /* stderr is a terminal */
    bool progress_shown;
    bool broken;          /* a JSON document could not be written */
    bool chain_broken;    /* package: a link of its chain range does not hold */
    struct json_t *chain; /* package, --json: the chain range's result (owned) */
    struct timespec start, last;
    /* the second token ([tsa2]) of each result's bag, from the archive or the package */
    struct tsb_audit2 *a2;
    bool require_tsa2; /* a second token that is not VALID makes the entry INVALID */
    struct tsb_store *st;
    const struct tsb_evidence *ev;
    int64_t second_seq; /* the bag of second (0: none yet) */
    struct tsb_second_result second;
    /* evidence records: verified as of at_ms with ers_tv (NULL: no anchors, not checked) */
    int64_t at_ms;
    struct tsb_token_verifier *ers_tv;
    int64_t er_seq; /* the bag of er (0: none yet) */
    struct er_check er;
};

static const char ER_MEANING[] =
    "The evidence record that keeps this entry's proof valid after its timestamps' certificates "
    "expire does not hold at the verification time: the entry is not proven by it.";
static const char ER_MISSING_MEANING[] =
    "The timestamp's TSA certificate has expired at the verification time and no evidence "
    "record renews its proof: at that time, the timestamp alone no longer proves this entry.";

/* Verifies the record der over the group's objects into c. */
static void er_verify(struct report *rp, const uint8_t *der, size_t len,
                      const struct tsb_slice *objs, size_t n, const uint8_t *extra,
                      size_t extra_len, struct er_check *c)
{
    struct tsb_ers_verify_opts o = {
        .tv = rp->ers_tv, .at_ms = rp->at_ms, .extra_pem = extra, .extra_pem_len = extra_len};
    c->state = rp->ers_tv != NULL ? ER_VERIFIED : ER_UNCHECKED;
    if (c->state == ER_VERIFIED)
        c->rc = tsb_ers_verify(der, len, objs, n, &o, &c->res);
    tsb_err_clear();
}

/* Bag seq's evidence record from the archive: the record, its group's objects (bag, token,
 * second token), verified. A record the archive cannot assemble is reported as not holding. */
static void er_from_archive(struct report *rp, int64_t seq, struct er_check *c)
{
    struct tsb_buf der;
    struct tsb_bag_rec b = {0};
    struct tsb_tsa2_rec t = {0};
    unsigned members = 0;
    tsb_buf_init(&der, ER_MAX);
    int r = tsb_store_ers_record(rp->st, seq, &der);
    if (r == 0)
        r = tsb_store_ers_members(rp->st, seq, &members);
    if (r == 0)
        r = tsb_store_bag_get(rp->st, seq, &b);
    if (r == 0 && (members & TSB_ERS_OBJ_TSA2))
        r = tsb_store_tsa2_get(rp->st, seq, &t);
    if (r == TSB_ENOTFOUND && der.len == 0) {
        c->state = ER_NONE;
    } else if (r != 0) {
        c->state = ER_VERIFIED;
        c->rc = r;
        c->res.fail = TSB_ERS_FAIL_FORMAT;
        snprintf(c->res.msg, sizeof(c->res.msg), "the archive cannot give the record: %s",
                 tsb_err_detail());
    } else {
        struct tsb_slice objs[3] = {
            {b.bytes, b.bytes_len}, {b.token, b.token_len}, {t.token, t.token_len}};
        er_verify(rp, der.p, der.len, objs, (members & TSB_ERS_OBJ_TSA2) ? 3 : 2, NULL, 0, c);
    }
    tsb_err_clear();
    tsb_tsa2_rec_cleanup(&t);
    tsb_bag_rec_cleanup(&b);
    tsb_buf_cleanup(&der);
}

/* The evidence record verdict on bag seq, cached for the next results of the same bag. */
static struct er_check *er_of(struct report *rp, int64_t seq)
{
    struct er_check *c = &rp->er;
    if (rp->er_seq == seq)
        return c;
    rp->er_seq = seq;
    memset(c, 0, sizeof(*c));
    if (rp->ev == NULL) {
        er_from_archive(rp, seq, c);
        return c;
    }
    const struct tsb_evidence_er *er = tsb_evidence_er_get(rp->ev, seq);
    struct tsb_slice objs[3];
    size_t n = er != NULL ? tsb_evidence_er_objects(rp->ev, seq, er, objs) : 0;
    if (er == NULL)
        c->state = ER_NONE;
    else
        er_verify(rp, er->der, er->der_len, objs, n, rp->ev->ers_certs, rp->ev->ers_certs_len, c);
    return c;
}

static bool er_failed(const struct er_check *c)
{
    return c != NULL && ((c->state == ER_VERIFIED && c->rc != 0) || c->state == ER_MISSING);
}

static const struct tsb_second_result *second_lookup(struct report *rp, int64_t seq);

/* The second token's verdict on bag seq, cached for the next results of the same bag; NULL (no
 * second verdict shown) when no second-TSA anchors are configured and the bag has no second
 * token: an installation without [tsa2] sees the report it always saw. */
static const struct tsb_second_result *second_of(struct report *rp, int64_t seq)
{
    const struct tsb_second_result *sec = second_lookup(rp, seq);
    bool off = !tsb_audit2_enabled(rp->a2) && sec->verdict == TSB_SECOND_MISSING;
    return off ? NULL : sec;
}

static const struct tsb_second_result *second_lookup(struct report *rp, int64_t seq)
{
    if (rp->second_seq == seq)
        return &rp->second;
    struct tsb_second_result *out = &rp->second;
    rp->second_seq = seq;
    if (rp->ev != NULL) {
        const struct tsb_audit_bag *b = tsb_evidence_bag_get(rp->ev, seq);
        const struct tsb_evidence_tsa2 *t = tsb_evidence_tsa2_get(rp->ev, seq);
        tsb_audit2_check(rp->a2, seq, b ? b->bytes : NULL, b ? b->bytes_len : 0,
                         t ? t->token : NULL, t ? t->token_len : 0, t ? t->chain_file : NULL,
                         t ? t->chain_file_len : 0, NULL, out);
        return out;
    }
    struct tsb_bag_rec b = {0};
    struct tsb_tsa2_rec t = {0};
    int r = tsb_store_bag_get(rp->st, seq, &b);
    int r2 = r == 0 ? tsb_store_tsa2_get(rp->st, seq, &t) : r;
    if (r != 0 || (r2 != 0 && r2 != TSB_ENOTFOUND)) {
        memset(out, 0, sizeof(*out));
        out->verdict = TSB_SECOND_INVALID;
        snprintf(out->reason, sizeof(out->reason), "cannot read the second token: %s",
                 tsb_err_detail());
        rp->second_seq = 0;
    } else {
        tsb_audit2_check(rp->a2, seq, b.bytes, b.bytes_len, t.token, t.token_len, NULL, 0, NULL,
                         out);
    }
    tsb_tsa2_rec_cleanup(&t);
    tsb_bag_rec_cleanup(&b);
    return out;
}

/* The result as reported: with --require-tsa2, a VALID entry whose bag's second token is not
 * VALID becomes INVALID (*second_failed). sec is NULL when the entry is in no bag. */
static enum tsb_verdict shown_verdict(const struct report *rp, const struct tsb_audit_result *res,
                                      const struct tsb_second_result *sec, bool *second_failed)
{
    *second_failed = rp->require_tsa2 && res->verdict == TSB_VERDICT_VALID && sec != NULL &&
                     sec->verdict != TSB_SECOND_VALID;
    return *second_failed ? TSB_VERDICT_INVALID : res->verdict;
}

/* The entry's bag's evidence record; NULL when the entry has no stamped bag, or when the bag has
 * none and no archive timestamps' anchors are configured: an installation without tsbag renew
 * sees the report it always saw. */
static const struct er_check *entry_er(struct report *rp, const struct tsb_audit_result *res)
{
    if (!res->have_entry || res->bag_seq <= 0 || res->verdict == TSB_VERDICT_NOT_STAMPED)
        return NULL;
    struct er_check *c = er_of(rp, res->bag_seq);
    /* the same for every entry of the bag: one token, one notAfter (the cache is per bag) */
    if (c->state == ER_NONE && res->tsa_not_after_ms != 0 && rp->at_ms > res->tsa_not_after_ms) {
        char na[TSB_TIME_STR_MAX], at[TSB_TIME_STR_MAX];
        tsb_time_utc(res->tsa_not_after_ms, na);
        tsb_time_utc(rp->at_ms, at);
        c->state = ER_MISSING;
        snprintf(c->res.msg, sizeof(c->res.msg),
                 "bag %lld has no evidence record, and its token's TSA certificate expired on %s, "
                 "before %s: %s",
                 (long long)res->bag_seq, na, at,
                 rp->package ? "run tsbag renew on the archive, then export the package again "
                               "(tsbag export)"
                             : "run tsbag renew, which covers the bag with an archive timestamp");
    }
    return c->state == ER_NONE && rp->ers_tv == NULL ? NULL : c;
}

/* "2 ArchiveTimeStamps in 1 chain (sha256), from ... to ...; the latest TSA certificate is valid
 * until ..." */
static void er_summary(const struct er_check *c, char *out, size_t n)
{
    char f[TSB_TIME_STR_MAX], l[TSB_TIME_STR_MAX], na[TSB_TIME_STR_MAX];
    tsb_time_utc(c->res.first_gen_time_ms, f);
    tsb_time_utc(c->res.last_gen_time_ms, l);
    tsb_time_utc(c->res.last_not_after_ms, na);
    snprintf(out, n,
             "%zu ArchiveTimeStamp%s in %zu chain%s (%s), from %s to %s; the latest TSA "
             "certificate is valid until %s",
             c->res.n_ats, c->res.n_ats == 1 ? "" : "s", c->res.n_chains,
             c->res.n_chains == 1 ? "" : "s", tsb_ers_alg_name(c->res.current_alg), f, l, na);
}

static const char SECOND_MEANING[] =
    "The second, independent timestamp that --require-tsa2 asks for is missing or does not "
    "verify: the eHealth token alone dates this entry.";

static double since(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* A progress line on a terminal, for batches that take more than a second. */
static void progress(struct report *rp, bool final)
{
    if (!rp->progress)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (final) {
        if (rp->progress_shown)
            fputs("\r\033[K", stderr);
        return;
    }
    if (since(&rp->start, &now) < 1.0 || since(&rp->last, &now) < 0.2)
        return;
    rp->last = now;
    rp->progress_shown = true;
    fprintf(stderr,
            "\r\033[Kverify: %zu checked: %zu valid, %zu invalid, %zu not found, %zu not yet "
            "stamped",
            rp->n, rp->counts[TSB_VERDICT_VALID], rp->counts[TSB_VERDICT_INVALID],
            rp->counts[TSB_VERDICT_NOT_FOUND], rp->counts[TSB_VERDICT_NOT_STAMPED]);
}

/* Prints v (taken) on one line; a document that does not fit is reported and marks the run. */
static void put_json(struct report *rp, struct json_t *v)
{
    struct tsb_buf b;
    tsb_buf_init(&b, JSON_LINE_MAX);
    if (tsb_json_dump_line(v, &b) == 0) {
        fputs((const char *)b.p, stdout);
    } else {
        fprintf(stderr, "tsbag verify: %s\n", tsb_err_detail());
        rp->broken = true;
    }
    tsb_buf_cleanup(&b);
    tsb_json_free(v);
}

static const char *outcome_word(enum tsb_check_outcome o)
{
    switch (o) {
    case TSB_CHECK_PASS:
        return "ok";
    case TSB_CHECK_FAIL:
        return "FAILED";
    case TSB_CHECK_SKIPPED:
        return "skipped";
    default:
        return "not run";
    }
}

static const char *outcome_id(enum tsb_check_outcome o)
{
    switch (o) {
    case TSB_CHECK_PASS:
        return "pass";
    case TSB_CHECK_FAIL:
        return "fail";
    case TSB_CHECK_SKIPPED:
        return "skipped";
    default:
        return "not_run";
    }
}

/* NOT FOUND for a Ref or a period has no hash to show. */
static bool has_digest(const struct tsb_audit_result *res)
{
    static const uint8_t zero[TSB_SHA256_LEN];
    return res->have_entry || memcmp(res->digest, zero, TSB_SHA256_LEN) != 0;
}

static void print_text(struct report *rp, const char *label, const struct tsb_audit_result *res,
                       const struct tsb_second_result *sec)
{
    bool second_failed;
    (void)shown_verdict(rp, res, sec, &second_failed);
    const struct er_check *er = entry_er(rp, res);
    bool er_bad = !second_failed && res->verdict == TSB_VERDICT_VALID && er_failed(er);
    char hex[TSB_HASH_STR_MAX], u[TSB_TIME_STR_MAX], l[TSB_TIME_STR_MAX] = "";
    bool timed = res->gen_time_ms != 0;
    if (timed) {
        tsb_time_utc(res->gen_time_ms, u);
        if (tsb_time_zone(res->gen_time_ms, rp->zone, l) != 0)
            snprintf(l, sizeof(l), "(time zone %s unknown)", rp->zone);
    }
    if (rp->n > 1)
        putchar('\n');
    if (second_failed)
        printf("%s: INVALID (failed check: second token)\n", label);
    else if (er_bad)
        printf("%s: INVALID (failed check: evidence record)\n", label);
    else if (res->verdict == TSB_VERDICT_INVALID)
        printf("%s: INVALID (failed check: %s)\n", label, tsb_audit_check_name(res->failed));
    else
        printf("%s: %s\n", label, tsb_verdict_name(res->verdict));
    if (second_failed)
        printf("  %s\n  What it means: %s\n", sec->reason, SECOND_MEANING);
    else if (er_bad)
        printf("  %s\n  What it means: %s\n", er->res.msg,
               er->state == ER_MISSING ? ER_MISSING_MEANING : ER_MEANING);
    else
        switch (res->verdict) {
        case TSB_VERDICT_VALID:
            printf(
                "  This prescription existed, unchanged, when the TSA stamped it: %s, %s time.\n",
                l, rp->zone);
            break;
        case TSB_VERDICT_INVALID:
            printf("  %s\n  What it means: %s\n  This entry is NOT proven. Keep the %s and the "
                   "document "
                   "as they are and\n  report it to the tsbag administrator.\n",
                   res->message[res->failed], tsb_audit_check_meaning(res->failed),
                   rp->package ? "package" : "archive");
            break;
        default:
            printf("  %s\n", res->note);
        }
    tsb_hex_encode(res->digest, TSB_SHA256_LEN, hex);
    if (has_digest(res))
        printf("  %-16s %s\n", "hash", hex);
    if (!res->have_entry)
        return;
    printf("  %-16s %lld\n", "Ref", (long long)res->ref);
    if (res->bag_seq > 0)
        printf("  %-16s SequenceNumber %lld\n", "bag", (long long)res->bag_seq);
    if (res->link_msg[0])
        printf("  %-16s %s\n", "bag chain", res->link_msg);
    if (res->tsa_serial[0])
        printf("  %-16s %s\n", "TSA serial", res->tsa_serial);
    if (timed) {
        printf("  %-16s %s\n", "stamped (UTC)", u);
        printf("  %-16s %s %s\n", "stamped (local)", l, rp->zone);
    }
    if (res->tsa_subject[0])
        printf("  %-16s %s\n", "TSA certificate", res->tsa_subject);
    if (res->tsa_policy[0])
        printf("  %-16s %s\n", "TSA policy", res->tsa_policy);
    if (sec != NULL) {
        char g[TSB_TIME_STR_MAX] = "";
        if (sec->gen_time_ms != 0)
            tsb_time_utc(sec->gen_time_ms, g);
        if (sec->verdict == TSB_SECOND_VALID)
            printf("  %-16s VALID: serial %s, stamped %s UTC by %s (policy %s)\n", "second token",
                   sec->serial, g, sec->tsa_subject, sec->policy);
        else
            printf("  %-16s %s: %s\n", "second token", tsb_second_verdict_name(sec->verdict),
                   sec->reason);
    }
    if (er != NULL) {
        char at[TSB_TIME_STR_MAX], sum[512];
        tsb_time_utc(rp->at_ms, at);
        if (er->state == ER_NONE)
            printf("  %-16s none: no archive timestamp covers bag %lld yet (tsbag renew)\n",
                   "evidence record", (long long)res->bag_seq);
        else if (er->state == ER_MISSING)
            printf("  %-16s MISSING at %s: %s\n", "evidence record", at, er->res.msg);
        else if (er->state == ER_UNCHECKED)
            printf("  %-16s not checked: no trust anchors for the archive timestamps "
                   "(--ers-anchors FILE or renew.trust_anchors)\n",
                   "evidence record");
        else if (er->rc != 0)
            printf("  %-16s INVALID (%s) at %s: %s\n", "evidence record",
                   tsb_ers_fail_name(er->res.fail), at, er->res.msg);
        else {
            er_summary(er, sum, sizeof(sum));
            printf("  %-16s VALID at %s: %s\n", "evidence record", at, sum);
        }
    }
    bool any = false;
    for (int c = 0; c < TSB_ACHK_N; c++) {
        if (res->outcome[c] == TSB_CHECK_NOT_RUN)
            continue;
        if (!any)
            printf("  checks:\n");
        any = true;
        printf("    %-8s %s: %s\n", outcome_word(res->outcome[c]), tsb_audit_check_name(c),
               res->message[c]);
    }
}

/* One result: the fields on one line, then its checks one per line (the layout of the golden
 * files). */
/* The "second_token" object of a JSON result. */
static struct json_t *second_json(const struct tsb_second_result *sec)
{
    struct json_t *o = tsb_json_object();
    char t[TSB_TIME_STR_MAX];
    tsb_json_set_str(o, "verdict", tsb_second_verdict_id(sec->verdict));
    tsb_json_set_str(o, "reason", sec->reason);
    if (sec->serial[0])
        tsb_json_set_str(o, "tsa_serial", sec->serial);
    if (sec->gen_time_ms != 0) {
        tsb_time_utc(sec->gen_time_ms, t);
        tsb_json_set_int(o, "gen_time_ms", sec->gen_time_ms);
        tsb_json_set_str(o, "gen_time_utc", t);
    }
    if (sec->tsa_subject[0])
        tsb_json_set_str(o, "tsa_subject", sec->tsa_subject);
    if (sec->policy[0])
        tsb_json_set_str(o, "tsa_policy", sec->policy);
    return o;
}

/* The "evidence_record" object of a JSON result. */
static struct json_t *er_json(const struct report *rp, const struct er_check *c)
{
    static const char *const states[] = {"none", "not_checked", "verified", "missing"};
    struct json_t *o = tsb_json_object();
    char t[TSB_TIME_STR_MAX];
    tsb_json_set_str(o, "state", states[c->state]);
    tsb_time_utc(rp->at_ms, t);
    tsb_json_set_str(o, "at_utc", t);
    if (c->state == ER_MISSING) {
        tsb_json_set_str(o, "verdict", "INVALID");
        tsb_json_set_str(o, "reason", c->res.msg);
    }
    if (c->state != ER_VERIFIED)
        return o;
    tsb_json_set_str(o, "verdict", c->rc == 0 ? "VALID" : "INVALID");
    tsb_json_set_str(o, "fail", tsb_ers_fail_name(c->res.fail));
    tsb_json_set_str(o, "reason", c->rc == 0 ? "" : c->res.msg);
    tsb_json_set_int(o, "archive_timestamps", (int64_t)c->res.n_ats);
    tsb_json_set_int(o, "chains", (int64_t)c->res.n_chains);
    if (c->rc == 0) {
        tsb_time_utc(c->res.first_gen_time_ms, t);
        tsb_json_set_str(o, "first_utc", t);
        tsb_time_utc(c->res.last_gen_time_ms, t);
        tsb_json_set_str(o, "latest_utc", t);
        tsb_time_utc(c->res.last_not_after_ms, t);
        tsb_json_set_str(o, "renew_before_utc", t);
    }
    return o;
}

static void print_json(struct report *rp, const char *kind, const char *label,
                       const struct tsb_audit_result *res, const struct tsb_second_result *sec)
{
    bool second_failed;
    enum tsb_verdict shown = shown_verdict(rp, res, sec, &second_failed);
    const struct er_check *er = entry_er(rp, res);
    bool er_bad = !second_failed && shown == TSB_VERDICT_VALID && er_failed(er);
    if (er_bad)
        shown = TSB_VERDICT_INVALID;
    char hex[TSB_HASH_STR_MAX], t[TSB_TIME_STR_MAX];
    struct json_t *o = tsb_json_object();
    struct tsb_buf b;
    tsb_buf_init(&b, JSON_LINE_MAX);
    printf("%s\n    ", rp->n > 1 ? "," : "");
    tsb_json_set_str(o, "input", label);
    tsb_json_set_str(o, "input_kind", kind);
    tsb_json_set_str(o, "verdict", tsb_verdict_name(shown));
    if (second_failed) {
        tsb_json_set_str(o, "failed_check", "second_token");
        tsb_json_set_str(o, "reason", sec->reason);
        tsb_json_set_str(o, "meaning", SECOND_MEANING);
    } else if (er_bad) {
        tsb_json_set_str(o, "failed_check", "evidence_record");
        tsb_json_set_str(o, "reason", er->res.msg);
        tsb_json_set_str(o, "meaning", er->state == ER_MISSING ? ER_MISSING_MEANING : ER_MEANING);
    } else if (res->verdict == TSB_VERDICT_INVALID) {
        tsb_json_set_str(o, "failed_check", tsb_audit_check_id(res->failed));
        tsb_json_set_str(o, "reason", res->message[res->failed]);
        tsb_json_set_str(o, "meaning", tsb_audit_check_meaning(res->failed));
    } else {
        tsb_json_set(o, "failed_check", tsb_json_null());
    }
    if (res->note[0])
        tsb_json_set_str(o, "note", res->note);
    tsb_hex_encode(res->digest, TSB_SHA256_LEN, hex);
    if (has_digest(res))
        tsb_json_set_str(o, "hash", hex);
    if (res->have_entry) {
        tsb_json_set_int(o, "ref", res->ref);
        if (res->bag_seq > 0)
            tsb_json_set_int(o, "bag_sequence", res->bag_seq);
        if (res->link_msg[0]) {
            tsb_json_set_str(o, "chain_link",
                             res->link == TSB_AUDIT_LINK_UNKNOWN
                                 ? "unknown"
                                 : tsb_link_name((enum tsb_link)res->link));
            tsb_json_set_str(o, "chain", res->link_msg);
        }
        if (res->tsa_serial[0])
            tsb_json_set_str(o, "tsa_serial", res->tsa_serial);
        if (res->gen_time_ms != 0) {
            tsb_time_utc(res->gen_time_ms, t);
            tsb_json_set_int(o, "gen_time_ms", res->gen_time_ms);
            tsb_json_set_str(o, "gen_time_utc", t);
            if (tsb_time_zone(res->gen_time_ms, rp->zone, t) == 0) {
                tsb_json_set_str(o, "gen_time_local", t);
                tsb_json_set_str(o, "time_zone", rp->zone);
            }
        }
        if (res->tsa_subject[0])
            tsb_json_set_str(o, "tsa_subject", res->tsa_subject);
        if (res->tsa_policy[0])
            tsb_json_set_str(o, "tsa_policy", res->tsa_policy);
        if (sec != NULL)
            tsb_json_set(o, "second_token", second_json(sec));
        if (er != NULL)
            tsb_json_set(o, "evidence_record", er_json(rp, er));
    }
    if (!res->have_entry) {
        put_json(rp, o);
        return;
    }
    /* the result's fields on one line, then "checks" with one line per check: the object is
     * printed without its closing brace, which follows the checks */
    if (tsb_json_dump_line(o, &b) != 0) {
        fprintf(stderr, "tsbag verify: %s\n", tsb_err_detail());
        rp->broken = true;
        goto out;
    }
    printf("%.*s,\n     \"checks\": [", (int)(b.len - 1), (const char *)b.p);
    bool first = true;
    for (int c = 0; c < TSB_ACHK_N; c++) {
        if (res->outcome[c] == TSB_CHECK_NOT_RUN)
            continue;
        struct json_t *k = tsb_json_object();
        tsb_json_set_str(k, "check", tsb_audit_check_id(c));
        tsb_json_set_str(k, "name", tsb_audit_check_name(c));
        tsb_json_set_str(k, "outcome", outcome_id(res->outcome[c]));
        tsb_json_set_str(k, "message", res->message[c]);
        printf("%s\n       ", first ? "" : ",");
        put_json(rp, k);
        first = false;
    }
    printf("]}");
out:
    tsb_buf_cleanup(&b);
    tsb_json_free(o);
}

static const char *kind_name(enum tsb_sel_kind k)
{
    static const char *const names[] = {"file", "hash", "ref", "period"};
    return names[k];
}

static void emit(struct report *rp, const struct tsb_sel_input *in,
                 const struct tsb_audit_result *res)
{
    char label[300];
    switch (in->kind) {
    case TSB_SEL_FILE:
        snprintf(label, sizeof(label), "%s", in->text);
        break;
    case TSB_SEL_HASH:
        snprintf(label, sizeof(label), "hash %s", in->text);
        break;
    case TSB_SEL_REF:
        snprintf(label, sizeof(label), "Ref %s", in->text);
        break;
    case TSB_SEL_PERIOD:
        if (res->have_entry)
            snprintf(label, sizeof(label), "Ref %lld", (long long)res->ref);
        else
            snprintf(label, sizeof(label), "period");
        break;
    }
    const struct tsb_second_result *sec =
        res->have_entry && res->bag_seq > 0 && res->verdict != TSB_VERDICT_NOT_STAMPED
            ? second_of(rp, res->bag_seq)
            : NULL;
    bool second_failed;
    enum tsb_verdict shown = shown_verdict(rp, res, sec, &second_failed);
    if (shown == TSB_VERDICT_VALID && er_failed(entry_er(rp, res)))
        shown = TSB_VERDICT_INVALID;
    rp->n++;
    rp->counts[shown]++;
    if (rp->json)
        print_json(rp, kind_name(in->kind), label, res, sec);
    else
        print_text(rp, label, res, sec);
    progress(rp, false);
}

static int on_result(void *arg, const struct tsb_sel_input *in, const struct tsb_audit_result *res,
                     const struct tsb_entry_rec *e)
{
    (void)e;
    emit(arg, in, res);
    return 0;
}

/* Package mode: inputs are matched against the package's entries; no input means all of them. */
static int run_package(struct report *rp, struct tsb_sel *sel, const struct tsb_evidence *ev,
                       struct tsb_audit *a)
{
    struct tsb_audit_result res;
    struct tsb_sel_input all = {.kind = TSB_SEL_REF};
    char text[32];
    if (sel->n == 0) {
        for (size_t i = 0; i < ev->ne; i++) {
            const struct tsb_evidence_entry *e = &ev->entries[i];
            snprintf(text, sizeof(text), "%lld", (long long)e->ref);
            all.text = text;
            tsb_audit_bag_entry(a, tsb_evidence_bag_get(ev, e->seq), e->digest, e->ref, NULL, &res);
            emit(rp, &all, &res);
        }
        return 0;
    }
    for (size_t k = 0; k < sel->n; k++) {
        const struct tsb_sel_input *in = &sel->v[k];
        size_t hits = 0;
        for (size_t i = 0; i < ev->ne; i++) {
            const struct tsb_evidence_entry *e = &ev->entries[i];
            bool match = in->kind == TSB_SEL_REF ? e->ref == in->ref
                                                 : memcmp(e->digest, in->digest, 32) == 0;
            if (!match)
                continue;
            hits++;
            tsb_audit_bag_entry(a, tsb_evidence_bag_get(ev, e->seq), e->digest, e->ref,
                                in->kind == TSB_SEL_FILE ? in->digest : NULL, &res);
            emit(rp, in, &res);
        }
        if (hits > 0)
            continue;
        if (in->kind == TSB_SEL_FILE && ev->ne == 1) {
            /* one prescription in the package: say the document is not that one */
            const struct tsb_evidence_entry *e = &ev->entries[0];
            tsb_audit_bag_entry(a, tsb_evidence_bag_get(ev, e->seq), e->digest, e->ref, in->digest,
                                &res);
            emit(rp, in, &res);
            continue;
        }
        char hex[TSB_HASH_STR_MAX], note[256];
        tsb_hex_encode(in->digest, TSB_SHA256_LEN, hex);
        if (in->kind == TSB_SEL_REF)
            snprintf(note, sizeof(note), "the package holds no entry with Ref %lld",
                     (long long)in->ref);
        else
            snprintf(note, sizeof(note), "none of the package's %zu entries has the SHA-256 %s%s",
                     ev->ne, hex,
                     in->kind == TSB_SEL_FILE
                         ? ": the document was altered (even one byte) or is not in this package"
                         : "");
        tsb_audit_not_found(&res, note);
        if (in->kind != TSB_SEL_REF)
            memcpy(res.digest, in->digest, TSB_SHA256_LEN);
        emit(rp, in, &res);
    }
    return 0;
}

/* Package mode: the links of the package's range of consecutive bags (bag-chain.txt), if any. A
 * broken link makes the run INVALID (exit 1). */
static void chain_range(struct report *rp, const struct tsb_evidence *ev)
{
    char why[TSB_TOKEN_MSG_MAX] = "";
    size_t links = 0;
    if (ev->nr == 0)
        return;
    long long from = (long long)ev->range[0].seq, to = (long long)ev->range[ev->nr - 1].seq;
    rp->chain_broken = tsb_evidence_check_range(ev, &links, why, sizeof(why)) != 0;
    if (rp->json) {
        rp->chain = tsb_json_object();
        tsb_json_set_int(rp->chain, "from", from);
        tsb_json_set_int(rp->chain, "to", to);
        tsb_json_set_int(rp->chain, "links", (int64_t)links);
        if (rp->chain_broken)
            tsb_json_set_str(rp->chain, "broken", why);
        else
            tsb_json_set(rp->chain, "broken", tsb_json_null());
        return;
    }
    if (rp->chain_broken)
        printf("\nbag chain %lld..%lld: BROKEN: %s\n", from, to, why);
    else
        printf("\nbag chain %lld..%lld: %zu link%s verified\n", from, to, links,
               links == 1 ? "" : "s");
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tsbag verify [--json] [--anchors FILE] [--tsa2-anchors FILE] [--require-tsa2]\n"
            "                    [--hash HEX]... [--ref N]...\n"
            "                    [--from TIME --to TIME] [FILE...]\n"
            "       tsbag verify --package DIR [--anchors FILE] [--json] [--hash HEX]... [--ref "
            "N]... [FILE...]\n"
            "       (both also take --at TIME and --ers-anchors FILE)\n\n"
            "Proves that journal entries existed, unchanged, at the time the eHealth TSA stamped\n"
            "them, and says what any failure means. Reads the archive (store.path) read-only,\n"
            "or with --package an evidence package written by `tsbag export`, with no archive.\n\n"
            "  FILE           a prescription document, hashed exactly as at ingest (- for stdin)\n"
            "  --hash HEX     an entry's SHA-256 (64 hex or 44 base64 characters)\n"
            "  --ref N        an entry's Ref\n"
            "  --from/--to    every entry received in the period, both ends included; TIME is\n"
            "                 YYYY-MM-DD (a whole day in consult.timezone), YYYY-MM-DDTHH:MM[:SS]\n"
            "                 with Z, +HH:MM or nothing (consult.timezone), or ms since 1970\n"
            "  --package DIR  verify an evidence package (all its entries if no input is given)\n"
            "  --anchors FILE the TSA trust anchors, PEM (default tsa.trust_anchors)\n"
            "  --tsa2-anchors FILE  the second TSA's trust anchors, PEM (default\n"
            "                 tsa2.trust_anchors); without any, second tokens are not checked\n"
            "  --require-tsa2 a missing or bad second token makes the entry INVALID\n"
            "  --at TIME      verify the evidence records as of TIME (default now): what an\n"
            "                 auditor will see then; TIME as for --from\n"
            "  --ers-anchors FILE  trust anchors of the archive timestamps' TSA, PEM (default\n"
            "                 renew.trust_anchors); without any, evidence records are not checked\n"
            "  --json         machine-readable output\n\n"
            "Exit: 0 all VALID, 1 some INVALID, 3 some NOT FOUND, 4 some NOT YET STAMPED,\n"
            "2 usage or could not run. See docs/verify.md.\n");
}

int tsb_cmd_verify(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"hash", required_argument, NULL, 'H'},
        {"ref", required_argument, NULL, 'r'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"package", required_argument, NULL, 'p'},
        {"anchors", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"tsa2-anchors", required_argument, NULL, 'A'},
        {"require-tsa2", no_argument, NULL, 'R'},
        {"at", required_argument, NULL, 'W'},
        {"ers-anchors", required_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct tsb_sel sel = {0};
    struct report rp = {.zone = cli->cfg.consult.timezone, .progress = isatty(2) == 1};
    const char *package = NULL, *anchors = cli->cfg.tsa.trust_anchors;
    const char *anchors2 = cli->cfg.tsa2.trust_anchors;
    const char *ers_anchors = cli->cfg.renew.trust_anchors, *at = NULL;
    struct tsb_store *st = NULL;
    struct tsb_audit *a = NULL;
    struct tsb_evidence *ev = NULL;
    int ch, rc = TSB_EXIT_USAGE, r;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            if (tsb_sel_add_hash(&sel, "verify", optarg) != 0)
                goto out;
            break;
        case 'r':
            if (tsb_sel_add_ref(&sel, "verify", optarg) != 0)
                goto out;
            break;
        case 'f':
            sel.from = optarg;
            break;
        case 't':
            sel.to = optarg;
            break;
        case 'p':
            package = optarg;
            break;
        case 'a':
            anchors = optarg;
            break;
        case 'j':
            rp.json = true;
            break;
        case 'A':
            anchors2 = optarg;
            break;
        case 'R':
            rp.require_tsa2 = true;
            break;
        case 'W':
            at = optarg;
            break;
        case 'E':
            ers_anchors = optarg;
            break;
        case 'h':
            usage(stdout);
            rc = TSB_EXIT_OK;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    for (int i = optind; i < argc; i++)
        if ((rc = tsb_sel_add_file(&sel, cli, argv[i])) != 0)
            goto out;
    rc = TSB_EXIT_USAGE;
    if (package != NULL && (sel.from || sel.to)) {
        fprintf(stderr, "tsbag verify: --from/--to select from the archive, not a package\n");
        goto out;
    }
    if (tsb_sel_finish(&sel, cli, "verify") != 0)
        goto out;
    if (package == NULL && sel.n == 0) {
        fprintf(stderr, "tsbag verify: nothing to verify: give a FILE, --hash, --ref, --from/--to "
                        "or --package (see tsbag verify --help)\n");
        goto out;
    }
    if (tsb_time_zone(0, rp.zone, (char[TSB_TIME_STR_MAX]){0}) != 0) {
        fprintf(stderr, "tsbag verify: consult.timezone: %s\n", tsb_err_detail());
        goto out;
    }
    if (tsb_audit_new(anchors, cli->cfg.tsa.tsa_certs, cli->cfg.tsa.policy_oids, &a) != 0) {
        fprintf(stderr,
                "tsbag verify: %s\n  Give the eHealth TSA root certificate with --anchors FILE "
                "(from eHealth, not from the package being checked).\n",
                tsb_err_detail());
        goto out;
    }
    if (tsb_audit2_new(anchors2, cli->cfg.tsa2.tsa_certs, cli->cfg.tsa2.policy_oids, &rp.a2) != 0) {
        fprintf(stderr,
                "tsbag verify: %s\n  Give the second TSA's root certificate with --tsa2-anchors "
                "FILE (from that TSA, not from the package being checked).\n",
                tsb_err_detail());
        goto out;
    }
    rp.at_ms = tsb_now_ms();
    if (at != NULL && tsb_time_parse(at, rp.zone, false, &rp.at_ms) != 0) {
        fprintf(stderr,
                "tsbag verify: --at %s: %s; give YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] with Z or "
                "+HH:MM, or ms since 1970\n",
                at, tsb_err_detail());
        goto out;
    }
    if (ers_anchors != NULL && ers_anchors[0] != '\0' &&
        tsb_token_verifier_from_files(ers_anchors, cli->cfg.renew.tsa_certs,
                                      cli->cfg.renew.policy_oids, &rp.ers_tv) != 0) {
        fprintf(stderr,
                "tsbag verify: %s\n  Give the archive timestamps' TSA root certificate with "
                "--ers-anchors FILE (from that TSA, not from the package being checked).\n",
                tsb_err_detail());
        goto out;
    }
    if (at != NULL && rp.ers_tv == NULL) {
        fprintf(stderr, "tsbag verify: --at checks the evidence records, which need the archive "
                        "timestamps' trust anchors: --ers-anchors FILE or renew.trust_anchors\n");
        goto out;
    }
    if (rp.require_tsa2 && (anchors2 == NULL || anchors2[0] == '\0')) {
        fprintf(stderr, "tsbag verify: --require-tsa2 needs the second TSA's trust anchors: "
                        "--tsa2-anchors FILE or tsa2.trust_anchors\n");
        goto out;
    }
    if (package != NULL) {
        rp.package = true;
        if (tsb_evidence_read(package, &ev) != 0) {
            fprintf(stderr, "tsbag verify: not a readable evidence package: %s\n",
                    tsb_err_detail());
            goto out;
        }
    } else {
        if (tsb_cli_open_archive(cli, "verify", true, &st) != 0)
            goto out;
    }
    rp.st = st;
    rp.ev = ev;
    clock_gettime(CLOCK_MONOTONIC, &rp.start);
    if (rp.json)
        printf("{\"results\": [");
    if (ev != NULL && (r = run_package(&rp, &sel, ev, a)) == 0)
        chain_range(&rp, ev);
    else if (ev == NULL)
        r = tsb_sel_run(&sel, st, a, on_result, &rp);
    progress(&rp, true);
    /* a hash the index did not find was looked for in the table itself (store.c): say so when
     * that found it, since the archive is then damaged */
    const char *damage = st != NULL ? tsb_store_damage(st) : NULL;
    if (rp.json) {
        struct json_t *sum = tsb_json_object();
        tsb_json_set_int(sum, "valid", (int64_t)rp.counts[0]);
        tsb_json_set_int(sum, "invalid", (int64_t)rp.counts[1]);
        tsb_json_set_int(sum, "not_found", (int64_t)rp.counts[2]);
        tsb_json_set_int(sum, "not_yet_stamped", (int64_t)rp.counts[3]);
        printf("\n  ],\n \"summary\": ");
        put_json(&rp, sum);
        if (rp.chain != NULL) {
            printf(",\n \"bag_chain\": ");
            put_json(&rp, rp.chain);
            rp.chain = NULL;
        }
        if (damage != NULL) {
            printf(",\n \"archive_damage\": ");
            put_json(&rp, tsb_json_str(damage));
        }
        printf("}\n");
    } else if (rp.n > 1)
        printf("\nsummary: %zu checked: %zu VALID, %zu INVALID, %zu NOT FOUND, %zu NOT YET "
               "STAMPED\n",
               rp.n, rp.counts[0], rp.counts[1], rp.counts[2], rp.counts[3]);
    fflush(stdout);
    if (damage != NULL)
        fprintf(stderr,
                "tsbag verify: ARCHIVE DAMAGED: %s. The results above are right (read without "
                "the damaged index); tell the tsbag administrator: docs/reconcile.md, \"Archive "
                "damage\".\n",
                damage);
    if (r != 0) {
        fprintf(stderr, "tsbag verify: the archive could not be read: %s\n", tsb_err_detail());
        goto out;
    }
    if (rp.broken)
        goto out; /* the JSON document is incomplete: could not run */
    if (rp.counts[TSB_VERDICT_INVALID] || rp.chain_broken)
        rc = TSB_EXIT_FAIL;
    else if (rp.counts[TSB_VERDICT_NOT_FOUND])
        rc = EXIT_NOT_FOUND;
    else if (rp.counts[TSB_VERDICT_NOT_STAMPED])
        rc = EXIT_NOT_STAMPED;
    else
        rc = TSB_EXIT_OK;
out:
    tsb_json_free(rp.chain);
    tsb_evidence_free(ev);
    tsb_audit2_free(rp.a2);
    tsb_token_verifier_free(rp.ers_tv);
    tsb_audit_free(a);
    tsb_store_close(st);
    tsb_sel_cleanup(&sel);
    return rc;
}
