/* Unit tests for the reconciliation part of store (schema 0002): a recovered bag fills a
 * SequenceNumber gap left by rows deleted behind the triggers' back (as a damaged or restored
 * archive would have), its entries arrive linked to it, nothing local is ever overwritten
 * (existing bag or differing Ref: TSB_ECONFLICT, no partial write), fresh seals still extend the
 * chain only, conflicts and runs are append-only, and --since-last finds the last completed
 * period. Real SQLite files; tampering goes through a raw sqlite3 connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bag.h"
#include "err.h"
#include "hash.h"
#include "mem.h"
#include "store.h"
#include "testlib.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    char *dir, *path;
    struct tsb_store *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tsb_test_tmpdir();
    f->path = tsb_test_path(f->dir, "archive.db");
    int r = tsb_store_open(f->path, NULL, &f->s);
    assert_int_equal(r, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tsb_store_close(f->s);
    tsb_test_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
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

/* Makes n stamped bags of 3 entries each (fake token bytes: the store does not verify). */
static void make_stamped(struct tsb_store *s, int n)
{
    for (int b = 0; b < n; b++) {
        struct tsb_entry_in in[3];
        int64_t refs[3];
        for (int i = 0; i < 3; i++) {
            char text[32];
            memset(&in[i], 0, sizeof(in[i]));
            snprintf(text, sizeof(text), "entry %d.%d", b, i);
            tsb_sha256((const uint8_t *)text, strlen(text), in[i].digest);
            in[i].source = "his";
            in[i].received_ms = 1000 + b;
        }
        assert_int_equal(tsb_store_append(s, in, 3, refs), 0);
        struct tsb_seal_opts so = {.bag = {.ns = TSB_BAG_NS_V2, .enc = TSB_HASH_HEX},
                                   .now_ms = 2000 + b};
        struct tsb_seal_result res;
        assert_int_equal(tsb_store_seal(s, &so, &res), 0);
        assert_int_equal(res.bags, 1);
        assert_int_equal(tsb_store_bag_mark_sent(s, res.first_seq, "rq", "p", 3000), 0);
        char serial[16];
        snprintf(serial, sizeof(serial), "%d", 100 + b);
        struct tsb_stamp st = {.sign_response = (const uint8_t *)"<sr/>",
                               .sign_response_len = 5,
                               .token = (const uint8_t *)"tok",
                               .token_len = 3,
                               .tsa_serial = serial,
                               .gen_time_ms = 10000 + b};
        assert_int_equal(tsb_store_bag_record_stamp(s, res.first_seq, &st, 4000), 0);
    }
}

/* A copy of bag seq's bytes and parsed entries, as TSConsult would return them. */
struct copy {
    struct tsb_bag_rec rec;
    struct tsb_bag *bag;
};

static void copy_bag(struct tsb_store *s, int64_t seq, struct copy *c)
{
    assert_int_equal(tsb_store_bag_get(s, seq, &c->rec), 0);
    assert_int_equal(tsb_bag_parse(c->rec.bytes, c->rec.bytes_len, NULL, &c->bag), 0);
}

static void copy_free(struct copy *c)
{
    tsb_bag_rec_cleanup(&c->rec);
    tsb_bag_free(c->bag);
}

static struct tsb_recovered_bag as_recovered(const struct copy *c)
{
    return (struct tsb_recovered_bag){.seq = c->rec.seq,
                                      .bytes = c->rec.bytes,
                                      .bytes_len = c->rec.bytes_len,
                                      .entries = c->bag->entries,
                                      .n = c->bag->n,
                                      .token = c->rec.token,
                                      .token_len = c->rec.token_len,
                                      .sign_response = c->rec.sign_response,
                                      .sign_response_len = c->rec.sign_response_len,
                                      .tsa_serial = c->rec.tsa_serial,
                                      .gen_time_ms = c->rec.gen_time_ms};
}

/* Deletes bag seq and its entries behind the triggers (a damaged archive). */
static void lose_bag(const char *path, int64_t seq)
{
    char sql[768];
    snprintf(sql, sizeof(sql),
             "DROP TRIGGER bags_no_delete; DROP TRIGGER entries_no_delete;"
             "DELETE FROM entries WHERE ref BETWEEN (SELECT first_ref FROM bags WHERE seq = %lld) "
             "AND (SELECT last_ref FROM bags WHERE seq = %lld); DELETE FROM bags WHERE seq = %lld;"
             /* without their bag, its bytes are pending ones: deletable */
             "DELETE FROM bag_bytes WHERE seq = %lld;"
             "CREATE TRIGGER bags_no_delete BEFORE DELETE ON bags BEGIN SELECT RAISE(ABORT, 'x');"
             " END; CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN "
             "SELECT RAISE(ABORT, 'x'); END;",
             (long long)seq, (long long)seq, (long long)seq, (long long)seq);
    assert_int_equal(raw_exec(path, sql), SQLITE_OK);
}

struct found_refs {
    size_t n;
    int64_t ref;
};

static int found_ref(void *arg, const struct tsb_entry_rec *e)
{
    struct found_refs *c = arg;
    c->n++;
    c->ref = e->ref;
    return 0;
}

static void test_recovered_bag_fills_gap(void **state)
{
    struct fx *f = *state;
    struct copy c;
    make_stamped(f->s, 4);
    copy_bag(f->s, 2, &c);
    lose_bag(f->path, 2);
    struct tsb_bag_rec gone;
    assert_int_equal(tsb_store_bag_get(f->s, 2, &gone), TSB_ENOTFOUND);

    struct tsb_recovered_bag rb = as_recovered(&c);
    /* the digest index's watermark above the bag (as after the writer indexed its chunk): the
     * recovered entries are found by hash only if their insert indexed them (schema 0012) */
    assert_int_equal(raw_exec(f->path, "UPDATE counters SET hashed_ref = 16384"), SQLITE_OK);
    assert_int_equal(tsb_store_bag_insert_recovered(f->s, &rb, 99), 0);
    for (size_t i = 0; i < c.bag->n; i++) {
        struct found_refs got = {0};
        assert_int_equal(tsb_store_entries_by_hash(f->s, c.bag->entries[i].digest, found_ref, &got),
                         0);
        assert_int_equal(got.n, 1);
        assert_int_equal(got.ref, c.bag->entries[i].ref);
    }
    assert_null(tsb_store_damage(f->s));
    struct tsb_bag_rec back;
    assert_int_equal(tsb_store_bag_get(f->s, 2, &back), 0);
    assert_int_equal(back.state, TSB_BAG_RECOVERED);
    assert_int_equal(back.bytes_len, c.rec.bytes_len);
    assert_memory_equal(back.bytes, c.rec.bytes, back.bytes_len);
    assert_memory_equal(back.digest, c.rec.digest, TSB_SHA256_LEN);
    assert_string_equal(back.tsa_serial, c.rec.tsa_serial);
    assert_int_equal(back.gen_time_ms, c.rec.gen_time_ms);
    assert_int_equal(back.first_ref, c.rec.first_ref);
    assert_int_equal(back.last_ref, c.rec.last_ref);
    assert_int_equal(back.sealed_ms, 99);
    tsb_bag_rec_cleanup(&back);
    for (size_t i = 0; i < c.bag->n; i++) {
        struct tsb_entry_rec e;
        assert_int_equal(tsb_store_entry_by_ref(f->s, c.bag->entries[i].ref, &e), 0);
        assert_int_equal(e.bag_seq, 2);
        assert_int_equal(e.position, (int64_t)i);
        assert_memory_equal(e.digest, c.bag->entries[i].digest, TSB_SHA256_LEN);
        assert_string_equal(e.source, "recovered");
        tsb_entry_rec_cleanup(&e);
    }
    /* a recovered bag is never updated, and it is in the period walks */
    assert_int_not_equal(raw_exec(f->path, "UPDATE bags SET state = 'sent' WHERE seq = 2"),
                         SQLITE_OK);
    /* inserting it again: the SequenceNumber exists */
    assert_int_equal(tsb_store_bag_insert_recovered(f->s, &rb, 99), TSB_ECONFLICT);
    copy_free(&c);
}

static void test_recovered_beyond_the_end_and_fresh_seal(void **state)
{
    struct fx *f = *state;
    struct copy c;
    make_stamped(f->s, 3);
    copy_bag(f->s, 3, &c);
    lose_bag(f->path, 3);
    /* restore the lost tail as recovered: allowed (it is max + 1) */
    struct tsb_recovered_bag rb = as_recovered(&c);
    rb.seq = 5; /* a gap of one: recovered bags may land anywhere free */
    /* the bag's own bytes say 3: the store trusts its caller for that; here only the gap rule */
    assert_int_equal(tsb_store_bag_insert_recovered(f->s, &rb, 1), 0);
    /* a fresh seal must still be max + 1: a raw insert of sealed seq 4 (a gap) is refused */
    assert_int_equal(raw_exec(f->path, "INSERT INTO bag_bytes (seq, part, bytes) "
                                       "VALUES (4, 0, x'01');"
                                       "INSERT INTO bags (seq, state, entry_count, "
                                       "first_ref, last_ref, sealed_ms, digest) "
                                       "VALUES (4, 'sealed', 1, 1000, 1000, 0, zeroblob(32))"),
                     SQLITE_CONSTRAINT);
    assert_int_equal(raw_exec(f->path, "INSERT INTO bag_bytes (seq, part, bytes) "
                                       "VALUES (6, 0, x'01');"
                                       "INSERT INTO bags (seq, state, entry_count, "
                                       "first_ref, last_ref, sealed_ms, digest) "
                                       "VALUES (6, 'sealed', 1, 1000, 1000, 0, zeroblob(32))"),
                     SQLITE_OK);
    copy_free(&c);
}

static void test_recovered_never_overwrites_entries(void **state)
{
    struct fx *f = *state;
    struct copy c;
    make_stamped(f->s, 3);
    copy_bag(f->s, 2, &c);
    /* lose only the bag row: its entries survive, linked to the missing bag */
    assert_int_equal(raw_exec(f->path, "DROP TRIGGER bags_no_delete; PRAGMA foreign_keys = OFF;"
                                       "DELETE FROM bags WHERE seq = 2;"),
                     SQLITE_OK);
    struct tsb_recovered_bag rb = as_recovered(&c);
    /* its bytes survived too (bag_bytes, schema 0011), and differ: refused, nothing written */
    uint8_t *other = tsb_malloc(c.rec.bytes_len);
    memcpy(other, c.rec.bytes, c.rec.bytes_len);
    other[c.rec.bytes_len - 1] ^= 1;
    rb.bytes = other;
    assert_int_equal(tsb_store_bag_insert_recovered(f->s, &rb, 7), TSB_ECONFLICT);
    assert_non_null(strstr(tsb_err_detail(), "its bytes survived locally"));
    free(other);
    struct tsb_bag_rec back;
    assert_int_equal(tsb_store_bag_get(f->s, 2, &back), TSB_ENOTFOUND);
    /* same hashes and positions: the surviving rows are kept as they are, the bag comes back */
    rb = as_recovered(&c);
    assert_int_equal(tsb_store_bag_insert_recovered(f->s, &rb, 7), 0);
    assert_int_equal(tsb_store_bag_get(f->s, 2, &back), 0);
    assert_int_equal(back.bytes_len, c.rec.bytes_len);
    assert_memory_equal(back.bytes, c.rec.bytes, c.rec.bytes_len);
    tsb_bag_rec_cleanup(&back);
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(f->s, c.bag->entries[0].ref, &e), 0);
    assert_string_equal(e.source, "his"); /* not replaced */
    tsb_entry_rec_cleanup(&e);
    copy_free(&c);

    /* a recovered bag 3 whose first Ref differs from the local row: conflict, nothing written */
    copy_bag(f->s, 3, &c);
    assert_int_equal(raw_exec(f->path,
                              "DROP TRIGGER IF EXISTS bags_no_delete;"
                              "PRAGMA foreign_keys = OFF; DELETE FROM bags WHERE seq = 3;"),
                     SQLITE_OK);
    c.bag->entries[0].digest[0] ^= 1;
    rb = as_recovered(&c);
    int64_t before = raw_int(f->path, "SELECT count(*) FROM entries");
    assert_int_equal(tsb_store_bag_insert_recovered(f->s, &rb, 7), TSB_ECONFLICT);
    assert_non_null(strstr(tsb_err_detail(), "another hash"));
    struct tsb_bag_rec gone;
    assert_int_equal(tsb_store_bag_get(f->s, 3, &gone), TSB_ENOTFOUND);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries"), before);
    copy_free(&c);
}

/* An entry's bag is the one whose Ref range holds it: a row inserted by hand with bag_seq and
 * position naming a stamped bag (schema 0013 no longer refuses it) is not in that bag, and the
 * bag's own entries keep their positions. */
static void test_entry_bag_from_ranges_only(void **state)
{
    struct fx *f = *state;
    make_stamped(f->s, 1);
    assert_int_equal(raw_exec(f->path, "INSERT INTO entries (ref, hash, source, received_ms, "
                                       "bag_seq, position) VALUES (50, zeroblob(32), 'x', 0, "
                                       "1, 0)"),
                     SQLITE_OK);
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(f->s, 50, &e), 0);
    assert_int_equal(e.bag_seq, 0);
    assert_int_equal(e.position, -1);
    tsb_entry_rec_cleanup(&e);
    for (int64_t ref = 1; ref <= 3; ref++) {
        assert_int_equal(tsb_store_entry_by_ref(f->s, ref, &e), 0);
        assert_int_equal(e.bag_seq, 1);
        assert_int_equal(e.position, ref - 1);
        tsb_entry_rec_cleanup(&e);
    }
}

static void test_conflicts_and_runs(void **state)
{
    struct fx *f = *state;
    uint8_t d1[TSB_SHA256_LEN] = {1}, d2[TSB_SHA256_LEN] = {2};
    struct tsb_conflict c = {.seq = 7,
                             .kind = "bag",
                             .detail = "SequenceNumber 7 exists locally with other bytes",
                             .tsa_serial = "42",
                             .gen_time_ms = 5,
                             .local_digest = d1,
                             .remote_digest = d2,
                             .remote_bytes = (const uint8_t *)"<bag/>",
                             .remote_bytes_len = 6};
    int64_t id = 0, n = -1;
    assert_int_equal(tsb_store_conflict_add(f->s, &c, 1234, &id), 0);
    assert_true(id > 0);
    assert_int_equal(tsb_store_conflict_count(f->s, 7, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(tsb_store_conflict_count(f->s, 8, &n), 0);
    assert_int_equal(n, 0);
    assert_int_not_equal(raw_exec(f->path, "DELETE FROM bag_conflicts"), SQLITE_OK);
    assert_int_not_equal(raw_exec(f->path, "UPDATE bag_conflicts SET seq = 8"), SQLITE_OK);

    int64_t done = 0;
    assert_int_equal(tsb_store_run_last_done(f->s, &done), TSB_ENOTFOUND);
    struct tsb_run_rec run = {.started_ms = 1,
                              .finished_ms = 2,
                              .period_from_ms = 100,
                              .period_to_ms = 199,
                              .done_to_ms = 199,
                              .result = "clean",
                              .exit_code = 0,
                              .report = "{}"};
    assert_int_equal(tsb_store_run_add(f->s, &run, &id), 0);
    run.local_only = true;
    run.done_to_ms = 500; /* ignored for a local-only run */
    run.result = "discrepancies";
    run.exit_code = 1;
    assert_int_equal(tsb_store_run_add(f->s, &run, NULL), 0);
    run.local_only = false;
    run.done_to_ms = 0; /* a failed run completed nothing */
    run.result = "failed";
    run.exit_code = 2;
    assert_int_equal(tsb_store_run_add(f->s, &run, NULL), 0);
    assert_int_equal(tsb_store_run_last_done(f->s, &done), 0);
    assert_int_equal(done, 199);
    assert_int_equal(tsb_store_run_count(f->s, &n), 0);
    assert_int_equal(n, 3);
    /* schema 0004: a run that found the archive file damaged */
    run.result = "damaged";
    run.exit_code = 3;
    assert_int_equal(tsb_store_run_add(f->s, &run, NULL), 0);
    struct tsb_run_last last;
    assert_int_equal(tsb_store_run_last(f->s, &last), 0);
    assert_string_equal(last.result, "damaged");
    assert_int_equal(last.id, 4);
    run.exit_code = 4;
    assert_int_equal(tsb_store_run_add(f->s, &run, NULL), TSB_EINVAL);
    assert_int_not_equal(raw_exec(f->path, "DELETE FROM reconcile_runs"), SQLITE_OK);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM reconcile_runs WHERE mode = "
                                      "'local-only' AND done_to_ms IS NULL"),
                     1);
}

static void test_walks_and_oldest(void **state)
{
    struct fx *f = *state;
    int64_t ms = 0;
    assert_int_equal(tsb_store_oldest_gen_time(f->s, &ms), TSB_ENOTFOUND);
    make_stamped(f->s, 3);
    assert_int_equal(tsb_store_oldest_gen_time(f->s, &ms), 0);
    assert_int_equal(ms, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recovered_bag_fills_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovered_beyond_the_end_and_fresh_seal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_recovered_never_overwrites_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entry_bag_from_ranges_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflicts_and_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_walks_and_oldest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
