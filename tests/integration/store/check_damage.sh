#!/usr/bin/env bash
# check_damage: archive damage never passes as CLEAN. A real archive is made by tsbagd and the
# simulator (two stamped bags); then
#  1. the digest index (digest_keys, schema 0015; its watermark set above the archive's few
#     entries and their keys inserted, as tsbagd's writer leaves a complete chunk) has the page it
#     had after the first bag put back after the second bag was indexed (structurally valid, rows
#     missing: SQLite's integrity check has nothing to compare it with): `tsbag verify --hash` of
#     a second-bag entry is VALID, not NOT FOUND, and names the damage; `--ref` is VALID;
#     `tsbag reconcile --local-only` is DAMAGED (exit 3, recorded as damaged: the archive check
#     compares the index with the journal rows); `tsbag status` then exits 1;
#  2. a table page overwritten with zeros (bag_attempts: nothing reads it at start): tsbagd's
#     quick_check refuses the archive (exit 1, a clear message), no socket is opened;
#  3. one byte flipped in copies of the archive at TSB_FLIPS (200) offsets spread over the file:
#     whenever the sqlite3 shell's PRAGMA integrity_check (the independent witness) reports
#     damage, the check is DAMAGED (exit 3), never CLEAN, also when the file cannot even be
#     opened.
. "$(dirname "$0")/lib.sh"

FLIPS=${TSB_FLIPS:-200}
start_sim
start_daemon
push 20 first
seal
wait_for "SELECT state FROM bags WHERE seq = 1" stamped
stop_daemon # closing checkpoints the WAL into the file
[ "$(size "$DB-wal")" = 0 ] || fail "the WAL was not checkpointed at stop"
# an entry's key, as schema 0015 spells it: epoch, the hash's first three bytes, the Ref's low bits
KEY="(ref >> 16) << 40"
for i in 1 2 3 4 5 6; do
    KEY="$KEY | ((instr('0123456789ABCDEF', substr(hex(hash), $i, 1)) - 1) << $((40 - 4 * i)))"
done
KEY="$KEY | (ref & 65535)"
INDEX_ALL="INSERT OR IGNORE INTO digest_keys SELECT $KEY FROM entries;
UPDATE counters SET hashed_ref = 16384; PRAGMA wal_checkpoint(TRUNCATE)"
sql "$INDEX_ALL" >/dev/null
PS=$(sql "PRAGMA page_size")
ROOT=$(sql "SELECT rootpage FROM sqlite_schema WHERE name = 'digest_keys'")
dd if="$DB" of="$T/hash-page" bs="$PS" skip=$((ROOT - 1)) count=1 status=none || fail "dd"
start_daemon
push 20 second
seal
wait_for "SELECT state FROM bags WHERE seq = 2" stamped
stop_daemon
sql "$INDEX_ALL" >/dev/null
cp "$DB" "$T/clean.db"
[ "$(sql "SELECT rootpage FROM sqlite_schema WHERE name = 'digest_keys'")" = "$ROOT" ] ||
    fail "digest_keys moved"
dd if="$T/hash-page" of="$DB" bs="$PS" seek=$((ROOT - 1)) count=1 conv=notrunc status=none || fail "dd"
[ "$(sql "SELECT count(*) FROM digest_keys")" = 20 ] || fail "the stale page is not the first bag's"

# 1. verify by hash double-checks without the index
H=$(sha256sum "$T/entries-second/e7" | cut -d' ' -f1)
REF=$(sql "SELECT ref FROM entries WHERE hex(hash) = upper('$H')")
rc=0
tsbag verify --hash "$H" >"$T/vh.txt" 2>"$T/vh.err" || rc=$?
grep -q "NOT FOUND" "$T/vh.txt" && fail "verify --hash says NOT FOUND for a stamped entry: $(cat "$T/vh.txt")"
[ "$rc" = 0 ] || fail "verify --hash exit $rc: $(cat "$T/vh.txt" "$T/vh.err")"
grep -q "VALID" "$T/vh.txt" || fail "verify --hash: $(cat "$T/vh.txt")"
grep -q "ARCHIVE DAMAGED" "$T/vh.err" || fail "verify --hash does not report the damage: $(cat "$T/vh.err")"
tsbag verify --hash "$H" --json >"$T/vh.json" 2>/dev/null
jq -e '.archive_damage | length > 0' "$T/vh.json" >/dev/null || fail "no archive_damage in --json"
tsbag verify --ref "$REF" >"$T/vr.txt" 2>&1 || fail "verify --ref $REF: $(cat "$T/vr.txt")"
# a hash nobody sent is still NOT FOUND (exit 3)
rc=0
tsbag verify --hash "$(printf 'nobody' | sha256sum | cut -d' ' -f1)" >"$T/vn.txt" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "an unknown hash: exit $rc: $(cat "$T/vn.txt")"

# the check's verdict: DAMAGED, exit 3, recorded
rc=0
check_archive >"$T/chk.txt" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "reconcile --local-only on a damaged index: exit $rc: $(cat "$T/chk.txt")"
grep -q "ARCHIVE DAMAGED" "$T/chk.txt" || fail "report: $(cat "$T/chk.txt")"
grep -q "\[archive-damage\].*is missing from the digest index (digest_keys)" "$T/chk.txt" ||
    fail "report: $(cat "$T/chk.txt")"
[ "$(sql "SELECT result || ' ' || exit_code FROM reconcile_runs ORDER BY id DESC LIMIT 1")" = "damaged 3" ] ||
    fail "the run is not recorded as damaged"
rc=0
tsbag status >"$T/st.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "status exit $rc on a damaged archive: $(cat "$T/st.txt")"
grep -q "DAMAGED" "$T/st.txt" || fail "status: $(cat "$T/st.txt")"

# 2. tsbagd's quick_check at start: a zeroed page of a table nothing reads at start
cp "$T/clean.db" "$T/zero.db"
EROOT=$(sqlite3 -batch "$T/zero.db" "SELECT rootpage FROM sqlite_schema WHERE name = 'bag_attempts'")
dd if=/dev/zero of="$T/zero.db" bs="$PS" seek=$((EROOT - 1)) count=1 conv=notrunc status=none
[ "$(sqlite3 -batch "$T/zero.db" "PRAGMA quick_check" 2>&1)" != ok ] || fail "quick_check sees no damage"
mkdir -p "$T/zs"
cp "$T/zero.db" "$T/zs/archive.db"
rc=0
timeout 30 "$TSBAGD" -s "general.state_dir=$T/zs" -s sealer.enabled=false >"$T/zs.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "tsbagd on a damaged archive: exit $rc: $(cat "$T/zs.log")"
grep -q "is damaged: SQLite.s quick_check finds" "$T/zs.log" || fail "tsbagd's message: $(cat "$T/zs.log")"
[ -S "$T/zs/tsbagd.sock" ] && fail "tsbagd opened its socket on a damaged archive"

# 3. byte flips. 300 more journal entries, staged (as an operator's shell would append them,
# counter included), so that most pages hold rows and indexes rather than the nearly empty root
# pages of the tables that hold nothing yet (each migration adds some): a flip in a row is damage
# the witness sees through the indexes.
sqlite3 -batch "$T/clean.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
    WHERE i < 300) INSERT INTO entries (hash, source, received_ms) SELECT randomblob(32), 'flip',
    i FROM n; UPDATE counters SET entries = entries + 300" || fail "staging entries in clean.db"
SZ=$(size "$T/clean.db")
damaged=0 caught=0 extra=0
mkdir -p "$T/flip"
for i in $(seq 0 $((FLIPS - 1))); do
    off=$(((i * SZ) / FLIPS + (i * 7919) % 509))
    [ "$off" -lt "$SZ" ] || off=$((SZ - 1))
    rm -f "$T/flip/"*
    cp "$T/clean.db" "$T/flip/archive.db"
    python3 -c "
import sys
f = open(sys.argv[1], 'r+b'); f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2]))
f.write(bytes([b[0] ^ 0xff])); f.close()" "$T/flip/archive.db" "$off" || fail "flip"
    cp "$T/flip/archive.db" "$T/flip.witness.db"
    w=$(sqlite3 -batch "$T/flip.witness.db" "PRAGMA integrity_check" 2>&1)
    rm -f "$T/flip.witness.db"*
    rc=0
    CHECK_STATE=$T/flip check_archive >"$T/flip.txt" 2>&1 || rc=$?
    if [ "$w" != ok ]; then
        damaged=$((damaged + 1))
        if [ "$rc" = 0 ] || grep -q "CLEAN" "$T/flip.txt"; then
            fail "byte $off flipped: the witness says [$(echo "$w" | head -n 2)], the check says CLEAN"
        fi
        [ "$rc" = 3 ] && grep -q "ARCHIVE DAMAGED" "$T/flip.txt" ||
            fail "byte $off flipped: the witness says [$(echo "$w" | head -n 2)], the check exits $rc: $(head -n 3 "$T/flip.txt")"
        caught=$((caught + 1))
    elif [ "$rc" != 0 ]; then
        extra=$((extra + 1)) # damage only tsbag's own checks see (bag bytes, tokens)
    fi
done
echo "check_damage: $FLIPS flipped copies of a $SZ-byte archive: the witness found damage in" \
    "$damaged, the check said DAMAGED (exit 3) for all $caught of them, and found $extra more" \
    "that the witness did not (bag bytes, tokens, contents: exit 1)"
[ "$damaged" -ge $((FLIPS / 10)) ] || fail "only $damaged of $FLIPS flips damaged the file: the test proved little"
pass
