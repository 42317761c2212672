#!/usr/bin/env bash
# The second TSA end to end: a real tsbagd against a real ehealth-sim (eHealth) and an independent
# RFC 3161 TSA that tsbag did not write (stock `openssl ts -reply` behind openssl_tsa.py, its own
# root and policy). A bag sealed before [tsa2] was configured is stamped as backlog; new bags get
# both tokens; the second TSA down for several attempts leaves eHealth stamping unaffected and
# its backlog is stamped afterwards (/healthz degraded meanwhile); a wrong nonce, a wrong imprint
# and an untrusted signer are each refused with a clear reason and never archived. Every archived
# second token passes stock `openssl ts -verify`.
. "$(dirname "$0")/../sender/lib.sh"
. "$(dirname "$0")/lib.sh"

tsa2_pki
start_sim

# a bag from before the second TSA was configured
start_daemon
push 3 before
seal
wait_for "SELECT state FROM bags WHERE seq = 1" stamped
stop_daemon
[ "$(sql "SELECT count(*) FROM tsa2_tokens")" = 0 ] || fail "a second token without [tsa2]"

start_tsa2 ok
# shellcheck disable=SC2046
start_daemon $(tsa2_args) -s tsa2.alarm_s=1
wait_for "SELECT count(*) FROM tsa2_tokens WHERE seq = 1" 1
grep -q "tsa2: bag 1 has its second token" "$T/d.log" || fail "no log line for the backlog stamp"
push 2 second
seal
wait_for "SELECT count(*) FROM tsa2_tokens WHERE seq = 2" 1
wait_for "SELECT state FROM bags WHERE seq = 2" stamped

# the second TSA down for several attempts: eHealth stamps on, the backlog waits
tsa2_mode down
push 2 down1
seal
wait_for "SELECT state FROM bags WHERE seq = 3" stamped
push 2 down2
seal
wait_for "SELECT state FROM bags WHERE seq = 4" stamped
wait_tsa2_requests down 4
[ "$(sql "SELECT count(*) FROM tsa2_tokens WHERE seq >= 3")" = 0 ] ||
    fail "a second token archived while the second TSA was down"
grep -q "tsa2: bag 3: no second token archived (http): HTTP status 503" "$T/d.log" ||
    fail "the outage is not logged with its reason"
MPORT=$(cat "$T/state/tsbagd.metrics.port")
for i in $(seq 1 100); do
    code=$(curl -sS -o "$T/health.txt" -w '%{http_code}' "http://127.0.0.1:$MPORT/healthz")
    grep -q "without a second token" "$T/health.txt" && break
    sleep 0.1
done
[ "$code" = 200 ] && grep -q "^degraded" "$T/health.txt" && grep -q "tsa2.alarm_s" "$T/health.txt" ||
    fail "/healthz is not degraded by the second TSA's backlog: $code $(cat "$T/health.txt")"
tsbag status >"$T/status.txt" 2>&1
grep -q "second TSA: *2 bag(s) without a second token, oldest SequenceNumber 3" "$T/status.txt" ||
    fail "tsbag status does not show the bags lacking a second token: $(cat "$T/status.txt")"
# status --json with tsa2.alarm_s = 1: the alarm is raised exactly when the oldest bag without a
# second token is older than that (read until its age passes 1 s, whatever the machine's speed)
status2_old_enough() {
    local rc=0
    tsbag -s tsa2.url=https://127.0.0.1:1/tsa -s "tsa2.trust_anchors=$TSA2/root.pem" -s tsa2.alarm_s=1 \
        status --json >"$T/status.json" 2>&1
    python3 - "$T/status.json" <<'PY' || rc=$?
import json, sys
s = json.load(open(sys.argv[1]))["second_tsa"]
assert s["configured"] and s["bags_without_token"] == 2 and s["oldest_sequence"] == 3, s
age = s["oldest_sealed_age_s"]  # whole seconds, truncated: at 1 either answer is right
assert age == 1 or s["alarm"] is (age >= 2), s
sys.exit(0 if age >= 2 else 3)
PY
    [ "$rc" = 3 ] && return 1
    [ "$rc" = 0 ] || fail "status --json second_tsa: $(cat "$T/status.json")"
}
wait_until 30 "the oldest bag without a second token to be 2 s old" status2_old_enough
jq -e '.second_tsa.alarm == true' "$T/status.json" >/dev/null || fail "no second-TSA alarm: $(cat "$T/status.json")"
tsa2_mode ok
wait_for "SELECT count(*) FROM tsa2_tokens WHERE seq IN (3, 4)" 2

# wrong nonce, wrong imprint, untrusted signer: refused, logged, never archived
seq=4
for fault in nonce imprint untrusted; do
    seq=$((seq + 1))
    before=$(tsa2_requests "$fault")
    tsa2_mode "$fault"
    push 1 "$fault"
    seal
    wait_for "SELECT state FROM bags WHERE seq = $seq" stamped
    wait_tsa2_requests "$fault" $((before + 2))
    [ "$(sql "SELECT count(*) FROM tsa2_tokens WHERE seq = $seq")" = 0 ] ||
        fail "second token archived despite the $fault fault"
    tsa2_mode ok
    wait_for "SELECT count(*) FROM tsa2_tokens WHERE seq = $seq" 1
done
grep -q "tsa2: bag 5: no second token archived (nonce): the token's nonce (.*) is not the request's" "$T/d.log" ||
    fail "the wrong nonce is not logged with its reason"
grep -q "tsa2: bag 6: no second token archived (imprint): the token's messageImprint" "$T/d.log" ||
    fail "the wrong imprint is not logged with its reason"
grep -q "tsa2: bag 7: no second token archived (token): the token failed verification: certificate chain at genTime" "$T/d.log" ||
    fail "the untrusted signer is not logged with its reason"

curl -sS "http://127.0.0.1:$MPORT/metrics" >"$T/metrics.txt" || fail "GET /metrics"
for o in stamped http nonce imprint token; do
    v=$(sed -n "s/^tsbag_tsa2_requests_total{outcome=\"$o\"} //p" "$T/metrics.txt")
    [ -n "$v" ] && [ "$v" -ge 1 ] || fail "tsbag_tsa2_requests_total{outcome=\"$o\"} is '$v'"
done

stop_daemon
[ "$(sql "SELECT count(*) FROM bags")" = 7 ] || fail "expected 7 bags"
[ "$(sql "SELECT count(*) FROM tsa2_tokens")" = 7 ] || fail "not every bag has a second token"
[ "$(sql "SELECT count(*) FROM tsa2_tokens t JOIN bags b USING (seq) WHERE t.imprint = b.digest")" = 7 ] ||
    fail "a second token's imprint is not its bag's digest"
verify_stamped
verify_tsa2
# append-only like the bags
sqlite3 -batch "$DB" "UPDATE tsa2_tokens SET tsa_serial = '1' WHERE seq = 1" 2>"$T/sqlerr.txt" &&
    fail "a second token could be changed"
grep -q "append-only" "$T/sqlerr.txt" || fail "the update was not refused by the trigger"
sqlite3 -batch "$DB" "DELETE FROM tsa2_tokens WHERE seq = 1" 2>/dev/null &&
    fail "a second token could be deleted"
pass
