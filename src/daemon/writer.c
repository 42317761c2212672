/*
 * writer: a dedicated thread (not the libuv threadpool, whose four workers are shared with DNS
 * and file work) draining one FIFO of entries and jobs into the archive. The queue and the done
 * list are the only state shared between threads, both under one mutex; the store connection is
 * touched by the writer thread only, from start until it closes it on exit. The writer's commits
 * never checkpoint: its checkpointer thread (checkpointer.c) copies the WAL back into the archive
 * beside it, leaving the writer only the last few frames before a restart of the WAL, and a
 * checkpoint that fails poisons the writer before anything more is acknowledged
 * (docs/internals/WRITER.md). Between batches it also runs the digest index's steps (schema 0012),
 * so that the entries not yet indexed stay a bounded number.
 */
#include "writer.h"

#include "cpus.h"
#include "err.h"
#include "log.h"
#include "mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

/* Digest index steps (tsb_store_hash_index_step): whenever idle; under load one after every
 * HASH_EVERY-th batch, and once the lag passes HASH_LAG_MAX enough after every batch to index as
 * many Refs as it appended (a step reads a quarter of a chunk or indexes a slice of it: over a
 * chunk's TSB_HASH_STEPS steps, HASH_STEP_REFS Refs per step on average; more for a chunk taken
 * from the appends, which has TSB_HASH_SLICES steps). So
 * the lag stays below HASH_LAG_MAX + TSB_HASH_CHUNK + batch_max (docs/internals/WRITER.md). */
#define HASH_EVERY     4
#define HASH_LAG_MAX   (2 * (int64_t)TSB_HASH_CHUNK)
#define HASH_STEP_REFS ((size_t)TSB_HASH_CHUNK / TSB_HASH_STEPS)
/* at close: the lag a restart inherits is bounded too (at most this many steps) */
#define HASH_CLOSE_STEPS (3 * TSB_HASH_STEPS)

struct tsb_writer {
    uv_loop_t *loop;
    uv_async_t async;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    struct tsb_writer_opts o;

    /* shared, under mu */
    struct tsb_writer_entry *q_head, *q_tail;
    size_t q_entries;
    struct tsb_writer_entry *d_head, *d_tail;
    bool stopping, exited;
    bool ckpt_failed; /* the checkpointer failed to write or fsync the archive file */
    /* the WAL's fsync apart (a store opened with sync_apart): what the writer ran waits in the
     * unsynced list until the syncer thread's next fsync of the WAL, then is posted */
    struct tsb_writer_entry *u_head, *u_tail;
    int64_t u_commits; /* the store's commits when the last item joined the list */
    bool sync_stop;    /* the writer is done: the syncer empties the list and exits */
    bool sync_failed;  /* an fsync of the WAL failed: nothing after it is acknowledged */

    bool sync_apart; /* set before the threads start */
    uv_thread_t sync_thread;
    uv_cond_t sync_cv;

    /* writer thread only (the syncer uses store for tsb_store_sync_wal alone) */
    struct tsb_store *store;
    bool poisoned;
    struct tsb_checkpointer *ckpt; /* NULL: the store checkpoints in its WAL hook */
    int64_t wal_frames;            /* last reported to ckpt */
    int64_t hash_lag; /* entries above the digest index's watermark (estimate between steps) */
    unsigned batches_since_step;
    struct tsb_writer_entry **batch;
    struct tsb_entry_in *batch_in;
    int64_t *batch_refs;

    /* written on the loop thread only; relaxed atomics so that metrics may read them */
    atomic_size_t queued_bytes, queued_peak;

    /* loop thread only */
    size_t pending;
    bool failed, stop_requested;
    void (*stopped)(void *arg);
    void *stopped_arg;
};

/* A job as queued: the entry (first, so that an entry with job set is a struct job) and the
 * outcome it carries back, written on the writer thread before the hand-off to the loop thread
 * and read there only after it. */
struct job {
    struct tsb_writer_entry e;
    struct tsb_result res;
    tsb_writer_result_fn done; /* or e.job_done */
};

/* Appends the chain first..last to the list head/tail. */
static void push_chain(struct tsb_writer_entry **head, struct tsb_writer_entry **tail,
                       struct tsb_writer_entry *first, struct tsb_writer_entry *last)
{
    last->next = NULL;
    if (*tail != NULL)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

/* Called with mu held: moves a finished chain to the done list and wakes the loop. */
static void post_done(struct tsb_writer *w, struct tsb_writer_entry *first,
                      struct tsb_writer_entry *last)
{
    push_chain(&w->d_head, &w->d_tail, first, last);
    uv_async_send(&w->async);
}

/* Called with mu held: an item (or a batch's chain) ran. With the WAL synced apart it waits for
 * the syncer's next fsync; otherwise its commit synced the WAL and it is posted now. */
static void ran(struct tsb_writer *w, struct tsb_writer_entry *first, struct tsb_writer_entry *last)
{
    if (!w->sync_apart) {
        post_done(w, first, last);
        return;
    }
    push_chain(&w->u_head, &w->u_tail, first, last);
    w->u_commits = tsb_store_commits(w->store);
    uv_cond_signal(&w->sync_cv);
}

/* A chain whose commits the failed fsync was to make durable: none is acknowledged. */
static void fail_unsynced(struct tsb_writer_entry *e, const char *why)
{
    for (; e != NULL; e = e->next) {
        e->status = TSB_EDURABLE;
        e->ref = 0;
        if (e->job != NULL) {
            struct job *j = (struct job *)e;
            tsb_err(TSB_EDURABLE, "%s", why);
            tsb_result_set(&j->res, TSB_EDURABLE);
        }
    }
}

/* The syncer thread: takes everything the writer ran since its last fsync of the WAL (their
 * commits all returned before), fsyncs the WAL once for all of them unless the store committed
 * nothing since the last fsync, and posts them in order. The writer meanwhile runs the next batch:
 * its commit and this fsync overlap. After a failed fsync every item is failed without another
 * fsync (docs/internals/WRITER.md, "The WAL's fsync on a thread of its own"). */
static void syncer_main(void *arg)
{
    struct tsb_writer *w = arg;
    (void)prctl(PR_SET_NAME, "tsbagd-sync", 0, 0, 0);
    char why[256] = "";
    int64_t synced = -1; /* the store's commits that the last fsync covered */
    uv_mutex_lock(&w->mu);
    for (;;) {
        while (w->u_head == NULL && !w->sync_stop)
            uv_cond_wait(&w->sync_cv, &w->mu);
        if (w->u_head == NULL)
            break;
        struct tsb_writer_entry *first = w->u_head, *last = w->u_tail;
        w->u_head = w->u_tail = NULL;
        bool failed = w->sync_failed;
        int64_t upto = w->u_commits;
        uv_mutex_unlock(&w->mu);
        /* nothing committed since the last fsync (read-only jobs: a status, the metrics): none */
        if (!failed && upto != synced && tsb_store_sync_wal(w->store) != 0) {
            failed = true;
            snprintf(why, sizeof(why), "%s; the archive is no longer written", tsb_err_detail());
            tsb_error("writer: %s", why);
            if (w->ckpt != NULL) /* before anyone learns of the failure */
                tsb_checkpointer_halt(w->ckpt);
        }
        if (failed)
            fail_unsynced(first, why);
        else
            synced = upto;
        uv_mutex_lock(&w->mu);
        if (failed && !w->sync_failed) {
            w->sync_failed = true;
            uv_cond_signal(&w->cv); /* the writer may be idle */
        }
        post_done(w, first, last);
    }
    uv_mutex_unlock(&w->mu);
}

/* Asks the syncer to empty its list and exit, and joins it. */
static void stop_syncer(struct tsb_writer *w)
{
    uv_mutex_lock(&w->mu);
    w->sync_stop = true;
    uv_cond_signal(&w->sync_cv);
    uv_mutex_unlock(&w->mu);
    uv_thread_join(&w->sync_thread);
}

static void run_job(struct tsb_writer *w, struct job *j)
{
    int r = TSB_EDURABLE;
    if (w->poisoned) {
        tsb_err(r, "not run: an earlier write failed and the archive is no longer written");
    } else {
        tsb_err_clear(); /* a job failing without a detail must not report an older one */
        r = j->e.job(w->store, j->e.job_arg);
    }
    j->e.status = tsb_result_set(&j->res, r);
    if (r == TSB_EDURABLE && !w->poisoned) {
        w->poisoned = true;
        tsb_error("writer: %s: %s; the archive is no longer written", tsb_strerror(r), j->res.msg);
    }
}

static void run_batch(struct tsb_writer *w, size_t n)
{
    int r;
    if (w->poisoned) {
        r = TSB_EDURABLE;
    } else {
        for (size_t i = 0; i < n; i++)
            w->batch_in[i] = w->batch[i]->in;
        r = tsb_store_append(w->store, w->batch_in, n, w->batch_refs);
        if (r == TSB_EDURABLE) {
            w->poisoned = true;
            tsb_error("writer: commit of %zu entries failed: %s; the archive is no longer written",
                      n, tsb_err_detail());
        } else if (r != 0) {
            tsb_warn("writer: the archive refused %zu entries: %s: %s", n, tsb_strerror(r),
                     tsb_err_detail());
        }
    }
    for (size_t i = 0; i < n; i++) {
        w->batch[i]->status = r;
        w->batch[i]->ref = r == 0 ? w->batch_refs[i] : 0;
    }
}

/* After an item: tells the checkpointer that the WAL grew (it wakes itself when that is enough)
 * and, when it asks, copies the last few frames so that the next commit restarts the WAL. That
 * copy failing is a failed checkpoint: reported as the checkpointer's. */
static void wal_grew(struct tsb_writer *w)
{
    int64_t frames = w->poisoned ? w->wal_frames : tsb_store_wal_frames(w->store);
    if (w->ckpt != NULL && frames != w->wal_frames && tsb_checkpointer_wal_grew(w->ckpt, frames) &&
        tsb_checkpointer_catch_up(w->ckpt, w->store) == TSB_EDURABLE) {
        tsb_error("writer: %s", tsb_err_detail());
        uv_mutex_lock(&w->mu);
        w->ckpt_failed = true;
        uv_async_send(&w->async);
        uv_mutex_unlock(&w->mu);
    }
    w->wal_frames = frames;
}

/* Called with mu held, before an item runs or its completion is posted: a failed checkpoint or
 * fsync of the WAL poisons the writer, so that nothing after it is acknowledged. */
static void note_ckpt_failure(struct tsb_writer *w)
{
    if (w->ckpt_failed && !w->poisoned) {
        w->poisoned = true;
        tsb_error("writer: a checkpoint of the archive failed; the archive is no longer written");
    }
    if (w->sync_failed && !w->poisoned) {
        w->poisoned = true;
        tsb_store_poison(w->store); /* the syncer halted the checkpointer already */
    }
}

/* Checkpointer thread: a checkpoint failed. Wakes the writer (it may be idle) and the loop, which
 * calls on_fatal even if nothing is queued. */
static void ckpt_failed(void *arg)
{
    struct tsb_writer *w = arg;
    uv_mutex_lock(&w->mu);
    w->ckpt_failed = true;
    uv_cond_signal(&w->cv);
    uv_async_send(&w->async);
    uv_mutex_unlock(&w->mu);
}

static bool hash_pending(const struct tsb_writer *w)
{
    return !w->poisoned && w->hash_lag >= TSB_HASH_CHUNK;
}

/* Runs up to n digest index steps while a complete chunk is pending; without mu. A busy archive
 * is retried after the next batch; a failed write poisons the store like a failed batch. */
static void hash_steps(struct tsb_writer *w, size_t n)
{
    w->batches_since_step = 0;
    for (size_t i = 0; i < n && hash_pending(w); i++) {
        int r = tsb_store_hash_index_step(w->store, &w->hash_lag);
        if (r == TSB_EDURABLE) {
            w->poisoned = true;
            tsb_error("writer: %s; the archive is no longer written", tsb_err_detail());
        } else if (r != 0) {
            tsb_warn("writer: digest index: %s: %s", tsb_strerror(r), tsb_err_detail());
            w->hash_lag = TSB_HASH_CHUNK - 1; /* retried after the next batch, not in a loop */
            return;
        }
    }
}

/* After a batch of n entries: under load, the steps the lag calls for. */
static void hash_after_batch(struct tsb_writer *w, size_t n)
{
    w->hash_lag += (int64_t)n;
    if (!hash_pending(w))
        return;
    if (w->hash_lag > HASH_LAG_MAX)
        hash_steps(w, 1 + n / HASH_STEP_REFS);
    else if (++w->batches_since_step >= HASH_EVERY)
        hash_steps(w, 1);
}

static void writer_main(void *arg)
{
    struct tsb_writer *w = arg;
    /* its own name in top -H, perf report --comm and /proc/PID/task/TID/comm */
    (void)prctl(PR_SET_NAME, "tsbagd-writer", 0, 0, 0);
    if (w->o.pin_cpu)
        (void)tsb_cpus_pin_self(w->o.cpu, "writer"); /* a failure is logged */
    /* a step is tried at start: a restarted daemon catches up on what it left */
    w->hash_lag = TSB_HASH_CHUNK;
    uv_mutex_lock(&w->mu);
    for (;;) {
        while (w->q_head == NULL && !w->stopping) {
            note_ckpt_failure(w);
            if (hash_pending(w)) {
                uv_mutex_unlock(&w->mu);
                hash_steps(w, 1);
                wal_grew(w);
                uv_mutex_lock(&w->mu);
            } else {
                uv_cond_wait(&w->cv, &w->mu);
            }
        }
        if (w->q_head == NULL)
            break;
        note_ckpt_failure(w);
        struct tsb_writer_entry *e = w->q_head;
        if (e->job != NULL) {
            w->q_head = e->next;
            if (w->q_head == NULL)
                w->q_tail = NULL;
            uv_mutex_unlock(&w->mu);
            run_job(w, (struct job *)e);
            wal_grew(w);
            uv_mutex_lock(&w->mu);
            ran(w, e, e);
            continue;
        }
        /* group commit: wait a little for company unless the batch is full or we are stopping */
        if (w->o.batch_delay_ms > 0 && w->q_entries < w->o.batch_max && !w->stopping) {
            uint64_t deadline = uv_hrtime() + (uint64_t)w->o.batch_delay_ms * 1000000u;
            for (;;) {
                uint64_t now = uv_hrtime();
                if (now >= deadline || w->q_entries >= w->o.batch_max || w->stopping)
                    break;
                uv_cond_timedwait(&w->cv, &w->mu, deadline - now);
            }
        }
        size_t n = 0;
        struct tsb_writer_entry *first = w->q_head, *last = NULL;
        for (e = w->q_head; e != NULL && e->job == NULL && n < w->o.batch_max; e = e->next) {
            w->batch[n++] = e;
            last = e;
        }
        w->q_head = last->next;
        if (w->q_head == NULL)
            w->q_tail = NULL;
        w->q_entries -= n;
        uv_mutex_unlock(&w->mu);
        run_batch(w, n);
        wal_grew(w);
        uv_mutex_lock(&w->mu);
        if (w->ckpt_failed && !w->poisoned) {
            /* committed (the WAL is synced), but the checkpointer failed meanwhile: not
             * acknowledged either, like every entry after it */
            note_ckpt_failure(w);
            for (size_t i = 0; i < n; i++) {
                w->batch[i]->status = TSB_EDURABLE;
                w->batch[i]->ref = 0;
            }
        }
        ran(w, first, last);
        note_ckpt_failure(w); /* no index step after a failed checkpoint either */
        uv_mutex_unlock(&w->mu);
        hash_after_batch(w, n);
        wal_grew(w);
        uv_mutex_lock(&w->mu);
    }
    note_ckpt_failure(w);
    uv_mutex_unlock(&w->mu);
    hash_steps(w, HASH_CLOSE_STEPS);
    int64_t copied = 0, read = 0;
    tsb_store_hash_index_sources(w->store, &copied, &read);
    if (copied + read > 0)
        tsb_info("writer: the digest index took %lld chunks from the appends, read %lld",
                 (long long)copied, (long long)read);
    if (w->sync_apart) { /* every item ran is synced and posted before the store closes */
        stop_syncer(w);
        if (w->sync_failed)
            tsb_store_poison(w->store);
    }
    /* closing order: the writer's connection first, then the checkpointer's, which is then the
     * last one and may checkpoint and remove the WAL on close (unless poisoned) */
    tsb_store_close(w->store);
    w->store = NULL;
    tsb_checkpointer_stop(w->ckpt);
    w->ckpt = NULL;
    uv_mutex_lock(&w->mu);
    w->exited = true;
    uv_async_send(&w->async);
    uv_mutex_unlock(&w->mu);
}

static void free_writer(struct tsb_writer *w)
{
    uv_mutex_destroy(&w->mu);
    uv_cond_destroy(&w->cv);
    uv_cond_destroy(&w->sync_cv);
    free(w->batch);
    free(w->batch_in);
    free(w->batch_refs);
    free(w);
}

static void async_closed(uv_handle_t *h)
{
    struct tsb_writer *w = h->data;
    void (*stopped)(void *) = w->stopped;
    void *arg = w->stopped_arg;
    free_writer(w);
    if (stopped != NULL)
        stopped(arg);
}

static void async_cb(uv_async_t *a)
{
    struct tsb_writer *w = a->data;
    uv_mutex_lock(&w->mu);
    struct tsb_writer_entry *e = w->d_head;
    w->d_head = w->d_tail = NULL;
    bool exited = w->exited, ckpt_failed = w->ckpt_failed || w->sync_failed;
    uv_mutex_unlock(&w->mu);

    /* report the failure before delivering anything, so no one acknowledges past it */
    if (ckpt_failed && !w->failed) {
        w->failed = true;
        if (w->o.on_fatal != NULL)
            w->o.on_fatal(w->o.arg, TSB_EDURABLE);
    }
    for (struct tsb_writer_entry *x = e; x != NULL && !w->failed; x = x->next)
        if (x->status == TSB_EDURABLE) {
            w->failed = true;
            if (w->o.on_fatal != NULL)
                w->o.on_fatal(w->o.arg, x->status);
        }
    while (e != NULL) {
        struct tsb_writer_entry *next = e->next; /* done may free e */
        if (e->job != NULL) {
            struct job *j = (struct job *)e;
            if (j->done != NULL)
                j->done(e->job_arg, &j->res);
            else
                e->job_done(e->job_arg, j->res.code);
            free(j);
        } else {
            size_t q = atomic_load_explicit(&w->queued_bytes, memory_order_relaxed);
            TSB_ASSERT(w->pending > 0 && q >= e->bytes);
            atomic_store_explicit(&w->queued_bytes, q - e->bytes, memory_order_relaxed);
            w->pending--;
            e->done(e);
        }
        e = next;
    }
    if (w->o.on_progress != NULL && !exited)
        w->o.on_progress(w->o.arg);
    if (exited) {
        uv_thread_join(&w->thread);
        uv_close((uv_handle_t *)&w->async, async_closed);
    }
}

int tsb_writer_start(uv_loop_t *loop, struct tsb_store *store, const struct tsb_writer_opts *o,
                     struct tsb_writer **out)
{
    struct tsb_writer *w = tsb_calloc(1, sizeof(*w));
    int e;

    w->loop = loop;
    w->o = *o;
    if (w->o.batch_max == 0)
        w->o.batch_max = 1;
    w->store = store;
    w->batch = tsb_calloc(w->o.batch_max, sizeof(*w->batch));
    w->batch_in = tsb_calloc(w->o.batch_max, sizeof(*w->batch_in));
    w->batch_refs = tsb_calloc(w->o.batch_max, sizeof(*w->batch_refs));
    if (uv_mutex_init(&w->mu) != 0 || uv_cond_init(&w->cv) != 0 || uv_cond_init(&w->sync_cv) != 0)
        tsb_fatal("writer: cannot create a mutex or condition variable");
    w->sync_apart = tsb_store_sync_apart(store);
    if ((e = uv_async_init(loop, &w->async, async_cb)) != 0) {
        tsb_store_close(o->ckpt_store);
        free_writer(w);
        return tsb_err(TSB_EINTERNAL, "writer: async handle: %s", uv_strerror(e));
    }
    w->async.data = w;
    if (o->ckpt_store != NULL) {
        struct tsb_checkpointer_opts co = o->ckpt;
        co.on_failed = ckpt_failed;
        co.arg = w;
        if ((e = tsb_checkpointer_start(o->ckpt_store, &co, &w->ckpt)) != 0) {
            w->store = NULL;
            w->stopped = NULL;
            uv_close((uv_handle_t *)&w->async, async_closed);
            return e;
        }
    }
    if (w->sync_apart && (e = uv_thread_create(&w->sync_thread, syncer_main, w)) != 0) {
        w->store = NULL; /* the caller keeps the store on failure */
        tsb_checkpointer_stop(w->ckpt);
        w->stopped = NULL;
        uv_close((uv_handle_t *)&w->async, async_closed);
        return tsb_err(TSB_EINTERNAL, "writer: syncer thread: %s", uv_strerror(e));
    }
    /* a large stack is not needed: SQLite's deepest paths stay far below the default */
    if ((e = uv_thread_create(&w->thread, writer_main, w)) != 0) {
        if (w->sync_apart)
            stop_syncer(w);
        w->store = NULL; /* the caller keeps the store on failure */
        tsb_checkpointer_stop(w->ckpt);
        w->stopped = NULL;
        uv_close((uv_handle_t *)&w->async, async_closed);
        return tsb_err(TSB_EINTERNAL, "writer: thread: %s", uv_strerror(e));
    }
    *out = w;
    return 0;
}

size_t tsb_writer_entry_bytes(const struct tsb_entry_in *in)
{
    return TSB_WRITER_ENTRY_OVERHEAD + in->content_len +
           (in->format_id ? strlen(in->format_id) : 0) +
           (in->client_ref ? strlen(in->client_ref) : 0);
}

void tsb_writer_submit_entry(struct tsb_writer *w, struct tsb_writer_entry *e)
{
    TSB_ASSERT(e->done != NULL && !w->stop_requested);
    e->job = NULL;
    e->status = 0;
    e->ref = 0;
    e->bytes = tsb_writer_entry_bytes(&e->in);
    size_t q = atomic_load_explicit(&w->queued_bytes, memory_order_relaxed) + e->bytes;
    atomic_store_explicit(&w->queued_bytes, q, memory_order_relaxed);
    if (q > atomic_load_explicit(&w->queued_peak, memory_order_relaxed))
        atomic_store_explicit(&w->queued_peak, q, memory_order_relaxed);
    w->pending++;
    uv_mutex_lock(&w->mu);
    push_chain(&w->q_head, &w->q_tail, e, e);
    w->q_entries++;
    /* wake the writer only when it may be waiting: first item, or a batch just filled up */
    if (w->q_head == e || w->q_entries == w->o.batch_max)
        uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
}

static int queue_job(struct tsb_writer *w, tsb_writer_job_fn fn, tsb_writer_done_fn done_status,
                     tsb_writer_result_fn done, void *arg)
{
    if (w->stop_requested)
        return tsb_err(TSB_ECLOSED, "writer is stopping");
    struct job *j = tsb_calloc(1, sizeof(*j));
    j->e.job = fn;
    j->e.job_done = done_status;
    j->e.job_arg = arg;
    j->done = done;
    uv_mutex_lock(&w->mu);
    push_chain(&w->q_head, &w->q_tail, &j->e, &j->e);
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    return 0;
}

int tsb_writer_submit_job(struct tsb_writer *w, tsb_writer_job_fn fn, tsb_writer_done_fn done,
                          void *arg)
{
    return queue_job(w, fn, done, NULL, arg);
}

int tsb_writer_submit(struct tsb_writer *w, tsb_writer_job_fn fn, tsb_writer_result_fn done,
                      void *arg)
{
    return queue_job(w, fn, NULL, done, arg);
}

size_t tsb_writer_pending(const struct tsb_writer *w)
{
    return w->pending;
}

size_t tsb_writer_queued_bytes(const struct tsb_writer *w)
{
    return atomic_load_explicit(&w->queued_bytes, memory_order_relaxed);
}

size_t tsb_writer_queued_bytes_peak(const struct tsb_writer *w)
{
    return atomic_load_explicit(&w->queued_peak, memory_order_relaxed);
}

bool tsb_writer_has_room(const struct tsb_writer *w, size_t n)
{
    if (w->pending == 0)
        return true;
    if (w->o.queue_max > 0 && w->pending >= w->o.queue_max)
        return false;
    size_t q = atomic_load_explicit(&w->queued_bytes, memory_order_relaxed);
    return w->o.queue_bytes == 0 || (n <= w->o.queue_bytes && q <= w->o.queue_bytes - n);
}

struct tsb_checkpointer *tsb_writer_checkpointer(struct tsb_writer *w)
{
    return w->ckpt;
}

bool tsb_writer_failed(const struct tsb_writer *w)
{
    return w->failed;
}

void tsb_writer_stop(struct tsb_writer *w, void (*stopped)(void *arg), void *arg)
{
    w->stop_requested = true;
    w->stopped = stopped;
    w->stopped_arg = arg;
    uv_mutex_lock(&w->mu);
    w->stopping = true;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
}
