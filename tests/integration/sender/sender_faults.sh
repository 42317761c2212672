#!/usr/bin/env bash
# sender_faults: each simulator fault knob, applied to one request, gives the right outcome: the
# attempt is recorded as transient (503, reset) or rejected (wrong imprint, untrusted TSA,
# malformed XML, clock offset) with its reason, the forged token is never archived, and the next
# attempt (same bag bytes, new RequestID) gets a verified stamp; legacy double-base64 tokens are
# decoded and accepted on the first attempt. Every archived token passes openssl ts -verify.
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
        request_bag "$T/capture/bag-$seq-attempt-1.xml" >"$T/a1"
        request_bag "$T/capture/bag-$seq-attempt-2.xml" >"$T/a2"
        [ -s "$T/a1" ] && cmp -s "$T/a1" "$T/a2" || fail "$knob: the resend changed the bag bytes"
        r1=$(grep -o 'RequestID="[^"]*"' "$T/capture/bag-$seq-attempt-1.xml")
        r2=$(grep -o 'RequestID="[^"]*"' "$T/capture/bag-$seq-attempt-2.xml")
        [ "$r1" != "$r2" ] || fail "$knob: RequestID reused"
    fi
}

check 'wrong-imprint@1' 2 '(rejected): token rejected, not archived: messageImprint'
check 'untrusted-tsa@1' 2 '(rejected): token rejected, not archived: certificate chain at genTime'
check 'malformed-xml@1' 2 '(rejected): unusable answer'
check 'http-503@1' 2 '(transient): HTTP 503'
check 'reset@1' 2 '(transient): network'
check 'legacy-double-base64@1' 1 ''
grep -q "bag $seq: the TSA used a legacy token encoding (2 base64 layers, full TimeStampResp)" "$T/d.log" ||
    fail "legacy encoding not noticed"

# clock offset: genTime 200 s ahead of this machine is refused until the clock is fixed
seq=$((seq + 1))
fault 'clock-offset=+200'
push 1 clock
seal
wait_for "SELECT state FROM bags WHERE seq = $seq" failed
grep "bag $seq attempt" "$T/d.log" | grep -q 'genTime against local clock' ||
    fail "clock offset: no genTime reason in the log"
[ "$(sql "SELECT token IS NULL FROM bags WHERE seq = $seq")" = 1 ] || fail "clock offset: token archived"
fault clear
wait_for "SELECT state FROM bags WHERE seq = $seq" stamped

# retry_rejected=false holds a rejected bag (and the ones behind it) until a restart
stop_daemon
start_daemon -s tsa.retry_rejected=false
seq=$((seq + 1))
fault 'wrong-imprint@1'
push 1 held
seal
wait_for "SELECT state FROM bags WHERE seq = $seq" failed
push 1 behind
seal
sleep 1
[ "$(sql "SELECT state FROM bags WHERE seq = $seq")" = failed ] || fail "held bag was retried"
[ "$(sql "SELECT state FROM bags WHERE seq = $((seq + 1))")" = sealed ] || fail "a later bag overtook the held one"
tsbag status >"$T/status.txt" 2>&1 && fail "status exits 0 with a failed bag"
grep -q "FAILED" "$T/status.txt" || fail "status does not show the failed bag"
grep -q "last error:.*messageImprint" "$T/status.txt" || fail "status lacks the reason: $(cat "$T/status.txt")"
stop_daemon
start_daemon -s tsa.retry_rejected=false # a restart is the operator's action: retried once
wait_for "SELECT group_concat(state) FROM bags WHERE seq >= $seq" "stamped,stamped"

gap_free
verify_stamped
stop_daemon
pass
