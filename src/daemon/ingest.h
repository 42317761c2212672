/*
 * ingest: tsbagd's connections. Reads frames (docs/protocol.md), hashes entries on the loop
 * thread, hands them to the writer and replies in request order once the writer has committed
 * them. Backpressure: a connection stops being read while it has max_inflight unanswered
 * requests or holds its share of ingest.buffer_bytes (unread input, requests, unsent replies),
 * and every connection stops while the writer queue is full (tsb_writer_has_room:
 * writer.queue_bytes, writer.queue_max) or the budget is spent. docs/internals/INGEST.md has
 * the connection state machine; src/io/listen.c binds the sockets.
 */
#ifndef TSB_INGEST_H
#define TSB_INGEST_H

#include "config.h"
#include "store.h"
#include "writer.h"

#include <stdbool.h>
#include <uv.h>

struct tsb_ingest;

/* Completion of a SEAL request (loop thread): status 0 with res, or a TSB_E* code with a reason
 * for the client. */
typedef void (*tsb_seal_done_fn)(void *req, int status, const struct tsb_seal_result *res,
                                 const char *reason);
/* The sealer's entry point for SEAL requests (loop thread). It must call done exactly once, later
 * or right away. */
typedef void (*tsb_seal_hook_fn)(void *hook_arg, tsb_seal_done_fn done, void *req);

/* Binds the Unix socket (and TCP if configured; with TLS, loads the certificates and allow-list),
 * and starts accepting. cfg and w must outlive the ingest. Errors name the path or address. */
int tsb_ingest_start(uv_loop_t *loop, const struct tsb_config *cfg, struct tsb_writer *w,
                     struct tsb_ingest **out);

/* Registers the sealer (NULL fn: no sealer, SEAL gets NACK SEALER_DOWN). */
void tsb_ingest_set_seal_hook(struct tsb_ingest *in, tsb_seal_hook_fn fn, void *arg);

/* The sender's answer to RETRY (loop thread, synchronous): 0 with *released (0: nothing held or
 * waiting), or a TSB_E* code with the detail as the reason for the client. */
typedef int (*tsb_retry_hook_fn)(void *hook_arg, int64_t seq, int64_t *released);
/* Fail-closed admission (loop thread): true when SUBMITs must be refused now, with why. */
typedef bool (*tsb_refuse_hook_fn)(void *hook_arg, char *why, size_t why_len);
/* Registers the sender's hooks (NULL: RETRY gets NACK SEALER_DOWN; nothing is refused). */
void tsb_ingest_set_sender_hooks(struct tsb_ingest *in, tsb_retry_hook_fn retry,
                                 tsb_refuse_hook_fn refuse, void *arg);

/* Reload (loop thread): replaces the TLS allow-list with the one read from path ("" = none) for
 * connections that say HELLO from now on. On an error (naming file:line) the old list stays. */
int tsb_ingest_reload_allowlist(struct tsb_ingest *in, const char *path);

/* The writer delivered completions: resume connections that waited for queue space. */
void tsb_ingest_writer_progress(struct tsb_ingest *in);

/* The bound TCP port (0 without TCP). */
int tsb_ingest_tcp_port(const struct tsb_ingest *in);
/* Open connections. */
unsigned tsb_ingest_connections(const struct tsb_ingest *in);
/* Bytes the connections buffer now (what ingest.buffer_bytes bounds); *peak (may be NULL) gets
 * the most they ever held at once. */
size_t tsb_ingest_buffered(const struct tsb_ingest *in, size_t *peak);

/* Stops accepting and reading, answers every request in flight, closes every connection, frees
 * the ingest and then calls stopped. archive_failed marks the stop as caused by a failed writer
 * (status flag, log wording). */
void tsb_ingest_stop(struct tsb_ingest *in, bool archive_failed, void (*stopped)(void *arg),
                     void *arg);

#endif
