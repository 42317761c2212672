/*
 * ingest: listeners, connections and the request FIFO of each connection.
 *
 * Every request read from a connection becomes a `struct req` appended to that connection's
 * FIFO. A req is "ready" once its reply is known (immediately for PING, HELLO and refusals; from
 * the writer's commit callback for SUBMIT; from a writer job for STATUS; from the sealer for
 * SEAL). Replies leave strictly from the head of the FIFO, so they go out in request order however
 * the completions interleave. An ACK is produced only from a writer completion with status 0:
 * nothing else in this file can create one.
 *
 * A connection object lives until its stream is closed AND its FIFO is empty, so a writer
 * completion always finds its connection even if the peer went away meanwhile.
 *
 * Admission: a connection is PENDING from accept until its HELLO is answered (TLS handshake
 * included), then SERVING. Each listener has its own budget for each stage, and TCP peers have a
 * per-address budget for each, so unauthenticated peers can only ever use the small pending
 * budget, for at most ingest.handshake_timeout_ms each (docs/internals/INGEST.md).
 */
#include "ingest.h"

#include "clock.h"
#include "err.h"
#include "frame.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "mem.h"
#include "stream.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OUT_CAP     (256 * 1024) /* queued reply bytes above which a connection is not read */
#define PEER_MAX    128
#define SUBJECT_MAX 1024

struct allow {
    char *subject;
    char *source;
};

struct conn;

struct req {
    struct req *next;
    struct conn *c;
    bool ready;
    uint8_t reply; /* frame type of the reply */
    enum tsb_nack nack;
    bool closing;
    char *reason; /* NACK */
    int64_t received_ms;
    bool submit;        /* a SUBMIT: its reply moves the entry counters (metrics.h) */
    uint64_t submit_ns; /* uv_hrtime at its arrival: the ack latency */
    uint8_t digest[TSB_SHA256_LEN];
    struct tsb_status st;
    struct tsb_store_stats stats; /* STATUS: filled on the writer thread */
    struct tsb_seal_ok seal;
    int64_t retried; /* RETRY_OK */
    struct tsb_writer_entry we;
    size_t extra_len;
    uint8_t extra[]; /* format id, client ref, content (NUL-separated) or PING payload */
};

/* Admission stage of a connection; each stage but NONE has a budget per listener. */
enum conn_stage {
    STAGE_NONE,     /* not counted: refused at once (closed without a word) */
    STAGE_PENDING,  /* accepted, TLS handshake and/or HELLO not done yet */
    STAGE_SERVING,  /* HELLO answered with HELLO_OK */
    STAGE_REFUSING, /* refused at accept, the NACK is being delivered (plaintext only) */
    STAGE_COUNT,
};

struct conn {
    struct tsb_stream s;
    uv_timer_t idle;
    struct tsb_ingest *in;
    struct conn *prev, *next;
    struct tsb_frame_decoder dec;
    struct req *head, *tail;
    size_t inflight;
    uint64_t last_frame_ms;
    uint64_t accepted_ms;
    enum conn_stage stage;
    bool is_tcp, ending, eof, blocked, processing, stream_closed, idle_closed;
    bool finish_started;
    int metrics_slot; /* set at HELLO_OK (tsb_metrics_source) */
    char source[TSB_SOURCE_MAX_PROTO + 1];
    char peer[PEER_MAX];
    char addr[PEER_MAX]; /* TCP: the peer's address without the port, the per-source key */
    struct tsb_buf scratch;
};

struct tsb_ingest {
    uv_loop_t *loop;
    const struct tsb_config *cfg;
    struct tsb_writer *w;
    uv_pipe_t unix_srv;
    uv_tcp_t tcp_srv;
    bool has_unix, has_tcp;
    int tcp_port;
    int listeners_open;
    struct tsb_tls_ctx *tls;
    struct allow *allow;
    size_t nallow;
    bool has_allowlist;
    struct tsb_hasher *hasher;
    struct tsb_frame_limits lim;
    struct conn *conns;
    unsigned count[2][STAGE_COUNT]; /* [is_tcp][stage] */
    bool stopping, archive_failed;
    void (*stopped)(void *arg);
    void *stopped_arg;
    tsb_seal_hook_fn seal_hook;
    void *seal_arg;
    tsb_retry_hook_fn retry_hook;
    tsb_refuse_hook_fn refuse_hook;
    void *sender_arg;
};

static void conn_process(struct conn *c);
static void conn_flush(struct conn *c);
static void conn_maybe_end(struct conn *c);
static void maybe_stopped(struct tsb_ingest *in);
static void idle_closed(uv_handle_t *h);
static void idle_cb(uv_timer_t *t);

/* ---- requests ------------------------------------------------------------------------------ */

static struct req *req_new(struct conn *c, size_t extra)
{
    struct req *r = tsb_malloc(sizeof(*r) + extra);
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->extra_len = extra;
    if (c->tail != NULL)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->inflight++;
    return r;
}

static void req_free(struct req *r)
{
    free(r->reason);
    free(r);
}

static void req_nack(struct req *r, enum tsb_nack code, bool closing, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void req_nack(struct req *r, enum tsb_nack code, bool closing, const char *fmt, ...)
{
    char buf[TSB_NACK_REASON_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    r->reply = TSB_FT_NACK;
    r->nack = code;
    r->closing = closing;
    free(r->reason);
    r->reason = tsb_strdup(buf);
    r->ready = true;
}

static int encode_reply(struct conn *c, struct req *r)
{
    struct tsb_buf *b = &c->scratch;
    switch (r->reply) {
    case TSB_FT_ACK:
        return tsb_frame_put_ack(b, r->we.ref, r->received_ms, r->digest);
    case TSB_FT_NACK:
        return tsb_frame_put_nack(b, r->nack, r->closing, r->reason ? r->reason : "");
    case TSB_FT_HELLO_OK: {
        struct tsb_hello_ok h = {
            .version = TSB_PROTO_VERSION,
            .max_frame = (uint32_t)c->in->cfg->ingest.max_frame,
            .max_inflight = (uint32_t)c->in->cfg->ingest.max_inflight,
            .source = {(const uint8_t *)c->source, strlen(c->source)},
        };
        return tsb_frame_put_hello_ok(b, &h);
    }
    case TSB_FT_PONG:
        return tsb_frame_put_simple(b, TSB_FT_PONG, (struct tsb_slice){r->extra, r->extra_len});
    case TSB_FT_STATUS_OK:
        return tsb_frame_put_status(b, &r->st);
    case TSB_FT_SEAL_OK:
        return tsb_frame_put_seal_ok(b, &r->seal);
    case TSB_FT_RETRY_OK:
        return tsb_frame_put_retry(b, TSB_FT_RETRY_OK, r->retried);
    }
    return tsb_err(TSB_EINTERNAL, "no encoder for reply type 0x%02x", r->reply);
}

/* ---- admission ----------------------------------------------------------------------------- */

static void set_stage(struct conn *c, enum conn_stage st)
{
    unsigned *n = c->in->count[c->is_tcp];
    if (c->stage != STAGE_NONE)
        n[c->stage]--;
    if (st != STAGE_NONE)
        n[st]++;
    c->stage = st;
    tsb_metrics_connections(c->is_tcp, n[STAGE_PENDING], n[STAGE_SERVING], n[STAGE_REFUSING]);
}

/* Connections of the listener of c in stage st from c's address (TCP only). */
static unsigned source_count(const struct conn *c, enum conn_stage st)
{
    unsigned n = 0;
    for (const struct conn *o = c->in->conns; o != NULL; o = o->next)
        if (o != c && o->is_tcp && o->stage == st && strcmp(o->addr, c->addr) == 0)
            n++;
    return n;
}

/* Why c may not enter stage st (pending at accept, serving at HELLO), into why; false if it may. */
static bool over_budget(const struct conn *c, enum conn_stage st, char *why, size_t n)
{
    bool pending = st == STAGE_PENDING;
    int64_t total = pending ? c->in->cfg->ingest.max_pending : c->in->cfg->ingest.max_connections;
    const char *name = pending ? "ingest.max_pending" : "ingest.max_connections";
    const char *listener = c->is_tcp ? "TCP" : "Unix socket";
    if (c->in->count[c->is_tcp][st] >= (unsigned)total) {
        snprintf(why, n, "%s limit of %" PRId64 " connections on the %s reached", name, total,
                 listener);
        return true;
    }
    int64_t per = c->in->cfg->ingest.max_connections_per_source;
    if (c->is_tcp && source_count(c, st) >= (unsigned)per) {
        snprintf(why, n,
                 "ingest.max_connections_per_source limit of %" PRId64 " %s connections from %s "
                 "reached",
                 per, pending ? "unauthenticated" : "serving", c->addr);
        return true;
    }
    return false;
}

/* ---- connection lifetime ------------------------------------------------------------------- */

static void conn_free_if_done(struct conn *c)
{
    if (!c->stream_closed || !c->idle_closed || c->head != NULL)
        return;
    struct tsb_ingest *in = c->in;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        in->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    set_stage(c, STAGE_NONE);
    tsb_frame_decoder_cleanup(&c->dec);
    tsb_buf_cleanup(&c->scratch);
    free(c);
    maybe_stopped(in);
}

static void stream_closed(struct tsb_stream *s)
{
    struct conn *c = s->data;
    c->stream_closed = true;
    tsb_debug("ingest: %s: closed", c->peer);
    if (!uv_is_closing((uv_handle_t *)&c->idle))
        uv_close((uv_handle_t *)&c->idle, idle_closed);
    /* drops the replies that can no longer be sent (the writer still owns the others) and frees
     * the connection if nothing is left: c must not be used after this */
    conn_flush(c);
}

static void idle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->idle_closed = true;
    conn_free_if_done(c);
}

static void conn_abort(struct conn *c)
{
    c->ending = true;
    if (!uv_is_closing((uv_handle_t *)&c->idle))
        uv_close((uv_handle_t *)&c->idle, idle_closed);
    tsb_stream_close(&c->s, stream_closed);
}

/* Ends the connection once nothing is left to answer. */
static void conn_maybe_end(struct conn *c)
{
    if (c->processing) /* conn_process calls again when it is done with the input */
        return;
    if (c->finish_started || c->stream_closed || c->head != NULL)
        return;
    if (!c->ending && !c->eof)
        return;
    c->finish_started = true;
    if (!uv_is_closing((uv_handle_t *)&c->idle))
        uv_close((uv_handle_t *)&c->idle, idle_closed);
    tsb_stream_finish(&c->s, stream_closed);
}

/* A refusal that closes the connection: answered in order after what is already in flight. */
static void conn_fail(struct conn *c, enum tsb_nack code, const char *reason)
{
    if (c->ending && c->tail != NULL && c->tail->closing)
        return; /* one closing reply is enough */
    tsb_info("ingest: %s: closing with %s: %s", c->peer, tsb_nack_name(code), reason);
    struct req *r = req_new(c, 0);
    req_nack(r, code, true, "%s", reason);
    c->ending = true;
    tsb_stream_want_read(&c->s, false);
    conn_flush(c);
}

static void count_reply(const struct conn *c, const struct req *r)
{
    if (r->reply == TSB_FT_NACK)
        tsb_metrics_nack(r->nack);
    if (r->submit && r->reply == TSB_FT_ACK)
        tsb_metrics_acked(c->metrics_slot, uv_hrtime() - r->submit_ns);
    else if (r->submit)
        tsb_metrics_refused(c->metrics_slot, r->nack);
}

static void conn_flush(struct conn *c)
{
    bool popped = false;
    while (c->head != NULL && c->head->ready) {
        struct req *r = c->head;
        c->head = r->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->inflight--;
        popped = true;
        count_reply(c, r);
        if (!c->stream_closed && !c->finish_started && encode_reply(c, r) != 0)
            tsb_error("ingest: %s: cannot encode a reply: %s", c->peer, tsb_err_detail());
        req_free(r);
    }
    if (c->scratch.len > 0) {
        if (!c->stream_closed && !c->finish_started &&
            tsb_stream_write(&c->s, c->scratch.p, c->scratch.len) != 0)
            tsb_debug("ingest: %s: reply not sent: %s", c->peer, tsb_err_detail());
        tsb_buf_reset(&c->scratch);
    }
    if (c->stream_closed) {
        conn_free_if_done(c);
        return;
    }
    if (popped && !c->ending)
        conn_process(c);
    conn_maybe_end(c);
}

/* ---- request handlers ---------------------------------------------------------------------- */

static void entry_done(struct tsb_writer_entry *e)
{
    struct req *r = (struct req *)((char *)e - offsetof(struct req, we));
    struct conn *c = r->c;
    switch (e->status) {
    case 0:
        r->reply = TSB_FT_ACK;
        r->ready = true;
        break;
    case TSB_EDURABLE:
        req_nack(r, TSB_NACK_ARCHIVE_FAILED, true,
                 "the archive could not be written; nothing was stored; tsbagd is stopping");
        c->ending = true;
        break;
    case TSB_EBUSY:
    case TSB_ESTORE:
        req_nack(r, TSB_NACK_BUSY, false, "the archive refused the write (%s); nothing stored",
                 tsb_strerror(e->status));
        break;
    default:
        req_nack(r, TSB_NACK_SHUTTING_DOWN, true, "not stored: %s", tsb_strerror(e->status));
        c->ending = true;
        break;
    }
    conn_flush(c);
}

static int copy_field(uint8_t **p, struct tsb_slice s, const char **out)
{
    if (s.len == 0) {
        *out = NULL;
        return 0;
    }
    memcpy(*p, s.p, s.len);
    (*p)[s.len] = '\0';
    *out = (const char *)*p;
    *p += s.len + 1;
    return 0;
}

static struct req *submit_req(struct conn *c, size_t extra)
{
    struct req *r = req_new(c, extra);
    r->submit = true;
    r->submit_ns = uv_hrtime();
    return r;
}

static void handle_submit(struct conn *c, const struct tsb_frame *f)
{
    struct tsb_ingest *in = c->in;
    struct tsb_submit sub;
    enum tsb_nack nack;
    bool keep = in->cfg->store.store_content && !(f->type == TSB_FT_SUBMIT_HASH);

    char why[TSB_NACK_REASON_MAX];
    tsb_metrics_received(c->metrics_slot);
    if (in->refuse_hook != NULL && in->refuse_hook(in->sender_arg, why, sizeof(why))) {
        req_nack(submit_req(c, 0), TSB_NACK_STAMP_STALLED, false, "%s", why);
        conn_flush(c);
        return;
    }
    if (tsb_frame_parse_submit(f->type, f->body, &in->lim, &sub, &nack) != 0) {
        bool closing = nack == TSB_NACK_MALFORMED;
        if (closing) {
            tsb_metrics_refused(c->metrics_slot, nack); /* conn_fail's NACK is not a SUBMIT's */
            conn_fail(c, nack, tsb_err_detail());
            return;
        }
        struct req *r = submit_req(c, 0);
        req_nack(r, nack, false, "%s", tsb_err_detail());
        conn_flush(c);
        return;
    }
    size_t extra = sub.format.len + 1 + sub.client_ref.len + 1 + (keep ? sub.entry.len : 0);
    struct req *r = submit_req(c, extra);
    r->received_ms = tsb_now_ms();
    if (sub.has_digest) {
        memcpy(r->digest, sub.digest, TSB_SHA256_LEN);
    } else if (tsb_hasher_digest(in->hasher, sub.entry.p, sub.entry.len, r->digest) != 0) {
        req_nack(r, TSB_NACK_MALFORMED, true, "cannot hash the entry: %s", tsb_err_detail());
        c->ending = true;
        conn_flush(c);
        return;
    }
    uint8_t *p = r->extra;
    copy_field(&p, sub.format, &r->we.in.format_id);
    copy_field(&p, sub.client_ref, &r->we.in.client_ref);
    if (keep) {
        memcpy(p, sub.entry.p, sub.entry.len);
        r->we.in.content = p;
        r->we.in.content_len = sub.entry.len;
    }
    memcpy(r->we.in.digest, r->digest, TSB_SHA256_LEN);
    r->we.in.source = c->source;
    r->we.in.received_ms = r->received_ms;
    r->we.done = entry_done;
    tsb_writer_submit_entry(in->w, &r->we);
}

static const struct allow *allow_find(const struct tsb_ingest *in, const char *subject)
{
    for (size_t i = 0; i < in->nallow; i++)
        if (strcmp(in->allow[i].subject, subject) == 0)
            return &in->allow[i];
    return NULL;
}

static void handle_hello(struct conn *c, const struct tsb_frame *f)
{
    struct tsb_ingest *in = c->in;
    struct tsb_hello h;
    enum tsb_nack nack;

    if (tsb_frame_parse_hello(f->body, &in->lim, &h, &nack) != 0) {
        conn_fail(c, nack, tsb_err_detail());
        return;
    }
    char given[TSB_SOURCE_MAX_PROTO + 1];
    memcpy(given, h.source.p, h.source.len);
    given[h.source.len] = '\0';

    if (c->s.tls != NULL && in->has_allowlist) {
        char subject[SUBJECT_MAX];
        if (tsb_tls_peer_subject(c->s.tls, subject, sizeof(subject)) != 0) {
            conn_fail(c, TSB_NACK_SOURCE_REFUSED, "no client certificate subject");
            return;
        }
        const struct allow *a = allow_find(in, subject);
        if (a == NULL) {
            char why[TSB_NACK_REASON_MAX];
            snprintf(why, sizeof(why), "certificate subject '%.400s' is not in the allow-list",
                     subject);
            conn_fail(c, TSB_NACK_SOURCE_REFUSED, why);
            return;
        }
        if (given[0] != '\0' && strcmp(given, a->source) != 0) {
            char why[TSB_NACK_REASON_MAX];
            snprintf(why, sizeof(why),
                     "source '%s' does not match '%s', the source of this certificate", given,
                     a->source);
            conn_fail(c, TSB_NACK_SOURCE_REFUSED, why);
            return;
        }
        snprintf(c->source, sizeof(c->source), "%s", a->source);
    } else {
        if (given[0] == '\0') {
            conn_fail(c, TSB_NACK_FIELD_INVALID, "HELLO must name the source system");
            return;
        }
        snprintf(c->source, sizeof(c->source), "%s", given);
    }
    char why[256];
    if (over_budget(c, STAGE_SERVING, why, sizeof(why))) {
        conn_fail(c, TSB_NACK_TOO_MANY_CONNS, why);
        return;
    }
    set_stage(c, STAGE_SERVING);
    enum tsb_metrics_listener kind = !c->is_tcp         ? TSB_METRICS_UNIX
                                     : c->s.tls != NULL ? TSB_METRICS_TLS
                                                        : TSB_METRICS_TCP;
    c->metrics_slot = tsb_metrics_source(kind, c->s.tls && in->has_allowlist ? c->source : "");
    uv_timer_start(&c->idle, idle_cb, (uint64_t)in->cfg->ingest.idle_timeout_ms, 0);
    tsb_debug("ingest: %s: source %s", c->peer, c->source);
    struct req *r = req_new(c, 0);
    r->reply = TSB_FT_HELLO_OK;
    r->ready = true;
    conn_flush(c);
}

/* 0 when no sealer runs here: nothing will be sealed until one does. */
static int64_t next_seal_ms(const struct tsb_ingest *in, int64_t now)
{
    if (in->seal_hook == NULL)
        return 0;
    return tsb_next_boundary_ms(now, in->cfg->sealer.interval_s * 1000);
}

static int status_job(struct tsb_store *s, void *arg)
{
    struct req *r = arg;
    return tsb_store_stats(s, &r->stats);
}

static void status_done(void *arg, int status)
{
    struct req *r = arg;
    struct conn *c = r->c;
    struct tsb_ingest *in = c->in;
    if (status != 0) {
        req_nack(r, status == TSB_EDURABLE ? TSB_NACK_ARCHIVE_FAILED : TSB_NACK_BUSY,
                 status == TSB_EDURABLE, "status unavailable: %s", tsb_strerror(status));
    } else {
        int64_t now = tsb_now_ms();
        int64_t alarm_ms = in->cfg->sealer.unstamped_alarm_s * 1000;
        /* the same rule as the sender's alarm (sender.c), so that tsbag status agrees with it */
        bool alarm =
            r->stats.oldest_unstamped_ms != 0 && now - r->stats.oldest_unstamped_ms > alarm_ms;
        r->st = (struct tsb_status){
            .staged = r->stats.staged,
            .last_ref = r->stats.last_ref,
            .last_seq = r->stats.last_seq,
            .next_seal_ms = next_seal_ms(in, now),
            .now_ms = now,
            .entries = r->stats.entries,
            .oldest_unstamped_ms = r->stats.oldest_unstamped_ms,
            .writer_queue = (uint32_t)tsb_writer_pending(in->w),
            .connections = tsb_ingest_connections(in),
            .flags = (in->seal_hook ? TSB_STATUS_SEALER_RUNNING : 0) |
                     (in->stopping ? TSB_STATUS_SHUTTING_DOWN : 0) | (alarm ? TSB_STATUS_ALARM : 0),
            .has_ext = true,
            .alarm_ms = alarm_ms,
            .seal_interval_ms = in->seal_hook ? in->cfg->sealer.interval_s * 1000 : 0,
        };
        r->reply = TSB_FT_STATUS_OK;
        r->ready = true;
    }
    conn_flush(c);
}

static void seal_done(void *arg, int status, const struct tsb_seal_result *res, const char *reason)
{
    struct req *r = arg;
    if (status != 0) {
        req_nack(r, TSB_NACK_SEAL_FAILED, false, "seal failed: %s",
                 reason ? reason : tsb_strerror(status));
    } else {
        r->seal = (struct tsb_seal_ok){.first_seq = res->first_seq,
                                       .bags = (uint32_t)res->bags,
                                       .entries = (int64_t)res->entries};
        r->reply = TSB_FT_SEAL_OK;
        r->ready = true;
    }
    conn_flush(r->c);
}

/* RETRY (tsbag retry): operator action, Unix socket only like SEAL; answered right away. */
static void handle_retry(struct conn *c, struct req *r, const struct tsb_frame *f)
{
    struct tsb_ingest *in = c->in;
    int64_t seq = 0;
    if (c->is_tcp)
        req_nack(r, TSB_NACK_FORBIDDEN, false, "RETRY is accepted on the Unix socket only");
    else if (in->retry_hook == NULL)
        req_nack(r, TSB_NACK_SEALER_DOWN, false, "no sender runs in this tsbagd");
    else if (tsb_frame_parse_retry(f->body, &seq) != 0)
        req_nack(r, TSB_NACK_MALFORMED, false, "%s", tsb_err_detail());
    else if (in->retry_hook(in->sender_arg, seq, &r->retried) != 0)
        req_nack(r, TSB_NACK_FIELD_INVALID, false, "%s", tsb_err_detail());
    else {
        r->reply = TSB_FT_RETRY_OK;
        r->ready = true;
    }
}

static void handle_frame(struct conn *c, const struct tsb_frame *f)
{
    struct tsb_ingest *in = c->in;
    struct req *r;

    c->last_frame_ms = uv_now(in->loop);
    if (c->stage != STAGE_SERVING) {
        if (f->type != TSB_FT_HELLO) {
            conn_fail(c, TSB_NACK_HELLO_REQUIRED, "the first frame must be HELLO");
            return;
        }
        handle_hello(c, f);
        return;
    }
    switch (f->type) {
    case TSB_FT_SUBMIT:
    case TSB_FT_SUBMIT_HASH:
        handle_submit(c, f);
        return;
    case TSB_FT_HELLO:
        conn_fail(c, TSB_NACK_HELLO_REQUIRED, "HELLO was already received on this connection");
        return;
    case TSB_FT_PING:
        if (f->body.len > TSB_PING_MAX) {
            conn_fail(c, TSB_NACK_MALFORMED, "PING payload longer than 256 bytes");
            return;
        }
        r = req_new(c, f->body.len);
        memcpy(r->extra, f->body.p, f->body.len);
        r->reply = TSB_FT_PONG;
        r->ready = true;
        break;
    case TSB_FT_STATUS:
        r = req_new(c, 0);
        if (tsb_writer_submit_job(in->w, status_job, status_done, r) != 0)
            req_nack(r, TSB_NACK_SHUTTING_DOWN, true, "tsbagd is stopping");
        break;
    case TSB_FT_SEAL:
        r = req_new(c, 0);
        if (c->is_tcp)
            req_nack(r, TSB_NACK_FORBIDDEN, false, "SEAL is accepted on the Unix socket only");
        else if (in->seal_hook == NULL)
            req_nack(r, TSB_NACK_SEALER_DOWN, false, "sealer not running in this tsbagd");
        else
            in->seal_hook(in->seal_arg, seal_done, r);
        break;
    case TSB_FT_RETRY:
        r = req_new(c, 0);
        handle_retry(c, r, f);
        break;
    default:
        r = req_new(c, 0);
        req_nack(r, TSB_NACK_UNKNOWN_TYPE, false, "unknown request type 0x%02x", f->type);
        break;
    }
    conn_flush(c);
}

/* ---- reading ------------------------------------------------------------------------------- */

static bool writer_full(const struct tsb_ingest *in)
{
    return tsb_writer_pending(in->w) >= (size_t)in->cfg->writer.queue_max;
}

static void conn_process(struct conn *c)
{
    struct tsb_ingest *in = c->in;
    if (c->processing || c->stream_closed)
        return;
    c->processing = true;
    bool paused = false;
    while (!c->ending && !c->finish_started) {
        if (c->inflight >= (size_t)in->cfg->ingest.max_inflight ||
            tsb_stream_queued(&c->s) > OUT_CAP) {
            paused = true;
            break;
        }
        if (writer_full(in)) {
            c->blocked = true;
            paused = true;
            break;
        }
        struct tsb_slice before = tsb_stream_input(&c->s);
        if (before.len == 0)
            break;
        struct tsb_slice rest = before;
        struct tsb_frame f;
        int r = tsb_frame_decode(&c->dec, &rest, &f);
        size_t used = before.len - rest.len;
        if (r < 0) {
            tsb_stream_consume(&c->s, used);
            conn_fail(c, c->dec.nack, tsb_err_detail());
            break;
        }
        if (r == 1)
            handle_frame(c, &f); /* before consume: f may point into the input */
        tsb_stream_consume(&c->s, used);
    }
    if (!c->stream_closed)
        tsb_stream_want_read(&c->s, !paused && !c->ending && !c->eof && !in->stopping);
    c->processing = false;
    if (c->eof && !c->ending && !paused && tsb_stream_input(&c->s).len == 0 &&
        tsb_frame_decoder_midframe(&c->dec)) {
        conn_fail(c, TSB_NACK_TRUNCATED, "the connection was half-closed in the middle of a frame");
        return;
    }
    conn_maybe_end(c);
}

static void on_data(struct tsb_stream *s)
{
    conn_process(s->data);
}

static void on_end(struct tsb_stream *s, int status)
{
    struct conn *c = s->data;
    if (status == TSB_ECLOSED) {
        /* half-close: answer what was sent, then finish */
        c->eof = true;
        conn_process(c);
        return;
    }
    tsb_info("ingest: %s: %s", c->peer, tsb_err_detail());
    conn_abort(c);
}

static void on_drain(struct tsb_stream *s)
{
    struct conn *c = s->data;
    if (!c->ending)
        conn_process(c);
}

static void idle_cb(uv_timer_t *t)
{
    struct conn *c = t->data;
    uint64_t now = uv_now(c->in->loop);
    uint64_t limit = (uint64_t)c->in->cfg->ingest.idle_timeout_ms;
    if (c->ending || c->finish_started)
        return;
    if (c->stage != STAGE_SERVING) {
        uint64_t hs = (uint64_t)c->in->cfg->ingest.handshake_timeout_ms;
        if (now - c->accepted_ms < hs) {
            uv_timer_start(&c->idle, idle_cb, hs - (now - c->accepted_ms), 0);
            return;
        }
        if (c->s.tls != NULL && !tsb_tls_handshake_done(c->s.tls)) {
            /* no TLS session to carry a NACK: the peer sees the connection close */
            tsb_info("ingest: %s: closed: TLS handshake not done within "
                     "ingest.handshake_timeout_ms",
                     c->peer);
            conn_abort(c);
            return;
        }
        conn_fail(c, TSB_NACK_IDLE_TIMEOUT, "no HELLO within ingest.handshake_timeout_ms");
        return;
    }
    if (c->inflight == 0 && now - c->last_frame_ms >= limit) {
        conn_fail(c, TSB_NACK_IDLE_TIMEOUT, "no request for ingest.idle_timeout_ms");
        return;
    }
    uint64_t due = c->inflight > 0 ? limit : limit - (now - c->last_frame_ms);
    uv_timer_start(&c->idle, idle_cb, due, 0);
}

/* ---- listeners ----------------------------------------------------------------------------- */

static void peer_name(struct conn *c)
{
    if (!c->is_tcp) {
        snprintf(c->addr, sizeof(c->addr), "unix");
        snprintf(c->peer, sizeof(c->peer), "unix#%p", (void *)c);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->s.h.tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    snprintf(c->addr, sizeof(c->addr), "%s", host);
    snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tsb_ingest *in = server->data;
    if (status < 0) {
        tsb_warn("ingest: accept: %s", uv_strerror(status));
        return;
    }
    bool tcp = server == (uv_stream_t *)&in->tcp_srv;
    struct conn *c = tsb_calloc(1, sizeof(*c));
    c->in = in;
    c->is_tcp = tcp;
    if (tsb_stream_init(in->loop, &c->s, tcp) != 0) {
        tsb_error("ingest: %s", tsb_err_detail());
        free(c);
        return;
    }
    c->s.data = c;
    uv_timer_init(in->loop, &c->idle);
    c->idle.data = c;
    tsb_frame_decoder_init(&c->dec, (size_t)in->cfg->ingest.max_frame);
    tsb_buf_init(&c->scratch, SIZE_MAX / 2);
    c->next = in->conns;
    if (in->conns != NULL)
        in->conns->prev = c;
    in->conns = c;
    c->last_frame_ms = c->accepted_ms = uv_now(in->loop);

    if (tsb_stream_accept(server, &c->s) != 0) {
        tsb_warn("ingest: %s", tsb_err_detail());
        conn_abort(c);
        return;
    }
    peer_name(c);
    char why[256];
    bool tls_listener = tcp && in->tls != NULL;
    bool refuse = in->stopping || over_budget(c, STAGE_PENDING, why, sizeof(why));
    if (in->stopping)
        snprintf(why, sizeof(why), "tsbagd is stopping");
    /* Before TLS nothing readable can be sent, and a refusal must cost nothing: close at once.
     * Plaintext peers are told why, while that costs at most max_pending lingering sockets. */
    if (refuse &&
        (tls_listener || in->count[tcp][STAGE_REFUSING] >= (unsigned)in->cfg->ingest.max_pending)) {
        tsb_info("ingest: %s: closed at accept: %s", c->peer, why);
        conn_abort(c);
        return;
    }
    struct tsb_tls *tls = NULL;
    if (!refuse && tls_listener && tsb_tls_new(in->tls, NULL, &tls) != 0) {
        tsb_error("ingest: %s: %s", c->peer, tsb_err_detail());
        conn_abort(c);
        return;
    }
    if (tsb_stream_start(&c->s, tls, on_data, on_end) != 0) {
        tsb_warn("ingest: %s: %s", c->peer, tsb_err_detail());
        conn_abort(c);
        return;
    }
    tsb_stream_on_drain(&c->s, on_drain);
    if (refuse) {
        set_stage(c, STAGE_REFUSING);
        conn_fail(c, in->stopping ? TSB_NACK_SHUTTING_DOWN : TSB_NACK_TOO_MANY_CONNS, why);
        return;
    }
    set_stage(c, STAGE_PENDING);
    tsb_debug("ingest: %s: connected", c->peer);
    uv_timer_start(&c->idle, idle_cb, (uint64_t)in->cfg->ingest.handshake_timeout_ms, 0);
}

int tsb_ingest_parse_listen(const char *option, const char *spec, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec || colon[1] == '\0')
        return tsb_err(TSB_ECONFIG, "%s '%s' is not host:port", option, spec);
    size_t hl = (size_t)(colon - spec);
    const char *h = spec;
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
        h = spec + 1;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        return tsb_err(TSB_ECONFIG, "%s host too long", option);
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port < 0 || port > 65535)
        return tsb_err(TSB_ECONFIG, "%s port '%s' is not 0-65535", option, colon + 1);
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) != 0)
        return tsb_err(TSB_ECONFIG, "%s host '%s' is not an IPv4 or IPv6 address", option, host);
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int load_allowlist(struct tsb_ingest *in, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int lineno = 0, r = 0;
    if (f == NULL)
        return tsb_err(TSB_ECONFIG, "%s: cannot open: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char *l = trim(line);
        if (*l == '\0' || *l == '#')
            continue;
        char *eq = strrchr(l, '=');
        if (eq == NULL) {
            r = tsb_err(TSB_ECONFIG, "%s:%d: expected 'subject = source'", path, lineno);
            break;
        }
        *eq = '\0';
        char *subject = trim(l), *source = trim(eq + 1);
        struct tsb_slice src = {(const uint8_t *)source, strlen(source)};
        if (*subject == '\0' || !tsb_frame_name_ok(src, in->lim.max_source)) {
            r = tsb_err(TSB_ECONFIG,
                        "%s:%d: empty subject or source not 1-%zu printable ASCII characters", path,
                        lineno, in->lim.max_source);
            break;
        }
        in->allow = tsb_realloc(in->allow, (in->nallow + 1) * sizeof(*in->allow));
        in->allow[in->nallow].subject = tsb_strdup(subject);
        in->allow[in->nallow].source = tsb_strdup(source);
        in->nallow++;
    }
    fclose(f);
    in->has_allowlist = r == 0;
    return r;
}

int tsb_ingest_write_port_file(const struct tsb_config *cfg, const char *name, int port)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", cfg->general.state_dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return tsb_err(TSB_EIO, "%s: %s", tmp, strerror(errno));
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return tsb_err(TSB_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

static int listen_unix(struct tsb_ingest *in)
{
    const char *path = in->cfg->ingest.unix_socket;
    struct stat st;
    int e;

    if (strlen(path) >= 100)
        return tsb_err(TSB_ECONFIG, "ingest.unix_socket '%s' is longer than a socket path may be",
                       path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return tsb_err(TSB_ECONFIG, "%s exists and is not a socket", path);
        unlink(path); /* a stale socket: main.c holds <state_dir>/tsbagd.lock, no twin uses it */
    }
    uv_pipe_init(in->loop, &in->unix_srv, 0);
    in->unix_srv.data = in;
    in->has_unix = true;
    in->listeners_open++;
    mode_t old = umask(0177); /* no window in which the socket is more open than configured */
    e = uv_pipe_bind(&in->unix_srv, path);
    umask(old);
    if (e != 0)
        return tsb_err(TSB_EIO, "%s: bind: %s", path, uv_strerror(e));
    if (chmod(path, (mode_t)in->cfg->ingest.unix_mode) != 0)
        return tsb_err(TSB_EIO, "%s: chmod: %s", path, strerror(errno));
    if ((e = uv_listen((uv_stream_t *)&in->unix_srv, 511, on_connection)) != 0)
        return tsb_err(TSB_EIO, "%s: listen: %s", path, uv_strerror(e));
    tsb_info("ingest: listening on unix %s (mode %04" PRIo64 ")", path, in->cfg->ingest.unix_mode);
    return 0;
}

static int listen_tcp(struct tsb_ingest *in)
{
    const struct tsb_config *cfg = in->cfg;
    struct sockaddr_storage ss;
    int e, r;

    if ((r = tsb_ingest_parse_listen("ingest.tcp_listen", cfg->ingest.tcp_listen, &ss)) != 0)
        return r;
    if (cfg->ingest.tls) {
        struct tsb_tls_policy pol = {cfg->ingest.tls_ciphers, cfg->ingest.tls_ciphersuites};
        if ((r = tsb_tls_ctx_new_server(cfg->ingest.tls_cert, cfg->ingest.tls_key,
                                        cfg->ingest.tls_client_ca, &pol, &in->tls)) != 0)
            return r;
        if (cfg->ingest.tls_allowlist[0] != '\0' &&
            (r = load_allowlist(in, cfg->ingest.tls_allowlist)) != 0)
            return r;
    }
    uv_tcp_init(in->loop, &in->tcp_srv);
    in->tcp_srv.data = in;
    in->has_tcp = true;
    in->listeners_open++;
    if ((e = uv_tcp_bind(&in->tcp_srv, (struct sockaddr *)&ss, 0)) != 0 ||
        (e = uv_listen((uv_stream_t *)&in->tcp_srv, 511, on_connection)) != 0)
        return tsb_err(TSB_EIO, "ingest.tcp_listen %s: %s", cfg->ingest.tcp_listen, uv_strerror(e));
    int len = sizeof(ss);
    uv_tcp_getsockname(&in->tcp_srv, (struct sockaddr *)&ss, &len);
    in->tcp_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                 : ((struct sockaddr_in6 *)&ss)->sin6_port);
    if ((r = tsb_ingest_write_port_file(cfg, "tsbagd.port", in->tcp_port)) != 0)
        return r;
    tsb_info("ingest: listening on tcp port %d (%s%s)", in->tcp_port,
             cfg->ingest.tls ? "TLS, client certificates required" : "plain, no TLS",
             in->has_allowlist ? ", allow-list" : "");
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    struct tsb_ingest *in = h->data;
    in->listeners_open--;
    maybe_stopped(in);
}

static void close_listeners(struct tsb_ingest *in)
{
    if (in->has_unix && !uv_is_closing((uv_handle_t *)&in->unix_srv)) {
        uv_close((uv_handle_t *)&in->unix_srv, listener_closed);
        unlink(in->cfg->ingest.unix_socket);
    }
    if (in->has_tcp && !uv_is_closing((uv_handle_t *)&in->tcp_srv))
        uv_close((uv_handle_t *)&in->tcp_srv, listener_closed);
}

static void free_allow(struct allow *allow, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(allow[i].subject);
        free(allow[i].source);
    }
    free(allow);
}

static void free_ingest(struct tsb_ingest *in)
{
    free_allow(in->allow, in->nallow);
    tsb_tls_ctx_free(in->tls);
    tsb_hasher_free(in->hasher);
    free(in);
}

static void maybe_stopped(struct tsb_ingest *in)
{
    if (!in->stopping || in->listeners_open > 0 || in->conns != NULL || in->stopped == NULL)
        return;
    void (*stopped)(void *) = in->stopped;
    void *arg = in->stopped_arg;
    in->stopped = NULL;
    free_ingest(in);
    stopped(arg);
}

static void start_failed_closed(void *arg)
{
    (void)arg;
}

int tsb_ingest_start(uv_loop_t *loop, const struct tsb_config *cfg, struct tsb_writer *w,
                     struct tsb_ingest **out)
{
    struct tsb_ingest *in = tsb_calloc(1, sizeof(*in));
    int r;

    in->loop = loop;
    in->cfg = cfg;
    in->w = w;
    in->hasher = tsb_hasher_new((size_t)cfg->ingest.max_frame);
    in->lim.max_source = (size_t)cfg->ingest.max_source_len;
    in->lim.max_client_ref = (size_t)cfg->ingest.max_client_ref;
    if ((r = listen_unix(in)) != 0)
        goto fail;
    if (cfg->ingest.tcp_listen[0] != '\0' && (r = listen_tcp(in)) != 0)
        goto fail;
    *out = in;
    return 0;
fail:
    /* the listeners close asynchronously; the loop run that follows frees the ingest */
    in->stopping = true;
    in->stopped = start_failed_closed;
    close_listeners(in);
    if (in->listeners_open == 0)
        maybe_stopped(in);
    return r;
}

void tsb_ingest_set_seal_hook(struct tsb_ingest *in, tsb_seal_hook_fn fn, void *arg)
{
    in->seal_hook = fn;
    in->seal_arg = arg;
}

void tsb_ingest_set_sender_hooks(struct tsb_ingest *in, tsb_retry_hook_fn retry,
                                 tsb_refuse_hook_fn refuse, void *arg)
{
    in->retry_hook = retry;
    in->refuse_hook = refuse;
    in->sender_arg = arg;
}

int tsb_ingest_reload_allowlist(struct tsb_ingest *in, const char *path)
{
    struct allow *old = in->allow;
    size_t nold = in->nallow;
    bool had = in->has_allowlist;
    in->allow = NULL;
    in->nallow = 0;
    in->has_allowlist = false;
    int r = path[0] != '\0' ? load_allowlist(in, path) : 0;
    if (r != 0) {
        free_allow(in->allow, in->nallow);
        in->allow = old;
        in->nallow = nold;
        in->has_allowlist = had;
        return r;
    }
    free_allow(old, nold);
    return 0;
}

void tsb_ingest_writer_progress(struct tsb_ingest *in)
{
    if (writer_full(in))
        return;
    for (struct conn *c = in->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->blocked) {
            c->blocked = false;
            conn_process(c);
        }
    }
}

int tsb_ingest_tcp_port(const struct tsb_ingest *in)
{
    return in->tcp_port;
}

unsigned tsb_ingest_connections(const struct tsb_ingest *in)
{
    unsigned n = 0;
    for (int l = 0; l < 2; l++)
        for (int st = STAGE_PENDING; st < STAGE_COUNT; st++)
            n += in->count[l][st];
    return n;
}

void tsb_ingest_stop(struct tsb_ingest *in, bool archive_failed, void (*stopped)(void *arg),
                     void *arg)
{
    in->stopping = true;
    in->archive_failed = archive_failed;
    in->stopped = stopped;
    in->stopped_arg = arg;
    close_listeners(in);
    tsb_info("ingest: stopping: %u connection(s) finish their requests in flight",
             tsb_ingest_connections(in));
    for (struct conn *c = in->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->stream_closed || c->finish_started)
            continue;
        if (c->s.tls != NULL && !tsb_tls_handshake_done(c->s.tls)) {
            conn_abort(c); /* nothing can be said before TLS is up */
            continue;
        }
        /* after the replies to every request taken in: SHUTTING_DOWN (ARCHIVE_FAILED when that
         * is why) answers the first request not taken in (docs/protocol.md section 3) and ends
         * the connection */
        if (archive_failed)
            conn_fail(c, TSB_NACK_ARCHIVE_FAILED,
                      "the archive could not be written; tsbagd is stopping; requests after the "
                      "last reply were not taken in");
        else
            conn_fail(c, TSB_NACK_SHUTTING_DOWN,
                      "tsbagd is stopping: requests after the last reply were not taken in");
    }
    maybe_stopped(in);
}
