/*
 * metrics: tsbagd's counters and its HTTP endpoint (/metrics in the Prometheus text format,
 * /healthz). One set per process. Counters are C11 atomics updated with relaxed order from the
 * loop thread (no lock on the hot path); the archive figures are a snapshot that the writer
 * thread publishes after each periodic statistics read (the sender's alarm job, or this module's
 * own job when no sender runs), under a mutex only scrapes and that publication take. The HTTP
 * server (libmicrohttpd) runs in its own thread and never touches the event loop or the archive.
 * docs/internals/METRICS.md says why; docs/operations.md lists every metric.
 */
#ifndef TSB_METRICS_H
#define TSB_METRICS_H

#include "config.h"
#include "dss.h"
#include "store.h"
#include "writer.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

enum tsb_metrics_listener { TSB_METRICS_UNIX, TSB_METRICS_TCP, TSB_METRICS_TLS };

/* The counter slot of (listener, source) for a connection that said HELLO (loop thread). source
 * is the TLS allow-list's source name, or "" where the peer chose its own (a label must not take
 * values a peer invents). Past 64 pairs every new one shares the slot of source "other". */
int tsb_metrics_source(enum tsb_metrics_listener listener, const char *source);
/* A SUBMIT arrived on a connection of slot. */
void tsb_metrics_received(int slot);
/* A SUBMIT was answered: ACK after latency_ns (from its arrival), or NACK code. */
void tsb_metrics_acked(int slot, uint64_t latency_ns);
void tsb_metrics_refused(int slot, unsigned code);
/* Every NACK sent, whatever the request. */
void tsb_metrics_nack(unsigned code);
/* The admission counts of a listener (TCP, TLS included, or Unix) after a change. */
void tsb_metrics_connections(bool tcp, unsigned pending, unsigned serving, unsigned refusing);
/* One TSA attempt ended: stamped (ok), or failed with kind. */
void tsb_metrics_tsa_result(bool ok, enum tsb_dss_class kind);
/* One TSA HTTP exchange took latency_ns (request sent to answer or transport error). */
void tsb_metrics_tsa_latency(uint64_t latency_ns);
/* One second-TSA request ended ([tsa2]): outcome is one of TSB_METRICS_TSA2_OUTCOMES ("stamped",
 * "transport", "http", "malformed", "refused", "nonce", "imprint", "token", "archive"). */
void tsb_metrics_tsa2_result(const char *outcome);
/* The second TSA's backlog as last read (writer thread or loop thread): bags without a second
 * token and the sealed_ms of the oldest (0: none); /healthz judges it by alarm_s. */
void tsb_metrics_tsa2_backlog(int64_t bags, int64_t oldest_sealed_ms, int64_t alarm_s);
/* The loaded keystore's certificate notAfter, ms since the epoch (shown and checked by
 * /healthz). */
void tsb_metrics_keystore(int64_t not_after_ms);
/* The writer queue's bytes now and at its highest (writer.queue_bytes), after each delivered group
 * of completions (loop thread). */
void tsb_metrics_writer_queue(size_t bytes, size_t peak);
/* The writer lost durability (loop thread): /healthz fails from now on. */
void tsb_metrics_archive_failed(void);
/* Writer thread: publishes the archive statistics just read (NULL when the read failed) and
 * reads the latest reconciliation run with store. */
void tsb_metrics_publish(struct tsb_store *store, const struct tsb_store_stats *st);

/* Binds metrics.listen (nothing when empty) and starts the HTTP thread; with port 0 writes the
 * bound port to <state_dir>/tsbagd.metrics.port. TSB_ECONFIG/TSB_EIO naming metrics.listen when
 * it cannot bind. cfg must outlive the server. */
int tsb_metrics_serve(const struct tsb_config *cfg);
/* The alarm threshold /healthz judges by (loop thread: at start, and after a reload changed
 * sealer.unstamped_alarm_s); the other settings the server reads never change while it runs. */
void tsb_metrics_alarm(int64_t unstamped_alarm_s);
/* Without a sender, refreshes the archive snapshot itself every few seconds through w (loop
 * thread). Stopped by tsb_metrics_stop. */
void tsb_metrics_refresh_start(uv_loop_t *loop, struct tsb_writer *w);
/* Stops the refresh timer (loop thread; safe to call twice) and the HTTP thread. */
void tsb_metrics_stop(void);

#endif
