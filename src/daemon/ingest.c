/*
 * ingest: connections, their request FIFOs and the byte budget they share.
 *
 * Every request read from a connection becomes a `struct req` appended to that connection's FIFO
 * (ingest_req.c says what each request does). A completion only marks its req ready and
 * schedules the connection; one deferred pass (a uv_idle_t, run_pass) then writes every ready
 * reply at the FIFO head of each scheduled connection in one write and reads on. Replies leave
 * strictly from the head, so they go out in request order however the completions interleave,
 * and no completion ever writes or reads from inside another callback.
 *
 * A connection's life is enum conn_state, changed only by conn_set_state. Its object lives until
 * its handles are closed AND its FIFO is empty, so a writer completion always finds it.
 *
 * Memory: ingest.buffer_bytes bounds what all connections buffer (unread input, requests waiting
 * for the writer, replies not yet sent). A connection takes in another request only while the
 * total is under the budget and its own bytes under its share (budget / connections), except
 * that a connection with nothing in flight always may: a client that does not read its replies
 * holds at most its share, and every other client keeps being served.
 *
 * Accepting, admission budgets, listeners, start and stop: ingest_accept.c. What each request
 * does: ingest_req.c. docs/internals/INGEST.md draws the whole.
 */
#include "ingest.h"

#include "ingest_conn.h"

#include "err.h"
#include "log.h"
#include "metrics.h"
#include "mem.h"
#include "tls.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void conn_process(struct conn *c);
static void idle_cb(uv_timer_t *t);

static const char *const state_names[] = {"accepted", "serving", "draining", "finishing", "closed"};

/* ---- scheduling and the byte budget -------------------------------------------------------- */

static void run_pass(uv_idle_t *h);

static void schedule(struct conn *c)
{
    struct tsb_ingest *in = c->in;
    if (c->scheduled)
        return;
    c->scheduled = true;
    c->next_run = NULL;
    if (in->run_tail != NULL)
        in->run_tail->next_run = c;
    else
        in->run_head = c;
    in->run_tail = c;
    uv_idle_start(&in->run, run_pass);
}

static void wake_parked(struct tsb_ingest *in)
{
    for (struct conn *c = in->conns; c != NULL; c = c->next)
        if (c->parked) {
            c->parked = false;
            schedule(c);
        }
}

static size_t conn_bytes(const struct conn *c)
{
    return c->held + tsb_stream_queued(&c->s) + tsb_stream_input(&c->s).len + c->dec.frame.len;
}

/* Brings c's part of in->buffered up to date; wakes the parked when the total falls under the
 * budget. */
static void account(struct conn *c, size_t now)
{
    struct tsb_ingest *in = c->in;
    size_t budget = (size_t)in->cfg->ingest.buffer_bytes;
    bool was_full = in->buffered >= budget;
    in->buffered = in->buffered - c->charged + now;
    c->charged = now;
    if (in->buffered > in->buffered_peak)
        in->buffered_peak = in->buffered;
    if (was_full && in->buffered < budget)
        wake_parked(in);
}

/* Whether c must wait for buffer space before it takes in another request. */
static bool over_share(const struct conn *c)
{
    const struct tsb_ingest *in = c->in;
    if (c->head == NULL && tsb_stream_queued(&c->s) == 0)
        return false; /* nothing of its own is buffered: one request at a time always goes */
    size_t budget = (size_t)in->cfg->ingest.buffer_bytes;
    return in->buffered >= budget || conn_bytes(c) >= budget / in->nconns;
}

static bool writer_full(const struct tsb_ingest *in)
{
    /* the next request's size is not known before it is parsed: ask for the smallest entry */
    return !tsb_writer_has_room(in->w, TSB_WRITER_ENTRY_OVERHEAD);
}

/* ---- requests ------------------------------------------------------------------------------ */

struct req *tsb_ingest_req_new(struct conn *c, size_t extra)
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
    c->held += sizeof(*r) + extra;
    return r;
}

static void req_free(struct conn *c, struct req *r)
{
    c->held -= sizeof(*r) + r->extra_len;
    free(r->reason);
    free(r);
}

void tsb_ingest_req_ready(struct req *r)
{
    r->ready = true;
    schedule(r->c);
}

void tsb_ingest_req_nack(struct req *r, enum tsb_nack code, bool closing, const char *fmt, ...)
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
    tsb_ingest_req_ready(r);
}

/* ---- connection states --------------------------------------------------------------------- */

static void conn_set_state(struct conn *c, enum conn_state to);

static void stream_closed(struct tsb_stream *s)
{
    struct conn *c = s->data;
    c->handles--;
    tsb_debug("ingest: %s: closed", c->peer);
    if (c->state == CONN_FINISHING)
        conn_set_state(c, CONN_CLOSED);
    schedule(c); /* drops the replies that can no longer be sent, then frees */
}

static void idle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->handles--;
    schedule(c);
}

/* The one place a connection changes state. Legal moves: ACCEPTED -> SERVING -> DRAINING ->
 * FINISHING -> CLOSED, DRAINING from ACCEPTED too, and CLOSED (abort: close now) from any state
 * before FINISHING; FINISHING ends in CLOSED when the stream reports its close. */
static void conn_set_state(struct conn *c, enum conn_state to)
{
    static const unsigned legal[] = {
        [CONN_ACCEPTED] = 1u << CONN_SERVING | 1u << CONN_DRAINING | 1u << CONN_CLOSED,
        [CONN_SERVING] = 1u << CONN_DRAINING | 1u << CONN_CLOSED,
        [CONN_DRAINING] = 1u << CONN_FINISHING | 1u << CONN_CLOSED,
        [CONN_FINISHING] = 1u << CONN_CLOSED,
        [CONN_CLOSED] = 0,
    };
    enum conn_state from = c->state;
    if ((legal[from] & (1u << to)) == 0) {
        tsb_error("ingest: %s: illegal state change %s -> %s", c->peer, state_names[from],
                  state_names[to]);
        assert(!"illegal connection state change");
        return;
    }
    c->state = to;
    switch (to) {
    case CONN_ACCEPTED:
    case CONN_SERVING:
        break;
    case CONN_DRAINING:
        tsb_stream_want_read(&c->s, false);
        schedule(c); /* finishes at once when nothing is in flight */
        break;
    case CONN_FINISHING:
    case CONN_CLOSED:
        if (!uv_is_closing((uv_handle_t *)&c->idle))
            uv_close((uv_handle_t *)&c->idle, idle_closed);
        if (to == CONN_FINISHING)
            tsb_stream_finish(&c->s, stream_closed);
        else if (from != CONN_FINISHING)
            tsb_stream_close(&c->s, stream_closed);
        schedule(c);
        break;
    }
}

void tsb_ingest_conn_abort(struct conn *c)
{
    if (c->state < CONN_FINISHING)
        conn_set_state(c, CONN_CLOSED);
}

void tsb_ingest_conn_drain(struct conn *c)
{
    if (c->state < CONN_DRAINING)
        conn_set_state(c, CONN_DRAINING);
}

void tsb_ingest_conn_fail(struct conn *c, enum tsb_nack code, const char *reason)
{
    if (c->state >= CONN_FINISHING)
        return;
    if (c->state == CONN_DRAINING && (c->tail == NULL || c->tail->closing))
        return; /* one closing reply is enough; an empty FIFO is finishing already */
    tsb_info("ingest: %s: closing with %s: %s", c->peer, tsb_nack_name(code), reason);
    tsb_ingest_req_nack(tsb_ingest_req_new(c, 0), code, true, "%s", reason);
    tsb_ingest_conn_drain(c);
}

bool tsb_ingest_conn_serve(struct conn *c, char *why, size_t n)
{
    struct tsb_ingest *in = c->in;
    if (tsb_ingest_over_budget(c, STAGE_SERVING, why, n))
        return false;
    tsb_ingest_set_stage(c, STAGE_SERVING);
    conn_set_state(c, CONN_SERVING);
    enum tsb_metrics_listener kind = !c->is_tcp         ? TSB_METRICS_UNIX
                                     : c->s.tls != NULL ? TSB_METRICS_TLS
                                                        : TSB_METRICS_TCP;
    c->metrics_slot = tsb_metrics_source(kind, c->s.tls && in->allow ? c->source : "");
    tsb_ingest_conn_arm(c, (uint64_t)in->cfg->ingest.idle_timeout_ms);
    return true;
}

static void conn_free(struct conn *c)
{
    struct tsb_ingest *in = c->in;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        in->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    in->nconns--;
    tsb_ingest_set_stage(c, STAGE_NONE);
    account(c, 0);
    tsb_frame_decoder_cleanup(&c->dec);
    tsb_buf_cleanup(&c->scratch);
    free(c);
    wake_parked(in); /* the shares grew */
    tsb_ingest_maybe_stopped(in);
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

/* Writes every ready reply at the head of the FIFO in one write (drops them once the stream is
 * finishing or closed: the peer is gone or was told). */
static void conn_flush(struct conn *c)
{
    bool send = c->state < CONN_FINISHING;
    while (c->head != NULL && c->head->ready) {
        struct req *r = c->head;
        c->head = r->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->inflight--;
        count_reply(c, r);
        if (send && tsb_ingest_encode_reply(c, r, &c->scratch) != 0)
            tsb_error("ingest: %s: cannot encode a reply: %s", c->peer, tsb_err_detail());
        req_free(c, r);
    }
    if (c->scratch.len > 0) {
        if (send && tsb_stream_write(&c->s, c->scratch.p, c->scratch.len) != 0)
            tsb_debug("ingest: %s: reply not sent: %s", c->peer, tsb_err_detail());
        tsb_buf_reset(&c->scratch);
    }
}

/* One turn of a scheduled connection: replies out, input in, the end when it is due. */
static void conn_run(struct conn *c)
{
    conn_flush(c);
    if (c->state <= CONN_SERVING)
        conn_process(c);
    if (c->state == CONN_DRAINING && c->head == NULL)
        conn_set_state(c, CONN_FINISHING);
    if (c->state == CONN_CLOSED && c->handles == 0 && c->head == NULL) {
        conn_free(c);
        return;
    }
    account(c, conn_bytes(c));
}

static void run_pass(uv_idle_t *h)
{
    struct tsb_ingest *in = h->data;
    struct conn *c = in->run_head;
    in->run_head = in->run_tail = NULL;
    uv_idle_stop(h);
    while (c != NULL) {
        struct conn *next = c->next_run; /* conn_run may free c or schedule it again */
        c->scheduled = false;
        conn_run(c);
        c = next;
    }
}

/* ---- reading ------------------------------------------------------------------------------- */

/* Parses the buffered input into requests while the connection may take more in. */
static void conn_process(struct conn *c)
{
    struct tsb_ingest *in = c->in;
    bool paused = false;
    while (c->state <= CONN_SERVING) {
        if (c->inflight >= (size_t)in->cfg->ingest.max_inflight) {
            paused = true; /* its own replies resume it */
            break;
        }
        if (writer_full(in) || over_share(c)) {
            c->parked = paused = true;
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
            tsb_ingest_conn_fail(c, c->dec.nack, tsb_err_detail());
            break;
        }
        if (r == 1)
            tsb_ingest_handle_frame(c, &f); /* before consume: f may point into the input */
        tsb_stream_consume(&c->s, used);    /* may end the stream (TLS failure) */
        account(c, conn_bytes(c));
    }
    account(c, conn_bytes(c));
    if (c->state > CONN_SERVING)
        return;
    tsb_stream_want_read(&c->s, !paused && !c->eof && !in->stopping);
    if (c->eof && !paused && tsb_stream_input(&c->s).len == 0) {
        if (tsb_frame_decoder_midframe(&c->dec))
            tsb_ingest_conn_fail(c, TSB_NACK_TRUNCATED,
                                 "the connection was half-closed in the middle of a frame");
        else
            tsb_ingest_conn_drain(c); /* half-close: answer what was sent, then finish */
    }
}

static void on_data(struct tsb_stream *s)
{
    schedule(s->data);
}

static void on_end(struct tsb_stream *s, int status)
{
    struct conn *c = s->data;
    if (status == TSB_ECLOSED) {
        c->eof = true; /* what is buffered is still answered, then the connection finishes */
        schedule(c);
        return;
    }
    tsb_info("ingest: %s: %s", c->peer, tsb_err_detail());
    tsb_ingest_conn_abort(c);
}

static void on_drain(struct tsb_stream *s)
{
    schedule(s->data); /* its share and the budget may allow more now */
}

static void idle_cb(uv_timer_t *t)
{
    struct conn *c = t->data;
    uint64_t now = uv_now(c->in->loop);
    uint64_t limit = (uint64_t)c->in->cfg->ingest.idle_timeout_ms;
    if (c->state >= CONN_DRAINING)
        return;
    if (c->state == CONN_ACCEPTED) {
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
            tsb_ingest_conn_abort(c);
            return;
        }
        tsb_ingest_conn_fail(c, TSB_NACK_IDLE_TIMEOUT,
                             "no HELLO within ingest.handshake_timeout_ms");
        return;
    }
    if (c->inflight == 0 && now - c->last_frame_ms >= limit) {
        tsb_ingest_conn_fail(c, TSB_NACK_IDLE_TIMEOUT, "no request for ingest.idle_timeout_ms");
        return;
    }
    uint64_t due = c->inflight > 0 ? limit : limit - (now - c->last_frame_ms);
    uv_timer_start(&c->idle, idle_cb, due, 0);
}

void tsb_ingest_conn_arm(struct conn *c, uint64_t ms)
{
    uv_timer_start(&c->idle, idle_cb, ms, 0);
}

int tsb_ingest_conn_start(struct conn *c, struct tsb_tls *tls)
{
    int r = tsb_stream_start(&c->s, tls, on_data, on_end);
    if (r == 0)
        tsb_stream_on_drain(&c->s, on_drain);
    return r;
}

void tsb_ingest_writer_progress(struct tsb_ingest *in)
{
    if (!writer_full(in))
        wake_parked(in);
}

size_t tsb_ingest_buffered(const struct tsb_ingest *in, size_t *peak)
{
    if (peak != NULL)
        *peak = in->buffered_peak;
    return in->buffered;
}
