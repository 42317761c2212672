#!/usr/bin/env bash
# sender_archive_busy: while the sender retries a bag (the TSA down), another process holds the
# archive's write lock past store.busy_timeout_ms and a bag row in a state this tsbagd does not
# know makes every statistics read fail. So the sender's jobs fail side by side in the writer's
# queue: marking the bag sent (busy) and the alarm's statistics read (SIGHUP queues one at once).
# Each failure is reported with its own job's detail, never the other's; under ThreadSanitizer
# the build is clean (no error text written on the writer thread while the loop thread reads it).
# Once the lock is gone and the TSA is back, the bag is stamped, nothing lost.
. "$(dirname "$0")/lib.sh"

start_sim
stop_sim # keeps $PORT: the TSA is down, bag 1 waits for its next attempt
start_daemon -s store.busy_timeout_ms=1000 -s sealer.unstamped_alarm_s=4 \
    -s tsa.connect_timeout_ms=1000
push 3 busy
seal
wait_for "SELECT attempts >= 1 FROM bags WHERE seq = 1" 1

# writes from here wait their turn behind tsbagd's (the sender retries bag 1 meanwhile)
sqlw() { sqlite3 -batch "$DB" ".timeout 30000" "$@" >/dev/null || fail "sqlite3 $*"; }

# staged entries enough for the statistics read to take a while before it fails, so that the
# loop thread handles the failed mark while the writer thread still runs the statistics job
sqlw "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200000)
     INSERT INTO entries (hash, source, received_ms)
     SELECT randomblob(32), 'bulk', CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM c;"

# bag 2 in a state from nowhere: tsb_store_stats refuses it, the sender never loads it
sqlw "PRAGMA ignore_check_constraints = ON; DROP TRIGGER bags_insert_state;
     INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, digest, bytes)
     VALUES (2, 'unheard-of', 1, 1000000, 1000000, 0, zeroblob(32), x'00');"

# the write lock, held until $T/unlock appears; the shell waits its turn behind tsbagd's own
# writes (.timeout) and gives up on any error (-bail) rather than hold nothing
sqlite3 -batch -bail "$DB" ".timeout 30000" "BEGIN IMMEDIATE;" \
    "UPDATE bags SET attempts = attempts WHERE seq = 1;" \
    ".shell while [ ! -e '$T/unlock' ]; do sleep 0.05; done" "COMMIT;" >/dev/null 2>"$T/lock.err" &
locker=$!
locked=
for i in $(seq 1 600); do # the lock is taken once a write from here is refused
    kill -0 "$locker" 2>/dev/null || fail "the sqlite3 shell exited: $(cat "$T/lock.err")"
    sqlite3 -batch "$DB" ".timeout 0" "BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1 || {
        locked=1
        break
    }
    sleep 0.05
done
[ -n "$locked" ] || fail "the sqlite3 shell did not take the archive's write lock"

marks() { grep -c "sender: cannot mark bag 1 as sent" "$T/d.log"; }
reloads() { grep -c "tsbagd: configuration reloaded" "$T/d.log"; }
for round in 1 2 3 4 5 6; do
    n=$(marks) h=$(reloads)
    kill -HUP "$D_PID" # a statistics read now, likely behind a mark waiting for the lock
    for i in $(seq 1 300); do
        [ "$(marks)" -gt "$n" ] && [ "$(reloads)" -gt "$h" ] && break
        sleep 0.05
    done
    [ "$(marks)" -gt "$n" ] || fail "round $round: no failed mark logged while the archive is locked"
    [ "$(reloads)" -gt "$h" ] || fail "round $round: SIGHUP not handled"
done
# each failed mark names its own failure (the write lock), never the statistics' bag state
grep "sender: cannot mark bag 1 as sent" "$T/d.log" >"$T/marks.txt"
grep -v "marking a bag sent: archive .* is locked by another connection" "$T/marks.txt" \
    >"$T/other.txt" && fail "a failed mark reported another job's detail: $(head -n 1 "$T/other.txt")"

touch "$T/unlock"
wait "$locker" || fail "the sqlite3 shell holding the lock failed: $(cat "$T/lock.err")"
start_sim
tsbag retry >>"$T/out.txt" 2>&1 || true # skip what is left of the backoff
wait_for "SELECT state FROM bags WHERE seq = 1" stamped 60
[ "$(sql "SELECT count(*) FROM entries WHERE bag_seq = 1")" = 3 ] || fail "entries lost"
verify_stamped
stop_daemon
pass
