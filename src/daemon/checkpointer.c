/*
 * checkpointer: a thread of its own (uv_thread, named tsbagd-ckpt) with a read-write connection
 * of its own, copying the WAL into the archive file beside the writer. PASSIVE checkpoints take
 * no lock a writer or a reader waits for (SQLite's WAL: one checkpointer runs concurrently with
 * one writer and any readers), so the writer's commits - and the acknowledgements behind them -
 * wait for the WAL's own fsync only. State shared with the writer thread is under one mutex; the
 * store is touched by this thread only, from start until it closes it on exit.
 */
#include "checkpointer.h"

#include "err.h"
#include "log.h"
#include "mem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <uv.h>

#define DEFAULT_FRAMES      1000 /* SQLite's own auto-checkpoint threshold: about 4 MiB of WAL */
#define DEFAULT_INTERVAL_MS 1000
#define DEFAULT_IDLE_MS     1000
#define DEFAULT_RESTART     2000 /* about 8 MiB: the WAL file stays under journal_size_limit */
/* The writer's own catch-up copies at most this many frames (about 1 MiB); while more are left,
 * the checkpointer runs again at once, at most CATCH_UP_RUNS times in a row. */
#define CATCH_UP_FRAMES 256
#define CATCH_UP_RUNS   4
/* The truncation waits this long at most for readers of older snapshots, holding the WAL's write
 * lock meanwhile: it runs only once no commit came for idle_ms. */
#define TRUNCATE_WAIT_MS 20
#define MS               ((uint64_t)1000000)

struct tsb_checkpointer {
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;      /* wakes the thread */
    uv_cond_t done_cv; /* wakes tsb_checkpointer_run */
    struct tsb_checkpointer_opts o;

    /* shared, under mu */
    bool stopping, failed;
    bool kicked;          /* the WAL grew by o.frames since the last run */
    int64_t seen;         /* frames after the writer's last commit */
    int64_t base;         /* frames in the WAL at the last run (0 once the WAL restarted) */
    uint64_t commits;     /* calls of wal_grew */
    uint64_t last_commit; /* uv_hrtime() of the last one */
    bool truncate_due;    /* a commit since the last truncation */
    bool catch_up;        /* for the writer: copy the last few frames, the WAL then restarts */
    uint64_t req, ran;    /* tsb_checkpointer_run requests, and how many of them a run answered */
    int ran_result;

    /* checkpointer thread only */
    struct tsb_store *store;
    uint64_t last_run;       /* uv_hrtime() */
    uint64_t commits_at_run; /* commits when the last run started */
    int runs_in_a_row;       /* runs started at once to shrink what is left for a catch-up */
};

/* Called with mu held: 0 when a run is due now, else nanoseconds until one is (UINT64_MAX: no
 * run until woken). */
static uint64_t next_run(const struct tsb_checkpointer *c, uint64_t now)
{
    if (c->failed)
        return UINT64_MAX;
    if (c->kicked || c->req > c->ran)
        return 0;
    uint64_t due = UINT64_MAX;
    if (c->commits != c->commits_at_run)
        due = c->last_run + (uint64_t)c->o.interval_ms * MS;
    if (c->truncate_due) {
        /* idle since the last commit, and not tried in the last interval (a busy reader) */
        uint64_t t = c->last_commit + (uint64_t)c->o.idle_ms * MS,
                 again = c->last_run + (uint64_t)c->o.interval_ms * MS;
        t = t > again ? t : again;
        due = t < due ? t : due;
    }
    return due == UINT64_MAX ? due : due <= now ? 0 : due - now;
}

/* Runs without mu: a PASSIVE checkpoint, then, when idle and everything was copied, the
 * truncation (a reader of an older snapshot makes it busy: tried again after the next idle
 * period). Returns 0, TSB_EDURABLE or another failure; *truncated when the WAL is now empty. */
static int run_once(struct tsb_checkpointer *c, bool idle, int64_t *frames, int64_t *copied,
                    bool *truncated)
{
    *truncated = false;
    int r = tsb_store_checkpoint_passive(c->store, frames, copied);
    if (r == 0 && idle && *copied == *frames) {
        r = tsb_store_checkpoint(c->store, TRUNCATE_WAIT_MS, NULL);
        *truncated = r == 0;
        if (r == TSB_EBUSY)
            r = 0;
    }
    return r;
}

/* Called with mu held after a run that copied `copied` of a WAL of `frames`. SQLite restarts the
 * WAL from its first frame only when a write transaction begins with every frame copied, which
 * never happens while the writer keeps committing beside a checkpoint (each copies what was
 * committed when it began). So once the WAL holds o.restart_frames, the rest is left to the
 * writer, between two items, when it is small: runs follow at once until at most CATCH_UP_FRAMES
 * are left. A reader holding frames back (copied < frames) makes a restart impossible anyway. */
static void plan_restart(struct tsb_checkpointer *c, int64_t frames, int64_t copied)
{
    if (c->seen < c->o.restart_frames || copied < frames || c->seen < frames) {
        c->runs_in_a_row = 0;
        return;
    }
    if (c->seen - copied <= CATCH_UP_FRAMES || c->runs_in_a_row >= CATCH_UP_RUNS) {
        c->catch_up = true;
        c->runs_in_a_row = 0;
    } else {
        c->kicked = true;
        c->runs_in_a_row++;
    }
}

static void checkpointer_main(void *arg)
{
    struct tsb_checkpointer *c = arg;
    (void)prctl(PR_SET_NAME, "tsbagd-ckpt", 0, 0, 0);
    uv_mutex_lock(&c->mu);
    while (!c->stopping) {
        uint64_t now = uv_hrtime(), wait = next_run(c, now);
        if (wait == UINT64_MAX) {
            uv_cond_wait(&c->cv, &c->mu);
            continue;
        }
        if (wait > 0) {
            (void)uv_cond_timedwait(&c->cv, &c->mu, wait);
            continue;
        }
        bool idle = c->truncate_due && now - c->last_commit >= (uint64_t)c->o.idle_ms * MS;
        uint64_t req = c->req, commits = c->commits;
        c->kicked = false;
        c->commits_at_run = commits;
        c->last_run = now;
        uv_mutex_unlock(&c->mu);

        int64_t frames = 0, copied = 0;
        bool truncated = false;
        int r = run_once(c, idle, &frames, &copied, &truncated);
        if (r == TSB_EDURABLE) {
            tsb_error("checkpointer: %s; the archive is no longer written", tsb_err_detail());
            /* before anyone learns that this run is over (tsb_checkpointer_run) */
            if (c->o.on_failed != NULL)
                c->o.on_failed(c->o.arg);
        } else if (r != 0) {
            tsb_warn("checkpointer: %s", tsb_err_detail());
        }

        uv_mutex_lock(&c->mu);
        if (r == 0) {
            c->base = c->seen < frames ? 0 : frames; /* seen < frames: restarted meanwhile */
            plan_restart(c, frames, copied);
        }
        if (truncated && c->commits == commits)
            c->truncate_due = false;
        c->ran = req;
        c->ran_result = r;
        if (r == TSB_EDURABLE)
            c->failed = true;
        uv_cond_broadcast(&c->done_cv);
    }
    c->ran = c->req; /* answer a waiting run: nothing more runs */
    uv_cond_broadcast(&c->done_cv);
    if (c->failed)
        tsb_store_poison(c->store); /* the writer's catch-up failed: no checkpoint on close */
    uv_mutex_unlock(&c->mu);
    /* the last connection (the writer closed its own first) checkpoints and removes the WAL, a
     * poisoned one leaves it for the next open to recover from (tsb_store_close) */
    tsb_store_close(c->store);
    c->store = NULL;
}

static void free_checkpointer(struct tsb_checkpointer *c)
{
    uv_mutex_destroy(&c->mu);
    uv_cond_destroy(&c->cv);
    uv_cond_destroy(&c->done_cv);
    free(c);
}

int tsb_checkpointer_start(struct tsb_store *store, const struct tsb_checkpointer_opts *o,
                           struct tsb_checkpointer **out)
{
    struct tsb_checkpointer *c = tsb_calloc(1, sizeof(*c));
    c->o = *o;
    if (c->o.frames <= 0)
        c->o.frames = DEFAULT_FRAMES;
    if (c->o.interval_ms <= 0)
        c->o.interval_ms = DEFAULT_INTERVAL_MS;
    if (c->o.idle_ms <= 0)
        c->o.idle_ms = DEFAULT_IDLE_MS;
    if (c->o.restart_frames <= 0)
        c->o.restart_frames = DEFAULT_RESTART;
    c->store = store;
    c->last_run = uv_hrtime();
    if (uv_mutex_init(&c->mu) != 0 || uv_cond_init(&c->cv) != 0 || uv_cond_init(&c->done_cv) != 0)
        tsb_fatal("checkpointer: cannot create a mutex or condition variable");
    int e = uv_thread_create(&c->thread, checkpointer_main, c);
    if (e != 0) {
        tsb_store_close(store);
        free_checkpointer(c);
        return tsb_err(TSB_EINTERNAL, "checkpointer: thread: %s", uv_strerror(e));
    }
    *out = c;
    return 0;
}

bool tsb_checkpointer_wal_grew(struct tsb_checkpointer *c, int64_t frames)
{
    uv_mutex_lock(&c->mu);
    c->commits++;
    c->last_commit = uv_hrtime();
    c->truncate_due = true;
    if (frames < c->seen) {
        c->base = 0; /* the writer restarted the WAL from its first frame */
        c->catch_up = false;
    }
    c->seen = frames;
    if (!c->kicked && frames - c->base >= c->o.frames) {
        c->kicked = true;
        uv_cond_signal(&c->cv);
    }
    bool catch_up = c->catch_up && !c->failed;
    c->catch_up = false;
    uv_mutex_unlock(&c->mu);
    return catch_up;
}

int tsb_checkpointer_catch_up(struct tsb_checkpointer *c, struct tsb_store *store)
{
    int64_t frames, copied;
    int r = tsb_store_checkpoint_passive(store, &frames, &copied);
    if (r == TSB_EDURABLE) {
        uv_mutex_lock(&c->mu);
        c->failed = true; /* no checkpoint again, on either connection */
        uv_mutex_unlock(&c->mu);
    }
    return r;
}

void tsb_checkpointer_halt(struct tsb_checkpointer *c)
{
    uv_mutex_lock(&c->mu);
    c->failed = true;
    uv_cond_broadcast(&c->done_cv);
    uv_mutex_unlock(&c->mu);
}

int tsb_checkpointer_run(struct tsb_checkpointer *c)
{
    uv_mutex_lock(&c->mu);
    uint64_t mine = ++c->req;
    uv_cond_signal(&c->cv);
    while (c->ran < mine && !c->failed)
        uv_cond_wait(&c->done_cv, &c->mu);
    int r = c->failed ? TSB_EDURABLE : c->ran_result;
    uv_mutex_unlock(&c->mu);
    if (r == TSB_EDURABLE)
        return tsb_err(r, "checkpointer: a checkpoint failed; the archive is no longer written");
    return r;
}

void tsb_checkpointer_stop(struct tsb_checkpointer *c)
{
    if (c == NULL)
        return;
    uv_mutex_lock(&c->mu);
    c->stopping = true;
    uv_cond_signal(&c->cv);
    uv_mutex_unlock(&c->mu);
    uv_thread_join(&c->thread);
    free_checkpointer(c);
}
