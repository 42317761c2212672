/* Unit tests for check: an archive of bags sealed by the store and stamped with real RFC 3161
 * tokens from `openssl ts -reply` (a throw-away PKI, tests/lib/test-pki.sh) is clean; then each
 * kind of damage an operator with the sqlite3 shell could do is reported with its kind, bag and
 * Ref, every one of them in a single pass (the check never stops at the first): a gap at the
 * start and in the middle, bytes that are not a bag, bytes whose SequenceNumber or entry count
 * disagree with the row, a token from an untrusted TSA, a missing journal row, an extra one.
 * A seal committed by another connection while the check runs is not seen half (one snapshot).
 * A stale digest index (an old copy of a digest_keys page: structurally valid, rows missing),
 * and index rows deleted, changed or added, are archive damage naming each Ref, and a hash lookup
 * still finds the entries the index lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "check.h"
#include "err.h"
#include "hash.h"
#include "store.h"
#include "testlib.h"
#include "token.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;

struct fx {
    char *path;
    struct tsb_store *s;
    struct tsb_token_verifier *v;
    struct tsb_violation got[64];
    size_t n;
};

static void on_violation(void *arg, const struct tsb_violation *v)
{
    struct fx *f = arg;
    if (f->n < 64)
        f->got[f->n] = *v;
    f->n++;
}

static int group_setup(void **state)
{
    (void)state;
    dir = tsb_test_tmpdir();
    return tsb_test_sh("'%s/tests/lib/test-pki.sh' '%s' rsa >/dev/null 2>&1", tsb_test_source_dir(),
                       dir);
}

static int group_teardown(void **state)
{
    (void)state;
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

/* Stamps bag seq with a real token from signer (tsa or rogue-tsa). */
static void stamp(struct fx *f, int64_t seq, const char *signer)
{
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(f->s, seq, &b), 0);
    char *bag = tsb_test_path(dir, "bag.xml");
    assert_int_equal(tsb_test_write_file(bag, b.bytes, b.bytes_len), 0);
    assert_int_equal(
        tsb_test_sh("cd '%s' && openssl ts -query -data bag.xml -sha256 -cert -no_nonce -out q.tsq "
                    "2>/dev/null && openssl ts -reply -config ts.cnf -queryfile q.tsq -signer "
                    "%s.pem -inkey %s.key -token_out -out t.tst 2>/dev/null",
                    dir, signer, signer),
        0);
    char *tst = tsb_test_path(dir, "t.tst");
    size_t len = 0;
    uint8_t *tok = tsb_test_read_file(tst, &len);
    assert_non_null(tok);
    /* serial and genTime as the token says (a rogue token is not verified: read them anyway) */
    struct tsb_token_result res;
    struct tsb_token_verify_opts vo = {.check_skew = false};
    (void)tsb_token_verify(f->v, tok, len, b.digest, &vo, &res);
    assert_int_equal(tsb_store_bag_mark_sent(f->s, seq, "rid", "p", 1), 0);
    struct tsb_stamp st = {.sign_response = (const uint8_t *)"<sr/>",
                           .sign_response_len = 5,
                           .token = tok,
                           .token_len = len,
                           .tsa_serial = res.serial[0] ? res.serial : "1",
                           .gen_time_ms = res.gen_time_ms};
    assert_int_equal(tsb_store_bag_record_stamp(f->s, seq, &st, 2), 0);
    free(tok);
    free(tst);
    free(bag);
    tsb_bag_rec_cleanup(&b);
}

/* 5 bags of 2 entries each (content stored) from SequenceNumber first_seq, all stamped by the
 * trusted TSA; chained (sealer.chain) when chain is set. */
static int setup_from(void **state, int64_t first_seq, bool chain)
{
    struct fx *f = calloc(1, sizeof(*f));
    static int k;
    char name[64];
    snprintf(name, sizeof(name), "archive-%d.db", k++);
    f->path = tsb_test_path(dir, name);
    if (tsb_store_open(f->path, NULL, &f->s) != 0)
        return -1;
    char *anchors = tsb_test_path(dir, "tsa-ca.pem");
    int r = tsb_token_verifier_new(anchors, &f->v);
    free(anchors);
    if (r != 0)
        return -1;
    for (int b = 0; b < 5; b++) {
        struct tsb_entry_in in[2];
        char text[2][32];
        int64_t refs[2];
        for (int i = 0; i < 2; i++) {
            memset(&in[i], 0, sizeof(in[i]));
            snprintf(text[i], sizeof(text[i]), "entry %d.%d", b, i);
            in[i].content = (const uint8_t *)text[i];
            in[i].content_len = strlen(text[i]);
            tsb_sha256(in[i].content, in[i].content_len, in[i].digest);
            in[i].source = "his";
        }
        if (tsb_store_append(f->s, in, 2, refs) != 0)
            return -1;
        struct tsb_seal_opts so = {.max_entries = 2, .first_seq = first_seq, .chain = chain};
        struct tsb_seal_result res;
        if (tsb_store_seal(f->s, &so, &res) != 0)
            return -1;
        stamp(f, res.first_seq, "tsa");
    }
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_from(state, 0, false);
}

static int setup_chained(void **state)
{
    return setup_from(state, 0, true);
}

static int setup_chained_1000(void **state)
{
    return setup_from(state, 1000, true);
}

/* an archive continuing a previous client's numbering (sealer.first_sequence = 1000) */
static int setup_1000(void **state)
{
    return setup_from(state, 1000, false);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tsb_token_verifier_free(f->v);
    tsb_store_close(f->s);
    free(f->path);
    free(f);
    return 0;
}

static void raw(struct fx *f, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
    sqlite3_close(db);
}

static struct tsb_check_stats run_from(struct fx *f, int64_t first_seq)
{
    struct tsb_check_opts o = {
        .verifier = f->v, .on_violation = on_violation, .arg = f, .first_seq = first_seq};
    struct tsb_check_stats st;
    f->n = 0;
    assert_int_equal(tsb_check_archive(f->s, &o, &st), 0);
    assert_int_equal(st.violations, (int64_t)f->n);
    return st;
}

static struct tsb_check_stats run(struct fx *f)
{
    return run_from(f, 0);
}

/* True when a violation of kind for bag seq whose message contains text was reported. */
static bool has(struct fx *f, enum tsb_violation_kind kind, int64_t seq, const char *text)
{
    for (size_t i = 0; i < f->n && i < 64; i++)
        if (f->got[i].kind == kind && f->got[i].seq == seq &&
            (text == NULL || strstr(f->got[i].message, text) != NULL))
            return true;
    return false;
}

static void dump(struct fx *f)
{
    for (size_t i = 0; i < f->n && i < 64; i++)
        fprintf(stderr, "  [%s] %s\n", tsb_violation_kind_name(f->got[i].kind), f->got[i].message);
}

static void test_clean(void **state)
{
    struct fx *f = *state;
    struct tsb_check_stats st = run(f);
    if (f->n)
        dump(f);
    assert_int_equal(f->n, 0);
    assert_int_equal(st.bags, 5);
    assert_int_equal(st.stamped, 5);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.contents, 10);
    /* a sealed, unstamped bag is not a violation */
    struct tsb_entry_in in = {.source = "his"};
    int64_t ref;
    assert_int_equal(tsb_store_append(f->s, &in, 1, &ref), 0);
    struct tsb_seal_opts so = {0};
    assert_int_equal(tsb_store_seal(f->s, &so, NULL), 0);
    st = run(f);
    assert_int_equal(f->n, 0);
    assert_int_equal(st.unstamped, 1);
}

static void test_every_damage_in_one_pass(void **state)
{
    struct fx *f = *state;
    raw(f, "PRAGMA foreign_keys = OFF; BEGIN;"
           "DROP TRIGGER bags_no_delete; DROP TRIGGER entries_no_delete;"
           "DROP TRIGGER bag_bytes_no_update;"
           /* bag 1 lost: a gap at the very start (its Refs 1 and 2 with it) */
           "DELETE FROM entries WHERE ref IN (1, 2); DELETE FROM bags WHERE seq = 1;"
           "DELETE FROM bag_bytes WHERE seq = 1;"
           /* bag 2: bytes that are not a bag at all */
           "UPDATE bag_bytes SET bytes = CAST('not xml' AS BLOB) WHERE seq = 2;"
           /* bag 3: its bytes claim SequenceNumber 33 */
           "UPDATE bag_bytes SET bytes = CAST(replace(CAST(bytes AS TEXT), 'SequenceNumber=\"3\"',"
           " 'SequenceNumber=\"33\"') AS BLOB) WHERE seq = 3;"
           /* bag 4 (Refs 7, 8): its second journal row is gone */
           "DELETE FROM entries WHERE ref = 8;"
           /* a stray row where bag 1 was: below the sealed Refs, in no bag */
           "INSERT INTO entries (ref, hash, source, received_ms) VALUES (2, zeroblob(32), 'x', 0);"
           "COMMIT;");
    run(f);
    if (f->n != 9)
        dump(f);
    assert_int_equal(f->n, 9);
    assert_true(has(f, TSB_V_GAP, 1, "SequenceNumber 1 is missing"));
    assert_true(has(f, TSB_V_BAG_DIGEST, 2, NULL));
    assert_true(has(f, TSB_V_BAG_FORMAT, 2, "not a well-formed bag"));
    assert_true(has(f, TSB_V_TOKEN, 2, NULL));
    assert_true(has(f, TSB_V_BAG_HEADER, 3, "SequenceNumber 33"));
    assert_true(has(f, TSB_V_TOKEN, 3, "the bag was altered"));
    assert_true(has(f, TSB_V_ENTRY_LINK, 4, "no journal row"));
    assert_true(has(f, TSB_V_ENTRY_ORPHAN, 0, "Ref 2 is in no bag"));
    /* bag 5 is intact */
    for (size_t i = 0; i < f->n && i < 64; i++)
        assert_int_not_equal(f->got[i].seq, 5);
}

static void test_untrusted_token_and_gap_in_middle(void **state)
{
    struct fx *f = *state;
    /* a sixth bag stamped by a TSA outside the anchors */
    struct tsb_entry_in in = {.source = "his"};
    int64_t ref;
    assert_int_equal(tsb_store_append(f->s, &in, 1, &ref), 0);
    struct tsb_seal_opts so = {0};
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(f->s, &so, &res), 0);
    stamp(f, res.first_seq, "rogue-tsa");
    raw(f, "BEGIN; DROP TRIGGER bags_no_delete; DROP TRIGGER entries_no_delete;"
           "DELETE FROM entries WHERE ref BETWEEN 3 AND 6; DELETE FROM bags WHERE seq IN (2, 3);"
           "COMMIT;");
    run(f);
    assert_true(has(f, TSB_V_GAP, 2, "SequenceNumbers 2 to 3 are missing"));
    assert_true(has(f, TSB_V_TOKEN, 6, NULL));
    assert_int_equal(f->n, 2);
}

/* Gaps are counted from sealer.first_sequence: an archive that starts there is clean, one that
 * starts later has a gap at the start, and without the option 1..first-1 are missing. */
static void test_first_sequence(void **state)
{
    struct fx *f = *state;
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(f->s, 1000, &b), 0);
    tsb_bag_rec_cleanup(&b);
    struct tsb_check_stats st = run_from(f, 1000);
    if (f->n)
        dump(f);
    assert_int_equal(f->n, 0);
    assert_int_equal(st.bags, 5);
    assert_int_equal(st.stamped, 5);

    run_from(f, 998);
    assert_int_equal(f->n, 1);
    assert_true(has(f, TSB_V_GAP, 998, "SequenceNumbers 998 to 999 are missing"));

    run(f); /* the default: from 1 */
    assert_int_equal(f->n, 1);
    assert_true(has(f, TSB_V_GAP, 1, "SequenceNumbers 1 to 999 are missing"));

    /* a gap in the middle is still one */
    raw(f, "BEGIN; DROP TRIGGER bags_no_delete; DROP TRIGGER entries_no_delete;"
           "DELETE FROM entries WHERE ref BETWEEN 5 AND 6; DELETE FROM bags WHERE seq = 1002;"
           "COMMIT;");
    run_from(f, 1000);
    assert_true(has(f, TSB_V_GAP, 1002, "SequenceNumber 1002 is missing"));
    assert_int_equal(f->n, 1);
}

/* Appends n entries with content "late i" and seals them into one bag, through connection s. */
static void append_and_seal(struct tsb_store *s, int n)
{
    for (int i = 0; i < n; i++) {
        char text[32];
        struct tsb_entry_in in = {.source = "his"};
        int64_t ref;
        snprintf(text, sizeof(text), "late %d", i);
        in.content = (const uint8_t *)text;
        in.content_len = strlen(text);
        tsb_sha256(in.content, in.content_len, in.digest);
        assert_int_equal(tsb_store_append(s, &in, 1, &ref), 0);
    }
    struct tsb_seal_opts so = {0};
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(s, &so, &res), 0);
    assert_int_equal(res.entries, (size_t)n);
}

struct sealer_fx {
    struct fx *f;
    bool sealed;
};

/* After the check has walked its last bag, another connection (tsbagd's sealer, in real life)
 * seals a new bag: the entries walk must not see its rows without the bag. */
static void seal_behind(void *arg, const char *phase, int64_t done, int64_t total)
{
    struct sealer_fx *x = arg;
    if (x->sealed || strcmp(phase, "bags") != 0 || done != total)
        return;
    struct tsb_store *w = NULL;
    assert_int_equal(tsb_store_open(x->f->path, NULL, &w), 0);
    append_and_seal(w, 3);
    tsb_store_close(w);
    x->sealed = true;
}

static void test_seal_during_check(void **state)
{
    struct fx *f = *state;
    struct sealer_fx x = {.f = f};
    struct tsb_check_opts o = {.verifier = f->v,
                               .on_violation = on_violation,
                               .arg = f,
                               .on_progress = seal_behind,
                               .progress_arg = &x};
    struct tsb_check_stats st;
    f->n = 0;
    assert_int_equal(tsb_check_archive(f->s, &o, &st), 0);
    assert_true(x.sealed);
    if (f->n)
        dump(f);
    assert_int_equal(f->n, 0);
    assert_int_equal(st.bags, 5);
    assert_int_equal(st.entries, 10);
    /* the next check sees the new bag whole */
    run(f);
    assert_int_equal(f->n, 0);
}

/* Reads page pgno (1-based) of the closed archive into buf, or writes buf over it. */
static void page_io(const char *path, int64_t pgno, int64_t size, uint8_t *buf, bool write)
{
    int fd = open(path, write ? O_WRONLY : O_RDONLY);
    assert_true(fd >= 0);
    off_t at = (off_t)((pgno - 1) * size);
    ssize_t n = write ? pwrite(fd, buf, (size_t)size, at) : pread(fd, buf, (size_t)size, at);
    assert_int_equal(n, size);
    assert_int_equal(close(fd), 0);
}

static int64_t raw_int(struct fx *f, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int count_cb(void *arg, const struct tsb_entry_rec *e)
{
    (void)e;
    (*(int *)arg)++;
    return 0;
}

/* The archive's entries in the digest index and its watermark above them, as tsbagd's writer
 * leaves them once their chunk is complete (a test archive has fewer than a chunk's entries). */
static void index_all(struct fx *f)
{
    raw(f, "INSERT OR IGNORE INTO digest_keys SELECT " KEY_OF(
               "ref", "hash") " FROM entries; "
                              "UPDATE counters SET hashed_ref = 16384");
}

static void test_stale_hash_index(void **state)
{
    struct fx *f = *state;
    index_all(f);
    struct tsb_check_stats st = run(f);
    assert_int_equal(st.violations, 0);
    /* keep the digest_keys page of 10 sealed entries (the WAL checkpointed into the file) */
    assert_int_equal(tsb_store_checkpoint(f->s, 0, NULL), 0);
    tsb_store_close(f->s);
    f->s = NULL;
    int64_t psize = raw_int(f, "PRAGMA page_size");
    int64_t root = raw_int(f, "SELECT rootpage FROM sqlite_schema WHERE name = 'digest_keys'");
    uint8_t *old = malloc((size_t)psize);
    page_io(f->path, root, psize, old, false);
    /* three more sealed and indexed entries, then the old page back: the index silently lacks
     * them (a structurally valid page: SQLite's integrity check has nothing to compare) */
    assert_int_equal(tsb_store_open(f->path, NULL, &f->s), 0);
    append_and_seal(f->s, 3);
    index_all(f);
    assert_int_equal(tsb_store_checkpoint(f->s, 0, NULL), 0);
    tsb_store_close(f->s);
    assert_int_equal(raw_int(f, "SELECT rootpage FROM sqlite_schema WHERE name = 'digest_keys'"),
                     root);
    page_io(f->path, root, psize, old, true);
    free(old);
    assert_int_equal(tsb_store_open(f->path, NULL, &f->s), 0);

    /* the archive check's comparison of the index with the journal rows finds each */
    st = run(f);
    assert_int_equal(st.damage, 3);
    assert_true(has(f, TSB_V_DAMAGE, 0, "journal row Ref 11 (hash "));
    assert_true(has(f, TSB_V_DAMAGE, 0,
                    "is missing from the digest index (digest_keys), which "
                    "covers every Ref up to 16384"));
    assert_true(has(f, TSB_V_DAMAGE, 0, "Ref 13"));
    assert_string_equal(tsb_violation_kind_name(TSB_V_DAMAGE), "archive-damage");

    /* a lookup by hash does not answer "none" for an entry the index lost */
    struct tsb_store *r = NULL;
    struct tsb_store_open_opts ro = {.readonly = true};
    assert_int_equal(tsb_store_open(f->path, &ro, &r), 0);
    uint8_t d[TSB_SHA256_LEN];
    int hits = 0;
    tsb_sha256((const uint8_t *)"late 1", 6, d);
    assert_int_equal(tsb_store_entries_by_hash(r, d, count_cb, &hits), 0);
    assert_int_equal(hits, 1);
    assert_non_null(tsb_store_damage(r));
    /* an intact lookup leaves no damage note; a hash nobody sent is still none */
    tsb_store_close(r);
    assert_int_equal(tsb_store_open(f->path, &ro, &r), 0);
    hits = 0;
    tsb_sha256((const uint8_t *)"entry 0.0", 9, d);
    assert_int_equal(tsb_store_entries_by_hash(r, d, count_cb, &hits), 0);
    assert_int_equal(hits, 1);
    memset(d, 0x5a, sizeof(d));
    assert_int_equal(tsb_store_entries_by_hash(r, d, count_cb, &hits), 0);
    assert_int_equal(hits, 1);
    assert_null(tsb_store_damage(r));
    tsb_store_close(r);
}

/* Index rows deleted, changed or added behind the store: each is archive damage naming its Ref;
 * rows above the watermark are checked against their journal rows too. */
static void test_hash_index_rows_damaged(void **state)
{
    struct fx *f = *state;
    index_all(f);
    /* Ref 5's key with the prefix ffffff; keys of prefix 000000 for Refs 9000 and 70000 */
    raw(f, "DELETE FROM digest_keys WHERE " KEY_REF " = 3; "
           "UPDATE digest_keys SET k = (k & 65535) | (16777215 << 16) WHERE " KEY_REF " = 5; "
           "INSERT INTO digest_keys VALUES (9000); "
           "INSERT INTO digest_keys VALUES ((1 << 40) | (70000 & 65535))");
    struct tsb_check_stats st = run(f);
    assert_int_equal(st.damage, 5);
    assert_true(has(f, TSB_V_DAMAGE, 0, "journal row Ref 3 (hash "));
    assert_true(has(f, TSB_V_DAMAGE, 0, "journal row Ref 5 (hash "));
    assert_true(has(f, TSB_V_DAMAGE, 0,
                    "lists Ref 5 under a hash starting ffffff, but its journal row "
                    "has hash "));
    assert_true(has(f, TSB_V_DAMAGE, 0,
                    "lists Ref 9000 under a hash starting 000000, but no journal "
                    "row has that Ref"));
    assert_true(has(f, TSB_V_DAMAGE, 0, "lists Ref 70000 under a hash starting 000000"));
    assert_true(has(f, TSB_V_DAMAGE, 0, "see docs/reconcile.md, Archive damage"));
    /* an entry of the index found only by the table scan is noted as damage */
    struct tsb_entry_rec e;
    assert_int_equal(tsb_store_entry_by_ref(f->s, 3, &e), 0);
    int hits = 0;
    assert_int_equal(tsb_store_entries_by_hash(f->s, e.digest, count_cb, &hits), 0);
    tsb_entry_rec_cleanup(&e);
    assert_int_equal(hits, 1);
    assert_non_null(tsb_store_damage(f->s));
}

/* ---- the bag chain (sealer.chain) ------------------------------------------------------ */

/* Seals one more bag of one entry, chained or not; returns its SequenceNumber. */
static int64_t seal_one_more(struct fx *f, bool chain, int64_t first_seq)
{
    struct tsb_entry_in in = {.source = "his"};
    int64_t ref;
    assert_int_equal(tsb_store_append(f->s, &in, 1, &ref), 0);
    struct tsb_seal_opts so = {.chain = chain, .first_seq = first_seq};
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(f->s, &so, &res), 0);
    assert_int_equal(res.bags, 1);
    return res.first_seq;
}

/* True when bag seq's bytes start with the link to bag seq - 1's digest. */
static bool links_to_previous(struct fx *f, int64_t seq)
{
    struct tsb_bag_rec b, p;
    char hex[TSB_HASH_STR_MAX], want[200];
    assert_int_equal(tsb_store_bag_get(f->s, seq, &b), 0);
    assert_int_equal(tsb_store_bag_get(f->s, seq - 1, &p), 0);
    tsb_hash_encode(p.digest, TSB_HASH_HEX, hex);
    snprintf(want, sizeof(want),
             "SequenceNumber=\"%lld\"><JournalEntry><Hash>%s</Hash><Ref>0</Ref>", (long long)seq,
             hex);
    bool ok = memmem(b.bytes, b.bytes_len, want, strlen(want)) != NULL;
    if (!ok)
        fprintf(stderr, "bag %lld: %.*s\nlacks %s\n", (long long)seq, (int)b.bytes_len,
                (const char *)b.bytes, want);
    tsb_bag_rec_cleanup(&p);
    tsb_bag_rec_cleanup(&b);
    return ok;
}

static bool has_link_entry(struct fx *f, int64_t seq)
{
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(f->s, seq, &b), 0);
    bool ok = memmem(b.bytes, b.bytes_len, "<Ref>0</Ref>", 12) != NULL;
    tsb_bag_rec_cleanup(&b);
    return ok;
}

/* Replaces `from` by `to` in bag seq's bytes and records the new bytes' digest, as someone with
 * the sqlite3 shell would (the immutability trigger dropped): the bag still parses. */
static void replace_in_bag(struct fx *f, int64_t seq, const char *from, const char *to)
{
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(f->s, seq, &b), 0);
    uint8_t *at = memmem(b.bytes, b.bytes_len, from, strlen(from));
    assert_non_null(at);
    assert_int_equal(strlen(from), strlen(to));
    memcpy(at, to, strlen(to));
    uint8_t d[TSB_SHA256_LEN];
    tsb_sha256(b.bytes, b.bytes_len, d);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TRIGGER bags_update_immutable;"
                                  "DROP TRIGGER bags_update_transition;"
                                  "DROP TRIGGER bag_bytes_no_update",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    static const char *const sql[] = {"UPDATE bag_bytes SET bytes = ?1 WHERE seq = ?3",
                                      "UPDATE bags SET digest = ?2 WHERE seq = ?3"};
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        assert_int_equal(sqlite3_prepare_v2(db, sql[i], -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_blob(st, 1, b.bytes, (int)b.bytes_len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, d, TSB_SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, seq);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        assert_int_equal(sqlite3_changes(db), 1);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    tsb_bag_rec_cleanup(&b);
}

/* A chained archive: bag 1 is the genesis (no link), bags 2..5 start with the link to the bag
 * before them (Ref 0, not counted as an entry), and the check verifies every link. */
static void test_chain_clean(void **state)
{
    struct fx *f = *state;
    assert_false(has_link_entry(f, 1));
    for (int64_t seq = 2; seq <= 5; seq++)
        assert_true(links_to_previous(f, seq));
    struct tsb_bag_rec b;
    assert_int_equal(tsb_store_bag_get(f->s, 3, &b), 0);
    assert_int_equal(b.entry_count, 2); /* the link is no entry */
    tsb_bag_rec_cleanup(&b);
    struct tsb_check_stats st = run(f);
    if (f->n)
        dump(f);
    assert_int_equal(f->n, 0);
    assert_int_equal(st.links, 4);
    assert_int_equal(st.genesis, 1);
    assert_int_equal(st.unlinked, 0);
    assert_int_equal(st.entries, 10);
    assert_string_equal(tsb_violation_kind_name(TSB_V_CHAIN), "chain");
    assert_string_equal(tsb_violation_kind_name(TSB_V_EVIDENCE), "evidence");
}

/* A bag deleted behind the triggers breaks the chain at its SequenceNumber: bag 4's link names a
 * bag 3 the archive does not hold (beside the gap). */
static void test_chain_missing_bag(void **state)
{
    struct fx *f = *state;
    raw(f, "BEGIN; DROP TRIGGER bags_no_delete; DROP TRIGGER entries_no_delete;"
           "DELETE FROM entries WHERE bag_seq = 3; DELETE FROM bags WHERE seq = 3;"
           "COMMIT;");
    run(f);
    size_t chain = 0;
    for (size_t i = 0; i < f->n && i < 64; i++)
        chain += f->got[i].kind == TSB_V_CHAIN;
    if (chain != 1)
        dump(f);
    assert_int_equal(chain, 1);
    assert_true(has(f, TSB_V_GAP, 3, "SequenceNumber 3 is missing"));
    assert_true(has(f, TSB_V_CHAIN, 3,
                    "chain broken at SequenceNumber 3: bag 4 is chained to a bag 3 of SHA-256"));
    assert_true(has(f, TSB_V_CHAIN, 3, "which is not in the archive"));
}

/* A bag whose bytes were replaced (and its digest column with them, so that the digest check
 * passes) breaks the link of the bag after it. */
static void test_chain_replaced_bag(void **state)
{
    struct fx *f = *state;
    uint8_t d[TSB_SHA256_LEN];
    char old_hex[TSB_HASH_STR_MAX], new_hex[TSB_HASH_STR_MAX];
    tsb_sha256((const uint8_t *)"entry 2.1", 9, d);
    tsb_hash_encode(d, TSB_HASH_HEX, old_hex);
    tsb_sha256((const uint8_t *)"entry X.1", 9, d);
    tsb_hash_encode(d, TSB_HASH_HEX, new_hex);
    replace_in_bag(f, 3, old_hex, new_hex);
    run(f);
    if (!has(f, TSB_V_CHAIN, 3, "bag 3 was replaced"))
        dump(f);
    assert_true(has(f, TSB_V_CHAIN, 3,
                    "chain broken at SequenceNumber 3: bag 4 is chained to a bag 3 of SHA-256"));
    assert_true(has(f, TSB_V_TOKEN, 3, NULL));
    assert_true(has(f, TSB_V_ENTRY_LINK, 3, NULL));
    for (size_t i = 0; i < f->n && i < 64; i++) {
        assert_int_equal(f->got[i].seq, 3); /* every finding names bag 3 */
        assert_int_not_equal(f->got[i].kind, TSB_V_BAG_DIGEST);
    }
}

/* Two bags swapped (bytes and digest moved to each other's row): the chain breaks before, between
 * and after them. */
static void test_chain_reordered_bags(void **state)
{
    struct fx *f = *state;
    raw(f, "BEGIN; DROP TRIGGER bags_update_immutable; DROP TRIGGER bags_update_transition;"
           "DROP TRIGGER bag_bytes_no_update;"
           "CREATE TEMP TABLE t AS SELECT seq, x.bytes, digest FROM bags JOIN bag_bytes x "
           "USING (seq) WHERE seq IN (3, 4);"
           "UPDATE bag_bytes AS o SET bytes = (SELECT t.bytes FROM t WHERE t.seq = 7 - o.seq)"
           " WHERE seq IN (3, 4);"
           "UPDATE bags AS o SET"
           " digest = (SELECT t.digest FROM t WHERE t.seq = 7 - o.seq) WHERE seq IN (3, 4);"
           "COMMIT;");
    run(f);
    assert_true(has(f, TSB_V_CHAIN, 2, "bag 3 is chained to a bag 2"));
    assert_true(has(f, TSB_V_CHAIN, 3, "bag 4 is chained to a bag 3"));
    assert_true(has(f, TSB_V_CHAIN, 4, "bag 5 is chained to a bag 4"));
    assert_true(has(f, TSB_V_BAG_HEADER, 3, "carry SequenceNumber 4"));
    assert_true(has(f, TSB_V_BAG_HEADER, 4, "carry SequenceNumber 3"));
}

/* Genesis after sealer.first_sequence: bag 1000 has no link and nothing is missing before it;
 * sealer.chain turned off seals an unchained bag (no violation), turned on again the next bag
 * links to that one. */
static void test_chain_first_sequence_and_toggle(void **state)
{
    struct fx *f = *state;
    assert_false(has_link_entry(f, 1000));
    assert_true(links_to_previous(f, 1001));
    int64_t off = seal_one_more(f, false, 1000);
    assert_int_equal(off, 1005);
    assert_false(has_link_entry(f, off));
    int64_t on = seal_one_more(f, true, 1000);
    assert_true(links_to_previous(f, on));
    struct tsb_check_stats st = run_from(f, 1000);
    if (f->n)
        dump(f);
    assert_int_equal(f->n, 0);
    assert_int_equal(st.genesis, 1);
    assert_int_equal(st.unlinked, 1);
    assert_int_equal(st.links, 5);
}

/* A backlog sealed into several bags in one transaction: each links to the one sealed just
 * before it in the same seal. */
static void test_chain_one_seal_many_bags(void **state)
{
    struct fx *f = *state;
    struct tsb_entry_in in[5];
    int64_t refs[5];
    memset(in, 0, sizeof(in));
    for (int i = 0; i < 5; i++)
        in[i].source = "his";
    assert_int_equal(tsb_store_append(f->s, in, 5, refs), 0);
    struct tsb_seal_opts so = {.max_entries = 2, .chain = true};
    struct tsb_seal_result res;
    assert_int_equal(tsb_store_seal(f->s, &so, &res), 0);
    assert_int_equal(res.first_seq, 6);
    assert_int_equal(res.bags, 3);
    for (int64_t seq = 6; seq <= 8; seq++)
        assert_true(links_to_previous(f, seq));
    struct tsb_check_stats st = run(f);
    assert_int_equal(f->n, 0);
    assert_int_equal(st.links, 7);
}

/* sealer.chain turned on for an archive sealed without it: the next bag links to the last old
 * one, the old ones count as unchained. */
static void test_chain_turned_on_later(void **state)
{
    struct fx *f = *state;
    int64_t seq = seal_one_more(f, true, 0);
    assert_int_equal(seq, 6);
    assert_true(links_to_previous(f, 6));
    struct tsb_check_stats st = run(f);
    assert_int_equal(f->n, 0);
    assert_int_equal(st.genesis, 1);
    assert_int_equal(st.unlinked, 4);
    assert_int_equal(st.links, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_sequence, setup_1000, teardown),
        cmocka_unit_test_setup_teardown(test_every_damage_in_one_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_token_and_gap_in_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_during_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_hash_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_index_rows_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_clean, setup_chained, teardown),
        cmocka_unit_test_setup_teardown(test_chain_missing_bag, setup_chained, teardown),
        cmocka_unit_test_setup_teardown(test_chain_replaced_bag, setup_chained, teardown),
        cmocka_unit_test_setup_teardown(test_chain_reordered_bags, setup_chained, teardown),
        cmocka_unit_test_setup_teardown(test_chain_first_sequence_and_toggle, setup_chained_1000,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chain_turned_on_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_one_seal_many_bags, setup_chained, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
