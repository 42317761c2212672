#!/usr/bin/env bash
# backup_restore: the restore of docs/operations.md ("Backups and restore"). Entries stamped
# before a `tsbag backup`, more stamped after it; tsbagd stopped, the archive replaced by the
# backup, tsbagd started, `tsbag reconcile` over the period recovers from the simulator every bag
# stamped after the backup, byte-identical (bags, tokens, journal rows), and the archive checks
# CLEAN. tsbagd then goes on sealing after the recovered bags.
. "$(dirname "$0")/../sender/lib.sh"

start_sim
start_daemon
CONSULT=https://127.0.0.1:$PORT/TimestampConsult/v2
cli() {
    tsbag -s "tsa.trust_anchors=$PKI/tsa-ca.pem" -s "tsa.ca_file=$PKI/tls-ca.pem" \
        -s "tsa.keystore=$PKI/hospital.p12" -s "tsa.keystore_password_file=$PKI/hospital.pass" \
        -s "consult.url=$CONSULT" "$@"
}
T0=$(($(date +%s%N) / 1000000))

for b in 1 2 3; do push 4 "before$b"; seal; wait_for "SELECT state FROM bags WHERE seq = $b" stamped; done
cli backup --no-progress "$T/backup.db" >"$T/backup.txt" 2>&1 || fail "backup: $(cat "$T/backup.txt")"
for b in 4 5 6 7; do push 5 "after$b"; seal; wait_for "SELECT state FROM bags WHERE seq = $b" stamped; done
T1=$(($(date +%s%N) / 1000000))
sql "SELECT seq, hex($(bag_bytes_sql bags.seq)), hex(token), tsa_serial, gen_time_ms FROM bags ORDER BY seq" >"$T/bags-before.txt"
sql "SELECT e.ref, hex(e.hash), b.seq, e.ref - b.first_ref FROM entries e LEFT JOIN bags b ON e.ref BETWEEN b.first_ref AND b.last_ref ORDER BY e.ref" >"$T/entries-before.txt"

# restore: stop, replace, start
stop_daemon
rm -f "$DB" "$DB-wal" "$DB-shm"
cp "$T/backup.db" "$DB"
start_daemon
[ "$(sql "SELECT max(seq) FROM bags")" = 3 ] || fail "the restored archive does not end at bag 3"

# reconcile recovers bags 4..7 (the restored journal lacks their entries: eHealth holds them)
RC=0
cli reconcile --no-progress --from "$T0" --to "$T1" --json >"$T/out.txt" 2>"$T/err.txt" || RC=$?
[ "$RC" = 0 ] || fail "reconcile after restore: exit $RC, $(cat "$T/err.txt")"
[ "$(jq -r '.recovered | length' "$T/out.txt")" = 4 ] || fail "reconcile did not recover 4 bags"
[ "$(jq -r '[.recovered[].seq] | sort | join(",")' "$T/out.txt")" = "4,5,6,7" ] ||
    fail "recovered bags are not 4..7"
[ "$(jq -r '.local_check.violations' "$T/out.txt")" = 0 ] || fail "violations after the restore"
sql "SELECT seq, hex($(bag_bytes_sql bags.seq)), hex(token), tsa_serial, gen_time_ms FROM bags ORDER BY seq" >"$T/bags-after.txt"
cmp -s "$T/bags-before.txt" "$T/bags-after.txt" || fail "the restored archive's bags differ"
sql "SELECT e.ref, hex(e.hash), b.seq, e.ref - b.first_ref FROM entries e LEFT JOIN bags b ON e.ref BETWEEN b.first_ref AND b.last_ref ORDER BY e.ref" >"$T/entries-after.txt"
cmp -s "$T/entries-before.txt" "$T/entries-after.txt" || fail "the restored journal rows differ"

# and tsbagd goes on after them
push 2 later
seal
wait_for "SELECT state FROM bags WHERE seq = 8" stamped
gap_free
verify_stamped
RC=0
cli reconcile --no-progress --local-only >"$T/out.txt" 2>&1 || RC=$?
[ "$RC" = 0 ] || fail "local check after restore and new bag: exit $RC"
stop_daemon
pass
