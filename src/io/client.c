/*
 * client: pipelined ingest client. Pending callbacks live in a ring that grows as needed; the
 * first reply always answers HELLO (the ready callback), each later reply pops the ring. When the
 * stream ends, every pending callback is called with the reason, oldest first, so a caller can
 * count exactly which requests were answered.
 */
#include "client.h"

#include "err.h"
#include "stream.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pending {
    tsb_client_reply_cb cb;
    void *arg;
};

struct tsb_client {
    struct tsb_stream s;
    struct tsb_tls_ctx *tls_ctx;
    struct tsb_frame_decoder dec;
    struct tsb_buf scratch;
    struct pending *ring;
    size_t cap, head, count; /* ring of pending replies */
    bool hello_done, ended, closing, delivering;
    char *source;
    char *server_name;
    tsb_client_ready_cb ready;
    tsb_client_closed_cb closed;
    void *data;
};

static void push_pending(struct tsb_client *c, tsb_client_reply_cb cb, void *arg)
{
    if (c->count == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        struct pending *n = tsb_calloc(ncap, sizeof(*n));
        for (size_t i = 0; i < c->count; i++)
            n[i] = c->ring[(c->head + i) % c->cap];
        free(c->ring);
        c->ring = n;
        c->cap = ncap;
        c->head = 0;
    }
    c->ring[(c->head + c->count) % c->cap] = (struct pending){cb, arg};
    c->count++;
}

static struct pending pop_pending(struct tsb_client *c)
{
    struct pending p = c->ring[c->head];
    c->head = (c->head + 1) % c->cap;
    c->count--;
    return p;
}

/* Ends the client: the ready callback (if HELLO was not answered) or every pending callback gets
 * status. */
static void end_all(struct tsb_client *c, int status)
{
    if (c->ended)
        return;
    c->ended = true;
    char detail[512];
    snprintf(detail, sizeof(detail), "%s", tsb_err_detail());
    if (!c->hello_done) {
        c->hello_done = true;
        tsb_err(status, "%s", detail);
        c->ready(c, status, NULL);
    }
    while (c->count > 0) {
        struct pending p = pop_pending(c);
        tsb_err(status, "%s", detail);
        p.cb(c, p.arg, status, NULL);
    }
}

static void on_reply(struct tsb_client *c, const struct tsb_frame *f)
{
    if (!c->hello_done) {
        c->hello_done = true;
        struct tsb_hello_ok h;
        if (f->type == TSB_FT_HELLO_OK && tsb_frame_parse_hello_ok(f->body, &h) == 0) {
            c->ready(c, 0, &h);
            return;
        }
        struct tsb_nack_reply n;
        if (f->type == TSB_FT_NACK && tsb_frame_parse_nack(f->body, &n) == 0)
            tsb_err(TSB_EPROTO, "HELLO refused: NACK %u %s: %.*s", n.code, tsb_nack_name(n.code),
                    (int)n.reason.len, (const char *)n.reason.p);
        else
            tsb_err(TSB_EPROTO, "unexpected reply 0x%02x to HELLO", f->type);
        c->ready(c, TSB_EPROTO, NULL);
        end_all(c, TSB_ECLOSED);
        return;
    }
    if (c->count == 0) {
        tsb_err(TSB_EPROTO, "server sent a reply (0x%02x) to no request", f->type);
        end_all(c, TSB_EPROTO);
        return;
    }
    struct pending p = pop_pending(c);
    p.cb(c, p.arg, 0, f);
}

static void on_data(struct tsb_stream *s)
{
    struct tsb_client *c = s->data;
    if (c->delivering)
        return;
    c->delivering = true;
    while (!c->ended && !c->closing) {
        struct tsb_slice before = tsb_stream_input(&c->s);
        if (before.len == 0)
            break;
        struct tsb_slice rest = before;
        struct tsb_frame f;
        int r = tsb_frame_decode(&c->dec, &rest, &f);
        if (r < 0) {
            tsb_stream_consume(&c->s, before.len - rest.len);
            end_all(c, TSB_EPROTO);
            break;
        }
        if (r == 1)
            on_reply(c, &f);
        if (c->closing)
            break;
        tsb_stream_consume(&c->s, before.len - rest.len);
    }
    c->delivering = false;
}

static void on_end(struct tsb_stream *s, int status)
{
    struct tsb_client *c = s->data;
    /* replies already buffered are delivered before the end is reported */
    on_data(s);
    end_all(c, status == TSB_ECLOSED ? TSB_ECLOSED : status);
}

static void on_connect(struct tsb_stream *s, int status)
{
    struct tsb_client *c = s->data;
    struct tsb_tls *tls = NULL;
    int r;
    if (status != 0) {
        end_all(c, status);
        return;
    }
    if (c->tls_ctx != NULL && (r = tsb_tls_new(c->tls_ctx, c->server_name, &tls)) != 0) {
        end_all(c, r);
        return;
    }
    if ((r = tsb_stream_start(&c->s, tls, on_data, on_end)) != 0) {
        end_all(c, r);
        return;
    }
    tsb_buf_reset(&c->scratch);
    if ((r = tsb_frame_put_hello(
             &c->scratch, TSB_PROTO_VERSION,
             (struct tsb_slice){(const uint8_t *)c->source, strlen(c->source)})) != 0 ||
        (r = tsb_stream_write(&c->s, c->scratch.p, c->scratch.len)) != 0) {
        end_all(c, r);
        return;
    }
}

static void free_client(struct tsb_client *c)
{
    tsb_frame_decoder_cleanup(&c->dec);
    tsb_buf_cleanup(&c->scratch);
    tsb_tls_ctx_free(c->tls_ctx);
    free(c->ring);
    free(c->source);
    free(c->server_name);
    free(c);
}

static void stream_closed(struct tsb_stream *s)
{
    struct tsb_client *c = s->data;
    tsb_client_closed_cb cb = c->closed;
    void *data = c->data;
    free_client(c);
    if (cb != NULL)
        cb(data);
}

int tsb_client_connect(uv_loop_t *loop, const struct tsb_client_opts *o, tsb_client_ready_cb ready,
                       void *data, struct tsb_client **out)
{
    struct tsb_client *c = tsb_calloc(1, sizeof(*c));
    bool tcp = o->unix_path == NULL;
    int r = TSB_EINTERNAL;
    struct sockaddr_storage ss;

    c->ready = ready;
    c->data = data;
    c->source = tsb_strdup(o->source ? o->source : "");
    c->server_name = tsb_strdup(o->host ? o->host : "");
    tsb_frame_decoder_init(&c->dec, o->max_frame ? o->max_frame : 1 << 20);
    tsb_buf_init(&c->scratch, TSB_FRAME_WIRE_MAX); /* one request frame at a time */
    if (tcp) {
        if (o->host == NULL || (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&ss) != 0 &&
                                uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&ss) != 0)) {
            r = tsb_err(TSB_EINVAL, "'%s' is not an IPv4 or IPv6 address",
                        o->host ? o->host : "(none)");
            free_client(c);
            return r;
        }
    }
    if (o->tls_ca != NULL &&
        (r = tsb_tls_ctx_new_client(o->tls_ca, o->tls_cert, o->tls_key, &c->tls_ctx)) != 0) {
        free_client(c);
        return r;
    }
    if ((r = tsb_stream_init(loop, &c->s, tcp)) != 0) {
        free_client(c);
        return r;
    }
    c->s.data = c;
    r = tcp ? tsb_stream_connect_tcp(&c->s, (struct sockaddr *)&ss, on_connect)
            : tsb_stream_connect_pipe(&c->s, o->unix_path, on_connect);
    if (r != 0) {
        c->closed = NULL;
        c->ended = true;
        c->closing = true;
        tsb_stream_close(&c->s, stream_closed);
        return r;
    }
    *out = c;
    return 0;
}

void *tsb_client_data(const struct tsb_client *c)
{
    return c->data;
}

/* Requests may only follow the answer to HELLO: queued earlier, they would wait on a connection
 * the server may yet refuse (client.h: TSB_ESTATE before the ready callback). */
static int check_usable(const struct tsb_client *c)
{
    if (c->ended || c->closing)
        return tsb_err(TSB_ECLOSED, "connection ended");
    if (!c->hello_done)
        return tsb_err(TSB_ESTATE, "HELLO not answered yet: wait for the ready callback");
    return 0;
}

static int send_scratch(struct tsb_client *c, tsb_client_reply_cb cb, void *arg)
{
    int r = tsb_stream_write(&c->s, c->scratch.p, c->scratch.len);
    tsb_buf_reset(&c->scratch);
    if (r != 0)
        return r;
    push_pending(c, cb, arg);
    return 0;
}

int tsb_client_submit(struct tsb_client *c, struct tsb_slice format, struct tsb_slice client_ref,
                      struct tsb_slice entry, tsb_client_reply_cb cb, void *arg)
{
    int r;
    if ((r = check_usable(c)) != 0)
        return r;
    tsb_buf_reset(&c->scratch);
    if ((r = tsb_frame_put_submit(&c->scratch, format, client_ref, entry)) != 0)
        return r;
    return send_scratch(c, cb, arg);
}

int tsb_client_submit_hash(struct tsb_client *c, struct tsb_slice format,
                           struct tsb_slice client_ref, const uint8_t digest[TSB_SHA256_LEN],
                           tsb_client_reply_cb cb, void *arg)
{
    int r;
    if ((r = check_usable(c)) != 0)
        return r;
    tsb_buf_reset(&c->scratch);
    if ((r = tsb_frame_put_submit_hash(&c->scratch, format, client_ref, digest)) != 0)
        return r;
    return send_scratch(c, cb, arg);
}

int tsb_client_request(struct tsb_client *c, uint8_t type, struct tsb_slice payload,
                       tsb_client_reply_cb cb, void *arg)
{
    int r;
    if ((r = check_usable(c)) != 0)
        return r;
    tsb_buf_reset(&c->scratch);
    if ((r = tsb_frame_put_simple(&c->scratch, type, payload)) != 0)
        return r;
    return send_scratch(c, cb, arg);
}

size_t tsb_client_inflight(const struct tsb_client *c)
{
    return c->count;
}

bool tsb_client_ended(const struct tsb_client *c)
{
    return c->ended;
}

void tsb_client_close(struct tsb_client *c, tsb_client_closed_cb cb)
{
    if (c->closing)
        return;
    tsb_err(TSB_ECLOSED, "client closed the connection");
    end_all(c, TSB_ECLOSED);
    c->closing = true;
    c->closed = cb;
    tsb_stream_close(&c->s, stream_closed);
}

void tsb_client_describe(const struct tsb_frame *f, char *out, size_t n)
{
    struct tsb_ack a;
    struct tsb_nack_reply nr;
    switch (f->type) {
    case TSB_FT_ACK:
        if (tsb_frame_parse_ack(f->body, &a) == 0) {
            snprintf(out, n, "ACK ref=%lld hash=%s received_ms=%lld", (long long)a.ref, a.hash,
                     (long long)a.received_ms);
            return;
        }
        break;
    case TSB_FT_NACK:
        if (tsb_frame_parse_nack(f->body, &nr) == 0) {
            snprintf(out, n, "NACK %u %s: %.*s", nr.code, tsb_nack_name(nr.code),
                     (int)(nr.reason.len > 512 ? 512 : nr.reason.len), (const char *)nr.reason.p);
            return;
        }
        break;
    default:
        snprintf(out, n, "reply type 0x%02x (%zu body bytes)", f->type, f->body.len);
        return;
    }
    snprintf(out, n, "malformed reply type 0x%02x", f->type);
}
