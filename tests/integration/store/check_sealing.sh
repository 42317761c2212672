#!/usr/bin/env bash
# check_sealing: the archive check never reports a false discrepancy while tsbagd works. A real
# tsbagd seals every second (sealer.interval_s=1) and stamps through the simulator while entries
# keep coming in batches; `tsbag reconcile --local-only` runs again and again meanwhile (at least
# 20 runs and until 10 bags were sealed meanwhile; TSB_CHECK_RUNS, TSB_CHECK_MIN_BAGS override)
# and every run must be CLEAN (exit 0), recorded as clean in reconcile_runs. Before the check read one snapshot, a bag sealed between its bag pass and its
# row pass showed its rows as "entry-orphan ... bag N does not exist".
. "$(dirname "$0")/lib.sh"

RUNS=${TSB_CHECK_RUNS:-20}
MIN_BAGS=${TSB_CHECK_MIN_BAGS:-10}
start_sim
start_daemon -s sealer.interval_s=1 -s store.store_content=true
start_load 300
wait_for "SELECT count(*) > 0 FROM bags WHERE state = 'stamped'" 1 60

bags0=$(sql "SELECT count(*) FROM bags")
bad=0 i=0 sealed=0
# at least RUNS runs, and on until tsbagd has sealed MIN_BAGS bags while they ran
deadline=$(($(date +%s) + 300))
while [ "$i" -lt "$RUNS" ] || [ "$sealed" -lt "$MIN_BAGS" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "tsbagd sealed only $sealed bags in 300 s"
    i=$((i + 1))
    rc=0
    check_archive >"$T/run$i.txt" 2>&1 || rc=$?
    if [ "$rc" != 0 ]; then
        bad=$((bad + 1))
        echo "run $i: exit $rc, $(grep -c '^  \[' "$T/run$i.txt") violations, e.g.:" >&2
        grep -m 3 '^  \[' "$T/run$i.txt" >&2
    fi
    sealed=$(($(sql "SELECT count(*) FROM bags") - bags0))
done
RUNS=$i
bags1=$(sql "SELECT count(*) FROM bags")
stop_load
stop_daemon

echo "check_sealing: $RUNS check runs while tsbagd sealed bags $bags0..$bags1: $bad not CLEAN"
[ "$bags1" -gt "$bags0" ] || fail "tsbagd sealed nothing while the checks ran: the test proved nothing"
[ "$bad" = 0 ] || fail "$bad of $RUNS check runs were not CLEAN while tsbagd sealed"
[ "$(sql "SELECT count(*) FROM reconcile_runs WHERE result <> 'clean'")" = 0 ] ||
    fail "a run other than clean was recorded"
[ "$(sql "SELECT count(*) FROM reconcile_runs")" = "$RUNS" ] || fail "not every run was recorded"
# once tsbagd has stopped, the archive is whole
check_archive >"$T/final.txt" 2>&1 || fail "final check: $(cat "$T/final.txt")"
gap_free_sealed=$(sql "SELECT count(*) = max(seq) FROM bags")
[ "$gap_free_sealed" = 1 ] || fail "SequenceNumbers have a gap"
pass
