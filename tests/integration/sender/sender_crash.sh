#!/usr/bin/env bash
# sender_crash: tsbagd killed with SIGKILL in each phase of a send, then restarted: the bag
# completes with the very same bytes (and SequenceNumber), nothing is lost, no gap.
#   phase 1: right after the seal committed (before or while it is being sent);
#   phase 2: request in flight (the TSA holds it without answering);
#   phase 3: the TSA stamped it but the answer never came back (so it was never recorded).
. "$(dirname "$0")/lib.sh"

start_sim

bag_bytes() { sql "SELECT hex($(bag_bytes_sql "$1"))"; }

# phase 1
start_daemon
push 3 p1
seal
before=$(bag_bytes 1)
kill9_daemon
start_daemon
wait_for "SELECT state FROM bags WHERE seq = 1" stamped
[ "$(bag_bytes 1)" = "$before" ] || fail "phase 1: bag bytes changed"

# phase 2
fault 'timeout=30@1'
push 3 p2
seal
wait_for "SELECT state || attempts FROM bags WHERE seq = 2" sent1
wait_until 30 "the request to be held by the simulator" knobs_are "" # it took timeout@1
kill9_daemon
before=$(bag_bytes 2)
start_daemon
wait_for "SELECT state FROM bags WHERE seq = 2" stamped
[ "$(bag_bytes 2)" = "$before" ] || fail "phase 2: bag bytes changed"
grep -q "resuming bag 2 (sent after 1 attempts)" "$T/d.log" || fail "phase 2: no resume logged"
request_bag "$(captured 2 1)" >"$T/a1"
request_bag "$(captured 2 2)" >"$T/a2"
cmp -s "$T/a1" "$T/a2" || fail "phase 2: the resend carried different bytes"

# phase 3 (a long backoff keeps the bag waiting after the lost answer, until the kill)
stop_daemon
start_daemon -s tsa.retry_min_ms=60000 -s tsa.retry_max_ms=60000
fault 'drop-response@1'
push 3 p3
seal
for i in $(seq 1 300); do
    grep -q "bag 3 attempt 1 failed" "$T/d.log" && break
    sleep 0.1
done
grep -q "bag 3 attempt 1 failed (transient)" "$T/d.log" || fail "phase 3: the lost answer was not noticed"
[ "$(sql "SELECT state || attempts FROM bags WHERE seq = 3")" = sent1 ] || fail "phase 3: bag 3 not pending"
kill9_daemon
before=$(bag_bytes 3)
start_daemon
wait_for "SELECT state FROM bags WHERE seq = 3" stamped
[ "$(bag_bytes 3)" = "$before" ] || fail "phase 3: bag bytes changed"
[ "$(sql "SELECT attempts >= 2 FROM bags WHERE seq = 3")" = 1 ] || fail "phase 3: not resent"

[ "$(sql "SELECT count(*) FROM entries")" = 9 ] || fail "entries lost"
gap_free
verify_stamped
stop_daemon
pass
