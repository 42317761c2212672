/*
 * tsa2: one request in flight, a small state machine on the loop thread:
 *
 *   IDLE -kick-> LOAD (writer job: lowest bag without a second token) -> POST (curl on the
 *   loop) -> CHECK (thread pool: reply and token checks) -> RECORD (writer job: archive)
 *   -> PACE (tsa2.min_interval_ms) -> LOAD | WAIT (backoff after a failure) -> LOAD
 *
 * The attempt is the work item: each step writes its result into it (job status and error text
 * included) and the step's completion, on the loop thread, reads it; only one step runs at a time,
 * so no field is written on one thread while another reads it. A failure is never archived: it is
 * logged with its reason, counted in /metrics and retried with backoff, the bag staying the oldest
 * without a second token. The backlog read for the alarm is a job of its own with its own result.
 */
#include "tsa2.h"

#include "backoff.h"
#include "clock.h"
#include "codec.h"
#include "err.h"
#include "fetch.h"
#include "keystore.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "store.h"
#include "timefmt.h"
#include "token.h"
#include "tsq.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRED_MAX       1024
#define QUERY_TYPE     "application/timestamp-query"
#define REPLY_TYPE     "application/timestamp-reply"
#define ALARM_TICK_MAX 30000

enum state { S_IDLE, S_LOAD, S_POST, S_CHECK, S_RECORD, S_PACE, S_WAIT };

struct attempt {
    struct tsb_tsa2 *t;
    struct tsb_bag_rec bag;
    bool have_bag;
    uint8_t nonce[TSB_TSQ_NONCE_LEN];
    char nonce_hex[TSB_TSQ_NONCE_HEX];
    struct tsb_buf query, reply, token;
    /* POST result */
    enum tsb_fetch_class cls;
    long http_status;
    char fetch_err[512];
    char content_type[128];
    uint64_t post_ns;
    /* CHECK result */
    const char *outcome; /* tsb_metrics_tsa2_result's word */
    char reason[1024];
    struct tsb_token_result res;
    uv_work_t work;
};

/* The backlog read: a job with its own result. */
struct backlog_job {
    struct tsb_tsa2 *t;
    struct tsb_tsa2_backlog b;
};

struct tsb_tsa2 {
    uv_loop_t *loop;
    const struct tsb_config *cfg;
    struct tsb_writer *w;
    struct tsb_token_verifier *v; /* read by CHECK on the thread pool, never replaced */
    struct tsb_fetch *fetch;
    char *userpwd; /* "user:password" or NULL; wiped when freed */
    /* loop thread only */
    enum state st;
    bool kicked;
    int streak; /* consecutive failures: drives the backoff */
    struct attempt a;
    uv_timer_t timer, alarm_timer;
    bool alarm, backlog_busy;
    int64_t alarm_logged_ms;
    int pending; /* writer jobs and pool work in flight */
    int open_handles;
    bool fetch_open, stopping;
    void (*stopped)(void *);
    void *stopped_arg;
};

/* ---- lifetime ------------------------------------------------------------------------------ */

static void free_tsa2(struct tsb_tsa2 *t)
{
    if (t->a.have_bag)
        tsb_bag_rec_cleanup(&t->a.bag);
    tsb_buf_cleanup(&t->a.query);
    tsb_buf_cleanup(&t->a.reply);
    tsb_buf_cleanup(&t->a.token);
    tsb_token_verifier_free(t->v);
    if (t->userpwd != NULL) {
        OPENSSL_cleanse(t->userpwd, strlen(t->userpwd));
        free(t->userpwd);
    }
    free(t);
}

static void maybe_free(struct tsb_tsa2 *t)
{
    if (!t->stopping || t->pending > 0 || t->open_handles > 0 || t->fetch_open)
        return;
    void (*stopped)(void *) = t->stopped;
    void *arg = t->stopped_arg;
    free_tsa2(t);
    if (stopped != NULL)
        stopped(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct tsb_tsa2 *t = h->data;
    t->open_handles--;
    maybe_free(t);
}

static void on_fetch_closed(void *arg)
{
    struct tsb_tsa2 *t = arg;
    t->fetch_open = false;
    maybe_free(t);
}

/* Every completion starts with this: false means "stopping, do nothing more". */
static bool completion(struct tsb_tsa2 *t)
{
    t->pending--;
    if (t->stopping) {
        maybe_free(t);
        return false;
    }
    return true;
}

/* A writer job; done gets its own result (code and the writer thread's detail). */
static int job(struct tsb_tsa2 *t, tsb_writer_job_fn fn, tsb_writer_result_fn done, void *arg)
{
    int r = tsb_writer_submit(t->w, fn, done, arg);
    if (r == 0)
        t->pending++;
    return r;
}

static void go_load(struct tsb_tsa2 *t);

/* ---- backoff and pace ---------------------------------------------------------------------- */

static void on_timer(uv_timer_t *h)
{
    go_load(h->data);
}

static int64_t backoff_ms(const struct tsb_tsa2 *t)
{
    return tsb_backoff_ms(t->cfg->tsa2.retry_min_ms, t->cfg->tsa2.retry_max_ms, t->streak);
}

/* A failure of the current attempt (or of reading the archive): logged with why, retried. */
static void retry_later(struct tsb_tsa2 *t, const char *outcome, const char *why)
{
    char q[1100];
    struct attempt *a = &t->a;
    t->streak++;
    t->st = S_WAIT;
    int64_t d = backoff_ms(t);
    int64_t seq = a->have_bag ? a->bag.seq : 0;
    tsb_metrics_tsa2_result(outcome);
    tsb_warn("tsa2: bag %" PRId64 ": no second token archived (%s): %s; next attempt in %" PRId64
             " ms",
             seq, outcome, why, d);
    tsb_warn("event=tsa2_retry seq=%" PRId64 " outcome=%s retry_in_ms=%" PRId64 " reason=%s", seq,
             outcome, d, tsb_log_quote(why, q, sizeof(q)));
    uv_timer_start(&t->timer, on_timer, (uint64_t)d, 0);
}

/* ---- RECORD -------------------------------------------------------------------------------- */

static int record_job(struct tsb_store *store, void *arg)
{
    struct attempt *a = arg;
    struct tsb_tsa2_stamp st = {.seq = a->bag.seq,
                                .url = a->t->cfg->tsa2.url,
                                .tsa_serial = a->res.serial,
                                .gen_time_ms = a->res.gen_time_ms,
                                .policy = a->res.policy,
                                .tsa_subject = a->res.tsa_subject,
                                .nonce = a->nonce_hex,
                                .token = a->token.p,
                                .token_len = a->token.len};
    memcpy(st.imprint, a->bag.digest, TSB_SHA256_LEN);
    return tsb_store_tsa2_add(store, &st, tsb_now_ms());
}

static void record_done(void *arg, const struct tsb_result *res)
{
    struct attempt *a = arg;
    struct tsb_tsa2 *t = a->t;
    if (!completion(t))
        return;
    if (res->code != 0) {
        char why[700];
        snprintf(why, sizeof(why), "cannot archive the verified token: %s: %s",
                 tsb_strerror(res->code), res->msg);
        retry_later(t, "archive", why);
        return;
    }
    char gt[TSB_TIME_STR_MAX];
    tsb_time_utc(a->res.gen_time_ms, gt);
    tsb_metrics_tsa2_result("stamped");
    tsb_info("tsa2: bag %" PRId64 " has its second token (TSA serial %s, genTime %s, %s)",
             a->bag.seq, a->res.serial, gt, a->res.tsa_subject);
    tsb_info("event=tsa2_stamped seq=%" PRId64 " serial=%s gen_time=%s latency_ms=%" PRIu64,
             a->bag.seq, a->res.serial, gt, (uv_hrtime() - a->post_ns) / 1000000);
    t->streak = 0;
    t->st = S_PACE;
    uv_timer_start(&t->timer, on_timer, (uint64_t)t->cfg->tsa2.min_interval_ms, 0);
}

/* ---- CHECK (thread pool) ------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void refuse(struct attempt *a, const char *outcome,
                                                         const char *fmt, ...)
{
    a->outcome = outcome;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
    va_end(ap);
}

static void check_work(uv_work_t *w)
{
    struct attempt *a = w->data;
    struct tsb_tsa2 *t = a->t;
    char why[TSB_TSQ_REASON_MAX];
    a->outcome = NULL;
    tsb_buf_reset(&a->token);
    if (a->cls != TSB_FETCH_OK && a->cls != TSB_FETCH_HTTP) {
        refuse(a, "transport", "%s: %s", tsb_fetch_class_name(a->cls), a->fetch_err);
        return;
    }
    if (a->cls == TSB_FETCH_HTTP) {
        refuse(a, "http", "HTTP status %ld (content type %s)", a->http_status,
               a->content_type[0] ? a->content_type : "none");
        return;
    }
    enum tsb_tsq_fail f =
        tsb_tsq_check_reply(a->reply.p, a->reply.len, a->bag.digest, a->nonce, &a->token, why);
    if (f != TSB_TSQ_OK) {
        refuse(a, tsb_tsq_fail_name(f), "%s", why);
        return;
    }
    struct tsb_token_verify_opts vo = {.check_skew = true,
                                       .now_ms = tsb_now_ms(),
                                       .max_skew_s = t->cfg->tsa.gen_time_skew_s,
                                       .data = a->bag.bytes,
                                       .data_len = a->bag.bytes_len};
    if (tsb_token_verify(t->v, a->token.p, a->token.len, a->bag.digest, &vo, &a->res) != 0) {
        int c = 0;
        while (c < TSB_TCHK_N && a->res.outcome[c] != TSB_CHECK_FAIL)
            c++;
        refuse(a, "token", "the token failed verification: %s: %s",
               c < TSB_TCHK_N ? tsb_token_check_name(c) : "verifier",
               tsb_token_result_reason(&a->res));
        return;
    }
    if (strcmp(a->content_type, REPLY_TYPE) != 0)
        tsb_warn("tsa2: bag %" PRId64 ": the reply's content type is '%s', not " REPLY_TYPE
                 "; its token verified and is kept",
                 a->bag.seq, a->content_type);
}

static void check_after(uv_work_t *w, int status)
{
    struct attempt *a = w->data;
    struct tsb_tsa2 *t = a->t;
    (void)status;
    if (!completion(t))
        return;
    if (a->outcome != NULL) {
        retry_later(t, a->outcome, a->reason);
        return;
    }
    t->st = S_RECORD;
    if (job(t, record_job, record_done, a) != 0)
        retry_later(t, "archive", tsb_err_detail());
}

/* ---- POST ---------------------------------------------------------------------------------- */

static void on_fetch(void *arg, const struct tsb_fetch_result *res)
{
    struct attempt *a = arg;
    struct tsb_tsa2 *t = a->t;
    if (res->cls == TSB_FETCH_CANCELLED)
        return; /* stopping: the bag is stamped after the next start */
    a->cls = res->cls;
    a->http_status = res->http_status;
    snprintf(a->fetch_err, sizeof(a->fetch_err), "%s", res->error);
    snprintf(a->content_type, sizeof(a->content_type), "%s",
             res->content_type ? res->content_type : "");
    tsb_buf_reset(&a->reply);
    if (tsb_buf_append(&a->reply, res->body, res->body_len) != 0) {
        a->cls = TSB_FETCH_TOOBIG;
        snprintf(a->fetch_err, sizeof(a->fetch_err), "reply over tsa2.max_response");
    }
    t->st = S_CHECK;
    a->work.data = a;
    t->pending++;
    uv_queue_work(t->loop, &a->work, check_work, check_after);
}

static void post(struct tsb_tsa2 *t)
{
    struct attempt *a = &t->a;
    if (RAND_bytes(a->nonce, sizeof(a->nonce)) != 1) {
        retry_later(t, "transport", "no random bytes for the nonce");
        return;
    }
    tsb_hex_encode(a->nonce, sizeof(a->nonce), a->nonce_hex);
    tsb_buf_reset(&a->query);
    if (tsb_tsq_request(a->bag.digest, a->nonce, &a->query) != 0) {
        retry_later(t, "transport", tsb_err_detail());
        return;
    }
    struct tsb_fetch_request rq = {.url = t->cfg->tsa2.url,
                                   .body = a->query.p,
                                   .body_len = a->query.len,
                                   .content_type = QUERY_TYPE,
                                   .accept = REPLY_TYPE,
                                   .userpwd = t->userpwd};
    t->st = S_POST;
    tsb_debug("tsa2: requesting a second token for bag %" PRId64 " (nonce %s)", a->bag.seq,
              a->nonce_hex);
    a->post_ns = uv_hrtime();
    if (tsb_fetch_post(t->fetch, &rq, on_fetch, a) != 0)
        retry_later(t, "transport", tsb_err_detail());
}

/* ---- LOAD ---------------------------------------------------------------------------------- */

static int load_job(struct tsb_store *store, void *arg)
{
    struct attempt *a = arg;
    if (a->have_bag)
        tsb_bag_rec_cleanup(&a->bag);
    a->have_bag = false;
    int r = tsb_store_tsa2_next(store, &a->bag);
    a->have_bag = r == 0;
    return r == TSB_ENOTFOUND ? 1 : r; /* 1: nothing to stamp (not an error for the writer) */
}

static void load_done(void *arg, const struct tsb_result *res)
{
    struct attempt *a = arg;
    struct tsb_tsa2 *t = a->t;
    int status = res->code;
    if (!completion(t))
        return;
    if (status == 1) {
        t->st = S_IDLE;
        if (t->kicked)
            go_load(t);
        return;
    }
    if (status != 0) {
        char why[700];
        snprintf(why, sizeof(why), "cannot read the next bag: %s: %s", tsb_strerror(status),
                 res->msg);
        retry_later(t, "archive", why);
        return;
    }
    post(t);
}

static void go_load(struct tsb_tsa2 *t)
{
    if (t->stopping)
        return;
    t->kicked = false;
    t->st = S_LOAD;
    if (job(t, load_job, load_done, &t->a) != 0) {
        tsb_error("tsa2: cannot queue the load: %s", tsb_err_detail());
        t->st = S_IDLE;
    }
}

void tsb_tsa2_kick(struct tsb_tsa2 *t)
{
    if (t->st == S_IDLE)
        go_load(t);
    else
        t->kicked = true; /* PACE and WAIT end in a load anyway */
}

/* ---- alarm --------------------------------------------------------------------------------- */

static int backlog_read(struct tsb_store *store, void *arg)
{
    struct backlog_job *j = arg;
    int r = tsb_store_tsa2_backlog(store, &j->b);
    if (r == 0)
        tsb_metrics_tsa2_backlog(j->b.bags, j->b.oldest_sealed_ms, j->t->cfg->tsa2.alarm_s);
    return r;
}

static void backlog_done(void *arg, const struct tsb_result *res)
{
    struct backlog_job *j = arg;
    struct tsb_tsa2 *t = j->t;
    struct tsb_tsa2_backlog b = j->b;
    free(j);
    t->backlog_busy = false;
    if (!completion(t))
        return;
    if (res->code != 0) {
        tsb_error("tsa2: cannot read the backlog: %s: %s", tsb_strerror(res->code), res->msg);
        return;
    }
    int64_t now = tsb_now_ms(), limit = t->cfg->tsa2.alarm_s * 1000;
    bool raised = b.oldest_sealed_ms != 0 && now - b.oldest_sealed_ms > limit;
    if (raised && (!t->alarm || now - t->alarm_logged_ms >= limit)) {
        tsb_log(t->alarm ? TSB_LOG_ERROR : TSB_LOG_WARN,
                "tsa2: ALARM: %" PRId64 " bag(s) without a second token, the oldest (bag %" PRId64
                ") sealed %" PRId64 " s ago (limit %" PRId64 " s, tsa2.alarm_s); %s",
                b.bags, b.oldest_seq, (now - b.oldest_sealed_ms) / 1000, limit / 1000,
                t->streak > 0 ? "the second TSA is failing (see the tsa2 lines above)"
                              : "the backlog is being stamped");
        t->alarm_logged_ms = now;
    } else if (!raised && t->alarm) {
        tsb_info("tsa2: alarm cleared: every bag older than %" PRId64 " s has its second token",
                 limit / 1000);
    }
    t->alarm = raised;
}

static void on_alarm_tick(uv_timer_t *h)
{
    struct tsb_tsa2 *t = h->data;
    if (t->backlog_busy || t->stopping)
        return;
    struct backlog_job *j = tsb_calloc(1, sizeof(*j));
    j->t = t;
    if (job(t, backlog_read, backlog_done, j) == 0)
        t->backlog_busy = true;
    else
        free(j);
}

/* ---- start / stop -------------------------------------------------------------------------- */

/* tsa2.credentials_file: "user:password" on its first line, checked like the keystore's. */
static int load_credentials(struct tsb_tsa2 *t)
{
    const struct tsb_config *cfg = t->cfg;
    char line[CRED_MAX];
    if (cfg->tsa2.credentials_file[0] == '\0')
        return 0;
    int r = tsb_credentials_file_read(
        "tsa2 credentials file", cfg->tsa2.credentials_file, "the second TSA's password",
        cfg->tsa.keystore_permissions == TSB_KEY_PERMS_REFUSE, line, sizeof(line));
    if (r == 0)
        t->userpwd = tsb_strdup(line);
    OPENSSL_cleanse(line, sizeof(line));
    return r;
}

int tsb_tsa2_start(uv_loop_t *loop, const struct tsb_config *cfg, struct tsb_writer *w,
                   struct tsb_tsa2 **out)
{
    int r = TSB_EINTERNAL;
    struct tsb_tsa2 *t = tsb_calloc(1, sizeof(*t));
    t->loop = loop;
    t->cfg = cfg;
    t->w = w;
    t->a.t = t;
    tsb_buf_init(&t->a.query, 4096);
    tsb_buf_init(&t->a.reply, (size_t)cfg->tsa2.max_response);
    tsb_buf_init(&t->a.token, (size_t)cfg->tsa2.max_response);
    if ((r = tsb_token_verifier_from_files(cfg->tsa2.trust_anchors, cfg->tsa2.tsa_certs,
                                           cfg->tsa2.policy_oids, &t->v)) != 0) {
        r = tsb_err(r, "tsa2: %s", tsb_err_detail());
        goto fail;
    }
    if ((r = load_credentials(t)) != 0)
        goto fail;
    struct tsb_fetch_opts fo = {.ca_file = cfg->tsa2.ca_file,
                                .connect_timeout_ms = cfg->tsa2.connect_timeout_ms,
                                .timeout_ms = cfg->tsa2.timeout_ms,
                                .max_response = (size_t)cfg->tsa2.max_response,
                                .allow_http = strncmp(cfg->tsa2.url, "http://", 7) == 0};
    if ((r = tsb_fetch_new(loop, &fo, &t->fetch)) != 0)
        goto fail;
    t->fetch_open = true;
    uv_timer_init(loop, &t->timer);
    uv_timer_init(loop, &t->alarm_timer);
    t->timer.data = t->alarm_timer.data = t;
    t->open_handles = 2;
    int64_t tick = cfg->tsa2.alarm_s * 1000 / 4;
    if (tick > ALARM_TICK_MAX)
        tick = ALARM_TICK_MAX;
    if (tick < 1000)
        tick = 1000;
    uv_timer_start(&t->alarm_timer, on_alarm_tick, 0, (uint64_t)tick);
    tsb_info("tsa2: second TSA %s%s, one request every %" PRId64 " ms at most", cfg->tsa2.url,
             t->userpwd ? " (HTTP basic authentication)" : "", cfg->tsa2.min_interval_ms);
    go_load(t); /* the backlog first: whatever the archive holds without a second token */
    *out = t;
    return 0;
fail:
    free_tsa2(t);
    return r;
}

void tsb_tsa2_stop(struct tsb_tsa2 *t, void (*stopped)(void *arg), void *arg)
{
    t->stopping = true;
    t->stopped = stopped;
    t->stopped_arg = arg;
    uv_close((uv_handle_t *)&t->timer, on_handle_closed);
    uv_close((uv_handle_t *)&t->alarm_timer, on_handle_closed);
    tsb_fetch_close(t->fetch, on_fetch_closed, t);
}
