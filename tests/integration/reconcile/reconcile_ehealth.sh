#!/usr/bin/env bash
# What eHealth can say back: a bag the simulator forgets is reported missing at eHealth (Status
# ERROR with its Type and Number shown, resolved by naming the bag; exit 1); an ERROR that naming
# bags cannot resolve (an IDHospital the certificate may not use) and an unreachable service
# stop the run (exit 2, recorded as failed); a recovered bag whose SequenceNumber exists locally
# with other bytes is a conflict: both kept, flagged, nothing overwritten, exit 1.
. "$(dirname "$0")/lib.sh"

start_sim --idhospital-error
T0=$(now_ms)
seed 12 2
T1=$(now_ms)

# eHealth forgets bag 8
S8=$(sql "SELECT tsa_serial FROM bags WHERE seq = 8")
G8=$(sql "SELECT gen_time_ms FROM bags WHERE seq = 8")
curl -sf --cacert "$PKI/tls-ca.pem" --data-binary "forget-bag=$S8" \
    "https://127.0.0.1:$PORT/admin/fault" >/dev/null || fail "forget-bag knob refused"
reconcile --from "$T0" --to "$T1" --json
[ "$RC" = 1 ] || fail "forgotten bag: exit $RC, expected 1"
[ "$(jqr .result)" = discrepancies ] || fail "forgotten bag: result $(jqr .result)"
[ "$(jqr '.missing_at_ehealth | length')" = 1 ] || fail "not exactly one bag missing at eHealth"
[ "$(jqr '.missing_at_ehealth[0].seq')" = 8 ] || fail "the missing bag is not bag 8"
[ "$(jqr '.missing_at_ehealth[0].serial')" = "$S8" ] || fail "the missing bag's serial is wrong"
[ "$(jqr '.missing_at_ehealth[0].gen_time_ms')" = "$G8" ] || fail "the missing bag's genTime is wrong"
[ "$(jqr '.days[0].status')" = ERROR ] || fail "the simulator's ERROR is not reported"
[ "$(jqr '.days[0].error.type')" = UnknownTimestamp ] || fail "eHealth's Error Type is not shown"
[ "$(jqr '.days[0].error.number')" = 2 ] || fail "eHealth's Error Number is not shown"
[ "$(jqr '.days[0].resolved_status')" = OK ] || fail "the check without bag 8 is not OK"
[ "$(jqr '.days[0].completed')" = true ] || fail "the day is not completed"
reconcile --from "$T0" --to "$T1"
[ "$RC" = 1 ] || fail "forgotten bag (text): exit $RC"
grep -q '^tsbag reconcile: DISCREPANCIES (exit 1)' "$T/out.txt" || fail "text: no DISCREPANCIES"
grep -q "^  bag 8 serial $S8 genTime $G8 " "$T/out.txt" || fail "text report does not name bag 8"
grep -q 'Error Type "UnknownTimestamp" Number 2' "$T/out.txt" || fail "text: Error not shown"

# an ERROR that is not about unknown timestamps: exit 2 with eHealth's Type and Number
RC=0
"$TSBAG" -c "$T/tsbag.ini" -s general.id_hospital=tsa_0000000097_01 reconcile --no-progress \
    --from "$T0" --to "$T1" --json >"$T/out.txt" 2>"$T/err.txt" || RC=$?
[ "$RC" = 2 ] || fail "unresolvable ERROR: exit $RC, expected 2"
[ "$(jqr .result)" = failed ] || fail "unresolvable ERROR: result $(jqr .result)"
[ "$(jqr '.days[0].error.type')" = NotAuthorized ] || fail "NotAuthorized not shown"
[ "$(jqr '.days[0].error.number')" = 3 ] || fail "Error Number 3 not shown"
[ "$(jqr '.days[0].completed')" = false ] || fail "an unresolved day counts as completed"
jqr '.errors[0]' | grep -q 'Error Type "NotAuthorized" Number 3' || fail "error line lacks Type/Number"
[ "$(sql "SELECT result || ' ' || exit_code || ' ' || coalesce(done_to_ms, 'none') FROM reconcile_runs ORDER BY id DESC LIMIT 1")" = "failed 2 none" ] ||
    fail "the failed run is not recorded as failed without a completed day"

# conflict: the archive lost bag 4, and a different bag 4 was sealed since (a restored backup);
# eHealth's bag 4 is kept beside it, flagged, and nothing local changes
sql "SELECT writefile('$T/orig4.xml', $(bag_bytes_sql 4))" >/dev/null
lose_bags "seq = 4"
sql "BEGIN; DROP TRIGGER bags_insert_gap_free;
     INSERT INTO bag_bytes (seq, part, bytes) VALUES (4, 0, CAST('<other bag/>' AS BLOB));
     INSERT INTO bags (seq, state, entry_count, first_ref, last_ref, sealed_ms, digest)
     VALUES (4, 'sealed', 1, 9000, 9000, 0, zeroblob(32));
     CREATE TRIGGER bags_insert_gap_free BEFORE INSERT ON bags
     WHEN NEW.state IS NOT 'recovered' AND NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM bags)
     BEGIN SELECT RAISE(ABORT, 'gap'); END; COMMIT;"
curl -sf --cacert "$PKI/tls-ca.pem" --data-binary clear "https://127.0.0.1:$PORT/admin/fault" >/dev/null
reconcile --from "$T0" --to "$T1" --json
[ "$RC" = 1 ] || fail "conflict: exit $RC, expected 1"
[ "$(jqr '.conflicts | length')" = 1 ] || fail "not exactly one conflict"
[ "$(jqr '.conflicts[0].seq')" = 4 ] || fail "the conflict is not bag 4"
[ "$(jqr '.recovered | length')" = 0 ] || fail "something was recovered over a conflict"
[ "$(sql "SELECT CAST($(bag_bytes_sql 4) AS TEXT) || ' ' || state FROM bags WHERE seq = 4")" = "<other bag/> sealed" ] ||
    fail "the local bag 4 was changed"
[ "$(sql "SELECT count(*) FROM bag_conflicts WHERE seq = 4 AND kind = 'bag'")" = 1 ] ||
    fail "the conflict is not recorded"
sql "SELECT writefile('$T/remote4.xml', remote_bytes) FROM bag_conflicts WHERE seq = 4" >/dev/null
cmp -s "$T/orig4.xml" "$T/remote4.xml" || fail "the conflict row does not keep eHealth's bytes"
# flagged again on the next run, but recorded only as often as found: never overwritten
reconcile --from "$T0" --to "$T1" --json
[ "$RC" = 1 ] || fail "conflict, second run: exit $RC"
[ "$(sql "SELECT CAST($(bag_bytes_sql 4) AS TEXT)")" = "<other bag/>" ] ||
    fail "the second run changed bag 4"

# eHealth unreachable: exit 2, recorded
stop_sim
reconcile --from "$T0" --to "$T1" --json
[ "$RC" = 2 ] || fail "unreachable: exit $RC, expected 2"
jqr '.errors[0]' | grep -q 'checkCompleteness' || fail "unreachable: no error line"
[ "$(sql "SELECT result FROM reconcile_runs ORDER BY id DESC LIMIT 1")" = failed ] ||
    fail "unreachable run not recorded as failed"
pass
