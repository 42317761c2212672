/*
 * sender: one bag in flight, driven by a small state machine on the loop thread:
 *
 *   IDLE -kick-> LOAD (writer job: lowest unstamped bag) -> BUILD (thread pool: DSS envelope,
 *   WS-Security signature) -> MARK (writer job: mark_sent committed) [-> CAPTURE (thread pool:
 *   the request into tsa.capture_dir)] -> POST (curl on the loop) -> CHECK (thread pool: parse,
 *   verify the token, capture the answer) -> RECORD (writer job: stamp or failure)
 *   -> LOAD (next bag) | WAIT (backoff timer) -> LOAD | HELD (definitive failure) -RETRY-> LOAD
 *
 * CPU-heavy steps (signing a 16 MB envelope, verifying) run in libuv's thread pool so ingest keeps
 * acknowledging; archive access goes through the writer's FIFO so it is ordered with ingest. The
 * attempt struct is touched by one thread at a time: whoever runs the current step. Each step's
 * outcome travels with the step (the writer job's tsb_result, the pool item's), read on the loop
 * thread only after the hand-off: the alarm's statistics job, which runs beside the bag's jobs on
 * its own timer, has its own result too.
 *
 * Held is the archive's `failed` state: a bag is held from the definitive failure until an
 * operator's RETRY (tsbag retry) sends it again, across restarts; later bags wait behind it.
 */
#include "sender.h"
#include "sender_policy.h"

#include "backoff.h"
#include "capture.h"
#include "clock.h"
#include "codec.h"
#include "dss.h"
#include "err.h"
#include "fetch.h"
#include "finding.h"
#include "keystore.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "store.h"
#include "timefmt.h"
#include "token.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum state { S_IDLE, S_LOAD, S_BUILD, S_MARK, S_POST, S_CHECK, S_RECORD, S_WAIT, S_HELD };

struct attempt {
    struct tsb_bag_rec bag;
    bool have_bag;
    char request_id[TSB_DSS_REQUEST_ID_MAX];
    struct tsb_buf msg; /* the signed request */
    enum tsb_fetch_class cls;
    long http_status;
    char content_type[256];
    uint64_t post_ns; /* uv_hrtime when the request left: the TSA latency */
    char fetch_err[512];
    struct tsb_buf resp;
    bool ok, hold;
    enum tsb_dss_class kind; /* of the failure */
    char key[192];           /* what failed, for "the same failure twice" (no varying values) */
    char finding[TSB_FINDING_KEY_MAX]; /* bag_attempts.finding, "" when nothing unusual */
    char reason[1024];
    char seed_key[192]; /* load: the key of the bag's last retried answer, from the archive */
    char serial[80];
    int64_t gen_time_ms;
    struct tsb_buf token;
    struct tsb_buf sign_response; /* the dss:SignResponse alone, as archived */
};

/* One thread-pool step (BUILD, CAPTURE, CHECK; one at a time): its result is written by the work
 * function and read by the after callback, past libuv's hand-off. */
struct pool_item {
    uv_work_t req;
    struct tsb_result res;
};

struct tsb_sender {
    uv_loop_t *loop;
    const struct tsb_config *cfg;
    struct tsb_writer *w;
    struct tsb_keystore *ks;      /* read by BUILD, and */
    struct tsb_token_verifier *v; /* by CHECK on the thread pool: replaced only in go_load */
    struct tsb_keystore *next_ks; /* loaded by a reload (loop thread), taken by the next attempt */
    struct tsb_token_verifier *next_v;
    struct tsb_fetch *fetch;
    enum state st;
    bool kicked;
    bool fresh_start; /* logs the resumption of an unfinished bag */
    bool release;     /* the operator released the held bag: the next load sends it */
    int streak;       /* consecutive failed attempts: drives the backoff */
    int64_t prev_seq; /* the bag and key of the previous failed attempt (loop thread) */
    char prev_key[192];
    struct attempt a;
    struct pool_item work;
    uv_timer_t retry_timer, alarm_timer;
    /* alarm */
    bool alarm, stats_busy;
    int64_t alarm_logged_ms;
    struct tsb_store_stats stats; /* written by stats_job on the writer thread */
    int64_t oldest_unstamped_ms;  /* copied from stats on the loop thread: fail-closed mode */
    /* lifetime */
    int pending; /* writer jobs and pool work in flight */
    int open_handles;
    bool fetch_open, stopping;
    void (*stopped)(void *);
    void *stopped_arg;
};

/* ---- lifetime ------------------------------------------------------------------------------ */

static void maybe_free(struct tsb_sender *s)
{
    if (!s->stopping || s->pending > 0 || s->open_handles > 0 || s->fetch_open)
        return;
    void (*stopped)(void *) = s->stopped;
    void *arg = s->stopped_arg;
    tsb_bag_rec_cleanup(&s->a.bag);
    tsb_buf_cleanup(&s->a.msg);
    tsb_buf_cleanup(&s->a.resp);
    tsb_buf_cleanup(&s->a.token);
    tsb_buf_cleanup(&s->a.sign_response);
    tsb_keystore_free(s->ks);
    tsb_token_verifier_free(s->v);
    tsb_keystore_free(s->next_ks);
    tsb_token_verifier_free(s->next_v);
    free(s);
    if (stopped)
        stopped(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct tsb_sender *s = h->data;
    s->open_handles--;
    maybe_free(s);
}

static void on_fetch_closed(void *arg)
{
    struct tsb_sender *s = arg;
    s->fetch_open = false;
    maybe_free(s);
}

/* Every completion starts with this: false means "stopping, do nothing more". */
static bool completion(struct tsb_sender *s)
{
    s->pending--;
    if (s->stopping) {
        maybe_free(s);
        return false;
    }
    return true;
}

/* A writer job of this sender; done gets the job's own result (code and detail). */
static int job(struct tsb_sender *s, tsb_writer_job_fn fn, tsb_writer_result_fn done)
{
    int r = tsb_writer_submit(s->w, fn, done, s);
    if (r == 0)
        s->pending++;
    return r;
}

/* A thread-pool step; after reads the step's result in s->work.res. */
static void pool(struct tsb_sender *s, uv_work_cb work, uv_after_work_cb after)
{
    s->work.req.data = s;
    s->work.res = (struct tsb_result){0};
    s->pending++;
    uv_queue_work(s->loop, &s->work.req, work, after);
}

static void go_load(struct tsb_sender *s);
static void refresh_stats(struct tsb_sender *s);

/* ---- backoff ------------------------------------------------------------------------------- */

static void on_retry(uv_timer_t *t)
{
    go_load(t->data);
}

static int64_t backoff_ms(const struct tsb_sender *s)
{
    return tsb_backoff_ms(s->cfg->tsa.retry_min_ms, s->cfg->tsa.retry_max_ms, s->streak);
}

/* why: what failed (TSA answer, transport or archive), never bag content. */
static void schedule_retry(struct tsb_sender *s, const char *why)
{
    char q[1100];
    s->st = S_WAIT;
    int64_t d = backoff_ms(s);
    tsb_info("sender: next attempt in %" PRId64 " ms", d);
    /* seq=0 attempt=0 when no bag could be read from the archive */
    bool bag = s->a.have_bag;
    tsb_warn("event=retry seq=%" PRId64 " attempt=%" PRId64 " retry_in_ms=%" PRId64 " reason=%s",
             bag ? s->a.bag.seq : 0, bag ? s->a.bag.attempts + 1 : 0, d,
             tsb_log_quote(why, q, sizeof(q)));
    uv_timer_start(&s->retry_timer, on_retry, (uint64_t)d, 0);
}

/* ---- RECORD -------------------------------------------------------------------------------- */

static int record_job(struct tsb_store *store, void *arg)
{
    struct tsb_sender *s = arg;
    struct attempt *a = &s->a;
    if (a->ok) {
        struct tsb_stamp st = {.sign_response = a->sign_response.p,
                               .sign_response_len = a->sign_response.len,
                               .token = a->token.p,
                               .token_len = a->token.len,
                               .tsa_serial = a->serial,
                               .gen_time_ms = a->gen_time_ms,
                               .finding = a->finding[0] ? a->finding : NULL};
        return tsb_store_bag_record_stamp(store, a->bag.seq, &st, tsb_now_ms());
    }
    return tsb_store_bag_record_failure_finding(store, a->bag.seq, a->reason,
                                                a->finding[0] ? a->finding : NULL, a->key, a->hold,
                                                tsb_now_ms());
}

/* attempt: the last one made (the one that held the bag, or the last before a restart). */
static void log_held(const struct attempt *a, int64_t attempt, const char *why)
{
    char q[1100];
    tsb_error("event=held seq=%" PRId64 " entries=%" PRId64 " bytes=%zu attempt=%" PRId64
              " reason=%s",
              a->bag.seq, a->bag.entry_count, a->bag.bytes_len, attempt,
              tsb_log_quote(why, q, sizeof(q)));
}

static void record_done(void *arg, const struct tsb_result *res)
{
    struct tsb_sender *s = arg;
    struct attempt *a = &s->a;
    if (!completion(s))
        return;
    if (res->code != 0) {
        tsb_error("sender: cannot record the outcome of bag %" PRId64 ": %s: %s", a->bag.seq,
                  tsb_strerror(res->code), res->msg);
        s->streak++;
        schedule_retry(s, res->msg);
        return;
    }
    if (a->ok) {
        char gt[TSB_TIME_STR_MAX];
        tsb_time_utc(a->gen_time_ms, gt);
        tsb_info("sender: bag %" PRId64 " stamped and verified (TSA serial %s, genTime %s, "
                 "attempt %" PRId64 ")",
                 a->bag.seq, a->serial, gt, a->bag.attempts + 1);
        tsb_info("event=stamped seq=%" PRId64 " entries=%" PRId64 " bytes=%zu attempt=%" PRId64
                 " serial=%s gen_time=%s latency_ms=%" PRIu64,
                 a->bag.seq, a->bag.entry_count, a->bag.bytes_len, a->bag.attempts + 1, a->serial,
                 gt, (uv_hrtime() - a->post_ns) / 1000000);
        s->streak = 0;
        s->prev_key[0] = '\0';
        refresh_stats(s); /* fail-closed mode lifts as soon as the backlog is stamped */
        go_load(s);
        return;
    }
    s->streak++;
    if (a->hold) {
        s->st = S_HELD;
        tsb_error(
            "sender: bag %" PRId64 " HELD after attempt %" PRId64 " (%s): %s; later bags "
            "wait behind it (SequenceNumber order); fix the cause, then run `tsbag retry %" PRId64
            "`",
            a->bag.seq, a->bag.attempts + 1,
            a->kind == TSB_DSS_DEFINITIVE ? "definitive" : "the same failure twice", a->reason,
            a->bag.seq);
        log_held(a, a->bag.attempts + 1, a->reason);
        return;
    }
    tsb_log(a->kind == TSB_DSS_TRANSIENT ? TSB_LOG_WARN : TSB_LOG_ERROR,
            "sender: bag %" PRId64 " attempt %" PRId64 " failed (%s): %s", a->bag.seq,
            a->bag.attempts + 1, tsb_dss_class_name(a->kind), a->reason);
    schedule_retry(s, a->reason);
}

static void record(struct tsb_sender *s)
{
    s->st = S_RECORD;
    if (job(s, record_job, record_done) != 0)
        tsb_error("sender: cannot queue the record: %s", tsb_err_detail());
}

/* ---- CHECK (thread pool) ------------------------------------------------------------------- */

/* Records a failure of the given kind; key names what failed without the values that vary from
 * one answer to the next, so that "the same failure twice" can be told. */
__attribute__((format(printf, 4, 5))) static void fail(struct attempt *a, enum tsb_dss_class kind,
                                                       const char *key, const char *fmt, ...)
{
    a->ok = false;
    a->kind = kind;
    snprintf(a->key, sizeof(a->key), "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
    va_end(ap);
}

/* The token failed check c: look into it for what the TSA did differently (finding.h). */
static void explain_token(struct tsb_sender *s, const struct tsb_dss_response *dr, int c,
                          struct tsb_finding *f)
{
    struct attempt *a = &s->a;
    f->key[0] = f->text[0] = '\0';
    if (c == TSB_TCHK_IMPRINT_ALG || c == TSB_TCHK_IMPRINT) {
        struct tsb_finding_request fr = {.bag = a->bag.bytes,
                                         .bag_len = a->bag.bytes_len,
                                         .msg = a->msg.p,
                                         .msg_len = a->msg.len,
                                         .max_len = a->msg.len + a->bag.bytes_len + 1};
        if (tsb_finding_imprint(dr->token.p, dr->token.len, &fr, f) != 0)
            f->key[0] = '\0';
    } else if (c == TSB_TCHK_SIGNER || c == TSB_TCHK_SIGNATURE || c == TSB_TCHK_CHAIN) {
        tsb_finding_token_shape(dr->token.p, dr->token.len, f);
    }
}

/* Thread pool, at the end of CHECK: the answer as received, beside its request. */
static void capture_answer(struct tsb_sender *s)
{
    const struct attempt *a = &s->a;
    const char *dir = s->cfg->tsa.capture_dir;
    if (dir == NULL || dir[0] == '\0')
        return;
    bool answered = a->cls == TSB_FETCH_OK || a->cls == TSB_FETCH_HTTP ||
                    (a->cls == TSB_FETCH_TOOBIG && a->http_status != 0);
    struct tsb_capture_answer ca = {.seq = a->bag.seq,
                                    .attempt = a->bag.attempts + 1,
                                    .request_id = a->request_id,
                                    .transport = tsb_fetch_class_name(a->cls),
                                    .error = a->fetch_err,
                                    .http_status = answered ? a->http_status : 0,
                                    .content_type = a->content_type,
                                    .body = a->resp.p,
                                    .body_len = a->resp.len,
                                    .verdict = a->ok ? "verified" : tsb_dss_class_name(a->kind),
                                    .reason = a->ok ? "" : a->reason,
                                    .finding = a->finding,
                                    .failure_key = a->ok ? "" : a->key};
    if (tsb_capture_answer(dir, &ca) != 0)
        tsb_warn("sender: cannot capture the answer to bag %" PRId64 " attempt %" PRId64 ": %s",
                 ca.seq, ca.attempt, tsb_err_detail());
}

static void check_work(uv_work_t *w)
{
    struct tsb_sender *s = w->data;
    struct attempt *a = &s->a;
    struct tsb_dss_response dr;
    char key[192], keep_err[TSB_RESULT_MSG_MAX] = "";
    bool kept = false;
    tsb_dss_response_init(&dr);
    a->ok = false;
    a->finding[0] = '\0';
    tsb_buf_reset(&a->token);
    tsb_buf_reset(&a->sign_response);
    if (a->cls != TSB_FETCH_OK && a->cls != TSB_FETCH_HTTP) {
        snprintf(key, sizeof(key), "fetch:%s", tsb_fetch_class_name(a->cls));
        fail(a, TSB_DSS_TRANSIENT, key, "%s: %s", tsb_fetch_class_name(a->cls), a->fetch_err);
        goto out;
    }
    /* one parse: the token verified below and the SignResponse archived come from one tree */
    int r = tsb_dss_parse_response_keep(a->resp.p, a->resp.len, (size_t)s->cfg->tsa.max_answer,
                                        a->request_id, &dr, &a->sign_response, &kept);
    if (r == 0 && dr.kind == TSB_DSS_OK && !kept)
        snprintf(keep_err, sizeof(keep_err), "%s", tsb_err_detail());
    if (r != 0) {
        if (a->cls == TSB_FETCH_HTTP) {
            snprintf(key, sizeof(key), "http:%ld", a->http_status);
            fail(a, tsb_dss_http_class(a->http_status), key, "HTTP %ld without a SOAP answer: %s",
                 a->http_status, tsb_err_detail());
        } else {
            snprintf(key, sizeof(key), "answer:%s", tsb_strerror(r));
            fail(a, TSB_DSS_SUSPECT, key, "unusable answer (%s): %s", tsb_strerror(r),
                 tsb_err_detail());
        }
        goto out;
    }
    if (dr.kind != TSB_DSS_OK) {
        char why[900];
        tsb_dss_response_reason(&dr, why, sizeof(why));
        snprintf(key, sizeof(key), "dss:%s %s", dr.kind == TSB_DSS_FAULT ? "fault" : "result",
                 dr.kind == TSB_DSS_FAULT ? dr.fault_code
                                          : (dr.result_minor ? dr.result_minor : dr.result_major));
        /* an HTTP 4xx refuses the request whatever the fault says */
        enum tsb_dss_class kind = tsb_dss_response_class(&dr);
        if (a->cls == TSB_FETCH_HTTP && tsb_dss_http_class(a->http_status) == TSB_DSS_DEFINITIVE)
            kind = TSB_DSS_DEFINITIVE;
        fail(a, kind, key, "TSA refused: %s", why);
        goto out;
    }
    struct tsb_token_result res;
    struct tsb_token_verify_opts vo = {.check_skew = true,
                                       .now_ms = tsb_now_ms(),
                                       .max_skew_s = s->cfg->tsa.gen_time_skew_s,
                                       .data = a->bag.bytes,
                                       .data_len = a->bag.bytes_len};
    r = tsb_token_verify(s->v, dr.token.p, dr.token.len, a->bag.digest, &vo, &res);
    if (r != 0) {
        int c = 0;
        while (c < TSB_TCHK_N && res.outcome[c] != TSB_CHECK_FAIL)
            c++;
        const char *name = c < TSB_TCHK_N ? tsb_token_check_name(c) : "";
        struct tsb_finding f;
        explain_token(s, &dr, c, &f);
        snprintf(a->finding, sizeof(a->finding), "%s", f.key);
        snprintf(key, sizeof(key), "token:%s:%s", name, f.key);
        fail(a, TSB_DSS_SUSPECT, key, "token rejected, not archived: %s: %s%s%s", name,
             tsb_token_result_reason(&res), f.key[0] ? "; what the TSA did: " : "", f.text);
        goto out;
    }
    if (tsb_buf_append(&a->token, dr.token.p, dr.token.len) != 0) {
        fail(a, TSB_DSS_TRANSIENT, "token too large", "token too large to keep");
        goto out;
    }
    if (!kept) {
        fail(a, TSB_DSS_TRANSIENT, "sign response", "cannot keep the SignResponse: %s", keep_err);
        goto out;
    }
    snprintf(a->serial, sizeof(a->serial), "%s", res.serial);
    a->gen_time_ms = res.gen_time_ms;
    a->ok = true;
    if (dr.request_id == NULL) {
        snprintf(a->finding, sizeof(a->finding), "request-id:absent");
        tsb_warn("sender: bag %" PRId64 ": the TSA's SignResponse carries no RequestID (sent %s); "
                 "accepted and noted in the attempt",
                 a->bag.seq, a->request_id);
    }
    if (dr.form.base64_layers != 1 || dr.form.full_response)
        tsb_warn("sender: bag %" PRId64 ": the TSA used a legacy token encoding (%d base64 "
                 "layers%s); decoded",
                 a->bag.seq, dr.form.base64_layers,
                 dr.form.full_response ? ", full TimeStampResp" : "");
out:
    tsb_dss_response_cleanup(&dr);
    capture_answer(s);
    /* the request is not needed past CHECK: not held while RECORD rewrites the bag's row */
    tsb_buf_cleanup(&a->msg);
}

/* Loop thread: a definitive failure holds the bag at once, a suspect one when the previous
 * answer for the same bag failed the same way. */
static void classify(struct tsb_sender *s)
{
    struct attempt *a = &s->a;
    tsb_metrics_tsa_result(a->ok, a->kind);
    if (a->ok)
        return;
    bool again = s->prev_seq == a->bag.seq && strcmp(s->prev_key, a->key) == 0;
    a->hold = tsb_sender_holds(a->kind, again);
    s->prev_seq = a->bag.seq;
    snprintf(s->prev_key, sizeof(s->prev_key), "%s", a->key);
}

static void check_after(uv_work_t *w, int status)
{
    struct tsb_sender *s = w->data;
    (void)status;
    if (!completion(s))
        return;
    classify(s);
    record(s);
}

/* ---- POST ---------------------------------------------------------------------------------- */

static void on_fetch(void *arg, const struct tsb_fetch_result *res)
{
    struct tsb_sender *s = arg;
    struct attempt *a = &s->a;
    if (res->cls == TSB_FETCH_CANCELLED)
        return; /* stopping: the bag stays sent and is resent after the next start */
    tsb_metrics_tsa_latency(uv_hrtime() - a->post_ns);
    a->cls = res->cls;
    a->http_status = res->http_status;
    snprintf(a->fetch_err, sizeof(a->fetch_err), "%s", res->error);
    snprintf(a->content_type, sizeof(a->content_type), "%s",
             res->content_type ? res->content_type : "");
    tsb_buf_reset(&a->resp);
    if (tsb_buf_append(&a->resp, res->body, res->body_len) != 0) {
        a->cls = TSB_FETCH_TOOBIG;
        tsb_buf_reset(&a->resp);
    }
    s->st = S_CHECK;
    pool(s, check_work, check_after);
}

static void post(struct tsb_sender *s)
{
    struct attempt *a = &s->a;
    s->st = S_POST;
    struct tsb_fetch_request rq = {.url = s->cfg->tsa.url,
                                   .soap_action = s->cfg->tsa.soap_action,
                                   .body = a->msg.p,
                                   .body_len = a->msg.len};
    tsb_info("sender: sending bag %" PRId64 " (%" PRId64 " entries, attempt %" PRId64
             ", RequestID %s)",
             a->bag.seq, a->bag.entry_count, a->bag.attempts + 1, a->request_id);
    tsb_info("event=sent seq=%" PRId64 " entries=%" PRId64 " bytes=%zu attempt=%" PRId64,
             a->bag.seq, a->bag.entry_count, a->bag.bytes_len, a->bag.attempts + 1);
    a->post_ns = uv_hrtime();
    if (tsb_fetch_post(s->fetch, &rq, on_fetch, s) != 0) {
        fail(a, TSB_DSS_TRANSIENT, "fetch:start", "cannot start the request: %s", tsb_err_detail());
        classify(s);
        record(s);
    }
}

/* ---- MARK ---------------------------------------------------------------------------------- */

static int mark_job(struct tsb_store *store, void *arg)
{
    struct tsb_sender *s = arg;
    return tsb_store_bag_mark_sent(store, s->a.bag.seq, s->a.request_id, s->cfg->tsa.profile,
                                   tsb_now_ms());
}

/* Thread pool, between MARK and POST: the request exactly as it is about to leave (mark_sent
 * committed, so its attempt number and RequestID are the archive's). */
static void capture_work(uv_work_t *w)
{
    struct tsb_sender *s = w->data;
    const struct attempt *a = &s->a;
    if (tsb_capture_request(s->cfg->tsa.capture_dir, a->bag.seq, a->bag.attempts + 1, a->request_id,
                            a->msg.p, a->msg.len) != 0)
        tsb_warn("sender: cannot capture the request of bag %" PRId64 " attempt %" PRId64 ": %s",
                 a->bag.seq, a->bag.attempts + 1, tsb_err_detail());
}

static void capture_after(uv_work_t *w, int status)
{
    struct tsb_sender *s = w->data;
    (void)status;
    if (!completion(s))
        return;
    post(s);
}

static void mark_done(void *arg, const struct tsb_result *res)
{
    struct tsb_sender *s = arg;
    if (!completion(s))
        return;
    if (res->code != 0) {
        tsb_error("sender: cannot mark bag %" PRId64 " as sent: %s: %s", s->a.bag.seq,
                  tsb_strerror(res->code), res->msg);
        s->streak++;
        schedule_retry(s, res->msg);
        return;
    }
    if (s->cfg->tsa.capture_dir == NULL || s->cfg->tsa.capture_dir[0] == '\0') {
        post(s);
        return;
    }
    pool(s, capture_work, capture_after);
}

/* ---- BUILD (thread pool) ------------------------------------------------------------------- */

static void build_work(uv_work_t *w)
{
    struct tsb_sender *s = w->data;
    struct attempt *a = &s->a;
    /* a bag sealed under a larger sealer.max_bag_bytes is still sent: the cap follows the bag */
    tsb_buf_cleanup(&a->msg);
    tsb_buf_init(&a->msg, tsb_dss_request_max(a->bag.bytes_len));
    int r = tsb_dss_request_id(s->cfg->general.id_hospital, a->bag.seq, a->request_id);
    if (r == 0) {
        struct tsb_dss_request rq = {.bag = a->bag.bytes,
                                     .bag_len = a->bag.bytes_len,
                                     .request_id = a->request_id,
                                     .profile = s->cfg->tsa.profile,
                                     .carrier = s->cfg->tsa.carrier};
        struct tsb_wss_opts wo = {.now_ms = tsb_now_ms(), .ttl_s = s->cfg->tsa.wss_ttl_s};
        r = tsb_dss_build_signed(&rq, s->ks, &wo, &a->msg);
    }
    tsb_result_set(&s->work.res, r);
}

static void build_after(uv_work_t *w, int status)
{
    struct tsb_sender *s = w->data;
    (void)status;
    if (!completion(s))
        return;
    if (s->work.res.code != 0) {
        tsb_error("sender: cannot build the request for bag %" PRId64 ": %s", s->a.bag.seq,
                  s->work.res.msg);
        s->streak++;
        schedule_retry(s, s->work.res.msg);
        return;
    }
    s->st = S_MARK;
    if (job(s, mark_job, mark_done) != 0)
        tsb_error("sender: cannot queue mark_sent: %s", tsb_err_detail());
}

/* ---- LOAD ---------------------------------------------------------------------------------- */

/* Nothing to send is no failure: 0 with have_bag false. */
static int load_job(struct tsb_store *store, void *arg)
{
    struct tsb_sender *s = arg;
    if (s->a.have_bag)
        tsb_bag_rec_cleanup(&s->a.bag);
    s->a.have_bag = false;
    int r = tsb_store_bag_next_unstamped(store, &s->a.bag);
    s->a.have_bag = r == 0;
    s->a.seed_key[0] = '\0';
    if (r == 0 && s->a.bag.state == TSB_BAG_SENT)
        r = tsb_store_bag_retry_key(store, s->a.bag.seq, s->a.seed_key, sizeof(s->a.seed_key));
    return r == TSB_ENOTFOUND ? 0 : r;
}

static void load_done(void *arg, const struct tsb_result *res)
{
    struct tsb_sender *s = arg;
    if (!completion(s))
        return;
    if (res->code != 0) {
        tsb_error("sender: cannot read the next bag: %s: %s", tsb_strerror(res->code), res->msg);
        s->streak++;
        schedule_retry(s, res->msg);
        return;
    }
    if (!s->a.have_bag) {
        s->st = S_IDLE;
        s->fresh_start = false;
        if (s->kicked)
            go_load(s);
        return;
    }
    struct tsb_bag_rec *b = &s->a.bag;
    bool release = s->release;
    s->release = false;
    if (b->state == TSB_BAG_FAILED && !release) {
        s->st = S_HELD;
        s->fresh_start = false;
        tsb_error("sender: bag %" PRId64 " is HELD: %s; later bags wait behind it (SequenceNumber "
                  "order); fix the cause, then run `tsbag retry %" PRId64 "`",
                  b->seq, b->last_error ? b->last_error : "no reason recorded", b->seq);
        log_held(&s->a, b->attempts, b->last_error ? b->last_error : "no reason recorded");
        return;
    }
    if (release) {
        tsb_info("sender: bag %" PRId64 " released by the operator (tsbag retry): resending the "
                 "same bytes",
                 b->seq);
        s->streak = 0;
        s->prev_key[0] = '\0';
    } else if (s->fresh_start && b->state == TSB_BAG_SENT) {
        tsb_info("sender: resuming bag %" PRId64 " (%s after %" PRId64 " attempts): resending "
                 "the same bytes",
                 b->seq, tsb_bag_state_name(b->state), b->attempts);
        /* the previous answer's failure survives the restart: the same one again holds the bag */
        if (s->a.seed_key[0] != '\0') {
            s->prev_seq = b->seq;
            snprintf(s->prev_key, sizeof(s->prev_key), "%s", s->a.seed_key);
            tsb_info("sender: bag %" PRId64 ": its last answer failed (%s); the same failure "
                     "again holds it",
                     b->seq, s->prev_key);
        }
    }
    s->fresh_start = false;
    s->st = S_BUILD;
    pool(s, build_work, build_after);
}

/* Between attempts (no BUILD or CHECK work item runs): what a reload loaded takes over. */
static void take_reloaded(struct tsb_sender *s)
{
    if (s->next_v != NULL) {
        tsb_token_verifier_free(s->v);
        s->v = s->next_v;
        s->next_v = NULL;
    }
    if (s->next_ks != NULL) {
        tsb_keystore_free(s->ks);
        s->ks = s->next_ks;
        s->next_ks = NULL;
        tsb_info("sender: signing with the reloaded keystore from this attempt on: %s",
                 tsb_keystore_describe(s->ks));
    }
}

static void go_load(struct tsb_sender *s)
{
    if (s->stopping)
        return;
    take_reloaded(s);
    s->kicked = false;
    s->st = S_LOAD;
    if (job(s, load_job, load_done) != 0) {
        tsb_error("sender: cannot queue the load: %s", tsb_err_detail());
        s->st = S_IDLE;
    }
}

void tsb_sender_kick(struct tsb_sender *s)
{
    if (s->st == S_IDLE)
        go_load(s);
    else
        s->kicked = true;
}

/* ---- alarm --------------------------------------------------------------------------------- */

static int stats_job(struct tsb_store *store, void *arg)
{
    struct tsb_sender *s = arg;
    int r = tsb_store_stats(store, &s->stats);
    tsb_metrics_publish(store, r == 0 ? &s->stats : NULL); /* the /metrics snapshot */
    return r;
}

static void stats_done(void *arg, const struct tsb_result *res)
{
    struct tsb_sender *s = arg;
    s->stats_busy = false;
    if (!completion(s))
        return;
    if (res->code != 0) {
        /* the alarm keeps its last state; /metrics and /healthz show the failed read */
        tsb_debug("sender: cannot read the archive statistics for the alarm: %s", res->msg);
        return;
    }
    int64_t now = tsb_now_ms(), limit = s->cfg->sealer.unstamped_alarm_s * 1000;
    int64_t oldest = s->stats.oldest_unstamped_ms;
    s->oldest_unstamped_ms = oldest;
    bool raised = oldest != 0 && now - oldest > limit;
    if (raised && (!s->alarm || now - s->alarm_logged_ms >= limit)) {
        tsb_log(s->alarm ? TSB_LOG_ERROR : TSB_LOG_WARN,
                "sender: ALARM: the oldest unstamped entry is %" PRId64 " s old (limit %" PRId64
                " s, sealer.unstamped_alarm_s); %" PRId64 " bag(s) waiting for a stamp",
                (now - oldest) / 1000, limit / 1000,
                s->stats.bags[TSB_BAG_SEALED] + s->stats.bags[TSB_BAG_SENT] +
                    s->stats.bags[TSB_BAG_FAILED]);
        s->alarm_logged_ms = now;
    } else if (!raised && s->alarm) {
        tsb_info("sender: alarm cleared: no entry older than %" PRId64 " s without a stamp",
                 limit / 1000);
    }
    s->alarm = raised;
}

static void on_alarm_tick(uv_timer_t *t)
{
    refresh_stats(t->data);
}

bool tsb_sender_alarm(const struct tsb_sender *s)
{
    return s->alarm;
}

static void refresh_stats(struct tsb_sender *s)
{
    if (s->stats_busy || s->stopping)
        return;
    if (job(s, stats_job, stats_done) == 0)
        s->stats_busy = true;
}

bool tsb_sender_refusing(void *arg, char *why, size_t why_len)
{
    const struct tsb_sender *s = arg;
    int64_t limit = s->cfg->sealer.refuse_after_unstamped_s * 1000;
    int64_t oldest = s->oldest_unstamped_ms, age = tsb_now_ms() - oldest;
    if (limit == 0 || oldest == 0 || age <= limit)
        return false;
    snprintf(why, why_len,
             "not stored: the oldest entry without a verified stamp is %" PRId64
             " s old, more than sealer.refuse_after_unstamped_s (%" PRId64
             " s); stamping is stalled (tsbag status on the appliance says why)",
             age / 1000, limit / 1000);
    return true;
}

int tsb_sender_retry(void *arg, int64_t seq, int64_t *released)
{
    struct tsb_sender *s = arg;
    if (s->st != S_HELD && s->st != S_WAIT) {
        *released = 0; /* idle or busy: nothing waits for an operator */
        return 0;
    }
    if (seq != 0 && seq != s->a.bag.seq)
        return tsb_err(TSB_EINVAL, "bag %" PRId64 " is not %s; bag %" PRId64 " is (tsbag status)",
                       seq, s->st == S_HELD ? "held" : "waiting", s->a.bag.seq);
    if (s->st == S_HELD) {
        s->release = true;
    } else {
        uv_timer_stop(&s->retry_timer);
        tsb_info("sender: bag %" PRId64 ": retry now (tsbag retry) instead of after the backoff",
                 s->a.bag.seq);
    }
    *released = s->a.bag.seq;
    go_load(s);
    return 0;
}

/* ---- start / reload / stop ----------------------------------------------------------------- */

/* A quarter of the shortest age that matters, within [1 s, 30 s]. */
static void start_alarm_timer(struct tsb_sender *s)
{
    const struct tsb_config *cfg = s->cfg;
    int64_t tick = cfg->sealer.unstamped_alarm_s * 1000 / 4;
    if (cfg->sealer.refuse_after_unstamped_s > 0 &&
        cfg->sealer.refuse_after_unstamped_s * 1000 / 4 < tick)
        tick = cfg->sealer.refuse_after_unstamped_s * 1000 / 4;
    if (tick > 30000)
        tick = 30000;
    if (tick < 1000)
        tick = 1000;
    uv_timer_start(&s->alarm_timer, on_alarm_tick, (uint64_t)tick, (uint64_t)tick);
}

int tsb_sender_reload(struct tsb_sender *s, const struct tsb_config *next)
{
    int r = TSB_EINTERNAL;
    struct tsb_token_verifier *v = NULL;
    struct tsb_keystore *ks = NULL;
    const char *env = next->tsa.keystore_password_env;
    if ((r = tsb_token_verifier_from_files(next->tsa.trust_anchors, next->tsa.tsa_certs,
                                           next->tsa.policy_oids, &v)) != 0)
        goto out;
    if (env[0] != '\0' && getenv(env) == NULL) {
        tsb_info("sender: reload: keystore kept: its password came from environment variable %s, "
                 "wiped at start; a renewed keystore needs a restart",
                 env);
    } else {
        struct tsb_keystore_source src = {.path = next->tsa.keystore,
                                          .password_file = next->tsa.keystore_password_file,
                                          .password_env = env};
        bool refuse = s->cfg->tsa.keystore_permissions == TSB_KEY_PERMS_REFUSE;
        if ((r = tsb_keystore_check_private(&src, refuse)) != 0 ||
            (r = tsb_keystore_load(&src, tsb_now_ms(), &ks)) != 0)
            goto out;
    }
    tsb_token_verifier_free(s->next_v);
    s->next_v = v;
    v = NULL;
    if (ks != NULL) {
        tsb_info("sender: reload: keystore loaded (%s), used from the next attempt",
                 tsb_keystore_describe(ks));
        tsb_keystore_free(s->next_ks);
        s->next_ks = ks;
        ks = NULL;
    }
    r = 0;
out:
    tsb_token_verifier_free(v);
    tsb_keystore_free(ks);
    return r;
}

void tsb_sender_reconfigured(struct tsb_sender *s)
{
    if (s->stopping)
        return;
    start_alarm_timer(s);
    refresh_stats(s);
}

int tsb_sender_start(uv_loop_t *loop, const struct tsb_config *cfg, struct tsb_writer *w,
                     struct tsb_sender **out)
{
    int r = TSB_EINTERNAL;
    struct tsb_sender *s = tsb_calloc(1, sizeof(*s));
    s->loop = loop;
    s->cfg = cfg;
    s->w = w;
    s->fresh_start = true;
    /* what one bag costs (docs/internals/SENDER.md, "Memory"): the request is sized from the
     * bag at each build; the answer and what is kept from it are bounded by tsa.max_answer */
    tsb_buf_init(&s->a.msg, tsb_dss_request_max((size_t)cfg->sealer.max_bag_bytes));
    tsb_buf_init(&s->a.resp, (size_t)cfg->tsa.max_answer);
    tsb_buf_init(&s->a.token, (size_t)cfg->tsa.max_answer);
    tsb_buf_init(&s->a.sign_response, (size_t)cfg->tsa.max_answer);
    struct tsb_keystore_source src = {.path = cfg->tsa.keystore,
                                      .password_file = cfg->tsa.keystore_password_file,
                                      .password_env = cfg->tsa.keystore_password_env};
    if ((r = tsb_keystore_load(&src, tsb_now_ms(), &s->ks)) != 0)
        goto fail;
    tsb_metrics_keystore(tsb_keystore_not_after_ms(s->ks));
    if ((r = tsb_token_verifier_from_files(cfg->tsa.trust_anchors, cfg->tsa.tsa_certs,
                                           cfg->tsa.policy_oids, &s->v)) != 0)
        goto fail;
    struct tsb_fetch_opts fo = {.ca_file = cfg->tsa.ca_file,
                                .connect_timeout_ms = cfg->tsa.connect_timeout_ms,
                                .timeout_ms = cfg->tsa.timeout_ms,
                                .max_response = (size_t)cfg->tsa.max_answer};
    if ((r = tsb_fetch_new(loop, &fo, &s->fetch)) != 0)
        goto fail;
    s->fetch_open = true;
    uv_timer_init(loop, &s->retry_timer);
    uv_timer_init(loop, &s->alarm_timer);
    s->retry_timer.data = s->alarm_timer.data = s;
    s->open_handles = 2;
    start_alarm_timer(s);
    tsb_info("sender: hospital %s; %s; TSA %s", cfg->general.id_hospital,
             tsb_keystore_describe(s->ks), cfg->tsa.url);
    refresh_stats(s); /* the fail-closed mode applies from the start */
    go_load(s);       /* resume whatever the archive holds */
    *out = s;
    return 0;
fail:
    tsb_keystore_free(s->ks);
    tsb_token_verifier_free(s->v);
    tsb_buf_cleanup(&s->a.msg);
    tsb_buf_cleanup(&s->a.resp);
    tsb_buf_cleanup(&s->a.token);
    tsb_buf_cleanup(&s->a.sign_response);
    free(s);
    return r;
}

void tsb_sender_stop(struct tsb_sender *s, void (*stopped)(void *arg), void *arg)
{
    s->stopping = true;
    s->stopped = stopped;
    s->stopped_arg = arg;
    uv_close((uv_handle_t *)&s->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->alarm_timer, on_handle_closed);
    tsb_fetch_close(s->fetch, on_fetch_closed, s);
}
