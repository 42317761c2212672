/*
 * reconcile: the period loop and the report. Everything eHealth sends is treated as hostile until
 * verified: the answer parsers cap it, a recovered bag is parsed strictly, its token is verified
 * against the bag bytes and must be the timestamp that was asked for, and only then does the
 * store see it, through functions that refuse to overwrite anything. A store failure stops the
 * run; anything eHealth does wrong becomes a line of the report.
 */
#include "reconcile.h"

#include "clock.h"
#include "codec.h"
#include "dss.h"
#include "err.h"
#include "hash.h"
#include "json.h"
#include "log.h"
#include "timefmt.h"
#include "wss.h"
#include "xml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUEST_MAX   ((size_t)64 * 1024 * 1024)
#define SIGN_RESP_MAX ((size_t)16 * 1024 * 1024)

/* ---- report ------------------------------------------------------------------------------- */

void tsb_report_init(struct tsb_report *rep)
{
    memset(rep, 0, sizeof(*rep));
}

static void list_free(struct tsb_rep_list *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

void tsb_report_cleanup(struct tsb_report *rep)
{
    if (rep == NULL)
        return;
    free(rep->days);
    list_free(&rep->recovered);
    list_free(&rep->present);
    list_free(&rep->unrecovered);
    list_free(&rep->missing_at_ehealth);
    list_free(&rep->conflicts);
    list_free(&rep->errors);
    free(rep->violations.v);
    memset(rep, 0, sizeof(*rep));
}

static struct tsb_rep_bag *list_add(struct tsb_rep_list *l, int64_t seq, const char *serial,
                                    int64_t gen_time_ms)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = tsb_realloc(l->v, l->cap * sizeof(*l->v));
    }
    struct tsb_rep_bag *b = &l->v[l->n++];
    memset(b, 0, sizeof(*b));
    b->seq = seq;
    snprintf(b->serial, sizeof(b->serial), "%.*s", (int)sizeof(b->serial) - 1,
             serial ? serial : "");
    b->gen_time_ms = gen_time_ms;
    return b;
}

static void list_addf(struct tsb_rep_list *l, int64_t seq, const char *serial, int64_t gen_time_ms,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void list_addf(struct tsb_rep_list *l, int64_t seq, const char *serial, int64_t gen_time_ms,
                      const char *fmt, ...)
{
    struct tsb_rep_bag *b = list_add(l, seq, serial, gen_time_ms);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->detail, sizeof(b->detail), fmt, ap);
    va_end(ap);
}

void tsb_report_error(struct tsb_report *rep, const char *fmt, ...)
{
    struct tsb_rep_bag *b = list_add(&rep->errors, 0, NULL, 0);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->detail, sizeof(b->detail), fmt, ap);
    va_end(ap);
}

void tsb_report_violation(void *arg, const struct tsb_violation *v)
{
    struct tsb_rep_violations *l = &((struct tsb_report *)arg)->violations;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = tsb_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = *v;
}

int tsb_report_exit_code(const struct tsb_report *rep)
{
    if (rep->local.damage > 0)
        return 3;
    if (rep->errors.n > 0)
        return 2;
    if (rep->missing_at_ehealth.n > 0 || rep->unrecovered.n > 0 || rep->conflicts.n > 0 ||
        rep->violations.n > 0)
        return 1;
    return 0;
}

const char *tsb_report_result(const struct tsb_report *rep)
{
    static const char *const names[] = {"clean", "discrepancies", "failed", "damaged"};
    return names[tsb_report_exit_code(rep)];
}

static struct json_t *json_bags(const struct tsb_rep_list *l, bool with_entries)
{
    struct json_t *a = tsb_json_array();
    for (size_t i = 0; i < l->n; i++) {
        const struct tsb_rep_bag *x = &l->v[i];
        struct json_t *o = tsb_json_object();
        tsb_json_set_int(o, "seq", x->seq);
        tsb_json_set_str(o, "serial", x->serial);
        tsb_json_set_int(o, "gen_time_ms", x->gen_time_ms);
        if (with_entries)
            tsb_json_set_int(o, "entries", x->entries);
        tsb_json_set_str(o, "detail", x->detail);
        tsb_json_append(a, o);
    }
    return a;
}

/* eHealth's Error Number is an xs:integer: a number when it fits 64 bits, else its text. */
static struct json_t *json_error_number(const char *s)
{
    char *e = NULL;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno == 0 && e != s && *e == '\0')
        return tsb_json_int(v);
    return tsb_json_str(s);
}

static void totals(const struct tsb_report *rep, int64_t *local, int64_t *remote_missing)
{
    *local = *remote_missing = 0;
    for (size_t i = 0; i < rep->n_days; i++) {
        *local += rep->days[i].local;
        *remote_missing += rep->days[i].remote_missing;
    }
}

int tsb_report_json(const struct tsb_report *rep, struct tsb_buf *b)
{
    int64_t local, remote_missing;
    struct json_t *o = tsb_json_object(), *days = tsb_json_array(), *x;
    totals(rep, &local, &remote_missing);
    tsb_json_set_str(o, "result", tsb_report_result(rep));
    tsb_json_set_int(o, "exit_code", tsb_report_exit_code(rep));
    tsb_json_set_str(o, "mode", rep->local_only ? "local-only" : "consult");
    tsb_json_set_int(o, "started_ms", rep->started_ms);
    tsb_json_set_int(o, "finished_ms", rep->finished_ms);
    if (rep->local_only) {
        tsb_json_set(o, "period", tsb_json_null());
    } else {
        x = tsb_json_object();
        tsb_json_set_int(x, "from_ms", rep->from_ms);
        tsb_json_set_int(x, "to_ms", rep->to_ms);
        tsb_json_set_str(x, "timezone", rep->timezone);
        tsb_json_set_int(x, "done_to_ms", rep->done_to_ms);
        tsb_json_set(o, "period", x);
    }
    x = tsb_json_object();
    tsb_json_set_int(x, "check_completeness", rep->check_calls);
    tsb_json_set_int(x, "get_timestamp", rep->get_calls);
    tsb_json_set(o, "calls", x);
    tsb_json_set_int(o, "bags_local", local);
    tsb_json_set_int(o, "bags_remote_missing", remote_missing);
    for (size_t i = 0; i < rep->n_days; i++) {
        const struct tsb_rep_day *d = &rep->days[i];
        struct json_t *day = tsb_json_object();
        tsb_json_set_int(day, "from_ms", d->from_ms);
        tsb_json_set_int(day, "to_ms", d->to_ms);
        tsb_json_set_str(day, "status", d->status);
        tsb_json_set_str(day, "resolved_status", d->resolved);
        tsb_json_set_int(day, "local", d->local);
        tsb_json_set_int(day, "remote_missing", d->remote_missing);
        tsb_json_set_bool(day, "completed", d->completed);
        if (d->error.present) {
            x = tsb_json_object();
            tsb_json_set_str(x, "type", d->error.type);
            tsb_json_set(x, "number", json_error_number(d->error.number));
            tsb_json_set(day, "error", x);
        } else {
            tsb_json_set(day, "error", tsb_json_null());
        }
        tsb_json_append(days, day);
    }
    tsb_json_set(o, "days", days);
    tsb_json_set(o, "recovered", json_bags(&rep->recovered, true));
    tsb_json_set(o, "already_present", json_bags(&rep->present, false));
    tsb_json_set(o, "unrecovered", json_bags(&rep->unrecovered, false));
    tsb_json_set(o, "missing_at_ehealth", json_bags(&rep->missing_at_ehealth, false));
    tsb_json_set(o, "conflicts", json_bags(&rep->conflicts, false));
    x = tsb_json_array();
    for (size_t i = 0; i < rep->errors.n; i++)
        tsb_json_append(x, tsb_json_str(rep->errors.v[i].detail));
    tsb_json_set(o, "errors", x);
    x = tsb_json_object();
    tsb_json_set_bool(x, "ran", rep->local_checked);
    tsb_json_set_int(x, "bags", rep->local.bags);
    tsb_json_set_int(x, "stamped", rep->local.stamped);
    tsb_json_set_int(x, "recovered", rep->local.recovered);
    tsb_json_set_int(x, "unstamped", rep->local.unstamped);
    tsb_json_set_int(x, "entries", rep->local.entries);
    tsb_json_set_int(x, "contents", rep->local.contents);
    tsb_json_set_int(x, "violations", (int64_t)rep->violations.n);
    tsb_json_set_int(x, "damage", rep->local.damage);
    tsb_json_set_int(x, "chain_links", rep->local.links);
    tsb_json_set_int(x, "chain_genesis", rep->local.genesis);
    tsb_json_set_int(x, "chain_unlinked", rep->local.unlinked);
    tsb_json_set_int(x, "evidence_records", rep->local.evidence);
    tsb_json_set(o, "local_check", x);
    x = tsb_json_array();
    for (size_t i = 0; i < rep->violations.n; i++) {
        const struct tsb_violation *v = &rep->violations.v[i];
        struct json_t *vo = tsb_json_object();
        tsb_json_set_str(vo, "kind", tsb_violation_kind_name(v->kind));
        tsb_json_set_int(vo, "seq", v->seq);
        tsb_json_set_int(vo, "ref", v->ref);
        tsb_json_set_str(vo, "message", v->message);
        tsb_json_append(x, vo);
    }
    tsb_json_set(o, "violations", x);
    int r = tsb_json_dump(o, b);
    tsb_json_free(o);
    return r;
}

int tsb_report_record(struct tsb_store *s, const struct tsb_report *rep, int64_t *run_id)
{
    struct tsb_buf json;
    int64_t local, remote_missing;
    tsb_buf_init(&json, (size_t)256 * 1024 * 1024);
    int r = tsb_report_json(rep, &json);
    totals(rep, &local, &remote_missing);
    struct tsb_run_rec run = {.started_ms = rep->started_ms,
                              .finished_ms = rep->finished_ms,
                              .local_only = rep->local_only,
                              .period_from_ms = rep->from_ms,
                              .period_to_ms = rep->to_ms,
                              .done_to_ms = rep->done_to_ms,
                              .result = tsb_report_result(rep),
                              .exit_code = tsb_report_exit_code(rep),
                              .bags_local = local,
                              .bags_remote_missing = remote_missing,
                              .recovered = (int64_t)rep->recovered.n,
                              .missing_at_ehealth = (int64_t)rep->missing_at_ehealth.n,
                              .conflicts = (int64_t)rep->conflicts.n,
                              .errors = (int64_t)rep->errors.n,
                              .violations = (int64_t)rep->violations.n,
                              .report = json.p ? (const char *)json.p : "{}"};
    if (r == 0)
        r = tsb_store_run_add(s, &run, run_id);
    tsb_buf_cleanup(&json);
    return r;
}

/* ---- talking to TimeStampConsult ----------------------------------------------------------- */

/* Signs doc, sends it, and appends the answer to resp. */
static int call(const struct tsb_reconcile_opts *o, xmlDocPtr doc, struct tsb_buf *resp)
{
    struct tsb_buf req;
    struct tsb_wss_opts wo = {.now_ms = tsb_now_ms(), .ttl_s = o->wss_ttl_s};
    tsb_buf_init(&req, REQUEST_MAX);
    int r = tsb_wss_sign(doc, o->keystore, &wo);
    if (r == 0)
        r = tsb_xml_serialise(doc, &req);
    if (r == 0)
        r = o->post(o->post_arg, req.p, req.len, resp);
    tsb_buf_cleanup(&req);
    return r;
}

static size_t resp_max(const struct tsb_reconcile_opts *o)
{
    return o->limits.max_response ? o->limits.max_response : (size_t)256 * 1024 * 1024;
}

/* checkCompleteness for [from, to] listing ids[n]; a is initialised here. */
static int check_once(const struct tsb_reconcile_opts *o, struct tsb_report *rep, int64_t from,
                      int64_t to, const struct tsb_tsid *ids, size_t n,
                      struct tsb_consult_answer *a)
{
    xmlDocPtr doc = NULL;
    struct tsb_buf resp;
    tsb_buf_init(&resp, resp_max(o));
    tsb_consult_answer_init(a);
    int r = tsb_consult_build_check(o->ns, o->id_hospital, from, to, ids, n, &doc);
    if (r == 0) {
        rep->check_calls++;
        r = call(o, doc, &resp);
    }
    if (r == 0)
        r = tsb_consult_parse_check(resp.p, resp.len, o->ns, &o->limits, a);
    xmlFreeDoc(doc);
    tsb_buf_cleanup(&resp);
    return r;
}

int tsb_reconcile_probe(const struct tsb_reconcile_opts *o, int64_t from_ms, int64_t to_ms,
                        struct tsb_consult_answer *a)
{
    struct tsb_report scratch;
    tsb_report_init(&scratch);
    int r = check_once(o, &scratch, from_ms, to_ms, NULL, 0, a);
    tsb_report_cleanup(&scratch);
    return r;
}

static bool same_id(const struct tsb_tsid *a, const struct tsb_tsid *b)
{
    return a->date_ms == b->date_ms && strcmp(a->serial, b->serial) == 0;
}

struct local_list {
    struct tsb_tsid *ids;
    int64_t *seqs;
    size_t n, cap;
};

static int on_local_bag(void *arg, const struct tsb_bag_rec *b)
{
    struct local_list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ids = tsb_realloc(l->ids, l->cap * sizeof(*l->ids));
        l->seqs = tsb_realloc(l->seqs, l->cap * sizeof(*l->seqs));
    }
    int r = tsb_tsid_set(&l->ids[l->n], b->tsa_serial, b->gen_time_ms);
    if (r != 0)
        return tsb_err(TSB_ESTORE,
                       "bag %" PRId64 " has TSA serial \"%.48s\", which TSConsult "
                       "cannot carry",
                       b->seq, b->tsa_serial ? b->tsa_serial : "");
    l->seqs[l->n++] = b->seq;
    return 0;
}

static void describe_answer_failure(const struct tsb_consult_answer *a, int r, char *out, size_t n)
{
    if (r != 0)
        snprintf(out, n, "%s: %s", tsb_strerror(r), tsb_err_detail());
    else if (a->fault)
        snprintf(out, n, "SOAP fault %s: %s", a->fault_code, a->fault_string);
    else if (a->error.present)
        snprintf(out, n, "Status %s, Error Type \"%s\" Number %s",
                 tsb_consult_status_name(a->status), a->error.type, a->error.number);
    else
        snprintf(out, n, "Status %s", tsb_consult_status_name(a->status));
}

/* ---- recovery ----------------------------------------------------------------------------- */

/* Verifies one returned TSBag and imports it. matched[] marks which requested ids it answered.
 * Returns a store error only; everything else becomes a report line. */
/* A recovered bag must fit the archive's chain (sealer.chain): its link must name the bytes of the
 * local bag before it, and the local bag after it, if chained, must be chained to it. Returns 1
 * with why set when it does not fit, 0 when it does (or nothing around it can tell), or the
 * store's error. A neighbour that is missing too says nothing: bags may come back in any order. */
static int chain_fit(struct tsb_store *s, const struct tsb_bag *bag, const uint8_t digest[32],
                     char *why, size_t len)
{
    struct tsb_bag_rec nb;
    struct tsb_bag *next = NULL;
    uint8_t d[TSB_SHA256_LEN];
    char msg[400];
    int r = TSB_EINTERNAL;

    memset(&nb, 0, sizeof(nb));
    if (bag->linked && bag->seq > 1) {
        if ((r = tsb_store_bag_get(s, bag->seq - 1, &nb)) != 0 && r != TSB_ENOTFOUND)
            return r;
        if (r == 0) {
            tsb_sha256(nb.bytes, nb.bytes_len, d);
            tsb_bag_rec_cleanup(&nb);
            if (tsb_link_judge(bag, d, 0) == TSB_LINK_BROKEN) {
                tsb_link_describe(TSB_LINK_BROKEN, bag->seq, bag, d, msg, sizeof(msg));
                snprintf(why, len,
                         "bag %" PRId64 " from eHealth does not fit the archive's chain: %s",
                         bag->seq, msg);
                return 1;
            }
        }
    }
    if ((r = tsb_store_bag_get(s, bag->seq + 1, &nb)) != 0)
        return r == TSB_ENOTFOUND ? 0 : r;
    r = 0;
    if (tsb_bag_parse(nb.bytes, nb.bytes_len, NULL, &next) == 0 &&
        tsb_link_judge(next, digest, 0) == TSB_LINK_BROKEN) {
        tsb_link_describe(TSB_LINK_BROKEN, bag->seq + 1, next, digest, msg, sizeof(msg));
        snprintf(why, len, "bag %" PRId64 " from eHealth does not fit the archive's chain: %s",
                 bag->seq, msg);
        r = 1;
    }
    tsb_bag_free(next);
    tsb_bag_rec_cleanup(&nb);
    return r;
}

static int import_one(const struct tsb_reconcile_opts *o, struct tsb_report *rep,
                      const struct tsb_buf *bag_bytes, const struct tsb_buf *sign_response,
                      const struct tsb_tsid *ids, size_t n, bool *matched)
{
    int r = TSB_EINTERNAL;
    struct tsb_dss_response dr;
    struct tsb_bag *bag = NULL;
    struct tsb_token_result res;
    struct tsb_token_verify_opts vo = {.check_skew = false};
    struct tsb_bag_rec local;
    uint8_t digest[TSB_SHA256_LEN];
    char why[512];
    bool have_local = false;

    tsb_dss_response_init(&dr);
    memset(&res, 0, sizeof(res));
    memset(&local, 0, sizeof(local));
    r = tsb_dss_parse_sign_response(sign_response->p, sign_response->len, SIGN_RESP_MAX, NULL, &dr);
    if (r == 0 && dr.kind != TSB_DSS_OK) {
        tsb_dss_response_reason(&dr, why, sizeof(why));
        list_addf(&rep->unrecovered, 0, NULL, 0,
                  "eHealth returned a bag whose SignResponse is not a success: %s", why);
        r = 0;
        goto out;
    }
    if (r != 0) {
        list_addf(&rep->unrecovered, 0, NULL, 0,
                  "eHealth returned a bag whose SignResponse is unusable: %s", tsb_err_detail());
        r = 0;
        goto out;
    }
    tsb_sha256(bag_bytes->p, bag_bytes->len, digest);
    vo.data = bag_bytes->p;
    vo.data_len = bag_bytes->len;
    r = tsb_token_verify(o->verifier, dr.token.p, dr.token.len, digest, &vo, &res);
    if (r != 0) {
        list_addf(&rep->unrecovered, 0, res.serial, res.gen_time_ms,
                  "the token eHealth returned does not verify for the returned bag: %s",
                  r == TSB_ETOKEN ? tsb_token_result_reason(&res) : tsb_err_detail());
        r = 0;
        goto out;
    }
    struct tsb_tsid got;
    size_t k = n;
    if (tsb_tsid_set(&got, res.serial, res.gen_time_ms) == 0)
        for (k = 0; k < n; k++)
            if (!matched[k] && same_id(&ids[k], &got))
                break;
    if (k == n) {
        list_addf(&rep->unrecovered, 0, res.serial, res.gen_time_ms,
                  "eHealth returned a timestamp that was not asked for");
        r = 0;
        goto out;
    }
    matched[k] = true;
    r = tsb_bag_parse(bag_bytes->p, bag_bytes->len, NULL, &bag);
    if (r != 0) {
        list_addf(&rep->unrecovered, 0, res.serial, res.gen_time_ms,
                  "TSBagValue is not a well-formed bag: %s", tsb_err_detail());
        r = 0;
        goto out;
    }
    if (bag->seq < 1) {
        list_addf(&rep->unrecovered, 0, res.serial, res.gen_time_ms,
                  "the bag eHealth returned has SequenceNumber %" PRId64, bag->seq);
        r = 0;
        goto out;
    }
    if (bag->seq < o->first_seq) {
        /* importing it would also move the next local SequenceNumber off first_seq */
        list_addf(&rep->present, bag->seq, res.serial, res.gen_time_ms,
                  "bag %" PRId64 " precedes sealer.first_sequence (%" PRId64 "): stamped by the "
                  "previous client under this IDHospital, not imported",
                  bag->seq, o->first_seq);
        r = 0;
        goto out;
    }
    r = tsb_store_bag_get(o->store, bag->seq, &local);
    if (r != 0 && r != TSB_ENOTFOUND)
        goto out;
    have_local = r == 0;
    struct tsb_conflict c = {.seq = bag->seq,
                             .tsa_serial = res.serial,
                             .gen_time_ms = res.gen_time_ms,
                             .remote_digest = digest,
                             .remote_bytes = bag_bytes->p,
                             .remote_bytes_len = bag_bytes->len,
                             .remote_token = dr.token.p,
                             .remote_token_len = dr.token.len,
                             .remote_sign_response = sign_response->p,
                             .remote_sign_response_len = sign_response->len};
    if (have_local) {
        if (local.bytes_len == bag_bytes->len &&
            memcmp(local.bytes, bag_bytes->p, bag_bytes->len) == 0) {
            list_addf(&rep->present, bag->seq, res.serial, res.gen_time_ms,
                      "bag %" PRId64 " is already in the archive with the same bytes (%s)",
                      bag->seq, tsb_bag_state_name(local.state));
            r = 0;
            goto out;
        }
        snprintf(why, sizeof(why),
                 "SequenceNumber %" PRId64 " exists locally (%s) with other bytes than the bag "
                 "eHealth stamped as serial %s",
                 bag->seq, tsb_bag_state_name(local.state), res.serial);
        c.kind = "bag";
        c.detail = why;
        c.local_digest = local.digest;
        if ((r = tsb_store_conflict_add(o->store, &c, tsb_now_ms(), NULL)) != 0)
            goto out;
        list_addf(&rep->conflicts, bag->seq, res.serial, res.gen_time_ms, "%s", why);
        goto out;
    }
    if ((r = chain_fit(o->store, bag, digest, why, sizeof(why))) < 0)
        goto out;
    if (r == 1) {
        c.kind = "bag";
        c.detail = why;
        if ((r = tsb_store_conflict_add(o->store, &c, tsb_now_ms(), NULL)) != 0)
            goto out;
        list_addf(&rep->conflicts, bag->seq, res.serial, res.gen_time_ms, "%s", why);
        goto out;
    }
    tsb_err_clear();
    struct tsb_recovered_bag rb = {.seq = bag->seq,
                                   .bytes = bag_bytes->p,
                                   .bytes_len = bag_bytes->len,
                                   .entries = bag->entries,
                                   .n = bag->n,
                                   .token = dr.token.p,
                                   .token_len = dr.token.len,
                                   .sign_response = sign_response->p,
                                   .sign_response_len = sign_response->len,
                                   .tsa_serial = res.serial,
                                   .gen_time_ms = res.gen_time_ms};
    r = tsb_store_bag_insert_recovered(o->store, &rb, tsb_now_ms());
    if (r == TSB_ECONFLICT) {
        snprintf(why, sizeof(why), "bag %" PRId64 " from eHealth contradicts the archive: %s",
                 bag->seq, tsb_err_detail());
        c.kind = "entry";
        c.detail = why;
        if ((r = tsb_store_conflict_add(o->store, &c, tsb_now_ms(), NULL)) != 0)
            goto out;
        list_addf(&rep->conflicts, bag->seq, res.serial, res.gen_time_ms, "%s", why);
        goto out;
    }
    if (r != 0)
        goto out;
    struct tsb_rep_bag *x = list_add(&rep->recovered, bag->seq, res.serial, res.gen_time_ms);
    x->entries = (int64_t)bag->n;
    char gt[TSB_TIME_STR_MAX];
    tsb_time_utc(res.gen_time_ms, gt);
    tsb_warn("event=recovered seq=%" PRId64 " entries=%zu serial=%s gen_time=%s", bag->seq, bag->n,
             res.serial, gt);
    snprintf(x->detail, sizeof(x->detail), "recovered from eHealth and verified");
out:
    tsb_bag_rec_cleanup(&local);
    tsb_bag_free(bag);
    tsb_dss_response_cleanup(&dr);
    return r;
}

static int recover(const struct tsb_reconcile_opts *o, struct tsb_report *rep,
                   const struct tsb_tsid *ids, size_t n)
{
    int r = 0;
    for (size_t i = 0; i < n; i += TSB_CONSULT_GET_MAX) {
        size_t batch = n - i < TSB_CONSULT_GET_MAX ? n - i : TSB_CONSULT_GET_MAX;
        bool matched[TSB_CONSULT_GET_MAX] = {false};
        struct tsb_consult_answer a;
        struct tsb_buf resp;
        xmlDocPtr doc = NULL;
        char why[600];

        if (o->on_progress)
            o->on_progress(o->progress_arg, "recovering", (int64_t)i, (int64_t)n);
        tsb_consult_answer_init(&a);
        tsb_buf_init(&resp, resp_max(o));
        r = tsb_consult_build_get(o->ns, o->id_hospital, ids + i, batch, &doc);
        if (r == 0) {
            rep->get_calls++;
            r = call(o, doc, &resp);
        }
        if (r == 0)
            r = tsb_consult_parse_get(resp.p, resp.len, o->ns, &o->limits, &a);
        xmlFreeDoc(doc);
        tsb_buf_cleanup(&resp);
        if (r != 0 || a.fault) {
            describe_answer_failure(&a, r, why, sizeof(why));
            for (size_t k = 0; k < batch; k++)
                tsb_report_error(rep, "getTimestamp for serial %s genTime %" PRId64 " failed: %s",
                                 ids[i + k].serial, ids[i + k].date_ms, why);
            tsb_consult_answer_cleanup(&a);
            r = 0;
            continue;
        }
        for (size_t j = 0; j < a.n_bags && r == 0; j++)
            r = import_one(o, rep, &a.bags[j].bag, &a.bags[j].sign_response, ids + i, batch,
                           matched);
        if (a.error.present)
            snprintf(why, sizeof(why), "eHealth answered Error Type \"%s\" Number %s", a.error.type,
                     a.error.number);
        else
            snprintf(why, sizeof(why), "eHealth did not return it (or returned it unusable)");
        for (size_t k = 0; k < batch && r == 0; k++)
            if (!matched[k]) {
                if (a.error.present)
                    tsb_report_error(rep, "getTimestamp for serial %s genTime %" PRId64 ": %s",
                                     ids[i + k].serial, ids[i + k].date_ms, why);
                else
                    list_addf(&rep->unrecovered, 0, ids[i + k].serial, ids[i + k].date_ms, "%s",
                              why);
            }
        tsb_consult_answer_cleanup(&a);
        if (r != 0)
            return r;
    }
    if (o->on_progress && n > 0)
        o->on_progress(o->progress_arg, "recovering", (int64_t)n, (int64_t)n);
    return r;
}

/* ---- one period --------------------------------------------------------------------------- */

static struct tsb_rep_day *add_day(struct tsb_report *rep, int64_t from, int64_t to)
{
    if (rep->n_days == rep->cap_days) {
        rep->cap_days = rep->cap_days ? rep->cap_days * 2 : 8;
        rep->days = tsb_realloc(rep->days, rep->cap_days * sizeof(*rep->days));
    }
    struct tsb_rep_day *d = &rep->days[rep->n_days++];
    memset(d, 0, sizeof(*d));
    d->from_ms = from;
    d->to_ms = to;
    return d;
}

/* Status ERROR: learns what eHealth holds for the period (empty TSList) and names the local bags
 * it does not know. On success *a is the answer of the check repeated without them. */
static int resolve_error(const struct tsb_reconcile_opts *o, struct tsb_report *rep, int64_t from,
                         int64_t to, const struct local_list *l, struct tsb_consult_answer *a)
{
    int r = TSB_EINTERNAL;
    struct tsb_consult_answer all;
    struct tsb_tsid *known = NULL;
    size_t n_known = 0, n_unknown = 0;
    char why[600];

    r = check_once(o, rep, from, to, NULL, 0, &all);
    if (r != 0 || all.fault || all.status == TSB_CONSULT_ERROR) {
        describe_answer_failure(&all, r, why, sizeof(why));
        tsb_report_error(rep,
                         "checkCompleteness [%" PRId64 ", %" PRId64 "] answered Status ERROR, "
                         "Error Type \"%s\" Number %s; asking for eHealth's whole list: %s",
                         from, to, a->error.type, a->error.number, why);
        r = TSB_EPROTO;
        goto out;
    }
    known = tsb_calloc(l->n + 1, sizeof(*known));
    for (size_t i = 0; i < l->n; i++) {
        bool found = false;
        for (size_t k = 0; k < all.n_ids && !found; k++)
            found = same_id(&l->ids[i], &all.ids[k]);
        if (found) {
            known[n_known++] = l->ids[i];
        } else {
            n_unknown++;
            list_addf(&rep->missing_at_ehealth, l->seqs[i], l->ids[i].serial, l->ids[i].date_ms,
                      "bag %" PRId64 " (serial %s, genTime %" PRId64 ") is stamped locally but "
                      "eHealth does not know its timestamp",
                      l->seqs[i], l->ids[i].serial, l->ids[i].date_ms);
        }
    }
    if (n_unknown == 0) {
        tsb_report_error(rep,
                         "checkCompleteness [%" PRId64 ", %" PRId64 "] answered Status ERROR, "
                         "Error Type \"%s\" Number %s, although eHealth knows every listed "
                         "timestamp",
                         from, to, a->error.type, a->error.number);
        r = TSB_EPROTO;
        goto out;
    }
    struct tsb_consult_answer again;
    r = check_once(o, rep, from, to, known, n_known, &again);
    if (r != 0 || again.fault || again.status == TSB_CONSULT_ERROR) {
        describe_answer_failure(&again, r, why, sizeof(why));
        tsb_report_error(rep,
                         "checkCompleteness [%" PRId64 ", %" PRId64 "] without the %zu timestamps "
                         "eHealth does not know: %s",
                         from, to, n_unknown, why);
        tsb_consult_answer_cleanup(&again);
        r = TSB_EPROTO;
        goto out;
    }
    tsb_consult_answer_cleanup(a);
    *a = again;
    r = 0;
out:
    free(known);
    tsb_consult_answer_cleanup(&all);
    return r;
}

int tsb_reconcile_period(const struct tsb_reconcile_opts *o, int64_t from_ms, int64_t to_ms,
                         struct tsb_report *rep)
{
    int r = TSB_EINTERNAL;
    struct local_list l = {0};
    struct tsb_consult_answer a;
    char why[600];
    size_t errors_before = rep->errors.n;

    tsb_consult_answer_init(&a);
    struct tsb_rep_day *day = add_day(rep, from_ms, to_ms);
    if ((r = tsb_store_bags_by_gen_time(o->store, from_ms, to_ms, on_local_bag, &l)) != 0) {
        tsb_report_error(rep, "reading the archive's timestamps for [%" PRId64 ", %" PRId64 "]: %s",
                         from_ms, to_ms, tsb_err_detail());
        goto out;
    }
    day->local = (int64_t)l.n;
    tsb_consult_answer_cleanup(&a);
    r = check_once(o, rep, from_ms, to_ms, l.ids, l.n, &a);
    if (r != 0 || a.fault) {
        describe_answer_failure(&a, r, why, sizeof(why));
        tsb_report_error(rep, "checkCompleteness [%" PRId64 ", %" PRId64 "]: %s", from_ms, to_ms,
                         why);
        r = r ? r : TSB_EPROTO;
        goto out;
    }
    snprintf(day->status, sizeof(day->status), "%s", tsb_consult_status_name(a.status));
    day->error = a.error;
    if (a.status == TSB_CONSULT_ERROR) {
        if ((r = resolve_error(o, rep, from_ms, to_ms, &l, &a)) != 0)
            goto out;
        snprintf(day->resolved, sizeof(day->resolved), "%s", tsb_consult_status_name(a.status));
    }
    if (a.status == TSB_CONSULT_INCOMPLETE) {
        day->remote_missing = (int64_t)a.n_ids;
        if ((r = recover(o, rep, a.ids, a.n_ids)) != 0) {
            tsb_report_error(rep, "recording recovered bags: %s", tsb_err_detail());
            goto out;
        }
    }
    /* the day counts as done only if nothing in it failed to run */
    day->completed = rep->errors.n == errors_before;
    if (day->completed && to_ms > rep->done_to_ms)
        rep->done_to_ms = to_ms;
    r = 0;
out:
    free(l.ids);
    free(l.seqs);
    tsb_consult_answer_cleanup(&a);
    return r;
}
