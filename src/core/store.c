/*
 * store: the SQLite archive. The only file that includes sqlite3.h: every SQLite result code is
 * turned into a TSB_E* code here, with sqlite's message in the error detail.
 *
 * Invariants kept here and, as a backstop, by the triggers of schema/0001_initial.sql: Refs are
 * AUTOINCREMENT (never reused), SequenceNumbers are gap-free, bag bytes and entry->bag links never
 * change once sealed, bag states only move along the allowed transitions. Every write is one
 * BEGIN IMMEDIATE ... COMMIT; an I/O failure inside it poisons the connection (TSB_EDURABLE now
 * and for every later write). docs/internals/STORE.md explains the rules.
 *
 * Statements are prepared once per connection and reused (the append path is hot).
 */
#include "store.h"

#include "err.h"
#include "mem.h"
#include "store_schema.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_BUSY_MS     5000
#define DEFAULT_BAG_ENTRIES 100000
/* Upper bounds of one JournalEntry element (hex digest, 20-char Ref) and of the root end tag:
 * a bag stops taking entries while one more could overflow max_bytes. */
#define ENTRY_MAX_BYTES   (sizeof("<JournalEntry><Hash></Hash><Ref></Ref></JournalEntry>") + 64 + 20)
#define END_TAG_MAX_BYTES (sizeof("</>") + TSB_BAG_ROOT_MAX)
#define APPLICATION_ID    0x54534247 /* "TSBG" in PRAGMA application_id */
#define CHECKPOINT_FRAMES 1000       /* SQLite's default auto-checkpoint threshold */
#define INTEGRITY_MAX     100        /* problems listed by one integrity check */

enum stmt_id {
    ST_BEGIN_WRITE,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SYNC_NORMAL,
    ST_SYNC_FULL,
    ST_APPEND,
    ST_APPEND_4,
    ST_APPEND_16,
    ST_APPEND_64,
    ST_ENTRY_BY_REF,
    ST_ENTRIES_BY_HASH,
    ST_HASH_STATE,
    ST_HASH_ADVANCE,
    ST_HASH_INSERT,
    ST_HASH_INSERT_64,
    ST_DATA_VERSION,
    ST_HASH_ROWS,
    ST_HASH_MAX_EPOCH,
    ST_ENTRY_HASHES,
    ST_ENTRIES_BY_RECEIVED,
    ST_ENTRIES_BY_RANGE,
    ST_STAGED,
    ST_LAST_SEQ,
    ST_BAG_INSERT,
    ST_BAG_BYTES_INSERT,
    ST_BAG_BYTES_DELETE,
    ST_BAG_BYTES_SIZE,
    ST_BAG_BYTES_PARTS,
    ST_BAG_PART_SAME,
    ST_BAG_AT,
    ST_BAG_ABOVE,
    ST_BAG_RANGE,
    ST_ENTRY_ABOVE,
    ST_RANGE_COUNT,
    ST_COUNTERS,
    ST_COUNT_ENTRIES,
    ST_BAG_GET,
    ST_BAG_NEXT_UNSTAMPED,
    ST_BAG_STATE,
    ST_BAG_MARK_SENT,
    ST_BAG_FAILURE,
    ST_BAG_STAMP,
    ST_ATTEMPT_INSERT,
    ST_ATTEMPT_RETRY_KEY,
    ST_BAGS_BY_GEN_TIME,
    ST_STAT_LAST,
    ST_STAT_OLDEST_BAG,
    ST_STAT_RECEIVED,
    ST_STAT_LAST_STAMPED,
    ST_BAGS_ALL,
    ST_ENTRIES_ALL,
    ST_BAG_DIGEST,
    ST_BAG_INSERT_RECOVERED,
    ST_ENTRY_INSERT_RECOVERED,
    ST_CONFLICT_INSERT,
    ST_CONFLICT_COUNT,
    ST_RUN_INSERT,
    ST_RUN_LAST_DONE,
    ST_RUN_COUNT,
    ST_RUN_LATEST,
    ST_OLDEST_GEN_TIME,
    ST_ENTRIES_BY_HASH_SCAN,
    ST_RUN_LAST,
    ST_TSA2_INSERT,
    ST_TSA2_GET,
    ST_TSA2_NEXT,
    ST_TSA2_BACKLOG,
    ST_ERS_TREE_INSERT,
    ST_ERS_LINK_INSERT,
    ST_ERS_LINKS_OF,
    ST_ERS_HEADS,
    ST_ERS_UNCOVERED,
    ST_ERS_TREE_STATS,
    ST_ERS_COVERED,
    ST_ERS_EARLIEST,
    ST_N
};

/* the digest index's statements spell store.h's constants out */
_Static_assert(TSB_HASH_CHUNK == 16384 && TSB_HASH_EPOCH_BITS == 16 && TSB_HASH_KEY_BYTES == 3,
               "schema 0012's chunk and epoch sizes and 0015's key layout (epoch << 40 | "
               "prefix << 16 | low 16 bits of the Ref) are spelled in the SQL below");

/* an entry's bag and position are not columns: derived from the bags' Ref ranges (derive_bag) */
#define ENTRY_COLS "ref, hash, source, format_id, client_ref, received_ms, content"
/* A bag's bytes are its parts in bag_bytes (schema 0011) or, sealed before it, bags.bytes: column
 * 2 is the old place, column 18 the size of the new one (length() of a blob column reads its
 * record header, not its pages); bag_from_row reads the parts without SQLite's copy of them. */
#define BAG_COLS                                                                                   \
    "b.seq, b.state, b.bytes, b.digest, b.entry_count, b.first_ref, b.last_ref, b.request_id, "    \
    "b.profile, b.sign_response, b.token, b.tsa_serial, b.gen_time_ms, b.attempts, b.last_error, " \
    "b.sealed_ms, b.sent_ms, b.stamped_ms, "                                                       \
    "(SELECT sum(length(x.bytes)) FROM bag_bytes x WHERE x.seq = b.seq)"
#define BAG_FROM         "bags b"
#define APPEND_COLS      "hash, source, format_id, client_ref, received_ms"
#define APPEND_SQL(rows) "INSERT INTO entries (" APPEND_COLS ", content) VALUES " rows
#define APPEND_ROW       "(?, ?, ?, ?, ?, ?)"
#define APPEND_ROWS4     APPEND_ROW ", " APPEND_ROW ", " APPEND_ROW ", " APPEND_ROW
#define APPEND_ROWS16    APPEND_ROWS4 ", " APPEND_ROWS4 ", " APPEND_ROWS4 ", " APPEND_ROWS4
#define APPEND_ROWS64    APPEND_ROWS16 ", " APPEND_ROWS16 ", " APPEND_ROWS16 ", " APPEND_ROWS16
#define APPEND_PARAMS    6     /* bound per row */
#define HASH_ROW         "(?)" /* tsb_hash_key */
#define HASH_ROWS4       HASH_ROW ", " HASH_ROW ", " HASH_ROW ", " HASH_ROW
#define HASH_ROWS16      HASH_ROWS4 ", " HASH_ROWS4 ", " HASH_ROWS4 ", " HASH_ROWS4
#define HASH_ROWS64      HASH_ROWS16 ", " HASH_ROWS16 ", " HASH_ROWS16 ", " HASH_ROWS16
#define ERS_COLS                                                                                   \
    "l.seq, l.chain, l.position, l.tree_id, l.members, t.kind, t.alg, t.tsa_serial, "              \
    "t.gen_time_ms, t.not_after_ms, l.path, t.token"
#define TSA2_COLS                                                                                  \
    "seq, url, tsa_serial, gen_time_ms, policy, tsa_subject, nonce, stamped_ms, imprint, token"

static const char *const stmt_sql[ST_N] = {
    [ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* a digest index step commits without the WAL's fsync; everything else with it */
    [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
    /* a batch goes in as few multi-row INSERTs as possible (64, 16, 4, then single rows): each
     * statement copies every page it first touches to its statement journal (the schema's
     * triggers can abort it) and rewrites sqlite_sequence, so per-row statements cost several
     * 4 KiB page copies per entry. append_rows derives each row's Ref from the last one */
    [ST_APPEND] = APPEND_SQL(APPEND_ROW),
    [ST_APPEND_4] = APPEND_SQL(APPEND_ROWS4),
    [ST_APPEND_16] = APPEND_SQL(APPEND_ROWS16),
    [ST_APPEND_64] = APPEND_SQL(APPEND_ROWS64),
    [ST_ENTRY_BY_REF] = "SELECT " ENTRY_COLS " FROM entries WHERE ref = ?1",
    /* the digest index (schema 0015): one range of digest_keys per epoch up to the watermark,
     * the keys of the hash's first three bytes (?2: those bytes << 16), each giving a Ref (keys
     * above the watermark may be there already and are skipped: the scan finds them), then the
     * entries not yet indexed, a rowid range above the watermark (bounded by the writer's lag).
     * IN makes each Ref once; each is then one rowid probe of entries, where the full hash must
     * match (a key only holds three of its bytes), in Ref order */
    [ST_ENTRIES_BY_HASH] =
        "WITH RECURSIVE w(h) AS (SELECT hashed_ref FROM counters WHERE id = 1), "
        "ep(e) AS (SELECT 0 UNION ALL SELECT e + 1 FROM ep "
        "WHERE e < ((SELECT h FROM w) + 16384) >> 16) "
        "SELECT " ENTRY_COLS " FROM entries WHERE ref IN ("
        "SELECT (ep.e << 16) | (x.k & 65535) FROM ep, digest_keys x "
        "WHERE x.k BETWEEN (ep.e << 40) | ?2 AND (ep.e << 40) | ?2 | 65535 "
        "AND ((ep.e << 16) | (x.k & 65535)) <= (SELECT h FROM w) "
        "UNION ALL SELECT ref FROM entries WHERE ref > (SELECT h FROM w) AND hash = ?1) "
        "AND hash = ?1 ORDER BY ref",
    /* the index's watermark, the next slice, and the last Ref (the rowid b-tree's last cell) */
    [ST_HASH_STATE] = "SELECT hashed_ref, hashing_byte, "
                      "coalesce((SELECT max(ref) FROM entries), 0) FROM counters WHERE id = 1",
    [ST_HASH_ADVANCE] = "UPDATE counters SET hashed_ref = ?1, hashing_byte = ?2 WHERE id = 1",
    /* for the archive check: one epoch's range of keys, in key order */
    [ST_HASH_ROWS] = "SELECT k FROM digest_keys WHERE k BETWEEN ?1 << 40 AND (?1 << 40) | "
                     "1099511627775 ORDER BY k",
    [ST_HASH_MAX_EPOCH] = "SELECT coalesce(max(k) >> 40, -1) FROM digest_keys",
    [ST_ENTRY_HASHES] = "SELECT ref, hash FROM entries WHERE ref BETWEEN ?1 AND ?2 ORDER BY ref",
    [ST_HASH_INSERT] = "INSERT OR IGNORE INTO digest_keys (k) VALUES (?1)",
    /* a step's keys from the chunk held in memory, 64 per statement (no row trigger on
     * digest_keys: the VALUES rows go straight into the b-tree, in key order) */
    [ST_HASH_INSERT_64] = "INSERT OR IGNORE INTO digest_keys (k) VALUES " HASH_ROWS64,
    /* changes whenever another connection commits (the chunk held in memory is then reread) */
    [ST_DATA_VERSION] = "PRAGMA data_version",
    /* Ref order without a sorter holding a whole period of rows: bound the Ref range through
     * the (covering) received index, then walk the table by Ref and filter */
    [ST_ENTRIES_BY_RECEIVED] =
        "SELECT " ENTRY_COLS " FROM entries WHERE ref BETWEEN "
        "(SELECT min(ref) FROM entries WHERE received_ms BETWEEN ?1 AND ?2) AND "
        "(SELECT max(ref) FROM entries WHERE received_ms BETWEEN ?1 AND ?2) "
        "AND received_ms BETWEEN ?1 AND ?2 ORDER BY ref",
    /* a bag's entries, or the staged ones: a Ref range of the table itself (rowid order) */
    [ST_ENTRIES_BY_RANGE] = "SELECT " ENTRY_COLS " FROM entries WHERE ref BETWEEN ?1 AND ?2 "
                            "ORDER BY ref",
    [ST_STAGED] = "SELECT ref, hash FROM entries WHERE ref >= ?1 AND ref < ?2 ORDER BY ref "
                  "LIMIT ?3",
    [ST_LAST_SEQ] = "SELECT coalesce(max(seq), 0) FROM bags",
    [ST_BAG_INSERT] = "INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, "
                      "digest) VALUES (?1, 'sealed', ?2, ?3, ?4, ?5, ?6)",
    /* a bag's bytes, in parts written before its row (schema 0011) */
    [ST_BAG_BYTES_INSERT] = "INSERT INTO bag_bytes (seq, part, bytes) VALUES (?1, ?2, ?3)",
    [ST_BAG_BYTES_DELETE] = "DELETE FROM bag_bytes WHERE seq = ?1",
    [ST_BAG_BYTES_SIZE] = "SELECT count(*), coalesce(sum(length(bytes)), 0) FROM bag_bytes "
                          "WHERE seq = ?1",
    [ST_BAG_BYTES_PARTS] = "SELECT rowid, length(bytes) FROM bag_bytes WHERE seq = ?1 "
                           "ORDER BY part",
    [ST_BAG_PART_SAME] = "SELECT bytes = ?3 FROM bag_bytes WHERE seq = ?1 AND part = ?2",
    /* the only bag that can hold Ref ?1 (ranges never overlap, schema 0008): one probe of the
     * covering bags_range index, never the large bag rows */
    [ST_BAG_AT] = "SELECT seq, first_ref, last_ref, entry_count FROM bags "
                  "WHERE first_ref <= ?1 ORDER BY first_ref DESC LIMIT 1",
    [ST_BAG_ABOVE] = "SELECT first_ref FROM bags WHERE first_ref > ?1 ORDER BY first_ref LIMIT 1",
    [ST_BAG_RANGE] = "SELECT seq, first_ref, last_ref, entry_count FROM bags WHERE seq = ?1",
    [ST_ENTRY_ABOVE] = "SELECT ref FROM entries WHERE ref > ?1 ORDER BY ref LIMIT 1",
    [ST_RANGE_COUNT] = "SELECT count(*) FROM entries WHERE ref BETWEEN ?1 AND ?2",
    [ST_COUNTERS] = "SELECT entries, bag_entries, sealed_ref, sealed, sent, stamped, failed, "
                    "recovered FROM counters WHERE id = 1",
    [ST_COUNT_ENTRIES] = "UPDATE counters SET entries = entries + ?1 WHERE id = 1",
    [ST_BAG_GET] = "SELECT " BAG_COLS " FROM " BAG_FROM " WHERE b.seq = ?1",
    [ST_BAG_NEXT_UNSTAMPED] =
        "SELECT " BAG_COLS " FROM " BAG_FROM
        " WHERE b.state IN ('sealed', 'sent', 'failed') ORDER BY b.seq LIMIT 1",
    [ST_BAG_STATE] = "SELECT state, attempts, request_id FROM bags WHERE seq = ?1",
    [ST_BAG_MARK_SENT] = "UPDATE bags SET state = 'sent', attempts = attempts + 1, "
                         "request_id = ?2, profile = ?3, sent_ms = ?4 WHERE seq = ?1",
    [ST_BAG_FAILURE] = "UPDATE bags SET state = ?2, last_error = ?3 WHERE seq = ?1",
    [ST_BAG_STAMP] = "UPDATE bags SET state = 'stamped', sign_response = ?2, token = ?3, "
                     "tsa_serial = ?4, gen_time_ms = ?5, stamped_ms = ?6 WHERE seq = ?1",
    [ST_ATTEMPT_INSERT] = "INSERT INTO bag_attempts (seq, attempt, request_id, outcome, reason, "
                          "at_ms, finding, failure_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    /* the bag's latest row by bag_attempts_seq (seq, id), read backwards: one index probe */
    [ST_ATTEMPT_RETRY_KEY] = "SELECT outcome, failure_key FROM bag_attempts WHERE seq = ?1 "
                             "ORDER BY id DESC LIMIT 1",
    /* the IN list is walked in seq order: no sorter holding whole bags. "+state" keeps the
     * planner on bags_gen_time (bags_state would visit every stamped bag's row) */
    [ST_BAGS_BY_GEN_TIME] = "SELECT " BAG_COLS " FROM " BAG_FROM " WHERE b.seq IN "
                            "(SELECT seq FROM bags WHERE gen_time_ms BETWEEN ?1 AND ?2 "
                            "AND +state IN ('stamped', 'recovered')) ORDER BY b.seq",
    [ST_STAT_LAST] = "SELECT coalesce((SELECT max(ref) FROM entries), 0), "
                     "coalesce((SELECT max(seq) FROM bags), 0)",
    /* the unstamped bag with the lowest first Ref (bags_unstamped: a few rows) */
    [ST_STAT_OLDEST_BAG] = "SELECT min(first_ref) FROM bags "
                           "WHERE state IN ('sealed', 'sent', 'failed')",
    [ST_STAT_RECEIVED] = "SELECT received_ms FROM entries WHERE ref >= ?1 ORDER BY ref LIMIT 1",
    [ST_STAT_LAST_STAMPED] = "SELECT coalesce(max(stamped_ms), 0) FROM bags "
                             "WHERE state = 'stamped'",
    [ST_BAGS_ALL] = "SELECT " BAG_COLS " FROM " BAG_FROM " ORDER BY b.seq",
    [ST_ENTRIES_ALL] = "SELECT " ENTRY_COLS " FROM entries ORDER BY ref",
    [ST_BAG_DIGEST] = "SELECT digest FROM bags WHERE seq = ?1",
    [ST_BAG_INSERT_RECOVERED] =
        "INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, digest, "
        "token, sign_response, tsa_serial, gen_time_ms) "
        "VALUES (?1, 'recovered', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_ENTRY_INSERT_RECOVERED] = "INSERT INTO entries (ref, hash, source, received_ms) "
                                  "VALUES (?1, ?2, 'recovered', ?3)",
    [ST_CONFLICT_INSERT] =
        "INSERT INTO bag_conflicts (run_id, seq, kind, detail, detected_ms, tsa_serial, "
        "gen_time_ms, local_digest, remote_digest, remote_token, remote_sign_response, "
        "remote_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_CONFLICT_COUNT] = "SELECT count(*) FROM bag_conflicts WHERE seq = ?1",
    [ST_RUN_INSERT] =
        "INSERT INTO reconcile_runs (started_ms, finished_ms, mode, period_from_ms, "
        "period_to_ms, done_to_ms, result, exit_code, bags_local, bags_remote_missing, "
        "recovered, missing_at_ehealth, conflicts, errors, violations, report) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [ST_RUN_LAST_DONE] = "SELECT max(done_to_ms) FROM reconcile_runs",
    [ST_RUN_COUNT] = "SELECT count(*) FROM reconcile_runs",
    [ST_RUN_LATEST] = "SELECT finished_ms, result FROM reconcile_runs ORDER BY id DESC LIMIT 1",
    /* "+state": walk bags_gen_time from its low end, stop at the first stamped/recovered bag */
    [ST_OLDEST_GEN_TIME] = "SELECT min(gen_time_ms) FROM bags "
                           "WHERE gen_time_ms IS NOT NULL AND +state IN ('stamped', 'recovered')",
    /* the double check of a hash the index did not find: the table itself, in Ref order (rowid
     * order, no sorter); NOT INDEXED, and not digest_keys, which a damaged file could miss */
    [ST_ENTRIES_BY_HASH_SCAN] = "SELECT " ENTRY_COLS " FROM entries NOT INDEXED WHERE hash = ?1 "
                                "ORDER BY ref",
    [ST_RUN_LAST] = "SELECT id, finished_ms, result FROM reconcile_runs ORDER BY id DESC LIMIT 1",
    [ST_TSA2_INSERT] = "INSERT INTO tsa2_tokens (seq, url, tsa_serial, gen_time_ms, policy, "
                       "tsa_subject, nonce, stamped_ms, imprint, token) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_TSA2_GET] = "SELECT " TSA2_COLS " FROM tsa2_tokens WHERE seq = ?1",
    /* bags in seq order, one primary-key probe of tsa2_tokens each, stopping at the first
     * without a second token: the stamped prefix is walked (linear in the archive's bags) */
    [ST_TSA2_NEXT] = "SELECT " BAG_COLS " FROM " BAG_FROM " WHERE NOT EXISTS "
                     "(SELECT 1 FROM tsa2_tokens t WHERE t.seq = b.seq) ORDER BY b.seq LIMIT 1",
    [ST_TSA2_BACKLOG] = "SELECT count(*), min(seq), min(sealed_ms) FROM bags b WHERE NOT EXISTS "
                        "(SELECT 1 FROM tsa2_tokens t WHERE t.seq = b.seq)",
    [ST_ERS_TREE_INSERT] =
        "INSERT INTO ers_trees (kind, alg, leaves, url, tsa_serial, tsa_subject, "
        "gen_time_ms, not_after_ms, created_ms, root, token) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_ERS_LINK_INSERT] = "INSERT INTO ers_links (seq, chain, position, tree_id, members, path) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* one range of the primary key (seq, chain, position), each row one probe of ers_trees */
    [ST_ERS_LINKS_OF] = "SELECT " ERS_COLS " FROM ers_links l JOIN ers_trees t ON t.id = l.tree_id "
                        "WHERE l.seq = ?1 ORDER BY l.chain, l.position",
    /* the primary key in order from seq > ?1; a row is a head when no row of the same bag sorts
     * after it (one probe of the same index) */
    [ST_ERS_HEADS] = "SELECT " ERS_COLS " FROM ers_links l JOIN ers_trees t ON t.id = l.tree_id "
                     "WHERE l.seq > ?1 AND NOT EXISTS (SELECT 1 FROM ers_links n WHERE n.seq = "
                     "l.seq AND (n.chain > l.chain OR (n.chain = l.chain AND n.position > "
                     "l.position))) ORDER BY l.seq LIMIT ?2",
    /* bags from seq > ?1 in rowid order (the state column is read, never the blobs of a bag
     * that is skipped), one probe of ers_links each */
    [ST_ERS_UNCOVERED] = "SELECT " BAG_COLS " FROM bags b WHERE seq > ?1 AND state IN ('stamped', "
                         "'recovered') AND NOT EXISTS (SELECT 1 FROM ers_links l WHERE l.seq = "
                         "b.seq) ORDER BY seq LIMIT ?2",
    [ST_ERS_TREE_STATS] = "SELECT count(*), max(gen_time_ms) FROM ers_trees",
    [ST_ERS_COVERED] = "SELECT count(*) FROM ers_links WHERE chain = 1 AND position = 1",
    [ST_ERS_EARLIEST] = "SELECT l.seq, t.not_after_ms FROM ers_links l JOIN ers_trees t ON t.id = "
                        "l.tree_id WHERE NOT EXISTS (SELECT 1 FROM ers_links n WHERE n.seq = "
                        "l.seq AND (n.chain > l.chain OR (n.chain = l.chain AND n.position > "
                        "l.position))) ORDER BY t.not_after_ms, l.seq LIMIT 1",
};

struct hash_row {
    uint8_t hash[TSB_SHA256_LEN];
    int64_t ref;
};

struct tsb_store {
    sqlite3 *db;
    char *path;
    bool readonly;
    bool poisoned; /* a write failed: durability is lost, every later write is refused */
    int version;
    int checkpoint_rc; /* result of the checkpoint run by the last commit's WAL hook */
    int busy_ms;
    int64_t wal_frames; /* frames in the WAL after the last commit (WAL hook), 0 after a truncate */
    int64_t commits;    /* commits that wrote frames to the WAL on this connection (WAL hook) */
    bool no_checkpoint; /* the WAL hook only counts frames: another connection checkpoints */
    char *damage;       /* what a read found damaged (tsb_store_damage), NULL if nothing */
    sqlite3_stmt *st[ST_N];
    /* the digest index's next chunk, (hash, Ref), read once in TSB_HASH_READ_PARTS steps for
     * the TSB_HASH_SLICES steps that insert it: grouped by the hash's first byte once read,
     * each slice sorted by (hash, Ref) when its step inserts it */
    struct hash_row *chunk; /* TSB_HASH_CHUNK rows once a step ran, else NULL */
    size_t chunk_n;
    int64_t chunk_base;    /* the chunk is Refs chunk_base + 1 .. chunk_base + TSB_HASH_CHUNK */
    int64_t chunk_read;    /* the Refs up to this one are read */
    int64_t chunk_version; /* PRAGMA data_version when its first part was read */
    /* the pairs of this handle's appends above the watermark, as read back (TSB_HASH_TAIL at
     * most): tail[tail_off .. tail_n), Refs contiguous, ascending; valid while data_version is
     * tail_version (another connection's commit may have deleted one of them) */
    struct hash_row *tail;
    size_t tail_off, tail_n;
    int64_t tail_version;
    int64_t chunks_copied, chunks_read; /* tsb_store_hash_index_sources */
    sqlite3_file *wal_file;             /* sync_apart: the WAL's file handle (tsb_store_sync_wal) */
};

static const char *const state_names[TSB_BAG_NSTATES] = {
    [TSB_BAG_SEALED] = "sealed", [TSB_BAG_SENT] = "sent",           [TSB_BAG_STAMPED] = "stamped",
    [TSB_BAG_FAILED] = "failed", [TSB_BAG_RECOVERED] = "recovered",
};

const char *tsb_bag_state_name(enum tsb_bag_state st)
{
    if ((unsigned)st >= TSB_BAG_NSTATES)
        return "unknown";
    return state_names[st];
}

static int state_parse(const unsigned char *s, enum tsb_bag_state *out)
{
    for (int i = 0; s != NULL && i < TSB_BAG_NSTATES; i++) {
        if (strcmp((const char *)s, state_names[i]) == 0) {
            *out = (enum tsb_bag_state)i;
            return 0;
        }
    }
    return tsb_err(TSB_ESTORE, "bag with unknown state \"%s\"", s ? (const char *)s : "(null)");
}

/* Result codes meaning the disk did not take what SQLite wrote (or may not have). */
static bool durability_error(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
        return true;
    default:
        return false;
    }
}

/* Turns a SQLite failure into our code, capturing sqlite's message before anything else can
 * overwrite it. write: the failure happened inside a write transaction, where an I/O failure
 * means durability is lost and the connection is poisoned. */
static int fail(struct tsb_store *s, int rc, bool write, const char *what)
{
    int prim = rc & 0xff;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        return tsb_err(TSB_EBUSY, "%s: archive %s is locked by another connection (%s)", what,
                       s->path, sqlite3_errstr(rc));
    if (write && durability_error(rc)) {
        s->poisoned = true;
        return tsb_err(TSB_EDURABLE, "%s: write to archive %s failed: %s (%s); no further writes",
                       what, s->path, sqlite3_errmsg(s->db), sqlite3_errstr(rc));
    }
    if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB)
        return tsb_err(TSB_EDAMAGED, "%s: archive %s is damaged: %s", what, s->path,
                       sqlite3_errmsg(s->db));
    return tsb_err(TSB_ESTORE, "%s: archive %s: %s", what, s->path, sqlite3_errmsg(s->db));
}

/* The cached statement id, prepared on first use. A statement still running means a walk
 * callback re-entered the same walk: refused, since resetting it would corrupt the outer walk. */
static int stmt(struct tsb_store *s, enum stmt_id id, sqlite3_stmt **out)
{
    if (s->st[id] == NULL) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id],
                                    NULL);
        if (rc != SQLITE_OK)
            return fail(s, rc, false, "preparing a statement");
    } else if (sqlite3_stmt_busy(s->st[id])) {
        return tsb_err(TSB_EINVAL, "store: a walk callback re-entered the same walk");
    }
    *out = s->st[id];
    return 0;
}

static void stmt_done(sqlite3_stmt *st)
{
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Runs a statement that returns no rows. */
static int exec_cached(struct tsb_store *s, enum stmt_id id, bool write, const char *what)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, id, &st);
    if (r != 0)
        return r;
    int rc = sqlite3_step(st);
    r = rc == SQLITE_DONE ? 0 : fail(s, rc, write, what);
    sqlite3_reset(st);
    return r;
}

static int write_allowed(struct tsb_store *s, const char *what)
{
    if (s->readonly)
        return tsb_err(TSB_ESTATE, "%s: archive %s is open read-only", what, s->path);
    if (s->poisoned)
        return tsb_err(TSB_EDURABLE,
                       "%s: an earlier write to archive %s failed; this connection refuses writes",
                       what, s->path);
    return 0;
}

static void tx_rollback(struct tsb_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)exec_cached(s, ST_ROLLBACK, false, "rollback");
}

static int tx_begin_write(struct tsb_store *s, const char *what)
{
    int r = write_allowed(s, what);
    if (r != 0)
        return r;
    return exec_cached(s, ST_BEGIN_WRITE, true, what);
}

/* Commits; on failure rolls back what is left and returns the mapped error. A checkpoint that
 * failed after the commit (see wal_hook) is a durability failure too. */
static int tx_commit(struct tsb_store *s, bool write, const char *what)
{
    s->checkpoint_rc = SQLITE_OK;
    int r = exec_cached(s, ST_COMMIT, write, what);
    if (s->checkpoint_rc != SQLITE_OK) {
        int rc = s->checkpoint_rc;
        s->checkpoint_rc = SQLITE_OK;
        s->poisoned = true;
        return tsb_err(TSB_EDURABLE,
                       "%s: committed, but the checkpoint of archive %s failed (%s); "
                       "no further writes",
                       what, s->path, sqlite3_errstr(rc));
    }
    if (r != 0)
        tx_rollback(s);
    return r;
}

/* Replaces SQLite's auto-checkpoint so that a checkpoint's failed write or fsync reaches the
 * committing caller (SQLite's default hook ignores it, and a later retry could then "succeed"
 * on pages the kernel already dropped). A busy checkpoint (readers) is normal and retried. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct tsb_store *s = arg;
    s->wal_frames = frames;
    s->commits++;
    if (s->no_checkpoint || frames < CHECKPOINT_FRAMES)
        return SQLITE_OK;
    int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        rc = SQLITE_OK;
    /* returned to SQLite too, but sqlite3_step reports it only as a generic SQLITE_ERROR */
    s->checkpoint_rc = rc;
    return rc;
}

/* ---- open, migrations --------------------------------------------------------------------- */

static int pragma_int(struct tsb_store *s, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    int r = rc == SQLITE_OK ? 0 : fail(s, rc, false, sql);
    sqlite3_finalize(st);
    return r;
}

static int exec_sql(struct tsb_store *s, const char *sql, bool write, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail(s, rc, write, what);
}

/* Applies migration m (version v) in its own transaction with its user_version bump. Another
 * process may have migrated meanwhile: the version is re-read under the write lock. */
static int apply_migration(struct tsb_store *s, const struct tsb_schema_migration *m)
{
    int r = TSB_EINTERNAL;
    int64_t v = 0;
    char what[96], bump[48];
    snprintf(what, sizeof(what), "applying schema/%s", m->file);
    if ((r = exec_sql(s, "BEGIN IMMEDIATE", true, what)) != 0)
        return r;
    if ((r = pragma_int(s, "PRAGMA user_version", &v)) != 0)
        goto out;
    if (v >= m->version) {
        r = tx_commit(s, true, what);
        return r;
    }
    if (v != m->version - 1) {
        r = tsb_err(TSB_ESTORE, "%s: archive %s is at schema version %lld, expected %d", what,
                    s->path, (long long)v, m->version - 1);
        goto out;
    }
    snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", m->version);
    if ((r = exec_sql(s, m->sql, true, what)) != 0 || (r = exec_sql(s, bump, true, what)) != 0)
        goto out;
    return tx_commit(s, true, what);
out:
    tx_rollback(s);
    return r;
}

/* Refuses a file that is not a tsbag archive, and an archive newer than this build. */
static int check_archive(struct tsb_store *s, int64_t version)
{
    int r = TSB_EINTERNAL;
    int64_t app = 0, objects = 0;
    if ((r = pragma_int(s, "PRAGMA application_id", &app)) != 0)
        return r;
    if ((r = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &objects)) != 0)
        return r;
    if ((version > 0 && app != APPLICATION_ID) || (version == 0 && (app != 0 || objects > 0)))
        return tsb_err(TSB_ESTORE, "%s is a SQLite database but not a tsbag archive", s->path);
    if (version > tsb_schema_migrations_n)
        return tsb_err(TSB_ESTORE,
                       "archive %s has schema version %lld, newer than this build of tsbag "
                       "(which knows up to %d); use a newer tsbag",
                       s->path, (long long)version, tsb_schema_migrations_n);
    return 0;
}

static int migrate(struct tsb_store *s, bool accept_older)
{
    int r = TSB_EINTERNAL;
    int64_t v = 0;
    if ((r = pragma_int(s, "PRAGMA user_version", &v)) != 0 || (r = check_archive(s, v)) != 0)
        return r;
    if (s->readonly) {
        if (v < tsb_schema_migrations_n && !accept_older)
            return tsb_err(TSB_ESTORE,
                           "archive %s has schema version %lld, older than this build's %d; "
                           "open it once read-write (tsbagd) to migrate it",
                           s->path, (long long)v, tsb_schema_migrations_n);
    } else if (v < tsb_schema_migrations_n) {
        /* A migration's temporary data (the statement journal of an INSERT ... SELECT over every
         * entry, sorters) goes to temporary files, not memory: with temp_store=MEMORY it grew
         * with the archive (486 MiB for schema 0012 on 10 M entries) */
        if ((r = exec_sql(s, "PRAGMA temp_store = FILE", false, "preparing the migrations")) != 0)
            return r;
        for (int i = (int)v; i < tsb_schema_migrations_n; i++)
            if ((r = apply_migration(s, &tsb_schema_migrations[i])) != 0)
                return r;
        if ((r = exec_sql(s, "PRAGMA temp_store = MEMORY", false, "after the migrations")) != 0)
            return r;
    }
    if ((r = pragma_int(s, "PRAGMA user_version", &v)) != 0)
        return r;
    s->version = (int)v;
    return 0;
}

int tsb_store_setup_process(void)
{
    /* sqlite3_config() only works before sqlite3_initialize(), which the first open calls */
    int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (rc != SQLITE_OK)
        return tsb_err(TSB_ESTATE, "store: SQLite is already initialised: %s", sqlite3_errstr(rc));
    if ((rc = sqlite3_initialize()) != SQLITE_OK)
        return tsb_err(TSB_ESTORE, "store: cannot initialise SQLite: %s", sqlite3_errstr(rc));
    return 0;
}

static int configure(struct tsb_store *s, int busy_ms)
{
    int r = TSB_EINTERNAL;
    char sql[160];
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, busy_ms);
    s->busy_ms = busy_ms;
    if (!s->readonly) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *mode = sqlite3_column_text(st, 0);
            rc = mode != NULL && strcmp((const char *)mode, "wal") == 0 ? SQLITE_OK : SQLITE_ERROR;
            if (rc != SQLITE_OK)
                r = tsb_err(TSB_ESTORE, "archive %s: cannot switch to WAL (journal mode %s)",
                            s->path, mode ? (const char *)mode : "?");
            else
                r = 0;
        } else {
            r = fail(s, rc, false, "setting WAL journal mode");
        }
        sqlite3_finalize(st);
        if (r != 0)
            return r;
        sqlite3_wal_hook(s->db, wal_hook, s);
        /* a WAL that once grew (readers held back the checkpoints) shrinks back to this size
         * when it is next reset, instead of keeping its largest size for ever */
        snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %d", TSB_STORE_WAL_LIMIT);
        if ((r = exec_sql(s, sql, false, "limiting the WAL size")) != 0)
            return r;
    }
    /* the page cache is part of tsbagd's memory formula (docs/operations.md, "Memory") */
    snprintf(sql, sizeof(sql),
             "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -%d; "
             "PRAGMA temp_store = MEMORY;",
             TSB_STORE_CACHE_KIB);
    return exec_sql(s, sql, false, "configuring the connection");
}

/* sync_apart, after the migrations (which committed with synchronous=FULL): the WAL's file handle
 * (open since journal_mode=WAL), one fsync of it on this thread (the first fsync of a new file
 * also syncs its directory, once), then synchronous=NORMAL. */
static int open_sync_apart(struct tsb_store *s)
{
    sqlite3_file *f = NULL;
    int rc = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f);
    if (rc != SQLITE_OK || f == NULL || f->pMethods == NULL)
        return tsb_err(TSB_ESTORE, "archive %s: its WAL is not open (%s)", s->path,
                       sqlite3_errstr(rc));
    s->wal_file = f;
    int r = tsb_store_sync_wal(s);
    if (r == 0)
        r = exec_cached(s, ST_SYNC_NORMAL, true,
                        "setting synchronous=NORMAL (the WAL synced apart)");
    return r;
}

bool tsb_store_sync_apart(const struct tsb_store *s)
{
    return s->wal_file != NULL;
}

int tsb_store_sync_wal(struct tsb_store *s)
{
    if (s->wal_file == NULL)
        return tsb_err(TSB_EINTERNAL, "store: archive %s does not sync its WAL apart", s->path);
    int rc = s->wal_file->pMethods->xSync(s->wal_file, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK)
        return tsb_err(TSB_EDURABLE, "archive %s: fsync of the WAL failed (%s)", s->path,
                       sqlite3_errstr(rc));
    return 0;
}

static void first_problem(void *arg, const char *problem)
{
    char *first = arg;
    if (first[0] == '\0')
        snprintf(first, 256, "%.255s", problem);
}

/* quick_check at open, before a migration could write into a damaged file. */
static int refuse_damaged(struct tsb_store *s)
{
    char first[256] = "";
    int64_t n = 0;
    int r = tsb_store_integrity(s, true, first_problem, first, &n);
    if (r == 0 && n > 0)
        r = tsb_err(TSB_EDAMAGED,
                    "archive %s is damaged: SQLite's quick_check finds %lld problem(s), the first: "
                    "%s; restore the latest backup (docs/reconcile.md, \"Archive damage\")",
                    s->path, (long long)n, first);
    return r;
}

int tsb_store_open(const char *path, const struct tsb_store_open_opts *o, struct tsb_store **out)
{
    int r = TSB_EINTERNAL;
    struct tsb_store *s = NULL;
    struct tsb_store_open_opts def = {0};
    if (o == NULL)
        o = &def;
    if (path == NULL || *path == '\0' || out == NULL)
        return tsb_err(TSB_EINVAL, "store: no archive path");
    if (o->busy_timeout_ms < 0)
        return tsb_err(TSB_EINVAL, "store: negative busy timeout");
    if (o->vfs != NULL && sqlite3_vfs_find(o->vfs) == NULL)
        return tsb_err(TSB_EINVAL, "store: no SQLite VFS named \"%s\"", o->vfs);
    struct stat sb;
    if (o->readonly && stat(path, &sb) != 0)
        return tsb_err(errno == ENOENT ? TSB_ENOTFOUND : TSB_EIO, "archive %s: %s", path,
                       strerror(errno));

    s = tsb_calloc(1, sizeof(*s));
    s->path = tsb_strdup(path);
    s->readonly = o->readonly;
    s->no_checkpoint = o->no_checkpoint;
    s->chunk_base = -1; /* no chunk read yet */
    int flags = SQLITE_OPEN_NOMUTEX |
                (o->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &s->db, flags, o->vfs);
    if (rc != SQLITE_OK) {
        r = tsb_err(TSB_ESTORE, "cannot open archive %s: %s", path,
                    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto out;
    }
    if ((r = configure(s, o->busy_timeout_ms ? o->busy_timeout_ms : DEFAULT_BUSY_MS)) != 0 ||
        (o->quick_check && (r = refuse_damaged(s)) != 0) || (r = migrate(s, o->accept_older)) != 0)
        goto out;
    if (o->sync_apart && !o->readonly && (r = open_sync_apart(s)) != 0)
        goto out;
    *out = s;
    s = NULL;
    r = 0;
out:
    tsb_store_close(s);
    return r;
}

void tsb_store_close(struct tsb_store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(s->st[i]);
    /* After a failed write, leave the WAL as it is for the next open to recover from instead of
     * checkpointing through the same failing disk. */
    if (s->poisoned && s->db != NULL)
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s->damage);
    free(s->chunk);
    free(s->tail);
    free(s);
}

int tsb_store_schema_version(struct tsb_store *s)
{
    return s->version;
}

int tsb_store_schema_latest(void)
{
    return tsb_schema_migrations_n;
}

int tsb_store_check_writable(struct tsb_store *s)
{
    if (s->readonly)
        return tsb_err(TSB_ESTATE, "archive %s was opened read-only", s->path);
    /* SQLite silently falls back to read-only when the file (or its -wal/-shm) cannot be opened
     * for writing: find that out now, not at the first commit. */
    if (sqlite3_db_readonly(s->db, "main") == 1)
        return tsb_err(TSB_ESTORE,
                       "archive %s is read-only (file permissions, owner or a read-only file "
                       "system): give the user running tsbag write access to it and its folder",
                       s->path);
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE; ROLLBACK", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    int prim = rc & 0xff;
    char why[256];
    snprintf(why, sizeof(why), "%s", sqlite3_errmsg(s->db));
    if (!sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        return tsb_err(TSB_EBUSY, "archive %s: another process holds its write lock (%s)", s->path,
                       why);
    if (prim == SQLITE_READONLY || prim == SQLITE_CANTOPEN || prim == SQLITE_PERM)
        return tsb_err(TSB_ESTORE,
                       "archive %s cannot be written (%s): give the user running tsbag write "
                       "access to it, its -wal and -shm files and its folder",
                       s->path, why);
    return tsb_err(TSB_ESTORE, "archive %s: cannot start a write transaction: %s", s->path, why);
}

/* ---- journal entries ---------------------------------------------------------------------- */

static int check_entry(const struct tsb_entry_in *e, size_t i)
{
    if (e->source == NULL || e->source[0] == '\0')
        return tsb_err(TSB_EINVAL, "store: entry %zu has no source system", i);
    if (e->content == NULL && e->content_len != 0)
        return tsb_err(TSB_EINVAL, "store: entry %zu has a content length but no content", i);
    if (e->content_len > INT_MAX)
        return tsb_err(TSB_ETOOBIG, "store: entry %zu content of %zu bytes", i, e->content_len);
    return 0;
}

static int bind_text_or_null(sqlite3_stmt *st, int col, const char *v)
{
    return v == NULL ? sqlite3_bind_null(st, col)
                     : sqlite3_bind_text(st, col, v, -1, SQLITE_STATIC);
}

/* Binds entry e as row `row` of a multi-row append statement. SQLITE_STATIC: the caller's bytes
 * outlive the step; bindings are cleared after it. */
static int bind_entry(sqlite3_stmt *st, int row, const struct tsb_entry_in *e)
{
    int c = row * APPEND_PARAMS;
    int rc = sqlite3_bind_blob(st, c + 1, e->digest, TSB_SHA256_LEN, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, c + 2, e->source, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(st, c + 3, e->format_id);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(st, c + 4, e->client_ref);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, c + 5, e->received_ms);
    if (rc == SQLITE_OK)
        rc = e->content == NULL
                 ? sqlite3_bind_null(st, c + 6)
                 : sqlite3_bind_blob(st, c + 6, e->content, (int)e->content_len, SQLITE_STATIC);
    return rc;
}

/* Inserts rows entries e[0..rows) with the statement for that many rows, setting refs[]. The
 * writer holds the write transaction and the rows of one INSERT take consecutive Refs in VALUES
 * order (AUTOINCREMENT: each above every Ref ever used), so the last row's Ref gives them all;
 * they are read back, each Ref checked to hold its entry's digest; a Ref not above the previous
 * statement's last, or a row not where it should be, is TSB_EINTERNAL (the transaction is rolled
 * back: nothing of the batch is acknowledged). No RETURNING: SQLite holds its rows in a
 * temporary table until the statement ends, then hands each back. */
static int append_rows(struct tsb_store *s, enum stmt_id id, int rows, const struct tsb_entry_in *e,
                       int64_t prev, int64_t *refs)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, id, &st), rc = SQLITE_OK;
    if (r != 0)
        return r;
    for (int i = 0; i < rows && rc == SQLITE_OK; i++)
        rc = bind_entry(st, i, &e[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        r = fail(s, rc, true, "appending journal entries");
        goto out;
    }
    int64_t last = sqlite3_last_insert_rowid(s->db), first = last - rows + 1;
    stmt_done(st);
    if (sqlite3_changes(s->db) != rows || first <= prev)
        return tsb_err(TSB_EINTERNAL,
                       "store: %d appended rows end at Ref %lld, not above the previous Ref %lld",
                       rows, (long long)last, (long long)prev);
    /* read back: Refs first..last hold exactly these rows' digests, in VALUES order, or nothing
     * of the batch is acknowledged (a rowid range of pages this statement just wrote) */
    if ((r = stmt(s, ST_ENTRY_HASHES, &st)) != 0)
        return r;
    sqlite3_bind_int64(st, 1, first);
    sqlite3_bind_int64(st, 2, last);
    int got = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (got >= rows || sqlite3_column_int64(st, 0) != first + got ||
            sqlite3_column_bytes(st, 1) != TSB_SHA256_LEN ||
            memcmp(sqlite3_column_blob(st, 1), e[got].digest, TSB_SHA256_LEN) != 0) {
            r = tsb_err(TSB_EINTERNAL,
                        "store: appended row %d of %d is not at Ref %lld with its digest", got,
                        rows, (long long)(first + got));
            goto out;
        }
        refs[got] = first + got;
        got++;
    }
    if (rc != SQLITE_DONE)
        r = fail(s, rc, true, "reading back appended journal entries");
    else if (got != rows)
        r = tsb_err(TSB_EINTERNAL, "store: %d of %d appended rows found at Refs %lld..%lld", got,
                    rows, (long long)first, (long long)last);
out:
    stmt_done(st);
    return r;
}

/* PRAGMA data_version: changes whenever another connection committed. */
static int data_version(struct tsb_store *s, int64_t *v);

/* Keeps the pairs of a committed append (each row was read back: its digest is the archive's) for
 * the index steps: after the tail if they continue it and nothing else committed since it began,
 * else as a new tail; not at all when the tail has no room (the index then reads them). */
static void tail_push(struct tsb_store *s, const struct tsb_entry_in *e, const int64_t *refs,
                      size_t n, int64_t version)
{
    if (s->tail_n == s->tail_off || version != s->tail_version ||
        refs[0] != s->tail[s->tail_n - 1].ref + 1) { /* a new tail */
        s->tail_off = s->tail_n = 0;
        s->tail_version = version;
    }
    if (s->tail_n + n > TSB_HASH_TAIL && s->tail_off > 0) {
        memmove(s->tail, s->tail + s->tail_off, (s->tail_n - s->tail_off) * sizeof(*s->tail));
        s->tail_n -= s->tail_off;
        s->tail_off = 0;
    }
    if (s->tail_n + n > TSB_HASH_TAIL)
        return;
    if (s->tail == NULL)
        s->tail = tsb_malloc(TSB_HASH_TAIL * sizeof(*s->tail));
    for (size_t i = 0; i < n; i++) {
        memcpy(s->tail[s->tail_n + i].hash, e[i].digest, TSB_SHA256_LEN);
        s->tail[s->tail_n + i].ref = refs[i];
    }
    s->tail_n += n;
}

/* Adds n to the entries counter, inside the caller's write transaction (tsbag status reads the
 * counter instead of counting rows). */
static int count_entries(struct tsb_store *s, int64_t n)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_COUNT_ENTRIES, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, n);
    int rc = sqlite3_step(st);
    r = rc == SQLITE_DONE ? 0 : fail(s, rc, true, "counting journal entries");
    if (r == 0 && sqlite3_changes(s->db) != 1)
        r = tsb_err(TSB_ESTORE, "archive %s has no counters row (schema 0009)", s->path);
    stmt_done(st);
    return r;
}

int tsb_store_append(struct tsb_store *s, const struct tsb_entry_in *e, size_t n, int64_t *refs)
{
    static const struct {
        enum stmt_id id;
        int rows;
    } sizes[] = {{ST_APPEND_64, 64}, {ST_APPEND_16, 16}, {ST_APPEND_4, 4}, {ST_APPEND, 1}};
    int r = TSB_EINTERNAL;
    int64_t version = 0;
    if (n == 0)
        return 0;
    if (e == NULL || refs == NULL)
        return tsb_err(TSB_EINVAL, "store: append without entries or refs");
    for (size_t i = 0; i < n; i++)
        if ((r = check_entry(&e[i], i)) != 0)
            return r;
    if ((r = tx_begin_write(s, "appending journal entries")) != 0)
        return r;
    size_t i = 0;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
        for (; n - i >= (size_t)sizes[k].rows; i += (size_t)sizes[k].rows)
            if ((r = append_rows(s, sizes[k].id, sizes[k].rows, &e[i], i ? refs[i - 1] : 0,
                                 &refs[i])) != 0)
                goto out;
    if ((r = count_entries(s, (int64_t)n)) != 0 || (r = data_version(s, &version)) != 0)
        goto out;
    r = tx_commit(s, true, "committing journal entries");
out:
    if (r != 0) {
        tx_rollback(s);
        memset(refs, 0, n * sizeof(*refs));
        return r;
    }
    tail_push(s, e, refs, n, version);
    return 0;
}

static char *col_strdup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    if (t == NULL)
        return NULL;
    return tsb_strndup((const char *)t, (size_t)sqlite3_column_bytes(st, col));
}

static uint8_t *col_blobdup(sqlite3_stmt *st, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    *len = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    uint8_t *c = tsb_malloc(n ? n : 1);
    if (n)
        memcpy(c, p, n);
    *len = n;
    return c;
}

static int64_t col_int_or_zero(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, col);
}

static int col_digest(sqlite3_stmt *st, int col, uint8_t out[TSB_SHA256_LEN])
{
    const void *p = sqlite3_column_blob(st, col);
    if (p == NULL || sqlite3_column_bytes(st, col) != TSB_SHA256_LEN)
        return tsb_err(TSB_ESTORE, "store: a stored digest is not %d bytes", TSB_SHA256_LEN);
    memcpy(out, p, TSB_SHA256_LEN);
    return 0;
}

void tsb_entry_rec_cleanup(struct tsb_entry_rec *e)
{
    if (e == NULL)
        return;
    free(e->source);
    free(e->format_id);
    free(e->client_ref);
    free(e->content);
    memset(e, 0, sizeof(*e));
}

/* Fills e (owning copies) from a row of ENTRY_COLS. */
static int entry_from_row(sqlite3_stmt *st, struct tsb_entry_rec *e)
{
    struct tsb_entry_rec t = {0};
    int r = col_digest(st, 1, t.digest);
    if (r != 0)
        return r;
    t.ref = sqlite3_column_int64(st, 0);
    t.source = col_strdup(st, 2);
    t.format_id = col_strdup(st, 3);
    t.client_ref = col_strdup(st, 4);
    t.received_ms = sqlite3_column_int64(st, 5);
    t.content = col_blobdup(st, 6, &t.content_len);
    t.position = -1;
    if (t.source == NULL)
        t.source = tsb_strdup("");
    *e = t;
    return 0;
}

/* The bag whose Ref range was found last, so that a walk in Ref order probes bags_range once
 * per bag rather than once per entry. Ranges are immutable and never overlap (schema 0009), so a
 * Ref inside a remembered range stays in that bag for ever. */
struct bag_range {
    int64_t seq, first, last, count; /* seq 0: nothing remembered */
    int64_t prev_ref, prev_pos;      /* the entry a sequential walk handed on last; -1: none */
};

/* Runs a statement bound with up to two integers that returns one row of integers into v[n];
 * *found says whether a row came (aggregates always return one). */
static int query_ints(struct tsb_store *s, enum stmt_id id, int nargs, int64_t a, int64_t b,
                      int64_t *v, int n, bool *found, const char *what)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, id, &st);
    if (r != 0)
        return r;
    if (nargs > 0)
        sqlite3_bind_int64(st, 1, a);
    if (nargs > 1)
        sqlite3_bind_int64(st, 2, b);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW)
        for (int i = 0; i < n; i++)
            v[i] = col_int_or_zero(st, i);
    else if (rc != SQLITE_DONE)
        r = fail(s, rc, false, what);
    stmt_done(st);
    return r;
}

static int data_version(struct tsb_store *s, int64_t *v)
{
    bool found = false;
    return query_ints(s, ST_DATA_VERSION, 0, 0, 0, v, 1, &found, "reading data_version");
}

/* The bag holding ref, into *b (b->seq 0 when none: the entry is staged). */
static int bag_at(struct tsb_store *s, int64_t ref, struct bag_range *b)
{
    int64_t v[4];
    bool found = false;
    int r = query_ints(s, ST_BAG_AT, 1, ref, 0, v, 4, &found, "finding an entry's bag");
    if (r != 0)
        return r;
    memset(b, 0, sizeof(*b));
    if (found && v[2] >= ref)
        *b = (struct bag_range){
            .seq = v[0], .first = v[1], .last = v[2], .count = v[3], .prev_ref = -1};
    return 0;
}

/* Sets e's bag and position from the bag ranges. A bag without gaps in its Refs (every bag
 * sealed here) gives the position by subtraction; one with gaps (a recovered bag may have them)
 * by counting the Refs before it, or, in a sequential walk, from the previous entry. */
static int derive_bag(struct tsb_store *s, struct bag_range *c, bool sequential,
                      struct tsb_entry_rec *e)
{
    int r = 0;
    if (c->seq == 0 || e->ref < c->first || e->ref > c->last) {
        if ((r = bag_at(s, e->ref, c)) != 0)
            return r;
        if (c->seq == 0) {
            e->bag_seq = 0;
            e->position = -1;
            return 0;
        }
    }
    int64_t pos = 0;
    if (c->count == c->last - c->first + 1) {
        pos = e->ref - c->first;
    } else if (sequential && c->prev_ref >= 0 && c->prev_ref < e->ref) {
        pos = c->prev_pos + 1;
    } else {
        bool found = false;
        if ((r = query_ints(s, ST_RANGE_COUNT, 2, c->first, e->ref - 1, &pos, 1, &found,
                            "finding an entry's position")) != 0)
            return r;
    }
    c->prev_ref = e->ref;
    c->prev_pos = pos;
    e->bag_seq = c->seq;
    e->position = pos;
    return 0;
}

int tsb_store_entry_by_ref(struct tsb_store *s, int64_t ref, struct tsb_entry_rec *out)
{
    int r = TSB_EINTERNAL;
    sqlite3_stmt *st = NULL;
    struct tsb_entry_rec e = {0};
    struct bag_range c = {0};
    if ((r = stmt(s, ST_ENTRY_BY_REF, &st)) != 0)
        return r;
    sqlite3_bind_int64(st, 1, ref);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = entry_from_row(st, &e);
    else if (rc == SQLITE_DONE)
        r = tsb_err(TSB_ENOTFOUND, "no journal entry with Ref %lld", (long long)ref);
    else
        r = fail(s, rc, false, "looking up a journal entry");
    stmt_done(st);
    if (r == 0 && (r = derive_bag(s, &c, false, &e)) == 0) {
        *out = e;
        return 0;
    }
    tsb_entry_rec_cleanup(&e);
    return r;
}

/* Steps a bound entry query, handing each row to cb with its bag (c: the bag range known before
 * the walk, or zeroed; sequential: rows come in Ref order without skipping any). */
static int walk_entries_in(struct tsb_store *s, sqlite3_stmt *st, struct bag_range *c,
                           bool sequential, tsb_entry_cb cb, void *arg)
{
    int r = 0, rc = SQLITE_DONE;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct tsb_entry_rec e;
        if ((r = entry_from_row(st, &e)) != 0)
            break;
        if ((r = derive_bag(s, c, sequential, &e)) == 0)
            r = cb(arg, &e);
        tsb_entry_rec_cleanup(&e);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = fail(s, rc, false, "reading journal entries");
    stmt_done(st);
    return r;
}

static int walk_entries(struct tsb_store *s, sqlite3_stmt *st, bool sequential, tsb_entry_cb cb,
                        void *arg)
{
    struct bag_range c = {0};
    return walk_entries_in(s, st, &c, sequential, cb, arg);
}

/* Counts the rows a walk hands on to the caller's callback. */
struct counted_walk {
    tsb_entry_cb cb;
    void *arg;
    size_t n;
};

static int counted_cb(void *arg, const struct tsb_entry_rec *e)
{
    struct counted_walk *w = arg;
    w->n++;
    return w->cb(w->arg, e);
}

static void note_damage(struct tsb_store *s, const char *what)
{
    if (s->damage == NULL)
        s->damage = tsb_strdup(what);
}

const char *tsb_store_damage(const struct tsb_store *s)
{
    return s->damage;
}

int tsb_store_entries_by_hash(struct tsb_store *s, const uint8_t digest[TSB_SHA256_LEN],
                              tsb_entry_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    struct counted_walk w = {.cb = cb, .arg = arg};
    int r = stmt(s, ST_ENTRIES_BY_HASH, &st);
    if (r != 0)
        return r;
    sqlite3_bind_blob(st, 1, digest, TSB_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)tsb_hash_key_prefix(digest) << TSB_HASH_EPOCH_BITS);
    if ((r = walk_entries(s, st, false, counted_cb, &w)) != 0 || w.n > 0)
        return r;
    /* "not found" is an answer an auditor acts on: ask the table itself before giving it */
    if ((r = stmt(s, ST_ENTRIES_BY_HASH_SCAN, &st)) != 0)
        return r;
    sqlite3_bind_blob(st, 1, digest, TSB_SHA256_LEN, SQLITE_STATIC);
    if ((r = walk_entries(s, st, false, counted_cb, &w)) != 0)
        return r;
    if (w.n > 0)
        note_damage(s, "the archive's indexes miss journal entries that its entries table holds "
                       "(found by a full scan): the archive file is damaged");
    return 0;
}

/* ---- the digest index (schemas 0012, 0015) ----------------------------------------------- */

uint32_t tsb_hash_key_prefix(const uint8_t hash[TSB_SHA256_LEN])
{
    return (uint32_t)hash[0] << 16 | (uint32_t)hash[1] << 8 | hash[2];
}

int64_t tsb_hash_key(int64_t ref, const uint8_t hash[TSB_SHA256_LEN])
{
    uint64_t epoch = (uint64_t)ref >> TSB_HASH_EPOCH_BITS, low = (uint64_t)ref & 0xffff;
    return (int64_t)(epoch << (8 * TSB_HASH_KEY_BYTES + TSB_HASH_EPOCH_BITS) |
                     (uint64_t)tsb_hash_key_prefix(hash) << TSB_HASH_EPOCH_BITS | low);
}

static int step_write(struct tsb_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_DONE ? 0 : fail(s, rc, true, what);
    stmt_done(st);
    return r;
}

/* counters.hashed_ref, hashing_byte and the last Ref, into v[3]. */
static int hash_state(struct tsb_store *s, int64_t v[3])
{
    bool found = false;
    int r = query_ints(s, ST_HASH_STATE, 0, 0, 0, v, 3, &found, "reading the digest index's state");
    if (r == 0 && !found)
        r = tsb_err(TSB_ESTORE, "archive %s has no counters row (schema 0009)", s->path);
    return r;
}

/* Key order inside a chunk (one epoch): the hash's first bytes, then the Ref. */
static int hash_row_cmp(const void *a, const void *b)
{
    const struct hash_row *x = a, *y = b;
    int c = memcmp(x->hash, y->hash, TSB_HASH_KEY_BYTES);
    return c != 0 ? c : (x->ref > y->ref) - (x->ref < y->ref);
}

/* Groups the chunk's rows by the hash's first byte, in place, in byte order (one pass counting,
 * one pass of swaps: each row moves at most once to its group). */
static void hash_chunk_group(struct hash_row *a, size_t n)
{
    size_t next[256] = {0}, end[256];
    for (size_t i = 0; i < n; i++)
        next[a[i].hash[0]]++;
    size_t at = 0;
    for (int b = 0; b < 256; b++) {
        size_t c = next[b];
        next[b] = at;
        at += c;
        end[b] = at;
    }
    for (int b = 0; b < 256; b++) {
        while (next[b] < end[b]) {
            unsigned v = a[next[b]].hash[0];
            if (v == (unsigned)b) {
                next[b]++;
            } else {
                struct hash_row t = a[next[v]];
                a[next[v]++] = a[next[b]];
                a[next[b]] = t;
            }
        }
    }
}

/* Takes the chunk above base from the appends' pairs, if they hold all of it and no other
 * connection committed since the first of them was kept; drops the pairs at or below base. */
static bool hash_chunk_from_tail(struct tsb_store *s, int64_t base, int64_t version)
{
    if (s->tail_n > s->tail_off && version != s->tail_version)
        s->tail_off = s->tail_n;
    if (s->tail_n == s->tail_off)
        return false;
    int64_t first = s->tail[s->tail_off].ref;
    if (first <= base)
        s->tail_off += (size_t)(base - first + 1) < s->tail_n - s->tail_off
                           ? (size_t)(base - first + 1)
                           : s->tail_n - s->tail_off;
    if (s->tail_n - s->tail_off < TSB_HASH_CHUNK || s->tail[s->tail_off].ref != base + 1)
        return false;
    memcpy(s->chunk, s->tail + s->tail_off, TSB_HASH_CHUNK * sizeof(*s->chunk));
    s->tail_off += TSB_HASH_CHUNK;
    s->chunk_n = TSB_HASH_CHUNK;
    s->chunk_read = base + TSB_HASH_CHUNK;
    return true;
}

/* Inside the step's write transaction: reads the next part (TSB_HASH_CHUNK / TSB_HASH_READ_PARTS
 * Refs) of the chunk above base into memory (grouped by first byte after the last part), or,
 * when a step before read it all, only sets *ready. The chunk is read again from its start for
 * another chunk or after another connection committed (its rows could have been deleted by a
 * repair; recovered rows index themselves). One read of 16 384 rows instead of one scan per slice
 * (a slice filtered by hash read the whole chunk), split in parts so that no step holds the archive
 * for the whole read. */
static int hash_chunk_part(struct tsb_store *s, int64_t base, bool *ready)
{
    int64_t version = 0;
    *ready = false;
    int r = data_version(s, &version);
    if (r != 0)
        return r;
    if (s->chunk == NULL)
        s->chunk = tsb_malloc(TSB_HASH_CHUNK * sizeof(*s->chunk));
    if (s->chunk_base != base || s->chunk_version != version) {
        s->chunk_n = 0;
        s->chunk_base = base;
        s->chunk_read = base;
        s->chunk_version = version;
    }
    if (s->chunk_read == base && hash_chunk_from_tail(s, base, version)) {
        s->chunks_copied++;
        hash_chunk_group(s->chunk, s->chunk_n);
    }
    if (s->chunk_read == base + TSB_HASH_CHUNK) {
        *ready = true;
        return 0;
    }
    if (s->chunk_read == base)
        s->chunks_read++;
    int64_t to = s->chunk_read + TSB_HASH_CHUNK / TSB_HASH_READ_PARTS;
    sqlite3_stmt *st = NULL;
    if ((r = stmt(s, ST_ENTRY_HASHES, &st)) != 0)
        return r;
    sqlite3_bind_int64(st, 1, s->chunk_read + 1);
    sqlite3_bind_int64(st, 2, to);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && s->chunk_n < TSB_HASH_CHUNK) {
        struct hash_row *h = &s->chunk[s->chunk_n];
        if ((r = col_digest(st, 1, h->hash)) != 0)
            break;
        h->ref = sqlite3_column_int64(st, 0);
        s->chunk_n++;
    }
    if (r == 0 && rc == SQLITE_ROW)
        r = tsb_err(TSB_EINTERNAL, "store: a digest index chunk holds more than %d Refs",
                    TSB_HASH_CHUNK);
    else if (r == 0 && rc != SQLITE_DONE)
        r = fail(s, rc, false, "reading a chunk of journal entries");
    stmt_done(st);
    if (r != 0) {
        s->chunk_base = -1; /* read again from its start */
        return r;
    }
    s->chunk_read = to;
    if (to == base + TSB_HASH_CHUNK)
        hash_chunk_group(s->chunk, s->chunk_n); /* the next step inserts the first slice */
    return 0;
}

/* The first row of the chunk (grouped by first byte) whose hash starts with a byte >= b. */
static size_t hash_chunk_from(const struct tsb_store *s, unsigned b)
{
    size_t lo = 0, hi = s->chunk_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->chunk[mid].hash[0] < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* INSERT OR IGNOREs the keys of rows [i, j) of the chunk in key order, 64 per statement, then
 * one by one. */
static int hash_chunk_insert(struct tsb_store *s, size_t i, size_t j)
{
    int r = 0;
    sqlite3_stmt *st = NULL;
    qsort(s->chunk + i, j - i, sizeof(*s->chunk), hash_row_cmp);
    while (r == 0 && i < j) {
        int rows = j - i >= 64 ? 64 : 1;
        if ((r = stmt(s, rows == 64 ? ST_HASH_INSERT_64 : ST_HASH_INSERT, &st)) != 0)
            break;
        for (int k = 0; k < rows; k++, i++)
            sqlite3_bind_int64(st, k + 1, tsb_hash_key(s->chunk[i].ref, s->chunk[i].hash));
        r = step_write(s, st, "indexing journal entries by digest");
        st = NULL;
    }
    return r;
}

/* One step, in the write transaction the caller began: a part of the chunk above the watermark
 * read, or once it is all read, the slice of it whose hashes start with a byte in
 * [hashing_byte, hashing_byte + TSB_HASH_STEP_BYTES) inserted. */
static int hash_step_tx(struct tsb_store *s, int64_t *lag)
{
    int64_t v[3];
    int r = hash_state(s, v);
    if (r != 0)
        return r;
    int64_t base = v[0], from = v[1], last = v[2];
    bool ready = false;
    if (last >= base + TSB_HASH_CHUNK && base + TSB_HASH_CHUNK > TSB_HASH_REF_MAX)
        return tsb_err(TSB_ESTORE,
                       "archive %s: Refs above %lld cannot be indexed by digest (schema 0015's "
                       "keys); the archive is full: start a new one (docs/operations.md)",
                       s->path, (long long)TSB_HASH_REF_MAX);
    if (last >= base + TSB_HASH_CHUNK && (r = hash_chunk_part(s, base, &ready)) != 0)
        return r;
    if (ready) {
        int64_t to = from + TSB_HASH_STEP_BYTES;
        sqlite3_stmt *st = NULL;
        if ((r = hash_chunk_insert(s, hash_chunk_from(s, (unsigned)from),
                                   to < 256 ? hash_chunk_from(s, (unsigned)to) : s->chunk_n)) != 0)
            return r;
        if (to >= 256) {
            to = 0;
            base += TSB_HASH_CHUNK;
        }
        if ((r = stmt(s, ST_HASH_ADVANCE, &st)) != 0)
            return r;
        sqlite3_bind_int64(st, 1, base);
        sqlite3_bind_int64(st, 2, to);
        if ((r = step_write(s, st, "advancing the digest index")) != 0)
            return r;
    }
    if (lag != NULL)
        *lag = last > base ? last - base : 0;
    return 0;
}

/* A step commits with synchronous=NORMAL: without the WAL's fsync, which the next append's
 * commit (FULL) does for both. The rows are derived from the journal and move the watermark in
 * the same transaction, so a step lost to a power cut is only done again. The connection is
 * FULL again before anything else commits on it, or refuses every write. */
int tsb_store_hash_index_step(struct tsb_store *s, int64_t *lag)
{
    int r = write_allowed(s, "indexing journal entries by digest");
    if (r != 0)
        return r;
    bool toggle = s->wal_file == NULL; /* sync_apart: NORMAL for every commit already */
    if ((!toggle ||
         (r = exec_cached(s, ST_SYNC_NORMAL, true, "relaxing the index step's commit")) == 0) &&
        (r = tx_begin_write(s, "indexing journal entries by digest")) == 0) {
        r = hash_step_tx(s, lag);
        if (r == 0)
            r = tx_commit(s, true, "committing a digest index step");
        else
            tx_rollback(s);
    }
    if (!toggle)
        return r;
    int rf = exec_cached(s, ST_SYNC_FULL, true, "restoring synchronous=FULL after an index step");
    if (rf != 0 && !s->poisoned) {
        s->poisoned = true;
        rf = tsb_err(TSB_EDURABLE, "%s; archive %s refuses writes on this connection",
                     tsb_err_detail(), s->path);
    }
    return r != 0 ? r : rf;
}

void tsb_store_hash_index_sources(const struct tsb_store *s, int64_t *copied, int64_t *read)
{
    *copied = s->chunks_copied;
    *read = s->chunks_read;
}

int tsb_store_synchronous(struct tsb_store *s)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int tsb_store_hash_index_lag(struct tsb_store *s, int64_t *lag)
{
    int64_t v[3];
    int r = hash_state(s, v);
    if (r == 0)
        *lag = v[2] > v[0] ? v[2] - v[0] : 0;
    return r;
}

int tsb_store_hash_index_rows(struct tsb_store *s, int64_t epoch, tsb_hash_key_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_HASH_ROWS, &st), rc = SQLITE_DONE;
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, epoch);
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t k = (uint64_t)sqlite3_column_int64(st, 0);
        r = cb(arg, epoch << TSB_HASH_EPOCH_BITS | (int64_t)(k & 0xffff),
               (uint32_t)(k >> TSB_HASH_EPOCH_BITS) & 0xffffff);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = fail(s, rc, false, "reading the digest index");
    stmt_done(st);
    return r;
}

int tsb_store_entry_hashes(struct tsb_store *s, int64_t lo, int64_t hi, tsb_hash_ref_cb cb,
                           void *arg)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_ENTRY_HASHES, &st), rc = SQLITE_DONE;
    uint8_t d[TSB_SHA256_LEN];
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((r = col_digest(st, 1, d)) == 0)
            r = cb(arg, sqlite3_column_int64(st, 0), d);
    if (r == 0 && rc != SQLITE_DONE)
        r = fail(s, rc, false, "reading the journal's digests");
    stmt_done(st);
    return r;
}

int tsb_store_hash_index_max_epoch(struct tsb_store *s, int64_t *epoch)
{
    bool found = false;
    return query_ints(s, ST_HASH_MAX_EPOCH, 0, 0, 0, epoch, 1, &found, "reading the digest index");
}

int tsb_store_entries_by_received(struct tsb_store *s, int64_t from_ms, int64_t to_ms,
                                  tsb_entry_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_ENTRIES_BY_RECEIVED, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, from_ms);
    sqlite3_bind_int64(st, 2, to_ms);
    /* Ref order, but rows outside the period are skipped: not sequential */
    return walk_entries(s, st, false, cb, arg);
}

int tsb_store_entries_by_bag(struct tsb_store *s, int64_t seq, tsb_entry_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    int64_t v[4];
    bool found = false;
    int r = query_ints(s, ST_BAG_RANGE, 1, seq, 0, v, 4, &found, "reading a bag's range");
    if (r != 0 || !found)
        return r; /* no such bag: no entries */
    struct bag_range c = {.seq = v[0],
                          .first = v[1],
                          .last = v[2],
                          .count = v[3],
                          .prev_ref = v[1] - 1,
                          .prev_pos = -1};
    if ((r = stmt(s, ST_ENTRIES_BY_RANGE, &st)) != 0)
        return r;
    sqlite3_bind_int64(st, 1, c.first);
    sqlite3_bind_int64(st, 2, c.last);
    return walk_entries_in(s, st, &c, true, cb, arg);
}

/* ---- bags --------------------------------------------------------------------------------- */

void tsb_bag_rec_cleanup(struct tsb_bag_rec *b)
{
    if (b == NULL)
        return;
    free(b->bytes);
    free(b->request_id);
    free(b->profile);
    free(b->sign_response);
    free(b->token);
    free(b->tsa_serial);
    free(b->last_error);
    memset(b, 0, sizeof(*b));
}

/* Reads bag seq's parts (len bytes in all) into a buffer of exactly that size, page by page
 * through the connection's cache: sqlite3_column_blob would first assemble each value in a
 * buffer of SQLite's own. Called while the statement that found the bag is still stepped, so it
 * reads the same snapshot. */
static int read_bag_bytes(struct tsb_store *s, int64_t seq, int64_t len, uint8_t **out)
{
    sqlite3_stmt *st = NULL;
    sqlite3_blob *blob = NULL;
    uint8_t *p = NULL;
    int64_t at = 0;
    int rc = SQLITE_OK, r = stmt(s, ST_BAG_BYTES_PARTS, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, seq);
    p = tsb_malloc((size_t)len);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64(st, 0), n = sqlite3_column_int64(st, 1);
        if (n > len - at) {
            r = tsb_err(TSB_EINTERNAL, "store: bag %lld's bytes grew while read", (long long)seq);
            goto out;
        }
        rc = blob == NULL ? sqlite3_blob_open(s->db, "main", "bag_bytes", "bytes", rowid, 0, &blob)
                          : sqlite3_blob_reopen(blob, rowid);
        if (rc == SQLITE_OK)
            rc = sqlite3_blob_read(blob, p + at, (int)n, 0);
        if (rc != SQLITE_OK) {
            r = fail(s, rc, false, "reading a bag's bytes");
            goto out;
        }
        at += n;
    }
    if (rc != SQLITE_DONE) {
        r = fail(s, rc, false, "reading a bag's bytes");
        goto out;
    }
    if (at != len) {
        r = tsb_err(TSB_EINTERNAL, "store: bag %lld's bytes changed size while read",
                    (long long)seq);
        goto out;
    }
    *out = p;
    p = NULL;
    r = 0;
out:
    sqlite3_blob_close(blob);
    stmt_done(st);
    free(p);
    return r;
}

/* Fills b (owning copies) from a row of BAG_COLS. A bag with bytes in neither place (a damaged
 * archive: the schema inserts a bag row only after its bytes) comes back with bytes NULL and
 * bytes_len 0, for the archive check to report. */
static int bag_from_row(struct tsb_store *s, sqlite3_stmt *st, struct tsb_bag_rec *b)
{
    struct tsb_bag_rec t = {0};
    int r = TSB_EINTERNAL;
    if ((r = state_parse(sqlite3_column_text(st, 1), &t.state)) != 0 ||
        (r = col_digest(st, 3, t.digest)) != 0)
        return r;
    t.seq = sqlite3_column_int64(st, 0);
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
        t.bytes = col_blobdup(st, 2, &t.bytes_len); /* sealed before schema 0011 */
    } else if (sqlite3_column_type(st, 18) != SQLITE_NULL && sqlite3_column_int64(st, 18) > 0) {
        int64_t len = sqlite3_column_int64(st, 18);
        if ((r = read_bag_bytes(s, t.seq, len, &t.bytes)) != 0)
            return r;
        t.bytes_len = (size_t)len;
    }
    t.entry_count = sqlite3_column_int64(st, 4);
    t.first_ref = sqlite3_column_int64(st, 5);
    t.last_ref = sqlite3_column_int64(st, 6);
    t.request_id = col_strdup(st, 7);
    t.profile = col_strdup(st, 8);
    t.sign_response = col_blobdup(st, 9, &t.sign_response_len);
    t.token = col_blobdup(st, 10, &t.token_len);
    t.tsa_serial = col_strdup(st, 11);
    t.gen_time_ms = col_int_or_zero(st, 12);
    t.attempts = sqlite3_column_int64(st, 13);
    t.last_error = col_strdup(st, 14);
    t.sealed_ms = col_int_or_zero(st, 15);
    t.sent_ms = col_int_or_zero(st, 16);
    t.stamped_ms = col_int_or_zero(st, 17);
    *b = t;
    return 0;
}

static int bag_one(struct tsb_store *s, enum stmt_id id, int64_t seq, struct tsb_bag_rec *out)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, id, &st);
    if (r != 0)
        return r;
    if (id == ST_BAG_GET)
        sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = bag_from_row(s, st, out);
    else if (rc == SQLITE_DONE && id == ST_BAG_GET)
        r = tsb_err(TSB_ENOTFOUND, "no bag with SequenceNumber %lld", (long long)seq);
    else if (rc == SQLITE_DONE)
        r = tsb_err(TSB_ENOTFOUND, "every bag is stamped");
    else
        r = fail(s, rc, false, "reading a bag");
    stmt_done(st);
    return r;
}

int tsb_store_bag_get(struct tsb_store *s, int64_t seq, struct tsb_bag_rec *out)
{
    return bag_one(s, ST_BAG_GET, seq, out);
}

int tsb_store_bag_next_unstamped(struct tsb_store *s, struct tsb_bag_rec *out)
{
    return bag_one(s, ST_BAG_NEXT_UNSTAMPED, 0, out);
}

/* Steps a bound bag query, handing each row to cb. */
static int walk_bags(struct tsb_store *s, sqlite3_stmt *st, tsb_bag_cb cb, void *arg)
{
    int r = 0, rc = SQLITE_DONE;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct tsb_bag_rec b;
        if ((r = bag_from_row(s, st, &b)) != 0)
            break;
        r = cb(arg, &b);
        tsb_bag_rec_cleanup(&b);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = fail(s, rc, false, "reading bags");
    stmt_done(st);
    return r;
}

int tsb_store_bags_by_gen_time(struct tsb_store *s, int64_t from_ms, int64_t to_ms, tsb_bag_cb cb,
                               void *arg)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_BAGS_BY_GEN_TIME, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, from_ms);
    sqlite3_bind_int64(st, 2, to_ms);
    return walk_bags(s, st, cb, arg);
}

int tsb_store_bags_walk(struct tsb_store *s, tsb_bag_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_BAGS_ALL, &st);
    if (r != 0)
        return r;
    return walk_bags(s, st, cb, arg);
}

int tsb_store_entries_walk(struct tsb_store *s, tsb_entry_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_ENTRIES_ALL, &st);
    if (r != 0)
        return r;
    return walk_entries(s, st, true, cb, arg);
}

/* ---- sealing ------------------------------------------------------------------------------ */

void tsb_seal_plan_cleanup(struct tsb_seal_plan *p)
{
    if (p == NULL)
        return;
    tsb_buf_cleanup(&p->bytes);
    memset(p, 0, sizeof(*p));
}

/* The SequenceNumber the next sealed bag takes: last + 1, or first_seq for an archive without
 * bags (sealer.first_sequence: numbering continued from a previous client). */
static int next_seq(struct tsb_store *s, int64_t first_seq, int64_t *seq)
{
    int64_t last = 0;
    bool found = false;
    int r =
        query_ints(s, ST_LAST_SEQ, 0, 0, 0, &last, 1, &found, "reading the last SequenceNumber");
    if (r != 0)
        return r;
    if (last == 0 && first_seq > 1)
        last = first_seq - 1;
    *seq = last + 1;
    return 0;
}

/* The chain's next link (sealer.chain): the stored digest of bag seq - 1, read in the caller's
 * snapshot, the one that assigns seq. *have is false when there is no such bag (an empty archive,
 * or one starting at first_seq): the bag sealed as seq is the chain's genesis. */
static int chain_prev(struct tsb_store *s, int64_t seq, uint8_t prev[TSB_SHA256_LEN], bool *have)
{
    sqlite3_stmt *st = NULL;
    *have = false;
    if (seq <= 1)
        return 0;
    int r = stmt(s, ST_BAG_DIGEST, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, seq - 1);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = col_digest(st, 0, prev);
    else if (rc != SQLITE_DONE)
        r = fail(s, rc, false, "reading the previous bag's digest");
    *have = rc == SQLITE_ROW && r == 0;
    stmt_done(st);
    return r;
}

/* The lowest staged Ref (0: none) and the Ref the bag starting there must stay below (the next
 * bag's first Ref: a recovered bag may sit above staged entries; INT64_MAX when none). Every
 * entry up to counters.sealed_ref is in a bag; above it, only recovered bags are skipped. */
static int staged_start(struct tsb_store *s, int64_t *start, int64_t *limit)
{
    int64_t v[8], ref = 0;
    bool found = false;
    struct bag_range b;
    int r = query_ints(s, ST_COUNTERS, 0, 0, 0, v, 8, &found, "reading the archive's counters");
    if (r != 0)
        return r;
    if (!found)
        return tsb_err(TSB_ESTORE, "archive %s has no counters row (schema 0009)", s->path);
    int64_t after = v[2];
    for (;;) {
        if ((r = query_ints(s, ST_ENTRY_ABOVE, 1, after, 0, &ref, 1, &found,
                            "finding the staged entries")) != 0)
            return r;
        if (!found) {
            *start = 0;
            *limit = INT64_MAX;
            return 0;
        }
        if ((r = bag_at(s, ref, &b)) != 0)
            return r;
        if (b.seq == 0)
            break;
        after = b.last; /* inside a recovered bag: look above it */
    }
    int64_t next = 0;
    if ((r = query_ints(s, ST_BAG_ABOVE, 1, ref, 0, &next, 1, &found, "finding the next bag")) != 0)
        return r;
    *start = ref;
    *limit = found ? next : INT64_MAX;
    return 0;
}

/* Builds bag seq from the lowest staged entries (at most max, and fewer if the bag would outgrow
 * max_bytes) into p, reading in the caller's transaction; prev (NULL: none) is the chain link it
 * starts with. p->entries is 0 when nothing was staged; p->more says the bag stopped at a limit,
 * so more entries may be staged. */
static int plan_bag(struct tsb_store *s, const struct tsb_seal_opts *o, size_t max,
                    size_t max_bytes, int64_t seq, const uint8_t *prev, struct tsb_seal_plan *p)
{
    int r = TSB_EINTERNAL, rc = SQLITE_DONE;
    sqlite3_stmt *st = NULL;
    struct tsb_bag_writer w;
    size_t n = 0;
    int64_t start = 0, limit = 0, ref = 0;
    uint8_t digest[TSB_SHA256_LEN];

    struct tsb_bag_opts bo = o->bag;
    uint8_t link[TSB_SHA256_LEN];
    if (prev != NULL)
        memcpy(link, prev, TSB_SHA256_LEN); /* prev may point into p, cleared below */
    bo.prev = prev != NULL ? link : NULL;
    tsb_seal_plan_cleanup(p);
    tsb_buf_init(&p->bytes, max_bytes);
    p->seq = seq;
    p->linked = prev != NULL;
    if (prev != NULL)
        memcpy(p->prev, link, TSB_SHA256_LEN);
    if ((r = staged_start(s, &start, &limit)) != 0 || start == 0)
        return r;
    if ((r = stmt(s, ST_STAGED, &st)) != 0)
        return r;
    sqlite3_bind_int64(st, 1, start);
    sqlite3_bind_int64(st, 2, limit);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    /* stream the staged rows straight into the bag writer: only the bytes are kept */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ref = sqlite3_column_int64(st, 0);
        if (n > 0 && p->bytes.max - p->bytes.len < ENTRY_MAX_BYTES + END_TAG_MAX_BYTES) {
            p->more = true; /* the rest goes to the next bag */
            rc = SQLITE_DONE;
            break;
        }
        if ((r = col_digest(st, 1, digest)) != 0)
            goto out;
        if (n == 0 && (r = tsb_bag_writer_begin(&w, &bo, seq, &p->bytes)) != 0)
            goto out;
        if ((r = tsb_bag_writer_add(&w, ref, digest)) != 0)
            goto out;
        if (n == 0)
            p->first_ref = ref;
        p->last_ref = ref;
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = fail(s, rc, false, "reading staged entries");
        goto out;
    }
    stmt_done(st);
    st = NULL;
    if (n == 0)
        return 0;
    if (n == max || limit != INT64_MAX)
        p->more = true;
    if ((r = tsb_bag_writer_end(&w)) != 0)
        goto out;
    if (p->bytes.len > INT_MAX) {
        r = tsb_err(TSB_ETOOBIG, "store: bag %lld of %zu bytes", (long long)seq, p->bytes.len);
        goto out;
    }
    tsb_sha256(p->bytes.p, p->bytes.len, p->digest);
    p->entries = n;
    r = 0;
out:
    stmt_done(st);
    return r;
}

size_t tsb_bag_parts(size_t len)
{
    return len == 0 ? 0 : (len - 1) / TSB_BAG_PART_BYTES + 1;
}

/* The length of part i of len bytes. */
static size_t part_len(size_t len, size_t i)
{
    size_t at = i * TSB_BAG_PART_BYTES;
    return len - at < TSB_BAG_PART_BYTES ? len - at : TSB_BAG_PART_BYTES;
}

/* Inserts part i of bag seq's bytes p (len in all), inside the caller's write transaction. */
static int insert_part(struct tsb_store *s, int64_t seq, const uint8_t *p, size_t len, size_t i)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_BAG_BYTES_INSERT, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
    sqlite3_bind_blob(st, 3, p + i * TSB_BAG_PART_BYTES, (int)part_len(len, i), SQLITE_STATIC);
    return step_write(s, st, "writing a bag's bytes");
}

/* Deletes the pending parts of seq (the schema refuses it once bag seq exists). */
static int delete_pending(struct tsb_store *s, int64_t seq)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_BAG_BYTES_DELETE, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, seq);
    return step_write(s, st, "replacing a bag's pending bytes");
}

enum parts_state { PARTS_NONE, PARTS_SAME, PARTS_OTHER };

/* Compares the parts stored for seq with p (len bytes), part by part (SQLite compares each
 * stored part with the bound slice): none stored, exactly these bytes, or anything else. */
static int parts_compare(struct tsb_store *s, int64_t seq, const uint8_t *p, size_t len,
                         enum parts_state *out)
{
    sqlite3_stmt *st = NULL;
    int64_t size[2] = {0, 0};
    bool found = false;
    int r = query_ints(s, ST_BAG_BYTES_SIZE, 1, seq, 0, size, 2, &found, "sizing a bag's bytes");
    if (r != 0)
        return r;
    *out = size[0] == 0 ? PARTS_NONE : PARTS_OTHER;
    if (size[0] != (int64_t)tsb_bag_parts(len) || size[1] != (int64_t)len)
        return 0;
    for (size_t i = 0; i < tsb_bag_parts(len); i++) {
        if ((r = stmt(s, ST_BAG_PART_SAME, &st)) != 0)
            return r;
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        sqlite3_bind_blob(st, 3, p + i * TSB_BAG_PART_BYTES, (int)part_len(len, i), SQLITE_STATIC);
        int rc = sqlite3_step(st);
        bool same = rc == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
        stmt_done(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return fail(s, rc, false, "comparing a bag's bytes");
        if (!same)
            return 0;
    }
    *out = PARTS_SAME;
    return 0;
}

/* Makes the parts of bag seq exactly p, inside the caller's write transaction: kept when
 * tsb_store_seal_write_part already wrote them, else written, replacing what another plan of
 * the same SequenceNumber left. */
static int ensure_parts(struct tsb_store *s, int64_t seq, const uint8_t *p, size_t len)
{
    enum parts_state ps = PARTS_NONE;
    int r = parts_compare(s, seq, p, len, &ps);
    if (r != 0 || ps == PARTS_SAME)
        return r;
    if (ps == PARTS_OTHER && (r = delete_pending(s, seq)) != 0)
        return r;
    for (size_t i = 0; r == 0 && i < tsb_bag_parts(len); i++)
        r = insert_part(s, seq, p, len, i);
    return r;
}

/* Inserts the planned bag as sealed, inside the caller's write transaction: its bytes in
 * bag_bytes (schema 0011) unless already written there, then its row, so that later state
 * changes never rewrite the bytes. */
static int insert_bag(struct tsb_store *s, const struct tsb_seal_plan *p, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    int r = ensure_parts(s, p->seq, p->bytes.p, p->bytes.len);
    if (r != 0 || (r = stmt(s, ST_BAG_INSERT, &st)) != 0)
        return r;
    sqlite3_bind_int64(st, 1, p->seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)p->entries);
    sqlite3_bind_int64(st, 3, p->first_ref);
    sqlite3_bind_int64(st, 4, p->last_ref);
    sqlite3_bind_int64(st, 5, now_ms);
    sqlite3_bind_blob(st, 6, p->digest, TSB_SHA256_LEN, SQLITE_STATIC);
    return step_write(s, st, "inserting a sealed bag");
}

int tsb_store_seal_write_part(struct tsb_store *s, const struct tsb_seal_plan *p, size_t i)
{
    int r = TSB_EINTERNAL;
    int64_t ignored = 0;
    bool exists = false;
    if (p == NULL || p->entries == 0 || i >= tsb_bag_parts(p->bytes.len))
        return tsb_err(TSB_EINVAL, "store: the planned bag has no part %zu", i);
    if ((r = tx_begin_write(s, "writing a bag's bytes")) != 0)
        return r;
    if ((r = query_ints(s, ST_BAG_DIGEST, 1, p->seq, 0, &ignored, 0, &exists,
                        "looking up a bag")) != 0)
        goto out;
    if (exists) {
        r = tsb_err(TSB_ECONFLICT, "bag %lld was planned, but the archive holds a bag %lld now",
                    (long long)p->seq, (long long)p->seq);
        goto out;
    }
    /* the first part replaces whatever an earlier plan of this SequenceNumber left */
    if ((i == 0 && (r = delete_pending(s, p->seq)) != 0) ||
        (r = insert_part(s, p->seq, p->bytes.p, p->bytes.len, i)) != 0)
        goto out;
    return tx_commit(s, true, "writing a bag's bytes");
out:
    tx_rollback(s);
    return r;
}

static int check_seal_opts(const struct tsb_seal_opts *o, size_t *max, size_t *max_bytes)
{
    if (o == NULL)
        return tsb_err(TSB_EINVAL, "store: seal without options");
    *max = o->max_entries ? o->max_entries : DEFAULT_BAG_ENTRIES;
    *max_bytes = o->max_bytes ? o->max_bytes : TSB_BAG_DEFAULT_MAX_BYTES;
    if (*max_bytes > INT_MAX)
        return tsb_err(TSB_EINVAL, "store: bags of %zu bytes exceed SQLite's blob limit",
                       *max_bytes);
    return 0;
}

int tsb_store_seal_prepare(struct tsb_store *s, const struct tsb_seal_opts *o,
                           struct tsb_seal_plan *p)
{
    int r = TSB_EINTERNAL;
    size_t max = 0, max_bytes = 0;
    int64_t seq = 0;
    struct tsb_seal_plan t = {0};
    if ((r = check_seal_opts(o, &max, &max_bytes)) != 0)
        return r;
    /* one snapshot: the last SequenceNumber, the counters and the staged rows agree */
    bool own = sqlite3_get_autocommit(s->db) != 0;
    if (own && (r = exec_cached(s, ST_BEGIN_READ, false, "planning a seal")) != 0)
        return r;
    uint8_t prev[TSB_SHA256_LEN];
    bool have_prev = false;
    if ((r = next_seq(s, o->first_seq, &seq)) != 0 ||
        (o->chain && (r = chain_prev(s, seq, prev, &have_prev)) != 0) ||
        (r = plan_bag(s, o, max, max_bytes, seq, have_prev ? prev : NULL, &t)) != 0)
        goto out;
    if (own && (r = tx_commit(s, false, "planning a seal")) != 0)
        goto out;
    tsb_seal_plan_cleanup(p);
    *p = t;
    return 0;
out:
    if (own)
        tx_rollback(s);
    tsb_seal_plan_cleanup(&t);
    return r;
}

int tsb_store_seal_commit(struct tsb_store *s, const struct tsb_seal_plan *p, int64_t now_ms)
{
    int r = TSB_EINTERNAL;
    int64_t seq = 0, count = 0;
    bool found = false;
    struct bag_range b;
    if (p == NULL || p->entries == 0 || p->bytes.len == 0 || p->last_ref < p->first_ref)
        return tsb_err(TSB_EINVAL, "store: no planned bag to commit");
    if ((r = tx_begin_write(s, "committing a sealed bag")) != 0)
        return r;
    /* Between the plan's snapshot and now, appends only added Refs above every range; what can
     * have changed is another seal (its SequenceNumber) or a recovered bag in the range. */
    if ((r = next_seq(s, 1, &seq)) != 0)
        goto out;
    if (seq != p->seq && seq != 1) {
        r = tsb_err(TSB_ECONFLICT,
                    "bag %lld was planned, but the archive's next SequenceNumber is now %lld",
                    (long long)p->seq, (long long)seq);
        goto out;
    }
    if ((r = bag_at(s, p->last_ref, &b)) != 0 ||
        (r = query_ints(s, ST_RANGE_COUNT, 2, p->first_ref, p->last_ref, &count, 1, &found,
                        "counting a planned bag's entries")) != 0)
        goto out;
    if (b.seq != 0 && b.last >= p->first_ref) {
        r = tsb_err(TSB_ECONFLICT,
                    "Refs %lld..%lld were planned for bag %lld, bag %lld now holds "
                    "Refs %lld..%lld",
                    (long long)p->first_ref, (long long)p->last_ref, (long long)p->seq,
                    (long long)b.seq, (long long)b.first, (long long)b.last);
        goto out;
    }
    if (p->linked) {
        uint8_t now_prev[TSB_SHA256_LEN];
        bool have = false;
        if ((r = chain_prev(s, p->seq, now_prev, &have)) != 0)
            goto out;
        if (!have || memcmp(now_prev, p->prev, TSB_SHA256_LEN) != 0) {
            r = tsb_err(TSB_ECONFLICT,
                        "bag %lld was planned chained to a bag %lld the archive no longer holds",
                        (long long)p->seq, (long long)p->seq - 1);
            goto out;
        }
    }
    if (count != (int64_t)p->entries) {
        r = tsb_err(TSB_ECONFLICT,
                    "bag %lld was planned with %zu entries in Refs %lld..%lld, the range now "
                    "holds %lld",
                    (long long)p->seq, p->entries, (long long)p->first_ref, (long long)p->last_ref,
                    (long long)count);
        goto out;
    }
    if ((r = insert_bag(s, p, now_ms)) != 0)
        goto out;
    r = tx_commit(s, true, "committing a sealed bag");
out:
    if (r != 0)
        tx_rollback(s);
    return r;
}

int tsb_store_seal(struct tsb_store *s, const struct tsb_seal_opts *o, struct tsb_seal_result *res)
{
    int r = TSB_EINTERNAL;
    size_t max = 0, max_bytes = 0;
    int64_t seq = 0;
    struct tsb_seal_plan p = {0};
    struct tsb_seal_result t = {0};
    if ((r = check_seal_opts(o, &max, &max_bytes)) != 0)
        return r;
    /* every bag of the call in one write transaction: all of them or none */
    if ((r = tx_begin_write(s, "sealing staged entries")) != 0)
        return r;
    uint8_t prev[TSB_SHA256_LEN];
    bool have_prev = false;
    if ((r = next_seq(s, o->first_seq, &seq)) != 0 ||
        (o->chain && (r = chain_prev(s, seq, prev, &have_prev)) != 0))
        goto out;
    for (;;) {
        if ((r = plan_bag(s, o, max, max_bytes, seq, have_prev ? prev : NULL, &p)) != 0)
            goto out;
        if (p.entries == 0)
            break;
        memcpy(prev, p.digest, TSB_SHA256_LEN); /* the next bag of this seal links to this one */
        have_prev = o->chain;
        if ((r = insert_bag(s, &p, o->now_ms)) != 0)
            goto out;
        if (t.bags == 0)
            t.first_seq = seq;
        t.bags++;
        t.entries += p.entries;
        seq++;
        if (!p.more)
            break; /* the bag took every staged entry */
    }
    if (t.bags == 0) {
        tx_rollback(s); /* nothing staged: no bag, no SequenceNumber */
        r = 0;
    } else if ((r = tx_commit(s, true, "committing sealed bags")) != 0) {
        goto out;
    }
    if (res != NULL)
        *res = t;
out:
    if (r != 0)
        tx_rollback(s);
    tsb_seal_plan_cleanup(&p);
    return r;
}

/* ---- send attempts and stamps ------------------------------------------------------------- */

/* Reads bag seq's state, attempt count and RequestID inside the current transaction. */
static int bag_state(struct tsb_store *s, int64_t seq, enum tsb_bag_state *state, int64_t *attempts,
                     char **request_id)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_BAG_STATE, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r = state_parse(sqlite3_column_text(st, 0), state);
        *attempts = sqlite3_column_int64(st, 1);
        if (r == 0 && request_id != NULL)
            *request_id = col_strdup(st, 2);
    } else if (rc == SQLITE_DONE) {
        r = tsb_err(TSB_ENOTFOUND, "no bag with SequenceNumber %lld", (long long)seq);
    } else {
        r = fail(s, rc, true, "reading a bag's state");
    }
    stmt_done(st);
    return r;
}

static int add_attempt(struct tsb_store *s, int64_t seq, int64_t attempt, const char *request_id,
                       const char *outcome, const char *reason, const char *finding,
                       const char *failure_key, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_ATTEMPT_INSERT, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, attempt);
    sqlite3_bind_text(st, 3, request_id ? request_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, outcome, -1, SQLITE_STATIC);
    bind_text_or_null(st, 5, reason);
    sqlite3_bind_int64(st, 6, now_ms);
    bind_text_or_null(st, 7, finding);
    bind_text_or_null(st, 8, failure_key);
    return step_write(s, st, "recording a send attempt");
}

int tsb_store_bag_retry_key(struct tsb_store *s, int64_t seq, char *key, size_t key_len)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_ATTEMPT_RETRY_KEY, &st);
    if (r != 0)
        return r;
    key[0] = '\0';
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *outcome = sqlite3_column_text(st, 0);
        const unsigned char *k = sqlite3_column_text(st, 1);
        if (outcome != NULL && strcmp((const char *)outcome, "retry") == 0 && k != NULL)
            snprintf(key, key_len, "%s", (const char *)k);
    } else if (rc != SQLITE_DONE) {
        r = fail(s, rc, false, "reading a bag's last attempt");
    }
    stmt_done(st);
    return r;
}

int tsb_store_bag_mark_sent(struct tsb_store *s, int64_t seq, const char *request_id,
                            const char *profile, int64_t now_ms)
{
    int r = TSB_EINTERNAL;
    enum tsb_bag_state state;
    int64_t attempts = 0;
    sqlite3_stmt *st = NULL;
    if (request_id == NULL || *request_id == '\0' || profile == NULL || *profile == '\0')
        return tsb_err(TSB_EINVAL, "store: marking bag %lld sent needs a RequestID and a profile",
                       (long long)seq);
    if ((r = tx_begin_write(s, "marking a bag sent")) != 0)
        return r;
    if ((r = bag_state(s, seq, &state, &attempts, NULL)) != 0)
        goto out;
    if (state != TSB_BAG_SEALED && state != TSB_BAG_SENT && state != TSB_BAG_FAILED) {
        r = tsb_err(TSB_ESTATE, "bag %lld is %s and cannot be sent again", (long long)seq,
                    tsb_bag_state_name(state));
        goto out;
    }
    if ((r = stmt(s, ST_BAG_MARK_SENT, &st)) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, profile, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    if ((r = step_write(s, st, "marking a bag sent")) != 0)
        goto out;
    r = tx_commit(s, true, "committing a bag's send");
out:
    if (r != 0)
        tx_rollback(s);
    return r;
}

int tsb_store_bag_record_failure(struct tsb_store *s, int64_t seq, const char *reason,
                                 bool definitive, int64_t now_ms)
{
    return tsb_store_bag_record_failure_finding(s, seq, reason, NULL, NULL, definitive, now_ms);
}

int tsb_store_bag_record_failure_finding(struct tsb_store *s, int64_t seq, const char *reason,
                                         const char *finding, const char *failure_key,
                                         bool definitive, int64_t now_ms)
{
    int r = TSB_EINTERNAL;
    enum tsb_bag_state state;
    int64_t attempts = 0;
    char *request_id = NULL;
    sqlite3_stmt *st = NULL;
    if (reason == NULL || *reason == '\0')
        return tsb_err(TSB_EINVAL, "store: a failure of bag %lld needs a reason", (long long)seq);
    if ((r = tx_begin_write(s, "recording a send failure")) != 0)
        return r;
    if ((r = bag_state(s, seq, &state, &attempts, &request_id)) != 0)
        goto out;
    if (state != TSB_BAG_SENT) {
        r = tsb_err(TSB_ESTATE, "bag %lld is %s, not sent: no attempt can have failed",
                    (long long)seq, tsb_bag_state_name(state));
        goto out;
    }
    if ((r = stmt(s, ST_BAG_FAILURE, &st)) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, definitive ? "failed" : "sent", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    if ((r = step_write(s, st, "recording a send failure")) != 0 ||
        (r = add_attempt(s, seq, attempts, request_id, definitive ? "failed" : "retry", reason,
                         finding, failure_key, now_ms)) != 0)
        goto out;
    r = tx_commit(s, true, "committing a send failure");
out:
    if (r != 0)
        tx_rollback(s);
    free(request_id);
    return r;
}

static bool decimal(const char *p)
{
    if (p == NULL || *p == '\0')
        return false;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

int tsb_store_bag_record_stamp(struct tsb_store *s, int64_t seq, const struct tsb_stamp *sp,
                               int64_t now_ms)
{
    int r = TSB_EINTERNAL;
    enum tsb_bag_state state;
    int64_t attempts = 0;
    char *request_id = NULL;
    sqlite3_stmt *st = NULL;
    if (sp == NULL || sp->sign_response == NULL || sp->sign_response_len == 0 ||
        sp->token == NULL || sp->token_len == 0 || sp->sign_response_len > INT_MAX ||
        sp->token_len > INT_MAX || !decimal(sp->tsa_serial))
        return tsb_err(TSB_EINVAL,
                       "store: stamp of bag %lld lacks a SignResponse, a token or a "
                       "decimal TSA serial",
                       (long long)seq);
    if ((r = tx_begin_write(s, "recording a stamp")) != 0)
        return r;
    if ((r = bag_state(s, seq, &state, &attempts, &request_id)) != 0)
        goto out;
    if (state != TSB_BAG_SENT) {
        r = tsb_err(TSB_ESTATE, "bag %lld is %s, not sent: a stamp cannot be recorded",
                    (long long)seq, tsb_bag_state_name(state));
        goto out;
    }
    if ((r = stmt(s, ST_BAG_STAMP, &st)) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_blob(st, 2, sp->sign_response, (int)sp->sign_response_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, sp->token, (int)sp->token_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, sp->tsa_serial, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, sp->gen_time_ms);
    sqlite3_bind_int64(st, 6, now_ms);
    if ((r = step_write(s, st, "recording a stamp")) != 0 ||
        (r = add_attempt(s, seq, attempts, request_id, "stamped", NULL, sp->finding, NULL,
                         now_ms)) != 0)
        goto out;
    r = tx_commit(s, true, "committing a stamp");
out:
    if (r != 0)
        tx_rollback(s);
    free(request_id);
    return r;
}

/* ---- status ------------------------------------------------------------------------------- */

static int stat_query(struct tsb_store *s, enum stmt_id id, int64_t *a, int64_t *b)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, id, &st);
    if (r != 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *a = col_int_or_zero(st, 0);
        if (b != NULL)
            *b = col_int_or_zero(st, 1);
    } else {
        r = fail(s, rc, false, "reading archive statistics");
    }
    stmt_done(st);
    return r;
}

int tsb_store_stats(struct tsb_store *s, struct tsb_store_stats *out)
{
    int r = TSB_EINTERNAL;
    struct tsb_store_stats t = {0};
    int64_t v[8], hv[3], first = 0, limit = 0, ms = 0;
    bool found = false;
    /* one read transaction: every figure comes from the same snapshot (the caller's, if it
     * holds one: tsb_store_snapshot_begin). Counters and index probes only: no count(*). */
    bool own = sqlite3_get_autocommit(s->db) != 0;
    if (own && (r = exec_cached(s, ST_BEGIN_READ, false, "reading archive statistics")) != 0)
        return r;
    if ((r = query_ints(s, ST_COUNTERS, 0, 0, 0, v, 8, &found, "reading archive counters")) != 0)
        goto out;
    if (!found) {
        r = tsb_err(TSB_ESTORE, "archive %s has no counters row (schema 0009)", s->path);
        goto out;
    }
    t.entries = v[0];
    t.staged = v[0] - v[1];
    t.sealed_ref = v[2];
    t.bags[TSB_BAG_SEALED] = v[3];
    t.bags[TSB_BAG_SENT] = v[4];
    t.bags[TSB_BAG_STAMPED] = v[5];
    t.bags[TSB_BAG_FAILED] = v[6];
    t.bags[TSB_BAG_RECOVERED] = v[7];
    if ((r = stat_query(s, ST_STAT_LAST, &t.last_ref, &t.last_seq)) != 0 ||
        (r = stat_query(s, ST_STAT_LAST_STAMPED, &t.last_stamped_ms, NULL)) != 0 ||
        (r = hash_state(s, hv)) != 0)
        goto out;
    t.hashed_ref = hv[0];
    t.hash_lag = hv[2] > hv[0] ? hv[2] - hv[0] : 0;
    /* the oldest entry not in a stamped bag: the first of the lowest unstamped bag's range, or
     * the first staged one, whichever comes first in Ref order (Refs follow arrival) */
    if ((r = query_ints(s, ST_STAT_OLDEST_BAG, 0, 0, 0, &first, 1, &found, "reading bags")) != 0 ||
        (first == 0 && (r = staged_start(s, &first, &limit)) != 0))
        goto out;
    if (first > 0 && (r = query_ints(s, ST_STAT_RECEIVED, 1, first, 0, &ms, 1, &found,
                                     "reading the oldest unstamped entry")) != 0)
        goto out;
    if (first > 0 && found)
        t.oldest_unstamped_ms = ms;
    if (own && (r = tx_commit(s, false, "reading archive statistics")) != 0)
        goto out;
    *out = t;
out:
    if (r != 0 && own)
        tx_rollback(s);
    return r;
}

/* ---- reconciliation (schema 0002) --------------------------------------------------------- */

static void bind_blob_or_null(sqlite3_stmt *st, int col, const uint8_t *p, size_t n)
{
    if (p == NULL)
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_blob(st, col, n ? (const void *)p : "", (int)n, SQLITE_STATIC);
}

/* Compares an existing entry row with what the recovered bag says; 0 when identical. A row that
 * survived the loss of its bag is below counters.sealed_ref and in no bag (the range was checked
 * free); a staged one (above it) is the archive's own, still to be sealed here. */
static int recovered_entry_matches(struct tsb_store *s, int64_t sealed_ref,
                                   const struct tsb_bag_entry *e, bool *exists)
{
    struct tsb_entry_rec cur;
    int r = tsb_store_entry_by_ref(s, e->ref, &cur);
    *exists = r == 0;
    if (r == TSB_ENOTFOUND) {
        tsb_err_clear();
        return 0;
    }
    if (r != 0)
        return r;
    if (memcmp(cur.digest, e->digest, TSB_SHA256_LEN) != 0)
        r = tsb_err(TSB_ECONFLICT, "Ref %lld exists locally with another hash", (long long)e->ref);
    else if (cur.ref > sealed_ref)
        r = tsb_err(TSB_ECONFLICT, "Ref %lld exists locally, staged for a local seal",
                    (long long)e->ref);
    tsb_entry_rec_cleanup(&cur);
    return r;
}

/* The recovered bag's bytes, inside its transaction, before its row. Its parts may have survived
 * the loss of its bags row (each is a b-tree of its own): kept when they hold the same bytes, a
 * conflict otherwise (nothing local is overwritten). */
static int insert_recovered_bytes(struct tsb_store *s, const struct tsb_recovered_bag *rb)
{
    enum parts_state ps = PARTS_NONE;
    int r = parts_compare(s, rb->seq, rb->bytes, rb->bytes_len, &ps);
    if (r != 0 || ps == PARTS_SAME)
        return r;
    if (ps == PARTS_NONE)
        return ensure_parts(s, rb->seq, rb->bytes, rb->bytes_len);
    return tsb_err(TSB_ECONFLICT,
                   "bag %lld lost its archive row but its bytes survived locally (bag_bytes), and "
                   "they differ from the recovered bag's; keep the archive as it is and compare "
                   "both copies (docs/reconcile.md, \"Archive damage\")",
                   (long long)rb->seq);
}

int tsb_store_bag_insert_recovered(struct tsb_store *s, const struct tsb_recovered_bag *rb,
                                   int64_t now_ms)
{
    int r = TSB_EINTERNAL;
    sqlite3_stmt *st = NULL;
    uint8_t digest[TSB_SHA256_LEN];
    int64_t first = INT64_MAX, last = INT64_MIN, counters[8], inserted = 0, in_range = 0;
    bool found = false;
    struct bag_range b;
    if (rb == NULL || rb->seq < 1 || rb->bytes == NULL || rb->bytes_len == 0 ||
        rb->bytes_len > INT_MAX || rb->entries == NULL || rb->n == 0 || rb->token == NULL ||
        rb->token_len == 0 || rb->token_len > INT_MAX || rb->sign_response_len > INT_MAX ||
        !decimal(rb->tsa_serial))
        return tsb_err(TSB_EINVAL, "store: a recovered bag needs seq >= 1, bytes, entries, a "
                                   "token and a decimal TSA serial");
    for (size_t i = 0; i < rb->n; i++) {
        if (rb->entries[i].ref < 1)
            return tsb_err(TSB_EINVAL, "store: recovered bag %lld has Ref %lld", (long long)rb->seq,
                           (long long)rb->entries[i].ref);
        if (rb->entries[i].ref > TSB_HASH_REF_MAX)
            return tsb_err(TSB_ECONFLICT,
                           "recovered bag %lld has Ref %lld, above %lld, the highest Ref the "
                           "archive's digest index can hold: no bag tsbag sealed has one",
                           (long long)rb->seq, (long long)rb->entries[i].ref,
                           (long long)TSB_HASH_REF_MAX);
        /* a bag is a Ref range in Ref order: positions are derived from it (schema 0009) */
        if (i > 0 && rb->entries[i].ref <= rb->entries[i - 1].ref)
            return tsb_err(TSB_ECONFLICT,
                           "recovered bag %lld lists Ref %lld after Ref %lld: not in increasing "
                           "Ref order, as every bag tsbag seals is",
                           (long long)rb->seq, (long long)rb->entries[i].ref,
                           (long long)rb->entries[i - 1].ref);
        first = rb->entries[i].ref < first ? rb->entries[i].ref : first;
        last = rb->entries[i].ref > last ? rb->entries[i].ref : last;
    }
    tsb_sha256(rb->bytes, rb->bytes_len, digest);
    if ((r = tx_begin_write(s, "inserting a recovered bag")) != 0)
        return r;
    if ((r = stmt(s, ST_BAG_DIGEST, &st)) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, rb->seq);
    int rc = sqlite3_step(st);
    stmt_done(st);
    st = NULL;
    if (rc == SQLITE_ROW) {
        r = tsb_err(TSB_ECONFLICT, "bag %lld already exists locally", (long long)rb->seq);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = fail(s, rc, true, "looking up a bag");
        goto out;
    }
    if ((r = bag_at(s, last, &b)) != 0 ||
        (r = query_ints(s, ST_COUNTERS, 0, 0, 0, counters, 8, &found, "reading counters")) != 0)
        goto out;
    if (b.seq != 0 && b.last >= first) {
        r = tsb_err(TSB_ECONFLICT,
                    "recovered bag %lld holds Refs %lld..%lld, local bag %lld holds "
                    "Refs %lld..%lld",
                    (long long)rb->seq, (long long)first, (long long)last, (long long)b.seq,
                    (long long)b.first, (long long)b.last);
        goto out;
    }
    if ((r = insert_recovered_bytes(s, rb)) != 0 ||
        (r = stmt(s, ST_BAG_INSERT_RECOVERED, &st)) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, rb->seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)rb->n);
    sqlite3_bind_int64(st, 3, first);
    sqlite3_bind_int64(st, 4, last);
    sqlite3_bind_int64(st, 5, now_ms);
    sqlite3_bind_blob(st, 6, digest, TSB_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, rb->token, (int)rb->token_len, SQLITE_STATIC);
    bind_blob_or_null(st, 8, rb->sign_response, rb->sign_response_len);
    sqlite3_bind_text(st, 9, rb->tsa_serial, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, rb->gen_time_ms);
    if ((r = step_write(s, st, "inserting a recovered bag")) != 0)
        goto out;
    st = NULL;
    for (size_t i = 0; i < rb->n; i++) {
        bool exists = false;
        if ((r = recovered_entry_matches(s, counters[2], &rb->entries[i], &exists)) != 0)
            goto out;
        if (exists)
            continue; /* the same row survived: keep it as it is */
        inserted++;
        if ((r = stmt(s, ST_ENTRY_INSERT_RECOVERED, &st)) != 0)
            goto out;
        sqlite3_bind_int64(st, 1, rb->entries[i].ref);
        sqlite3_bind_blob(st, 2, rb->entries[i].digest, TSB_SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, rb->gen_time_ms);
        if ((r = step_write(s, st, "inserting a recovered journal entry")) != 0 ||
            (r = stmt(s, ST_HASH_INSERT, &st)) != 0)
            goto out;
        /* its chunk may be indexed already: the digest index takes it now (schema 0012) */
        sqlite3_bind_int64(st, 1, tsb_hash_key(rb->entries[i].ref, rb->entries[i].digest));
        if ((r = step_write(s, st, "indexing a recovered journal entry")) != 0)
            goto out;
        st = NULL;
    }
    /* the range holds exactly the bag's entries, or positions derived from it would be wrong */
    if ((r = query_ints(s, ST_RANGE_COUNT, 2, first, last, &in_range, 1, &found,
                        "counting a recovered bag's entries")) != 0 ||
        (r = count_entries(s, inserted)) != 0)
        goto out;
    if (in_range != (int64_t)rb->n) {
        r = tsb_err(TSB_ECONFLICT,
                    "recovered bag %lld lists %zu entries in Refs %lld..%lld, the archive holds "
                    "%lld entries there",
                    (long long)rb->seq, rb->n, (long long)first, (long long)last,
                    (long long)in_range);
        goto out;
    }
    r = tx_commit(s, true, "committing a recovered bag");
out:
    stmt_done(st);
    if (r != 0)
        tx_rollback(s);
    return r;
}

int tsb_store_conflict_add(struct tsb_store *s, const struct tsb_conflict *c, int64_t now_ms,
                           int64_t *id)
{
    int r = TSB_EINTERNAL;
    sqlite3_stmt *st = NULL;
    if (c == NULL || c->kind == NULL || c->detail == NULL || c->remote_digest == NULL ||
        c->remote_bytes == NULL || c->remote_bytes_len == 0 || c->remote_bytes_len > INT_MAX ||
        c->remote_token_len > INT_MAX || c->remote_sign_response_len > INT_MAX)
        return tsb_err(TSB_EINVAL, "store: a conflict needs a kind, a detail and remote bytes");
    if ((r = tx_begin_write(s, "recording a bag conflict")) != 0)
        return r;
    if ((r = stmt(s, ST_CONFLICT_INSERT, &st)) != 0)
        goto out;
    if (c->run_id > 0)
        sqlite3_bind_int64(st, 1, c->run_id);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_int64(st, 2, c->seq);
    sqlite3_bind_text(st, 3, c->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->detail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_ms);
    bind_text_or_null(st, 6, c->tsa_serial);
    sqlite3_bind_int64(st, 7, c->gen_time_ms);
    bind_blob_or_null(st, 8, c->local_digest, TSB_SHA256_LEN);
    sqlite3_bind_blob(st, 9, c->remote_digest, TSB_SHA256_LEN, SQLITE_STATIC);
    bind_blob_or_null(st, 10, c->remote_token, c->remote_token_len);
    bind_blob_or_null(st, 11, c->remote_sign_response, c->remote_sign_response_len);
    sqlite3_bind_blob(st, 12, c->remote_bytes, (int)c->remote_bytes_len, SQLITE_STATIC);
    if ((r = step_write(s, st, "recording a bag conflict")) != 0)
        goto out;
    st = NULL;
    if (id != NULL)
        *id = sqlite3_last_insert_rowid(s->db);
    r = tx_commit(s, true, "committing a bag conflict");
out:
    stmt_done(st);
    if (r != 0)
        tx_rollback(s);
    return r;
}

/* Runs a one-row, one-column query bound with at most one integer. TSB_ENOTFOUND when the value
 * is NULL (an aggregate over no rows). */
static int query_int(struct tsb_store *s, enum stmt_id id, const int64_t *arg, int64_t *out,
                     const char *what)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, id, &st);
    if (r != 0)
        return r;
    if (arg != NULL)
        sqlite3_bind_int64(st, 1, *arg);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *out = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_ROW)
        r = tsb_err(TSB_ENOTFOUND, "%s: none recorded", what);
    else
        r = fail(s, rc, false, what);
    stmt_done(st);
    return r;
}

int tsb_store_conflict_count(struct tsb_store *s, int64_t seq, int64_t *count)
{
    return query_int(s, ST_CONFLICT_COUNT, &seq, count, "counting bag conflicts");
}

int tsb_store_run_add(struct tsb_store *s, const struct tsb_run_rec *run, int64_t *id)
{
    int r = TSB_EINTERNAL;
    sqlite3_stmt *st = NULL;
    if (run == NULL || run->result == NULL || run->report == NULL || run->exit_code < 0 ||
        run->exit_code > 3)
        return tsb_err(TSB_EINVAL, "store: a reconciliation run needs a result and a report");
    if ((r = tx_begin_write(s, "recording a reconciliation run")) != 0)
        return r;
    if ((r = stmt(s, ST_RUN_INSERT, &st)) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, run->started_ms);
    sqlite3_bind_int64(st, 2, run->finished_ms);
    sqlite3_bind_text(st, 3, run->local_only ? "local-only" : "consult", -1, SQLITE_STATIC);
    if (run->local_only) {
        sqlite3_bind_null(st, 4);
        sqlite3_bind_null(st, 5);
    } else {
        sqlite3_bind_int64(st, 4, run->period_from_ms);
        sqlite3_bind_int64(st, 5, run->period_to_ms);
    }
    if (run->done_to_ms != 0 && !run->local_only)
        sqlite3_bind_int64(st, 6, run->done_to_ms);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_text(st, 7, run->result, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, run->exit_code);
    sqlite3_bind_int64(st, 9, run->bags_local);
    sqlite3_bind_int64(st, 10, run->bags_remote_missing);
    sqlite3_bind_int64(st, 11, run->recovered);
    sqlite3_bind_int64(st, 12, run->missing_at_ehealth);
    sqlite3_bind_int64(st, 13, run->conflicts);
    sqlite3_bind_int64(st, 14, run->errors);
    sqlite3_bind_int64(st, 15, run->violations);
    sqlite3_bind_text(st, 16, run->report, -1, SQLITE_STATIC);
    if ((r = step_write(s, st, "recording a reconciliation run")) != 0)
        goto out;
    st = NULL;
    if (id != NULL)
        *id = sqlite3_last_insert_rowid(s->db);
    r = tx_commit(s, true, "committing a reconciliation run");
out:
    stmt_done(st);
    if (r != 0)
        tx_rollback(s);
    return r;
}

int tsb_store_run_last_done(struct tsb_store *s, int64_t *done_to_ms)
{
    return query_int(s, ST_RUN_LAST_DONE, NULL, done_to_ms, "completed reconciliation periods");
}

int tsb_store_run_count(struct tsb_store *s, int64_t *count)
{
    return query_int(s, ST_RUN_COUNT, NULL, count, "counting reconciliation runs");
}

int tsb_store_run_latest(struct tsb_store *s, int64_t *finished_ms, char *result, size_t n)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_RUN_LATEST, &st);
    if (r != 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *finished_ms = sqlite3_column_int64(st, 0);
        snprintf(result, n, "%s", (const char *)sqlite3_column_text(st, 1));
    } else if (rc == SQLITE_DONE) {
        r = tsb_err(TSB_ENOTFOUND, "no reconciliation run recorded");
    } else {
        r = fail(s, rc, false, "reading the latest reconciliation run");
    }
    stmt_done(st);
    return r;
}

int tsb_store_oldest_gen_time(struct tsb_store *s, int64_t *ms)
{
    return query_int(s, ST_OLDEST_GEN_TIME, NULL, ms, "stamped bags");
}

/* ---- snapshots, integrity, checkpoints ---------------------------------------------------- */

int tsb_store_snapshot_begin(struct tsb_store *s)
{
    int64_t n = 0;
    if (!sqlite3_get_autocommit(s->db))
        return tsb_err(TSB_ESTATE, "store: a transaction is already open on archive %s", s->path);
    int r = exec_cached(s, ST_BEGIN_READ, false, "starting a read snapshot");
    /* a deferred BEGIN takes its snapshot at the first read: take it now */
    if (r == 0 && (r = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &n)) != 0)
        tx_rollback(s);
    return r;
}

void tsb_store_snapshot_end(struct tsb_store *s)
{
    tx_rollback(s);
}

/* Records one problem: a line of integrity_check, or the error that stopped it. */
static void integrity_problem(tsb_integrity_cb cb, void *arg, int64_t *n, const char *msg)
{
    (*n)++;
    if (cb != NULL)
        cb(arg, msg);
}

int tsb_store_integrity(struct tsb_store *s, bool quick, tsb_integrity_cb cb, void *arg,
                        int64_t *problems)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    int r = 0;
    char sql[64], msg[600];
    snprintf(sql, sizeof(sql), "PRAGMA %s(%d)", quick ? "quick_check" : "integrity_check",
             INTEGRITY_MAX);
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW)
            break;
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (t != NULL && strcmp((const char *)t, "ok") != 0)
            integrity_problem(cb, arg, &n, (const char *)t);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE) {
        int prim = rc & 0xff;
        if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) {
            /* so damaged that SQLite could not even finish looking */
            snprintf(msg, sizeof(msg), "%s stopped: %s", quick ? "quick_check" : "integrity_check",
                     sqlite3_errmsg(s->db));
            integrity_problem(cb, arg, &n, msg);
        } else if (prim == SQLITE_ERROR) {
            /* the check is a fixed, valid statement: a plain error preparing or running it comes
             * from the schema text stored in the file (a flipped byte in a CHECK or trigger,
             * "unknown function"), which no statement can get past: damage, not a failed run */
            snprintf(msg, sizeof(msg),
                     "%s cannot run: the schema stored in the file does not "
                     "parse: %s",
                     quick ? "quick_check" : "integrity_check", sqlite3_errmsg(s->db));
            integrity_problem(cb, arg, &n, msg);
        } else {
            r = fail(s, rc, false, quick ? "PRAGMA quick_check" : "PRAGMA integrity_check");
        }
    }
    sqlite3_finalize(st);
    if (r == 0) {
        if (n > 0)
            note_damage(s, "SQLite's integrity check reports damage in the archive file");
        *problems = n;
    }
    return r;
}

/* One wal_checkpoint_v2 in mode; *log and *done as SQLite reports them (-1 when unknown). A busy
 * checkpoint (readers, or another checkpointer) copied what it could: TSB_EBUSY. A failed copy
 * or fsync of the database file poisons the connection: TSB_EDURABLE. */
static int checkpoint(struct tsb_store *s, int mode, int wait_ms, int *log, int *done)
{
    *log = *done = -1;
    int r = write_allowed(s, "checkpointing the WAL");
    if (r != 0)
        return r;
    /* RESTART and TRUNCATE wait (busy handler) for readers of older snapshots: bound that wait,
     * so that a long reader costs wait_ms and a retry later, never the busy timeout */
    sqlite3_busy_timeout(s->db, wait_ms);
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, mode, log, done);
    sqlite3_busy_timeout(s->db, s->busy_ms);
    int prim = rc & 0xff;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        return tsb_err(TSB_EBUSY,
                       "checkpointing the WAL of archive %s: readers hold it (%d of %d "
                       "frames copied)",
                       s->path, *done, *log);
    if (rc != SQLITE_OK)
        return fail(s, rc, true, "checkpointing the WAL");
    return 0;
}

int tsb_store_checkpoint(struct tsb_store *s, int wait_ms, int64_t *frames_left)
{
    int log, done;
    int r = checkpoint(s, SQLITE_CHECKPOINT_TRUNCATE, wait_ms, &log, &done);
    if (r == TSB_EBUSY && log > 0)
        s->wal_frames = log;
    else if (r == 0)
        s->wal_frames = 0;
    if (frames_left != NULL && (r == 0 || r == TSB_EBUSY))
        *frames_left = s->wal_frames;
    return r;
}

int tsb_store_checkpoint_passive(struct tsb_store *s, int64_t *frames, int64_t *copied)
{
    int log, done;
    int r = checkpoint(s, SQLITE_CHECKPOINT_PASSIVE, 0, &log, &done);
    if (r == TSB_EBUSY)
        r = 0; /* PASSIVE never waits: a reader or another checkpointer only leaves frames over */
    if (r == 0) {
        *frames = log > 0 ? log : 0;
        *copied = done > 0 ? done : 0;
    }
    return r;
}

void tsb_store_poison(struct tsb_store *s)
{
    s->poisoned = true;
}

int64_t tsb_store_wal_frames(const struct tsb_store *s)
{
    return s->wal_frames;
}

int64_t tsb_store_commits(const struct tsb_store *s)
{
    return s->commits;
}

int tsb_store_wal_size(const struct tsb_store *s, int64_t *bytes)
{
    struct stat sb;
    size_t n = strlen(s->path) + sizeof("-wal");
    char *wal = tsb_malloc(n);
    int r = 0;
    snprintf(wal, n, "%s-wal", s->path);
    if (stat(wal, &sb) == 0)
        *bytes = (int64_t)sb.st_size;
    else if (errno == ENOENT)
        *bytes = 0; /* no WAL (closed cleanly by the last connection) */
    else
        r = tsb_err(TSB_EIO, "%s: %s", wal, strerror(errno));
    free(wal);
    return r;
}

int tsb_store_run_last(struct tsb_store *s, struct tsb_run_last *out)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_RUN_LAST, &st);
    if (r != 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct tsb_run_last t = {.id = sqlite3_column_int64(st, 0),
                                 .finished_ms = sqlite3_column_int64(st, 1)};
        const unsigned char *res = sqlite3_column_text(st, 2);
        snprintf(t.result, sizeof(t.result), "%.15s", res ? (const char *)res : "");
        *out = t;
    } else if (rc == SQLITE_DONE) {
        r = tsb_err(TSB_ENOTFOUND, "no reconciliation run recorded");
    } else {
        r = fail(s, rc, false, "reading the last reconciliation run");
    }
    stmt_done(st);
    return r;
}

/* ---- online backup -------------------------------------------------------------------------
 * sqlite3_backup_* copies pages, not rows: faster than VACUUM INTO (no index rebuild) on a large
 * archive, and it can report progress. Its catch is that a write by another process between two
 * steps restarts the copy from the first page, which under tsbagd's steady ingest could never
 * finish; so one read transaction is opened on the source first and held across every step. In
 * WAL mode that reader never blocks tsbagd's writer (it only keeps checkpoints from passing its
 * snapshot, so the WAL grows while the copy runs), and every step reads the same snapshot. */

#define BACKUP_STEP_PAGES 1024

static int fsync_path(const char *path, bool dir)
{
    int r = 0;
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return tsb_err(TSB_EIO, "backup: cannot open %s: %s", path, strerror(errno));
    if (fsync(fd) != 0)
        r = tsb_err(TSB_EIO, "backup: fsync of %s failed: %s", path, strerror(errno));
    if (close(fd) != 0 && r == 0)
        r = tsb_err(TSB_EIO, "backup: closing %s failed: %s", path, strerror(errno));
    return r;
}

static int dest_fail(sqlite3 *d, int rc, const char *tmp, const char *what)
{
    return tsb_err(TSB_ESTORE, "backup: %s %s: %s", what, tmp,
                   d != NULL ? sqlite3_errmsg(d) : sqlite3_errstr(rc));
}

/* Copies the snapshot of s's open read transaction into the empty database file tmp and makes it
 * a single file (journal_mode DELETE: the copy carries the source's WAL flag otherwise). */
static int backup_copy(struct tsb_store *s, const char *tmp, const struct tsb_backup_opts *o)
{
    int r = TSB_EINTERNAL;
    sqlite3 *d = NULL;
    sqlite3_backup *b = NULL;
    int rc = sqlite3_open_v2(tmp, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        r = dest_fail(d, rc, tmp, "cannot open");
        goto out;
    }
    sqlite3_extended_result_codes(d, 1);
    if ((b = sqlite3_backup_init(d, "main", s->db, "main")) == NULL) {
        r = dest_fail(d, SQLITE_ERROR, tmp, "cannot start copying into");
        goto out;
    }
    int step = o->step_pages > 0 ? o->step_pages : BACKUP_STEP_PAGES;
    do {
        rc = sqlite3_backup_step(b, step);
        if ((rc == SQLITE_OK || rc == SQLITE_DONE) && o->on_step != NULL)
            o->on_step(o->arg, sqlite3_backup_remaining(b), sqlite3_backup_pagecount(b));
    } while (rc == SQLITE_OK);
    int frc = sqlite3_backup_finish(b);
    b = NULL;
    if (rc != SQLITE_DONE || frc != SQLITE_OK) {
        r = tsb_err(TSB_ESTORE, "backup: copying archive %s into %s failed: %s", s->path, tmp,
                    rc != SQLITE_DONE ? sqlite3_errstr(rc) : sqlite3_errmsg(d));
        goto out;
    }
    rc = sqlite3_exec(d, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        r = dest_fail(d, rc, tmp, "cannot leave WAL mode in");
        goto out;
    }
    rc = sqlite3_close(d);
    d = NULL;
    if (rc != SQLITE_OK) {
        r = dest_fail(NULL, rc, tmp, "cannot close");
        goto out;
    }
    r = 0;
out:
    if (b != NULL)
        sqlite3_backup_finish(b);
    sqlite3_close(d);
    return r;
}

/* Moves the finished copy into place: without force, never over a file that appeared meanwhile
 * (renameat2 RENAME_NOREPLACE, or link + unlink where the file system lacks it). */
static int backup_publish(const char *tmp, const char *dest, bool force)
{
    if (force) {
        if (rename(tmp, dest) != 0)
            return tsb_err(TSB_EIO, "backup: cannot rename %s to %s: %s", tmp, dest,
                           strerror(errno));
        return 0;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOSYS) {
        if (link(tmp, dest) == 0)
            return unlink(tmp) == 0
                       ? 0
                       : tsb_err(TSB_EIO, "backup: cannot remove %s: %s", tmp, strerror(errno));
    }
    if (errno == EEXIST)
        return tsb_err(TSB_ESTATE, "backup: %s already exists", dest);
    return tsb_err(TSB_EIO, "backup: cannot rename %s to %s: %s", tmp, dest, strerror(errno));
}

int tsb_store_backup(struct tsb_store *s, const char *dest, const struct tsb_backup_opts *o)
{
    int r = TSB_EINTERNAL;
    struct tsb_backup_opts def = {0};
    char *tmp = NULL, *dir = NULL;
    bool in_tx = false;
    struct stat sb;
    if (o == NULL)
        o = &def;
    if (s == NULL || dest == NULL || *dest == '\0')
        return tsb_err(TSB_EINVAL, "backup: no destination");
    if (!sqlite3_get_autocommit(s->db))
        return tsb_err(TSB_ESTATE, "backup: archive %s has a transaction open", s->path);
    if (!o->force && lstat(dest, &sb) == 0)
        return tsb_err(TSB_ESTATE, "backup: %s already exists", dest);

    tmp = tsb_malloc(strlen(dest) + sizeof(".tmp-XXXXXX"));
    sprintf(tmp, "%s.tmp-XXXXXX", dest);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        r = tsb_err(TSB_EIO, "backup: cannot create a file beside %s: %s", dest, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    close(fd);
    /* the snapshot: BEGIN alone takes no read lock, the first read does */
    int64_t n = 0;
    if ((r = exec_cached(s, ST_BEGIN_READ, false, "backup")) != 0)
        goto out;
    in_tx = true;
    if ((r = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &n)) != 0 ||
        (r = backup_copy(s, tmp, o)) != 0)
        goto out;
    tx_rollback(s);
    in_tx = false;
    if ((r = fsync_path(tmp, false)) != 0 || (r = backup_publish(tmp, dest, o->force)) != 0)
        goto out;
    free(tmp);
    tmp = NULL;
    dir = tsb_strdup(dest);
    r = fsync_path(dirname(dir), true);
out:
    if (in_tx)
        tx_rollback(s);
    if (tmp != NULL) {
        unlink(tmp);
        size_t len = strlen(tmp);
        char *j = tsb_malloc(len + sizeof("-journal"));
        memcpy(j, tmp, len);
        memcpy(j + len, "-journal", sizeof("-journal"));
        unlink(j);
        free(j);
    }
    free(tmp);
    free(dir);
    return r;
}

/* ---- second timestamps (schema 0009) ------------------------------------------------------ */

int tsb_store_tsa2_add(struct tsb_store *s, const struct tsb_tsa2_stamp *sp, int64_t now_ms)
{
    int r = TSB_EINTERNAL;
    sqlite3_stmt *st = NULL;
    if (sp == NULL || sp->token == NULL || sp->token_len == 0 || sp->token_len > INT_MAX ||
        sp->url == NULL || sp->url[0] == '\0' || !decimal(sp->tsa_serial) || sp->nonce == NULL ||
        sp->nonce[0] == '\0')
        return tsb_err(TSB_EINVAL,
                       "store: second token of bag %lld lacks a token, a URL, a nonce or a "
                       "decimal TSA serial",
                       sp ? (long long)sp->seq : 0LL);
    if ((r = tx_begin_write(s, "recording a second token")) != 0)
        return r;
    if ((r = stmt(s, ST_TSA2_GET, &st)) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, sp->seq);
    int rc = sqlite3_step(st);
    stmt_done(st);
    st = NULL;
    if (rc == SQLITE_ROW) {
        r = tsb_err(TSB_ECONFLICT, "bag %lld already has a second token", (long long)sp->seq);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        r = fail(s, rc, true, "reading a second token");
        goto out;
    }
    if ((r = stmt(s, ST_TSA2_INSERT, &st)) != 0)
        goto out;
    sqlite3_bind_int64(st, 1, sp->seq);
    sqlite3_bind_text(st, 2, sp->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, sp->tsa_serial, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, sp->gen_time_ms);
    sqlite3_bind_text(st, 5, sp->policy ? sp->policy : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, sp->tsa_subject ? sp->tsa_subject : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, sp->nonce, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, now_ms);
    sqlite3_bind_blob(st, 9, sp->imprint, TSB_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 10, sp->token, (int)sp->token_len, SQLITE_STATIC);
    if ((r = step_write(s, st, "recording a second token")) != 0)
        goto out;
    r = tx_commit(s, true, "committing a second token");
out:
    if (r != 0)
        tx_rollback(s);
    return r;
}

void tsb_tsa2_rec_cleanup(struct tsb_tsa2_rec *t)
{
    free(t->url);
    free(t->tsa_serial);
    free(t->policy);
    free(t->tsa_subject);
    free(t->nonce);
    free(t->token);
    memset(t, 0, sizeof(*t));
}

int tsb_store_tsa2_get(struct tsb_store *s, int64_t seq, struct tsb_tsa2_rec *out)
{
    sqlite3_stmt *st = NULL;
    struct tsb_tsa2_rec t = {0};
    int r = stmt(s, ST_TSA2_GET, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if ((r = col_digest(st, 8, t.imprint)) == 0) {
            t.seq = sqlite3_column_int64(st, 0);
            t.url = col_strdup(st, 1);
            t.tsa_serial = col_strdup(st, 2);
            t.gen_time_ms = sqlite3_column_int64(st, 3);
            t.policy = col_strdup(st, 4);
            t.tsa_subject = col_strdup(st, 5);
            t.nonce = col_strdup(st, 6);
            t.stamped_ms = sqlite3_column_int64(st, 7);
            t.token = col_blobdup(st, 9, &t.token_len);
            *out = t;
        }
    } else if (rc == SQLITE_DONE) {
        r = tsb_err(TSB_ENOTFOUND, "bag %lld has no second token", (long long)seq);
    } else {
        r = fail(s, rc, false, "reading a second token");
    }
    stmt_done(st);
    return r;
}

int tsb_store_tsa2_next(struct tsb_store *s, struct tsb_bag_rec *out)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_TSA2_NEXT, &st);
    if (r != 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = bag_from_row(s, st, out);
    else if (rc == SQLITE_DONE)
        r = tsb_err(TSB_ENOTFOUND, "every bag has a second token");
    else
        r = fail(s, rc, false, "reading the next bag without a second token");
    stmt_done(st);
    return r;
}

int tsb_store_tsa2_backlog(struct tsb_store *s, struct tsb_tsa2_backlog *out)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_TSA2_BACKLOG, &st);
    if (r != 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->bags = sqlite3_column_int64(st, 0);
        out->oldest_seq = col_int_or_zero(st, 1);
        out->oldest_sealed_ms = col_int_or_zero(st, 2);
    } else {
        r = fail(s, rc, false, "reading the second TSA's backlog");
    }
    stmt_done(st);
    return r;
}

/* ---- archive timestamps (schema 0010) ----------------------------------------------------- */

static const char *const ers_kind_names[] = {
    [TSB_ERS_INITIAL] = "initial", [TSB_ERS_RENEWAL] = "renewal", [TSB_ERS_REHASH] = "rehash"};

const char *tsb_store_ers_kind_name(enum tsb_ers_kind k)
{
    return (unsigned)k < sizeof(ers_kind_names) / sizeof(ers_kind_names[0]) ? ers_kind_names[k]
                                                                            : "unknown";
}

/* ers_links.members: the group as text, and back. */
static const char *members_text(unsigned m)
{
    if (m == (TSB_ERS_OBJ_BAG | TSB_ERS_OBJ_TOKEN))
        return "bag,token";
    if (m == (TSB_ERS_OBJ_BAG | TSB_ERS_OBJ_TOKEN | TSB_ERS_OBJ_TSA2))
        return "bag,token,tsa2";
    return NULL;
}

static int members_parse(const unsigned char *t, unsigned *m)
{
    if (t != NULL && strcmp((const char *)t, "bag,token") == 0)
        *m = TSB_ERS_OBJ_BAG | TSB_ERS_OBJ_TOKEN;
    else if (t != NULL && strcmp((const char *)t, "bag,token,tsa2") == 0)
        *m = TSB_ERS_OBJ_BAG | TSB_ERS_OBJ_TOKEN | TSB_ERS_OBJ_TSA2;
    else
        return tsb_err(TSB_ESTORE, "archive timestamp link with unknown group \"%s\"",
                       t ? (const char *)t : "(null)");
    return 0;
}

/* A failed step of the tree's transaction: a constraint (primary key: that ArchiveTimeStamp
 * exists; the order trigger) is a conflict with what the archive holds, not a store failure. */
static int ers_step(struct tsb_store *s, sqlite3_stmt *st, const char *what, int64_t seq)
{
    int rc = sqlite3_step(st);
    int r = 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        r = tsb_err(TSB_ECONFLICT, "%s: bag %lld: %s", what, (long long)seq, sqlite3_errmsg(s->db));
    else if (rc != SQLITE_DONE)
        r = fail(s, rc, true, what);
    stmt_done(st);
    return r;
}

int tsb_store_ers_add_tree(struct tsb_store *s, const struct tsb_ers_tree_in *t,
                           const struct tsb_ers_link_in *links, size_t n, int64_t now_ms,
                           int64_t *tree_id)
{
    int r = TSB_EINTERNAL;
    sqlite3_stmt *st = NULL;
    if (t == NULL || n == 0 || links == NULL || t->leaves != n || t->alg == NULL ||
        t->url == NULL || t->url[0] == '\0' || !decimal(t->tsa_serial) || t->root == NULL ||
        t->root_len == 0 || t->token == NULL || t->token_len == 0 || t->token_len > INT_MAX ||
        (unsigned)t->kind > TSB_ERS_REHASH)
        return tsb_err(TSB_EINVAL, "store: an archive timestamp tree lacks leaves, an algorithm, "
                                   "a URL, a decimal TSA serial, a root or a token");
    for (size_t i = 0; i < n; i++)
        if (members_text(links[i].members) == NULL || links[i].path == NULL ||
            links[i].path_len == 0 || links[i].path_len > INT_MAX)
            return tsb_err(TSB_EINVAL,
                           "store: bag %lld's archive timestamp link lacks a group "
                           "of bag and token or a reduced hash tree",
                           (long long)links[i].seq);
    if ((r = tx_begin_write(s, "recording an archive timestamp tree")) != 0)
        return r;
    if ((r = stmt(s, ST_ERS_TREE_INSERT, &st)) != 0)
        goto out;
    sqlite3_bind_text(st, 1, tsb_store_ers_kind_name(t->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->alg, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)n);
    sqlite3_bind_text(st, 4, t->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, t->tsa_serial, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, t->tsa_subject ? t->tsa_subject : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, t->gen_time_ms);
    sqlite3_bind_int64(st, 8, t->not_after_ms);
    sqlite3_bind_int64(st, 9, now_ms);
    sqlite3_bind_blob(st, 10, t->root, (int)t->root_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 11, t->token, (int)t->token_len, SQLITE_STATIC);
    if ((r = ers_step(s, st, "recording an archive timestamp tree", 0)) != 0)
        goto out;
    int64_t id = sqlite3_last_insert_rowid(s->db);
    for (size_t i = 0; i < n; i++) {
        const struct tsb_ers_link_in *l = &links[i];
        if ((r = stmt(s, ST_ERS_LINK_INSERT, &st)) != 0)
            goto out;
        sqlite3_bind_int64(st, 1, l->seq);
        sqlite3_bind_int64(st, 2, l->chain);
        sqlite3_bind_int64(st, 3, l->position);
        sqlite3_bind_int64(st, 4, id);
        sqlite3_bind_text(st, 5, members_text(l->members), -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, l->path, (int)l->path_len, SQLITE_STATIC);
        if ((r = ers_step(s, st, "recording an archive timestamp", l->seq)) != 0)
            goto out;
    }
    if ((r = tx_commit(s, true, "committing an archive timestamp tree")) != 0)
        goto out;
    if (tree_id != NULL)
        *tree_id = id;
out:
    if (r != 0)
        tx_rollback(s);
    return r;
}

static int ers_link_from_row(sqlite3_stmt *st, struct tsb_ers_link_rec *l)
{
    int r = TSB_EINTERNAL;
    memset(l, 0, sizeof(*l));
    const unsigned char *kind = sqlite3_column_text(st, 5);
    int k;
    for (k = 0; k <= TSB_ERS_REHASH; k++)
        if (kind != NULL && strcmp((const char *)kind, ers_kind_names[k]) == 0)
            break;
    if (k > TSB_ERS_REHASH)
        return tsb_err(TSB_ESTORE, "archive timestamp tree of unknown kind \"%s\"",
                       kind ? (const char *)kind : "(null)");
    if ((r = members_parse(sqlite3_column_text(st, 4), &l->members)) != 0)
        return r;
    l->seq = sqlite3_column_int64(st, 0);
    l->chain = sqlite3_column_int64(st, 1);
    l->position = sqlite3_column_int64(st, 2);
    l->tree_id = sqlite3_column_int64(st, 3);
    l->kind = (enum tsb_ers_kind)k;
    const unsigned char *alg = sqlite3_column_text(st, 6);
    snprintf(l->alg, sizeof(l->alg), "%s", alg ? (const char *)alg : "");
    const unsigned char *serial = sqlite3_column_text(st, 7);
    snprintf(l->tsa_serial, sizeof(l->tsa_serial), "%s", serial ? (const char *)serial : "");
    l->gen_time_ms = sqlite3_column_int64(st, 8);
    l->not_after_ms = sqlite3_column_int64(st, 9);
    l->path = sqlite3_column_blob(st, 10);
    l->path_len = (size_t)sqlite3_column_bytes(st, 10);
    l->token = sqlite3_column_blob(st, 11);
    l->token_len = (size_t)sqlite3_column_bytes(st, 11);
    return 0;
}

static int walk_ers_links(struct tsb_store *s, sqlite3_stmt *st, tsb_ers_link_cb cb, void *arg)
{
    int r = 0, rc = SQLITE_DONE;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct tsb_ers_link_rec l;
        if ((r = ers_link_from_row(st, &l)) != 0)
            break;
        r = cb(arg, &l);
    }
    if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = fail(s, rc, false, "reading archive timestamps");
    stmt_done(st);
    return r;
}

int tsb_store_ers_links(struct tsb_store *s, int64_t seq, tsb_ers_link_cb cb, void *arg)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_ERS_LINKS_OF, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, seq);
    return walk_ers_links(s, st, cb, arg);
}

int tsb_store_ers_heads(struct tsb_store *s, int64_t after_seq, size_t max, tsb_ers_link_cb cb,
                        void *arg)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_ERS_HEADS, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, after_seq);
    sqlite3_bind_int64(st, 2, max == 0 || max > INT64_MAX ? -1 : (int64_t)max);
    return walk_ers_links(s, st, cb, arg);
}

int tsb_store_ers_uncovered(struct tsb_store *s, int64_t after_seq, size_t max, tsb_bag_cb cb,
                            void *arg)
{
    sqlite3_stmt *st = NULL;
    int r = stmt(s, ST_ERS_UNCOVERED, &st);
    if (r != 0)
        return r;
    sqlite3_bind_int64(st, 1, after_seq);
    sqlite3_bind_int64(st, 2, max == 0 || max > INT64_MAX ? -1 : (int64_t)max);
    return walk_bags(s, st, cb, arg);
}

int tsb_store_ers_stats(struct tsb_store *s, struct tsb_ers_stats *out)
{
    struct tsb_ers_stats e = {0};
    int64_t v[8] = {0}, t[2] = {0}, covered = 0, earliest[2] = {0};
    bool found = false, own = sqlite3_get_autocommit(s->db) != 0;
    int r = 0;
    if (own && (r = exec_cached(s, ST_BEGIN_READ, false, "evidence figures")) != 0)
        return r;
    if ((r = query_ints(s, ST_COUNTERS, 0, 0, 0, v, 8, &found, "reading archive counters")) != 0 ||
        (r = query_ints(s, ST_ERS_TREE_STATS, 0, 0, 0, t, 2, &found,
                        "reading archive timestamp trees")) != 0 ||
        (r = query_ints(s, ST_ERS_COVERED, 0, 0, 0, &covered, 1, &found,
                        "counting covered bags")) != 0 ||
        (r = query_ints(s, ST_ERS_EARLIEST, 0, 0, 0, earliest, 2, &found,
                        "reading the earliest archive timestamp expiry")) != 0)
        goto out;
    e.covered = covered;
    /* counters: entries, bag_entries, sealed_ref, sealed, sent, stamped, failed, recovered */
    e.uncovered = v[5] + v[7] - covered;
    e.trees = t[0];
    e.last_gen_time_ms = t[1];
    if (found) {
        e.earliest_seq = earliest[0];
        e.earliest_not_after_ms = earliest[1];
    }
    *out = e;
out:
    if (own)
        tx_rollback(s);
    return r;
}
