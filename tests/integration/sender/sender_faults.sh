#!/usr/bin/env bash
# sender_faults: each simulator fault knob, applied to one request, gives the right outcome: the
# attempt is recorded as transient (503, reset, ResponderError) or rejected (wrong imprint,
# untrusted TSA, malformed XML) with its reason, the forged token is never archived, and the next
# attempt (same bag bytes, new RequestID) gets a verified stamp; legacy double-base64 tokens are
# decoded and accepted on the first attempt; a clock offset that fails two answers in a row holds
# the bag until `tsbag retry`. Every archived token passes openssl ts -verify.
. "$(dirname "$0")/lib.sh"

start_sim
# a tight genTime window so that a 200 s clock offset is caught (the simulator's WS-Security
# freshness check still accepts our requests at that offset)
start_daemon -s tsa.gen_time_skew_s=60

seq=0
# knob  expected-attempts  log-words
check() {
    local knob=$1 attempts=$2 words=$3
    seq=$((seq + 1))
    fault "$knob"
    push 2 "k$seq"
    seal
    wait_for "SELECT state FROM bags WHERE seq = $seq" stamped
    fault clear
    [ "$(sql "SELECT attempts FROM bags WHERE seq = $seq")" = "$attempts" ] ||
        fail "$knob: bag $seq took $(sql "SELECT attempts FROM bags WHERE seq = $seq") attempts, expected $attempts"
    if [ -n "$words" ]; then
        grep "bag $seq attempt 1 failed" "$T/d.log" | grep -q -- "$words" ||
            fail "$knob: no '$words' in the log for bag $seq"
        # both attempts sent the very same bag bytes
        request_bag "$(captured $seq 1)" >"$T/a1"
        request_bag "$(captured $seq 2)" >"$T/a2"
        [ -s "$T/a1" ] && cmp -s "$T/a1" "$T/a2" || fail "$knob: the resend changed the bag bytes"
        r1=$(grep -o 'RequestID="[^"]*"' "$(captured $seq 1)")
        r2=$(grep -o 'RequestID="[^"]*"' "$(captured $seq 2)")
        [ "$r1" != "$r2" ] || fail "$knob: RequestID reused"
    fi
}

check 'wrong-imprint@1' 2 '(rejected): token rejected, not archived: messageImprint'
check 'untrusted-tsa@1' 2 '(rejected): token rejected, not archived: certificate chain at genTime'
check 'malformed-xml@1' 2 '(rejected): unusable answer'
check 'http-503@1' 2 '(transient): HTTP 503'
check 'reset@1' 2 '(transient): network'
check 'http-500@1' 2 '(transient): TSA refused: SOAP fault soapenv:Server'
check 'responder-error@1' 2 '(transient): TSA refused: urn:oasis:names:tc:dss:1.0:resultmajor:ResponderError'
check 'legacy-double-base64@1' 1 ''
grep -q "bag $seq: the TSA used a legacy token encoding (2 base64 layers, full TimeStampResp)" "$T/d.log" ||
    fail "legacy encoding not noticed"

# clock offset: genTime 200 s ahead of this machine fails two answers in a row: the bag is held
# (not resent forever) until the clock is fixed and the operator says so
seq=$((seq + 1))
fault 'clock-offset=+200'
push 1 clock
seal
wait_for "SELECT state FROM bags WHERE seq = $seq" failed
[ "$(sql "SELECT group_concat(outcome) FROM bag_attempts WHERE seq = $seq")" = retry,failed ] ||
    fail "clock offset: not held after exactly two answers"
grep "bag $seq attempt" "$T/d.log" | grep -q 'genTime against local clock' ||
    fail "clock offset: no genTime reason in the log"
[ "$(sql "SELECT token IS NULL FROM bags WHERE seq = $seq")" = 1 ] || fail "clock offset: token archived"
fault clear
tsbag retry "$seq" >>"$T/out.txt" 2>&1 || fail "tsbag retry $seq"
wait_for "SELECT state FROM bags WHERE seq = $seq" stamped

gap_free
verify_stamped
stop_daemon
pass
