/*
 * checkpointer: tsbagd's second archive thread. It owns a read-write tsb_store connection of its
 * own and copies the WAL back into the archive file (wal_checkpoint PASSIVE) beside the writer,
 * which then never checkpoints inside a commit: acknowledgements wait for the WAL's fsync only,
 * never for a copy of the WAL into the database file and that file's fsync.
 * docs/internals/WRITER.md, "Checkpoints: the WAL stays bounded".
 *
 * Failure rule: a checkpoint that fails to write or fsync the archive file poisons this
 * connection, calls on_failed once (from this thread) and no checkpoint runs again: SQLite keeps
 * every frame in the WAL for the next open to recover from. The writer must then stop
 * acknowledging (tsb_writer_poison). Never a retry.
 */
#ifndef TSB_CHECKPOINTER_H
#define TSB_CHECKPOINTER_H

#include "store.h"

#include <stdbool.h>
#include <stdint.h>

struct tsb_checkpointer;

struct tsb_checkpointer_opts {
    int64_t frames;  /* a checkpoint once the WAL grew by this many frames (0: 1000, 4 MiB) */
    int interval_ms; /* and at least this often while commits come (0: 1000) */
    int idle_ms;     /* no commit for this long: the WAL is also truncated (0: 1000) */
    /* from this many frames on, the writer restarts the WAL after the checkpointer copied all
     * but the last few (0: 2000, 8 MiB: the file stays under journal_size_limit) */
    int64_t restart_frames;
    /* checkpointer thread, once: a checkpoint failed to write or fsync the archive file */
    void (*on_failed)(void *arg);
    void *arg;
};

/* Starts the thread on store (a read-write connection, taken over: closed when it stops). */
int tsb_checkpointer_start(struct tsb_store *store, const struct tsb_checkpointer_opts *o,
                           struct tsb_checkpointer **out);
/* The WAL holds frames after a commit (the writer thread, after each commit): wakes the thread
 * once frames grew by opts.frames since its last checkpoint. Cheap: a mutex, no system call
 * unless it wakes the thread. Returns true when the writer should now copy the few frames left
 * itself (tsb_checkpointer_catch_up on its own connection, before its next commit), so that
 * SQLite can restart the WAL: it does so only when a write transaction begins with every frame
 * copied, never while a checkpoint runs beside a writer that keeps committing. */
bool tsb_checkpointer_wal_grew(struct tsb_checkpointer *c, int64_t frames);
/* The writer's copy of the last frames, on its own connection store (after wal_grew returned
 * true): tsb_store_checkpoint_passive. Returns its result; TSB_EDURABLE also stops c for good
 * (no checkpoint again, its connection closes without one), since the next checkpoint's fsync
 * could "succeed" over pages the kernel dropped. The caller must stop acknowledging. */
int tsb_checkpointer_catch_up(struct tsb_checkpointer *c, struct tsb_store *store);
/* Stops c for good from another thread, as a failed checkpoint does (no checkpoint again, its
 * connection closes without one): the writer's fsync of the WAL failed, and a checkpoint's own
 * fsync could "succeed" over pages the kernel dropped. A checkpoint already running finishes. */
void tsb_checkpointer_halt(struct tsb_checkpointer *c);
/* Asks for a checkpoint now and waits until it ran (any thread but the checkpointer's): 0, or
 * TSB_EDURABLE when it (or an earlier one) failed. Tests and tools; tsbagd never waits. */
int tsb_checkpointer_run(struct tsb_checkpointer *c);
/* Stops and joins the thread, which closes its connection, and frees c. Call after the writer
 * closed its own connection: this one is then the last and closes the WAL cleanly (a poisoned one
 * leaves the WAL for recovery). NULL is accepted. */
void tsb_checkpointer_stop(struct tsb_checkpointer *c);

#endif
