#!/usr/bin/env bash
# Acceptance: 30 bags stamped by the simulator; 25 of them (and their journal rows) deleted from
# the archive behind its triggers; `tsbag reconcile` brings all 25 back byte-identical (bags and
# tokens), in 3 getTimestamp calls (at most 10 each), they re-verify (tsbag's local check and
# stock `openssl ts -verify`), the report says so, exit 0. Also: --since-last resumes after the
# last completed day and splits the catch-up into daily checkCompleteness requests.
. "$(dirname "$0")/lib.sh"

start_sim
T0=$(now_ms)
seed 30 3
T1=$(now_ms)

reconcile --from "$T0" --to "$T1" --json
[ "$RC" = 0 ] || fail "first run: exit $RC, expected 0"
[ "$(jqr .result)" = clean ] || fail "first run not clean"
[ "$(jqr .bags_local)" = 30 ] || fail "first run listed $(jqr .bags_local) local bags, not 30"
[ "$(jqr '.local_check.violations')" = 0 ] || fail "fresh archive has violations"
[ "$(jqr '.local_check.stamped')" = 30 ] || fail "local check did not see 30 stamped bags"
[ "$(jqr '.local_check.contents')" = 90 ] || fail "local check did not re-hash 90 contents"

sql "SELECT seq, hex($(bag_bytes_sql bags.seq)), hex(token), tsa_serial, gen_time_ms FROM bags ORDER BY seq" >"$T/before.txt"
sql "SELECT e.ref, hex(e.hash), b.seq, e.ref - b.first_ref FROM entries e LEFT JOIN bags b ON e.ref BETWEEN b.first_ref AND b.last_ref ORDER BY e.ref" >"$T/entries-before.txt"

# the damage: bags 3..27 and their journal rows are gone
lose_bags "seq BETWEEN 3 AND 27"
[ "$(sql 'SELECT count(*) FROM bags')" = 5 ] || fail "the damage did not happen"

reconcile --local-only --json
[ "$RC" = 1 ] || fail "local check on the damaged archive: exit $RC, expected 1"
jq -e '.violations[] | select(.kind == "gap" and .seq == 3)' "$T/out.txt" >/dev/null ||
    fail "the gap 3..27 is not reported"

GETS_BEFORE=$(grep -c 'getTimestamp' "$T/sim.log")
reconcile --from "$T0" --to "$T1" --json
[ "$RC" = 0 ] || fail "recovery run: exit $RC, expected 0"
[ "$(jqr .result)" = clean ] || fail "recovery run not clean"
[ "$(jqr '.recovered | length')" = 25 ] || fail "recovered $(jqr '.recovered | length') bags, not 25"
[ "$(jqr '.bags_remote_missing')" = 25 ] || fail "eHealth did not report 25 missing"
[ "$(jqr '.calls.get_timestamp')" = 3 ] || fail "$(jqr .calls.get_timestamp) getTimestamp calls, not 3"
[ "$(jqr '.local_check.violations')" = 0 ] || fail "violations after recovery"
[ "$(jqr '.local_check.recovered')" = 25 ] || fail "local check did not re-verify 25 recovered bags"
[ "$(jqr '[.recovered[].seq] | sort | .[0]')" = 3 ] || fail "bag 3 not recovered"
# witness: the simulator served exactly three getTimestamp requests
GETS=$(($(grep -c 'getTimestamp' "$T/sim.log") - GETS_BEFORE))
[ "$GETS" = 3 ] || fail "the simulator logged $GETS getTimestamp requests, not 3"

# byte-identical bags and tokens, same serials and times; journal rows back at their places
sql "SELECT seq, hex($(bag_bytes_sql bags.seq)), hex(token), tsa_serial, gen_time_ms FROM bags ORDER BY seq" >"$T/after.txt"
cmp -s "$T/before.txt" "$T/after.txt" || fail "recovered bags differ from the originals"
sql "SELECT e.ref, hex(e.hash), b.seq, e.ref - b.first_ref FROM entries e LEFT JOIN bags b ON e.ref BETWEEN b.first_ref AND b.last_ref ORDER BY e.ref" >"$T/entries-after.txt"
cmp -s "$T/entries-before.txt" "$T/entries-after.txt" || fail "journal rows differ after recovery"
[ "$(sql "SELECT count(*) FROM bags WHERE state = 'recovered'")" = 25 ] || fail "not 25 recovered"
[ "$(sql "SELECT count(*) FROM entries WHERE source = 'recovered'")" = 75 ] ||
    fail "not 75 recovered journal rows"

# stock openssl accepts a recovered bag's token over its bytes
sql "SELECT writefile('$T/bag.xml', $(bag_bytes_sql bags.seq)), writefile('$T/bag.tst', token) FROM bags WHERE seq = 14" >/dev/null
openssl ts -verify -data "$T/bag.xml" -in "$T/bag.tst" -token_in -CAfile "$PKI/tsa-ca.pem" \
    -untrusted "$PKI/tsa-chain.pem" >"$T/ossl.txt" 2>&1 || fail "openssl ts -verify refused bag 14"

# the text report says so too
reconcile --from "$T0" --to "$T1"
[ "$RC" = 0 ] || fail "text run: exit $RC"
grep -q '^tsbag reconcile: CLEAN (exit 0)' "$T/out.txt" || fail "text report is not CLEAN"
grep -q '^violations  *0$' "$T/out.txt" || fail "text report does not show 0 violations"

# every run is recorded
[ "$(sql 'SELECT count(*) FROM reconcile_runs')" = 4 ] || fail "runs not recorded"
[ "$(sql "SELECT result || ' ' || recovered FROM reconcile_runs ORDER BY id LIMIT 1 OFFSET 2")" = "clean 25" ] ||
    fail "the recovery run is not recorded as clean with 25 recovered"

# --since-last, on a second (empty) archive: pretend its last completed day ended 3 local days
# ago; the catch-up is one checkCompleteness per local day up to yesterday, then nothing is left
DB=$T/other.db
"$TSBAG" -c "$T/tsbag.ini" -s store.path="$DB" reconcile --local-only >/dev/null 2>&1
TODAY=$(TZ=Europe/Brussels date +%F)
D3=$(TZ=Europe/Brussels date -d "$TODAY -3 days" +%F)
END3=$(($(TZ=Europe/Brussels date -d "$D3 00:00" +%s) * 1000 - 1))
sql "INSERT INTO reconcile_runs (started_ms, finished_ms, mode, period_from_ms, period_to_ms,
     done_to_ms, result, exit_code, report) VALUES (0, 0, 'consult', 0, $END3, $END3, 'clean', 0, '{}')"
since_last() {
    RC=0
    "$TSBAG" -c "$T/tsbag.ini" -s store.path="$DB" reconcile --no-progress --since-last --json \
        >"$T/out.txt" 2>"$T/err.txt" || RC=$?
}
since_last
[ "$RC" = 0 ] || fail "--since-last: exit $RC"
[ "$(jqr '.days | length')" = 3 ] || fail "--since-last checked $(jqr '.days | length') days, not 3"
[ "$(jqr '.calls.check_completeness')" = 3 ] || fail "--since-last: not one request per day"
[ "$(jqr '.period.from_ms')" = $((END3 + 1)) ] || fail "--since-last did not start after the last run"
[ "$(jqr '[.days[] | .to_ms - .from_ms + 1] | map(. >= 82800000 and . <= 90000000) | all')" = true ] ||
    fail "--since-last days are not local days"
[ "$(jqr '[.days[1:][] | .from_ms] == [.days[:-1][] | .to_ms + 1]')" = true ] ||
    fail "--since-last days do not follow each other"
since_last
[ "$RC" = 0 ] || fail "second --since-last: exit $RC"
[ "$(jqr '.days | length')" = 0 ] || fail "a second --since-last found days left"

stop_sim
pass
