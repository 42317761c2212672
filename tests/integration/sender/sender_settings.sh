#!/usr/bin/env bash
# sender_settings: settings that cannot go wrong silently.
# - Outside general.environment=simulator, tsbagd and `tsbag reconcile` refuse to start without
#   an explicit IDHospital, or with the simulator's demo one, naming the option, before they
#   create anything; a malformed IDHospital is refused by every program.
# - With one, tsbagd starts (explicit tsa.url still wins over the environment's) and the RequestID
#   carries it.
# - sealer.first_sequence numbers the first bag of an empty archive; the archive check of
#   `tsbag reconcile --local-only` counts gaps from there.
# - sealer.max_bag_bytes: a backlog larger than it becomes consecutive bags, none larger, all
#   stamped by the simulator and accepted by stock openssl ts -verify.
# - tsa.max_answer: an answer larger than it is refused as a transient failure that names the cap,
#   retried, with nothing archived and tsbagd still serving; under the default cap it is stamped.
. "$(dirname "$0")/lib.sh"

# Both eHealth URLs point at a closed loopback port: a program that wrongly starts talks to
# nothing real.
NOWHERE=(-s "tsa.url=https://127.0.0.1:9/TimestampAuthority/v2"
    -s "consult.url=https://127.0.0.1:9/TimestampConsult/v2" -s metrics.listen=)

# refused EXPECTED-TEXT ARGS...: tsbagd exits non-zero at once, saying EXPECTED-TEXT, and leaves
# no state behind. (A tsbagd that wrongly starts is stopped by the timeout and fails the test.)
refused() {
    local want=$1 rc=0
    shift
    timeout 60 "$TSBAGD" -s "general.state_dir=$T/refused" "${NOWHERE[@]}" "$@" \
        >"$T/refused.txt" 2>&1 || rc=$?
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "tsbagd $* started (rc $rc): $(cat "$T/refused.txt")"
    grep -qF -- "$want" "$T/refused.txt" || fail "tsbagd $*: '$(cat "$T/refused.txt")' lacks '$want'"
    [ ! -e "$T/refused" ] || fail "tsbagd $* created its state folder before refusing"
}

refused "general.environment=acceptance needs general.id_hospital" -s general.environment=acceptance
refused "general.environment=production needs general.id_hospital" -s general.environment=production
refused "general.id_hospital=tsa_0406798006_01 is the simulator's demo hospital" \
    -s general.environment=acceptance -s general.id_hospital=tsa_0406798006_01
refused "general.id_hospital: expected tsa_<KBO>_<NN>" -s general.id_hospital=tsa_406798006_01
refused "general.environment: expected simulator, acceptance or production" \
    -s general.environment=acpt

rc=0
"$TSBAG" -s "general.state_dir=$T/refused" "${NOWHERE[@]}" -s general.environment=acceptance \
    reconcile --no-progress >"$T/refused.txt" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "tsbag reconcile at acceptance without IDHospital exited $rc"
grep -qF "tsbag reconcile: general.environment=acceptance needs general.id_hospital" "$T/refused.txt" ||
    fail "tsbag reconcile: $(cat "$T/refused.txt")"
[ ! -e "$T/refused" ] || fail "tsbag reconcile created state before refusing"

# the shipped example configuration parses, targets acceptance, and cannot start until the
# IDHospital is filled in
INI=${TSB_SOURCE_DIR:?}/deploy/tsbag.ini
"$TSBAGD" -c "$INI" --print-config >"$T/print.ini" 2>&1 || fail "deploy/tsbag.ini: $(cat "$T/print.ini")"
grep -qx "environment = acceptance" "$T/print.ini" || fail "deploy/tsbag.ini does not target acceptance"
refused "general.environment=acceptance needs general.id_hospital" -c "$INI" \
    -s "general.state_dir=$T/refused" -s "store.path=$T/refused/archive.db"

# the effective URLs follow the environment unless set
"$TSBAGD" -s general.environment=production -s general.id_hospital=tsa_0123456749_01 \
    --print-config >"$T/print.ini" 2>&1 || fail "tsbagd --print-config"
grep -qx "url = https://services.ehealth.fgov.be/TimestampAuthority/v2" "$T/print.ini" ||
    fail "production TSA URL: $(grep url "$T/print.ini")"
grep -qx "url = https://services.ehealth.fgov.be/TimestampConsult/v2" "$T/print.ini" ||
    fail "production TSConsult URL: $(grep url "$T/print.ini")"

# a migrated hospital at "acceptance" (the simulator standing in: tsa.url set explicitly)
start_sim
start_daemon -s general.environment=acceptance -s general.id_hospital=tsa_0123456749_01 \
    -s sealer.first_sequence=1000 -s sealer.max_bag_bytes=4096
push 100 backlog
seal
n=$(sql "SELECT count(*) FROM bags")
[ "$n" -ge 3 ] || fail "100 entries in 4096-byte bags made $n bag(s)"
wait_for "SELECT count(*) FROM bags WHERE state = 'stamped'" "$n" 60
[ "$(sql "SELECT max(n) <= 4096 FROM (SELECT sum(length(bytes)) AS n FROM bag_bytes GROUP BY seq)")" = 1 ] ||
    fail "a bag exceeds sealer.max_bag_bytes: $(sql "SELECT seq, sum(length(bytes)) FROM bag_bytes GROUP BY seq")"
[ "$(sql "SELECT sum(entry_count) FROM bags")" = 100 ] || fail "bags do not hold the 100 entries"
gap_free 1000
verify_stamped
case "$(sql "SELECT request_id FROM bags WHERE seq = 1000")" in
TSB-tsa_0123456749_01-1000-*) ;;
*) fail "RequestID does not carry the configured IDHospital: $(sql "SELECT request_id FROM bags WHERE seq = 1000")" ;;
esac
# a later seal continues the numbering (first_sequence only applies to an empty archive)
push 2 later
seal
wait_for "SELECT state FROM bags WHERE seq = $((1000 + n))" stamped
gap_free 1000
stop_daemon
# once bags exist, a changed first_sequence is ignored, and tsbagd says so
start_daemon -s sealer.first_sequence=5000
grep -q "sealer.first_sequence=5000 is ignored: the archive already holds bags up to $((1000 + n))" \
    "$T/d.log" || fail "no warning that sealer.first_sequence is ignored"
push 1 ignored
seal
wait_for "SELECT state FROM bags WHERE seq = $((1001 + n))" stamped
gap_free 1000
stop_daemon

# the simulator's answers are about 4.4 KiB: over a 4096-byte tsa.max_answer
start_daemon -s tsa.max_answer=4096
push 1 big-answer
seal
big=$(sql "SELECT max(seq) FROM bags")
wait_for "SELECT count(*) >= 2 FROM bag_attempts WHERE seq = $big AND outcome = 'retry' AND
          reason LIKE '%response larger than 4096 bytes%'" 1 60
[ "$(sql "SELECT state || ' ' || (token IS NULL) || ' ' || (sign_response IS NULL) FROM bags
          WHERE seq = $big")" = "sent 1 1" ] ||
    fail "an answer over tsa.max_answer was archived: $(sql "SELECT state FROM bags WHERE seq = $big")"
[ "$(sql "SELECT count(*) FROM bag_attempts WHERE seq = $big AND outcome != 'retry'")" = 0 ] ||
    fail "an answer over tsa.max_answer was not retried: $(sql "SELECT * FROM bag_attempts WHERE seq = $big")"
kill -0 "$D_PID" || fail "tsbagd died on an answer over tsa.max_answer"
push 1 still-serving
stop_daemon
start_daemon
wait_for "SELECT state FROM bags WHERE seq = $big" stamped
seal
wait_for "SELECT state FROM bags WHERE seq = $((big + 1))" stamped
gap_free 1000
stop_daemon

# the archive check counts gaps from first_sequence, and only from there
local_check() {
    rc=0
    "$TSBAG" -s "general.state_dir=$T/state" -s "tsa.trust_anchors=$PKI/tsa-ca.pem" "$@" \
        reconcile --local-only --no-progress >"$T/check.txt" 2>&1 || rc=$?
}
local_check -s sealer.first_sequence=1000
[ "$rc" = 0 ] || fail "local check with first_sequence=1000 exited $rc: $(cat "$T/check.txt")"
local_check
[ "$rc" = 1 ] || fail "local check from 1 exited $rc: $(cat "$T/check.txt")"
grep -q "SequenceNumbers 1 to 999 are missing" "$T/check.txt" || fail "no gap 1..999: $(cat "$T/check.txt")"
pass
