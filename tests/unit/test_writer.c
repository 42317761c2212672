/* Unit tests for writer (src/daemon/writer.c, compiled into this test): entries and jobs run and
 * complete in submission order on a real SQLite archive; consecutive entries are committed
 * together up to batch_max (shown by a batch the store refuses: every entry of it fails, and only
 * those), a job is never merged into a batch and sees every entry submitted before it; a stop
 * ends the batching delay at once and drains the queue before stopped runs; a TSB_EDURABLE
 * poisons the writer (every later item completes with TSB_EDURABLE, on_fatal once), and so does a
 * checkpoint that fails to fsync the archive file (fault VFS), its checkpointer thread's or the
 * writer's own copy before a restart of the WAL; the digest index's pending chunks are indexed by
 * the time the writer stopped. Each test ends with every handle closed and uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "checkpointer.h"
#include "cpus.h"
#include "err.h"
#include "fault_vfs.h"
#include "store.h"
#include "testlib.h"
#include "writer.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_ITEMS 16

struct fixture;

struct item {
    struct tsb_writer_entry e; /* for entries */
    struct fixture *f;
    int index;      /* submission position */
    int status;     /* the job's or the entry's completion status */
    bool done;      /* loop thread */
    int64_t seen;   /* jobs: entries in the archive when the job ran (writer thread) */
    int job_result; /* jobs: what the job returns */
};

struct fixture {
    char *dir;
    uv_loop_t loop;
    struct tsb_writer *w;
    struct item items[MAX_ITEMS];
    int n;
    int order[MAX_ITEMS]; /* indexes in completion order */
    int completed;
    int fatal_calls;
    int fatal_status;
    int completed_at_fatal;
    bool stopped;
    int completed_at_stop;
};

static void on_fatal(void *arg, int status)
{
    struct fixture *f = arg;
    f->fatal_calls++;
    f->fatal_status = status;
    f->completed_at_fatal = f->completed;
}

static void complete(struct item *it, int status)
{
    assert_false(it->done); /* exactly once */
    it->done = true;
    it->status = status;
    it->f->order[it->f->completed++] = it->index;
}

static void entry_done(struct tsb_writer_entry *e)
{
    struct item *it = (struct item *)e; /* e is the first member */
    complete(it, e->status);
}

static int job_fn(struct tsb_store *store, void *arg)
{
    struct item *it = arg;
    struct tsb_store_stats st;
    it->seen = tsb_store_stats(store, &st) == 0 ? st.entries : -1;
    return it->job_result;
}

static void job_done(void *arg, int status)
{
    complete(arg, status);
}

/* Appends n entries to the archive before the writer starts (its own digests: 0xee...). */
static void prefill(struct tsb_store *s, int64_t n)
{
    static struct tsb_entry_in in[1024];
    int64_t refs[1024];
    for (size_t i = 0; i < 1024; i++) {
        memset(in[i].digest, 0xee, sizeof(in[i].digest));
        memcpy(in[i].digest, &i, sizeof(i));
        in[i].source = "his";
        in[i].received_ms = 1782900000000LL;
    }
    for (int64_t done = 0; done < n; done += 1024)
        assert_int_equal(tsb_store_append(s, in, (size_t)(n - done < 1024 ? n - done : 1024), refs),
                         0);
}

/* Starts a writer on a fresh archive holding `entries` entries; ckpt: as tsbagd does, with a
 * checkpointer thread on a second connection (both through the fault VFS), which checkpoints only
 * when asked to. */
/* >= 0: the next writer started keeps to this CPU (writer.own_cpu) */
static int fixture_cpu = -1;
/* the next writer's store syncs its WAL apart (writer.sync_thread: the writer's syncer thread) */
static bool fixture_sync_apart;

static void start_with(struct fixture *f, size_t batch_max, int batch_delay_ms, bool ckpt,
                       int64_t restart_frames, int64_t entries)
{
    memset(f, 0, sizeof(*f));
    f->dir = tsb_test_tmpdir();
    char *path = tsb_test_path(f->dir, "archive.db");
    struct tsb_store *s = NULL;
    struct tsb_writer_opts o = {.batch_max = batch_max,
                                .batch_delay_ms = batch_delay_ms,
                                .on_fatal = on_fatal,
                                .arg = f,
                                .pin_cpu = fixture_cpu >= 0,
                                .cpu = fixture_cpu};
    tsb_fault_vfs_register();
    struct tsb_store_open_opts so = {
        .vfs = TSB_FAULT_VFS, .no_checkpoint = ckpt, .sync_apart = fixture_sync_apart};
    assert_int_equal(tsb_store_open(path, &so, &s), 0);
    assert_true(tsb_store_sync_apart(s) == fixture_sync_apart);
    assert_int_equal(tsb_store_synchronous(s), fixture_sync_apart ? 1 : 2); /* NORMAL : FULL */
    prefill(s, entries);
    if (ckpt) {
        so.sync_apart = false;
        assert_int_equal(tsb_store_open(path, &so, &o.ckpt_store), 0);
        o.ckpt = (struct tsb_checkpointer_opts){.frames = INT64_MAX / 2,
                                                .interval_ms = 3600000,
                                                .idle_ms = 3600000,
                                                .restart_frames = restart_frames};
    }
    free(path);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(tsb_writer_start(&f->loop, s, &o, &f->w), 0);
    assert_true((tsb_writer_checkpointer(f->w) != NULL) == ckpt);
}

static void start(struct fixture *f, size_t batch_max, int batch_delay_ms)
{
    start_with(f, batch_max, batch_delay_ms, false, 0, 0);
}

/* Starts a writer whose store syncs its WAL apart (its syncer thread), as tsbagd does. */
static void start_sync_apart(struct fixture *f, size_t batch_max, bool ckpt)
{
    fixture_sync_apart = true;
    start_with(f, batch_max, 0, ckpt, INT64_MAX / 2, 0);
    fixture_sync_apart = false;
}

/* Runs the loop until the item completed. */
static void wait_done(struct fixture *f, const struct item *it)
{
    while (!it->done)
        uv_run(&f->loop, UV_RUN_ONCE);
}

/* Queues an entry; source NULL makes the store refuse the batch it is in (TSB_EINVAL). */
static struct item *entry(struct fixture *f, const char *source)
{
    struct item *it = &f->items[f->n];
    it->f = f;
    it->index = f->n++;
    memset(it->e.in.digest, it->index + 1, sizeof(it->e.in.digest));
    it->e.in.source = source;
    it->e.in.received_ms = 1782900000000LL + it->index;
    it->e.done = entry_done;
    tsb_writer_submit_entry(f->w, &it->e);
    return it;
}

static struct item *job(struct fixture *f, int result)
{
    struct item *it = &f->items[f->n];
    it->f = f;
    it->index = f->n++;
    it->seen = -2;
    it->job_result = result;
    assert_int_equal(tsb_writer_submit_job(f->w, job_fn, job_done, it), 0);
    return it;
}

static void stopped(void *arg)
{
    struct fixture *f = arg;
    f->stopped = true;
    f->completed_at_stop = f->completed;
}

/* Stops the writer, runs the loop until everything closed, checks the loop closes; the archive
 * stays. */
static void stop(struct fixture *f)
{
    tsb_writer_stop(f->w, stopped, f);
    assert_int_equal(tsb_writer_submit_job(f->w, job_fn, job_done, &f->items[0]), TSB_ECLOSED);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_true(f->stopped);
    assert_int_equal(f->completed_at_stop, f->n); /* the queue drained before stopped */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    for (int i = 0; i < f->n; i++)
        assert_int_equal(f->order[i], i); /* completions in submission order */
}

static void finish(struct fixture *f)
{
    stop(f);
    tsb_test_rmtree(f->dir);
    free(f->dir);
}

static void test_order(void **state)
{
    (void)state;
    static struct fixture f;
    start(&f, 64, 0);
    struct item *a = entry(&f, "his");
    struct item *j1 = job(&f, 0);
    struct item *b = entry(&f, "his");
    struct item *c = entry(&f, "pharmacy");
    struct item *j2 = job(&f, 0);
    struct item *d = entry(&f, "his");
    finish(&f);
    assert_int_equal(a->status, 0);
    assert_int_equal(b->status, 0);
    assert_int_equal(c->status, 0);
    assert_int_equal(d->status, 0);
    assert_int_equal(j1->status, 0);
    assert_int_equal(j2->status, 0);
    /* a job sees exactly what was submitted before it */
    assert_int_equal(j1->seen, 1);
    assert_int_equal(j2->seen, 3);
    /* Refs strictly increase in submission order */
    assert_true(a->e.ref > 0);
    assert_true(b->e.ref > a->e.ref);
    assert_true(c->e.ref > b->e.ref);
    assert_true(d->e.ref > c->e.ref);
    assert_int_equal(f.fatal_calls, 0);
}

static void test_batches_and_stop_drains(void **state)
{
    (void)state;
    static struct fixture f;
    /* a delay far longer than the test: a full batch must not wait for it, nor a stop */
    start(&f, 3, 600000);
    struct item *a = entry(&f, "his");
    struct item *b = entry(&f, "his");
    struct item *c = entry(&f, NULL); /* the store refuses this batch: all of a, b, c fail */
    struct item *j = job(&f, 0);
    struct item *d = entry(&f, "his");
    struct item *e = entry(&f, "his");
    struct item *g = entry(&f, "his"); /* a full batch again: d, e, g */
    struct item *h = entry(&f, "his"); /* alone, waiting for company until the stop */
    finish(&f);
    assert_int_equal(a->status, TSB_EINVAL);
    assert_int_equal(b->status, TSB_EINVAL);
    assert_int_equal(c->status, TSB_EINVAL);
    assert_int_equal(a->e.ref, 0);
    assert_int_equal(j->status, 0);
    assert_int_equal(j->seen, 0); /* nothing of the refused batch was written */
    assert_int_equal(d->status, 0);
    assert_int_equal(e->status, 0);
    assert_int_equal(g->status, 0);
    assert_int_equal(h->status, 0); /* committed by the drain at stop */
    assert_true(e->e.ref > d->e.ref && g->e.ref > e->e.ref && h->e.ref > g->e.ref);
    assert_int_equal(f.fatal_calls, 0);
}

static void test_durable_failure_poisons(void **state)
{
    (void)state;
    static struct fixture f;
    start(&f, 8, 0);
    struct item *a = entry(&f, "his");
    struct item *bad = job(&f, TSB_EDURABLE); /* e.g. a failed fsync inside a job */
    struct item *b = entry(&f, "his");
    struct item *j = job(&f, 0);
    finish(&f);
    assert_int_equal(a->status, 0);
    assert_int_equal(bad->status, TSB_EDURABLE);
    assert_int_equal(b->status, TSB_EDURABLE); /* never written, never acknowledged */
    assert_int_equal(b->e.ref, 0);
    assert_int_equal(j->status, TSB_EDURABLE);
    assert_int_equal(j->seen, -2); /* the job did not run */
    assert_int_equal(f.fatal_calls, 1);
    assert_int_equal(f.fatal_status, TSB_EDURABLE);
}

/* After a failed checkpoint: the WAL is still there (no checkpoint on close), and the archive
 * reopened from it holds `entries`. Removes the folder. */
static void assert_archive_kept(struct fixture *f, int64_t entries)
{
    char *path = tsb_test_path(f->dir, "archive.db"),
         *wal = tsb_test_path(f->dir, "archive.db-wal");
    FILE *fp = fopen(wal, "rb");
    assert_non_null(fp); /* left for recovery */
    fclose(fp);
    struct tsb_store *s = NULL;
    assert_int_equal(tsb_store_open(path, NULL, &s), 0);
    struct tsb_store_stats st;
    assert_int_equal(tsb_store_stats(s, &st), 0);
    assert_int_equal(st.entries, entries);
    tsb_store_close(s);
    free(path);
    free(wal);
    tsb_test_rmtree(f->dir);
    free(f->dir);
}

/* The checkpointer thread copies the WAL into the archive file beside the writer; when that copy's
 * fsync fails, the writer is poisoned before anything more is acknowledged although the disk
 * "recovered" at once: on_fatal first, then TSB_EDURABLE for the next entry and job (not run).
 * The WAL keeps every frame (no checkpoint on close): reopened, the archive holds what was
 * acknowledged. */
static void test_checkpoint_failure_poisons(void **state)
{
    (void)state;
    static struct fixture f;
    start_with(&f, 8, 0, true, INT64_MAX / 2, 0);
    struct tsb_checkpointer *c = tsb_writer_checkpointer(f.w);
    struct item *a = entry(&f, "his");
    while (!a->done)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_int_equal(a->status, 0);
    assert_int_equal(tsb_checkpointer_run(c), 0); /* a healthy disk: copied, nothing poisoned */
    struct item *b = entry(&f, "his");
    while (!b->done)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_int_equal(b->status, 0);

    tsb_fault_syncs_failed = 0;
    tsb_fault_fail_syncs = TSB_FAULT_DB; /* the writer's commits sync the WAL only */
    assert_int_equal(tsb_checkpointer_run(c), TSB_EDURABLE);
    tsb_fault_fail_syncs = 0;
    assert_true(tsb_fault_syncs_failed > 0);
    assert_int_equal(tsb_checkpointer_run(c), TSB_EDURABLE); /* never tried again */
    assert_int_equal(tsb_fault_syncs_failed, 1);
    struct item *d = entry(&f, "his");
    struct item *j = job(&f, 0);
    stop(&f);
    assert_int_equal(f.fatal_calls, 1);
    assert_int_equal(f.fatal_status, TSB_EDURABLE);
    assert_int_equal(f.completed_at_fatal, 2); /* before d's completion */
    assert_int_equal(d->status, TSB_EDURABLE);
    assert_int_equal(d->e.ref, 0);
    assert_int_equal(j->status, TSB_EDURABLE);
    assert_int_equal(j->seen, -2);

    assert_archive_kept(&f, 2);
}

/* With the WAL synced apart (the syncer thread), completions keep their order and an entry is
 * acknowledged with its Ref as before; a job still sees everything submitted before it. */
static void test_sync_apart_order(void **state)
{
    (void)state;
    static struct fixture f;
    start_sync_apart(&f, 2, false);
    struct item *it[8];
    for (int i = 0; i < 8; i++)
        it[i] = i % 3 == 2 ? job(&f, 0) : entry(&f, "his");
    finish(&f);
    int64_t prev = 0;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(it[i]->status, 0);
        if (i % 3 == 2) {
            assert_int_equal(it[i]->seen, i - i / 3); /* the entries before it */
        } else {
            assert_true(it[i]->e.ref > prev);
            prev = it[i]->e.ref;
        }
    }
    assert_int_equal(f.fatal_calls, 0);
}

/* A job that commits nothing (a status read) is posted without an fsync of the WAL: with every
 * fsync failing, it still succeeds; the next entry's commit is then fsynced, and fails. */
static void test_sync_apart_no_fsync_without_commit(void **state)
{
    (void)state;
    static struct fixture f;
    start_sync_apart(&f, 8, false);
    struct item *a = entry(&f, "his");
    wait_done(&f, a);
    assert_int_equal(a->status, 0);
    tsb_fault_syncs_failed = 0;
    tsb_fault_fail_syncs = TSB_FAULT_WAL;
    struct item *j = job(&f, 0);
    wait_done(&f, j);
    assert_int_equal(j->status, 0);
    assert_int_equal(j->seen, 1);
    assert_int_equal(tsb_fault_syncs_failed, 0); /* no fsync was tried */
    struct item *b = entry(&f, "his");
    wait_done(&f, b);
    tsb_fault_fail_syncs = 0;
    assert_int_equal(b->status, TSB_EDURABLE);
    assert_int_equal(tsb_fault_syncs_failed, 1);
    assert_int_equal(f.fatal_calls, 1);
    stop(&f);
    assert_archive_kept(&f, 2);
}

/* The syncer's fsync of the WAL fails: the entry whose commit it was to make durable is not
 * acknowledged (TSB_EDURABLE, on_fatal first), nor anything after it, the fsync is never tried
 * again and the checkpointer never checkpoints again; the WAL is left for the next open (which may
 * find that entry: its commit reached the WAL, only its durability is unknown). */
static void test_wal_sync_failure_poisons(void **state)
{
    (void)state;
    static struct fixture f;
    start_sync_apart(&f, 8, true);
    struct tsb_checkpointer *ck = tsb_writer_checkpointer(f.w);
    struct item *a = entry(&f, "his");
    wait_done(&f, a);
    assert_int_equal(a->status, 0);
    tsb_fault_syncs_failed = 0;
    tsb_fault_fail_syncs = TSB_FAULT_WAL;
    struct item *b = entry(&f, "his");
    wait_done(&f, b);
    tsb_fault_fail_syncs = 0;
    assert_int_equal(tsb_fault_syncs_failed, 1);
    assert_int_equal(b->status, TSB_EDURABLE);
    assert_int_equal(b->e.ref, 0);
    assert_int_equal(f.fatal_calls, 1);
    assert_int_equal(f.completed_at_fatal, 1);                /* a only */
    assert_int_equal(tsb_checkpointer_run(ck), TSB_EDURABLE); /* halted: no checkpoint ran */
    struct item *c = entry(&f, "his");
    struct item *j = job(&f, 0);
    stop(&f);
    assert_int_equal(c->status, TSB_EDURABLE);
    assert_int_equal(c->e.ref, 0);
    assert_int_equal(j->status, TSB_EDURABLE);
    assert_int_equal(j->seen, -2); /* not run */
    assert_int_equal(f.fatal_calls, 1);
    assert_int_equal(tsb_fault_syncs_failed, 1); /* never tried again */
    assert_archive_kept(&f, 2);
}

/* A job of test_catch_up_failure_poisons, on the writer thread: commits one entry while the reader
 * holds the snapshot of before it (so that this commit does not restart the WAL), then ends that
 * snapshot (so that the writer's copy after the job has the entry's frames to copy). */
struct catch_up_job {
    struct item *it;
    struct tsb_store *reader;
    int64_t ref;
};

static void catch_up_done(void *arg, int status)
{
    complete(((struct catch_up_job *)arg)->it, status);
}

static int commit_then_release(struct tsb_store *store, void *arg)
{
    struct catch_up_job *j = arg;
    struct tsb_entry_in in = {.source = "his", .received_ms = 1782900000999LL};
    memset(in.digest, 0x5a, sizeof(in.digest));
    int r = tsb_store_append(store, &in, 1, &j->ref);
    tsb_store_snapshot_end(j->reader);
    return r;
}

/* The writer's own copy of the last frames before a restart of the WAL fails the same way:
 * on_fatal before anything more is delivered, the next entry not acknowledged, and the
 * checkpointer never checkpoints again, not even when its connection closes last. */
static void test_catch_up_failure_poisons(void **state)
{
    (void)state;
    static struct fixture f;
    start_with(&f, 8, 0, true, 1,
               0); /* the writer copies the rest after every complete checkpoint */
    struct tsb_checkpointer *c = tsb_writer_checkpointer(f.w);
    struct item *a = entry(&f, "his");
    while (!a->done)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_int_equal(a->status, 0);
    struct catch_up_job cj = {0};
    char *path = tsb_test_path(f.dir, "archive.db");
    struct tsb_store_open_opts ro = {.readonly = true};
    assert_int_equal(tsb_store_open(path, &ro, &cj.reader), 0);
    free(path);
    assert_int_equal(tsb_store_snapshot_begin(cj.reader), 0);
    assert_int_equal(tsb_checkpointer_run(c), 0); /* everything copied: the writer copies next */

    tsb_fault_syncs_failed = 0;
    tsb_fault_fail_syncs = TSB_FAULT_DB;
    cj.it = &f.items[f.n];
    cj.it->f = &f;
    cj.it->index = f.n++;
    assert_int_equal(tsb_writer_submit_job(f.w, commit_then_release, catch_up_done, &cj), 0);
    while (!cj.it->done)
        uv_run(&f.loop, UV_RUN_ONCE);
    tsb_fault_fail_syncs = 0;
    assert_int_equal(tsb_fault_syncs_failed, 1);
    assert_int_equal(f.fatal_calls, 1); /* reported before the job's own completion */
    assert_true(cj.ref > a->e.ref);     /* the job's entry is committed (in the WAL) */
    assert_int_equal(tsb_checkpointer_run(c), TSB_EDURABLE);
    struct item *d = entry(&f, "his");
    tsb_store_close(cj.reader); /* so that the checkpointer's connection closes last */
    stop(&f);
    assert_int_equal(f.fatal_calls, 1);
    assert_int_equal(f.completed_at_fatal, 1); /* a only */
    assert_int_equal(cj.it->status, 0);        /* the job itself ran before the failure */
    assert_int_equal(d->status, TSB_EDURABLE);
    assert_int_equal(tsb_fault_syncs_failed, 1); /* no checkpoint again, none on close */
    assert_archive_kept(&f, 2);
}

/* The digest index's steps run between the writer's batches and at its close: three complete
 * chunks appended before it started are indexed once it stopped, the entry above them is not. */
static void test_hash_index_steps(void **state)
{
    (void)state;
    static struct fixture f;
    start_with(&f, 8, 0, false, 0, 3 * TSB_HASH_CHUNK);
    struct item *a = entry(&f, "his");
    stop(&f);
    assert_int_equal(a->status, 0);
    assert_int_equal(a->e.ref, 3 * TSB_HASH_CHUNK + 1);
    char *path = tsb_test_path(f.dir, "archive.db");
    struct tsb_store *s = NULL;
    assert_int_equal(tsb_store_open(path, NULL, &s), 0);
    int64_t lag = -1;
    assert_int_equal(tsb_store_hash_index_lag(s, &lag), 0);
    assert_int_equal(lag, 1);
    struct tsb_store_stats st;
    assert_int_equal(tsb_store_stats(s, &st), 0);
    assert_int_equal(st.hash_lag, 1);
    tsb_store_close(s);
    free(path);
    tsb_test_rmtree(f.dir);
    free(f.dir);
    assert_int_equal(f.fatal_calls, 0);
}

/* The mask of the calling thread (empty if it cannot be read), its lowest and highest CPU in
 * *first and *last (-1 if empty). No assertion: it also runs on the test's other threads, and
 * their results are checked on the test's own. */
static cpu_set_t own_mask(int *first, int *last)
{
    cpu_set_t m;
    CPU_ZERO(&m);
    if (sched_getaffinity(0, sizeof(m), &m) != 0)
        CPU_ZERO(&m);
    *first = *last = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &m)) {
            if (*first < 0)
                *first = cpu;
            *last = cpu;
        }
    return m;
}

/* Run on a thread of its own, so that the test's own mask stays as it was. */
struct reserve_case {
    bool own_cpu, one_cpu; /* one_cpu: the thread first keeps itself to its lowest CPU */
    bool one_cpu_set;      /* that worked */
    int first, last, allowed, result, after_count;
    bool after_has_last, after_has_first;
};

static void reserve_thread(void *arg)
{
    struct reserve_case *c = arg;
    cpu_set_t m = own_mask(&c->first, &c->last);
    if (c->one_cpu && c->first >= 0) {
        CPU_ZERO(&m);
        CPU_SET(c->first, &m);
        c->one_cpu_set = sched_setaffinity(0, sizeof(m), &m) == 0;
        m = own_mask(&c->first, &c->last);
    }
    c->allowed = CPU_COUNT(&m);
    c->result = tsb_cpus_reserve(c->own_cpu);
    int after_first, after_last;
    cpu_set_t after = own_mask(&after_first, &after_last);
    c->after_count = CPU_COUNT(&after);
    c->after_has_last = c->last >= 0 && CPU_ISSET(c->last, &after);
    c->after_has_first = c->first >= 0 && CPU_ISSET(c->first, &after);
}

static void run_reserve(struct reserve_case *c)
{
    uv_thread_t t;
    assert_int_equal(uv_thread_create(&t, reserve_thread, c), 0);
    assert_int_equal(uv_thread_join(&t), 0);
}

/* writer.own_cpu: with 2 CPUs allowed or more, the last one is the writer's and the calling
 * thread (whose mask every later thread inherits) keeps the others; with one CPU, or the option
 * off, nothing changes (-1). */
static void test_cpus_reserve(void **state)
{
    (void)state;
    struct reserve_case on = {.own_cpu = true}, off = {.own_cpu = false},
                        one = {.own_cpu = true, .one_cpu = true};
    run_reserve(&on);
    run_reserve(&off);
    run_reserve(&one);
    assert_true(on.allowed >= 1 && off.allowed >= 1); /* the masks could be read */
    assert_true(one.one_cpu_set);
    if (on.allowed >= 2) {
        assert_int_equal(on.result, on.last);
        assert_int_equal(on.after_count, on.allowed - 1);
        assert_false(on.after_has_last);
        assert_true(on.after_has_first);
    } else {
        assert_int_equal(on.result, -1);
        assert_int_equal(on.after_count, on.allowed);
    }
    assert_int_equal(off.result, -1);
    assert_int_equal(off.after_count, off.allowed);
    assert_int_equal(one.allowed, 1);
    assert_int_equal(one.result, -1);
    assert_int_equal(one.after_count, 1);
    assert_true(one.after_has_first);
}

struct mask_job {
    bool done;
    int status, count, last;
};

static int mask_job_fn(struct tsb_store *store, void *arg)
{
    (void)store;
    struct mask_job *m = arg;
    int first;
    cpu_set_t mask = own_mask(&first, &m->last);
    m->count = CPU_COUNT(&mask);
    return 0;
}

static void mask_job_done(void *arg, int status)
{
    struct mask_job *m = arg;
    m->status = status;
    m->done = true;
}

/* The writer started with pin_cpu runs on that CPU alone: its jobs see a mask of one CPU. */
static void test_writer_keeps_to_its_cpu(void **state)
{
    (void)state;
    int first, last;
    (void)own_mask(&first, &last);
    assert_true(last >= 0);
    static struct fixture f;
    fixture_cpu = last;
    start_with(&f, 8, 0, true, 0, 0);
    fixture_cpu = -1;
    struct mask_job m = {0};
    assert_int_equal(tsb_writer_submit_job(f.w, mask_job_fn, mask_job_done, &m), 0);
    while (!m.done)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.count, 1);
    assert_int_equal(m.last, last);
    stop(&f);
    tsb_test_rmtree(f.dir);
    free(f.dir);
    assert_int_equal(f.fatal_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_batches_and_stop_drains),
        cmocka_unit_test(test_durable_failure_poisons),
        cmocka_unit_test(test_sync_apart_order),
        cmocka_unit_test(test_sync_apart_no_fsync_without_commit),
        cmocka_unit_test(test_wal_sync_failure_poisons),
        cmocka_unit_test(test_checkpoint_failure_poisons),
        cmocka_unit_test(test_catch_up_failure_poisons),
        cmocka_unit_test(test_cpus_reserve),
        cmocka_unit_test(test_writer_keeps_to_its_cpu),
        cmocka_unit_test(test_hash_index_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
