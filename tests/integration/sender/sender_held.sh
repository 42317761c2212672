#!/usr/bin/env bash
# sender_held: a definitive failure is never resent forever and never silent. A DSS
# RequesterError holds the bag after the first answer, a token that fails the same check on two
# consecutive answers after the second; `tsbag status` then exits 1 naming the bag, the reason and
# the action, tsbagd logs an error, later bags wait behind it (SequenceNumber order), the hold
# survives a restart, and `tsbag retry [SEQ]` over the Unix socket sends it again after the cause
# is fixed, without a restart. Also: the fail-closed mode (sealer.refuse_after_unstamped_s) NACKs
# new entries with STAMP_STALLED while stamping is stalled and accepts them again once the
# backlog is stamped.
. "$(dirname "$0")/lib.sh"

attempts() { sql "SELECT attempts FROM bags WHERE seq = $1"; }

# expect_status_held SEQ REGEX: tsbag status (text and --json) exits 1 and names the held bag,
# the reason (matching REGEX) and the action to take
expect_status_held() {
    local rc=0
    tsbag status >"$T/status.txt" 2>&1 || rc=$?
    [ "$rc" = 1 ] || fail "tsbag status exits $rc with bag $1 held: $(cat "$T/status.txt")"
    grep -q "^HELD: *bag $1 is held" "$T/status.txt" || fail "status does not show bag $1 held: $(cat "$T/status.txt")"
    grep -q "^last error: .*$2" "$T/status.txt" || fail "status lacks the reason '$2': $(cat "$T/status.txt")"
    grep -q "^action: .*tsbag retry $1" "$T/status.txt" || fail "status lacks the action: $(cat "$T/status.txt")"
    rc=0
    tsbag status --json >"$T/status.json" 2>&1 || rc=$?
    [ "$rc" = 1 ] || fail "tsbag status --json exits $rc with bag $1 held"
    python3 "$TSB_SOURCE_DIR/tests/lib/json_strict.py" <"$T/status.json" >"$T/status.pretty" ||
        fail "status --json is not strict JSON: $(cat "$T/status.json")"
    jq -e --argjson seq "$1" --arg why "$2" '.status == "held" and .exit_code == 1 and
        .sender_bag.sequence == $seq and .sender_bag.held and .sender_bag.state == "failed" and
        (.sender_bag.last_error | test($why)) and .sender_bag.action == "tsbag retry \($seq)"' \
        "$T/status.pretty" >/dev/null || fail "status --json with bag $1 held: $(cat "$T/status.pretty")"
}

start_sim
start_daemon

# ---- a DSS RequesterError holds the bag at the first answer ----
fault requester-error
push 2 req
seal
wait_for "SELECT state FROM bags WHERE seq = 1" failed
[ "$(attempts 1)" = 1 ] || fail "RequesterError: $(attempts 1) attempts, expected 1 (held at once)"
[ "$(sql "SELECT outcome FROM bag_attempts WHERE seq = 1")" = failed ] || fail "RequesterError not recorded as failed"
wait_log 'sender: bag 1 HELD after attempt 1 (definitive): TSA refused: urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError'
grep -q 'error: sender: bag 1 HELD after attempt 1' "$T/d.log" || fail "the held line is not an error"
expect_status_held 1 'RequesterError / urn:oasis:names:tc:dss:1.0:resultminor:GeneralError'

# later bags wait; nothing is resent meanwhile (a negative check: give the sender time to misbehave)
push 1 behind
seal
sleep 1
[ "$(attempts 1)" = 1 ] || fail "the held bag was resent"
[ "$(sql "SELECT state FROM bags WHERE seq = 2")" = sealed ] || fail "a later bag overtook the held one"

# retry with the wrong SequenceNumber is refused and names the held bag
tsbag retry 2 >"$T/retry.txt" 2>&1 && fail "tsbag retry 2 released a bag that is not held"
grep -q "bag 2 is not held; bag 1 is" "$T/retry.txt" || fail "wrong-seq retry: $(cat "$T/retry.txt")"
tsbag retry x >/dev/null 2>&1; [ $? = 2 ] || fail "tsbag retry x is not a usage error"

# the hold survives a restart: no new attempt, the error is logged again
stop_daemon
: >"$T/d.log"
start_daemon
wait_log 'sender: bag 1 is HELD: TSA refused: urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError'
[ "$(attempts 1)" = 1 ] || fail "a restart resent the held bag"
expect_status_held 1 RequesterError

# the operator fixes the cause and releases it: both bags are stamped, in order, no restart
fault clear
tsbag retry >"$T/retry.txt" 2>&1 || fail "tsbag retry: $(cat "$T/retry.txt")"
grep -q "bag 1 released" "$T/retry.txt" || fail "tsbag retry did not name bag 1: $(cat "$T/retry.txt")"
wait_for "SELECT group_concat(state) FROM (SELECT state FROM bags ORDER BY seq)" "stamped,stamped"
[ "$(attempts 1)" = 2 ] || fail "bag 1 took $(attempts 1) attempts after the release"
tsbag status >"$T/status.txt" 2>&1 || fail "status exits non-zero after the release: $(cat "$T/status.txt")"

# nothing held: retry says so and exits 1
tsbag retry >"$T/retry.txt" 2>&1 && fail "tsbag retry with nothing held exits 0"
grep -q "no bag is held" "$T/retry.txt" || fail "nothing-held retry: $(cat "$T/retry.txt")"

# ---- an HTTP 4xx without a SOAP answer holds the bag at the first answer too ----
fault http-403
push 1 forbidden
seal
wait_for "SELECT state FROM bags WHERE seq = 3" failed
[ "$(attempts 3)" = 1 ] || fail "HTTP 403: $(attempts 3) attempts, expected 1"
expect_status_held 3 'HTTP 403 without a SOAP answer'
fault clear
tsbag retry 3 >>"$T/out.txt" 2>&1 || fail "tsbag retry 3"
wait_for "SELECT state FROM bags WHERE seq = 3" stamped

# ---- a token check that fails identically on two consecutive answers holds the bag ----
fault wrong-imprint
push 1 imprint
seal
wait_for "SELECT state FROM bags WHERE seq = 4" failed
[ "$(sql "SELECT group_concat(outcome) FROM bag_attempts WHERE seq = 4")" = retry,failed ] ||
    fail "wrong imprint: outcomes $(sql "SELECT group_concat(outcome) FROM bag_attempts WHERE seq = 4")"
[ "$(sql "SELECT group_concat(finding) FROM bag_attempts WHERE seq = 4")" = imprint:sha256:none,imprint:sha256:none ] ||
    fail "wrong imprint: findings $(sql "SELECT group_concat(finding) FROM bag_attempts WHERE seq = 4")"
wait_log 'sender: bag 4 HELD after attempt 2 (the same failure twice): token rejected, not archived: messageImprint'
expect_status_held 4 'messageImprint: .*matches none of the bag bytes'
[ "$(sql "SELECT token IS NULL FROM bags WHERE seq = 4")" = 1 ] || fail "a forged token was archived"
fault clear
tsbag retry 4 >>"$T/out.txt" 2>&1 || fail "tsbag retry 4"
wait_for "SELECT state FROM bags WHERE seq = 4" stamped

# a transient failure in the backoff: tsbag retry sends at once instead of waiting
stop_daemon
start_daemon -s tsa.retry_min_ms=600000 -s tsa.retry_max_ms=600000
fault 'http-503@1'
push 1 backoff
seal
wait_for "SELECT count(*) FROM bag_attempts WHERE seq = 5" 1
tsbag retry 5 >>"$T/out.txt" 2>&1 || fail "tsbag retry during a backoff"
wait_for "SELECT state FROM bags WHERE seq = 5" stamped 20

gap_free
verify_stamped
stop_daemon

# ---- fail-closed mode ----
"$TSBAGD" --print-config -s "general.state_dir=$T/state" -s sealer.refuse_after_unstamped_s=100 \
    >"$T/cfg.txt" 2>&1 && fail "refuse_after_unstamped_s below interval_s accepted"
grep -q "sealer.refuse_after_unstamped_s (100) must be 0 or exceed sealer.interval_s (300)" "$T/cfg.txt" ||
    fail "bad refuse_after_unstamped_s not named: $(cat "$T/cfg.txt")"
start_daemon -s sealer.interval_s=1 -s sealer.refuse_after_unstamped_s=2 -s sealer.unstamped_alarm_s=1
fault requester-error
push 1 stalled
wait_for "SELECT state FROM bags WHERE seq = 6" failed
# poll until ingest refuses: the oldest unstamped entry passes 2 s while the bag is held
mkdir -p "$T/one"
printf 'fail-closed probe %s' "$RANDOM" >"$T/one/e"
refused=
for i in $(seq 1 200); do
    if ! tsbag push "$T/one" >"$T/push.txt" 2>&1; then refused=1; break; fi
    sleep 0.1
done
[ -n "$refused" ] || fail "ingest never refused while stamping was stalled"
grep -q "NACK 19 STAMP_STALLED: not stored: the oldest entry without a verified stamp is" "$T/push.txt" ||
    fail "refusal lacks its code and reason: $(cat "$T/push.txt")"
fault clear
tsbag retry 6 >>"$T/out.txt" 2>&1 || fail "tsbag retry 6"
accepted=
for i in $(seq 1 300); do
    if tsbag push "$T/one" >"$T/push.txt" 2>&1; then accepted=1; break; fi
    sleep 0.1
done
[ -n "$accepted" ] || fail "ingest still refuses after the backlog was stamped: $(cat "$T/push.txt")"
stop_daemon
pass
