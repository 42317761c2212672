/*
 * stream: plain or TLS byte stream over a libuv handle. Invariants: at most one uv_write in
 * flight (wbuf), everything else waits in out; while the owner handles input, out goes to the
 * kernel only once it holds CBUF_LEN bytes, and whatever it holds when the owner returns; the
 * input buffer never holds more than TSB_STREAM_IN_MAX unconsumed bytes, because reading stops at
 * that mark; the struct is released to its owner only after both handles (socket and linger
 * timer) reported their close.
 */
#include "stream.h"

#include "err.h"
#include "frame.h"

#include <stdlib.h>
#include <string.h>

#define IN_CAP   (2 * TSB_STREAM_IN_MAX)
#define CBUF_LEN (64 * 1024)
/* Owners bound what they queue themselves (ingest: its reply budget; the client: its window), but
 * the queue must always take the largest frame of the protocol while the previous one is being
 * written: two of them, plus TLS record overhead, which is far below one frame's size. */
#define OUT_MAX ((size_t)2 * TSB_FRAME_WIRE_MAX + CBUF_LEN)

static void update_reading(struct tsb_stream *s);
static void flush(struct tsb_stream *s);

int tsb_stream_init(uv_loop_t *loop, struct tsb_stream *s, bool tcp)
{
    int e;
    memset(s, 0, sizeof(*s));
    e = tcp ? uv_tcp_init(loop, &s->h.tcp) : uv_pipe_init(loop, &s->h.pipe, 0);
    if (e != 0)
        return tsb_err(TSB_ENET, "socket handle: %s", uv_strerror(e));
    if ((e = uv_timer_init(loop, &s->linger)) != 0) {
        /* cannot happen for a timer; the socket handle would leak without a loop walk */
        return tsb_err(TSB_EINTERNAL, "timer: %s", uv_strerror(e));
    }
    s->h.handle.data = s;
    s->linger.data = s;
    s->handle_open = true;
    s->want_read = true;
    tsb_buf_init(&s->in, IN_CAP);
    tsb_buf_init(&s->out, OUT_MAX);
    tsb_buf_init(&s->wbuf, OUT_MAX);
    return 0;
}

int tsb_stream_accept(uv_stream_t *server, struct tsb_stream *s)
{
    int e = uv_accept(server, &s->h.stream);
    if (e != 0)
        return tsb_err(TSB_ENET, "accept: %s", uv_strerror(e));
    if (s->h.handle.type == UV_TCP)
        uv_tcp_nodelay(&s->h.tcp, 1);
    return 0;
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct tsb_stream *s = req->data;
    if (s->closing)
        return;
    if (status == 0 && s->h.handle.type == UV_TCP)
        uv_tcp_nodelay(&s->h.tcp, 1);
    s->on_connect(s, status == 0 ? 0 : tsb_err(TSB_ENET, "connect: %s", uv_strerror(status)));
}

int tsb_stream_connect_pipe(struct tsb_stream *s, const char *path, tsb_stream_connect_cb cb)
{
    s->on_connect = cb;
    s->creq.data = s;
    uv_pipe_connect(&s->creq, &s->h.pipe, path, connect_cb);
    return 0;
}

int tsb_stream_connect_tcp(struct tsb_stream *s, const struct sockaddr *addr,
                           tsb_stream_connect_cb cb)
{
    s->on_connect = cb;
    s->creq.data = s;
    int e = uv_tcp_connect(&s->creq, &s->h.tcp, addr, connect_cb);
    if (e != 0)
        return tsb_err(TSB_ENET, "connect: %s", uv_strerror(e));
    return 0;
}

static void fail(struct tsb_stream *s, int status)
{
    s->eof = true;
    update_reading(s);
    if (!s->finishing && !s->closing && s->on_end != NULL)
        s->on_end(s, status);
}

/* Moves TLS output into the write queue. */
static int tls_out(struct tsb_stream *s)
{
    if (s->tls == NULL || !tsb_tls_has_output(s->tls))
        return 0;
    return tsb_tls_take_output(s->tls, &s->out);
}

/* Decrypts what OpenSSL holds into free input space. Returns 0 or an error to end the stream. */
static int tls_pull(struct tsb_stream *s)
{
    int r;
    for (;;) {
        size_t unconsumed = s->in.len - s->in_off;
        if (unconsumed >= TSB_STREAM_IN_MAX)
            break;
        if (s->in_off > 0) {
            tsb_buf_consume(&s->in, s->in_off);
            s->in_off = 0;
        }
        size_t room = TSB_STREAM_IN_MAX;
        if ((r = tsb_buf_reserve(&s->in, room)) != 0)
            return r;
        size_t got = 0;
        r = tsb_tls_read(s->tls, s->in.p + s->in.len, room, &got);
        tsb_buf_added(&s->in, got);
        if (r != 0)
            return r;
        if (got == 0)
            break;
    }
    return tls_out(s);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tsb_stream *s = h->data;
    (void)suggested;
    if (s->tls != NULL || s->finishing) {
        if (s->cbuf == NULL)
            s->cbuf = tsb_malloc(CBUF_LEN);
        *buf = uv_buf_init((char *)s->cbuf, CBUF_LEN);
        return;
    }
    if (s->in_off > 0) {
        tsb_buf_consume(&s->in, s->in_off);
        s->in_off = 0;
    }
    size_t room = tsb_buf_max(&s->in) - s->in.len;
    if (room > TSB_STREAM_IN_MAX)
        room = TSB_STREAM_IN_MAX;
    if (room == 0 || tsb_buf_reserve(&s->in, room) != 0) {
        *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS; reading stops below */
        return;
    }
    *buf = uv_buf_init((char *)s->in.p + s->in.len, (unsigned)room);
}

static void close_one(uv_handle_t *h)
{
    struct tsb_stream *s = h->data;
    if (--s->pending_closes > 0)
        return;
    tsb_tls_free(s->tls);
    s->tls = NULL;
    free(s->cbuf);
    s->cbuf = NULL;
    tsb_buf_cleanup(&s->in);
    tsb_buf_cleanup(&s->out);
    tsb_buf_cleanup(&s->wbuf);
    if (s->on_close != NULL)
        s->on_close(s);
}

void tsb_stream_close(struct tsb_stream *s, tsb_stream_close_cb cb)
{
    if (s->closing)
        return;
    s->closing = true;
    s->on_close = cb;
    s->pending_closes = 2;
    uv_timer_stop(&s->linger);
    uv_close(&s->h.handle, close_one);
    uv_close((uv_handle_t *)&s->linger, close_one);
}

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    struct tsb_stream *s = h->data;
    int r;
    (void)buf;
    if (s->closing)
        return;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_ENOBUFS) {
            update_reading(s);
            return;
        }
        if (s->finishing) {
            tsb_stream_close(s, s->on_close);
            return;
        }
        fail(s, nread == UV_EOF ? tsb_err(TSB_ECLOSED, "peer closed the connection")
                                : tsb_err(TSB_ENET, "read: %s", uv_strerror((int)nread)));
        return;
    }
    if (s->finishing)
        return; /* discarding until EOF */
    if (s->tls == NULL) {
        tsb_buf_added(&s->in, (size_t)nread);
    } else {
        if ((r = tsb_tls_feed(s->tls, s->cbuf, (size_t)nread)) != 0 || (r = tls_pull(s)) != 0) {
            tls_out(s); /* an alert may be waiting */
            flush(s);
            fail(s, r);
            return;
        }
        flush(s);
    }
    if (s->in.len > s->in_off && s->on_data != NULL) {
        /* what the owner writes while it handles this input (the replies a client's window
         * lets it send, the answers a server has ready) leaves in one write after it */
        s->holding = true;
        s->on_data(s);
        s->holding = false;
        flush(s);
    }
    if (!s->closing)
        update_reading(s);
}

static void update_reading(struct tsb_stream *s)
{
    if (s->closing || !s->handle_open)
        return;
    bool want =
        s->finishing || (s->want_read && !s->eof && s->in.len - s->in_off < TSB_STREAM_IN_MAX);
    if (s->eof && !s->finishing)
        want = false;
    if (want && !s->reading) {
        if (uv_read_start(&s->h.stream, alloc_cb, read_cb) == 0)
            s->reading = true;
    } else if (!want && s->reading) {
        uv_read_stop(&s->h.stream);
        s->reading = false;
    }
}

int tsb_stream_start(struct tsb_stream *s, struct tsb_tls *tls, tsb_stream_data_cb on_data,
                     tsb_stream_end_cb on_end)
{
    int r;
    s->tls = tls;
    s->on_data = on_data;
    s->on_end = on_end;
    if (tls != NULL) {
        if ((r = tsb_tls_pump(tls)) != 0 || (r = tls_out(s)) != 0)
            return r;
        flush(s);
    }
    update_reading(s);
    return 0;
}

struct tsb_slice tsb_stream_input(const struct tsb_stream *s)
{
    return (struct tsb_slice){s->in.p + s->in_off, s->in.len - s->in_off};
}

void tsb_stream_consume(struct tsb_stream *s, size_t n)
{
    TSB_ASSERT(n <= s->in.len - s->in_off);
    s->in_off += n;
    if (s->in_off >= s->in.len) {
        s->in_off = 0;
        tsb_buf_reset(&s->in);
    }
    if (s->tls != NULL && !s->closing && !s->finishing) {
        int r = tls_pull(s);
        if (r != 0) {
            fail(s, r);
            return;
        }
        flush(s);
    }
    update_reading(s);
}

void tsb_stream_want_read(struct tsb_stream *s, bool want)
{
    s->want_read = want;
    update_reading(s);
}

static void do_shutdown_cb(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the linger timer or the peer's EOF ends the stream either way */
}

static void linger_cb(uv_timer_t *t)
{
    struct tsb_stream *s = t->data;
    tsb_stream_close(s, s->on_close);
}

static void maybe_shutdown(struct tsb_stream *s)
{
    if (!s->finishing || s->closing || s->writing || s->out.len > 0)
        return;
    if (s->eof) {
        tsb_stream_close(s, s->on_close);
        return;
    }
    s->sreq.data = s;
    if (uv_shutdown(&s->sreq, &s->h.stream, do_shutdown_cb) != 0)
        tsb_stream_close(s, s->on_close);
}

static void write_cb(uv_write_t *req, int status)
{
    struct tsb_stream *s = req->data;
    s->writing = false;
    tsb_buf_reset(&s->wbuf);
    if (s->closing)
        return;
    if (status < 0) {
        tsb_buf_reset(&s->out);
        if (s->finishing)
            tsb_stream_close(s, s->on_close);
        else
            fail(s, tsb_err(TSB_ENET, "write: %s", uv_strerror(status)));
        return;
    }
    flush(s);
    if (!s->writing && s->on_drain != NULL && !s->finishing)
        s->on_drain(s);
    maybe_shutdown(s);
}

/* Hands the queue to the kernel. First by a direct write (uv_try_write): when the socket takes it
 * all, as it does unless the peer lags behind, no uv_write is queued, so libuv neither calls
 * write_cb on the next iteration nor re-arms the socket's epoll registration (libuv 1.44 issues an
 * epoll_ctl each time a write request completes: one per reply pass). Whatever the kernel did not
 * take, and every error, goes through uv_write, which reports errors from write_cb as before:
 * a direct write never calls a callback. */
static void flush(struct tsb_stream *s)
{
    if (s->writing || s->out.len == 0 || s->closing)
        return;
    uv_buf_t d = uv_buf_init((char *)s->out.p, (unsigned)s->out.len);
    int n = uv_try_write(&s->h.stream, &d, 1);
    if (n > 0 && (size_t)n == s->out.len) {
        tsb_buf_reset(&s->out);
        return;
    }
    if (n > 0)
        tsb_buf_consume(&s->out, (size_t)n);
    struct tsb_buf t = s->wbuf;
    s->wbuf = s->out;
    s->out = t;
    uv_buf_t b = uv_buf_init((char *)s->wbuf.p, (unsigned)s->wbuf.len);
    s->wreq.data = s;
    int e = uv_write(&s->wreq, &s->h.stream, &b, 1, write_cb);
    if (e != 0) {
        tsb_buf_reset(&s->wbuf);
        fail(s, tsb_err(TSB_ENET, "write: %s", uv_strerror(e)));
        return;
    }
    s->writing = true;
}

int tsb_stream_write(struct tsb_stream *s, const uint8_t *p, size_t n)
{
    int r;
    if (s->closing || s->finishing)
        return tsb_err(TSB_ECLOSED, "stream is closing");
    if (s->tls != NULL) {
        if ((r = tsb_tls_write(s->tls, p, n)) != 0 || (r = tls_out(s)) != 0)
            return r;
    } else if ((r = tsb_buf_append(&s->out, p, n)) != 0) {
        return r;
    }
    if (!s->holding || s->out.len >= CBUF_LEN)
        flush(s);
    return 0;
}

size_t tsb_stream_queued(const struct tsb_stream *s)
{
    return s->out.len + s->wbuf.len;
}

struct tsb_tls *tsb_stream_tls(const struct tsb_stream *s)
{
    return s->tls;
}

const uv_tcp_t *tsb_stream_tcp(const struct tsb_stream *s)
{
    return s->h.handle.type == UV_TCP ? &s->h.tcp : NULL;
}

void tsb_stream_on_drain(struct tsb_stream *s, tsb_stream_drain_cb cb)
{
    s->on_drain = cb;
}

void tsb_stream_finish(struct tsb_stream *s, tsb_stream_close_cb cb)
{
    if (s->closing || s->finishing)
        return;
    s->on_close = cb;
    if (s->eof) {
        /* the peer is gone already: send what we can, then close without lingering */
        s->finishing = true;
        if (!s->writing && s->out.len == 0) {
            tsb_stream_close(s, cb);
            return;
        }
        uv_timer_start(&s->linger, linger_cb, TSB_STREAM_LINGER, 0);
        return;
    }
    s->finishing = true;
    if (s->tls != NULL) {
        tsb_tls_close_notify(s->tls);
        tls_out(s);
        flush(s);
    }
    tsb_buf_reset(&s->in);
    s->in_off = 0;
    uv_timer_start(&s->linger, linger_cb, TSB_STREAM_LINGER, 0);
    update_reading(s);
    maybe_shutdown(s);
}
