#!/usr/bin/env bash
# integration.renew_crash: kill -9 of tsbag renew, then a re-run, over 40 bags in trees of 2 (20
# requests and 20 commits per full run). First at a chosen moment: its request has reached the TSA
# while another connection holds the archive's write lock, so it is waiting for its token or holds
# it, and cannot have committed. Then at moments picked by the archive itself: once k trees are
# committed, renew is killed wherever it is in the next one (collecting, before its request, with
# its token, inside its commit). After every kill the archive holds whole trees only (each tree's
# leaves are its links) and no bag twice in a role; the re-run finishes the job: every stamped bag
# covered exactly once, sqlite's integrity check clean, every bag's EvidenceRecord verified. The
# same for the timestamp renewal of all of them. Last, two tsbag renew --rehash at once, both
# holding a token for the same bags when they commit: the second's tree is not kept (it says so),
# both exit 0, and every bag has its new chain exactly once.
. "$(dirname "$0")/lib.sh"

LOCK_PID=
before_cleanup() { [ -n "$LOCK_PID" ] && kill "$LOCK_PID" 2>/dev/null; }

start_sim
start_daemon -s sealer.max_entries=1
push 40 a
seal
wait_for "SELECT count(*) FROM bags WHERE state = 'stamped'" 40 180
stop_daemon

# renew_bg [ARGS...]: tsbag renew in the background, the tsbag process itself being $! (so that
# kill -KILL reaches it, not a subshell)
renew_bg() {
    "$TSBAG" -s "general.state_dir=$T/state" -s "renew.url=https://127.0.0.1:$PORT/rfc3161" \
        -s "renew.ca_file=$PKI/tls-ca.pem" -s "renew.trust_anchors=$PKI/tsa2-ca.pem" \
        -s "renew.policy_oids=$POLICY2" $RENEW_SETTINGS renew "$@" >>"$T/killed.out" 2>&1 &
}

# covered_partial: whole trees only, no bag twice in a role (after a kill)
covered_partial() {
    [ "$(sql "SELECT count(*) FROM ers_trees t WHERE leaves <> (SELECT count(*) FROM ers_links
              WHERE tree_id = t.id)")" = 0 ] || fail "a tree was committed in part"
    [ "$(sql "SELECT count(*) FROM (SELECT seq, chain, position FROM ers_links
              GROUP BY seq, chain, position HAVING count(*) > 1)")" = 0 ] ||
        fail "a bag has two archive timestamps in the same role"
}

# killed_after K: tsbag renew, killed once the archive holds K trees (or when it has finished)
killed_after() {
    renew_bg
    local pid=$!
    wait_until 120 "$1 trees" sh -c "[ \"\$(sqlite3 -cmd '.timeout 10000' '$DB' 'SELECT count(*) >= $1 FROM ers_trees')\" = 1 ] || ! kill -0 $pid 2>/dev/null"
    kill -KILL "$pid" 2>/dev/null
    local st=0
    wait "$pid" 2>/dev/null || st=$?
    echo "killed after $1 trees: status $st, $(sql "SELECT count(*) FROM ers_trees") trees"
    covered_partial
}

RENEW_SETTINGS="-s renew.max_tree_leaves=2 -s renew.margin_days=1"

# lock_hold: another connection takes the archive's write lock (BEGIN IMMEDIATE) and holds it
# until lock_release
lock_hold() {
    rm -f "$T/lock.go" "$T/lock.held"
    python3 - "$DB" "$T/lock.go" "$T/lock.held" <<'PY' &
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[3], "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
db.execute("ROLLBACK")
PY
    LOCK_PID=$!
    wait_until 30 "the lock holder" test -e "$T/lock.held"
}
lock_release() {
    touch "$T/lock.go"
    wait "$LOCK_PID"
    LOCK_PID=
}


# the chosen moment: the write lock held elsewhere, the request at the TSA (its one-shot knob
# taken), the answer on its way or in hand
lock_hold
fault tsa2-next@1
RENEW_SETTINGS="$RENEW_SETTINGS -s store.busy_timeout_ms=600000" renew_bg
RPID=$!
wait_until 60 "tsbag renew's request at the TSA" knobs_are ""
kill -KILL "$RPID"
wait "$RPID" 2>/dev/null
lock_release
[ "$(sql "SELECT count(*) FROM ers_trees")" = 0 ] || fail "a tree was committed under the lock"

for k in 3 8 13 17; do
    killed_after "$k"
done
renew_ok
covered_once
[ "$(sql "SELECT count(*) FROM ers_links WHERE chain = 1 AND position = 1")" = 40 ] ||
    fail "not 40 initial archive timestamps"
[ "$(sql "PRAGMA integrity_check")" = ok ] || fail "integrity check: $(sql "PRAGMA integrity_check")"

# the renewal of all 40 (the TSA now signs with its successor certificate), killed the same way
fault tsa2-next
RENEW_SETTINGS="-s renew.max_tree_leaves=2"
initial=$(sql "SELECT count(*) FROM ers_trees")
for k in 2 7 12 16; do
    killed_after $((initial + k))
done
renew_ok
covered_once
[ "$(sql "SELECT count(*) FROM ers_links WHERE chain = 1 AND position = 2")" = 40 ] ||
    fail "not 40 renewals"
renew_ok
grep -q "in 0 trees: nothing to do" "$T/renew.out" || fail "a re-run did more: $(cat "$T/renew.out")"
for s in $(seq 1 40); do
    ers_check "$s"
    case "$VERDICT" in "verified chains=1 ats=2 "*) ;; *) fail "bag $s: $VERDICT" ;; esac
done
[ "$(sql "PRAGMA integrity_check")" = ok ] || fail "integrity check: $(sql "PRAGMA integrity_check")"

# two tsbag renew at once (the timer and an operator): both --rehash sha512 collect the same bags
# and have their first tree stamped while another connection holds the write lock, so both then
# commit a tree over bags 1..2. The second to commit finds them covered: its tree is not kept
# (said on its output), it goes on, and every bag gets its chain 2 exactly once.
lock_hold
answered() { grep -c "rfc3161: answered serial" "$T/sim.log"; }
before=$(answered)
RACE=()
for r in a b; do
    "$TSBAG" -s "general.state_dir=$T/state" -s "renew.url=https://127.0.0.1:$PORT/rfc3161" \
        -s "renew.ca_file=$PKI/tls-ca.pem" -s "renew.trust_anchors=$PKI/tsa2-ca.pem" \
        -s "renew.policy_oids=$POLICY2" -s renew.max_tree_leaves=2 \
        -s store.busy_timeout_ms=600000 renew --rehash sha512 >"$T/race-$r.out" 2>&1 &
    RACE+=($!)
done
wait_until 120 "both runs' first token" sh -c "[ \$(grep -c 'rfc3161: answered serial' '$T/sim.log') -ge $((before + 2)) ]"
lock_release
for i in 0 1; do
    st=0
    wait "${RACE[$i]}" || st=$?
    [ "$st" = 0 ] || fail "concurrent tsbag renew $i exited $st: $(cat "$T/race-a.out" "$T/race-b.out")"
done
cat "$T/race-a.out" "$T/race-b.out" >"$T/race.out"
grep -q "trees were not kept: another tsbag renew covered their bags first (run it again to cover what is left)" "$T/race.out" ||
    fail "no run reported the trees it did not keep: $(cat "$T/race.out")"
covered_once
[ "$(sql "SELECT count(*) FROM ers_links WHERE chain = 2 AND position = 1")" = 40 ] ||
    fail "not 40 chains 2 after the concurrent runs: $(cat "$T/race.out")"
renew_ok
grep -q "in 0 trees: nothing to do" "$T/renew.out" || fail "a re-run after the race did more: $(cat "$T/renew.out")"
for s in 1 2 40; do
    ers_check "$s"
    case "$VERDICT" in "verified chains=2 "*) ;; *) fail "bag $s after the race: $VERDICT" ;; esac
done
[ "$(sql "PRAGMA integrity_check")" = ok ] || fail "integrity check: $(sql "PRAGMA integrity_check")"
pass
