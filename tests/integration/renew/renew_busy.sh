#!/usr/bin/env bash
# integration.renew_busy: tsbag renew while tsbagd ingests and seals (a sealer every second and a
# client pushing entries all along): each run exits 0, and once the pushing stops and the last
# bag is stamped, one more run covers every stamped bag exactly once; every EvidenceRecord
# verifies and the archive check (tsbag reconcile --local-only, evidence records included) is
# clean.
. "$(dirname "$0")/lib.sh"

start_sim
start_daemon -s sealer.interval_s=1
push 3 first
seal
wait_for "SELECT count(*) FROM bags WHERE state = 'stamped'" 1

# the client: pushes small batches until told to stop
(
    i=0
    while [ ! -e "$T/stop" ]; do
        i=$((i + 1))
        push 5 "busy$i"
    done
) &
PUSHER=$!
RENEW_SETTINGS="-s renew.margin_days=1 -s renew.max_tree_leaves=4"
runs=0
for r in 1 2 3 4 5; do
    n=$(sql "SELECT count(*) FROM entries")
    renew_ok
    runs=$((runs + 1))
    # the daemon keeps ingesting between runs
    wait_for "SELECT count(*) > $n FROM entries" 1 60
done
touch "$T/stop"
wait "$PUSHER" || fail "the pushing client failed: $(tail -3 "$T/out.txt")"
seal
wait_for "SELECT count(*) FROM bags WHERE state <> 'stamped'" 0 120
renew_ok
covered_once
[ "$(sql "SELECT count(*) FROM ers_links WHERE chain = 1 AND position = 1")" = "$(sql "SELECT count(*) FROM bags")" ] ||
    fail "not every bag is covered"
[ "$(sql "SELECT count(*) FROM ers_trees")" -ge 2 ] || fail "the busy runs made fewer than 2 trees"
for s in $(sql "SELECT seq FROM bags ORDER BY seq"); do
    ers_check "$s"
done
stop_daemon
tsbag -s "tsa.trust_anchors=$PKI/tsa-ca.pem" -s "renew.trust_anchors=$PKI/tsa2-ca.pem" \
    -s "renew.policy_oids=$POLICY2" reconcile --local-only --no-progress >"$T/check.txt" 2>&1 ||
    fail "the archive check: $(tail -5 "$T/check.txt")"
grep -q "^evidence records *$(sql "SELECT count(*) FROM bags") verified" "$T/check.txt" ||
    fail "the archive check did not verify every evidence record: $(cat "$T/check.txt")"
pass
