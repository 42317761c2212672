#!/usr/bin/env bash
# integration.renew_crash: kill -9 of tsbag renew, then a re-run, over 40 bags in trees of 2 (20
# requests and 20 commits per full run). First at a chosen moment: its request has reached the TSA
# while another connection holds the archive's write lock, so it is waiting for its token or holds
# it, and cannot have committed. Then at moments picked by the archive itself: once k trees are
# committed, renew is killed wherever it is in the next one (collecting, before its request, with
# its token, inside its commit). After every kill the archive holds whole trees only (each tree's
# leaves are its links) and no bag twice in a role; the re-run finishes the job: every stamped bag
# covered exactly once, sqlite's integrity check clean, every bag's EvidenceRecord verified. The
# same for the timestamp renewal of all of them.
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

# the chosen moment: the write lock held elsewhere, the request at the TSA (its one-shot knob
# taken), the answer on its way or in hand
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
fault tsa2-next@1
RENEW_SETTINGS="$RENEW_SETTINGS -s store.busy_timeout_ms=600000" renew_bg
RPID=$!
wait_until 60 "tsbag renew's request at the TSA" knobs_are ""
kill -KILL "$RPID"
wait "$RPID" 2>/dev/null
touch "$T/lock.go"
wait "$LOCK_PID"
LOCK_PID=
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
pass
