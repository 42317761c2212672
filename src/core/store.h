/*
 * store: the SQLite archive (journal entries, bags, stamps). store.c is the only file that
 * includes sqlite3.h. One tsb_store is one connection, used by one thread at a time; WAL lets
 * read-only connections (tsbag verify, status) run while the daemon writes.
 *
 * Durability: every write is one transaction with synchronous=FULL. A failed write, commit or
 * fsync returns TSB_EDURABLE and poisons the connection (every later write also returns
 * TSB_EDURABLE): the caller must stop acknowledging and exit, never retry.
 *
 * Bag states and allowed transitions (enforced here and by a trigger in the schema):
 *   sealed -> sent;  sent -> sent | stamped | failed;  failed -> sent;
 *   recovered is only ever inserted (bags imported from TSConsult), stamped is final.
 */
#ifndef TSB_STORE_H
#define TSB_STORE_H

#include "bag.h"
#include "hash.h"
#include "mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tsb_store;

struct tsb_store_open_opts {
    bool readonly;       /* open an existing archive read-only (no migration) */
    int busy_timeout_ms; /* 0 means 5000 */
    const char *vfs;     /* SQLite VFS name, NULL for the default (tests inject faults) */
    bool quick_check;    /* PRAGMA quick_check before any migration: damage is TSB_EDAMAGED */
    /* with readonly: open an archive older than this build too (no migration; only the schema
     * version, integrity checks and WAL size may then be used: tsbag doctor before an upgrade) */
    bool accept_older;
    /* commits never checkpoint (the WAL hook only counts frames; SQLite's auto-checkpoint is off
     * too): tsb_store_checkpoint_passive / tsb_store_checkpoint do, on this connection or another
     * (tsbagd's checkpointer thread) */
    bool no_checkpoint;
    /* the WAL's fsync apart from the commits (tsbagd's writer): commits use synchronous=NORMAL
     * and a commit is durable only once a tsb_store_sync_wal that began after it returned 0 */
    bool sync_apart;
};

/* Process-wide SQLite settings for a long-running writer (tsbagd): no global memory statistics,
 * whose mutex every SQLite allocation takes. Call once, before any archive is opened and before
 * other threads exist; returns TSB_ESTATE if SQLite is already initialised. */
int tsb_store_setup_process(void);

/* Opens (creating if needed, unless readonly) the archive at path, applies pending schema
 * migrations in order, and sets WAL, synchronous=FULL (NORMAL after the migrations with
 * sync_apart) and foreign_keys. o may be NULL.
 * A database newer than this build (user_version above the last migration), or a SQLite file that
 * is not a tsbag archive, is refused with TSB_ESTORE; with quick_check, a file whose quick_check
 * finds damage with TSB_EDAMAGED (the detail names the first problem); readonly on a missing
 * file: TSB_ENOTFOUND. Any read that meets a damaged file (SQLite: corrupt, not a database)
 * returns TSB_EDAMAGED.
 * Writes on a readonly store return TSB_ESTATE. */
int tsb_store_open(const char *path, const struct tsb_store_open_opts *o, struct tsb_store **out);
/* Closes the connection. Accepts NULL. */
void tsb_store_close(struct tsb_store *s);
/* Whether the store was opened with sync_apart. */
bool tsb_store_sync_apart(const struct tsb_store *s);
/* On a store opened with sync_apart: fsyncs its WAL, so that every commit that returned before
 * the call is durable. It touches the WAL's file handle only, never the connection, so one other
 * thread may call it while the owner uses the store (tsbagd's syncer thread); the owner must not
 * close the store meanwhile. TSB_EDURABLE if the fsync failed: what it was to make durable may be
 * lost, and the owner must poison the connection (tsb_store_poison) before anything else. */
int tsb_store_sync_wal(struct tsb_store *s);
/* The schema version (PRAGMA user_version) of the open archive. */
int tsb_store_schema_version(struct tsb_store *s);
/* The schema version this build migrates archives to (the last schema/NNNN_*.sql). */
int tsb_store_schema_latest(void);
/* Checks that the archive can be written now (the file, its -wal and -shm, its folder): SQLite
 * opens a write-protected file read-only without an error. 0, or TSB_ESTORE naming the file and
 * what to fix; TSB_EBUSY if another process holds the write lock past the busy timeout. */
int tsb_store_check_writable(struct tsb_store *s);

/* ---- journal entries ---------------------------------------------------------------------- */

struct tsb_entry_in {
    uint8_t digest[TSB_SHA256_LEN];
    const char *source;     /* source system name, required */
    const char *format_id;  /* may be NULL */
    const char *client_ref; /* may be NULL */
    int64_t received_ms;
    const uint8_t *content; /* NULL unless content storage is enabled */
    size_t content_len;
};

/* Appends n entries in one transaction and writes their Refs (strictly increasing, never reused)
 * to refs[n]. Either all are committed or none (refs zeroed); TSB_EINVAL for an entry without
 * source, TSB_EBUSY if another writer holds the archive past the busy timeout (nothing written,
 * retry allowed), TSB_EDURABLE on a failed write/commit/fsync. The bytes are not copied. */
int tsb_store_append(struct tsb_store *s, const struct tsb_entry_in *e, size_t n, int64_t *refs);

struct tsb_entry_rec {
    int64_t ref;
    uint8_t digest[TSB_SHA256_LEN];
    char *source;
    char *format_id;  /* NULL if absent */
    char *client_ref; /* NULL if absent */
    int64_t received_ms;
    uint8_t *content; /* NULL if not stored */
    size_t content_len;
    int64_t bag_seq;  /* 0 while staged: the bag whose Ref range holds ref (schema 0009) */
    int64_t position; /* 0-based rank of ref inside that range; -1 while staged */
};
void tsb_entry_rec_cleanup(struct tsb_entry_rec *e);

/* Looks up one entry by Ref; TSB_ENOTFOUND if absent. *out is filled only on success. */
int tsb_store_entry_by_ref(struct tsb_store *s, int64_t ref, struct tsb_entry_rec *out);

/* Calls cb for every entry with this digest, in Ref order; a non-zero cb return stops the walk and
 * is returned. Returns 0 (even when nothing matched: cb was simply not called). The record passed
 * to cb is valid only during the call. cb may use the store, except to start the same walk.
 * When the index finds nothing, the entries table itself is scanned (NOT INDEXED, linear in the
 * archive) before answering nothing: an entry found only that way goes to cb like any other, and
 * tsb_store_damage() then says that the archive's index is damaged. */
typedef int (*tsb_entry_cb)(void *arg, const struct tsb_entry_rec *e);
int tsb_store_entries_by_hash(struct tsb_store *s, const uint8_t digest[TSB_SHA256_LEN],
                              tsb_entry_cb cb, void *arg);

/* The digest index (schema 0012, docs/internals/STORE.md): keyed by epoch
 * (ref >> TSB_HASH_EPOCH_BITS) first and filled after the appends, a chunk of TSB_HASH_CHUNK Refs
 * (aligned, inside one epoch) at a time in TSB_HASH_SLICES steps by the hash's first byte, each
 * taking TSB_HASH_STEP_BYTES of its 256 values (schema 0014: 32 steps of 512 entries on average;
 * the byte reached is counters.hashing_byte). Since schema 0015 a row is one integer key in
 * digest_keys: the epoch, the hash's first TSB_HASH_KEY_BYTES bytes, the Ref's low
 * TSB_HASH_EPOCH_BITS bits (tsb_hash_key); a lookup checks each Ref found against the full
 * hash. Keys are non-negative, so Refs stay at or below TSB_HASH_REF_MAX (2^39 - 1). */
#define TSB_HASH_EPOCH_BITS 16
#define TSB_HASH_KEY_BYTES  3
#define TSB_HASH_REF_MAX    ((INT64_C(1) << (63 - 8 * TSB_HASH_KEY_BYTES)) - 1)
/* The hash's first TSB_HASH_KEY_BYTES bytes, big-endian, and the index key of (ref, hash) (ref
 * in 0..TSB_HASH_REF_MAX). */
uint32_t tsb_hash_key_prefix(const uint8_t hash[TSB_SHA256_LEN]);
int64_t tsb_hash_key(int64_t ref, const uint8_t hash[TSB_SHA256_LEN]);
#define TSB_HASH_CHUNK      16384
#define TSB_HASH_STEP_BYTES 8
#define TSB_HASH_SLICES     (256 / TSB_HASH_STEP_BYTES)
/* before a chunk's slices, TSB_HASH_READ_PARTS steps read it into memory (a quarter each) */
#define TSB_HASH_READ_PARTS 4
#define TSB_HASH_STEPS      (TSB_HASH_READ_PARTS + TSB_HASH_SLICES) /* per chunk, at least */
/* The (hash, Ref) pairs of a handle's own appends, as each append read them back, are kept for its
 * index steps (at most TSB_HASH_TAIL of them, contiguous Refs): a chunk they cover whole is copied
 * from there by its first step, which also inserts its first slice (TSB_HASH_SLICES steps), while
 * no other connection committed since (PRAGMA data_version); any other chunk is read. */
#define TSB_HASH_TAIL (4 * TSB_HASH_CHUNK)

/* Runs one step of the digest index in its own write transaction if a complete chunk (one whose
 * last Ref exists) is pending, else nothing. *lag (may be NULL): the entries above the watermark
 * after it; a complete chunk is still pending while it is >= TSB_HASH_CHUNK. TSB_EBUSY and
 * TSB_EDURABLE as for an append; the step's commit does not fsync the WAL (the next
 * append's does), and if the connection cannot be set back to synchronous=FULL after it, it is
 * poisoned (TSB_EDURABLE). Called by tsbagd's writer between batches. */
int tsb_store_hash_index_step(struct tsb_store *s, int64_t *lag);
/* The chunks this handle's index steps took from its appends' pairs and the chunks they read from
 * the archive, since it was opened. */
void tsb_store_hash_index_sources(const struct tsb_store *s, int64_t *copied, int64_t *read);
/* The connection's PRAGMA synchronous (2: FULL, what every commit but an index step's uses;
 * -1 if it cannot be read). */
int tsb_store_synchronous(struct tsb_store *s);
/* Entries not yet in the digest index (the last Ref minus the watermark counters.hashed_ref),
 * from the counters: cheap. */
int tsb_store_hash_index_lag(struct tsb_store *s, int64_t *lag);

/* For the archive check, which compares the two: the (Ref, hash prefix) of every key of the
 * digest index's epoch, in key order (prefix, then Ref); the (Ref, hash) of every journal row with
 * lo <= ref <= hi, in Ref order; and the highest epoch the index holds (-1: none). A non-zero cb
 * return stops and is returned. */
typedef int (*tsb_hash_key_cb)(void *arg, int64_t ref, uint32_t prefix);
typedef int (*tsb_hash_ref_cb)(void *arg, int64_t ref, const uint8_t hash[TSB_SHA256_LEN]);
int tsb_store_hash_index_rows(struct tsb_store *s, int64_t epoch, tsb_hash_key_cb cb, void *arg);
int tsb_store_entry_hashes(struct tsb_store *s, int64_t lo, int64_t hi, tsb_hash_ref_cb cb,
                           void *arg);
int tsb_store_hash_index_max_epoch(struct tsb_store *s, int64_t *epoch);

/* Entries received in [from_ms, to_ms] (inclusive), in Ref order. */
int tsb_store_entries_by_received(struct tsb_store *s, int64_t from_ms, int64_t to_ms,
                                  tsb_entry_cb cb, void *arg);
/* Entries of one bag, in position order. */
int tsb_store_entries_by_bag(struct tsb_store *s, int64_t seq, tsb_entry_cb cb, void *arg);

/* ---- bags --------------------------------------------------------------------------------- */

enum tsb_bag_state {
    TSB_BAG_SEALED,
    TSB_BAG_SENT,
    TSB_BAG_STAMPED,
    TSB_BAG_FAILED,
    TSB_BAG_RECOVERED,
    TSB_BAG_NSTATES
};
/* "sealed", "sent", "stamped", "failed", "recovered". */
const char *tsb_bag_state_name(enum tsb_bag_state st);

struct tsb_seal_opts {
    struct tsb_bag_opts bag;
    size_t max_entries; /* per bag; 0 means 100 000 */
    int64_t now_ms;
    size_t max_bytes;  /* per bag; 0 means TSB_BAG_DEFAULT_MAX_BYTES (what the parser accepts) */
    int64_t first_seq; /* SequenceNumber of the first bag of an archive without bags; 0 means 1 */
    bool chain;        /* sealer.chain: each bag links to the previous one (bag.prev is ignored) */
};

struct tsb_seal_result {
    int64_t first_seq; /* 0 when nothing was staged */
    size_t bags;
    size_t entries;
};

/* Seals every staged entry, in Ref order, into consecutive new bags (SequenceNumber = last + 1,
 * gap-free, starting at first_seq), each of at most max_entries entries and max_bytes bytes, in one
 * transaction: bag bytes, digests and the entries' bag/position are committed together before
 * anyone can send them. With o->chain each bag's first JournalEntry is the link to the bag before
 * it (its stored digest, read in the snapshot that assigns the SequenceNumber); a bag with no
 * bag before it has none (the genesis). Nothing staged: no bag, no SequenceNumber consumed,
 * result zeroed. Any error (bag options, TSB_EBUSY, TSB_EDURABLE ...) leaves no bag at all; *res is
 * set on success. */
int tsb_store_seal(struct tsb_store *s, const struct tsb_seal_opts *o, struct tsb_seal_result *res);

/* One bag built from a read snapshot, to be committed later by the writer (tsbagd builds and
 * hashes the bytes on a read-only connection outside the writer thread). */
struct tsb_seal_plan {
    int64_t seq;                 /* the SequenceNumber it takes: last + 1 at the snapshot */
    int64_t first_ref, last_ref; /* the bag is exactly the entries in this Ref range */
    size_t entries;              /* 0: nothing was staged */
    bool more;                   /* the bag stopped at a limit: more entries may be staged */
    uint8_t digest[TSB_SHA256_LEN];
    struct tsb_buf bytes;
    bool linked;                  /* the bag starts with the link (o->chain and a bag seq - 1) */
    uint8_t prev[TSB_SHA256_LEN]; /* the link: bag seq - 1's digest at the snapshot */
};
void tsb_seal_plan_cleanup(struct tsb_seal_plan *p);

/* Builds the next bag (the lowest staged entries, within o's limits) and its digest from one
 * snapshot (the caller's transaction, else its own read transaction), writing nothing: a
 * read-only connection will do. *p is replaced on success (p zeroed or a previous plan). */
int tsb_store_seal_prepare(struct tsb_store *s, const struct tsb_seal_opts *o,
                           struct tsb_seal_plan *p);
/* A bag's bytes are stored in parts of this size (the last one shorter; schema 0011), so that
 * tsbagd can write them in transactions of their own between the batches it acknowledges. */
#define TSB_BAG_PART_BYTES ((size_t)256 * 1024)
/* The number of parts of a bag of len bytes. */
size_t tsb_bag_parts(size_t len);
/* Writes part i (0 <= i < tsb_bag_parts(p->bytes.len)) of the planned bag's bytes in a write
 * transaction of its own, before the bag's row exists; part 0 first removes what an earlier plan
 * of the same SequenceNumber left. TSB_ECONFLICT when bag p->seq exists already (plan again).
 * Optional: tsb_store_seal_commit writes whatever part is missing or different itself. */
int tsb_store_seal_write_part(struct tsb_store *s, const struct tsb_seal_plan *p, size_t i);
/* Commits a planned bag in one short write transaction: the bag row, after its bytes' parts
 * (written now unless tsb_store_seal_write_part wrote exactly them before). Refused with
 * TSB_ECONFLICT (nothing written) when the archive moved meanwhile: another bag took the
 * SequenceNumber or part of the range, the range no longer holds exactly the planned entries, or
 * the bag the plan is chained to is not bag seq - 1 any more; plan again. */
int tsb_store_seal_commit(struct tsb_store *s, const struct tsb_seal_plan *p, int64_t now_ms);

struct tsb_bag_rec {
    int64_t seq;
    enum tsb_bag_state state;
    uint8_t *bytes; /* exact bag bytes as sealed/sent */
    size_t bytes_len;
    uint8_t digest[TSB_SHA256_LEN]; /* SHA-256(bytes) */
    int64_t entry_count;
    int64_t first_ref, last_ref;
    char *request_id; /* last RequestID sent, NULL before the first send */
    char *profile;
    uint8_t *sign_response; /* raw SignResponse XML of the verified stamp, NULL until stamped */
    size_t sign_response_len;
    uint8_t *token; /* DER TimeStampToken, NULL until stamped */
    size_t token_len;
    char *tsa_serial; /* decimal TSTInfo.serialNumber */
    int64_t gen_time_ms;
    int64_t attempts;
    char *last_error;
    int64_t sealed_ms, sent_ms, stamped_ms; /* 0 when not yet */
};
void tsb_bag_rec_cleanup(struct tsb_bag_rec *b);

/* Loads bag seq; TSB_ENOTFOUND if absent. */
int tsb_store_bag_get(struct tsb_store *s, int64_t seq, struct tsb_bag_rec *out);
/* Loads the unstamped bag (sealed, sent or failed) with the lowest SequenceNumber: the one the
 * sender must finish first. TSB_ENOTFOUND when every bag is stamped. */
int tsb_store_bag_next_unstamped(struct tsb_store *s, struct tsb_bag_rec *out);

/* Records that an attempt is being sent: state -> sent, attempts + 1, request_id/profile/sent_ms
 * set. Committed before the request leaves, so a crash mid-send is visible after restart. */
int tsb_store_bag_mark_sent(struct tsb_store *s, int64_t seq, const char *request_id,
                            const char *profile, int64_t now_ms);
/* Records a failed attempt with its reason. definitive=true moves the bag to failed (a DSS error,
 * a fault or a token that failed verification); false keeps it sent (network, timeout, 5xx).
 * Each call also appends to the attempt history. */
int tsb_store_bag_record_failure(struct tsb_store *s, int64_t seq, const char *reason,
                                 bool definitive, int64_t now_ms);
/* The same, with what the TSA did differently (bag_attempts.finding, schema 0005; NULL: nothing
 * unusual) and the sender's failure key (bag_attempts.failure_key, schema 0007; NULL: none). A
 * definitive failure leaves the bag failed: the sender holds it until an operator releases it
 * (tsbag retry), across restarts. */
int tsb_store_bag_record_failure_finding(struct tsb_store *s, int64_t seq, const char *reason,
                                         const char *finding, const char *failure_key,
                                         bool definitive, int64_t now_ms);
/* The failure key of bag seq's latest attempt when that attempt is to be retried (outcome
 * retry), into key (NUL-terminated, truncated to key_len); "" when the latest was stamped or held,
 * has no key, or there is none. For the sender's "same failure twice" across restarts. */
int tsb_store_bag_retry_key(struct tsb_store *s, int64_t seq, char *key, size_t key_len);

struct tsb_stamp {
    const uint8_t *sign_response;
    size_t sign_response_len;
    const uint8_t *token; /* DER, already verified against this bag's digest */
    size_t token_len;
    const char *tsa_serial;
    int64_t gen_time_ms;
    const char *finding; /* what the answer did unusually (bag_attempts.finding), NULL if nothing */
};
/* Records a verified stamp: sent -> stamped. TSB_ESTATE from any other state. */
int tsb_store_bag_record_stamp(struct tsb_store *s, int64_t seq, const struct tsb_stamp *st,
                               int64_t now_ms);

/* Calls cb for each stamped or recovered bag whose gen_time_ms is in [from_ms, to_ms], in
 * SequenceNumber order. The record passed to cb is valid only during the call. */
typedef int (*tsb_bag_cb)(void *arg, const struct tsb_bag_rec *b);
int tsb_store_bags_by_gen_time(struct tsb_store *s, int64_t from_ms, int64_t to_ms, tsb_bag_cb cb,
                               void *arg);

/* Calls cb for every bag in SequenceNumber order (all states), for the archive check. */
int tsb_store_bags_walk(struct tsb_store *s, tsb_bag_cb cb, void *arg);
/* Calls cb for every journal entry in Ref order (staged and sealed), for the archive check. */
int tsb_store_entries_walk(struct tsb_store *s, tsb_entry_cb cb, void *arg);

/* ---- reconciliation (schema 0002) ---------------------------------------------------------- */

/* A bag recovered from TimeStampConsult, already verified by the caller: bytes parse as a bag
 * whose SequenceNumber is seq and whose entries are e[n]; the token's imprint is SHA-256(bytes). */
struct tsb_recovered_bag {
    int64_t seq;
    const uint8_t *bytes;
    size_t bytes_len;
    const struct tsb_bag_entry *entries; /* in bag order */
    size_t n;
    const uint8_t *token; /* DER */
    size_t token_len;
    const uint8_t *sign_response; /* may be NULL */
    size_t sign_response_len;
    const char *tsa_serial; /* decimal */
    int64_t gen_time_ms;
};

/* Inserts a recovered bag (state recovered, any free SequenceNumber: it may fill a gap) and its
 * journal entries linked to it (source "recovered", received_ms = gen_time_ms), in one
 * transaction. Never overwrites: an entry whose Ref already exists is left as it is when it has
 * the same hash, bag and position; any other difference, or an existing bag seq, returns
 * TSB_ECONFLICT (nothing written; the detail says what differs). */
int tsb_store_bag_insert_recovered(struct tsb_store *s, const struct tsb_recovered_bag *rb,
                                   int64_t now_ms);

/* A recovered bag that disagrees with the archive, kept beside the local data as evidence. */
struct tsb_conflict {
    int64_t run_id; /* 0 when not known yet */
    int64_t seq;
    const char *kind; /* "bag" (SequenceNumber exists with other bytes) or "entry" (a Ref) */
    const char *detail;
    const char *tsa_serial;
    int64_t gen_time_ms;
    const uint8_t *local_digest; /* NULL when there is no local bag */
    const uint8_t *remote_digest;
    const uint8_t *remote_bytes;
    size_t remote_bytes_len;
    const uint8_t *remote_token;
    size_t remote_token_len;
    const uint8_t *remote_sign_response;
    size_t remote_sign_response_len;
};
/* Appends a conflict row (append-only table); *id (if non-NULL) gets its id. */
int tsb_store_conflict_add(struct tsb_store *s, const struct tsb_conflict *c, int64_t now_ms,
                           int64_t *id);
/* Number of conflict rows recorded for SequenceNumber seq (0 for none). */
int tsb_store_conflict_count(struct tsb_store *s, int64_t seq, int64_t *count);

struct tsb_run_rec {
    int64_t started_ms, finished_ms;
    bool local_only;
    int64_t period_from_ms, period_to_ms; /* ignored when local_only */
    int64_t done_to_ms;                   /* 0: no period completed */
    const char *result;                   /* "clean", "discrepancies", "failed", "damaged" */
    int exit_code;
    int64_t bags_local, bags_remote_missing, recovered, missing_at_ehealth, conflicts, errors,
        violations;
    const char *report; /* the JSON report */
};
/* Records one reconciliation run (exit_code 0..3); *id (if non-NULL) gets its id. */
int tsb_store_run_add(struct tsb_store *s, const struct tsb_run_rec *run, int64_t *id);
/* The latest done_to_ms of any run (where --since-last resumes); TSB_ENOTFOUND if none. */
int tsb_store_run_last_done(struct tsb_store *s, int64_t *done_to_ms);
/* Number of recorded runs. */
int tsb_store_run_count(struct tsb_store *s, int64_t *count);
/* The finish time and result ("clean", "discrepancies", "failed") of the latest recorded run;
 * TSB_ENOTFOUND if none. */
int tsb_store_run_latest(struct tsb_store *s, int64_t *finished_ms, char *result, size_t n);
/* The oldest gen_time_ms of a stamped or recovered bag; TSB_ENOTFOUND if none. */
int tsb_store_oldest_gen_time(struct tsb_store *s, int64_t *ms);

/* The latest reconciliation run: id, finished_ms and result ("clean", "discrepancies", "failed",
 * "damaged"); TSB_ENOTFOUND if none. */
struct tsb_run_last {
    int64_t id, finished_ms;
    char result[16];
};
int tsb_store_run_last(struct tsb_store *s, struct tsb_run_last *out);

/* ---- second timestamps (schema 0009) ---------------------------------------------------- */

/* A second RFC 3161 token over a bag ([tsa2]), already verified by the caller. */
struct tsb_tsa2_stamp {
    int64_t seq;
    const char *url;        /* the TSA that issued it */
    const char *tsa_serial; /* decimal TSTInfo.serialNumber */
    int64_t gen_time_ms;
    const char *policy;              /* TSTInfo.policy OID */
    const char *tsa_subject;         /* signer certificate subject */
    const char *nonce;               /* the request's nonce, lowercase hex */
    uint8_t imprint[TSB_SHA256_LEN]; /* the messageImprint: must be the bag's digest */
    const uint8_t *token;            /* DER */
    size_t token_len;
};
/* Archives a second token (append-only table). TSB_ECONFLICT when the bag already has one, the
 * schema's trigger (TSB_ESTORE) when the imprint is not the bag's digest or the bag is absent. */
int tsb_store_tsa2_add(struct tsb_store *s, const struct tsb_tsa2_stamp *st, int64_t now_ms);

struct tsb_tsa2_rec {
    int64_t seq;
    char *url, *tsa_serial, *policy, *tsa_subject, *nonce;
    int64_t gen_time_ms, stamped_ms;
    uint8_t imprint[TSB_SHA256_LEN];
    uint8_t *token; /* DER */
    size_t token_len;
};
void tsb_tsa2_rec_cleanup(struct tsb_tsa2_rec *t);
/* Loads bag seq's second token; TSB_ENOTFOUND when it has none. */
int tsb_store_tsa2_get(struct tsb_store *s, int64_t seq, struct tsb_tsa2_rec *out);
/* Loads the bag (any state) with the lowest SequenceNumber that has no second token: the one the
 * second TSA stamps next (backlog oldest first). TSB_ENOTFOUND when every bag has one. */
int tsb_store_tsa2_next(struct tsb_store *s, struct tsb_bag_rec *out);

struct tsb_tsa2_backlog {
    int64_t bags;             /* bags without a second token */
    int64_t oldest_seq;       /* the lowest of them, 0 when none */
    int64_t oldest_sealed_ms; /* the earliest sealed_ms among them, 0 when none */
};
/* The second TSA's backlog (linear in the archive's bags: for status reads, not hot paths). */
int tsb_store_tsa2_backlog(struct tsb_store *s, struct tsb_tsa2_backlog *out);

/* ---- archive timestamps (schema 0010) ----------------------------------------------------- */

/* What a tree's ArchiveTimeStamp is in the EvidenceRecords of its bags (RFC 4998): the first of
 * a chain over the bags' data object groups, a timestamp renewal (§5.2: the tree's leaves are
 * hashes of each bag's previous ArchiveTimeStamp) or a hash-tree renewal (§5.3: the first of a
 * new chain, with a new algorithm). */
enum tsb_ers_kind { TSB_ERS_INITIAL, TSB_ERS_RENEWAL, TSB_ERS_REHASH };
/* "initial", "renewal", "rehash". */
const char *tsb_store_ers_kind_name(enum tsb_ers_kind k);

/* The data objects in a bag's group (a bit set): its exact bytes, its eHealth token (DER) and its
 * second token ([tsa2]) when it had one when the bag first entered a tree. */
#define TSB_ERS_OBJ_BAG   1u
#define TSB_ERS_OBJ_TOKEN 2u
#define TSB_ERS_OBJ_TSA2  4u

/* One hash tree and the verified RFC 3161 token over its root. */
struct tsb_ers_tree_in {
    enum tsb_ers_kind kind;
    const char *alg; /* "sha256", "sha384", "sha512": the tree's and the imprint's algorithm */
    size_t leaves;
    const char *url;         /* the TSA that stamped the root */
    const char *tsa_serial;  /* decimal TSTInfo.serialNumber */
    const char *tsa_subject; /* signer certificate subject */
    int64_t gen_time_ms;     /* TSTInfo.genTime */
    int64_t not_after_ms;    /* the signer certificate's notAfter: when renewal is due */
    const uint8_t *root;
    size_t root_len;
    const uint8_t *token; /* DER TimeStampToken */
    size_t token_len;
};

/* One bag's place in a tree: its ArchiveTimeStamp number (chain, position; both 1-based) and its
 * reduced hash tree (DER SEQUENCE OF PartialHashtree, as ers.c encodes it). */
struct tsb_ers_link_in {
    int64_t seq;
    int64_t chain, position;
    unsigned members; /* TSB_ERS_OBJ_* of the bag's group */
    const uint8_t *path;
    size_t path_len;
};

/* Archives one tree, its token and every bag's link in one transaction (nothing or all of it);
 * *tree_id (may be NULL) gets the tree's id. TSB_ECONFLICT (nothing written) when one of the
 * bags already has an ArchiveTimeStamp at that chain and position (another run got there first)
 * or a link is out of order (the schema's trigger: wrong kind, a gap, another group, a bag not
 * stamped); TSB_EINVAL for an empty tree or missing fields. */
int tsb_store_ers_add_tree(struct tsb_store *s, const struct tsb_ers_tree_in *t,
                           const struct tsb_ers_link_in *links, size_t n, int64_t now_ms,
                           int64_t *tree_id);

/* One archived ArchiveTimeStamp of a bag: its link and its tree. Pointers are valid only during
 * the callback. */
struct tsb_ers_link_rec {
    int64_t seq, chain, position, tree_id;
    unsigned members;
    enum tsb_ers_kind kind;
    char alg[8];
    char tsa_serial[80];
    int64_t gen_time_ms, not_after_ms;
    const uint8_t *path;
    size_t path_len;
    const uint8_t *token;
    size_t token_len;
};
typedef int (*tsb_ers_link_cb)(void *arg, const struct tsb_ers_link_rec *l);

/* Calls cb for every ArchiveTimeStamp of bag seq, in chain then position order (the order of its
 * EvidenceRecord). Returns 0 without calling cb for a bag not yet covered. */
int tsb_store_ers_links(struct tsb_store *s, int64_t seq, tsb_ers_link_cb cb, void *arg);
/* Calls cb for the latest ArchiveTimeStamp (last position of the last chain) of each covered bag
 * with seq > after_seq, in seq order, at most max of them (0: no limit). */
int tsb_store_ers_heads(struct tsb_store *s, int64_t after_seq, size_t max, tsb_ers_link_cb cb,
                        void *arg);
/* Calls cb for each stamped or recovered bag with seq > after_seq that has no ArchiveTimeStamp
 * yet, in seq order, at most max of them (0: no limit). */
int tsb_store_ers_uncovered(struct tsb_store *s, int64_t after_seq, size_t max, tsb_bag_cb cb,
                            void *arg);

struct tsb_ers_stats {
    int64_t uncovered;             /* stamped or recovered bags without an ArchiveTimeStamp */
    int64_t covered;               /* bags with at least one */
    int64_t trees;                 /* archived trees */
    int64_t earliest_not_after_ms; /* earliest TSA certificate expiry among the bags' latest
                                      ArchiveTimeStamps; 0 when none */
    int64_t earliest_seq;          /* a bag whose latest ArchiveTimeStamp expires then */
    int64_t last_gen_time_ms;      /* genTime of the newest tree, 0 when none */
};
/* The evidence figures of tsbag status, from one snapshot (linear in the archive's bags: for
 * status reads, not hot paths). */
int tsb_store_ers_stats(struct tsb_store *s, struct tsb_ers_stats *out);

/* ---- snapshots, integrity, WAL ------------------------------------------------------------ */

/* Opens a read transaction whose snapshot every later read on this connection sees until
 * tsb_store_snapshot_end (walks included). TSB_ESTATE if a transaction is already open. While
 * it is open the WAL cannot be checkpointed past it: keep it short. */
int tsb_store_snapshot_begin(struct tsb_store *s);
void tsb_store_snapshot_end(struct tsb_store *s);

/* Runs SQLite's PRAGMA integrity_check (quick: quick_check, which skips the comparison of
 * indexes with their tables) and calls cb (may be NULL) with each problem it names, at most 100;
 * *problems gets their number, 0 for an intact file. An archive too damaged for the check to
 * finish counts as one problem. Returns the store's error only when the check could not run
 * (busy, I/O). Linear in the archive's size. */
typedef void (*tsb_integrity_cb)(void *arg, const char *problem);
int tsb_store_integrity(struct tsb_store *s, bool quick, tsb_integrity_cb cb, void *arg,
                        int64_t *problems);
/* NULL, or what a read on this connection found damaged (an index missing rows, an integrity
 * check's findings). Owned by the store. */
const char *tsb_store_damage(const struct tsb_store *s);

/* The size the WAL shrinks back to when it is reset (PRAGMA journal_size_limit). */
#define TSB_STORE_WAL_LIMIT (16 * 1024 * 1024)
/* SQLite page cache of each connection, in KiB (PRAGMA cache_size = -TSB_STORE_CACHE_KIB): the
 * SQLite term of tsbagd's memory budget (docs/operations.md, "Memory"). */
#define TSB_STORE_CACHE_KIB 8192

/* Copies the whole WAL into the archive and truncates it to zero bytes (wal_checkpoint
 * TRUNCATE), waiting at most wait_ms for readers of older snapshots. 0 when truncated;
 * TSB_EBUSY when readers still hold it (what could be copied was, *frames_left says what is left
 * in the WAL; retry later); TSB_EDURABLE (connection poisoned) when the copy or its fsync failed.
 * A read-write connection (tsbagd: its checkpointer thread's). frames_left may be NULL. */
int tsb_store_checkpoint(struct tsb_store *s, int wait_ms, int64_t *frames_left);
/* Copies what it can of the WAL into the archive without waiting for anyone (wal_checkpoint
 * PASSIVE: runs beside a writer and readers, stops at the oldest reader's snapshot) and fsyncs
 * the archive. 0 with *frames in the WAL and *copied of them in the archive (all copied: the next
 * write transaction restarts the WAL from its start); TSB_EDURABLE (connection poisoned) when the
 * copy or its fsync failed: the WAL keeps every frame, SQLite never resets it past a failed one. */
int tsb_store_checkpoint_passive(struct tsb_store *s, int64_t *frames, int64_t *copied);
/* Makes s refuse every later write and close without checkpointing, as after a failed write on
 * it: for a connection to an archive where another connection's checkpoint or commit failed. */
void tsb_store_poison(struct tsb_store *s);
/* Frames in the WAL after this connection's last commit (0 after a truncating checkpoint). */
int64_t tsb_store_wal_frames(const struct tsb_store *s);
/* The commits that wrote frames to the WAL on this connection since it opened (its WAL hook).
 * The owner's thread only. */
int64_t tsb_store_commits(const struct tsb_store *s);
/* Size in bytes of the archive's -wal file, 0 when there is none. */
int tsb_store_wal_size(const struct tsb_store *s, int64_t *bytes);

/* ---- status ------------------------------------------------------------------------------- */

struct tsb_store_stats {
    int64_t entries;  /* all journal entries */
    int64_t staged;   /* entries not yet in a bag */
    int64_t last_ref; /* 0 if none */
    int64_t last_seq; /* 0 if none */
    int64_t bags[TSB_BAG_NSTATES];
    int64_t
        oldest_unstamped_ms; /* received_ms of the oldest entry not in a stamped bag, 0 if none */
    int64_t last_stamped_ms; /* stamped_ms of the newest stamp, 0 if none */
    int64_t sealed_ref;      /* every entry up to this Ref is in a bag (0: none sealed yet) */
    int64_t hashed_ref;      /* the digest index's watermark: every entry up to it is indexed */
    int64_t hash_lag;        /* entries above it, not yet indexed (schema 0012) */
};
/* Every figure from one snapshot, from maintained counters and index probes (schema 0009): the
 * cost does not grow with the archive. */
int tsb_store_stats(struct tsb_store *s, struct tsb_store_stats *out);

/* ---- online backup ------------------------------------------------------------------------ */

/* Called after each step of a backup with the pages still to copy and the snapshot's total. */
typedef void (*tsb_backup_progress_cb)(void *arg, int64_t remaining, int64_t total);

struct tsb_backup_opts {
    bool force;                     /* replace an existing dest (else TSB_ESTATE) */
    int step_pages;                 /* pages copied per step; 0 means 1024 */
    tsb_backup_progress_cb on_step; /* may be NULL */
    void *arg;
};

/* Copies the archive open in s to dest as one consistent snapshot (the state at the first step:
 * one read transaction held across all steps, which in WAL mode never blocks the writer), while
 * other processes keep writing. The copy is written to a temporary file beside dest, turned into a
 * single-file (rollback journal) database, fsynced and renamed to dest, then the folder is
 * fsynced: dest is never a partial copy. A dest that exists is refused with TSB_ESTATE unless
 * o->force; TSB_EIO for a file operation, TSB_ESTORE for a SQLite failure. o may be NULL. */
int tsb_store_backup(struct tsb_store *s, const char *dest, const struct tsb_backup_opts *o);

#endif
