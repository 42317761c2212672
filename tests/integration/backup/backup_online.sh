#!/usr/bin/env bash
# backup_online: `tsbag backup` while a real tsbagd ingests (two pipelined `tsbag push` clients
# in a loop) and seals every second against the simulator. The copy is taken in one-page steps so
# that many writes land while it runs. It must hold every entry acknowledged before the backup
# began (each Ref + hash checked in the copy with the sqlite3 shell), pass SQLite's
# integrity_check, be a single file (journal mode delete, nothing left beside it) and check
# CLEAN. An existing DEST is refused (exit 2, untouched) unless --force.
. "$(dirname "$0")/../sender/lib.sh"

COPY=$T/backups/archive-copy.db
mkdir -p "$T/backups" "$T/acks"
# pool of distinct entries (each push of the same bytes is a new entry with a new Ref)
for k in 1 2 3; do
    mkdir -p "$T/pool/$k"
    for i in $(seq 1 1500); do printf 'pool %s|prescription|%s' "$k" "$i" >"$T/pool/$k/e$i"; done
done

start_sim
start_daemon -s sealer.interval_s=1
backup() { tsbag -s "tsa.trust_anchors=$PKI/tsa-ca.pem" backup --no-progress "$@"; }

# acknowledged before any load: 1500 entries, sealed and stamped or not
tsbag push "$T/pool/1" >"$T/acks/first.txt" 2>>"$T/push-errors.txt" || fail "first push"

load() {
    local n=0
    while [ ! -e "$T/stop-load" ]; do
        n=$((n + 1))
        tsbag push --depth 128 "$T/pool/$((1 + n % 3))" >"$T/acks/load-$1-$n.txt" \
            2>>"$T/push-errors.txt" || { echo "push $1-$n failed" >>"$T/load-failed"; return; }
    done
}
load a &
LOAD_A=$!
load b &
LOAD_B=$!
stop_load() {
    : >"$T/stop-load"
    wait "$LOAD_A" "$LOAD_B"
}

# the load is flowing: some concurrent pushes already acknowledged, a bag sealed meanwhile
for i in $(seq 1 300); do
    [ "$(cat "$T"/acks/load-* 2>/dev/null | wc -l)" -ge 1000 ] && break
    sleep 0.1
done
[ "$(cat "$T"/acks/load-* | wc -l)" -ge 1000 ] || fail "the load generator acknowledged nothing"
wait_for "SELECT count(*) > 0 FROM bags" 1

# every ACK received before the backup starts (complete lines only, file by file: a push may be
# mid-line, and cat would glue its half line to the next file's first one)
grep -h -E '^[0-9]+ [0-9a-f]{64} ' "$T"/acks/*.txt | cut -d' ' -f1,2 | tr ' ' ',' >"$T/acked.csv"
ACKED=$(wc -l <"$T/acked.csv")
BAGS_BEFORE=$(sql "SELECT count(*) FROM bags")

RC=0
backup --pages-per-step 1 "$COPY" >"$T/backup.txt" 2>&1 || RC=$?
cp "$T/backup.txt" "$T/out.txt"
[ "$RC" = 0 ] || fail "tsbag backup under load: exit $RC"
echo "backup under load: $ACKED ACKs recorded before it, $BAGS_BEFORE bags sealed before it"
cat "$T/backup.txt"
grep -q '^tsbag backup: CLEAN (exit 0)$' "$T/backup.txt" || fail "the copy does not check CLEAN"
grep -q '^violations  *0$' "$T/backup.txt" || fail "the report does not show 0 violations"

# the load went on while the copy ran and after it
LIVE_AT_END=$(sql "SELECT max(ref) FROM entries")
for i in $(seq 1 300); do
    [ "$(sql "SELECT max(ref) FROM entries")" -gt "$LIVE_AT_END" ] && break
    sleep 0.1
done
stop_load
[ -e "$T/load-failed" ] && fail "the load generator failed: $(cat "$T/load-failed")"

# every acknowledged Ref with its hash is in the copy
sqlite3 -batch "$T/acks.db" "CREATE TABLE acks (ref INTEGER, hash TEXT);" ".mode csv" \
    ".import $T/acked.csv acks" || fail "importing the ACKs"
[ "$(sqlite3 -batch "$T/acks.db" "SELECT count(*) FROM acks")" = "$ACKED" ] || fail "ACKs lost on import"
MISSING=$(sqlite3 -batch "$T/acks.db" "ATTACH 'file:$COPY?mode=ro' AS c;
    SELECT count(*) FROM acks a LEFT JOIN c.entries e ON e.ref = a.ref AND lower(hex(e.hash)) = a.hash
    WHERE e.ref IS NULL")
if [ "$MISSING" != 0 ]; then
    # the evidence: each such ACK, and what the copy and the live archive hold for its Ref
    sqlite3 -batch "$T/acks.db" "ATTACH 'file:$COPY?mode=ro' AS c; ATTACH 'file:$DB?mode=ro' AS l;
        SELECT 'acked Ref ' || a.ref || ' ' || a.hash || '; copy: ' ||
               coalesce((SELECT lower(hex(hash)) FROM c.entries WHERE ref = a.ref), 'no row') ||
               '; live: ' ||
               coalesce((SELECT lower(hex(hash)) FROM l.entries WHERE ref = a.ref), 'no row')
        FROM acks a LEFT JOIN c.entries e ON e.ref = a.ref AND lower(hex(e.hash)) = a.hash
        WHERE e.ref IS NULL LIMIT 5" >&2
    grep -h -E "^$(sqlite3 -batch "$T/acks.db" "ATTACH 'file:$COPY?mode=ro' AS c;
        SELECT a.ref FROM acks a LEFT JOIN c.entries e ON e.ref = a.ref AND lower(hex(e.hash)) = a.hash
        WHERE e.ref IS NULL LIMIT 1") " "$T"/acks/*.txt >&2
    fail "$MISSING of $ACKED acknowledged entries are not in the copy"
fi
[ "$ACKED" -ge 2500 ] || fail "only $ACKED ACKs recorded before the backup"
COPY_MAX=$(sqlite3 -readonly "$COPY" "SELECT max(ref) FROM entries")
[ "$(sql "SELECT max(ref) FROM entries")" -gt "$COPY_MAX" ] || fail "no entry arrived after the copy"
[ "$(sqlite3 -readonly "$COPY" "SELECT count(*) FROM bags")" -ge "$BAGS_BEFORE" ] ||
    fail "the copy holds fewer bags than were sealed before it"

# a sound, single-file SQLite database; nothing left beside it
[ "$(sqlite3 -readonly "$COPY" "PRAGMA integrity_check")" = ok ] || fail "integrity_check of the copy"
[ "$(sqlite3 -readonly "$COPY" "PRAGMA journal_mode")" = delete ] || fail "the copy is not a single file"
[ "$(ls "$T/backups")" = "$(basename "$COPY")" ] || fail "files left beside the copy: $(ls "$T/backups")"

# an existing DEST is refused and left as it was; --force replaces it
sum=$(sha256sum <"$COPY")
RC=0
backup "$COPY" >"$T/out.txt" 2>&1 || RC=$?
[ "$RC" = 2 ] || fail "backup over an existing DEST: exit $RC, expected 2"
grep -q "$COPY already exists (--force replaces it)" "$T/out.txt" || fail "refusal does not name DEST"
[ "$(sha256sum <"$COPY")" = "$sum" ] || fail "the refused backup changed DEST"
RC=0
backup --force "$COPY" >"$T/out.txt" 2>&1 || RC=$?
[ "$RC" = 0 ] || fail "backup --force: exit $RC"
[ "$(sqlite3 -readonly "$COPY" "SELECT max(ref) FROM entries")" -gt "$COPY_MAX" ] ||
    fail "--force did not replace DEST with a newer copy"
[ "$(ls "$T/backups")" = "$(basename "$COPY")" ] || fail "files left beside the copy: $(ls "$T/backups")"

# bad input: no DEST, a DEST in a missing folder
RC=0
backup >"$T/out.txt" 2>&1 || RC=$?
[ "$RC" = 2 ] && grep -q "one DEST is required" "$T/out.txt" || fail "no DEST: exit $RC"
RC=0
backup "$T/nowhere/copy.db" >"$T/out.txt" 2>&1 || RC=$?
[ "$RC" = 2 ] && grep -q "$T/nowhere/copy.db" "$T/out.txt" || fail "missing folder: exit $RC"

stop_daemon
pass
