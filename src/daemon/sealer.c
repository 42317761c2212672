/*
 * sealer: the boundary timer is re-armed from the wall clock after every firing (never by adding
 * the interval), so drift and clock steps cannot accumulate. A seal that finds nothing staged
 * makes no bag and consumes no SequenceNumber.
 *
 * A seal is a chain of bags, one at a time, off the writer thread: the bag is planned (staged rows
 * read, bytes built and hashed) on a read-only connection in libuv's thread pool, then the writer
 * writes the bag's bytes one part at a time, each part a job of its own (tsb_store_seal_write_part:
 * 256 KiB and its fsync, so that the batches queued meanwhile are acknowledged between two parts
 * instead of after the whole bag), and commits the plan as one bag row (tsb_store_seal_commit).
 * Acks never wait for a seal's reads or hashing, nor for more than one part of its bytes. A plan
 * the archive outran is planned again; a bag that stopped at a limit is followed by the next.
 * docs/internals/WRITER.md, "Sealing".
 */
#include "sealer.h"

#include "clock.h"
#include "err.h"
#include "log.h"
#include "mem.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

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

/* A plan is refused when another seal or a recovered import committed in between: planned
 * again at most this many times in a row before the seal reports the conflict. */
#define MAX_REPLANS 3

struct seal_job {
    struct tsb_sealer *s;
    uv_work_t work; /* the plan, in the thread pool */
    struct tsb_seal_opts opts;
    struct tsb_seal_plan plan; /* thread pool, then writer thread, then loop: never at once */
    struct tsb_seal_result res;
    int status;                   /* the plan's result (thread pool) */
    int replans;                  /* consecutive plans refused as outrun */
    size_t part;                  /* the next part of the plan's bytes to write (writer jobs) */
    char err[TSB_RESULT_MSG_MAX]; /* the detail of the step that failed, read on the loop */
    tsb_seal_done_fn done;        /* SEAL request, or NULL for the timer */
    void *req;
};

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

static void seal_finish(struct seal_job *j, int status)
{
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
    } else {
        tsb_debug("sealer: nothing staged %s", why);
    }
    if (j->done != NULL) {
        j->done(j->req, status, status ? NULL : &j->res, status ? j->err : "");
    }
    tsb_seal_plan_cleanup(&j->plan);
    free(j);
    s->jobs--;
    maybe_free(s);
}

/* Thread pool: plans the next bag on a read-only connection of its own (one per plan: opening
 * costs far less than building a bag, and no connection is ever shared between threads). */
static void plan_work(uv_work_t *w)
{
    struct seal_job *j = w->data;
    struct tsb_store *ro = NULL;
    struct tsb_store_open_opts o = {.readonly = true,
                                    .busy_timeout_ms = (int)j->s->cfg->store.busy_timeout_ms};
    j->status = tsb_store_open(j->s->cfg->store.path, &o, &ro);
    if (j->status == 0)
        j->status = tsb_store_seal_prepare(ro, &j->opts, &j->plan);
    if (j->status != 0)
        snprintf(j->err, sizeof(j->err), "%s", tsb_err_detail());
    tsb_store_close(ro);
}

static int run_commit(struct tsb_store *store, void *arg)
{
    struct seal_job *j = arg;
    return tsb_store_seal_commit(store, &j->plan, j->opts.now_ms);
}

static void plan_next(struct seal_job *j);

/* res: the commit job's own outcome, or a part's failure, detail included (writer.h). */
static void commit_done(void *arg, const struct tsb_result *res)
{
    struct seal_job *j = arg;
    int status = res->code;
    if (status != 0)
        snprintf(j->err, sizeof(j->err), "%s", res->msg);
    if (status == TSB_ECONFLICT && j->replans < MAX_REPLANS && !j->s->stopping) {
        j->replans++;
        tsb_debug("sealer: bag %" PRId64 " outrun before its commit (%s); planning again",
                  j->plan.seq, j->err);
        plan_next(j);
        return;
    }
    if (status != 0) {
        seal_finish(j, status);
        return;
    }
    j->replans = 0;
    if (j->res.bags == 0)
        j->res.first_seq = j->plan.seq;
    j->res.bags++;
    j->res.entries += j->plan.entries;
    if (j->s->sender != NULL)
        tsb_sender_kick(j->s->sender);
    if (j->s->tsa2 != NULL)
        tsb_tsa2_kick(j->s->tsa2);
    if (j->plan.more && !j->s->stopping)
        plan_next(j); /* the bag stopped at a limit: the backlog goes on in the next */
    else
        seal_finish(j, 0);
}

static int run_part(struct tsb_store *store, void *arg)
{
    struct seal_job *j = arg;
    return tsb_store_seal_write_part(store, &j->plan, j->part);
}

static void write_next(struct seal_job *j);

static void part_done(void *arg, const struct tsb_result *res)
{
    struct seal_job *j = arg;
    if (res->code != 0) {
        commit_done(j, res); /* an outrun plan is planned again, like a refused commit */
        return;
    }
    j->part++;
    write_next(j);
}

/* Queues the writer job for the next part of the plan's bytes, or, once every part is written
 * (or when stopping: the commit writes what is left in its own transaction), the commit. */
static void write_next(struct seal_job *j)
{
    int r = j->part < tsb_bag_parts(j->plan.bytes.len) && !j->s->stopping
                ? tsb_writer_submit(j->s->w, run_part, part_done, j)
                : tsb_writer_submit(j->s->w, run_commit, commit_done, j);
    if (r != 0) {
        snprintf(j->err, sizeof(j->err), "%s", tsb_err_detail());
        seal_finish(j, r);
    }
}

static void plan_done(uv_work_t *w, int status)
{
    struct seal_job *j = w->data;
    if (status != 0) { /* UV_ECANCELED: the loop is stopping */
        snprintf(j->err, sizeof(j->err), "the seal was cancelled: %s", uv_strerror(status));
        seal_finish(j, TSB_ECLOSED);
        return;
    }
    if (j->status != 0 || j->plan.entries == 0) {
        seal_finish(j, j->status);
        return;
    }
    j->part = 0;
    write_next(j);
}

static void plan_next(struct seal_job *j)
{
    j->work.data = j;
    int r = uv_queue_work(j->s->loop, &j->work, plan_work, plan_done);
    if (r != 0) {
        snprintf(j->err, sizeof(j->err), "cannot queue the seal's plan: %s", uv_strerror(r));
        seal_finish(j, TSB_EINTERNAL);
    }
}

static int run_barrier(struct tsb_store *store, void *arg)
{
    (void)store;
    (void)arg;
    return 0;
}

static void barrier_done(void *arg, int status)
{
    struct seal_job *j = arg;
    if (status != 0) {
        snprintf(j->err, sizeof(j->err), "the archive can no longer be written");
        seal_finish(j, status);
        return;
    }
    plan_next(j); /* from here on, seal_finish reports every outcome */
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
    j->opts.chain = s->cfg->sealer.chain;
    j->opts.now_ms = tsb_now_ms();
    /* behind everything already queued for the writer, so that the plan sees every entry
     * submitted before the seal (a SEAL request seals what its client pushed before it) */
    int r = tsb_writer_submit_job(s->w, run_barrier, barrier_done, j);
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
    int64_t now = tsb_now_ms();
    int64_t next = tsb_next_boundary_ms(now, s->cfg->sealer.interval_s * 1000);
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
