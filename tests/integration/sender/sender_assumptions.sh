#!/usr/bin/env bash
# sender_assumptions: when the TSA's answer breaks one of tsbag's assumptions, tsbagd says what the
# TSA did instead. A token whose messageImprint covers the base64 text that was sent, or the
# exc-c14n of the bag document, is never archived: after two such answers the bag is held and the
# error (log, tsbag status, bag_attempts.reason) names the data the imprint covers, with a stable
# key in bag_attempts.finding. A token without certificates is held with a reason naming
# tsa.tsa_certs. A SignResponse without RequestID is accepted and noted in the attempt; one with a
# different RequestID is refused. Each case is then released with `tsbag retry` and stamped.
. "$(dirname "$0")/lib.sh"

seq=0
# held KNOB FINDING WORDS: with KNOB on, a new bag is held after two answers whose attempts carry
# FINDING, and whose reason (status, archive) says WORDS; then released and stamped.
held() {
    local knob=$1 finding=$2 words=$3 rc=0
    seq=$((seq + 1))
    fault "$knob"
    push 1 "$knob"
    seal
    wait_for "SELECT state FROM bags WHERE seq = $seq" failed
    [ "$(sql "SELECT group_concat(outcome) FROM bag_attempts WHERE seq = $seq")" = retry,failed ] ||
        fail "$knob: outcomes $(sql "SELECT group_concat(outcome) FROM bag_attempts WHERE seq = $seq")"
    [ "$(sql "SELECT group_concat(coalesce(finding, '-')) FROM bag_attempts WHERE seq = $seq")" = "$finding,$finding" ] ||
        fail "$knob: findings $(sql "SELECT group_concat(coalesce(finding, '-')) FROM bag_attempts WHERE seq = $seq"), expected $finding"
    sql "SELECT reason FROM bag_attempts WHERE seq = $seq AND outcome = 'failed'" | grep -q -- "$words" ||
        fail "$knob: the recorded reason lacks '$words': $(sql "SELECT reason FROM bag_attempts WHERE seq = $seq")"
    [ "$(sql "SELECT token IS NULL FROM bags WHERE seq = $seq")" = 1 ] || fail "$knob: token archived"
    tsbag status >"$T/status.txt" 2>&1 || rc=$?
    [ "$rc" = 1 ] || fail "$knob: tsbag status exits $rc"
    grep -q "^last error: .*$words" "$T/status.txt" || fail "$knob: status lacks '$words': $(cat "$T/status.txt")"
    grep -q "HELD after attempt 2 (the same failure twice).*$words" "$T/d.log" || fail "$knob: no held error line"
    fault clear
    tsbag retry "$seq" >>"$T/out.txt" 2>&1 || fail "$knob: tsbag retry $seq"
    wait_for "SELECT state FROM bags WHERE seq = $seq" stamped
}

start_sim
start_daemon

held imprint-over-base64 imprint:sha256:base64-text \
    "what the TSA did: the token's sha256 messageImprint covers the base64 text of the bag as sent"
held imprint-over-c14n imprint:sha256:bag-c14n \
    "what the TSA did: the token's sha256 messageImprint covers the exclusive canonical form (exc-c14n) of the bag document"
held token-without-certs token:no-certificates \
    "what the TSA did: the TSA sent a token without certificates: the TSA certificate must come from the configuration (tsa.tsa_certs"
held wrong-request-id - "RequestID 'SIM-OTHER-TSB-"

# no RequestID in the answer: accepted at the first attempt and noted
seq=$((seq + 1))
fault 'no-request-id@1'
push 1 noid
seal
wait_for "SELECT state FROM bags WHERE seq = $seq" stamped
[ "$(sql "SELECT attempts FROM bags WHERE seq = $seq")" = 1 ] || fail "no RequestID: not stamped at once"
[ "$(sql "SELECT outcome || ' ' || finding FROM bag_attempts WHERE seq = $seq")" = "stamped request-id:absent" ] ||
    fail "no RequestID: attempt not noted: $(sql "SELECT outcome, finding FROM bag_attempts WHERE seq = $seq")"
grep -q "bag $seq: the TSA's SignResponse carries no RequestID" "$T/d.log" || fail "no RequestID: no log line"
# a normal stamp notes nothing
[ "$(sql "SELECT count(*) FROM bag_attempts WHERE outcome = 'stamped' AND finding IS NOT NULL")" = 1 ] ||
    fail "ordinary stamps carry a finding"

gap_free
verify_stamped
stop_daemon
pass
