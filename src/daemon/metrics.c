/*
 * metrics: counters (relaxed atomics, written on the loop thread, read by scrapes), the archive
 * snapshot (under mu: written by the writer thread after a statistics read, read by scrapes) and
 * the libmicrohttpd server thread that formats both. A scrape costs one mutex hold to copy the
 * snapshot and two stat() calls; it never waits for the writer or reads the archive.
 */
#include "metrics.h"

#include "clock.h"
#include "err.h"
#include "frame.h"
#include "health.h"
#include "listen.h"
#include "log.h"
#include "mem.h"
#include "prom.h"

#include <errno.h>
#include <microhttpd.h>
#include <openssl/asn1.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SOURCES_MAX   64
#define REFRESH_MS    5000
#define SCRAPE_MAX    (4 * 1024 * 1024)
#define NBUCKETS      14
#define TSA_OUTCOMES  4 /* stamped, then one per enum tsb_dss_class */
#define PORT_FILE     "tsbagd.metrics.port"
#define CONTENT_TYPE  "text/plain; version=0.0.4; charset=utf-8"
#define STAGES        3 /* pending, serving, refusing */
#define TSA2_OUTCOMES 9

/* Upper bounds in seconds: acknowledgements are milliseconds (a group commit), TSA requests
 * seconds (signing and verifying a bag, eHealth's latency). */
static const double ack_bounds[NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const double tsa_bounds[NBUCKETS] = {0.05, 0.1, 0.25, 0.5, 1,  2.5, 5,
                                            10,   15,  20,   30,  60, 120, 300};

struct histogram {
    const double *bounds;
    atomic_uint_fast64_t counts[NBUCKETS + 1];
    atomic_uint_fast64_t sum_ns;
};

struct source_slot {
    enum tsb_metrics_listener listener;
    char name[TSB_SOURCE_MAX_PROTO + 1];
    atomic_uint_fast64_t received, acked;
    atomic_uint_fast64_t refused[TSB_NACK_LAST];
};

/* The archive figures, as of the last statistics read. */
struct snapshot {
    bool have_stats, stats_failed, have_run;
    struct tsb_store_stats st;
    int64_t run_finished_ms;
    char run_result[16];
};

static struct {
    /* counters: loop thread writes (relaxed), scrapes read */
    struct source_slot src[SOURCES_MAX];
    atomic_int nsrc; /* slots [0, nsrc) are filled: stored with release after the slot */
    atomic_uint_fast64_t nacks[TSB_NACK_LAST];
    atomic_uint_fast64_t tsa[TSA_OUTCOMES];
    atomic_uint_fast64_t tsa2[TSA2_OUTCOMES];
    /* [tsa2] backlog: written after each backlog read, read by scrapes (0 alarm_s: no tsa2) */
    atomic_int_fast64_t tsa2_bags, tsa2_oldest_ms, tsa2_alarm_s;
    struct histogram ack, tsa_latency;
    atomic_uint conns[2][STAGES]; /* [tcp][stage] */
    atomic_int_fast64_t keystore_not_after_ms;
    /* sealer.unstamped_alarm_s: a SIGHUP may change it on the loop thread while a scrape runs */
    atomic_int_fast64_t alarm_s;
    atomic_bool archive_failed;
    atomic_size_t writer_queue_bytes, writer_queue_peak;
    /* shared, under mu */
    pthread_mutex_t mu;
    struct snapshot snap;
    /* set before the HTTP thread starts, then read only */
    int64_t start_ms;
    const struct tsb_config *cfg;
    struct MHD_Daemon *httpd;
    /* loop thread only */
    uv_timer_t timer;
    bool timer_on, refresh_busy;
    struct tsb_writer *w;
} m = {
    .ack.bounds = ack_bounds,
    .tsa_latency.bounds = tsa_bounds,
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

static const char *const listener_names[] = {"unix", "tcp", "tls"};
static const char *const tsa_outcomes[TSA_OUTCOMES] = {"stamped", "transient", "rejected",
                                                       "definitive"};
static const char *const tsa2_outcomes[TSA2_OUTCOMES] = {
    "stamped", "transport", "http", "malformed", "refused", "nonce", "imprint", "token", "archive"};
static const char *const stage_names[STAGES] = {"pending", "serving", "refusing"};

static void add(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void observe(struct histogram *h, uint64_t ns)
{
    size_t i = 0;
    while (i < NBUCKETS && (double)ns > h->bounds[i] * 1e9)
        i++;
    add(&h->counts[i]);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

/* ---- hot path (loop thread) ---------------------------------------------------------------- */

int tsb_metrics_source(enum tsb_metrics_listener listener, const char *source)
{
    int n = atomic_load_explicit(&m.nsrc, memory_order_relaxed);
    for (int i = 0; i < n; i++)
        if (m.src[i].listener == listener && strcmp(m.src[i].name, source) == 0)
            return i;
    if (n == SOURCES_MAX - 1) {
        source = "other"; /* the last slot takes every pair past the cap */
        for (int i = 0; i < n; i++)
            if (m.src[i].listener == listener && strcmp(m.src[i].name, source) == 0)
                return i;
    }
    if (n == SOURCES_MAX)
        return n - 1;
    m.src[n].listener = listener;
    snprintf(m.src[n].name, sizeof(m.src[n].name), "%s", source);
    atomic_store_explicit(&m.nsrc, n + 1, memory_order_release);
    return n;
}

void tsb_metrics_received(int slot)
{
    add(&m.src[slot].received);
}

void tsb_metrics_acked(int slot, uint64_t latency_ns)
{
    add(&m.src[slot].acked);
    observe(&m.ack, latency_ns);
}

void tsb_metrics_refused(int slot, unsigned code)
{
    add(&m.src[slot].refused[code < TSB_NACK_LAST ? code : TSB_NACK_NONE]);
}

void tsb_metrics_nack(unsigned code)
{
    add(&m.nacks[code < TSB_NACK_LAST ? code : TSB_NACK_NONE]);
}

void tsb_metrics_connections(bool tcp, unsigned pending, unsigned serving, unsigned refusing)
{
    atomic_store_explicit(&m.conns[tcp][0], pending, memory_order_relaxed);
    atomic_store_explicit(&m.conns[tcp][1], serving, memory_order_relaxed);
    atomic_store_explicit(&m.conns[tcp][2], refusing, memory_order_relaxed);
}

void tsb_metrics_tsa_result(bool ok, enum tsb_dss_class kind)
{
    size_t i = ok ? 0 : kind == TSB_DSS_TRANSIENT ? 1 : kind == TSB_DSS_SUSPECT ? 2 : 3;
    add(&m.tsa[i]);
}

void tsb_metrics_tsa2_result(const char *outcome)
{
    for (size_t i = 0; i < TSA2_OUTCOMES; i++)
        if (strcmp(tsa2_outcomes[i], outcome) == 0) {
            add(&m.tsa2[i]);
            return;
        }
    tsb_error("metrics: unknown second-TSA outcome %s", outcome);
}

void tsb_metrics_tsa2_backlog(int64_t bags, int64_t oldest_sealed_ms, int64_t alarm_s)
{
    atomic_store_explicit(&m.tsa2_bags, bags, memory_order_relaxed);
    atomic_store_explicit(&m.tsa2_oldest_ms, oldest_sealed_ms, memory_order_relaxed);
    atomic_store_explicit(&m.tsa2_alarm_s, alarm_s, memory_order_relaxed);
}

void tsb_metrics_tsa_latency(uint64_t latency_ns)
{
    observe(&m.tsa_latency, latency_ns);
}

void tsb_metrics_keystore(int64_t not_after_ms)
{
    if (not_after_ms != 0)
        atomic_store_explicit(&m.keystore_not_after_ms, not_after_ms, memory_order_relaxed);
}

void tsb_metrics_writer_queue(size_t bytes, size_t peak)
{
    atomic_store_explicit(&m.writer_queue_bytes, bytes, memory_order_relaxed);
    atomic_store_explicit(&m.writer_queue_peak, peak, memory_order_relaxed);
}

void tsb_metrics_archive_failed(void)
{
    atomic_store_explicit(&m.archive_failed, true, memory_order_relaxed);
}

/* ---- archive snapshot ---------------------------------------------------------------------- */

void tsb_metrics_publish(struct tsb_store *store, const struct tsb_store_stats *st)
{
    int64_t finished = 0;
    char result[16] = "";
    int r =
        st != NULL ? tsb_store_run_latest(store, &finished, result, sizeof(result)) : TSB_ENOTFOUND;
    pthread_mutex_lock(&m.mu);
    m.snap.stats_failed = st == NULL;
    if (st != NULL) {
        m.snap.have_stats = true;
        m.snap.st = *st;
    }
    if (r == 0) {
        m.snap.have_run = true;
        m.snap.run_finished_ms = finished;
        snprintf(m.snap.run_result, sizeof(m.snap.run_result), "%s", result);
    }
    pthread_mutex_unlock(&m.mu);
}

static int refresh_job(struct tsb_store *store, void *arg)
{
    (void)arg;
    struct tsb_store_stats st;
    tsb_metrics_publish(store, tsb_store_stats(store, &st) == 0 ? &st : NULL);
    return 0; /* a failed read is shown by /healthz; it must not poison the writer */
}

static void refresh_done(void *arg, int status)
{
    (void)arg;
    (void)status;
    m.refresh_busy = false;
}

static void on_refresh(uv_timer_t *t)
{
    (void)t;
    if (!m.refresh_busy && tsb_writer_submit_job(m.w, refresh_job, refresh_done, NULL) == 0)
        m.refresh_busy = true;
}

void tsb_metrics_refresh_start(uv_loop_t *loop, struct tsb_writer *w)
{
    m.w = w;
    uv_timer_init(loop, &m.timer);
    uv_timer_start(&m.timer, on_refresh, 0, REFRESH_MS);
    m.timer_on = true;
}

/* ---- exposition ---------------------------------------------------------------------------- */

static void snapshot_copy(struct snapshot *out)
{
    pthread_mutex_lock(&m.mu);
    *out = m.snap;
    pthread_mutex_unlock(&m.mu);
}

static enum tsb_health health(const struct snapshot *s, char *why, size_t n)
{
    struct tsb_health_in in = {
        .now_ms = tsb_now_ms(),
        .have_stats = s->have_stats,
        .stats_failed = s->stats_failed,
        .archive_failed = atomic_load_explicit(&m.archive_failed, memory_order_relaxed),
        .oldest_unstamped_ms = s->st.oldest_unstamped_ms,
        .unstamped_alarm_s = atomic_load_explicit(&m.alarm_s, memory_order_relaxed),
        .sealer_enabled = m.cfg->sealer.enabled,
        .held_bags = s->st.bags[TSB_BAG_FAILED],
        .keystore_not_after_ms =
            atomic_load_explicit(&m.keystore_not_after_ms, memory_order_relaxed),
        .tsa2_alarm_s = atomic_load_explicit(&m.tsa2_alarm_s, memory_order_relaxed),
        .tsa2_oldest_missing_ms = atomic_load_explicit(&m.tsa2_oldest_ms, memory_order_relaxed),
        .tsa2_missing_bags = atomic_load_explicit(&m.tsa2_bags, memory_order_relaxed),
    };
    return tsb_health_decide(&in, why, n);
}

static int64_t file_size(const char *path, const char *suffix)
{
    char p[4200];
    struct stat st;
    snprintf(p, sizeof(p), "%s%s", path, suffix);
    return stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
}

static double seconds(int64_t ms)
{
    return (double)ms / 1000.0;
}

static int put_histogram(struct tsb_buf *b, const char *name, const char *help, struct histogram *h)
{
    uint64_t counts[NBUCKETS + 1];
    for (size_t i = 0; i <= NBUCKETS; i++)
        counts[i] = get(&h->counts[i]);
    int r = tsb_prom_family(b, name, "histogram", help);
    return r ? r
             : tsb_prom_histogram(b, name, NULL, h->bounds, counts, NBUCKETS,
                                  (double)get(&h->sum_ns) / 1e9);
}

/* The entry counters by source: which selects received (0), acked (1) or refused (2). */
static int put_entries(struct tsb_buf *b, int n, int which)
{
    static const char *const names[] = {"tsbag_entries_received_total",
                                        "tsbag_entries_acknowledged_total",
                                        "tsbag_entries_refused_total"};
    static const char *const helps[] = {
        "SUBMIT requests received, by listener and allow-list source.",
        "Entries acknowledged (committed to the archive), by listener and allow-list source.",
        "SUBMIT requests answered with a NACK (nothing stored), by listener, source and code."};
    int r = tsb_prom_family(b, names[which], "counter", helps[which]);
    for (int i = 0; i < n && r == 0; i++) {
        struct source_slot *s = &m.src[i];
        const char *l = listener_names[s->listener];
        if (which < 2) {
            const char *labels[] = {"listener", l, "source", s->name, NULL};
            r = tsb_prom_int(b, names[which], labels,
                             (int64_t)get(which == 0 ? &s->received : &s->acked));
            continue;
        }
        for (unsigned c = 1; c < TSB_NACK_LAST && r == 0; c++) {
            uint64_t v = get(&s->refused[c]);
            const char *labels[] = {"listener",       l,   "source", s->name, "code",
                                    tsb_nack_name(c), NULL};
            if (v > 0)
                r = tsb_prom_int(b, names[which], labels, (int64_t)v);
        }
    }
    return r;
}

static int put_ingest(struct tsb_buf *b)
{
    int r = 0, n = atomic_load_explicit(&m.nsrc, memory_order_acquire);
    for (int which = 0; which < 3 && r == 0; which++)
        r = put_entries(b, n, which);
    if (r == 0)
        r = tsb_prom_family(b, "tsbag_nacks_total", "counter",
                            "NACK replies sent for any request, by code.");
    for (unsigned c = 1; c < TSB_NACK_LAST && r == 0; c++) {
        const char *labels[] = {"code", tsb_nack_name(c), NULL};
        r = tsb_prom_int(b, "tsbag_nacks_total", labels, (int64_t)get(&m.nacks[c]));
    }
    if (r == 0)
        r = put_histogram(b, "tsbag_ack_latency_seconds",
                          "Time from a SUBMIT's arrival to its ACK (the archive commit included).",
                          &m.ack);
    if (r == 0)
        r = tsb_prom_family(b, "tsbag_connections", "gauge",
                            "Open ingest connections by listener (tcp includes TLS) and stage.");
    for (int tcp = 0; tcp < 2 && r == 0; tcp++)
        for (int st = 0; st < STAGES && r == 0; st++) {
            const char *labels[] = {"listener", tcp ? "tcp" : "unix", "stage", stage_names[st],
                                    NULL};
            r = tsb_prom_int(b, "tsbag_connections", labels,
                             atomic_load_explicit(&m.conns[tcp][st], memory_order_relaxed));
        }
    return r;
}

static int put_tsa(struct tsb_buf *b)
{
    int r = tsb_prom_family(b, "tsbag_tsa_requests_total", "counter",
                            "TSA attempts by outcome: stamped, or the failure class (transient: "
                            "retried with backoff; rejected: suspect answer; definitive: held).");
    for (size_t i = 0; i < TSA_OUTCOMES && r == 0; i++) {
        const char *labels[] = {"outcome", tsa_outcomes[i], NULL};
        r = tsb_prom_int(b, "tsbag_tsa_requests_total", labels, (int64_t)get(&m.tsa[i]));
    }
    if (r == 0)
        r = put_histogram(b, "tsbag_tsa_request_latency_seconds",
                          "Time of one TSA HTTP exchange, request sent to answer or error.",
                          &m.tsa_latency);
    return r;
}

static int put_gauge(struct tsb_buf *b, const char *name, const char *help, double v);

/* [tsa2]: shown only when the second TSA is configured. */
static int put_tsa2(struct tsb_buf *b)
{
    if (atomic_load_explicit(&m.tsa2_alarm_s, memory_order_relaxed) == 0)
        return 0;
    int r = tsb_prom_family(b, "tsbag_tsa2_requests_total", "counter",
                            "Second-TSA requests by outcome: stamped (archived), or why the answer "
                            "was not archived (docs/operations.md).");
    for (size_t i = 0; i < TSA2_OUTCOMES && r == 0; i++) {
        const char *labels[] = {"outcome", tsa2_outcomes[i], NULL};
        r = tsb_prom_int(b, "tsbag_tsa2_requests_total", labels, (int64_t)get(&m.tsa2[i]));
    }
    int64_t oldest = atomic_load_explicit(&m.tsa2_oldest_ms, memory_order_relaxed);
    if (r == 0)
        r = put_gauge(b, "tsbag_tsa2_missing_bags", "Bags without a second token.",
                      (double)atomic_load_explicit(&m.tsa2_bags, memory_order_relaxed));
    if (r == 0)
        r = put_gauge(b, "tsbag_tsa2_oldest_missing_age_seconds",
                      "Age of the oldest bag without a second token, since its seal (0: none).",
                      oldest ? seconds(tsb_now_ms() - oldest) : 0);
    return r;
}

/* A gauge family of one sample without labels. */
static int put_gauge(struct tsb_buf *b, const char *name, const char *help, double v)
{
    int r = tsb_prom_family(b, name, "gauge", help);
    return r ? r : tsb_prom_real(b, name, NULL, v);
}

static int put_archive(struct tsb_buf *b, const struct snapshot *s)
{
    int r = 0;
    int64_t now = tsb_now_ms(), oldest = s->st.oldest_unstamped_ms;
    if (s->have_stats) {
        if ((r = put_gauge(b, "tsbag_entries_staged", "Entries not yet sealed into a bag.",
                           (double)s->st.staged)) != 0 ||
            (r = put_gauge(b, "tsbag_entries", "Entries in the archive.", (double)s->st.entries)) !=
                0 ||
            (r = put_gauge(b, "tsbag_entries_unindexed",
                           "Entries not yet in the digest index (indexed by the writer).",
                           (double)s->st.hash_lag)) != 0 ||
            (r = put_gauge(b, "tsbag_oldest_unstamped_age_seconds",
                           "Age of the oldest entry without a verified stamp (0: none).",
                           oldest ? seconds(now - oldest) : 0)) != 0 ||
            (r = put_gauge(b, "tsbag_last_stamp_timestamp_seconds",
                           "When the newest stamp was archived (Unix time; 0: none).",
                           seconds(s->st.last_stamped_ms))) != 0 ||
            (r = tsb_prom_family(b, "tsbag_bags", "gauge",
                                 "Bags by state (failed: held until tsbag retry).")) != 0)
            return r;
        for (int i = 0; i < TSB_BAG_NSTATES && r == 0; i++) {
            const char *labels[] = {"state", tsb_bag_state_name((enum tsb_bag_state)i), NULL};
            r = tsb_prom_int(b, "tsbag_bags", labels, s->st.bags[i]);
        }
    }
    if (r == 0 && s->have_run) {
        if ((r = put_gauge(b, "tsbag_reconcile_last_timestamp_seconds",
                           "When the latest tsbag reconcile run finished (Unix time).",
                           seconds(s->run_finished_ms))) != 0 ||
            (r = tsb_prom_family(b, "tsbag_reconcile_last_result", "gauge",
                                 "1 for the result of the latest tsbag reconcile run.")) != 0)
            return r;
        static const char *const results[] = {"clean", "discrepancies", "failed", "damaged"};
        for (size_t i = 0; i < sizeof(results) / sizeof(results[0]) && r == 0; i++) {
            const char *labels[] = {"result", results[i], NULL};
            r = tsb_prom_int(b, "tsbag_reconcile_last_result", labels,
                             strcmp(s->run_result, results[i]) == 0);
        }
    }
    if (r == 0)
        r = put_gauge(b, "tsbag_archive_bytes", "Size of the archive file.",
                      (double)file_size(m.cfg->store.path, ""));
    if (r == 0)
        r = put_gauge(b, "tsbag_archive_wal_bytes", "Size of the archive's write-ahead log.",
                      (double)file_size(m.cfg->store.path, "-wal"));
    return r;
}

static int put_process(struct tsb_buf *b, enum tsb_health h)
{
    int r = 0;
    int64_t na = atomic_load_explicit(&m.keystore_not_after_ms, memory_order_relaxed);
    if (na != 0 && (r = put_gauge(b, "tsbag_keystore_cert_expiry_timestamp_seconds",
                                  "notAfter of the hospital keystore certificate (Unix time).",
                                  seconds(na))) != 0)
        return r;
    if ((r = put_gauge(
             b, "tsbag_writer_queue_bytes",
             "Bytes of entries waiting for the writer (bounded by writer.queue_bytes).",
             (double)atomic_load_explicit(&m.writer_queue_bytes, memory_order_relaxed))) != 0 ||
        (r = put_gauge(
             b, "tsbag_writer_queue_bytes_peak",
             "The most bytes of entries ever waiting for the writer since tsbagd started.",
             (double)atomic_load_explicit(&m.writer_queue_peak, memory_order_relaxed))) != 0 ||
        (r = put_gauge(b, "tsbag_process_start_time_seconds", "When tsbagd started (Unix time).",
                       seconds(m.start_ms))) != 0 ||
        (r = tsb_prom_family(b, "tsbag_build_info", "gauge",
                             "1, labelled with the version and the git description of the build "
                             "(empty when it was built outside git).")) != 0)
        return r;
#ifdef TSB_GIT_DESCRIBE
    const char *git = TSB_GIT_DESCRIBE;
#else
    const char *git = "";
#endif
    const char *labels[] = {"version", TSB_VERSION, "git", git, NULL};
    if ((r = tsb_prom_int(b, "tsbag_build_info", labels, 1)) != 0 ||
        (r = tsb_prom_family(b, "tsbag_health", "gauge",
                             "What /healthz answers: 0 ok, 1 degraded, 2 failing.")) != 0)
        return r;
    return tsb_prom_int(b, "tsbag_health", NULL, (int64_t)h);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const void *p, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)p, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *s)
{
    return reply(c, status, "text/plain; charset=utf-8", s, strlen(s));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version, (void)upload;
    if (*con_cls == NULL) { /* headers only so far: answer once the request is complete */
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0; /* a body is never wanted: dropped, then 405 below */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD are served\n");
    struct snapshot s;
    snapshot_copy(&s);
    char why[1024], line[1100];
    enum tsb_health h = health(&s, why, sizeof(why));
    if (strcmp(url, "/healthz") == 0) {
        if (h == TSB_HEALTH_OK)
            snprintf(line, sizeof(line), "ok\n");
        else
            snprintf(line, sizeof(line), "%s: %s\n", tsb_health_name(h), why);
        return reply_text(c, h == TSB_HEALTH_FAILING ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                          line);
    }
    if (strcmp(url, "/metrics") != 0)
        return reply_text(c, MHD_HTTP_NOT_FOUND,
                          "not found: tsbagd serves /metrics and /healthz\n");
    struct tsb_buf b;
    tsb_buf_init(&b, SCRAPE_MAX);
    int r = put_ingest(&b);
    if (r == 0)
        r = put_tsa(&b);
    if (r == 0)
        r = put_tsa2(&b);
    if (r == 0)
        r = put_archive(&b, &s);
    if (r == 0)
        r = put_process(&b, h);
    enum MHD_Result ret =
        r == 0 ? reply(c, MHD_HTTP_OK, CONTENT_TYPE, b.p, b.len)
               : reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot format the metrics\n");
    if (r != 0)
        tsb_error("metrics: cannot format /metrics: %s", tsb_err_detail());
    tsb_buf_cleanup(&b);
    return ret;
}

/* ---- server -------------------------------------------------------------------------------- */

/* Binds and listens here rather than in libmicrohttpd, so that a busy port is reported with its
 * errno, naming the option. */
static int bind_listener(const char *spec, int *fd_out, int *port_out)
{
    int r = TSB_EINTERNAL, fd = -1, one = 1;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if ((r = tsb_listen_parse("metrics.listen", spec, &ss)) != 0)
        return r;
    len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        r = tsb_err(TSB_EIO, "metrics.listen %s: socket: %s", spec, strerror(errno));
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0) {
        r = tsb_err(TSB_EIO,
                    "metrics.listen %s: %s (another process holds the port? set metrics.listen to "
                    "a free host:port, or empty to disable the endpoint)",
                    spec, strerror(errno));
        goto out;
    }
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        r = tsb_err(TSB_EIO, "metrics.listen %s: getsockname: %s", spec, strerror(errno));
        goto out;
    }
    *port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    *fd_out = fd;
    fd = -1;
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    return r;
}

void tsb_metrics_alarm(int64_t unstamped_alarm_s)
{
    atomic_store_explicit(&m.alarm_s, unstamped_alarm_s, memory_order_relaxed);
}

int tsb_metrics_serve(const struct tsb_config *cfg)
{
    int r = TSB_EINTERNAL, fd = -1, port = 0;
    m.cfg = cfg;
    m.start_ms = tsb_now_ms();
    tsb_metrics_alarm(cfg->sealer.unstamped_alarm_s);
    if (cfg->metrics.listen[0] == '\0') {
        tsb_info("metrics: metrics.listen is empty: no /metrics or /healthz endpoint");
        return 0;
    }
    if ((r = bind_listener(cfg->metrics.listen, &fd, &port)) != 0)
        return r;
    if ((r = tsb_listen_write_port_file(cfg->general.state_dir, PORT_FILE, port)) != 0) {
        close(fd);
        return r;
    }
    /* the server thread inherits this mask: signals stay with the loop thread */
    sigset_t block, old;
    sigfillset(&block);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    m.httpd =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL,
                         MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (m.httpd == NULL) {
        close(fd);
        return tsb_err(TSB_EIO, "metrics.listen %s: cannot start the HTTP server",
                       cfg->metrics.listen);
    }
    tsb_info("metrics: serving /metrics and /healthz on %s (port %d)", cfg->metrics.listen, port);
    return 0;
}

void tsb_metrics_stop(void)
{
    if (m.timer_on) {
        uv_close((uv_handle_t *)&m.timer, NULL);
        m.timer_on = false;
    }
    if (m.httpd != NULL) {
        MHD_stop_daemon(m.httpd); /* joins the thread and closes the listening socket */
        m.httpd = NULL;
    }
}
