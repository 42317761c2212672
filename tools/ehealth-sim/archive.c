/*
 * archive: the simulator's own SQLite file, standing in for eHealth's timestamp archive. It
 * persists the TSA serial counter and, per IDHospital, each bag (identified by its SHA-256: a
 * re-sent identical bag is the same bag) and each stamp of it (serial, genTime in ms, the bag
 * base64 text exactly as received, the SignResponse exactly as sent). "Forgetting" a bag marks
 * its stamps so that TSConsult no longer knows them. Callers serialise access (one mutex).
 */
#include "sim.h"

#include "codec.h"
#include "err.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct sim_archive {
    sqlite3 *db;
};

static const char *schema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('serial', 0);"
    "CREATE TABLE IF NOT EXISTS bags(id INTEGER PRIMARY KEY, id_hospital TEXT NOT NULL,"
    " digest TEXT NOT NULL, UNIQUE(id_hospital, digest));"
    "CREATE TABLE IF NOT EXISTS stamps(serial INTEGER PRIMARY KEY, bag_id INTEGER NOT NULL"
    " REFERENCES bags(id), id_hospital TEXT NOT NULL, gen_ms INTEGER NOT NULL,"
    " bag_b64 TEXT NOT NULL, sign_response TEXT NOT NULL, forgotten INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS stamps_time ON stamps(id_hospital, gen_ms);";

static int db_err(struct sim_archive *a, const char *what)
{
    return tsb_err(TSB_ESTORE, "simulator archive: %s: %s", what, sqlite3_errmsg(a->db));
}

int sim_archive_open(const char *path, struct sim_archive **out)
{
    struct sim_archive *a = tsb_calloc(1, sizeof(*a));
    int r = TSB_EINTERNAL;
    if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        r = tsb_err(TSB_ESTORE, "cannot open the simulator archive %s: %s", path,
                    a->db ? sqlite3_errmsg(a->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(a->db, 5000);
    if (sqlite3_exec(a->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        r = db_err(a, "schema");
        goto out;
    }
    *out = a;
    a = NULL;
    r = 0;
out:
    sim_archive_close(a);
    return r;
}

void sim_archive_close(struct sim_archive *a)
{
    if (a == NULL)
        return;
    sqlite3_close(a->db);
    free(a);
}

int sim_archive_next_serial(struct sim_archive *a, int64_t *serial)
{
    sqlite3_stmt *st = NULL;
    int r = TSB_EINTERNAL;
    if (sqlite3_prepare_v2(a->db, "UPDATE meta SET v = v + 1 WHERE k = 'serial' RETURNING v", -1,
                           &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        r = db_err(a, "next serial");
        goto out;
    }
    *serial = sqlite3_column_int64(st, 0);
    r = 0;
out:
    sqlite3_finalize(st);
    return r;
}

int sim_archive_add(struct sim_archive *a, const char *id_hospital,
                    const uint8_t digest[TSB_SHA256_LEN], const char *bag_b64, int64_t serial,
                    int64_t gen_ms, const char *sign_response)
{
    char hex[TSB_SHA256_LEN * 2 + 1];
    tsb_hex_encode(digest, TSB_SHA256_LEN, hex);
    sqlite3_stmt *st = NULL;
    int r = TSB_EINTERNAL;
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(a, "begin");
    if (sqlite3_prepare_v2(a->db,
                           "INSERT INTO bags(id_hospital, digest) VALUES(?1, ?2) "
                           "ON CONFLICT(id_hospital, digest) DO UPDATE SET digest = digest "
                           "RETURNING id",
                           -1, &st, NULL) != SQLITE_OK) {
        r = db_err(a, "bag");
        goto out;
    }
    sqlite3_bind_text(st, 1, id_hospital, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hex, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        r = db_err(a, "bag");
        goto out;
    }
    int64_t bag_id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(a->db,
                           "INSERT INTO stamps(serial, bag_id, id_hospital, gen_ms, bag_b64, "
                           "sign_response) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) != SQLITE_OK) {
        r = db_err(a, "stamp");
        goto out;
    }
    sqlite3_bind_int64(st, 1, serial);
    sqlite3_bind_int64(st, 2, bag_id);
    sqlite3_bind_text(st, 3, id_hospital, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, gen_ms);
    sqlite3_bind_text(st, 5, bag_b64, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, sign_response, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        r = db_err(a, "stamp");
        goto out;
    }
    r = 0;
out:
    sqlite3_finalize(st);
    if (sqlite3_exec(a->db, r == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK &&
        r == 0)
        r = db_err(a, "commit");
    return r;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return tsb_strdup(t ? (const char *)t : "");
}

int sim_archive_find(struct sim_archive *a, const char *id_hospital, int64_t serial,
                     int64_t date_ms, int64_t *bag_id, char **bag_b64, char **sign_response)
{
    sqlite3_stmt *st = NULL;
    int r = TSB_EINTERNAL;
    if (sqlite3_prepare_v2(a->db,
                           "SELECT bag_id, bag_b64, sign_response FROM stamps WHERE serial = ?1 "
                           "AND gen_ms = ?2 AND id_hospital = ?3 AND forgotten = 0",
                           -1, &st, NULL) != SQLITE_OK) {
        r = db_err(a, "find");
        goto out;
    }
    sqlite3_bind_int64(st, 1, serial);
    sqlite3_bind_int64(st, 2, date_ms);
    sqlite3_bind_text(st, 3, id_hospital, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        r = TSB_ENOTFOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        r = db_err(a, "find");
        goto out;
    }
    *bag_id = sqlite3_column_int64(st, 0);
    if (bag_b64)
        *bag_b64 = col_dup(st, 1);
    if (sign_response)
        *sign_response = col_dup(st, 2);
    r = 0;
out:
    sqlite3_finalize(st);
    return r;
}

int sim_archive_period(struct sim_archive *a, const char *id_hospital, int64_t start, int64_t end,
                       struct sim_stamp_row **rows, size_t *n)
{
    sqlite3_stmt *st = NULL;
    struct sim_stamp_row *v = NULL;
    size_t cnt = 0, cap = 0;
    int r = TSB_EINTERNAL, rc;
    if (sqlite3_prepare_v2(a->db,
                           "SELECT serial, gen_ms, bag_id FROM stamps WHERE id_hospital = ?1 AND "
                           "gen_ms BETWEEN ?2 AND ?3 AND forgotten = 0 ORDER BY gen_ms, serial",
                           -1, &st, NULL) != SQLITE_OK) {
        r = db_err(a, "period");
        goto out;
    }
    sqlite3_bind_text(st, 1, id_hospital, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, start);
    sqlite3_bind_int64(st, 3, end);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            v = tsb_realloc(v, cap * sizeof(*v));
        }
        v[cnt].serial = sqlite3_column_int64(st, 0);
        v[cnt].gen_ms = sqlite3_column_int64(st, 1);
        v[cnt].bag_id = sqlite3_column_int64(st, 2);
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        r = db_err(a, "period");
        goto out;
    }
    *rows = v;
    *n = cnt;
    v = NULL;
    r = 0;
out:
    free(v);
    sqlite3_finalize(st);
    return r;
}

int sim_archive_forget(struct sim_archive *a, int64_t serial, int64_t *forgotten_bag)
{
    sqlite3_stmt *st = NULL;
    int r = TSB_EINTERNAL;
    const char *q = serial > 0 ? "SELECT bag_id FROM stamps WHERE serial = ?1 AND forgotten = 0"
                               : "SELECT bag_id FROM stamps WHERE forgotten = 0 "
                                 "ORDER BY serial DESC LIMIT 1";
    if (sqlite3_prepare_v2(a->db, q, -1, &st, NULL) != SQLITE_OK) {
        r = db_err(a, "forget");
        goto out;
    }
    if (serial > 0)
        sqlite3_bind_int64(st, 1, serial);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        r = rc == SQLITE_DONE
                ? tsb_err(TSB_ENOTFOUND, "no archived stamp with serial %lld", (long long)serial)
                : db_err(a, "forget");
        goto out;
    }
    int64_t bag = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(a->db, "UPDATE stamps SET forgotten = 1 WHERE bag_id = ?1", -1, &st,
                           NULL) != SQLITE_OK) {
        r = db_err(a, "forget");
        goto out;
    }
    sqlite3_bind_int64(st, 1, bag);
    if (sqlite3_step(st) != SQLITE_DONE) {
        r = db_err(a, "forget");
        goto out;
    }
    *forgotten_bag = bag;
    r = 0;
out:
    sqlite3_finalize(st);
    return r;
}
