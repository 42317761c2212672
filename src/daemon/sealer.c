/*
 * sealer: the boundary timer is re-armed from the wall clock after every firing (never by adding
 * the interval), so drift and clock steps cannot accumulate. A seal that finds nothing staged
 * makes no bag and consumes no SequenceNumber (tsb_store_seal).
 */
#include "sealer.h"

#include "err.h"
#include "log.h"
#include "mem.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

struct tsb_sealer {
    uv_loop_t *loop;
    const struct tsb_config *cfg;
    struct tsb_writer *w;
    struct tsb_sender *sender;
    struct tsb_tsa2 *tsa2; /* the second TSA, NULL when off */
    uv_timer_t timer;
    int jobs; /* seal jobs submitted and not completed */
    bool stopping, timer_closed;
    void (*stopped)(void *);
    void *stopped_arg;
};

struct seal_job {
    struct tsb_sealer *s;
    struct tsb_seal_opts opts;
    struct tsb_seal_result res;
    char err[512];         /* the store's detail on failure (set on the writer thread) */
    tsb_seal_done_fn done; /* SEAL request, or NULL for the timer */
    void *req;
};

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t tsb_sealer_next_boundary(int64_t now_ms, int64_t interval_s)
{
    int64_t iv = interval_s * 1000;
    return (now_ms / iv + 1) * iv;
}

static void maybe_free(struct tsb_sealer *s)
{
    if (!s->stopping || !s->timer_closed || s->jobs > 0)
        return;
    void (*stopped)(void *) = s->stopped;
    void *arg = s->stopped_arg;
    free(s);
    if (stopped)
        stopped(arg);
}

static int run_seal(struct tsb_store *store, void *arg)
{
    struct seal_job *j = arg;
    int r = tsb_store_seal(store, &j->opts, &j->res);
    if (r != 0)
        snprintf(j->err, sizeof(j->err), "%s", tsb_err_detail());
    return r;
}

static void seal_done(void *arg, int status)
{
    struct seal_job *j = arg;
    struct tsb_sealer *s = j->s;
    const char *why = j->done ? "on request" : "at the interval boundary";
    if (status != 0) {
        tsb_error("sealer: seal %s failed: %s: %s", why, tsb_strerror(status), j->err);
    } else if (j->res.bags > 0) {
        tsb_info("sealer: sealed %zu entries into %zu bag(s) from SequenceNumber %" PRId64 " %s",
                 j->res.entries, j->res.bags, j->res.first_seq, why);
        tsb_info("event=sealed seq=%" PRId64 " last_seq=%" PRId64 " bags=%zu entries=%zu "
                 "trigger=%s",
                 j->res.first_seq, j->res.first_seq + (int64_t)j->res.bags - 1, j->res.bags,
                 j->res.entries, j->done ? "request" : "interval");
        if (s->sender != NULL)
            tsb_sender_kick(s->sender);
        if (s->tsa2 != NULL)
            tsb_tsa2_kick(s->tsa2);
    } else {
        tsb_debug("sealer: nothing staged %s", why);
    }
    if (j->done != NULL) {
        j->done(j->req, status, status ? NULL : &j->res, status ? j->err : "");
    }
    free(j);
    s->jobs--;
    maybe_free(s);
}

static int submit(struct tsb_sealer *s, tsb_seal_done_fn done, void *req)
{
    struct seal_job *j = tsb_calloc(1, sizeof(*j));
    j->s = s;
    j->done = done;
    j->req = req;
    j->opts.bag.ns = s->cfg->sealer.bag_namespace;
    j->opts.bag.enc = s->cfg->sealer.hash_encoding;
    j->opts.bag.root = s->cfg->sealer.bag_root;
    j->opts.max_entries = (size_t)s->cfg->sealer.max_entries;
    j->opts.max_bytes = (size_t)s->cfg->sealer.max_bag_bytes;
    j->opts.first_seq = s->cfg->sealer.first_sequence;
    j->opts.now_ms = wall_ms();
    int r = tsb_writer_submit_job(s->w, run_seal, seal_done, j);
    if (r != 0) {
        free(j);
        return r;
    }
    s->jobs++;
    return 0;
}

static void arm(struct tsb_sealer *s);

static void on_boundary(uv_timer_t *t)
{
    struct tsb_sealer *s = t->data;
    if (s->stopping)
        return;
    int r = submit(s, NULL, NULL);
    if (r != 0)
        tsb_error("sealer: cannot queue the seal: %s", tsb_err_detail());
    arm(s);
}

static void arm(struct tsb_sealer *s)
{
    int64_t now = wall_ms();
    int64_t next = tsb_sealer_next_boundary(now, s->cfg->sealer.interval_s);
    uv_timer_start(&s->timer, on_boundary, (uint64_t)(next - now), 0);
}

int tsb_sealer_start(uv_loop_t *loop, const struct tsb_config *cfg, struct tsb_writer *w,
                     struct tsb_sender *sender, struct tsb_sealer **out)
{
    struct tsb_sealer *s = tsb_calloc(1, sizeof(*s));
    s->loop = loop;
    s->cfg = cfg;
    s->w = w;
    s->sender = sender;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    arm(s);
    tsb_info("sealer: every %" PRId64 " s on wall-clock boundaries, at most %" PRId64
             " entries and %" PRId64 " bytes per bag",
             cfg->sealer.interval_s, cfg->sealer.max_entries, cfg->sealer.max_bag_bytes);
    *out = s;
    return 0;
}

void tsb_sealer_set_tsa2(struct tsb_sealer *s, struct tsb_tsa2 *tsa2)
{
    s->tsa2 = tsa2;
}

void tsb_sealer_seal_hook(void *arg, tsb_seal_done_fn done, void *req)
{
    struct tsb_sealer *s = arg;
    int r = s->stopping ? tsb_err(TSB_ECLOSED, "sealer is stopping") : submit(s, done, req);
    if (r != 0)
        done(req, r, NULL, tsb_err_detail());
}

static void on_timer_closed(uv_handle_t *h)
{
    struct tsb_sealer *s = h->data;
    s->timer_closed = true;
    maybe_free(s);
}

void tsb_sealer_stop(struct tsb_sealer *s, void (*stopped)(void *arg), void *arg)
{
    s->stopping = true;
    s->stopped = stopped;
    s->stopped_arg = arg;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
