/*
 * ingest_req: what tsbagd does with each request frame of a connection, and how each reply is
 * encoded. HELLO decides the connection's source (from the allow-list with TLS); SUBMIT hashes
 * the entry on the loop thread and hands it to the writer; STATUS is a writer job; SEAL goes to
 * the sealer, RETRY to the sender; PING and refusals are answered at once. Every handler ends by
 * appending exactly one req to the connection's FIFO (or by failing the connection); the replies
 * leave in FIFO order (ingest.c). An ACK is produced only from a writer completion with status 0.
 */
#include "ingest_conn.h"

#include "err.h"
#include "log.h"
#include "metrics.h"
#include "sealer.h"
#include "tls.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUBJECT_MAX 1024

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tsb_ingest_encode_reply(const struct conn *c, const struct req *r, struct tsb_buf *b)
{
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

static struct req *req_reply(struct conn *c, size_t extra, uint8_t type)
{
    struct req *r = tsb_ingest_req_new(c, extra);
    r->reply = type;
    return r;
}

/* ---- SUBMIT, SUBMIT_HASH ------------------------------------------------------------------- */

static void entry_done(struct tsb_writer_entry *e)
{
    struct req *r = (struct req *)((char *)e - offsetof(struct req, we));
    switch (e->status) {
    case 0:
        r->reply = TSB_FT_ACK;
        tsb_ingest_req_ready(r);
        break;
    case TSB_EDURABLE:
        tsb_ingest_req_nack(
            r, TSB_NACK_ARCHIVE_FAILED, true,
            "the archive could not be written; nothing was stored; tsbagd is stopping");
        tsb_ingest_conn_drain(r->c);
        break;
    case TSB_EBUSY:
    case TSB_ESTORE:
        tsb_ingest_req_nack(r, TSB_NACK_BUSY, false,
                            "the archive refused the write (%s); nothing stored",
                            tsb_strerror(e->status));
        break;
    default:
        tsb_ingest_req_nack(r, TSB_NACK_SHUTTING_DOWN, true, "not stored: %s",
                            tsb_strerror(e->status));
        tsb_ingest_conn_drain(r->c);
        break;
    }
}

static void copy_field(uint8_t **p, struct tsb_slice s, const char **out)
{
    if (s.len == 0) {
        *out = NULL;
        return;
    }
    memcpy(*p, s.p, s.len);
    (*p)[s.len] = '\0';
    *out = (const char *)*p;
    *p += s.len + 1;
}

static struct req *submit_req(struct conn *c, size_t extra)
{
    struct req *r = tsb_ingest_req_new(c, extra);
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
        tsb_ingest_req_nack(submit_req(c, 0), TSB_NACK_STAMP_STALLED, false, "%s", why);
        return;
    }
    if (tsb_frame_parse_submit(f->type, f->body, &in->lim, &sub, &nack) != 0) {
        if (nack == TSB_NACK_MALFORMED) {
            tsb_metrics_refused(c->metrics_slot, nack); /* conn_fail's NACK is not a SUBMIT's */
            tsb_ingest_conn_fail(c, nack, tsb_err_detail());
            return;
        }
        tsb_ingest_req_nack(submit_req(c, 0), nack, false, "%s", tsb_err_detail());
        return;
    }
    size_t extra = sub.format.len + 1 + sub.client_ref.len + 1 + (keep ? sub.entry.len : 0);
    struct req *r = submit_req(c, extra);
    r->received_ms = wall_ms();
    if (sub.has_digest) {
        memcpy(r->digest, sub.digest, TSB_SHA256_LEN);
    } else if (tsb_hasher_digest(in->hasher, sub.entry.p, sub.entry.len, r->digest) != 0) {
        tsb_ingest_req_nack(r, TSB_NACK_MALFORMED, true, "cannot hash the entry: %s",
                            tsb_err_detail());
        tsb_ingest_conn_drain(c);
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

/* ---- HELLO --------------------------------------------------------------------------------- */

/* The source of a TLS peer from the allow-list into c->source; false with why. */
static bool tls_source(struct conn *c, const char *given, char *why, size_t n)
{
    char subject[SUBJECT_MAX];
    if (tsb_tls_peer_subject(c->s.tls, subject, sizeof(subject)) != 0) {
        snprintf(why, n, "no client certificate subject");
        return false;
    }
    const char *source = tsb_allowlist_source(c->in->allow, subject);
    if (source == NULL) {
        snprintf(why, n, "certificate subject '%.400s' is not in the allow-list", subject);
        return false;
    }
    if (given[0] != '\0' && strcmp(given, source) != 0) {
        snprintf(why, n, "source '%s' does not match '%s', the source of this certificate", given,
                 source);
        return false;
    }
    snprintf(c->source, sizeof(c->source), "%s", source);
    return true;
}

static void handle_hello(struct conn *c, const struct tsb_frame *f)
{
    struct tsb_hello h;
    enum tsb_nack nack;
    char why[TSB_NACK_REASON_MAX];

    if (tsb_frame_parse_hello(f->body, &c->in->lim, &h, &nack) != 0) {
        tsb_ingest_conn_fail(c, nack, tsb_err_detail());
        return;
    }
    char given[TSB_SOURCE_MAX_PROTO + 1];
    memcpy(given, h.source.p, h.source.len);
    given[h.source.len] = '\0';

    if (c->s.tls != NULL && c->in->allow != NULL) {
        if (!tls_source(c, given, why, sizeof(why))) {
            tsb_ingest_conn_fail(c, TSB_NACK_SOURCE_REFUSED, why);
            return;
        }
    } else if (given[0] == '\0') {
        tsb_ingest_conn_fail(c, TSB_NACK_FIELD_INVALID, "HELLO must name the source system");
        return;
    } else {
        snprintf(c->source, sizeof(c->source), "%s", given);
    }
    if (!tsb_ingest_conn_serve(c, why, sizeof(why))) {
        tsb_ingest_conn_fail(c, TSB_NACK_TOO_MANY_CONNS, why);
        return;
    }
    tsb_debug("ingest: %s: source %s", c->peer, c->source);
    tsb_ingest_req_ready(req_reply(c, 0, TSB_FT_HELLO_OK));
}

/* ---- STATUS, SEAL, RETRY ------------------------------------------------------------------- */

/* 0 when no sealer runs here: nothing will be sealed until one does. */
static int64_t next_seal_ms(const struct tsb_ingest *in, int64_t now)
{
    if (in->seal_hook == NULL)
        return 0;
    return tsb_sealer_next_boundary(now, in->cfg->sealer.interval_s);
}

static int status_job(struct tsb_store *s, void *arg)
{
    struct req *r = arg;
    return tsb_store_stats(s, &r->stats);
}

static void status_done(void *arg, int status)
{
    struct req *r = arg;
    struct tsb_ingest *in = r->c->in;
    if (status != 0) {
        tsb_ingest_req_nack(r, status == TSB_EDURABLE ? TSB_NACK_ARCHIVE_FAILED : TSB_NACK_BUSY,
                            status == TSB_EDURABLE, "status unavailable: %s", tsb_strerror(status));
        return;
    }
    int64_t now = wall_ms();
    int64_t alarm_ms = in->cfg->sealer.unstamped_alarm_s * 1000;
    /* the same rule as the sender's alarm (sender.c), so that tsbag status agrees with it */
    bool alarm = r->stats.oldest_unstamped_ms != 0 && now - r->stats.oldest_unstamped_ms > alarm_ms;
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
    tsb_ingest_req_ready(r);
}

static void seal_done(void *arg, int status, const struct tsb_seal_result *res, const char *reason)
{
    struct req *r = arg;
    if (status != 0) {
        tsb_ingest_req_nack(r, TSB_NACK_SEAL_FAILED, false, "seal failed: %s",
                            reason ? reason : tsb_strerror(status));
        return;
    }
    r->seal = (struct tsb_seal_ok){
        .first_seq = res->first_seq, .bags = (uint32_t)res->bags, .entries = (int64_t)res->entries};
    r->reply = TSB_FT_SEAL_OK;
    tsb_ingest_req_ready(r);
}

/* RETRY (tsbag retry): operator action, Unix socket only like SEAL; answered right away. */
static void handle_retry(struct conn *c, const struct tsb_frame *f)
{
    struct tsb_ingest *in = c->in;
    struct req *r = req_reply(c, 0, TSB_FT_RETRY_OK);
    int64_t seq = 0;
    if (c->is_tcp)
        tsb_ingest_req_nack(r, TSB_NACK_FORBIDDEN, false,
                            "RETRY is accepted on the Unix socket only");
    else if (in->retry_hook == NULL)
        tsb_ingest_req_nack(r, TSB_NACK_SEALER_DOWN, false, "no sender runs in this tsbagd");
    else if (tsb_frame_parse_retry(f->body, &seq) != 0)
        tsb_ingest_req_nack(r, TSB_NACK_MALFORMED, false, "%s", tsb_err_detail());
    else if (in->retry_hook(in->sender_arg, seq, &r->retried) != 0)
        tsb_ingest_req_nack(r, TSB_NACK_FIELD_INVALID, false, "%s", tsb_err_detail());
    else
        tsb_ingest_req_ready(r);
}

static void handle_seal(struct conn *c)
{
    struct req *r = tsb_ingest_req_new(c, 0);
    if (c->is_tcp)
        tsb_ingest_req_nack(r, TSB_NACK_FORBIDDEN, false,
                            "SEAL is accepted on the Unix socket only");
    else if (c->in->seal_hook == NULL)
        tsb_ingest_req_nack(r, TSB_NACK_SEALER_DOWN, false, "sealer not running in this tsbagd");
    else
        c->in->seal_hook(c->in->seal_arg, seal_done, r);
}

void tsb_ingest_handle_frame(struct conn *c, const struct tsb_frame *f)
{
    struct req *r;

    c->last_frame_ms = uv_now(c->in->loop);
    if (c->state == CONN_ACCEPTED) {
        if (f->type != TSB_FT_HELLO)
            tsb_ingest_conn_fail(c, TSB_NACK_HELLO_REQUIRED, "the first frame must be HELLO");
        else
            handle_hello(c, f);
        return;
    }
    switch (f->type) {
    case TSB_FT_SUBMIT:
    case TSB_FT_SUBMIT_HASH:
        handle_submit(c, f);
        return;
    case TSB_FT_HELLO:
        tsb_ingest_conn_fail(c, TSB_NACK_HELLO_REQUIRED,
                             "HELLO was already received on this connection");
        return;
    case TSB_FT_PING:
        if (f->body.len > TSB_PING_MAX) {
            tsb_ingest_conn_fail(c, TSB_NACK_MALFORMED, "PING payload longer than 256 bytes");
            return;
        }
        r = req_reply(c, f->body.len, TSB_FT_PONG);
        memcpy(r->extra, f->body.p, f->body.len);
        tsb_ingest_req_ready(r);
        return;
    case TSB_FT_STATUS:
        r = tsb_ingest_req_new(c, 0);
        if (tsb_writer_submit_job(c->in->w, status_job, status_done, r) != 0)
            tsb_ingest_req_nack(r, TSB_NACK_SHUTTING_DOWN, true, "tsbagd is stopping");
        return;
    case TSB_FT_SEAL:
        handle_seal(c);
        return;
    case TSB_FT_RETRY:
        handle_retry(c, f);
        return;
    default:
        tsb_ingest_req_nack(tsb_ingest_req_new(c, 0), TSB_NACK_UNKNOWN_TYPE, false,
                            "unknown request type 0x%02x", f->type);
        return;
    }
}
