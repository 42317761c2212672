#!/usr/bin/env bash
# The local archive check (`tsbag reconcile --local-only`) on an archive of real stamped bags
# that an operator tampered with through the sqlite3 shell: changed bag bytes, a token swapped
# for another bag's, a journal row's hash, a stored content, a journal row pointing at a bag that
# does not exist, a genTime rewritten out of order. Each is listed with its kind and bag, the
# untouched bag is not, and the exit status is 1; a clean archive gives 0.
. "$(dirname "$0")/lib.sh"

start_sim
seed 7 3
stop_sim

reconcile --local-only --json
[ "$RC" = 0 ] || fail "clean archive: exit $RC, expected 0"
[ "$(jqr '.local_check.stamped')" = 7 ] || fail "clean archive: not 7 stamped bags checked"
[ "$(jqr '.period')" = null ] || fail "a local-only run has a period"

# a writer holding the archive's write lock past store.busy_timeout_ms (tsbagd sealing a full bag,
# or recovering its WAL after a crash) delays the recording of a clean run; it does not make it
# "could not run". The sqlite3 shell holds the lock for 2 s against a 200 ms busy timeout.
runs0=$(sql "SELECT count(*) FROM reconcile_runs")
sqlite3 -batch "$DB" "BEGIN IMMEDIATE; INSERT INTO reconcile_runs SELECT * FROM reconcile_runs WHERE 0;" \
    ".shell sleep 2" "COMMIT;" &
locker=$!
for i in $(seq 1 100); do # the lock is taken once a write from here would be refused
    sqlite3 -batch "$DB" ".timeout 0" "BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1 || break
    sleep 0.02
done
RC=0
"$TSBAG" -c "$T/tsbag.ini" -s store.busy_timeout_ms=200 reconcile --no-progress --local-only --json \
    >"$T/out.txt" 2>"$T/err.txt" || RC=$?
wait "$locker" || fail "the sqlite3 shell holding the lock failed"
[ "$RC" = 0 ] || fail "a clean run behind a held write lock: exit $RC: $(cat "$T/err.txt") $(jq -c '.errors' "$T/out.txt")"
[ "$(sql "SELECT count(*) FROM reconcile_runs")" = $((runs0 + 1)) ] ||
    fail "the run behind the held lock was not recorded"

# an entry's bag is the bag whose Ref range holds it (schema 0008): position = Ref - first_ref
REF5=$(sql "SELECT first_ref + 1 FROM bags WHERE seq = 5")
REF6=$(sql "SELECT first_ref FROM bags WHERE seq = 6")
sql "BEGIN;
     DROP TRIGGER bags_update_immutable; DROP TRIGGER bags_update_transition;
     DROP TRIGGER entries_no_update;
     DROP TRIGGER bag_bytes_no_update;
     UPDATE bag_bytes SET bytes = CAST(replace(CAST(bytes AS TEXT), '<Ref>', '<Ref>9') AS BLOB)
         WHERE seq = 2;
     UPDATE bags SET token = (SELECT token FROM bags WHERE seq = 4) WHERE seq = 3;
     UPDATE entries SET hash = zeroblob(32) WHERE ref = $REF5;
     UPDATE entries SET content = CAST('forged prescription' AS BLOB) WHERE ref = $REF6;
     INSERT INTO entries (ref, hash, source, received_ms) VALUES (0, zeroblob(32), 'x', 0);
     UPDATE bags SET gen_time_ms = 1000 WHERE seq = 7;
     COMMIT;"

reconcile --local-only --json
[ "$RC" = 1 ] || fail "tampered archive: exit $RC, expected 1"
has() { # has KIND SEQ
    jq -e --arg k "$1" --argjson s "$2" '.violations[] | select(.kind == $k and .seq == $s)' \
        "$T/out.txt" >/dev/null || fail "no $1 violation for bag $2"
}
has bag-digest 2
has token 2
has entry-link 2
has token 3
has entry-link 5
has entry-content 5
has entry-content 6
has entry-orphan 0
has token-id 7
has order 7
jq -e '.violations[] | select(.seq == 1 or .seq == 4)' "$T/out.txt" >/dev/null &&
    fail "untouched bags 1 and 4 are reported"
jq -e --argjson r "$REF6" '.violations[] | select(.kind == "entry-content" and .ref == $r)' \
    "$T/out.txt" >/dev/null || fail "the forged content is not named by its Ref"

# the text report lists them too
reconcile --local-only
[ "$RC" = 1 ] || fail "tampered archive (text): exit $RC"
grep -q '^  \[token\] bag 3: token does not verify' "$T/out.txt" || fail "text: token of bag 3"
grep -q '^  \[bag-digest\] bag 2:' "$T/out.txt" || fail "text: digest of bag 2"
[ "$(sql "SELECT count(*) FROM reconcile_runs WHERE mode = 'local-only'")" = 4 ] ||
    fail "local-only runs are not recorded"
pass
