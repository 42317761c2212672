/*
 * writer: the one thread that writes the archive. It owns one tsb_store connection and executes a
 * single FIFO of work on it: runs of journal entries (group commit: up to batch_max entries, or
 * what arrived within batch_delay_ms, in one transaction) and generic jobs (status reads, the
 * sealer's seal/attempt/stamp records), strictly in submission order. Completions are posted back
 * to the loop thread with uv_async and delivered there, in the same order. docs/internals/WRITER.md
 * describes ordering, ownership and the failure rule.
 *
 * Failure rule: once any write returns TSB_EDURABLE the writer is poisoned. It never touches the
 * store again; every queued and later item completes with TSB_EDURABLE; on_fatal is called once
 * on the loop thread. The daemon then stops acknowledging and exits non-zero. Never a retry.
 */
#ifndef TSB_WRITER_H
#define TSB_WRITER_H

#include "checkpointer.h"
#include "err.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tsb_writer;

/* A job runs on the writer thread with the writer's store connection and returns 0 or TSB_E*.
 * Returning TSB_EDURABLE poisons the writer. */
typedef int (*tsb_writer_job_fn)(struct tsb_store *store, void *arg);
/* Runs on the loop thread after the job, with its return value (TSB_EDURABLE, without running the
 * job, when the writer was already poisoned). */
typedef void (*tsb_writer_done_fn)(void *arg, int status);
/* The same with the job's whole outcome: res->code as above and res->msg, the writer thread's
 * error detail when the job returned (tsb_err_detail on the loop thread says nothing about it).
 * res belongs to the job and is valid during the call only. */
typedef void (*tsb_writer_result_fn)(void *arg, const struct tsb_result *res);

/* A journal entry on its way to the archive. The caller allocates it (typically inside its own
 * request object), fills `in` (whose pointers must stay valid until done runs) and `done`, and
 * submits it; the writer fills ref/status and calls done on the loop thread. */
struct tsb_writer_entry {
    struct tsb_writer_entry *next; /* writer's queue link */
    struct tsb_entry_in in;
    int64_t ref; /* set when status is 0 */
    int status;  /* 0, TSB_EDURABLE, or another TSB_E* for a batch the store refused */
    void (*done)(struct tsb_writer_entry *e);
    /* private: what the entry counts against writer.queue_bytes (set by submit) */
    size_t bytes;
    /* private: set for jobs */
    tsb_writer_job_fn job;
    tsb_writer_done_fn job_done;
    void *job_arg;
};

struct tsb_writer_opts {
    size_t batch_max;                        /* writer.batch_max */
    int batch_delay_ms;                      /* writer.batch_delay_ms */
    size_t queue_bytes;                      /* writer.queue_bytes (0: no byte bound) */
    size_t queue_max;                        /* writer.queue_max entries (0: no entry bound) */
    void (*on_fatal)(void *arg, int status); /* loop thread, once, on the first TSB_EDURABLE */
    void (*on_progress)(void *arg); /* loop thread, after each delivered group of completions */
    void *arg;
    /* a second read-write connection to the same archive, taken over in every case: the
     * writer's checkpointer thread (checkpointer.h) checkpoints the WAL on it, and the writer's
     * own store is then opened with no_checkpoint. NULL: the writer's store checkpoints itself
     * (its WAL hook, inside the commit that crosses 1000 frames). A failed checkpoint poisons the
     * writer like a failed commit: on_fatal, then TSB_EDURABLE for everything not yet delivered. */
    struct tsb_store *ckpt_store;
    struct tsb_checkpointer_opts
        ckpt; /* its thresholds (zero: defaults); on_failed is the writer's */
    /* the writer thread keeps to CPU cpu alone (writer.own_cpu, tsb_cpus_reserve) */
    bool pin_cpu;
    int cpu;
};

/* Starts the writer thread on store (taken over: the writer closes it when it stops). */
int tsb_writer_start(uv_loop_t *loop, struct tsb_store *store, const struct tsb_writer_opts *o,
                     struct tsb_writer **out);

/* Queues one entry (loop thread). Never fails: a poisoned writer completes it with TSB_EDURABLE
 * through done. Not to be called after tsb_writer_stop. */
void tsb_writer_submit_entry(struct tsb_writer *w, struct tsb_writer_entry *e);

/* Queues a job behind everything submitted so far (loop thread). done is called exactly once,
 * unless this returns an error (TSB_ECLOSED once tsb_writer_stop was called). */
int tsb_writer_submit_job(struct tsb_writer *w, tsb_writer_job_fn fn, tsb_writer_done_fn done,
                          void *arg);
/* Queues a job like tsb_writer_submit_job; done receives the job's own result, detail included.
 * Each job carries its result from the writer thread to done: nothing is shared between jobs. */
int tsb_writer_submit(struct tsb_writer *w, tsb_writer_job_fn fn, tsb_writer_result_fn done,
                      void *arg);

/* What one queued entry costs against writer.queue_bytes: its content, format id and client ref
 * plus TSB_WRITER_ENTRY_OVERHEAD for the submitter's request object around it. */
#define TSB_WRITER_ENTRY_OVERHEAD 512
size_t tsb_writer_entry_bytes(const struct tsb_entry_in *in);

/* Entries submitted and not yet completed. */
size_t tsb_writer_pending(const struct tsb_writer *w);
/* Bytes (tsb_writer_entry_bytes) of the entries submitted and not yet completed, and the most
 * there ever were. Any thread (a relaxed read, for metrics). */
size_t tsb_writer_queued_bytes(const struct tsb_writer *w);
size_t tsb_writer_queued_bytes_peak(const struct tsb_writer *w);
/* The backpressure question (loop thread): may an entry of n bytes be queued now? True when the
 * queue is empty (an entry larger than the budget still goes through, alone), else when the
 * queue stays within writer.queue_bytes with it and holds fewer than writer.queue_max entries.
 * Ingest asks it before it takes in each request and stops reading while it is false; the writer
 * calls on_progress once completions have made room. */
bool tsb_writer_has_room(const struct tsb_writer *w, size_t n);
/* True once the writer hit TSB_EDURABLE. */
bool tsb_writer_failed(const struct tsb_writer *w);
/* The checkpointer thread started on opts.ckpt_store, NULL without one (tests run it on demand). */
struct tsb_checkpointer *tsb_writer_checkpointer(struct tsb_writer *w);

/* Lets the thread finish everything queued, joins it, closes the store and the async handle, then
 * calls stopped on the loop thread and frees the writer. */
void tsb_writer_stop(struct tsb_writer *w, void (*stopped)(void *arg), void *arg);

#endif
