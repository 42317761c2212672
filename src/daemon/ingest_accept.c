/*
 * ingest_accept: the ingest's listeners and admission. A connection is PENDING from accept until
 * its HELLO is answered (TLS handshake included), then SERVING. Each listener has its own budget
 * for each stage, and TCP peers have a per-address budget for each, so unauthenticated peers can
 * only ever use the small pending budget, for at most ingest.handshake_timeout_ms each. Also the
 * ingest's start, its hooks and its stop (every connection answered, then freed, then stopped).
 */
#include "ingest_conn.h"

#include "err.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "mem.h"
#include "tls.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- admission ----------------------------------------------------------------------------- */

void tsb_ingest_set_stage(struct conn *c, enum conn_stage st)
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

bool tsb_ingest_over_budget(const struct conn *c, enum conn_stage st, char *why, size_t n)
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

/* ---- accepting ----------------------------------------------------------------------------- */

static struct conn *conn_new(struct tsb_ingest *in, bool tcp)
{
    struct conn *c = tsb_calloc(1, sizeof(*c));
    c->in = in;
    c->is_tcp = tcp;
    if (tsb_stream_init(in->loop, &c->s, tcp) != 0) {
        tsb_error("ingest: %s", tsb_err_detail());
        free(c);
        return NULL;
    }
    c->s.data = c;
    uv_timer_init(in->loop, &c->idle);
    c->idle.data = c;
    c->handles = 2;
    tsb_frame_decoder_init(&c->dec, (size_t)in->cfg->ingest.max_frame);
    /* one pass encodes at most every request a connection may have in flight, plus the closing
     * NACK of a refusal or a stop */
    tsb_buf_init(&c->scratch, ((size_t)in->cfg->ingest.max_inflight + 2) * REPLY_MAX);
    c->next = in->conns;
    if (in->conns != NULL)
        in->conns->prev = c;
    in->conns = c;
    in->nconns++;
    c->last_frame_ms = c->accepted_ms = uv_now(in->loop);
    return c;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tsb_ingest *in = server->data;
    if (status < 0) {
        tsb_warn("ingest: accept: %s", uv_strerror(status));
        return;
    }
    bool tcp = server == (uv_stream_t *)&in->tcp_srv;
    struct conn *c = conn_new(in, tcp);
    if (c == NULL)
        return;
    if (tsb_stream_accept(server, &c->s) != 0) {
        tsb_warn("ingest: %s", tsb_err_detail());
        tsb_ingest_conn_abort(c);
        return;
    }
    if (tcp)
        tsb_listen_peer(&c->s.h.tcp, c->addr, sizeof(c->addr), c->peer, sizeof(c->peer));
    else {
        snprintf(c->addr, sizeof(c->addr), "unix");
        snprintf(c->peer, sizeof(c->peer), "unix#%p", (void *)c);
    }
    char why[256];
    bool tls_listener = tcp && in->tls != NULL;
    bool refuse = in->stopping || tsb_ingest_over_budget(c, STAGE_PENDING, why, sizeof(why));
    if (in->stopping)
        snprintf(why, sizeof(why), "tsbagd is stopping");
    /* Before TLS nothing readable can be sent, and a refusal must cost nothing: close at once.
     * Plaintext peers are told why, while that costs at most max_pending lingering sockets. */
    if (refuse &&
        (tls_listener || in->count[tcp][STAGE_REFUSING] >= (unsigned)in->cfg->ingest.max_pending)) {
        tsb_info("ingest: %s: closed at accept: %s", c->peer, why);
        tsb_ingest_conn_abort(c);
        return;
    }
    struct tsb_tls *tls = NULL;
    if (!refuse && tls_listener && tsb_tls_new(in->tls, NULL, &tls) != 0) {
        tsb_error("ingest: %s: %s", c->peer, tsb_err_detail());
        tsb_ingest_conn_abort(c);
        return;
    }
    if (tsb_ingest_conn_start(c, tls) != 0) {
        tsb_warn("ingest: %s: %s", c->peer, tsb_err_detail());
        tsb_ingest_conn_abort(c);
        return;
    }
    if (refuse) {
        tsb_ingest_set_stage(c, STAGE_REFUSING);
        tsb_ingest_conn_fail(c, in->stopping ? TSB_NACK_SHUTTING_DOWN : TSB_NACK_TOO_MANY_CONNS,
                             why);
        return;
    }
    tsb_ingest_set_stage(c, STAGE_PENDING);
    tsb_debug("ingest: %s: connected", c->peer);
    tsb_ingest_conn_arm(c, (uint64_t)in->cfg->ingest.handshake_timeout_ms);
}

/* ---- the ingest ---------------------------------------------------------------------------- */

static int start_listeners(struct tsb_ingest *in)
{
    const struct tsb_config *cfg = in->cfg;
    int r;
    in->has_unix = true;
    in->listeners_open++;
    in->unix_srv.data = in;
    if ((r = tsb_listen_unix(in->loop, &in->unix_srv, cfg->ingest.unix_socket,
                             (int)cfg->ingest.unix_mode, on_connection)) != 0)
        return r;
    in->unix_srv.data = in;
    tsb_info("ingest: listening on unix %s (mode %04" PRIo64 ")", cfg->ingest.unix_socket,
             cfg->ingest.unix_mode);
    if (cfg->ingest.tcp_listen[0] == '\0')
        return 0;
    if (cfg->ingest.tls) {
        struct tsb_tls_policy pol = {cfg->ingest.tls_ciphers, cfg->ingest.tls_ciphersuites};
        if ((r = tsb_tls_ctx_new_server(cfg->ingest.tls_cert, cfg->ingest.tls_key,
                                        cfg->ingest.tls_client_ca, &pol, &in->tls)) != 0)
            return r;
        if (cfg->ingest.tls_allowlist[0] != '\0' &&
            (r = tsb_allowlist_load(cfg->ingest.tls_allowlist, in->lim.max_source, &in->allow)) !=
                0)
            return r;
    }
    in->has_tcp = true;
    in->listeners_open++;
    if ((r = tsb_listen_tcp(in->loop, &in->tcp_srv, "ingest.tcp_listen", cfg->ingest.tcp_listen,
                            on_connection, &in->tcp_port)) != 0)
        return r;
    in->tcp_srv.data = in;
    if ((r = tsb_listen_write_port_file(cfg->general.state_dir, "tsbagd.port", in->tcp_port)) != 0)
        return r;
    tsb_info("ingest: listening on tcp port %d (%s%s)", in->tcp_port,
             cfg->ingest.tls ? "TLS, client certificates required" : "plain, no TLS",
             in->allow != NULL ? ", allow-list" : "");
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    struct tsb_ingest *in = h->data;
    in->listeners_open--;
    tsb_ingest_maybe_stopped(in);
}

static void close_listeners(struct tsb_ingest *in)
{
    if (in->has_unix && !uv_is_closing((uv_handle_t *)&in->unix_srv)) {
        in->unix_srv.data = in;
        uv_close((uv_handle_t *)&in->unix_srv, listener_closed);
        unlink(in->cfg->ingest.unix_socket);
    }
    if (in->has_tcp && !uv_is_closing((uv_handle_t *)&in->tcp_srv)) {
        in->tcp_srv.data = in;
        uv_close((uv_handle_t *)&in->tcp_srv, listener_closed);
    }
}

static void run_closed(uv_handle_t *h)
{
    struct tsb_ingest *in = h->data;
    void (*stopped)(void *) = in->stopped;
    void *arg = in->stopped_arg;
    tsb_allowlist_free(in->allow);
    tsb_tls_ctx_free(in->tls);
    tsb_hasher_free(in->hasher);
    free(in);
    if (stopped != NULL)
        stopped(arg);
}

void tsb_ingest_maybe_stopped(struct tsb_ingest *in)
{
    if (!in->stopping || in->listeners_open > 0 || in->conns != NULL ||
        uv_is_closing((uv_handle_t *)&in->run))
        return;
    uv_close((uv_handle_t *)&in->run, run_closed);
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
    uv_idle_init(loop, &in->run);
    in->run.data = in;
    if ((r = start_listeners(in)) != 0) {
        /* the handles close asynchronously; the loop run that follows frees the ingest */
        in->stopping = true;
        close_listeners(in);
        tsb_ingest_maybe_stopped(in);
        return r;
    }
    *out = in;
    return 0;
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
    struct tsb_allowlist *next = NULL;
    int r;
    if (path[0] != '\0' && (r = tsb_allowlist_load(path, in->lim.max_source, &next)) != 0)
        return r;
    tsb_allowlist_free(in->allow);
    in->allow = next;
    return 0;
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
    tsb_info("ingest: stopping: %u connection(s) finish their requests in flight; at most %zu "
             "bytes were buffered at once (ingest.buffer_bytes=%" PRId64 ")",
             tsb_ingest_connections(in), in->buffered_peak, in->cfg->ingest.buffer_bytes);
    for (struct conn *c = in->conns; c != NULL; c = c->next) {
        if (c->state >= CONN_FINISHING)
            continue;
        if (c->s.tls != NULL && !tsb_tls_handshake_done(c->s.tls)) {
            tsb_ingest_conn_abort(c); /* nothing can be said before TLS is up */
            continue;
        }
        /* after the replies to every request taken in: SHUTTING_DOWN (ARCHIVE_FAILED when that
         * is why) answers the first request not taken in (docs/protocol.md section 3) and ends
         * the connection */
        if (archive_failed)
            tsb_ingest_conn_fail(c, TSB_NACK_ARCHIVE_FAILED,
                                 "the archive could not be written; tsbagd is stopping; requests "
                                 "after the last reply were not taken in");
        else
            tsb_ingest_conn_fail(
                c, TSB_NACK_SHUTTING_DOWN,
                "tsbagd is stopping: requests after the last reply were not taken in");
    }
    tsb_ingest_maybe_stopped(in);
}
