#!/usr/bin/env bash
# sender_held_restart: "the same failure twice" survives a restart. A token that fails the same
# check on two consecutive answers holds the bag even when tsbagd is killed (kill -9) between the
# two: the first answer's failure key is in bag_attempts.failure_key and seeds the comparison at
# start. A different failure after the restart is a first one (retried), and a stamp follows.
. "$(dirname "$0")/lib.sh"

outcomes() { sql "SELECT group_concat(outcome) FROM (SELECT outcome FROM bag_attempts WHERE seq = $1 ORDER BY id)"; }

start_sim

# ---- same failure, restart in between: held at the second answer ----
# a long backoff keeps the bag waiting after the first answer, until the kill
start_daemon -s tsa.retry_min_ms=600000 -s tsa.retry_max_ms=600000
fault wrong-imprint
push 1 same
seal
wait_for "SELECT count(*) FROM bag_attempts WHERE seq = 1" 1
[ "$(outcomes 1)" = retry ] || fail "first answer: outcome $(outcomes 1), expected retry"
kill9_daemon
start_daemon
wait_for "SELECT state FROM bags WHERE seq = 1" failed
[ "$(sql "SELECT attempts FROM bags WHERE seq = 1")" = 2 ] ||
    fail "held after $(sql "SELECT attempts FROM bags WHERE seq = 1") attempts, expected 2: the restart forgot the first rejection ($(outcomes 1))"
[ "$(outcomes 1)" = retry,failed ] || fail "outcomes $(outcomes 1), expected retry,failed"
grep -q "sender: bag 1 HELD after attempt 2 (the same failure twice): token rejected, not archived: messageImprint" "$T/d.log" ||
    fail "no held line for attempt 2"
grep -q "sender: bag 1: its last answer failed (token:messageImprint:imprint:sha256:none)" "$T/d.log" ||
    fail "the seeded failure is not logged"
[ "$(sql "SELECT group_concat(failure_key, '|') FROM bag_attempts WHERE seq = 1")" = \
    "token:messageImprint:imprint:sha256:none|token:messageImprint:imprint:sha256:none" ] ||
    fail "failure keys: $(sql "SELECT group_concat(failure_key, '|') FROM bag_attempts WHERE seq = 1")"
fault clear
tsbag retry 1 >>"$T/out.txt" 2>&1 || fail "tsbag retry 1"
wait_for "SELECT state FROM bags WHERE seq = 1" stamped
[ "$(sql "SELECT failure_key IS NULL FROM bag_attempts WHERE seq = 1 AND outcome = 'stamped'")" = 1 ] ||
    fail "a stamp carries a failure key"

# ---- another failure after the restart: a first one, retried, then stamped ----
stop_daemon
start_daemon -s tsa.retry_min_ms=600000 -s tsa.retry_max_ms=600000
fault 'wrong-imprint@1'
push 1 other
seal
wait_for "SELECT count(*) FROM bag_attempts WHERE seq = 2" 1
kill9_daemon
fault 'untrusted-tsa@1'
start_daemon
wait_for "SELECT state FROM bags WHERE seq = 2" stamped
[ "$(outcomes 2)" = retry,retry,stamped ] || fail "bag 2: outcomes $(outcomes 2), expected retry,retry,stamped"

gap_free
verify_stamped
stop_daemon
pass
