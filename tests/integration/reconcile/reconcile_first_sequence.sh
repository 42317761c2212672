#!/usr/bin/env bash
# A hospital that moved from another client under the same IDHospital: eHealth holds the previous
# client's bags 1..3, the archive starts at sealer.first_sequence = 4. `tsbag reconcile` lists the
# earlier bags as the previous client's (already present elsewhere), never imports them (an
# import would also move the archive's numbering), and its local check counts gaps from 4: clean,
# exit 0. Without the option, the same archive has a gap 1..3 locally.
. "$(dirname "$0")/lib.sh"

start_sim
T0=$(now_ms)
seed 6 2
T1=$(now_ms)
lose_bags "seq <= 3" # the previous client's bags: at eHealth, not here
[ "$(sql 'SELECT min(seq) || "," || count(*) FROM bags')" = "4,3" ] || fail "the setup did not happen"

RC=0
"$TSBAG" -c "$T/tsbag.ini" -s sealer.first_sequence=4 reconcile --no-progress --from "$T0" \
    --to "$T1" --json >"$T/out.txt" 2>"$T/err.txt" || RC=$?
[ "$RC" = 0 ] || fail "exit $RC, expected 0: $(cat "$T/err.txt")"
[ "$(jqr .result)" = clean ] || fail "not clean"
[ "$(jqr '.recovered | length')" = 0 ] || fail "imported the previous client's bags"
[ "$(jqr '[.already_present[].seq] | sort | map(tostring) | join(",")')" = "1,2,3" ] ||
    fail "already present: $(jqr '.already_present')"
jqr '.already_present[0].detail' | grep -q "precedes sealer.first_sequence (4): stamped by the previous client" ||
    fail "detail: $(jqr '.already_present[0].detail')"
[ "$(jqr '.local_check.violations')" = 0 ] || fail "local check: $(jqr '.violations')"
[ "$(sql 'SELECT min(seq) || "," || count(*) FROM bags')" = "4,3" ] || fail "the archive changed"

reconcile --local-only --json
[ "$RC" = 1 ] || fail "local check from 1: exit $RC, expected 1"
jq -e '.violations[] | select(.kind == "gap" and .seq == 1)' "$T/out.txt" >/dev/null ||
    fail "no gap 1..3 without sealer.first_sequence"
stop_sim
pass
