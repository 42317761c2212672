#!/usr/bin/env bash
# sender_e2e: entries pushed to a real tsbagd are sealed on request and stamped by the simulator;
# the archived token passes stock `openssl ts -verify` against the archived bag bytes, the bag
# bytes are exactly what travelled in the request, every request body validates against the OASIS
# DSS core schema, the archived SignResponse parses on its own, an empty seal makes no bag, and
# `tsbag status` reports a healthy archive.
. "$(dirname "$0")/lib.sh"

start_sim
start_daemon

tsbag seal >"$T/seal0.txt" 2>&1 || fail "tsbag seal with nothing staged"
grep -q "nothing staged" "$T/seal0.txt" || fail "empty seal: $(cat "$T/seal0.txt")"
[ "$(sql "SELECT count(*) FROM bags")" = 0 ] || fail "an empty seal made a bag"

push 5 first
seal
wait_for "SELECT state FROM bags WHERE seq = 1" stamped
push 3 second
seal
wait_for "SELECT state FROM bags WHERE seq = 2" stamped
[ "$(sql "SELECT group_concat(entry_count) FROM bags ORDER BY seq")" = "5,3" ] ||
    fail "bags do not hold the pushed entries"
gap_free
verify_stamped

# the archived bag bytes are the bytes that were sent; the request bodies are schema-valid
for f in "$T"/capture/bag-*-attempt-*.request.xml; do
    [ -e "$f" ] || fail "no request captured"
    xmllint --xpath '/*[local-name()="Envelope"]/*[local-name()="Body"]/*' "$f" >"$T/sr.xml" 2>/dev/null ||
        fail "cannot extract the SignRequest of $f"
    xmllint --noout --nonet --schema "$XSD" "$T/sr.xml" >/dev/null 2>&1 ||
        fail "$(basename "$f"): SignRequest does not validate against the DSS schema"
done
request_bag "$(captured 1 1)" >"$T/sent1.xml"
cmp -s "$T/sent1.xml" "$T/bag1.xml" || fail "archived bag 1 differs from the bytes sent"
grep -q 'SOAPAction\|Security' "$(captured 1 1)" || fail "request not WS-Security signed"

# the archived SignResponse is a standalone document echoing the request's RequestID
sql "SELECT writefile('$T/sr1.xml', sign_response) FROM bags WHERE seq = 1" >/dev/null
rid=$(sql "SELECT request_id FROM bags WHERE seq = 1")
xmllint --xpath 'string(/*[local-name()="SignResponse"]/@RequestID)' "$T/sr1.xml" >"$T/rid.txt" 2>/dev/null ||
    fail "archived SignResponse unreadable"
[ "$(cat "$T/rid.txt")" = "$rid" ] || fail "archived SignResponse RequestID $(cat "$T/rid.txt") != $rid"
[ "$(sql "SELECT tsa_serial GLOB '[0-9]*' AND gen_time_ms > 0 FROM bags WHERE seq = 1")" = 1 ] ||
    fail "TSA serial / genTime not archived"

tsbag status >"$T/status.txt" 2>&1 || fail "tsbag status says unhealthy: $(cat "$T/status.txt")"
grep -q "stamped 2" "$T/status.txt" || fail "status: $(cat "$T/status.txt")"
grep -q "alarm:             none" "$T/status.txt" || fail "status alarm: $(cat "$T/status.txt")"
# the daemon's sealing period (86400 s), not this tsbag's default 300 s
grep -q "^tsbagd: *running, sealing every 24 h 0 min, next seal 2" "$T/status.txt" ||
    fail "status does not show the daemon's sealer: $(cat "$T/status.txt")"

# the same report as one JSON object (strict parse first; jq would repair what it reads)
json=$TSB_SOURCE_DIR/tests/lib/json_strict.py
tsbag status --json >"$T/status.json" 2>"$T/status.err" || fail "status --json exits $?: $(cat "$T/status.err")"
python3 "$json" <"$T/status.json" >"$T/status.pretty" || fail "status --json is not strict JSON: $(cat "$T/status.json")"
[ "$(wc -l <"$T/status.json")" = 1 ] || fail "status --json is not one line"
got=$(jq -r '[.status, .exit_code, .bags.stamped, .bags.sealed, .entries.total, .entries.staged,
              .tsbagd.answering, .tsbagd.sealer_running, .tsbagd.seal_interval_s, .alarm.raised,
              .alarm.threshold_from, (.sender_bag == null), .damaged] | map(tostring) | join(" ")' \
    "$T/status.pretty")
[ "$got" = "ok 0 2 0 $(sql "SELECT count(*) FROM entries") 0 true true 86400 false tsbagd true false" ] ||
    fail "status --json fields: $got: $(cat "$T/status.pretty")"
jq -e '.last_stamp | test("^20[0-9-]+T[0-9:]+Z$")' "$T/status.pretty" >/dev/null ||
    fail "status --json last_stamp: $(cat "$T/status.pretty")"
stop_daemon

# no tsbagd: the JSON says so and why, the threshold is this configuration's
tsbag status --json >"$T/status.json" 2>/dev/null || fail "status --json without tsbagd exits $?"
python3 "$json" <"$T/status.json" >"$T/status.pretty" || fail "status --json is not strict JSON"
jq -e '.tsbagd.answering == false and (.tsbagd.why | length > 0) and
       .alarm.threshold_from == "configuration"' "$T/status.pretty" >/dev/null ||
    fail "status --json without tsbagd: $(cat "$T/status.pretty")"

# an unreadable archive: exit 2, the reason on stderr and in the JSON
rc=0
tsbag -s "store.path=$T/no/such/archive.db" status --json >"$T/status.json" 2>"$T/status.err" || rc=$?
[ "$rc" = 2 ] || fail "status --json on a missing archive exits $rc, expected 2"
python3 "$json" <"$T/status.json" >"$T/status.pretty" || fail "the error report is not strict JSON"
jq -e '.status == "error" and .exit_code == 2 and (.error | contains("no/such/archive.db"))' \
    "$T/status.pretty" >/dev/null || fail "status --json error report: $(cat "$T/status.pretty")"
grep -q "no/such/archive.db" "$T/status.err" || fail "stderr does not name the archive: $(cat "$T/status.err")"
pass
