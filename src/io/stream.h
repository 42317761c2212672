/*
 * stream: one byte stream over a libuv socket (TCP or Unix), plain or TLS, with bounded input and
 * output buffers. The ingest server and the client library both sit on it, so plain and TLS
 * connections look the same to them (plaintext in, plaintext out).
 *
 * Input: received plaintext accumulates in a buffer of at most TSB_STREAM_IN_MAX unconsumed bytes;
 * the owner reads it with tsb_stream_input() and drops what it used with tsb_stream_consume().
 * When the owner stops consuming, reading stops (the kernel and TCP flow control then hold the
 * peer back): the stream never buffers more than that bound.
 * Output: writes are queued and sent with at most one uv_write in flight (batched); a write the
 * socket takes whole at once (uv_try_write) queues no uv_write at all. Writes made from the data
 * callback are gathered and handed over together when it returns (or each time 64 KiB wait), so
 * a pipelining client that answers a read of n replies with n new requests makes one system
 * call, not n.
 * Lifetime: the struct is embedded in its owner and must stay alive until close_cb ran.
 */
#ifndef TSB_STREAM_H
#define TSB_STREAM_H

#include "mem.h"
#include "tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define TSB_STREAM_IN_MAX (64 * 1024)
#define TSB_STREAM_LINGER 2000 /* ms to wait for the peer's EOF after a final reply */

struct tsb_stream;

/* New plaintext is available (tsb_stream_input). */
typedef void (*tsb_stream_data_cb)(struct tsb_stream *s);
/* The peer ended its side (status TSB_ECLOSED) or the stream failed (TSB_ENET, detail says why).
 * Not called once tsb_stream_finish or tsb_stream_close has been called. */
typedef void (*tsb_stream_end_cb)(struct tsb_stream *s, int status);
/* Every queued byte has been handed to the kernel after a write had to wait for the socket. A
 * write the socket took whole at once calls nothing: tsb_stream_queued() is 0 on its return. */
typedef void (*tsb_stream_drain_cb)(struct tsb_stream *s);
typedef void (*tsb_stream_close_cb)(struct tsb_stream *s);
/* Client connect finished: 0 or TSB_ENET. */
typedef void (*tsb_stream_connect_cb)(struct tsb_stream *s, int status);

struct tsb_stream {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t linger;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    uv_connect_t creq;
    struct tsb_tls *tls;
    struct tsb_buf in; /* plaintext; bytes before in_off are consumed */
    size_t in_off;
    uint8_t *cbuf;       /* TLS: ciphertext read buffer */
    struct tsb_buf out;  /* queued for writing (ciphertext with TLS) */
    struct tsb_buf wbuf; /* being written */
    bool writing, reading, want_read, eof, finishing, closing, handle_open;
    bool holding; /* inside on_data: writes wait in out for its return (up to 64 KiB) */
    int pending_closes;
    tsb_stream_data_cb on_data;
    tsb_stream_end_cb on_end;
    tsb_stream_drain_cb on_drain;
    tsb_stream_close_cb on_close;
    tsb_stream_connect_cb on_connect;
    void *data; /* the owner's */
};

/* Initialises the stream and its handle (tcp selects uv_tcp_t, else uv_pipe_t); afterwards the
 * stream must be closed with tsb_stream_close even if nothing else happens. */
int tsb_stream_init(uv_loop_t *loop, struct tsb_stream *s, bool tcp);
/* Accepts a pending connection of server into s. */
int tsb_stream_accept(uv_stream_t *server, struct tsb_stream *s);
/* Connects to a Unix socket path or a TCP address; cb reports the outcome. */
int tsb_stream_connect_pipe(struct tsb_stream *s, const char *path, tsb_stream_connect_cb cb);
int tsb_stream_connect_tcp(struct tsb_stream *s, const struct sockaddr *addr,
                           tsb_stream_connect_cb cb);

/* Starts delivering data; tls (may be NULL) is taken over. Clients start the TLS handshake here. */
int tsb_stream_start(struct tsb_stream *s, struct tsb_tls *tls, tsb_stream_data_cb on_data,
                     tsb_stream_end_cb on_end);

/* Unconsumed plaintext. */
struct tsb_slice tsb_stream_input(const struct tsb_stream *s);
/* Drops n bytes from the front of the input and resumes reading if it had stopped for space. */
void tsb_stream_consume(struct tsb_stream *s, size_t n);
/* Whether the owner wants more input (reading also stops while the input buffer is full). */
void tsb_stream_want_read(struct tsb_stream *s, bool want);

/* Queues plaintext for sending. TSB_ECLOSED after finish/close, TSB_ENET on a TLS failure. */
int tsb_stream_write(struct tsb_stream *s, const uint8_t *p, size_t n);
/* Bytes queued and not yet handed to the kernel. */
size_t tsb_stream_queued(const struct tsb_stream *s);
/* The stream's TLS session (NULL on a plaintext stream), for the peer certificate and the
 * handshake state. */
struct tsb_tls *tsb_stream_tls(const struct tsb_stream *s);
/* The TCP handle of a stream initialised with tcp = true, for the peer address; NULL otherwise. */
const uv_tcp_t *tsb_stream_tcp(const struct tsb_stream *s);
/* Sets the callback fired each time the queue empties (may be NULL). */
void tsb_stream_on_drain(struct tsb_stream *s, tsb_stream_drain_cb cb);

/* Graceful end: send what is queued, end our side (TLS close_notify, then shutdown), discard
 * input until the peer's EOF or TSB_STREAM_LINGER ms, then close and call cb. */
void tsb_stream_finish(struct tsb_stream *s, tsb_stream_close_cb cb);
/* Closes now (queued output is dropped) and calls cb once every handle is closed. */
void tsb_stream_close(struct tsb_stream *s, tsb_stream_close_cb cb);

#endif
