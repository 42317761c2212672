/*
 * client: an ingest protocol client on libuv (docs/protocol.md), over the Unix socket or TCP
 * (plain or TLS with a client certificate). Used by `tsbag push`, the load generator and the
 * tests. Requests are pipelined: each call queues one frame and one callback, and callbacks run in
 * request order as replies arrive. The caller bounds its own pipeline depth (tsb_client_inflight).
 */
#ifndef TSB_CLIENT_H
#define TSB_CLIENT_H

#include "frame.h"
#include "mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tsb_client;

struct tsb_client_opts {
    const char *unix_path; /* connect here, or ... */
    const char *host;      /* ... to host:port over TCP (IPv4 or IPv6 literal) */
    int port;
    const char *tls_ca;   /* TLS when set: CA of the server certificate */
    const char *tls_cert; /* client certificate and key (PEM) */
    const char *tls_key;
    const char *source; /* HELLO source name; "" lets a TLS server take it from the certificate */
    size_t max_frame;   /* largest reply accepted; 0 means 1 MiB */
};

/* HELLO answered (status 0, hello valid during the call), or the connection failed: TSB_ENET,
 * TSB_ECLOSED, or TSB_EPROTO when the server refused HELLO (detail has its NACK). */
typedef void (*tsb_client_ready_cb)(struct tsb_client *c, int status,
                                    const struct tsb_hello_ok *hello);
/* One reply, in request order: status 0 and the reply frame (valid during the call), or
 * TSB_ECLOSED/TSB_ENET when the connection ended before the reply came (reply is NULL). */
typedef void (*tsb_client_reply_cb)(struct tsb_client *c, void *arg, int status,
                                    const struct tsb_frame *reply);
/* After close: the client is freed; data is what tsb_client_connect was given. */
typedef void (*tsb_client_closed_cb)(void *data);

/* Connects and sends HELLO; ready is called exactly once unless this returns an error. data is
 * the caller's (tsb_client_data). */
int tsb_client_connect(uv_loop_t *loop, const struct tsb_client_opts *o, tsb_client_ready_cb ready,
                       void *data, struct tsb_client **out);
void *tsb_client_data(const struct tsb_client *c);

/* Queue a request; cb gets its reply. TSB_ESTATE before the ready callback, TSB_ECLOSED once the
 * connection has ended. */
int tsb_client_submit(struct tsb_client *c, struct tsb_slice format, struct tsb_slice client_ref,
                      struct tsb_slice entry, tsb_client_reply_cb cb, void *arg);
int tsb_client_submit_hash(struct tsb_client *c, struct tsb_slice format,
                           struct tsb_slice client_ref, const uint8_t digest[TSB_SHA256_LEN],
                           tsb_client_reply_cb cb, void *arg);
/* PING (with payload), STATUS or SEAL. */
int tsb_client_request(struct tsb_client *c, uint8_t type, struct tsb_slice payload,
                       tsb_client_reply_cb cb, void *arg);

/* Requests sent and not yet answered. */
size_t tsb_client_inflight(const struct tsb_client *c);
/* True once the connection ended (every pending callback has been called). */
bool tsb_client_ended(const struct tsb_client *c);

/* Closes the connection (pending callbacks get TSB_ECLOSED first), frees the client and then
 * calls cb (may be NULL). */
void tsb_client_close(struct tsb_client *c, tsb_client_closed_cb cb);

/* Formats a reply for people: "ACK ref=.. hash=..", "NACK 7 EMPTY_ENTRY: reason", ... into out. */
void tsb_client_describe(const struct tsb_frame *reply, char *out, size_t n);

#endif
