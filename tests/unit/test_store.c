/* Unit tests for store: real SQLite files in a temporary folder. Migrations, append and lookups,
 * Refs never reused, sealing (0, 1, N, more than a bag), every bag state transition in C and in
 * SQL (triggers), statistics, WAL readers beside a writer, read snapshots and truncating
 * checkpoints, quick_check at open, SQLITE_BUSY, and write/fsync failures
 * forced through a fault-injecting SQLite VFS. This test includes sqlite3.h (for the VFS and for
 * tampering with the archive directly, as an operator with the sqlite3 shell could); the product
 * code keeps SQLite inside store.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bag.h"
#include "err.h"
#include "hash.h"
#include "store.h"
#include "store_schema.h"
#include "fault_vfs.h"
#include "testlib.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixtures and helpers ----------------------------------------------------------------- */

struct fx {
    char *dir;
    char *path;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tsb_test_tmpdir();
    f->path = tsb_test_path(f->dir, "archive.db");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tsb_test_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static struct tsb_store *open_rw(const char *path)
{
    struct tsb_store *s = NULL;
    int r = tsb_store_open(path, NULL, &s);
    if (r != 0)
        fprintf(stderr, "open %s: %s: %s\n", path, tsb_strerror(r), tsb_err_detail());
    assert_int_equal(r, 0);
    return s;
}

/* Entry i: digest SHA-256("entry <i>"), source "his", client ref "cr-<i>", received 1000 + i. */
struct entry_buf {
    struct tsb_entry_in in;
    char client_ref[32];
    char content[32];
};

static void make_entry(struct entry_buf *b, int i, bool with_content)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->content, sizeof(b->content), "entry %d", i);
    tsb_sha256((const uint8_t *)b->content, strlen(b->content), b->in.digest);
    snprintf(b->client_ref, sizeof(b->client_ref), "cr-%d", i);
    b->in.source = "his";
    b->in.format_id = i % 2 ? "eprescription-v1" : NULL;
    b->in.client_ref = i % 3 ? b->client_ref : NULL;
    b->in.received_ms = 1000 + i;
    if (with_content) {
        b->in.content = (const uint8_t *)b->content;
        b->in.content_len = strlen(b->content);
    }
}

/* Appends entries first..first+n-1 in one batch; returns the Refs (free them). */
static int64_t *append_range(struct tsb_store *s, int first, size_t n)
{
    struct entry_buf *b = calloc(n, sizeof(*b));
    struct tsb_entry_in *in = calloc(n, sizeof(*in));
    int64_t *refs = calloc(n, sizeof(*refs));
    for (size_t i = 0; i < n; i++) {
        make_entry(&b[i], first + (int)i, i % 2 == 0);
        in[i] = b[i].in;
    }
    int r = tsb_store_append(s, in, n, refs);
    if (r != 0)
        fprintf(stderr, "append: %s: %s\n", tsb_strerror(r), tsb_err_detail());
    assert_int_equal(r, 0);
    free(b);
    free(in);
    return refs;
}

/* Runs SQL on a separate raw connection, as an operator with the sqlite3 shell would. */
static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_extended_result_codes(db, 1);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static struct tsb_store_stats stats_of(struct tsb_store *s)
{
    struct tsb_store_stats st;
    assert_int_equal(tsb_store_stats(s, &st), 0);
    return st;
}

static struct tsb_seal_opts seal_opts(size_t max)
{
    struct tsb_seal_opts o = {.bag = {.ns = TSB_BAG_NS_V2, .enc = TSB_HASH_HEX, .root = NULL},
                              .max_entries = max,
                              .now_ms = 5000};
    return o;
}

/* ---- migrations --------------------------------------------------------------------------- */

static void test_open_migrates_and_reopens(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    int64_t *refs = append_range(s, 1, 3);
    tsb_store_close(s);
    free(refs);

    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), tsb_schema_migrations_n);
    assert_int_equal(raw_int(f->path, "PRAGMA application_id"), 0x54534247);
    /* the guards of docs/internals/STORE.md are in place */
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' "
                                      "AND name IN ('bags_insert_gap_free', 'bags_insert_state', "
                                      "'bags_update_transition', 'bags_update_immutable', "
                                      "'bags_no_delete', 'bags_insert_range', "
                                      "'entries_no_update', "
                                      "'entries_no_delete', 'bag_attempts_no_update', "
                                      "'bag_attempts_no_delete', 'counters_bag_insert', "
                                      "'counters_bag_state', 'counters_no_delete')"),
                     13);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* reopening applies nothing and keeps the data */
    s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    assert_int_equal(stats_of(s).entries, 3);
    tsb_store_close(s);
    s = open_rw(f->path);
    assert_int_equal(stats_of(s).entries, 3);
    tsb_store_close(s);
}

/* Builds an archive at schema version v by applying only the first v migrations, as an older
 * tsbag would have left it. */
static void make_old_archive(const char *path, int v)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < v; i++) {
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", i + 1);
        assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, tsb_schema_migrations[i].sql, NULL, NULL, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, bump, NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    }
    sqlite3_close(db);
}

/* Builds an archive at the schema version right before the migration whose file name holds
 * `name`, wherever that migration is numbered. */
static void make_archive_before(const char *path, const char *name)
{
    int v = 0;
    while (v < (int)tsb_schema_migrations_n && strstr(tsb_schema_migrations[v].file, name) == NULL)
        v++;
    assert_true(v < (int)tsb_schema_migrations_n);
    make_old_archive(path, v);
}

/* An archive left at version 1 is migrated forward at open, keeping its data; a read-only open
 * refuses it first; a migration that fails leaves the archive exactly at its previous version. */
static void test_migrates_older_archive(void **state)
{
    struct fx *f = *state;
    if (tsb_schema_migrations_n < 2)
        skip();
    make_old_archive(f->path, 1);
    assert_int_equal(raw_exec(f->path, "INSERT INTO entries (hash, source, received_ms) "
                                       "VALUES (zeroblob(32), 'old', 42)"),
                     SQLITE_OK);
    struct tsb_store *s = NULL;
    struct tsb_store_open_opts ro = {.readonly = true};
    assert_int_equal(tsb_store_open(f->path, &ro, &s), TSB_ESTORE);
    assert_non_null(strstr(tsb_err_detail(), "older than this build"));

    /* sabotage 0002 (forward-only: its text never changes): a table it creates already
     * exists, so it fails halfway through its SQL */
    char *copy = tsb_test_path(f->dir, "sabotaged.db");
    make_old_archive(copy, 1);
    assert_int_equal(raw_exec(copy, "CREATE TABLE reconcile_runs (x)"), SQLITE_OK);
    assert_int_equal(tsb_store_open(copy, NULL, &s), TSB_ESTORE);
    assert_non_null(strstr(tsb_err_detail(), tsb_schema_migrations[1].file));
    /* nothing of it stayed: version, the trigger it replaces, the table it created first */
    assert_int_equal(raw_int(copy, "PRAGMA user_version"), 1);
    assert_int_equal(raw_int(copy, "SELECT count(*) FROM sqlite_schema WHERE "
                                   "name = 'bags_insert_gap_free' AND sql LIKE '%recovered%'"),
                     0);
    assert_int_equal(raw_int(copy, "SELECT count(*) FROM sqlite_schema WHERE "
                                   "name = 'bag_conflicts'"),
                     0);
    free(copy);

    s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), tsb_schema_migrations_n);
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(s, 1, &e), 0);
    assert_string_equal(e.source, "old");
    tsb_entry_rec_cleanup(&e);
    int64_t *refs = append_range(s, 0, 1);
    assert_int_equal(refs[0], 2);
    free(refs);
    tsb_store_close(s);
}

static void test_refuses_newer_and_foreign_databases(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    tsb_store_close(s);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", tsb_schema_migrations_n + 1);
    assert_int_equal(raw_exec(f->path, sql), SQLITE_OK);
    s = NULL;
    assert_int_equal(tsb_store_open(f->path, NULL, &s), TSB_ESTORE);
    assert_null(s);
    assert_non_null(strstr(tsb_err_detail(), "newer than this build"));
    struct tsb_store_open_opts ro = {.readonly = true};
    assert_int_equal(tsb_store_open(f->path, &ro, &s), TSB_ESTORE);
    assert_non_null(strstr(tsb_err_detail(), "newer than this build"));
    /* the refused archive was not touched */
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), tsb_schema_migrations_n + 1);

    /* a SQLite file that is not a tsbag archive */
    char *other = tsb_test_path(f->dir, "other.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(tsb_store_open(other, NULL, &s), TSB_ESTORE);
    assert_non_null(strstr(tsb_err_detail(), "not a tsbag archive"));
    free(other);

    /* read-only open of a missing archive */
    char *missing = tsb_test_path(f->dir, "missing.db");
    assert_int_equal(tsb_store_open(missing, &ro, &s), TSB_ENOTFOUND);
    free(missing);
    /* unknown VFS */
    struct tsb_store_open_opts bad = {.vfs = "no-such-vfs"};
    assert_int_equal(tsb_store_open(f->path, &bad, &s), TSB_EINVAL);
}

/* ---- append and lookups ------------------------------------------------------------------- */

struct collected {
    size_t n;
    int64_t refs[64];
    int64_t positions[64];
    int stop_after; /* non-zero: return 7 after this many */
};

static int collect(void *arg, const struct tsb_entry_rec *e)
{
    struct collected *c = arg;
    assert_true(c->n < 64);
    c->positions[c->n] = e->position;
    c->refs[c->n++] = e->ref;
    if (c->stop_after && (int)c->n == c->stop_after)
        return 7;
    return 0;
}

/* Schema 0008 on an archive written by schema 0007: entries linked by bag_seq/position at seal
 * time, staged ones, a sent bag. After the migration the links come from the bag ranges and
 * agree with the old columns, the counters hold what count(*) said, lookups by hash find sealed
 * and staged entries, and the next seal starts right after the sealed range. */
static void test_migrates_0007_archive_to_ranges(void **state)
{
    struct fx *f = *state;
    if (tsb_schema_migrations_n < 8)
        skip();
    make_old_archive(f->path, 7);
    assert_int_equal(
        raw_exec(
            f->path,
            "INSERT INTO entries (hash, source, received_ms) VALUES "
            "(randomblob(32), 'old', 10), "
            "(x'2222222222222222222222222222222222222222222222222222222222222222', 'old', 11), "
            "(randomblob(32), 'old', 12), (randomblob(32), 'old', 13), "
            "(x'2222222222222222222222222222222222222222222222222222222222222222', 'old', 14);"
            "INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, "
            "digest, bytes) VALUES (1, 'sealed', 3, 1, 3, 20, zeroblob(32), x'3c612f3e');"
            "UPDATE entries SET bag_seq = 1, position = ref - 1 WHERE ref <= 3;"
            "UPDATE bags SET state = 'sent', attempts = 1, request_id = 'r' WHERE seq = 1;"),
        SQLITE_OK);
    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    struct tsb_store_stats st = stats_of(s);
    assert_int_equal(st.entries, 5);
    assert_int_equal(st.staged, 2);
    assert_int_equal(st.sealed_ref, 3);
    assert_int_equal(st.last_ref, 5);
    assert_int_equal(st.bags[TSB_BAG_SENT], 1);
    assert_int_equal(st.bags[TSB_BAG_SEALED], 0);
    assert_int_equal(st.oldest_unstamped_ms, 10);
    for (int64_t ref = 1; ref <= 5; ref++) {
        struct tsb_entry_rec e;
        assert_int_equal(tsb_store_entry_by_ref(s, ref, &e), 0);
        assert_int_equal(e.bag_seq, ref <= 3 ? 1 : 0);
        assert_int_equal(e.position, ref <= 3 ? ref - 1 : -1);
        tsb_entry_rec_cleanup(&e);
    }
    /* the old columns are left as 0007 wrote them, and agree */
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries WHERE bag_seq = 1 "
                                      "AND position = ref - 1"),
                     3);
    /* one hash, one sealed and one staged entry: both found through the full digest index */
    uint8_t d2[TSB_SHA256_LEN];
    memset(d2, 0x22, sizeof(d2));
    struct collected got = {0};
    assert_int_equal(tsb_store_entries_by_hash(s, d2, collect, &got), 0);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.refs[0], 2);
    assert_int_equal(got.positions[0], 1);
    assert_int_equal(got.refs[1], 5);
    assert_int_equal(got.positions[1], -1);
    assert_null(tsb_store_damage(s));
    /* the next seal takes the staged Refs 4..5 as bag 2, writing no entry row */
    struct tsb_seal_opts o = seal_opts(0);
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 2);
    assert_int_equal(res.entries, 2);
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(s, 2, &b), 0);
    assert_int_equal(b.first_ref, 4);
    assert_int_equal(b.last_ref, 5);
    tsb_bag_rec_cleanup(&b);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries WHERE bag_seq IS NULL"), 2);
    st = stats_of(s);
    assert_int_equal(st.staged, 0);
    assert_int_equal(st.sealed_ref, 5);
    assert_int_equal(st.bags[TSB_BAG_SEALED], 1);
    /* entries are immutable now, sealed or not */
    assert_int_equal(
        raw_exec(f->path, "UPDATE entries SET bag_seq = 2, position = 0 WHERE ref = 4"),
        SQLITE_CONSTRAINT_TRIGGER);
    tsb_store_close(s);
}

/* Checks that bag seq reads back as exactly p's bytes, in the parts they were stored in. */
static void assert_bag_bytes(struct tsb_store *s, const char *path, int64_t seq,
                             const struct tsb_seal_plan *p)
{
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(s, seq, &b), 0);
    assert_int_equal(b.bytes_len, p->bytes.len);
    assert_memory_equal(b.bytes, p->bytes.p, p->bytes.len);
    assert_memory_equal(b.digest, p->digest, TSB_SHA256_LEN);
    tsb_bag_rec_cleanup(&b);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM bag_bytes WHERE seq = %lld", (long long)seq);
    assert_int_equal(raw_int(path, sql), (int64_t)tsb_bag_parts(p->bytes.len));
}

/* tsbagd writes a bag's bytes in parts, each its own transaction, before the bag row: parts that
 * an earlier plan of the same SequenceNumber left (a crash, a plan refused at commit) are
 * replaced, whether the next plan writes its parts first or the commit writes them itself; once
 * the bag exists, no part is written for it. */
static void test_seal_in_parts(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    struct tsb_seal_opts o = seal_opts(0);
    struct tsb_seal_plan a = {0}, b = {0};
    free(append_range(s, 0, 3000));
    assert_int_equal(tsb_store_seal_prepare(s, &o, &a), 0);
    size_t n = tsb_bag_parts(a.bytes.len);
    assert_true(n >= 2); /* 3 000 entries of about 100 bytes: more than one part */
    /* a plan that stopped after its first part, then one with more entries */
    assert_int_equal(tsb_store_seal_write_part(s, &a, 0), 0);
    free(append_range(s, 3000, 10));
    assert_int_equal(tsb_store_seal_prepare(s, &o, &b), 0);
    assert_int_equal(b.seq, a.seq);
    assert_true(b.bytes.len > a.bytes.len);
    for (size_t i = 0; i < tsb_bag_parts(b.bytes.len); i++)
        assert_int_equal(tsb_store_seal_write_part(s, &b, i), 0);
    assert_int_equal(tsb_store_seal_commit(s, &b, 77), 0);
    assert_bag_bytes(s, f->path, b.seq, &b);
    /* its parts are the bag's now: none more, none replaced */
    assert_int_equal(tsb_store_seal_write_part(s, &b, 0), TSB_ECONFLICT);
    assert_int_equal(tsb_store_seal_write_part(s, &b, n), TSB_EINVAL);

    /* every part of the next bag written by a plan, then the commit of another plan of it */
    free(append_range(s, 4000, 3000));
    assert_int_equal(tsb_store_seal_prepare(s, &o, &a), 0);
    for (size_t i = 0; i < tsb_bag_parts(a.bytes.len); i++)
        assert_int_equal(tsb_store_seal_write_part(s, &a, i), 0);
    free(append_range(s, 7000, 1));
    assert_int_equal(tsb_store_seal_prepare(s, &o, &b), 0);
    assert_int_equal(b.seq, a.seq);
    assert_int_equal(tsb_store_seal_commit(s, &b, 77), 0);
    assert_bag_bytes(s, f->path, b.seq, &b);
    tsb_seal_plan_cleanup(&a);
    tsb_seal_plan_cleanup(&b);
    tsb_store_close(s);
}

/* The daemon's seal: a plan built on a read-only connection (no write lock, no entry row
 * written), committed by the writer as one bag row; a plan the archive outran is refused whole. */
static void test_seal_plan_and_commit(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path), *ro = NULL;
    struct tsb_store_open_opts roo = {.readonly = true};
    struct tsb_seal_opts o = seal_opts(2);
    struct tsb_seal_plan p = {0};
    free(append_range(s, 0, 5));
    assert_int_equal(tsb_store_open(f->path, &roo, &ro), 0);
    /* 5 staged, at most 2 per bag: 2 + 2 + 1, each planned and committed on its own */
    for (int k = 0; k < 3; k++) {
        assert_int_equal(tsb_store_seal_prepare(ro, &o, &p), 0);
        assert_int_equal(p.seq, k + 1);
        assert_int_equal(p.first_ref, 2 * k + 1);
        assert_int_equal(p.entries, k < 2 ? 2 : 1);
        assert_true(k < 2 ? p.more : !p.more);
        assert_int_equal(tsb_store_seal_commit(s, &p, 77), 0);
    }
    assert_int_equal(tsb_store_seal_prepare(ro, &o, &p), 0);
    assert_int_equal(p.entries, 0);
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(ro, 4, &e), 0);
    assert_int_equal(e.bag_seq, 2);
    assert_int_equal(e.position, 1);
    tsb_entry_rec_cleanup(&e);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries WHERE bag_seq IS NOT NULL"), 0);

    /* a seal committed between the plan and its commit: the plan is refused, nothing written */
    free(append_range(s, 5, 3));
    assert_int_equal(tsb_store_seal_prepare(ro, &o, &p), 0);
    assert_int_equal(p.seq, 4);
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 4);
    assert_int_equal(tsb_store_seal_commit(s, &p, 77), TSB_ECONFLICT);
    assert_non_null(strstr(tsb_err_detail(), "next SequenceNumber is now 6"));
    assert_int_equal(stats_of(s).last_seq, 5);
    assert_int_equal(stats_of(s).staged, 0);
    /* a plan whose range no longer holds its entries (a row inserted behind the store) */
    free(append_range(s, 8, 2));
    assert_int_equal(tsb_store_seal_prepare(ro, &o, &p), 0);
    assert_int_equal(p.entries, 2);
    assert_int_equal(raw_exec(f->path, "DROP TRIGGER entries_no_delete; DELETE FROM entries "
                                       "WHERE ref = (SELECT max(ref) FROM entries)"),
                     SQLITE_OK);
    assert_int_equal(tsb_store_seal_commit(s, &p, 77), TSB_ECONFLICT);
    assert_non_null(strstr(tsb_err_detail(), "the range now holds 1"));
    assert_int_equal(stats_of(s).last_seq, 5);
    tsb_seal_plan_cleanup(&p);
    tsb_store_close(ro);
    tsb_store_close(s);
}

static void test_append_and_lookups(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    struct entry_buf b[4];
    struct tsb_entry_in in[4];
    int64_t refs[4];
    for (int i = 0; i < 4; i++) {
        make_entry(&b[i], i, i == 1);
        in[i] = b[i].in;
    }
    in[3].digest[0] = in[0].digest[0]; /* entries 0 and 3 share a digest */
    memcpy(in[3].digest, in[0].digest, TSB_SHA256_LEN);
    in[2].received_ms = 5000;
    assert_int_equal(tsb_store_append(s, in, 4, refs), 0);
    for (int i = 1; i < 4; i++)
        assert_true(refs[i] > refs[i - 1]);
    assert_true(refs[0] >= 1);

    for (int i = 0; i < 4; i++) {
        struct tsb_entry_rec e;
        assert_int_equal(tsb_store_entry_by_ref(s, refs[i], &e), 0);
        assert_int_equal(e.ref, refs[i]);
        assert_memory_equal(e.digest, in[i].digest, TSB_SHA256_LEN);
        assert_string_equal(e.source, "his");
        if (in[i].format_id)
            assert_string_equal(e.format_id, in[i].format_id);
        else
            assert_null(e.format_id);
        if (in[i].client_ref)
            assert_string_equal(e.client_ref, in[i].client_ref);
        else
            assert_null(e.client_ref);
        assert_int_equal(e.received_ms, in[i].received_ms);
        if (in[i].content) {
            assert_int_equal(e.content_len, in[i].content_len);
            assert_memory_equal(e.content, in[i].content, in[i].content_len);
        } else {
            assert_null(e.content);
            assert_int_equal(e.content_len, 0);
        }
        assert_int_equal(e.bag_seq, 0);
        assert_int_equal(e.position, -1);
        tsb_entry_rec_cleanup(&e);
    }
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(s, refs[3] + 1, &e), TSB_ENOTFOUND);

    struct collected c = {0};
    assert_int_equal(tsb_store_entries_by_hash(s, in[0].digest, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.refs[0], refs[0]);
    assert_int_equal(c.refs[1], refs[3]);
    memset(&c, 0, sizeof(c));
    assert_int_equal(tsb_store_entries_by_hash(s, in[1].digest, collect, &c), 0);
    assert_int_equal(c.n, 1);
    uint8_t none[TSB_SHA256_LEN] = {0};
    memset(&c, 0, sizeof(c));
    assert_int_equal(tsb_store_entries_by_hash(s, none, collect, &c), 0);
    assert_int_equal(c.n, 0);
    /* a callback's non-zero return stops the walk and is returned */
    memset(&c, 0, sizeof(c));
    c.stop_after = 1;
    assert_int_equal(tsb_store_entries_by_hash(s, in[0].digest, collect, &c), 7);
    assert_int_equal(c.n, 1);

    /* received period, both ends inclusive: 1000, 1001, 5000, 1003 */
    memset(&c, 0, sizeof(c));
    assert_int_equal(tsb_store_entries_by_received(s, 1001, 1003, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.refs[0], refs[1]);
    assert_int_equal(c.refs[1], refs[3]);
    memset(&c, 0, sizeof(c));
    assert_int_equal(tsb_store_entries_by_received(s, 5000, 5000, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.refs[0], refs[2]);
    memset(&c, 0, sizeof(c));
    assert_int_equal(tsb_store_entries_by_received(s, 0, INT64_MAX, collect, &c), 0);
    assert_int_equal(c.n, 4);

    /* an empty batch is a no-op; an invalid one commits nothing */
    assert_int_equal(tsb_store_append(s, in, 0, refs), 0);
    in[2].source = NULL;
    int64_t bad_refs[4] = {0};
    assert_int_equal(tsb_store_append(s, in, 4, bad_refs), TSB_EINVAL);
    in[2].source = "";
    assert_int_equal(tsb_store_append(s, in, 4, bad_refs), TSB_EINVAL);
    in[2].source = "his";
    in[2].content = NULL;
    in[2].content_len = 3;
    assert_int_equal(tsb_store_append(s, in, 4, bad_refs), TSB_EINVAL);
    assert_int_equal(stats_of(s).entries, 4);
    tsb_store_close(s);
}

/* A batch goes in through multi-row INSERTs of 64, 16, 4 and 1 rows: every size and their
 * mixes give each entry the Ref of its own row, increasing across batches. */
static void test_append_batch_sizes(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    static const size_t sizes[] = {1, 3, 4, 5, 16, 21, 63, 64, 65, 85, 150, 300};
    int first = 0;
    int64_t last = 0;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        int64_t *refs = append_range(s, first, n);
        for (size_t i = 0; i < n; i++) {
            struct entry_buf b;
            struct tsb_entry_rec e;
            make_entry(&b, first + (int)i, i % 2 == 0);
            assert_true(refs[i] > last);
            last = refs[i];
            assert_int_equal(tsb_store_entry_by_ref(s, refs[i], &e), 0);
            assert_memory_equal(e.digest, b.in.digest, TSB_SHA256_LEN);
            assert_int_equal(e.received_ms, b.in.received_ms);
            if (b.in.client_ref)
                assert_string_equal(e.client_ref, b.in.client_ref);
            else
                assert_null(e.client_ref);
            assert_int_equal(e.content_len, b.in.content_len);
            if (b.in.content)
                assert_memory_equal(e.content, b.in.content, b.in.content_len);
            tsb_entry_rec_cleanup(&e);
        }
        free(refs);
        first += (int)n;
    }
    assert_int_equal(stats_of(s).entries, first);
    tsb_store_close(s);
}

/* Appends 10 entries, runs sql behind the store, then expects the 100-entry batch in[] (entries
 * 10..109) to fail with `expect`, nothing of it committed. Returns the open store. */
static struct tsb_store *batch_fails_after(struct fx *f, const char *sql, int expect,
                                           struct entry_buf b[100], struct tsb_entry_in in[100])
{
    struct tsb_store *s = open_rw(f->path);
    free(append_range(s, 0, 10));
    assert_int_equal(raw_exec(f->path, sql), SQLITE_OK);
    int64_t refs[100];
    for (int i = 0; i < 100; i++) {
        make_entry(&b[i], 10 + i, false);
        in[i] = b[i].in;
    }
    assert_int_equal(tsb_store_append(s, in, 100, refs), expect);
    for (int i = 0; i < 100; i++)
        assert_int_equal(refs[i], 0);
    assert_int_equal(stats_of(s).entries, 10);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries"), 10);
    return s;
}

/* A row SQLite refuses in the middle of a 64-row INSERT commits nothing of the batch. */
static void test_append_refused_row_commits_nothing(void **state)
{
    struct fx *f = *state;
    struct entry_buf b[100];
    struct tsb_entry_in in[100];
    int64_t refs[100];
    struct tsb_store *s = batch_fails_after(f,
                                            "CREATE TRIGGER refuse_one BEFORE INSERT ON entries "
                                            "WHEN NEW.client_ref = 'cr-50' "
                                            "BEGIN SELECT RAISE(ABORT, 'refused'); END",
                                            TSB_ESTORE, b, in);
    assert_int_equal(raw_exec(f->path, "DROP TRIGGER refuse_one"), SQLITE_OK);
    assert_int_equal(tsb_store_append(s, in, 100, refs), 0);
    assert_int_equal(stats_of(s).entries, 110);
    tsb_store_close(s);
}

/* Each Ref is read back before the commit: a row that does not hold its entry's digest (here
 * changed behind the store by a trigger added by hand) fails the batch, nothing acknowledged. */
static void test_append_reads_back_refs(void **state)
{
    struct fx *f = *state;
    struct entry_buf b[100];
    struct tsb_entry_in in[100];
    struct tsb_store *s = batch_fails_after(f,
                                            "DROP TRIGGER entries_no_update; "
                                            "CREATE TRIGGER swap_one AFTER INSERT ON entries "
                                            "WHEN NEW.client_ref = 'cr-50' BEGIN UPDATE entries "
                                            "SET hash = zeroblob(32) WHERE ref = NEW.ref; END",
                                            TSB_EINTERNAL, b, in);
    assert_non_null(strstr(tsb_err_detail(), "with its digest"));
    tsb_store_close(s);
}

static void test_refs_never_reused(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    int64_t *a = append_range(s, 0, 3);
    tsb_store_close(s);

    /* the sqlite3 shell cannot delete a journal entry: the trigger refuses */
    int st = tsb_test_sh("sqlite3 '%s' 'DELETE FROM entries WHERE ref = %lld' 2>/dev/null", f->path,
                         (long long)a[2]);
    assert_int_not_equal(st, 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries"), 3);
    char sql[512];
    snprintf(sql, sizeof(sql), "DELETE FROM entries WHERE ref = %lld", (long long)a[2]);
    assert_int_equal(raw_exec(f->path, sql), SQLITE_CONSTRAINT_TRIGGER);

    /* an explicit retention action (docs/internals/STORE.md): in one transaction, drop the
     * guard, delete the newest entry, restore the guard */
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT sql FROM sqlite_schema WHERE type = 'trigger' "
                                        "AND name = 'entries_no_delete'",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    char *guard = strdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    assert_int_equal(
        sqlite3_exec(db, "BEGIN IMMEDIATE; DROP TRIGGER entries_no_delete", NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, guard, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    free(guard);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries"), 2);
    assert_int_equal(raw_int(f->path, "SELECT max(ref) FROM entries"), a[1]);

    s = open_rw(f->path);
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(s, a[2], &e), TSB_ENOTFOUND);
    int64_t *b = append_range(s, 10, 2);
    assert_true(b[0] > a[2]); /* the deleted Ref is not handed out again */
    assert_true(b[1] > b[0]);
    assert_int_equal(stats_of(s).last_ref, b[1]);
    tsb_store_close(s);
    free(a);
    free(b);
}

/* ---- sealing ------------------------------------------------------------------------------ */

/* Checks bag seq against what the store says its entries are: parsed bytes, digest, links. */
static void check_bag(struct tsb_store *s, int64_t seq, const int64_t *refs, size_t n)
{
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(s, seq, &b), 0);
    assert_int_equal(b.seq, seq);
    assert_int_equal(b.state, TSB_BAG_SEALED);
    assert_int_equal(b.entry_count, (int64_t)n);
    assert_int_equal(b.first_ref, refs[0]);
    assert_int_equal(b.last_ref, refs[n - 1]);
    assert_int_equal(b.sealed_ms, 5000);
    assert_int_equal(b.attempts, 0);
    assert_null(b.request_id);
    assert_null(b.token);
    uint8_t d[TSB_SHA256_LEN];
    tsb_sha256(b.bytes, b.bytes_len, d);
    assert_memory_equal(d, b.digest, TSB_SHA256_LEN);

    struct tsb_bag *p = NULL;
    int r = tsb_bag_parse(b.bytes, b.bytes_len, NULL, &p);
    if (r != 0)
        fprintf(stderr, "parse: %s\n", tsb_err_detail());
    assert_int_equal(r, 0);
    assert_int_equal(p->seq, seq);
    assert_int_equal(p->n, n);
    for (size_t i = 0; i < n; i++) {
        struct tsb_entry_rec e;
        assert_int_equal(p->entries[i].ref, refs[i]);
        assert_int_equal(tsb_store_entry_by_ref(s, refs[i], &e), 0);
        assert_memory_equal(p->entries[i].digest, e.digest, TSB_SHA256_LEN);
        assert_int_equal(e.bag_seq, seq);
        assert_int_equal(e.position, (int64_t)i);
        tsb_entry_rec_cleanup(&e);
    }
    tsb_bag_free(p);

    struct collected c = {0};
    if (n <= 64) {
        assert_int_equal(tsb_store_entries_by_bag(s, seq, collect, &c), 0);
        assert_int_equal(c.n, n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(c.refs[i], refs[i]);
            assert_int_equal(c.positions[i], (int64_t)i);
        }
    }
    tsb_bag_rec_cleanup(&b);
}

static void test_seal_nothing_staged(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    struct tsb_seal_opts o = seal_opts(0);
    struct tsb_seal_result res = {.first_seq = 99, .bags = 99, .entries = 99};
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 0);
    assert_int_equal(res.bags, 0);
    assert_int_equal(res.entries, 0);
    assert_int_equal(stats_of(s).last_seq, 0);
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(s, 1, &b), TSB_ENOTFOUND);
    assert_int_equal(tsb_store_bag_next_unstamped(s, &b), TSB_ENOTFOUND);

    /* twice empty, then one entry: it becomes bag 1, nothing was consumed */
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    int64_t *refs = append_range(s, 0, 1);
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 1);
    assert_int_equal(res.bags, 1);
    assert_int_equal(res.entries, 1);
    check_bag(s, 1, refs, 1);
    /* the same digest again, staged: a lookup by digest finds the sealed one (index) and the
     * staged one (scan), in Ref order */
    int64_t *again = append_range(s, 0, 1);
    struct collected c = {0};
    struct entry_buf eb;
    make_entry(&eb, 0, false);
    assert_int_equal(tsb_store_entries_by_hash(s, eb.in.digest, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.refs[0], refs[0]);
    assert_int_equal(c.positions[0], 0);
    assert_int_equal(c.refs[1], again[0]);
    assert_int_equal(c.positions[1], -1);
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 2);
    memset(&c, 0, sizeof(c));
    assert_int_equal(tsb_store_entries_by_hash(s, eb.in.digest, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.refs[1], again[0]);
    assert_int_equal(c.positions[1], 0);
    free(again);
    /* and sealing again right away seals nothing */
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.bags, 0);
    assert_int_equal(stats_of(s).last_seq, 2);
    free(refs);
    tsb_store_close(s);
}

static void test_seal_n_and_more_than_a_bag(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    struct tsb_seal_opts o = seal_opts(10);
    struct tsb_seal_result res;

    int64_t *a = append_range(s, 0, 7);
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 1);
    assert_int_equal(res.bags, 1);
    assert_int_equal(res.entries, 7);
    check_bag(s, 1, a, 7);

    /* exactly one full bag */
    int64_t *b = append_range(s, 100, 10);
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 2);
    assert_int_equal(res.bags, 1);
    check_bag(s, 2, b, 10);

    /* 25 staged in two batches, max 10: bags 3, 4, 5 with 10, 10, 5 */
    int64_t *c1 = append_range(s, 200, 12);
    int64_t *c2 = append_range(s, 300, 13);
    int64_t c[25];
    memcpy(c, c1, 12 * sizeof(int64_t));
    memcpy(c + 12, c2, 13 * sizeof(int64_t));
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 3);
    assert_int_equal(res.bags, 3);
    assert_int_equal(res.entries, 25);
    check_bag(s, 3, c, 10);
    check_bag(s, 4, c + 10, 10);
    check_bag(s, 5, c + 20, 5);
    struct tsb_store_stats st = stats_of(s);
    assert_int_equal(st.last_seq, 5);
    assert_int_equal(st.staged, 0);
    assert_int_equal(st.bags[TSB_BAG_SEALED], 5);
    /* gap-free by construction */
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM bags"), 5);
    assert_int_equal(raw_int(f->path, "SELECT max(seq) - min(seq) + 1 FROM bags"), 5);

    /* base64 and v1 options reach the writer */
    int64_t *d = append_range(s, 400, 2);
    o.bag.enc = TSB_HASH_BASE64;
    o.bag.ns = TSB_BAG_NS_V1;
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    struct tsb_bag_rec br;
    assert_int_equal(tsb_store_bag_get(s, 6, &br), 0);
    struct tsb_bag *p = NULL;
    assert_int_equal(tsb_bag_parse(br.bytes, br.bytes_len, NULL, &p), 0);
    assert_int_equal(p->ns, TSB_BAG_NS_V1);
    assert_int_equal(p->enc, TSB_HASH_BASE64);
    assert_int_equal(p->entries[1].ref, d[1]);
    tsb_bag_free(p);
    tsb_bag_rec_cleanup(&br);

    /* a bad root name fails the whole seal: nothing consumed */
    int64_t *e = append_range(s, 500, 1);
    o.bag.root = "not a name";
    assert_int_not_equal(tsb_store_seal(s, &o, &res), 0);
    st = stats_of(s);
    assert_int_equal(st.last_seq, 6);
    assert_int_equal(st.staged, 1);
    free(a);
    free(b);
    free(c1);
    free(c2);
    free(d);
    free(e);
    tsb_store_close(s);
}

/* A byte cap smaller than max_entries' worth cuts bags early; the rest follows in the next bags. */
static void test_seal_byte_cap(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    int64_t *a = append_range(s, 0, 7);
    struct tsb_seal_opts o = seal_opts(0);
    o.max_bytes = 600;
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 1);
    assert_int_equal(res.entries, 7);
    assert_true(res.bags >= 3);
    size_t done = 0;
    for (size_t i = 0; i < res.bags; i++) {
        struct tsb_bag_rec b;
        assert_int_equal(tsb_store_bag_get(s, 1 + (int64_t)i, &b), 0);
        assert_true(b.bytes_len <= 600);
        assert_true(b.entry_count >= 1);
        size_t n = (size_t)b.entry_count;
        tsb_bag_rec_cleanup(&b);
        check_bag(s, 1 + (int64_t)i, a + done, n);
        done += n;
    }
    assert_int_equal(done, 7);
    assert_int_equal(stats_of(s).staged, 0);
    free(a);
    tsb_store_close(s);
}

/* Byte caps from just above one entry's bag to several entries, in both hash encodings and with
 * the longest root name: no bag exceeds the cap, no entry is lost or reordered, and every bag but
 * the last had no room left for one more entry. */
static void test_seal_byte_cap_sweep(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    char root[TSB_BAG_ROOT_MAX + 1];
    memset(root, 'R', TSB_BAG_ROOT_MAX);
    root[TSB_BAG_ROOT_MAX] = '\0';
    int64_t seq = 1;
    for (int enc = 0; enc < 2; enc++) {
        for (size_t cap = 600; cap <= 2400; cap += 150) {
            int64_t *a = append_range(s, (int)(seq * 100), 9);
            struct tsb_seal_opts o = seal_opts(0);
            o.bag.enc = enc ? TSB_HASH_BASE64 : TSB_HASH_HEX;
            o.bag.root = root;
            o.max_bytes = cap;
            struct tsb_seal_result res;
            assert_int_equal(tsb_store_seal(s, &o, &res), 0);
            assert_int_equal(res.first_seq, seq);
            assert_int_equal(res.entries, 9);
            size_t done = 0;
            for (size_t i = 0; i < res.bags; i++) {
                struct tsb_bag_rec b;
                assert_int_equal(tsb_store_bag_get(s, seq + (int64_t)i, &b), 0);
                if (b.bytes_len > cap)
                    fail_msg("cap %zu: bag %zu has %zu bytes", cap, i, b.bytes_len);
                size_t n = (size_t)b.entry_count;
                /* a bag stops only when one more entry (at most ~160 bytes) and the end tag
                 * might not fit */
                if (i + 1 < res.bags)
                    assert_true(b.bytes_len + 2 * 160 + 80 > cap);
                struct tsb_bag *pb = NULL;
                struct tsb_bag_limits lim = {.max_bytes = cap};
                assert_int_equal(tsb_bag_parse(b.bytes, b.bytes_len, &lim, &pb), 0);
                assert_int_equal(pb->n, n);
                for (size_t k = 0; k < n; k++)
                    assert_int_equal(pb->entries[k].ref, a[done + k]);
                tsb_bag_free(pb);
                tsb_bag_rec_cleanup(&b);
                done += n;
            }
            assert_int_equal(done, 9);
            seq += (int64_t)res.bags;
            free(a);
        }
    }
    assert_int_equal(stats_of(s).staged, 0);
    tsb_store_close(s);
}

/* first_seq numbers the first bag of an empty archive and is ignored once a bag exists. */
static void test_seal_first_sequence(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    int64_t *a = append_range(s, 0, 3);
    struct tsb_seal_opts o = seal_opts(2);
    o.first_seq = 1000;
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 1000);
    assert_int_equal(res.bags, 2);
    check_bag(s, 1000, a, 2);
    check_bag(s, 1001, a + 2, 1);
    struct tsb_bag_rec b;
    struct tsb_bag *pb = NULL;
    assert_int_equal(tsb_store_bag_get(s, 1000, &b), 0);
    assert_int_equal(tsb_bag_parse(b.bytes, b.bytes_len, NULL, &pb), 0);
    assert_int_equal(pb->seq, 1000); /* the SequenceNumber attribute eHealth sees */
    tsb_bag_free(pb);
    tsb_bag_rec_cleanup(&b);
    assert_int_equal(tsb_store_bag_get(s, 999, &b), TSB_ENOTFOUND);
    assert_int_equal(stats_of(s).last_seq, 1001);

    int64_t *c = append_range(s, 10, 1);
    o.first_seq = 5000; /* the archive has bags now: numbering simply continues */
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 1002);
    check_bag(s, 1002, c, 1);
    free(a);
    free(c);
    tsb_store_close(s);
}

/* ---- state machine ------------------------------------------------------------------------ */

static const uint8_t fake_response[] = "<SignResponse/>";
static const uint8_t fake_token[] = {0x30, 0x03, 0x02, 0x01, 0x01};

static struct tsb_stamp stamp_of(int64_t gen)
{
    struct tsb_stamp st = {.sign_response = fake_response,
                           .sign_response_len = sizeof(fake_response) - 1,
                           .token = fake_token,
                           .token_len = sizeof(fake_token),
                           .tsa_serial = "123456789012345678901234567890",
                           .gen_time_ms = gen};
    return st;
}

enum op { OP_SEND, OP_RETRY, OP_FAIL, OP_STAMP, OP_N };

static int do_op(struct tsb_store *s, int64_t seq, enum op op)
{
    struct tsb_stamp st = stamp_of(777);
    switch (op) {
    case OP_SEND:
        return tsb_store_bag_mark_sent(s, seq, "req-x",
                                       "urn:ehealth:profiles:timestamping:2.1-cert", 6000);
    case OP_RETRY:
        return tsb_store_bag_record_failure(s, seq, "connection reset", false, 6100);
    case OP_FAIL:
        return tsb_store_bag_record_failure(s, seq, "DSS ResultMajor RequesterError", true, 6200);
    case OP_STAMP:
        return tsb_store_bag_record_stamp(s, seq, &st, 6300);
    default:
        fail();
    }
    return -1;
}

/* A fresh sealed bag, moved to state st through the API. */
static int64_t bag_in_state(struct tsb_store *s, enum tsb_bag_state st, int first)
{
    int64_t *refs = append_range(s, first, 2);
    free(refs);
    struct tsb_seal_opts o = seal_opts(0);
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.bags, 1);
    int64_t seq = res.first_seq;
    if (st != TSB_BAG_SEALED)
        assert_int_equal(do_op(s, seq, OP_SEND), 0);
    if (st == TSB_BAG_FAILED)
        assert_int_equal(do_op(s, seq, OP_FAIL), 0);
    if (st == TSB_BAG_STAMPED)
        assert_int_equal(do_op(s, seq, OP_STAMP), 0);
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(s, seq, &b), 0);
    assert_int_equal(b.state, st);
    tsb_bag_rec_cleanup(&b);
    return seq;
}

/* A recovered bag (imported from TSConsult), inserted directly as only an import would. */
static int64_t insert_recovered(struct fx *f, struct tsb_store *s)
{
    int64_t seq = stats_of(s).last_seq + 1;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO bag_bytes (seq, part, bytes) VALUES (%lld, 0, x'3c612f3e');"
             "INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, digest, "
             "token, tsa_serial, gen_time_ms) VALUES (%lld, 'recovered', 1, %lld, %lld, 1, "
             "zeroblob(32), x'3003020101', '42', 4242)",
             (long long)seq, (long long)seq, (long long)(900000 + seq), (long long)(900000 + seq));
    assert_int_equal(raw_exec(f->path, sql), SQLITE_OK);
    return seq;
}

static void test_state_transitions_api(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    /* expected result state per (from, op); -1 means refused with TSB_ESTATE */
    static const int want[TSB_BAG_NSTATES][OP_N] = {
        [TSB_BAG_SEALED] = {TSB_BAG_SENT, -1, -1, -1},
        [TSB_BAG_SENT] = {TSB_BAG_SENT, TSB_BAG_SENT, TSB_BAG_FAILED, TSB_BAG_STAMPED},
        [TSB_BAG_FAILED] = {TSB_BAG_SENT, -1, -1, -1},
        [TSB_BAG_STAMPED] = {-1, -1, -1, -1},
        [TSB_BAG_RECOVERED] = {-1, -1, -1, -1},
    };
    int first = 0;
    for (int from = 0; from < TSB_BAG_NSTATES; from++) {
        for (int op = 0; op < OP_N; op++) {
            int64_t seq = from == TSB_BAG_RECOVERED
                              ? insert_recovered(f, s)
                              : bag_in_state(s, (enum tsb_bag_state)from, first += 10);
            struct tsb_bag_rec before, after;
            assert_int_equal(tsb_store_bag_get(s, seq, &before), 0);
            int r = do_op(s, seq, (enum op)op);
            assert_int_equal(tsb_store_bag_get(s, seq, &after), 0);
            if (want[from][op] < 0) {
                if (r != TSB_ESTATE)
                    fprintf(stderr, "from %s op %d: %d\n", tsb_bag_state_name(from), op, r);
                assert_int_equal(r, TSB_ESTATE);
                assert_int_equal(after.state, from);
                assert_int_equal(after.attempts, before.attempts);
            } else {
                assert_int_equal(r, 0);
                assert_int_equal(after.state, want[from][op]);
                assert_int_equal(after.attempts, before.attempts + (op == OP_SEND));
            }
            assert_int_equal(after.bytes_len, before.bytes_len);
            assert_memory_equal(after.bytes, before.bytes, before.bytes_len);
            tsb_bag_rec_cleanup(&before);
            tsb_bag_rec_cleanup(&after);
        }
    }
    assert_int_equal(tsb_store_bag_mark_sent(s, 999, "r", "p", 1), TSB_ENOTFOUND);
    assert_int_equal(tsb_store_bag_mark_sent(s, 1, NULL, "p", 1), TSB_EINVAL);
    struct tsb_stamp bad = stamp_of(1);
    bad.tsa_serial = "12a";
    assert_int_equal(tsb_store_bag_record_stamp(s, 1, &bad, 1), TSB_EINVAL);
    tsb_store_close(s);
}

/* A state change of a large bag writes its small row, not its bytes again: the WAL frames the
 * commit adds stay a handful whatever the bag's size (before schema 0011, mark_sent and the stamp
 * each rewrote the whole row, bag bytes included: one frame per 4 KiB of bag). */
static void test_state_change_leaves_bag_bytes(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    free(append_range(s, 0, 12000)); /* a bag of about 1.2 MB: 300 pages of bytes */
    struct tsb_seal_opts o = seal_opts(0);
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(s, res.first_seq, &b), 0);
    assert_true(b.bytes_len > 1000000);
    tsb_bag_rec_cleanup(&b);
    static const enum op ops[] = {OP_SEND, OP_RETRY, OP_STAMP};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        assert_int_equal(tsb_store_checkpoint(s, 1000, NULL), 0);
        assert_int_equal(tsb_store_wal_frames(s), 0);
        assert_int_equal(do_op(s, res.first_seq, ops[i]), 0);
        int64_t frames = tsb_store_wal_frames(s);
        if (frames > 16)
            fprintf(stderr, "state change %zu wrote %lld WAL frames\n", i, (long long)frames);
        assert_in_range(frames, 1, 16);
    }
    tsb_store_close(s);
}

static void test_stamp_fields_and_attempt_history(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    int64_t seq = bag_in_state(s, TSB_BAG_SEALED, 0);
    assert_int_equal(tsb_store_bag_mark_sent(s, seq, "req-1", "prof", 6000), 0);
    char key[64] = "x";
    assert_int_equal(tsb_store_bag_retry_key(s, seq, key, sizeof(key)), 0);
    assert_string_equal(key, ""); /* no attempt yet */
    assert_int_equal(
        tsb_store_bag_record_failure_finding(s, seq, "timeout", NULL, "fetch:timeout", false, 6050),
        0);
    assert_int_equal(tsb_store_bag_retry_key(s, seq, key, sizeof(key)), 0);
    assert_string_equal(key, "fetch:timeout"); /* retried: the key survives a restart */
    assert_int_equal(tsb_store_bag_mark_sent(s, seq, "req-2", "prof", 6100), 0);
    assert_int_equal(tsb_store_bag_record_failure_finding(s, seq, "SOAP fault",
                                                          "imprint:sha256:base64-text",
                                                          "token:messageImprint:x", true, 6150),
                     0);
    assert_int_equal(tsb_store_bag_retry_key(s, seq, key, sizeof(key)), 0);
    assert_string_equal(key, ""); /* held: a release starts afresh */
    assert_int_equal(tsb_store_bag_mark_sent(s, seq, "req-3", "prof2", 6200), 0);
    struct tsb_stamp st = stamp_of(6210);
    st.finding = "request-id:absent";
    assert_int_equal(tsb_store_bag_record_stamp(s, seq, &st, 6300), 0);
    assert_int_equal(tsb_store_bag_retry_key(s, seq, key, 4), 0);
    assert_string_equal(key, "");

    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(s, seq, &b), 0);
    assert_int_equal(b.state, TSB_BAG_STAMPED);
    assert_int_equal(b.attempts, 3);
    assert_string_equal(b.request_id, "req-3");
    assert_string_equal(b.profile, "prof2");
    assert_string_equal(b.last_error, "SOAP fault");
    assert_string_equal(b.tsa_serial, st.tsa_serial);
    assert_int_equal(b.gen_time_ms, 6210);
    assert_int_equal(b.sent_ms, 6200);
    assert_int_equal(b.stamped_ms, 6300);
    assert_int_equal(b.token_len, sizeof(fake_token));
    assert_memory_equal(b.token, fake_token, sizeof(fake_token));
    assert_int_equal(b.sign_response_len, sizeof(fake_response) - 1);
    assert_memory_equal(b.sign_response, fake_response, b.sign_response_len);
    tsb_bag_rec_cleanup(&b);

    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM bag_attempts"), 3);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM bag_attempts WHERE attempt = 1 AND "
                                      "request_id = 'req-1' AND outcome = 'retry' AND "
                                      "reason = 'timeout' AND at_ms = 6050 AND finding IS NULL "
                                      "AND failure_key = 'fetch:timeout'"),
                     1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM bag_attempts WHERE attempt = 2 AND "
                                      "request_id = 'req-2' AND outcome = 'failed' AND "
                                      "finding = 'imprint:sha256:base64-text'"),
                     1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM bag_attempts WHERE attempt = 3 AND "
                                      "request_id = 'req-3' AND outcome = 'stamped' AND "
                                      "finding = 'request-id:absent' AND failure_key IS NULL"),
                     1);
    /* the history is append-only */
    assert_int_equal(raw_exec(f->path, "UPDATE bag_attempts SET reason = 'x'"),
                     SQLITE_CONSTRAINT_TRIGGER);
    assert_int_equal(raw_exec(f->path, "DELETE FROM bag_attempts"), SQLITE_CONSTRAINT_TRIGGER);
    tsb_store_close(s);
}

/* Every (from, to) pair through raw SQL: only the allowed ones pass the trigger. */
static void test_state_transitions_sql(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    int64_t seq[TSB_BAG_NSTATES];
    for (int st = 0; st < TSB_BAG_NSTATES; st++)
        seq[st] = st == TSB_BAG_RECOVERED ? insert_recovered(f, s)
                                          : bag_in_state(s, (enum tsb_bag_state)st, st * 10);
    tsb_store_close(s);

    static const bool allowed[TSB_BAG_NSTATES][TSB_BAG_NSTATES] = {
        [TSB_BAG_SEALED] = {[TSB_BAG_SENT] = true},
        [TSB_BAG_SENT] = {[TSB_BAG_SENT] = true, [TSB_BAG_STAMPED] = true, [TSB_BAG_FAILED] = true},
        [TSB_BAG_FAILED] = {[TSB_BAG_SENT] = true},
    };
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_extended_result_codes(db, 1);
    for (int from = 0; from < TSB_BAG_NSTATES; from++) {
        for (int to = 0; to < TSB_BAG_NSTATES; to++) {
            char sql[512];
            /* carry whatever evidence the target state's CHECK constraints need */
            snprintf(sql, sizeof(sql),
                     "UPDATE bags SET state = '%s', attempts = max(attempts, 1), "
                     "request_id = coalesce(request_id, 'r'), token = x'3003020101', "
                     "sign_response = x'3c612f3e', tsa_serial = '1', gen_time_ms = 1, "
                     "stamped_ms = 1 WHERE seq = %lld",
                     tsb_bag_state_name(to), (long long)seq[from]);
            assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
            int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
            if (allowed[from][to] ? rc != SQLITE_OK : rc != SQLITE_CONSTRAINT_TRIGGER)
                fprintf(stderr, "%s -> %s: %s\n", tsb_bag_state_name(from), tsb_bag_state_name(to),
                        sqlite3_errmsg(db));
            assert_int_equal(rc, allowed[from][to] ? SQLITE_OK : SQLITE_CONSTRAINT_TRIGGER);
            assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        }
    }
    /* immutable once sealed (checked on the sent bag, whose sent -> sent update is otherwise
     * allowed), never deleted, gap-free on insert. (An INSERT into entries naming bag_seq is no
     * longer refused: schema 0013 dropped that row trigger, nothing reads those columns;
     * test_append_trigger_migration_from_0012.) */
    static const char *const refused[] = {
        "UPDATE bags SET bytes = x'00' WHERE seq = @",
        /* the bytes are in bag_bytes (schema 0011): written before the bag row, never after */
        "UPDATE bag_bytes SET bytes = x'00' WHERE seq = @",
        "DELETE FROM bag_bytes WHERE seq = @",
        "INSERT INTO bag_bytes (seq, part, bytes) VALUES (@, 7, x'00')",
        "INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, digest, bytes) "
        "VALUES ((SELECT max(seq) + 1 FROM bags), 'sealed', 1, 100, 100, 1, zeroblob(32), x'00')",
        "INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, digest) "
        "VALUES ((SELECT max(seq) + 2 FROM bags), 'sealed', 1, 100, 100, 1, zeroblob(32))",
        "UPDATE bags SET digest = zeroblob(32) WHERE seq = @",
        "UPDATE bags SET first_ref = 0 WHERE seq = @",
        "UPDATE bags SET entry_count = 3 WHERE seq = @",
        "UPDATE bags SET sealed_ms = 3 WHERE seq = @",
        "UPDATE bags SET attempts = 0 WHERE seq = @",
        "UPDATE bags SET seq = 100 WHERE seq = @",
        "UPDATE entries SET bag_seq = 2 WHERE ref = 1",
        "UPDATE entries SET position = 5 WHERE ref = 1",
        "UPDATE entries SET bag_seq = NULL, position = NULL WHERE ref = 1",
        "UPDATE entries SET hash = zeroblob(32) WHERE ref = 1",
        "UPDATE entries SET content = x'00' WHERE ref = 1",
        /* a bag's Ref range never overlaps another's (schema 0009) */
        "INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, digest) "
        "VALUES ((SELECT max(seq) + 1 FROM bags), 'sealed', 1, 1, 1, 1, zeroblob(32))",
        "DELETE FROM bags WHERE seq = @",
        "DELETE FROM entries",
        "INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, digest) "
        "VALUES (100, 'sealed', 1, 100, 100, 1, zeroblob(32))",
        "INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, digest, "
        "attempts, request_id) VALUES ((SELECT max(seq) + 1 FROM bags), 'sent', 1, 100, 100, 1, "
        "zeroblob(32), 1, 'r')",
    };
    /* pending bytes for the SequenceNumbers the inserts below try, so that each is refused by the
     * rule it is about, not for lack of bytes */
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO bag_bytes (seq, part, bytes) VALUES "
                                  "((SELECT max(seq) + 1 FROM bags), 0, x'00'), (100, 0, x'00')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char sql[512], num[24];
        snprintf(num, sizeof(num), "%lld", (long long)seq[TSB_BAG_SENT]);
        const char *at = strchr(refused[i], '@');
        if (at != NULL)
            snprintf(sql, sizeof(sql), "%.*s%s%s", (int)(at - refused[i]), refused[i], num, at + 1);
        else
            snprintf(sql, sizeof(sql), "%s", refused[i]);
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_CONSTRAINT_TRIGGER)
            fprintf(stderr, "not refused by a trigger: %s (%s)\n", sql, sqlite3_errmsg(db));
        assert_int_equal(rc, SQLITE_CONSTRAINT_TRIGGER);
    }
    /* while the allowed update of the same sent bag passes */
    char ok[128];
    snprintf(ok, sizeof(ok), "UPDATE bags SET last_error = 'x' WHERE seq = %lld",
             (long long)seq[TSB_BAG_SENT]);
    assert_int_equal(sqlite3_exec(db, ok, NULL, NULL, NULL), SQLITE_OK);
    /* a staged entry is never linked by an update either: its bag is the range (schema 0009) */
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO entries (hash, source, received_ms) "
                                  "VALUES (zeroblob(32), 's', 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE entries SET bag_seq = 1, position = 0 "
                                  "WHERE ref = (SELECT max(ref) FROM entries)",
                                  NULL, NULL, NULL),
                     SQLITE_CONSTRAINT_TRIGGER);
    sqlite3_close(db);
}

/* ---- stats and period lookups ------------------------------------------------------------- */

struct bag_seen {
    size_t n;
    int64_t seqs[16];
};

static int collect_bag(void *arg, const struct tsb_bag_rec *b)
{
    struct bag_seen *c = arg;
    assert_true(c->n < 16);
    assert_non_null(b->token);
    c->seqs[c->n++] = b->seq;
    return 0;
}

static void test_stats_and_gen_time(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    struct tsb_store_stats st = stats_of(s);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.staged, 0);
    assert_int_equal(st.last_ref, 0);
    assert_int_equal(st.last_seq, 0);
    assert_int_equal(st.oldest_unstamped_ms, 0);
    assert_int_equal(st.last_stamped_ms, 0);
    for (int i = 0; i < TSB_BAG_NSTATES; i++)
        assert_int_equal(st.bags[i], 0);

    /* bag 1 stamped (entries received 1000, 1001), bag 2 failed (1010, 1011), bag 3 sent
     * (1020, 1021), bag 4 stamped (1030, 1031), then 3 staged (1040..1042) */
    int64_t b1 = bag_in_state(s, TSB_BAG_STAMPED, 0);
    int64_t b2 = bag_in_state(s, TSB_BAG_FAILED, 10);
    int64_t b3 = bag_in_state(s, TSB_BAG_SENT, 20);
    int64_t b4 = bag_in_state(s, TSB_BAG_SEALED, 30);
    assert_int_equal(tsb_store_bag_mark_sent(s, b4, "r4", "p", 7000), 0);
    struct tsb_stamp sp = stamp_of(8000);
    assert_int_equal(tsb_store_bag_record_stamp(s, b4, &sp, 9000), 0);
    int64_t *refs = append_range(s, 40, 3);

    st = stats_of(s);
    assert_int_equal(st.entries, 11);
    assert_int_equal(st.staged, 3);
    assert_int_equal(st.last_ref, refs[2]);
    assert_int_equal(st.last_seq, 4);
    assert_int_equal(st.bags[TSB_BAG_SEALED], 0);
    assert_int_equal(st.bags[TSB_BAG_SENT], 1);
    assert_int_equal(st.bags[TSB_BAG_FAILED], 1);
    assert_int_equal(st.bags[TSB_BAG_STAMPED], 2);
    assert_int_equal(st.bags[TSB_BAG_RECOVERED], 0);
    assert_int_equal(st.oldest_unstamped_ms, 1010); /* bag 2's first entry */
    assert_int_equal(st.last_stamped_ms, 9000);

    /* the sender finishes the lowest unstamped bag first */
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_next_unstamped(s, &b), 0);
    assert_int_equal(b.seq, b2);
    assert_int_equal(b.state, TSB_BAG_FAILED);
    tsb_bag_rec_cleanup(&b);

    /* gen time: bag 1 at 777 (stamp_of in do_op), bag 4 at 8000, a recovered bag at 4242 */
    int64_t b5 = insert_recovered(f, s);
    struct bag_seen seen = {0};
    assert_int_equal(tsb_store_bags_by_gen_time(s, 0, INT64_MAX, collect_bag, &seen), 0);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.seqs[0], b1);
    assert_int_equal(seen.seqs[1], b4);
    assert_int_equal(seen.seqs[2], b5);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(tsb_store_bags_by_gen_time(s, 777, 4242, collect_bag, &seen), 0);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.seqs[0], b1);
    assert_int_equal(seen.seqs[1], b5);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(tsb_store_bags_by_gen_time(s, 778, 4241, collect_bag, &seen), 0);
    assert_int_equal(seen.n, 0);
    st = stats_of(s);
    assert_int_equal(st.bags[TSB_BAG_RECOVERED], 1);
    assert_int_equal(st.last_seq, b5);
    (void)b3;
    free(refs);
    tsb_store_close(s);
}

/* ---- concurrency ---------------------------------------------------------------------------- */

static void test_readonly_beside_writer(void **state)
{
    struct fx *f = *state;
    struct tsb_store *w = open_rw(f->path);
    int64_t *a = append_range(w, 0, 3);
    struct tsb_store *r = NULL;
    struct tsb_store_open_opts ro = {.readonly = true};
    assert_int_equal(tsb_store_open(f->path, &ro, &r), 0);
    assert_int_equal(tsb_store_schema_version(r), tsb_schema_migrations_n);
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(r, a[2], &e), 0);
    tsb_entry_rec_cleanup(&e);
    assert_int_equal(stats_of(r).entries, 3);

    /* the reader cannot write */
    struct entry_buf b;
    make_entry(&b, 9, false);
    int64_t ref = 0;
    assert_int_equal(tsb_store_append(r, &b.in, 1, &ref), TSB_ESTATE);
    struct tsb_seal_opts o = seal_opts(0);
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(r, &o, &res), TSB_ESTATE);

    /* the writer goes on; the reader sees each new commit */
    int64_t *c = append_range(w, 10, 2);
    assert_int_equal(tsb_store_seal(w, &o, &res), 0);
    assert_int_equal(stats_of(r).entries, 5);
    assert_int_equal(stats_of(r).last_seq, 1);
    assert_int_equal(tsb_store_entry_by_ref(r, c[1], &e), 0);
    assert_int_equal(e.bag_seq, 1);
    tsb_entry_rec_cleanup(&e);
    tsb_store_close(r);
    tsb_store_close(w);
    free(a);
    free(c);
}

/* One snapshot for every read between begin and end; the truncating checkpoint waits for no
 * reader past its bound and empties the WAL once they are gone. */
static void test_snapshot_and_checkpoint(void **state)
{
    struct fx *f = *state;
    struct tsb_store *w = open_rw(f->path);
    free(append_range(w, 0, 3));
    assert_true(tsb_store_wal_frames(w) > 0);
    struct tsb_store *r = NULL;
    struct tsb_store_open_opts ro = {.readonly = true};
    assert_int_equal(tsb_store_open(f->path, &ro, &r), 0);
    assert_int_equal(tsb_store_snapshot_begin(r), 0);
    assert_int_equal(tsb_store_snapshot_begin(r), TSB_ESTATE);
    free(append_range(w, 10, 2));
    assert_int_equal(stats_of(r).entries, 3); /* the snapshot, not the newest commit */
    int64_t left = 0, wal = 0;
    assert_int_equal(tsb_store_checkpoint(w, 0, &left), TSB_EBUSY);
    assert_true(left > 0);
    assert_int_equal(tsb_store_checkpoint(r, 0, NULL), TSB_ESTATE); /* read-only */
    tsb_store_snapshot_end(r);
    assert_int_equal(stats_of(r).entries, 5);
    assert_int_equal(tsb_store_wal_size(w, &wal), 0);
    assert_true(wal > 0);
    assert_int_equal(tsb_store_checkpoint(w, 0, &left), 0);
    assert_int_equal(left, 0);
    assert_int_equal(tsb_store_wal_frames(w), 0);
    assert_int_equal(tsb_store_wal_size(w, &wal), 0);
    assert_int_equal(wal, 0);
    tsb_store_close(r);
    tsb_store_close(w);
}

/* quick_check at open refuses a damaged file before anything (a migration) could write to it. */
static void test_open_quick_check(void **state)
{
    struct fx *f = *state;
    struct tsb_store *w = open_rw(f->path);
    struct tsb_store_open_opts qo = {.quick_check = true};
    tsb_store_close(w);
    assert_int_equal(tsb_store_open(f->path, &qo, &w), 0);
    tsb_store_close(w);
    int64_t psize = raw_int(f->path, "PRAGMA page_size");
    int64_t root = raw_int(f->path, "SELECT rootpage FROM sqlite_schema WHERE name = "
                                    "'bag_attempts'");
    assert_int_equal(tsb_test_sh("dd if=/dev/zero of='%s' bs=%lld seek=%lld count=1 conv=notrunc "
                                 "status=none",
                                 f->path, (long long)psize, (long long)(root - 1)),
                     0);
    assert_int_equal(tsb_store_open(f->path, &qo, &w), TSB_EDAMAGED);
    assert_non_null(strstr(tsb_err_detail(), "quick_check"));
    assert_non_null(strstr(tsb_err_detail(), "is damaged"));
    /* without the option the damage goes unseen at open: the option is what refuses */
    assert_int_equal(tsb_store_open(f->path, NULL, &w), 0);
    int64_t n = 0;
    assert_int_equal(tsb_store_integrity(w, false, NULL, NULL, &n), 0);
    assert_true(n > 0);
    assert_non_null(tsb_store_damage(w));
    tsb_store_close(w);
}

/* A flipped byte in the schema text stored in the file (here: a CHECK constraint's function
 * name) makes every statement fail to prepare with a plain SQLITE_ERROR, integrity_check
 * included: that is damage to report, not a check that could not run. */
static void test_damaged_schema_text(void **state)
{
    struct fx *f = *state;
    struct tsb_store *w = open_rw(f->path);
    tsb_store_close(w);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA writable_schema = ON;"
                                  "UPDATE sqlite_schema SET sql = replace(sql, 'length(digest)', "
                                  "'lengt\xef(digest)') WHERE name = 'bags';",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    struct tsb_store_open_opts qo = {.quick_check = true};
    assert_int_equal(tsb_store_open(f->path, &qo, &w), TSB_EDAMAGED);
    assert_non_null(strstr(tsb_err_detail(), "is damaged"));
    /* opened without the option (tsbag reconcile), the integrity check itself reports the
     * damage. (A read-only connection does not compile the stored CHECK text at all: SQLite's
     * integrity_check says "ok" there, which is why the check runs on a writable connection.) */
    assert_int_equal(tsb_store_open(f->path, NULL, &w), 0);
    int64_t n = 0;
    assert_int_equal(tsb_store_integrity(w, false, NULL, NULL, &n), 0);
    assert_true(n > 0);
    assert_non_null(tsb_store_damage(w));
    tsb_store_close(w);
}

static void test_busy(void **state)
{
    struct fx *f = *state;
    struct tsb_store_open_opts o = {.busy_timeout_ms = 50};
    struct tsb_store *s = NULL;
    assert_int_equal(tsb_store_open(f->path, &o, &s), 0);
    int64_t *a = append_range(s, 0, 1);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    struct entry_buf b;
    make_entry(&b, 5, false);
    int64_t ref = 0;
    assert_int_equal(tsb_store_append(s, &b.in, 1, &ref), TSB_EBUSY);
    assert_non_null(strstr(tsb_err_detail(), "locked"));
    struct tsb_seal_opts so = seal_opts(0);
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(s, &so, &res), TSB_EBUSY);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* busy is not fatal: the same connection writes again */
    assert_int_equal(tsb_store_append(s, &b.in, 1, &ref), 0);
    assert_true(ref > a[0]);
    assert_int_equal(stats_of(s).entries, 2);
    free(a);
    tsb_store_close(s);
}

/* ---- durability failures -------------------------------------------------------------------- */

/* Forces a failure of the knob's kind on a 3-entry append after 5 committed entries. exact: the
 * failed batch must be absent after reopening (a failed write never completes the commit
 * record). Otherwise (a failed fsync) its frames may already be complete in the WAL, so after
 * reopening it is there whole or not at all: never in part, never at the expense of the 5. */
static void durable_failure(struct fx *f, int *knob, int *counter, bool exact)
{
    tsb_fault_vfs_register();
    struct tsb_store_open_opts o = {.vfs = TSB_FAULT_VFS};
    struct tsb_store *s = NULL;
    assert_int_equal(tsb_store_open(f->path, &o, &s), 0);
    int64_t *a = append_range(s, 0, 5);

    struct entry_buf b[3];
    struct tsb_entry_in in[3];
    for (int i = 0; i < 3; i++) {
        make_entry(&b[i], 100 + i, true);
        in[i] = b[i].in;
    }
    int64_t refs[3] = {0};
    *counter = 0;
    *knob = TSB_FAULT_DB | TSB_FAULT_WAL;
    assert_int_equal(tsb_store_append(s, in, 3, refs), TSB_EDURABLE);
    *knob = 0;
    assert_true(*counter > 0);
    assert_int_equal(refs[0], 0);

    /* poisoned: every later write is refused, with the disk healthy again; reads still work */
    assert_int_equal(tsb_store_append(s, in, 1, refs), TSB_EDURABLE);
    struct tsb_seal_opts so = seal_opts(0);
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(s, &so, &res), TSB_EDURABLE);
    assert_int_equal(tsb_store_bag_mark_sent(s, 1, "r", "p", 1), TSB_EDURABLE);
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(s, a[4], &e), 0);
    tsb_entry_rec_cleanup(&e);
    tsb_store_close(s);

    /* what was acknowledged is there, and nothing half-written */
    struct tsb_store *c = open_rw(f->path); /* default VFS */
    struct tsb_store_stats st = stats_of(c);
    size_t found = 0;
    for (int i = 0; i < 3; i++) {
        struct collected col = {0};
        assert_int_equal(tsb_store_entries_by_hash(c, in[i].digest, collect, &col), 0);
        assert_true(col.n <= 1);
        found += col.n;
        if (col.n == 1)
            assert_true(col.refs[0] > a[4]);
    }
    if (exact || found == 0) {
        assert_int_equal(found, 0);
        assert_int_equal(st.entries, 5);
        assert_int_equal(st.last_ref, a[4]);
    } else {
        assert_int_equal(found, 3);
        assert_int_equal(st.entries, 8);
    }
    for (int i = 0; i < 5; i++) {
        struct entry_buf eb;
        make_entry(&eb, i, false);
        assert_int_equal(tsb_store_entry_by_ref(c, a[i], &e), 0);
        assert_memory_equal(e.digest, eb.in.digest, TSB_SHA256_LEN);
        tsb_entry_rec_cleanup(&e);
    }
    tsb_store_close(c);
    free(a);
}

static void test_write_failure_is_durable_error(void **state)
{
    durable_failure(*state, &tsb_fault_fail_writes, &tsb_fault_writes_failed, true);
}

static void test_fsync_failure_is_durable_error(void **state)
{
    durable_failure(*state, &tsb_fault_fail_syncs, &tsb_fault_syncs_failed, false);
}

/* A failed write or fsync while sealing 30 entries into bags of 10: afterwards either no bag
 * exists and every entry is still staged, or (fsync only: the commit record may have reached the
 * WAL) all three bags exist, complete and consistent. Never some bags, never a partial bag. */
static void seal_failure(struct fx *f, int *knob, bool exact)
{
    tsb_fault_vfs_register();
    struct tsb_store_open_opts o = {.vfs = TSB_FAULT_VFS};
    struct tsb_store *s = NULL;
    assert_int_equal(tsb_store_open(f->path, &o, &s), 0);
    int64_t *a = append_range(s, 0, 30);
    struct tsb_seal_opts so = seal_opts(10);
    struct tsb_seal_result res = {0};
    *knob = TSB_FAULT_DB | TSB_FAULT_WAL;
    assert_int_equal(tsb_store_seal(s, &so, &res), TSB_EDURABLE);
    *knob = 0;
    assert_int_equal(res.bags, 0);
    tsb_store_close(s);

    s = open_rw(f->path);
    struct tsb_store_stats st = stats_of(s);
    assert_int_equal(st.entries, 30);
    if (exact || st.last_seq == 0) {
        assert_int_equal(st.staged, 30);
        assert_int_equal(st.last_seq, 0);
        /* the archive seals normally afterwards, from SequenceNumber 1 */
        assert_int_equal(tsb_store_seal(s, &so, &res), 0);
        assert_int_equal(res.first_seq, 1);
        assert_int_equal(res.bags, 3);
    } else {
        assert_int_equal(st.staged, 0);
        assert_int_equal(st.last_seq, 3);
    }
    check_bag(s, 1, a, 10);
    check_bag(s, 2, a + 10, 10);
    check_bag(s, 3, a + 20, 10);
    tsb_store_close(s);
    free(a);
}

static void test_write_failure_while_sealing(void **state)
{
    seal_failure(*state, &tsb_fault_fail_writes, true);
}

static void test_fsync_failure_while_sealing(void **state)
{
    seal_failure(*state, &tsb_fault_fail_syncs, false);
}

/* A batch of 1500 entries of 4 KiB each (about 6 MiB: more than 1000 WAL pages in one commit),
 * for the checkpoint tests. Free with free_big_batch. */
#define BIG_BATCH 1500
struct big_batch {
    struct entry_buf b[BIG_BATCH];
    struct tsb_entry_in in[BIG_BATCH];
    int64_t refs[BIG_BATCH];
};

static struct big_batch *big_batch_new(void)
{
    static uint8_t blob[4096];
    memset(blob, 'x', sizeof(blob));
    struct big_batch *bb = calloc(1, sizeof(*bb));
    assert_non_null(bb);
    for (size_t i = 0; i < BIG_BATCH; i++) {
        make_entry(&bb->b[i], 1000 + (int)i, false);
        bb->in[i] = bb->b[i].in;
        bb->in[i].content = blob;
        bb->in[i].content_len = sizeof(blob);
    }
    return bb;
}

/* SQLite ignores a failed auto-checkpoint; store.c's WAL hook must not. The commit that crosses
 * the checkpoint threshold gets TSB_EDURABLE when the database file's fsync fails, although its
 * own WAL frames were synced: after reopening, that batch is there whole. */
static void test_checkpoint_fsync_failure(void **state)
{
    struct fx *f = *state;
    tsb_fault_vfs_register();
    struct tsb_store_open_opts o = {.vfs = TSB_FAULT_VFS};
    struct tsb_store *s = NULL;
    assert_int_equal(tsb_store_open(f->path, &o, &s), 0);
    int64_t *a = append_range(s, 0, 5);

    struct big_batch *bb = big_batch_new();
    size_t n = BIG_BATCH;
    struct tsb_entry_in *in = bb->in;
    int64_t *refs = bb->refs;
    tsb_fault_syncs_failed = 0;
    tsb_fault_fail_syncs = TSB_FAULT_DB;
    assert_int_equal(tsb_store_append(s, in, n, refs), TSB_EDURABLE);
    assert_non_null(strstr(tsb_err_detail(), "checkpoint"));
    tsb_fault_fail_syncs = 0;
    assert_true(tsb_fault_syncs_failed > 0);
    assert_int_equal(tsb_store_append(s, in, 1, refs), TSB_EDURABLE);
    tsb_store_close(s);

    s = open_rw(f->path);
    struct tsb_store_stats st = stats_of(s);
    assert_int_equal(st.entries, 5 + (int64_t)n);
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(s, a[4] + (int64_t)n, &e), 0);
    assert_int_equal(e.content_len, 4096);
    tsb_entry_rec_cleanup(&e);
    tsb_store_close(s);
    free(a);
    free(bb);
}

/* no_checkpoint (tsbagd's writer): a commit past 1000 WAL frames does not checkpoint, so the
 * archive file's failing fsync does not touch it; the other connection's passive checkpoint meets
 * it: TSB_EDURABLE, that connection poisoned, the WAL left whole for the next open. */
static void test_passive_checkpoint_elsewhere(void **state)
{
    struct fx *f = *state;
    tsb_fault_vfs_register();
    struct tsb_store_open_opts o = {.vfs = TSB_FAULT_VFS, .no_checkpoint = true};
    struct tsb_store *w = NULL, *c = NULL;
    assert_int_equal(tsb_store_open(f->path, &o, &w), 0);
    assert_int_equal(tsb_store_open(f->path, &o, &c), 0);
    int64_t frames = -1, copied = -1;
    free(append_range(w, 0, 5));
    assert_int_equal(tsb_store_checkpoint_passive(c, &frames, &copied), 0);
    assert_true(frames > 0);
    assert_int_equal(copied, frames);

    struct big_batch *bb = big_batch_new();
    size_t n = BIG_BATCH;
    tsb_fault_syncs_failed = 0;
    tsb_fault_fail_syncs = TSB_FAULT_DB;
    assert_int_equal(tsb_store_append(w, bb->in, n, bb->refs), 0);
    assert_int_equal(tsb_fault_syncs_failed, 0); /* the WAL's fsync only */
    assert_true(tsb_store_wal_frames(w) > 1000);
    assert_int_equal(tsb_store_checkpoint_passive(c, &frames, &copied), TSB_EDURABLE);
    tsb_fault_fail_syncs = 0;
    assert_true(tsb_fault_syncs_failed > 0);
    assert_int_equal(tsb_store_checkpoint_passive(c, &frames, &copied), TSB_EDURABLE);
    assert_int_equal(tsb_store_checkpoint(c, 0, NULL), TSB_EDURABLE);
    tsb_store_close(w);
    tsb_store_close(c); /* the last one, poisoned: no checkpoint on close */

    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(stats_of(s).entries, 5 + (int64_t)n);
    tsb_store_close(s);
    free(bb);
}

/* ---- online backup ------------------------------------------------------------------------ */

/* Appends one entry through another connection after each backup step (a live tsbagd). */
struct backup_writer {
    struct tsb_store *w;
    int next, steps;
};

static void write_each_step(void *arg, int64_t remaining, int64_t total)
{
    struct backup_writer *bw = arg;
    assert_true(total > 0 && remaining >= 0 && remaining <= total);
    if (bw->steps++ < 200)
        free(append_range(bw->w, bw->next++, 1));
}

/* Anything beside copy.db that belongs to it: a temporary copy, a journal, a WAL. */
static bool has_tmp_files(const char *dir)
{
    return tsb_test_sh("ls -a '%s' | grep -q '^copy\\.db[.-]'", dir) == 0;
}

/* The copy is the archive as it was at the first step, although another connection commits
 * between every two steps (without the held read transaction, SQLite restarts the copy after each
 * such write and the copy ends up with them); it is a single file, nothing is left beside it. */
static void test_backup_is_one_snapshot_under_writes(void **state)
{
    struct fx *f = *state;
    struct tsb_store *w = open_rw(f->path), *src = NULL, *copy = NULL;
    free(append_range(w, 1, 400));
    struct tsb_store_open_opts ro = {.readonly = true};
    assert_int_equal(tsb_store_open(f->path, &ro, &src), 0);
    char *bdir = tsb_test_path(f->dir, "backups");
    assert_int_equal(tsb_test_sh("mkdir '%s'", bdir), 0);
    char *dest = tsb_test_path(bdir, "copy.db");
    struct backup_writer bw = {.w = w, .next = 401};
    struct tsb_backup_opts bo = {.step_pages = 1, .on_step = write_each_step, .arg = &bw};
    int r = tsb_store_backup(src, dest, &bo);
    if (r != 0)
        fprintf(stderr, "backup: %s\n", tsb_err_detail());
    assert_int_equal(r, 0);
    assert_true(bw.steps >= 4); /* several steps, each followed by a committed write */
    assert_int_equal(stats_of(w).entries, 400 + (bw.steps < 200 ? bw.steps : 200));

    assert_int_equal(tsb_store_open(dest, &ro, &copy), 0);
    struct tsb_store_stats cs = stats_of(copy);
    assert_int_equal(cs.entries, 400);
    assert_int_equal(cs.last_ref, 400);
    tsb_store_close(copy);
    assert_int_equal(raw_int(dest, "SELECT count(*) FROM pragma_integrity_check WHERE "
                                   "integrity_check = 'ok'"),
                     1);
    /* rollback-journal mode: header bytes 18 and 19 are 1, not WAL's 2 */
    size_t len = 0;
    uint8_t *hdr = tsb_test_read_file(dest, &len);
    assert_true(len >= 100);
    assert_int_equal(hdr[18], 1);
    assert_int_equal(hdr[19], 1);
    free(hdr);
    assert_false(has_tmp_files(bdir));
    /* the source connection is usable afterwards (its read transaction ended) */
    assert_int_equal(stats_of(src).entries, stats_of(w).entries);
    tsb_store_close(src);
    tsb_store_close(w);
    free(dest);
    free(bdir);
}

/* An existing destination is refused and left as it was; force replaces it; a folder that does
 * not exist is an I/O error naming the destination, leaving nothing behind. */
static void test_backup_dest_rules(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path), *copy = NULL;
    free(append_range(s, 1, 3));
    char *dest = tsb_test_path(f->dir, "copy.db");
    assert_int_equal(tsb_test_write_file(dest, "keep", 4), 0);
    assert_int_equal(tsb_store_backup(s, dest, NULL), TSB_ESTATE);
    assert_non_null(strstr(tsb_err_detail(), "already exists"));
    size_t len = 0;
    uint8_t *p = tsb_test_read_file(dest, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(p, "keep", 4);
    free(p);

    struct tsb_backup_opts force = {.force = true};
    assert_int_equal(tsb_store_backup(s, dest, &force), 0);
    struct tsb_store_open_opts ro = {.readonly = true};
    assert_int_equal(tsb_store_open(dest, &ro, &copy), 0);
    assert_int_equal(stats_of(copy).entries, 3);
    tsb_store_close(copy);

    char *nowhere = tsb_test_path(f->dir, "missing/copy.db");
    assert_int_equal(tsb_store_backup(s, nowhere, NULL), TSB_EIO);
    assert_non_null(strstr(tsb_err_detail(), nowhere));
    assert_false(has_tmp_files(f->dir));
    /* the store still writes after the backups */
    free(append_range(s, 4, 1));
    assert_int_equal(stats_of(s).entries, 4);
    tsb_store_close(s);
    free(nowhere);
    free(dest);
}

/* ---- second tokens (schema 0009) ------------------------------------------------------------ */

static struct tsb_tsa2_stamp tsa2_stamp_of(struct tsb_store *s, int64_t seq)
{
    static const uint8_t tok[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    struct tsb_tsa2_stamp st = {.seq = seq,
                                .url = "https://tsa.example/tsa",
                                .tsa_serial = "7",
                                .gen_time_ms = 1000 + seq,
                                .policy = "1.2.3",
                                .tsa_subject = "/CN=Second",
                                .nonce = "0102030405060708",
                                .token = tok,
                                .token_len = sizeof(tok)};
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(s, seq, &b), 0);
    memcpy(st.imprint, b.digest, TSB_SHA256_LEN);
    tsb_bag_rec_cleanup(&b);
    return st;
}

/* The backlog is every bag without a second token, oldest first, whatever its eHealth state; a
 * token is archived once, over its bag's digest only, and never changed or removed. */
static void test_tsa2_tokens(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    struct tsb_bag_rec b;
    struct tsb_tsa2_backlog bl;
    assert_int_equal(tsb_store_tsa2_next(s, &b), TSB_ENOTFOUND);
    assert_int_equal(tsb_store_tsa2_backlog(s, &bl), 0);
    assert_int_equal(bl.bags, 0);
    assert_int_equal(bl.oldest_seq, 0);
    int64_t a = bag_in_state(s, TSB_BAG_STAMPED, 0);
    int64_t c = bag_in_state(s, TSB_BAG_SEALED, 10);
    int64_t d = bag_in_state(s, TSB_BAG_FAILED, 20);
    assert_int_equal(tsb_store_tsa2_next(s, &b), 0);
    assert_int_equal(b.seq, a);
    tsb_bag_rec_cleanup(&b);

    struct tsb_tsa2_stamp st = tsa2_stamp_of(s, c); /* out of order: the next stays a */
    assert_int_equal(tsb_store_tsa2_add(s, &st, 5), 0);
    assert_int_equal(tsb_store_tsa2_add(s, &st, 6), TSB_ECONFLICT);
    assert_int_equal(tsb_store_tsa2_next(s, &b), 0);
    assert_int_equal(b.seq, a);
    tsb_bag_rec_cleanup(&b);
    assert_int_equal(tsb_store_tsa2_backlog(s, &bl), 0);
    assert_int_equal(bl.bags, 2);
    assert_int_equal(bl.oldest_seq, a);

    /* the imprint must be the bag's digest: the trigger refuses another one */
    struct tsb_tsa2_stamp bad = tsa2_stamp_of(s, a);
    bad.imprint[0] ^= 1;
    assert_int_equal(tsb_store_tsa2_add(s, &bad, 5), TSB_ESTORE);
    assert_non_null(strstr(tsb_err_detail(), "digest of an archived bag"));
    bad = tsa2_stamp_of(s, a);
    bad.tsa_serial = "x1";
    assert_int_equal(tsb_store_tsa2_add(s, &bad, 5), TSB_EINVAL);
    bad = tsa2_stamp_of(s, a);
    bad.seq = 999;
    assert_int_equal(tsb_store_tsa2_add(s, &bad, 5), TSB_ESTORE);

    st = tsa2_stamp_of(s, a);
    assert_int_equal(tsb_store_tsa2_add(s, &st, 7), 0);
    st = tsa2_stamp_of(s, d);
    assert_int_equal(tsb_store_tsa2_add(s, &st, 8), 0);
    assert_int_equal(tsb_store_tsa2_next(s, &b), TSB_ENOTFOUND);
    assert_int_equal(tsb_store_tsa2_backlog(s, &bl), 0);
    assert_int_equal(bl.bags, 0);

    struct tsb_tsa2_rec t;
    assert_int_equal(tsb_store_tsa2_get(s, d, &t), 0);
    assert_int_equal(t.seq, d);
    assert_string_equal(t.url, "https://tsa.example/tsa");
    assert_string_equal(t.tsa_serial, "7");
    assert_string_equal(t.policy, "1.2.3");
    assert_string_equal(t.tsa_subject, "/CN=Second");
    assert_string_equal(t.nonce, "0102030405060708");
    assert_int_equal(t.gen_time_ms, 1000 + d);
    assert_int_equal(t.stamped_ms, 8);
    assert_int_equal(t.token_len, st.token_len);
    assert_memory_equal(t.token, st.token, st.token_len);
    assert_memory_equal(t.imprint, st.imprint, TSB_SHA256_LEN);
    tsb_tsa2_rec_cleanup(&t);
    assert_int_equal(tsb_store_tsa2_get(s, 999, &t), TSB_ENOTFOUND);
    tsb_store_close(s);

    /* append-only behind the API too */
    assert_int_not_equal(raw_exec(f->path, "UPDATE tsa2_tokens SET policy = '9' WHERE seq = 1"),
                         SQLITE_OK);
    assert_int_not_equal(raw_exec(f->path, "DELETE FROM tsa2_tokens"), SQLITE_OK);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tsa2_tokens"), 3);
}

/* An archive made by schema 0008 (before second tokens) gains the table at open: its bags are all
 * backlog, and the triggers apply at once. */
static void test_tsa2_migration_from_0008(void **state)
{
    struct fx *f = *state;
    make_archive_before(f->path, "tsa2_tokens");
    assert_int_equal(raw_exec(f->path, "INSERT INTO entries (hash, source, received_ms) "
                                       "VALUES (zeroblob(32), 'old', 42)"),
                     SQLITE_OK);
    assert_int_equal(raw_exec(f->path, "INSERT INTO bags (seq, state, entry_count, first_ref, "
                                       "last_ref, sealed_ms, digest, bytes) VALUES (1, 'sealed', "
                                       "1, 1, 1, 42, zeroblob(32), x'3c612f3e')"),
                     SQLITE_OK);
    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    struct tsb_tsa2_backlog bl;
    assert_int_equal(tsb_store_tsa2_backlog(s, &bl), 0);
    assert_int_equal(bl.bags, 1);
    assert_int_equal(bl.oldest_seq, 1);
    assert_int_equal(bl.oldest_sealed_ms, 42);
    struct tsb_tsa2_stamp st = tsa2_stamp_of(s, 1);
    assert_int_equal(tsb_store_tsa2_add(s, &st, 50), 0);
    tsb_store_close(s);
    assert_int_not_equal(raw_exec(f->path, "DELETE FROM tsa2_tokens"), SQLITE_OK);
}

/* Schema 0011 on an archive made by schema 0010: the bags sealed before keep their bytes in their
 * row and read back, move through their states and are checked as before; bags sealed after it
 * have theirs in bag_bytes only, and a state change leaves them alone. */
static void test_bag_bytes_migration_from_0011(void **state)
{
    struct fx *f = *state;
    make_archive_before(f->path, "bag_bytes");
    /* bag 1 stamped, bag 2 sealed, one staged entry: as schema 0010's store.c wrote them */
    assert_int_equal(
        raw_exec(f->path,
                 "INSERT INTO entries (hash, source, received_ms) VALUES "
                 "(randomblob(32), 'old', 10), (randomblob(32), 'old', 11), "
                 "(randomblob(32), 'old', 12);"
                 "INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, "
                 "digest, bytes) VALUES (1, 'sealed', 1, 1, 1, 20, zeroblob(32), x'3c612f3e'),"
                 "(2, 'sealed', 1, 2, 2, 21, zeroblob(32), x'3c622f3e');"
                 "UPDATE counters SET entries = 3;"
                 "UPDATE bags SET state = 'sent', attempts = 1, request_id = 'r' WHERE seq = 1;"
                 "UPDATE bags SET state = 'stamped', token = x'3003020101', "
                 "sign_response = x'3c612f3e', tsa_serial = '1', gen_time_ms = 30, "
                 "stamped_ms = 30 WHERE seq = 1;"),
        SQLITE_OK);
    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM bag_bytes"), 0);
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(s, 1, &b), 0);
    assert_int_equal(b.state, TSB_BAG_STAMPED);
    assert_int_equal(b.bytes_len, 4);
    assert_memory_equal(b.bytes, "<a/>", 4);
    tsb_bag_rec_cleanup(&b);
    /* the old sealed bag is sent and stamped with its bytes where they were */
    assert_int_equal(do_op(s, 2, OP_SEND), 0);
    assert_int_equal(do_op(s, 2, OP_STAMP), 0);
    assert_int_equal(tsb_store_bag_get(s, 2, &b), 0);
    assert_int_equal(b.state, TSB_BAG_STAMPED);
    assert_int_equal(b.bytes_len, 4);
    assert_memory_equal(b.bytes, "<b/>", 4);
    tsb_bag_rec_cleanup(&b);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM bags WHERE bytes IS NOT NULL"), 2);

    /* a new seal: the bag row without bytes, the bytes in bag_bytes */
    struct tsb_seal_opts o = seal_opts(0);
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(s, &o, &res), 0);
    assert_int_equal(res.first_seq, 3);
    assert_int_equal(raw_int(f->path, "SELECT bytes IS NULL FROM bags WHERE seq = 3"), 1);
    int64_t len = raw_int(f->path, "SELECT sum(length(bytes)) FROM bag_bytes WHERE seq = 3");
    assert_true(len > 0);
    assert_int_equal(do_op(s, 3, OP_SEND), 0);
    assert_int_equal(tsb_store_bag_get(s, 3, &b), 0);
    assert_int_equal((int64_t)b.bytes_len, len);
    assert_non_null(memmem(b.bytes, b.bytes_len, "SequenceNumber=\"3\"", 18));
    uint8_t d[TSB_SHA256_LEN];
    tsb_sha256(b.bytes, b.bytes_len, d);
    assert_memory_equal(d, b.digest, TSB_SHA256_LEN);
    tsb_bag_rec_cleanup(&b);
    struct tsb_store_stats st = stats_of(s);
    assert_int_equal(st.bags[TSB_BAG_STAMPED], 2);
    assert_int_equal(st.bags[TSB_BAG_SENT], 1);
    assert_int_equal(st.staged, 0);
    tsb_store_close(s);

    /* each bag's bytes are in one place, written once */
    static const char *const refused[] = {
        "INSERT INTO bag_bytes (seq, part, bytes) VALUES (1, 0, x'00')",
        "UPDATE bag_bytes SET bytes = x'00' WHERE seq = 3",
        "DELETE FROM bag_bytes WHERE seq = 3",
        "UPDATE bags SET bytes = x'00' WHERE seq = 3",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_int_equal(raw_exec(f->path, refused[i]), SQLITE_CONSTRAINT_TRIGGER);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM pragma_integrity_check "
                                      "WHERE integrity_check <> 'ok'"),
                     0);
}

/* ---- archive timestamps (schema 0010) ------------------------------------------------------- */

static const uint8_t ers_root[32] = {1, 2, 3};
static const uint8_t ers_tok[] = {0x30, 0x03, 0x02, 0x01, 0x07};
static const uint8_t ers_path[] = {0x30, 0x00};

static struct tsb_ers_tree_in ers_tree_of(enum tsb_ers_kind kind, size_t leaves, int64_t not_after)
{
    return (struct tsb_ers_tree_in){.kind = kind,
                                    .alg = "sha256",
                                    .leaves = leaves,
                                    .url = "https://tsa.example/rfc3161",
                                    .tsa_serial = "11",
                                    .tsa_subject = "/CN=Renewal TSA",
                                    .gen_time_ms = 5000,
                                    .not_after_ms = not_after,
                                    .root = ers_root,
                                    .root_len = sizeof(ers_root),
                                    .token = ers_tok,
                                    .token_len = sizeof(ers_tok)};
}

static struct tsb_ers_link_in ers_link_of(int64_t seq, int64_t chain, int64_t position)
{
    return (struct tsb_ers_link_in){.seq = seq,
                                    .chain = chain,
                                    .position = position,
                                    .members = TSB_ERS_OBJ_BAG | TSB_ERS_OBJ_TOKEN,
                                    .path = ers_path,
                                    .path_len = sizeof(ers_path)};
}

struct ers_seen {
    int64_t seq[8], chain[8], position[8], not_after[8];
    size_t n;
};

static int ers_seen_link(void *arg, const struct tsb_ers_link_rec *l)
{
    struct ers_seen *e = arg;
    assert_true(e->n < 8);
    assert_int_equal(l->token_len, sizeof(ers_tok));
    assert_memory_equal(l->token, ers_tok, sizeof(ers_tok));
    assert_string_equal(l->alg, "sha256");
    assert_string_equal(l->tsa_serial, "11");
    e->seq[e->n] = l->seq;
    e->chain[e->n] = l->chain;
    e->position[e->n] = l->position;
    e->not_after[e->n++] = l->not_after_ms;
    return 0;
}

static int ers_seen_bag(void *arg, const struct tsb_bag_rec *b)
{
    struct ers_seen *e = arg;
    assert_true(e->n < 8);
    e->seq[e->n++] = b->seq;
    return 0;
}

/* A tree and its links are one transaction; a bag is never stamped twice in the same role, its
 * positions and chains never skip, its group never changes, unstamped bags are never linked; the
 * heads are each bag's latest ArchiveTimeStamp; nothing is updated or deleted. */
/* ---- the digest index (schema 0012) ------------------------------------------------------ */

/* Appends entries ref first..last with random digests, but digest d (first byte 0xab: slice 5)
 * at the Refs of d_refs, straight into the table (what many appends would leave). */
static void raw_entries(const char *path, int64_t first, int64_t last, const int64_t *d_refs,
                        size_t n_d)
{
    char in[256] = "0", sql[768];
    for (size_t i = 0; i < n_d; i++)
        snprintf(in + strlen(in), sizeof(in) - strlen(in), ", %lld", (long long)d_refs[i]);
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE r(x) AS (SELECT %lld UNION ALL SELECT x + 1 FROM r WHERE x < %lld) "
             "INSERT INTO entries (ref, hash, source, received_ms) "
             "SELECT x, CASE WHEN x IN (%s) THEN x'%s' ELSE randomblob(32) END, 'his', x FROM r; "
             "UPDATE counters SET entries = entries + %lld",
             (long long)first, (long long)last, in,
             "abababababababababababababababababababababababababababababababab",
             (long long)(last - first + 1));
    assert_int_equal(raw_exec(path, sql), SQLITE_OK);
}

static const uint8_t hash_d[TSB_SHA256_LEN] = {
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};

/* One step; *more: a complete chunk is still pending. */
static int hash_step(struct tsb_store *s, bool *more)
{
    int64_t lag = -1;
    int r = tsb_store_hash_index_step(s, &lag);
    assert_true(lag >= 0);
    *more = lag >= TSB_HASH_CHUNK;
    return r;
}

/* Looks up hash_d: the Refs of d_refs, each once, in Ref order, and no damage noted. */
static void expect_hash_d(struct tsb_store *s, const int64_t *d_refs, size_t n_d)
{
    struct collected c = {0};
    assert_int_equal(tsb_store_entries_by_hash(s, hash_d, collect, &c), 0);
    assert_int_equal(c.n, n_d);
    for (size_t i = 0; i < n_d; i++)
        assert_int_equal(c.refs[i], d_refs[i]);
    assert_null(tsb_store_damage(s));
}

/* Steps run one slice of one complete chunk each; a lookup finds an entry below the watermark,
 * one in the chunk being indexed (before and after its slice) and one above every complete
 * chunk, each once, in Ref order. */
static void test_hash_index_steps_and_lookup(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    const int64_t d[] = {5, 16390, 2 * TSB_HASH_CHUNK + 50};
    const size_t nd = sizeof(d) / sizeof(d[0]);
    raw_entries(f->path, 1, 2 * TSB_HASH_CHUNK + 100, d, nd);
    int64_t lag = 0;
    assert_int_equal(tsb_store_hash_index_lag(s, &lag), 0);
    assert_int_equal(lag, 2 * TSB_HASH_CHUNK + 100);
    expect_hash_d(s, d, nd); /* nothing indexed: the scan above the watermark finds all */
    bool more = false;
    for (int i = 0; i < TSB_HASH_READ_PARTS; i++) { /* the chunk is read, nothing written */
        assert_int_equal(hash_step(s, &more), 0);
        assert_true(more);
        assert_int_equal(raw_int(f->path, "SELECT hashing_byte FROM counters"), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), 0);
    }
    for (int i = 0; i < TSB_HASH_SLICES; i++) {
        assert_int_equal(raw_int(f->path, "SELECT hashing_byte FROM counters"),
                         i * TSB_HASH_STEP_BYTES);
        assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), 0);
        assert_int_equal(hash_step(s, &more), 0);
        assert_true(more);
    }
    assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), TSB_HASH_CHUNK);
    assert_int_equal(raw_int(f->path, "SELECT hashing_byte FROM counters"), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), TSB_HASH_CHUNK);
    expect_hash_d(s, d, nd);
    /* the second chunk up to before hash_d's step (its first byte is 0xab), then past it: its
     * row is in the table above the watermark and still found once */
    const int d_step = TSB_HASH_READ_PARTS + 0xab / TSB_HASH_STEP_BYTES;
    for (int i = 0; i < d_step; i++)
        assert_int_equal(hash_step(s, &more), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys WHERE " KEY_REF " = 16390"),
                     0);
    expect_hash_d(s, d, nd);
    assert_int_equal(hash_step(s, &more), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys WHERE " KEY_REF " = 16390"),
                     1);
    expect_hash_d(s, d, nd);
    for (int i = d_step + 1; i < TSB_HASH_STEPS - 1; i++) {
        assert_int_equal(hash_step(s, &more), 0);
        assert_true(more);
    }
    assert_int_equal(hash_step(s, &more), 0);
    assert_false(more); /* the third chunk is not complete */
    assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), 2 * TSB_HASH_CHUNK);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), 2 * TSB_HASH_CHUNK);
    assert_int_equal(raw_int(f->path, KEYS_OF_ENTRIES), 2 * TSB_HASH_CHUNK);
    /* nothing pending: a step changes nothing */
    assert_int_equal(hash_step(s, &more), 0);
    assert_false(more);
    assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), 2 * TSB_HASH_CHUNK);
    assert_int_equal(raw_int(f->path, "SELECT hashing_byte FROM counters"), 0);
    assert_int_equal(tsb_store_hash_index_lag(s, &lag), 0);
    assert_int_equal(lag, 100);
    assert_int_equal(stats_of(s).hash_lag, 100);
    expect_hash_d(s, d, nd);
    /* an appended entry is in no index until its chunk is complete, and found */
    struct entry_buf b;
    make_entry(&b, 1, false);
    memcpy(b.in.digest, hash_d, TSB_SHA256_LEN);
    int64_t ref = 0;
    assert_int_equal(tsb_store_append(s, &b.in, 1, &ref), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), 2 * TSB_HASH_CHUNK);
    const int64_t d4[] = {d[0], d[1], d[2], ref};
    expect_hash_d(s, d4, 4);
    tsb_store_close(s);
}

/* Deletes, from another connection (a repair), the first entry with ref <= max_ref whose hash
 * starts with 0xe0 or more; returns its Ref. */
static int64_t delete_other(const char *path, int64_t max_ref)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT min(ref) FROM entries WHERE hash >= x'e0' AND ref <= %lld",
             (long long)max_ref);
    int64_t gone = raw_int(path, sql);
    assert_true(gone > 0);
    snprintf(sql, sizeof(sql),
             "BEGIN IMMEDIATE; DROP TRIGGER IF EXISTS entries_no_delete; "
             "DELETE FROM entries WHERE ref = %lld; COMMIT",
             (long long)gone);
    assert_int_equal(raw_exec(path, sql), SQLITE_OK);
    return gone;
}

/* The steps read their chunk once, in parts, and keep it in memory; after another connection
 * commits (here a repair deleting an entry of the chunk, once between two of the read parts and
 * once between two slices) they read it again from its start, so the index never takes a row
 * for an entry that is gone, and every other row is there. */
static void test_hash_index_chunk_reread_after_other_commit(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    raw_entries(f->path, 1, TSB_HASH_CHUNK, NULL, 0);
    bool more = false;
    for (int i = 0; i < 2; i++) /* half of the chunk is read */
        assert_int_equal(hash_step(s, &more), 0);
    int64_t gone[2];
    gone[0] = delete_other(f->path, TSB_HASH_CHUNK / TSB_HASH_READ_PARTS);
    for (int i = 0; i < TSB_HASH_READ_PARTS + 1; i++) /* read again, then the first slice */
        assert_int_equal(hash_step(s, &more), 0);
    assert_true(raw_int(f->path, "SELECT count(*) FROM digest_keys") > 0);
    gone[1] = delete_other(f->path, TSB_HASH_CHUNK);
    int steps = 0;
    do
        assert_int_equal(hash_step(s, &more), 0);
    while (more && ++steps < 10 * TSB_HASH_STEPS);
    assert_false(more);
    /* read again (its parts) and the slices left */
    assert_int_equal(steps + 1, TSB_HASH_READ_PARTS + TSB_HASH_SLICES - 1);
    assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), TSB_HASH_CHUNK);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM digest_keys WHERE " KEY_REF " IN (%lld, %lld)",
             (long long)gone[0], (long long)gone[1]);
    assert_int_equal(raw_int(f->path, sql), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), TSB_HASH_CHUNK - 2);
    assert_int_equal(raw_int(f->path, KEYS_OF_ENTRIES), TSB_HASH_CHUNK - 2);
    tsb_store_close(s);
}

/* Appends entries first..first+n-1 in batches of 1 000, as tsbagd's writer does. */
static void append_batches(struct tsb_store *s, int first, int n)
{
    for (int i = 0; i < n; i += 1000)
        free(append_range(s, first + i, (size_t)(n - i < 1000 ? n - i : 1000)));
}

/* Runs steps until no complete chunk is pending; returns how many ran. */
static int hash_steps_all(struct tsb_store *s)
{
    bool more = true;
    int steps = 0;
    while (more && steps < 100 * TSB_HASH_STEPS) {
        assert_int_equal(hash_step(s, &more), 0);
        steps++;
    }
    assert_false(more);
    return steps;
}

/* Every index row is an entry's (Ref, hash), in its epoch: n of them. */
static void expect_index_rows(const char *path, int n)
{
    assert_int_equal(raw_int(path, "SELECT count(*) FROM digest_keys"), n);
    assert_int_equal(raw_int(path, KEYS_OF_ENTRIES), n);
}

/* Chunks this handle appended itself are taken from what its appends read back, not read again:
 * one step copies a chunk and inserts its first slice, so a chunk takes TSB_HASH_SLICES steps;
 * the index is the same as one read from the archive. */
static void test_hash_index_chunks_from_own_appends(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    append_batches(s, 0, 2 * TSB_HASH_CHUNK + 10);
    assert_int_equal(hash_steps_all(s), 2 * TSB_HASH_SLICES);
    int64_t copied = -1, read = -1;
    tsb_store_hash_index_sources(s, &copied, &read);
    assert_int_equal(copied, 2);
    assert_int_equal(read, 0);
    assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), 2 * TSB_HASH_CHUNK);
    expect_index_rows(f->path, 2 * TSB_HASH_CHUNK);
    /* a lookup by hash finds an entry of each chunk where the index put it */
    struct entry_buf b;
    const int pick[] = {7, TSB_HASH_CHUNK + 123};
    for (size_t i = 0; i < 2; i++) {
        make_entry(&b, pick[i], false);
        struct collected c = {0};
        assert_int_equal(tsb_store_entries_by_hash(s, b.in.digest, collect, &c), 0);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.refs[0], pick[i] + 1);
    }
    tsb_store_close(s);
}

/* After another connection committed (a repair deleting one of the appended entries), what the
 * appends read back is not trusted: a chunk appended before the repair is read from the archive,
 * whether the repair came before the next append or after the last, so the index has no row for
 * an entry that is gone; a chunk appended after the repair is taken from its appends. */
static void test_hash_index_appends_not_trusted_after_other_commit(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    append_batches(s, 0, TSB_HASH_CHUNK);
    int64_t gone[2];
    gone[0] = delete_other(f->path, TSB_HASH_CHUNK); /* before the next append */
    append_batches(s, TSB_HASH_CHUNK, TSB_HASH_CHUNK);
    hash_steps_all(s);
    int64_t copied = -1, read = -1;
    tsb_store_hash_index_sources(s, &copied, &read);
    assert_int_equal(copied, 1);
    assert_int_equal(read, 1);
    expect_index_rows(f->path, 2 * TSB_HASH_CHUNK - 1);
    append_batches(s, 2 * TSB_HASH_CHUNK, TSB_HASH_CHUNK);
    gone[1] = 2 * TSB_HASH_CHUNK + 5; /* after the last append, before the steps */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "BEGIN IMMEDIATE; DROP TRIGGER IF EXISTS entries_no_delete; "
             "DELETE FROM entries WHERE ref = %lld; COMMIT",
             (long long)gone[1]);
    assert_int_equal(raw_exec(f->path, sql), SQLITE_OK);
    hash_steps_all(s);
    tsb_store_hash_index_sources(s, &copied, &read);
    assert_int_equal(copied, 1);
    assert_int_equal(read, 2);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM digest_keys WHERE " KEY_REF " IN (%lld, %lld)",
             (long long)gone[0], (long long)gone[1]);
    assert_int_equal(raw_int(f->path, sql), 0);
    expect_index_rows(f->path, 3 * TSB_HASH_CHUNK - 2);
    tsb_store_close(s);
}

/* Schema 0012 on an archive made by schema 11: every entry in the digest index (digest_keys since
 * 0015), the watermark at the last chunk boundary, entries_hash gone, lookups and the next steps
 * right. */
static void test_hash_index_migration_from_0011(void **state)
{
    struct fx *f = *state;
    make_archive_before(f->path, "hash_index");
    const int64_t d[] = {7, TSB_HASH_CHUNK + 1, 2 * TSB_HASH_CHUNK + 3};
    const size_t nd = sizeof(d) / sizeof(d[0]);
    raw_entries(f->path, 1, 2 * TSB_HASH_CHUNK + 10, d, nd);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = "
                                      "'entries_hash'"),
                     1);
    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = "
                                      "'entries_hash'"),
                     0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), 2 * TSB_HASH_CHUNK + 10);
    assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), 2 * TSB_HASH_CHUNK);
    assert_int_equal(raw_int(f->path, "SELECT hashing_byte FROM counters"), 0);
    expect_hash_d(s, d, nd);
    bool more = true;
    assert_int_equal(hash_step(s, &more), 0);
    assert_false(more);
    /* the rest of the third chunk: its steps insert OR IGNORE over the rows already there */
    raw_entries(f->path, 2 * TSB_HASH_CHUNK + 11, 3 * TSB_HASH_CHUNK, NULL, 0);
    for (int i = 0; i < TSB_HASH_STEPS; i++)
        assert_int_equal(hash_step(s, &more), 0);
    assert_false(more);
    assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), 3 * TSB_HASH_CHUNK);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), 3 * TSB_HASH_CHUNK);
    expect_hash_d(s, d, nd);
    tsb_store_close(s);
}

/* A migration's temporary data lives in files, not in memory: schema 0012 on an archive of
 * 400 000 entries stays within the page cache and 8 MiB of SQLite heap (with temp_store=MEMORY
 * its temporary data grew with the archive beyond that: 486 MiB of process memory on 10 M
 * entries, bench/README.md). */
static void test_migration_memory_bounded(void **state)
{
    struct fx *f = *state;
    make_archive_before(f->path, "hash_index");
    raw_entries(f->path, 1, 400000, NULL, 0);
    (void)sqlite3_memory_highwater(1);
    struct tsb_store *s = open_rw(f->path);
    sqlite3_int64 peak = sqlite3_memory_highwater(0);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), 400000);
    tsb_store_close(s);
    /* the page cache (TSB_STORE_CACHE_KIB) plus room for schema and statements */
    assert_true(peak < (sqlite3_int64)TSB_STORE_CACHE_KIB * 1024 + 8 * 1024 * 1024);
}

/* Schema 0013 on an archive written by schema 0012: the row trigger on entries is gone, the
 * entries stay, appends continue above them. A row given bag_seq and position by hand (the
 * trigger refused it before) is in the bag its Ref says, here none: those columns are inert. */
static void test_append_trigger_migration_from_0012(void **state)
{
    struct fx *f = *state;
    make_archive_before(f->path, "append_no_row_trigger");
    raw_entries(f->path, 1, 10, NULL, 0);
    const char *by_hand = "INSERT INTO entries (ref, hash, source, received_ms, bag_seq, position) "
                          "VALUES (100, zeroblob(32), 'x', 0, 1, 0)";
    assert_int_equal(raw_exec(f->path, by_hand), SQLITE_CONSTRAINT_TRIGGER);
    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' "
                                      "AND tbl_name = 'entries' AND sql LIKE '%BEFORE INSERT%'"),
                     0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries"), 10);
    int64_t *refs = append_range(s, 0, 70);
    for (int i = 0; i < 70; i++)
        assert_int_equal(refs[i], 11 + i);
    free(refs);
    assert_int_equal(raw_exec(f->path, by_hand), SQLITE_OK);
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(s, 100, &e), 0);
    assert_int_equal(e.bag_seq, 0);
    assert_int_equal(e.position, -1);
    tsb_entry_rec_cleanup(&e);
    tsb_store_close(s);
}

/* Schema 0014 on an archive written by schema 0013 in the middle of a chunk (eight steps of
 * 32 first-byte values each, five done): the point reached becomes the first byte 160, so the
 * chunk's read and then twelve steps of 8 values from there complete it, and no row is missing
 * or added. */
static void test_hash_steps_migration_from_0013(void **state)
{
    struct fx *f = *state;
    make_archive_before(f->path, "hash_steps_by_byte");
    raw_entries(f->path, 1, TSB_HASH_CHUNK + 5, NULL, 0);
    /* what the old steps left: slices 0-4 of the first chunk indexed, slice 5 next */
    assert_int_equal(raw_exec(f->path, "INSERT INTO entry_hashes (epoch, hash, ref) "
                                       "SELECT ref >> 16, hash, ref FROM entries "
                                       "WHERE ref <= 16384 AND hash < x'a0'; "
                                       "UPDATE counters SET hashing_slice = 5"),
                     SQLITE_OK);
    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    assert_int_equal(raw_int(f->path, "SELECT hashing_byte FROM counters"), 160);
    assert_int_equal(raw_int(f->path, "SELECT hashing_slice FROM counters"), 0);
    bool more = false;
    for (int i = 0; i < TSB_HASH_READ_PARTS + (256 - 160) / TSB_HASH_STEP_BYTES; i++) {
        assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), 0);
        assert_int_equal(hash_step(s, &more), 0);
    }
    assert_false(more);
    assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), TSB_HASH_CHUNK);
    assert_int_equal(raw_int(f->path, "SELECT hashing_byte FROM counters"), 0);
    assert_int_equal(raw_int(f->path, KEYS_OF_ENTRIES), TSB_HASH_CHUNK);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), TSB_HASH_CHUNK);
    tsb_store_close(s);
}

/* Schema 0015 on an archive written by schema 0014: every row of entry_hashes becomes its key,
 * rows above the watermark included, and entry_hashes and its trigger are gone. The migration's
 * SQL, the delete trigger's and tsb_hash_key (the steps after it) agree on every key. A lookup
 * finds each entry of its hash and none of the entries whose hash only starts with the same three
 * bytes; an entry deleted takes its key along. */
#define HEX_00_29 "0000000000000000000000000000000000000000000000000000000000"

static void test_digest_keys_migration_from_0014(void **state)
{
    struct fx *f = *state;
    make_archive_before(f->path, "digest_keys");
    const int64_t d[] = {7, TSB_HASH_CHUNK + 1, TSB_HASH_CHUNK + 40};
    const size_t nd = sizeof(d) / sizeof(d[0]);
    /* the same first three bytes as hash_d (abab ab...) for Refs 8 and 16 390 */
    raw_entries(f->path, 1, 7, d, nd);
    raw_entries(f->path, 9, 16389, d, nd);
    raw_entries(f->path, 16391, TSB_HASH_CHUNK + 100, d, nd);
    assert_int_equal(raw_exec(f->path, "INSERT INTO entries (ref, hash, source, received_ms) "
                                       "VALUES (8, x'ababab" HEX_00_29 "', 'his', 8), "
                                       "(16390, x'ababab" HEX_00_29 "', 'his', 16390); "
                                       "UPDATE counters SET entries = entries + 2"),
                     SQLITE_OK);
    /* the first chunk indexed (Ref 8 with it), 50 rows of the second already there (16 390 too) */
    assert_int_equal(raw_exec(f->path, "INSERT INTO entry_hashes (epoch, hash, ref) "
                                       "SELECT ref >> 16, hash, ref FROM entries "
                                       "WHERE ref <= 16434; "
                                       "UPDATE counters SET hashed_ref = 16384"),
                     SQLITE_OK);
    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name IN "
                                      "('entry_hashes', 'entry_hashes_entry_delete')"),
                     0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), 16434);
    assert_int_equal(raw_int(f->path, KEYS_OF_ENTRIES), 16434);
    assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), TSB_HASH_CHUNK);
    expect_hash_d(s, d, nd);
    /* the steps' keys (tsb_hash_key) for the rest of the second chunk */
    raw_entries(f->path, TSB_HASH_CHUNK + 101, 2 * TSB_HASH_CHUNK, NULL, 0);
    bool more = true;
    for (int i = 0; i < TSB_HASH_STEPS; i++)
        assert_int_equal(hash_step(s, &more), 0);
    assert_false(more);
    assert_int_equal(raw_int(f->path, "SELECT hashed_ref FROM counters"), 2 * TSB_HASH_CHUNK);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), 2 * TSB_HASH_CHUNK);
    assert_int_equal(raw_int(f->path, KEYS_OF_ENTRIES), 2 * TSB_HASH_CHUNK);
    expect_hash_d(s, d, nd);
    /* the trigger finds the key of a row the migration wrote and of one a step wrote (a repair
     * drops entries_no_delete first) */
    assert_int_equal(raw_exec(f->path, "DROP TRIGGER entries_no_delete; "
                                       "DELETE FROM entries WHERE ref IN (8, 20000)"),
                     SQLITE_OK);
    assert_int_equal(
        raw_int(f->path, "SELECT count(*) FROM digest_keys WHERE " KEY_REF " IN (8, 20000)"), 0);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM digest_keys"), 2 * TSB_HASH_CHUNK - 2);
    assert_int_equal(raw_int(f->path, KEYS_OF_ENTRIES), 2 * TSB_HASH_CHUNK - 2);
    expect_hash_d(s, d, nd);
    tsb_store_close(s);
}

/* The key of (ref, hash): epoch, the hash's first three bytes, the Ref's low 16 bits, and the
 * highest Ref it holds; a recovered bag with a Ref above it is refused, and an index step whose
 * chunk would reach it says why it cannot go on. */
static void test_digest_key_layout_and_limit(void **state)
{
    struct fx *f = *state;
    uint8_t h[TSB_SHA256_LEN];
    memset(h, 0, sizeof(h));
    h[0] = 0xab, h[1] = 0xcd, h[2] = 0xef, h[3] = 0xff;
    assert_int_equal(tsb_hash_key_prefix(h), 0xabcdef);
    assert_int_equal(tsb_hash_key(1, h), INT64_C(0xabcdef0001));
    assert_int_equal(tsb_hash_key(0x12345, h), INT64_C(0x1abcdef2345));
    assert_int_equal(tsb_hash_key(TSB_HASH_REF_MAX, h), INT64_C(0x7fffffabcdefffff));
    assert_int_equal(TSB_HASH_REF_MAX, (INT64_C(1) << 39) - 1);

    struct tsb_store *s = open_rw(f->path);
    struct tsb_bag_entry re = {.ref = TSB_HASH_REF_MAX + 1};
    struct tsb_recovered_bag rb = {.seq = 1,
                                   .bytes = (uint8_t *)"x",
                                   .bytes_len = 1,
                                   .entries = &re,
                                   .n = 1,
                                   .token = (uint8_t *)"t",
                                   .token_len = 1,
                                   .tsa_serial = "1"};
    assert_int_equal(tsb_store_bag_insert_recovered(s, &rb, 0), TSB_ECONFLICT);
    assert_non_null(strstr(tsb_err_detail(), "the highest Ref the archive's digest index"));
    /* the last chunk below the limit is complete (its last Ref exists), the next cannot be */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO entries (ref, hash, source, received_ms) VALUES (%lld, zeroblob(32), "
             "'his', 0); UPDATE counters SET hashed_ref = %lld",
             (long long)(TSB_HASH_REF_MAX + 1), (long long)(TSB_HASH_REF_MAX + 1 - TSB_HASH_CHUNK));
    assert_int_equal(raw_exec(f->path, sql), SQLITE_OK);
    assert_int_equal(tsb_store_hash_index_step(s, NULL), TSB_ESTORE);
    assert_non_null(strstr(tsb_err_detail(), "cannot be indexed by digest"));
    tsb_store_close(s);
}

/* An index step commits with synchronous=NORMAL, and the connection is FULL again after it,
 * whether the step succeeded, found nothing to do or failed: an append after a step is
 * acknowledged only once the WAL is synced. */
static void test_hash_step_leaves_synchronous_full(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(tsb_store_synchronous(s), 2);
    bool more = true;
    assert_int_equal(hash_step(s, &more), 0); /* nothing pending */
    assert_false(more);
    assert_int_equal(tsb_store_synchronous(s), 2);
    raw_entries(f->path, 1, TSB_HASH_CHUNK, NULL, 0);
    for (int i = 0; i < TSB_HASH_READ_PARTS + 1; i++) {
        assert_int_equal(hash_step(s, &more), 0);
        assert_int_equal(tsb_store_synchronous(s), 2);
    }
    assert_int_equal(raw_int(f->path, "SELECT hashing_byte FROM counters"), TSB_HASH_STEP_BYTES);
    assert_int_equal(tsb_store_synchronous(s), 2);
    assert_int_equal(raw_exec(f->path, "CREATE TRIGGER refuse BEFORE INSERT ON digest_keys "
                                       "BEGIN SELECT RAISE(ABORT, 'refused'); END"),
                     SQLITE_OK);
    int r = 0; /* the schema changed: the chunk is read again, then its next slice refused */
    for (int i = 0; i <= TSB_HASH_READ_PARTS && r == 0; i++)
        r = tsb_store_hash_index_step(s, NULL);
    assert_int_not_equal(r, 0);
    assert_int_equal(raw_int(f->path, "SELECT hashing_byte FROM counters"), TSB_HASH_STEP_BYTES);
    assert_int_equal(tsb_store_synchronous(s), 2);
    int64_t *refs = append_range(s, 0, 3);
    assert_int_equal(refs[0], TSB_HASH_CHUNK + 1);
    free(refs);
    assert_int_equal(tsb_store_synchronous(s), 2);
    tsb_store_close(s);
}

static void test_ers_trees_and_links(void **state)
{
    struct fx *f = *state;
    struct tsb_store *s = open_rw(f->path);
    int64_t a = bag_in_state(s, TSB_BAG_STAMPED, 0);
    int64_t b = bag_in_state(s, TSB_BAG_STAMPED, 10);
    int64_t c = bag_in_state(s, TSB_BAG_STAMPED, 20);
    int64_t sealed = bag_in_state(s, TSB_BAG_SEALED, 30);
    struct ers_seen seen = {0};
    assert_int_equal(tsb_store_ers_uncovered(s, 0, 0, ers_seen_bag, &seen), 0);
    assert_int_equal(seen.n, 3); /* the sealed bag is not stamped yet */
    assert_int_equal(seen.seq[0], a);
    assert_int_equal(seen.seq[2], c);

    struct tsb_ers_tree_in t = ers_tree_of(TSB_ERS_INITIAL, 2, 90000);
    struct tsb_ers_link_in l[2] = {ers_link_of(a, 1, 1), ers_link_of(b, 1, 1)};
    int64_t id = 0;
    assert_int_equal(tsb_store_ers_add_tree(s, &t, l, 2, 77, &id), 0);
    assert_true(id > 0);
    /* the same again: a's initial ArchiveTimeStamp exists, the whole tree is refused */
    struct tsb_ers_link_in l2[2] = {ers_link_of(c, 1, 1), ers_link_of(a, 1, 1)};
    assert_int_equal(tsb_store_ers_add_tree(s, &t, l2, 2, 78, NULL), TSB_ECONFLICT);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM ers_trees"), 1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM ers_links"), 2);
    seen.n = 0;
    assert_int_equal(tsb_store_ers_uncovered(s, 0, 0, ers_seen_bag, &seen), 0);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.seq[0], c);

    /* order: a renewal tree at position 1, an initial one at position 2, a skipped position, a
     * second chain without a rehash tree, another group, an unstamped bag */
    struct tsb_ers_tree_in rt = ers_tree_of(TSB_ERS_RENEWAL, 1, 190000);
    struct tsb_ers_link_in bad = ers_link_of(c, 1, 1);
    assert_int_equal(tsb_store_ers_add_tree(s, &rt, &bad, 1, 79, NULL), TSB_ECONFLICT);
    struct tsb_ers_tree_in it = ers_tree_of(TSB_ERS_INITIAL, 1, 190000);
    bad = ers_link_of(a, 1, 2);
    assert_int_equal(tsb_store_ers_add_tree(s, &it, &bad, 1, 79, NULL), TSB_ECONFLICT);
    bad = ers_link_of(a, 1, 3);
    assert_int_equal(tsb_store_ers_add_tree(s, &rt, &bad, 1, 79, NULL), TSB_ECONFLICT);
    struct tsb_ers_tree_in ht = ers_tree_of(TSB_ERS_REHASH, 1, 190000);
    bad = ers_link_of(a, 3, 1);
    assert_int_equal(tsb_store_ers_add_tree(s, &ht, &bad, 1, 79, NULL), TSB_ECONFLICT);
    bad = ers_link_of(a, 1, 2);
    bad.members |= TSB_ERS_OBJ_TSA2;
    assert_int_equal(tsb_store_ers_add_tree(s, &rt, &bad, 1, 79, NULL), TSB_ECONFLICT);
    bad = ers_link_of(sealed, 1, 1);
    assert_int_equal(tsb_store_ers_add_tree(s, &it, &bad, 1, 79, NULL), TSB_ECONFLICT);
    bad = ers_link_of(a, 1, 2);
    bad.members = TSB_ERS_OBJ_BAG; /* a group without the token */
    assert_int_equal(tsb_store_ers_add_tree(s, &rt, &bad, 1, 79, NULL), TSB_EINVAL);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM ers_trees"), 1);

    /* a's renewal, then a's second chain */
    struct tsb_ers_link_in ok = ers_link_of(a, 1, 2);
    assert_int_equal(tsb_store_ers_add_tree(s, &rt, &ok, 1, 80, NULL), 0);
    ok = ers_link_of(a, 2, 1);
    assert_int_equal(tsb_store_ers_add_tree(s, &ht, &ok, 1, 81, NULL), 0);

    seen.n = 0;
    assert_int_equal(tsb_store_ers_links(s, a, ers_seen_link, &seen), 0);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.chain[0] * 10 + seen.position[0], 11);
    assert_int_equal(seen.chain[1] * 10 + seen.position[1], 12);
    assert_int_equal(seen.chain[2] * 10 + seen.position[2], 21);
    seen.n = 0;
    assert_int_equal(tsb_store_ers_links(s, c, ers_seen_link, &seen), 0);
    assert_int_equal(seen.n, 0);

    /* heads: a's second chain, b's initial timestamp */
    seen.n = 0;
    assert_int_equal(tsb_store_ers_heads(s, 0, 0, ers_seen_link, &seen), 0);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.seq[0], a);
    assert_int_equal(seen.chain[0], 2);
    assert_int_equal(seen.seq[1], b);
    assert_int_equal(seen.position[1], 1);
    seen.n = 0;
    assert_int_equal(tsb_store_ers_heads(s, a, 1, ers_seen_link, &seen), 0);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.seq[0], b);

    struct tsb_ers_stats es;
    assert_int_equal(tsb_store_ers_stats(s, &es), 0);
    assert_int_equal(es.uncovered, 1);
    assert_int_equal(es.covered, 2);
    assert_int_equal(es.trees, 3);
    assert_int_equal(es.earliest_not_after_ms, 90000); /* b's; a's head was renewed */
    assert_int_equal(es.earliest_seq, b);
    assert_int_equal(es.last_gen_time_ms, 5000);
    tsb_store_close(s);

    assert_int_not_equal(raw_exec(f->path, "UPDATE ers_links SET chain = 5"), SQLITE_OK);
    assert_int_not_equal(raw_exec(f->path, "DELETE FROM ers_links"), SQLITE_OK);
    assert_int_not_equal(raw_exec(f->path, "UPDATE ers_trees SET not_after_ms = 1"), SQLITE_OK);
    assert_int_not_equal(raw_exec(f->path, "DELETE FROM ers_trees"), SQLITE_OK);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM ers_links"), 4);
}

/* An archive made by schema 0009 (before archive timestamps) gains the tables at open: its
 * stamped and recovered bags are all uncovered, and the triggers apply at once. */
static void test_ers_migration_from_0009(void **state)
{
    struct fx *f = *state;
    int v = 0;
    while (v < (int)tsb_schema_migrations_n &&
           strstr(tsb_schema_migrations[v].file, "archive_timestamps") == NULL)
        v++;
    assert_true(v < (int)tsb_schema_migrations_n);
    assert_non_null(strstr(tsb_schema_migrations[v - 1].file, "tsa2_tokens"));
    make_old_archive(f->path, v);
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), v);
    assert_int_equal(raw_exec(f->path, "INSERT INTO bags (seq, state, entry_count, first_ref, "
                                       "last_ref, sealed_ms, digest, bytes, token, tsa_serial, "
                                       "gen_time_ms) VALUES (1, 'recovered', 1, 1, 1, 42, "
                                       "zeroblob(32), x'3c612f3e', x'3003020101', '42', 4242)"),
                     SQLITE_OK);
    struct tsb_store *s = open_rw(f->path);
    assert_int_equal(tsb_store_schema_version(s), tsb_schema_migrations_n);
    struct tsb_ers_stats es;
    assert_int_equal(tsb_store_ers_stats(s, &es), 0);
    assert_int_equal(es.uncovered, 1);
    assert_int_equal(es.trees, 0);
    struct tsb_ers_tree_in t = ers_tree_of(TSB_ERS_INITIAL, 1, 90000);
    struct tsb_ers_link_in l = ers_link_of(1, 1, 1);
    assert_int_equal(tsb_store_ers_add_tree(s, &t, &l, 1, 50, NULL), 0);
    assert_int_equal(tsb_store_ers_add_tree(s, &t, &l, 1, 51, NULL), TSB_ECONFLICT);
    assert_int_equal(tsb_store_ers_stats(s, &es), 0);
    assert_int_equal(es.uncovered, 0);
    tsb_store_close(s);
    assert_int_not_equal(raw_exec(f->path, "DELETE FROM ers_links"), SQLITE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_migrates_and_reopens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_older_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_0007_archive_to_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bag_bytes_migration_from_0011, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_and_foreign_databases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_and_lookups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_batch_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_refused_row_commits_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_plan_and_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_in_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_change_leaves_bag_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_reads_back_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refs_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_nothing_staged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_n_and_more_than_a_bag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_byte_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_byte_cap_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_first_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_transitions_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stamp_fields_and_attempt_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_transitions_sql, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_and_gen_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_beside_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_and_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_quick_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_schema_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_is_durable_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_failure_is_durable_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_while_sealing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_failure_while_sealing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_fsync_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passive_checkpoint_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_is_one_snapshot_under_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_dest_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tsa2_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tsa2_migration_from_0008, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_index_steps_and_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_index_chunks_from_own_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_index_appends_not_trusted_after_other_commit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_index_migration_from_0011, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_index_chunk_reread_after_other_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_migration_memory_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_trigger_migration_from_0012, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_steps_migration_from_0013, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_keys_migration_from_0014, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_key_layout_and_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_step_leaves_synchronous_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ers_trees_and_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ers_migration_from_0009, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
