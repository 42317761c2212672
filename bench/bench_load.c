/*
 * bench_load: ingest load generator on libuv. N connections each keep up to P requests in flight,
 * submitting S-byte entries (distinct bytes each) until a count or a duration is reached,
 * optionally rate-limited to R entries/s in total. Reports acks/s and the ack latency (from the
 * moment the request was queued for sending to the moment its ACK was parsed) p50/p99/p99.9/max,
 * and, with --watch, samples the daemon's writer queue with STATUS every 200 ms.
 *
 *   bench_load (--socket PATH | --tcp HOST:PORT) [-c N] [-P P] [-s S] (-n COUNT | -d SECONDS)
 *              [-r RATE] [--hash] [--watch]
 */
#include "client.h"
#include "err.h"
#include "frame.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* log-linear latency histogram: 64 sub-buckets per power of two of nanoseconds (< 1.6% error) */
#define SUB 64
#define POW 40
static uint64_t hist[POW][SUB];
static uint64_t hist_count, lat_max;

static void hist_add(uint64_t ns)
{
    if (ns > lat_max)
        lat_max = ns;
    hist_count++;
    if (ns < SUB) {
        hist[0][ns]++;
        return;
    }
    int p = 63 - __builtin_clzll(ns); /* ns in [2^p, 2^(p+1)) */
    int shift = p - 6;
    int e = shift + 1;
    uint64_t sub = (ns >> shift) - SUB;
    if (e >= POW)
        e = POW - 1, sub = SUB - 1;
    hist[e][sub]++;
}

static double hist_pct(double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)hist_count), seen = 0;
    if (want == 0)
        want = 1;
    for (int e = 0; e < POW; e++)
        for (int s = 0; s < SUB; s++) {
            seen += hist[e][s];
            if (seen >= want) {
                uint64_t lo = e == 0 ? (uint64_t)s : ((uint64_t)(SUB + s) << (e - 1));
                return (double)lo / 1e6;
            }
        }
    return (double)lat_max / 1e6;
}

struct conn;

struct bench {
    uv_loop_t *loop;
    struct tsb_client_opts copts;
    int nconn;
    size_t depth, size;
    uint64_t count;    /* 0: duration mode */
    double duration_s; /* duration mode */
    double rate;       /* 0: unlimited */
    bool hash_only, watch, stop_sending;
    uint64_t sent, acked, nacked, lost, seq;
    uint64_t t_start, t_end;
    double tokens;
    uint64_t t_tokens;
    uv_timer_t tick;
    struct conn *conns;
    int open;
    uint8_t *payload;
    struct tsb_client *watcher;
    bool watcher_ready;
    uint32_t queue_max_seen;
    uint64_t status_samples;
};

struct conn {
    struct bench *b;
    struct tsb_client *c;
    uint64_t *t_sent; /* ring of send times, in request order */
    size_t head, n;
    bool ready;
};

static void pump(struct conn *k);

static void closed(void *data)
{
    struct bench *b = data;
    b->open--;
}

static bool all_done(struct bench *b)
{
    if (!b->stop_sending)
        return false;
    for (int i = 0; i < b->nconn; i++)
        if (b->conns[i].c != NULL && tsb_client_inflight(b->conns[i].c) > 0)
            return false;
    return true;
}

static void finish(struct bench *b)
{
    if (b->t_end == 0)
        b->t_end = uv_hrtime();
    for (int i = 0; i < b->nconn; i++)
        if (b->conns[i].c != NULL) {
            tsb_client_close(b->conns[i].c, closed);
            b->conns[i].c = NULL;
        }
    if (b->watcher != NULL) {
        tsb_client_close(b->watcher, closed);
        b->watcher = NULL;
    }
    if (!uv_is_closing((uv_handle_t *)&b->tick))
        uv_close((uv_handle_t *)&b->tick, NULL);
}

static void on_reply(struct tsb_client *c, void *arg, int status, const struct tsb_frame *f)
{
    struct conn *k = arg;
    struct bench *b = k->b;
    (void)c;
    uint64_t now = uv_hrtime();
    uint64_t t0 = k->t_sent[k->head];
    k->head = (k->head + 1) % b->depth;
    k->n--;
    if (status != 0) {
        b->lost++;
    } else if (f->type == TSB_FT_ACK) {
        b->acked++;
        hist_add(now - t0);
    } else {
        b->nacked++;
        if (b->nacked <= 5) {
            char why[700];
            tsb_client_describe(f, why, sizeof(why));
            fprintf(stderr, "bench_load: %s\n", why);
        }
    }
    if (status == 0)
        pump(k);
    /* the connections are closed from the next tick, never from inside their own callback */
    if (all_done(b) && b->t_end == 0)
        b->t_end = now;
}

static bool take_token(struct bench *b)
{
    if (b->rate <= 0)
        return true;
    if (b->tokens < 1)
        return false;
    b->tokens -= 1;
    return true;
}

static void pump(struct conn *k)
{
    struct bench *b = k->b;
    while (k->c != NULL && k->ready && !b->stop_sending && k->n < b->depth &&
           !tsb_client_ended(k->c) && take_token(b)) {
        uint64_t seq = b->seq++;
        memcpy(b->payload, &seq, sizeof(seq)); /* distinct bytes, distinct hashes */
        int r;
        if (b->hash_only) {
            uint8_t d[TSB_SHA256_LEN] = {0};
            memcpy(d, &seq, sizeof(seq));
            r = tsb_client_submit_hash(k->c, (struct tsb_slice){NULL, 0},
                                       (struct tsb_slice){NULL, 0}, d, on_reply, k);
        } else {
            r = tsb_client_submit(k->c, (struct tsb_slice){NULL, 0}, (struct tsb_slice){NULL, 0},
                                  (struct tsb_slice){b->payload, b->size}, on_reply, k);
        }
        if (r != 0) {
            fprintf(stderr, "bench_load: submit: %s\n", tsb_err_detail());
            break;
        }
        k->t_sent[(k->head + k->n) % b->depth] = uv_hrtime();
        k->n++;
        b->sent++;
        if (b->count > 0 && b->sent >= b->count)
            b->stop_sending = true;
    }
}

static void on_ready(struct tsb_client *c, int status, const struct tsb_hello_ok *h)
{
    struct conn *k = tsb_client_data(c);
    (void)h;
    if (status != 0) {
        fprintf(stderr, "bench_load: connect: %s\n", tsb_err_detail());
        exit(2);
    }
    k->ready = true;
    pump(k);
}

static void on_status(struct tsb_client *c, void *arg, int status, const struct tsb_frame *f)
{
    struct bench *b = arg;
    struct tsb_status st;
    (void)c;
    if (status == 0 && f->type == TSB_FT_STATUS_OK && tsb_frame_parse_status(f->body, &st) == 0) {
        b->status_samples++;
        if (st.writer_queue > b->queue_max_seen)
            b->queue_max_seen = st.writer_queue;
    }
}

static void on_watch_ready(struct tsb_client *c, int status, const struct tsb_hello_ok *h)
{
    struct bench *b = tsb_client_data(c);
    (void)h;
    if (status != 0)
        fprintf(stderr, "bench_load: watcher: %s\n", tsb_err_detail());
    else
        b->watcher_ready = true;
}

static void on_tick(uv_timer_t *t)
{
    struct bench *b = t->data;
    uint64_t now = uv_hrtime();
    if (b->rate > 0) {
        b->tokens += b->rate * (double)(now - b->t_tokens) / 1e9;
        if (b->tokens > b->rate / 100 + 1)
            b->tokens = b->rate / 100 + 1; /* at most 10 ms of burst */
        b->t_tokens = now;
    }
    if (b->count == 0 && !b->stop_sending && (double)(now - b->t_start) / 1e9 >= b->duration_s)
        b->stop_sending = true;
    static uint64_t last_watch;
    if (b->watch && b->watcher != NULL && b->watcher_ready && !tsb_client_ended(b->watcher) &&
        now - last_watch > 200000000u && tsb_client_inflight(b->watcher) == 0) {
        last_watch = now;
        tsb_client_request(b->watcher, TSB_FT_STATUS, (struct tsb_slice){NULL, 0}, on_status, b);
    }
    for (int i = 0; i < b->nconn; i++)
        pump(&b->conns[i]);
    if (all_done(b))
        finish(b);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_load (--socket PATH | --tcp HOST:PORT) [-c CONNS] [-P DEPTH] "
                    "[-s SIZE] (-n COUNT | -d SECONDS) [-r RATE] [--hash] [--watch]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 'S'},
        {"tcp", required_argument, NULL, 'T'},
        {"hash", no_argument, NULL, 'H'},
        {"watch", no_argument, NULL, 'W'},
        {NULL, 0, NULL, 0},
    };
    struct bench b = {.nconn = 50, .depth = 16, .size = 1024, .duration_s = 10};
    char host[256] = "";
    int ch;
    b.copts.source = "bench-load";
    while ((ch = getopt_long(argc, argv, "c:P:s:n:d:r:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'S':
            b.copts.unix_path = optarg;
            break;
        case 'T': {
            const char *colon = strrchr(optarg, ':');
            if (colon == NULL || (size_t)(colon - optarg) >= sizeof(host))
                usage();
            memcpy(host, optarg, (size_t)(colon - optarg));
            b.copts.host = host;
            b.copts.port = atoi(colon + 1);
            break;
        }
        case 'H':
            b.hash_only = true;
            break;
        case 'W':
            b.watch = true;
            break;
        case 'c':
            b.nconn = atoi(optarg);
            break;
        case 'P':
            b.depth = (size_t)atol(optarg);
            break;
        case 's':
            b.size = (size_t)atol(optarg);
            break;
        case 'n':
            b.count = (uint64_t)atoll(optarg);
            break;
        case 'd':
            b.duration_s = atof(optarg);
            break;
        case 'r':
            b.rate = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if ((b.copts.unix_path == NULL && b.copts.host == NULL) || b.nconn < 1 || b.depth < 1 ||
        b.size < 8)
        usage();
    uv_loop_t loop;
    uv_loop_init(&loop);
    b.loop = &loop;
    b.payload = calloc(1, b.size);
    for (size_t i = 8; i < b.size; i++)
        b.payload[i] = (uint8_t)(i * 31);
    b.conns = calloc((size_t)b.nconn, sizeof(*b.conns));
    for (int i = 0; i < b.nconn; i++) {
        struct conn *k = &b.conns[i];
        k->b = &b;
        k->t_sent = calloc(b.depth, sizeof(*k->t_sent));
        if (tsb_client_connect(&loop, &b.copts, on_ready, k, &k->c) != 0) {
            fprintf(stderr, "bench_load: %s\n", tsb_err_detail());
            return 2;
        }
        b.open++;
    }
    if (b.watch) {
        if (tsb_client_connect(&loop, &b.copts, on_watch_ready, &b, &b.watcher) != 0)
            return 2;
        b.open++;
    }
    uv_timer_init(&loop, &b.tick);
    b.tick.data = &b;
    b.t_start = b.t_tokens = uv_hrtime();
    uv_timer_start(&b.tick, on_tick, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);

    double secs = (double)(b.t_end - b.t_start) / 1e9;
    printf("bench_load: conns=%d depth=%zu size=%zu%s rate=%s\n", b.nconn, b.depth, b.size,
           b.hash_only ? " (SUBMIT_HASH)" : "", b.rate > 0 ? "limited" : "unlimited");
    if (b.rate > 0)
        printf("  offered %.0f entries/s\n", b.rate);
    printf("  acked %" PRIu64 " in %.2f s: %.0f acks/s (nacked %" PRIu64 ", lost %" PRIu64 ")\n",
           b.acked, secs, (double)b.acked / secs, b.nacked, b.lost);
    printf("  ack latency ms: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", hist_pct(0.50),
           hist_pct(0.99), hist_pct(0.999), (double)lat_max / 1e6);
    if (b.watch)
        printf("  writer queue: max %u entries seen in %" PRIu64 " STATUS samples\n",
               b.queue_max_seen, b.status_samples);
    printf("RESULT acks_per_s=%.0f acked=%" PRIu64 " p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n",
           (double)b.acked / secs, b.acked, hist_pct(0.50), hist_pct(0.99), hist_pct(0.999));
    for (int i = 0; i < b.nconn; i++)
        free(b.conns[i].t_sent);
    free(b.conns);
    free(b.payload);
    return b.acked > 0 ? 0 : 1;
}
