#!/usr/bin/env bash
# sender_log_events: every bag lifecycle step logs one key=value line (event=sealed, sent,
# stamped, held, retry, and recovered from tsbag reconcile) with its SequenceNumber, and no log of
# a full run holds a secret or clinical data. The run: a keystore with a distinctive password
# given through a password file and then through an environment variable, entries with
# distinctive bytes and client references, log_level=debug, a stamp, a bag held by a DSS
# RequesterError and released with tsbag retry, a transient HTTP 503 retried, a bag lost from the
# archive and recovered by tsbag reconcile. Then tsbagd's stderr, every tsbag command's stderr and
# the stdout of those that print a report (status, seal, retry, reconcile) are searched for the
# password, the entry bytes and the client references. (tsbag push's stdout lists the files it
# was given, whose names are the client references here; the simulator's log is not ours.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../../lib/archive.sh"

PW='Zebra-Quartz-4711-pw'
CONTENT='CONTENT-MARKER-x9q'
REF='CLIENTREF-MARKER-k7w'
LOGS=$T/logs
mkdir -p "$LOGS" "$T/ks"
printf '%s\n' "$PW" >"$T/ks/pass"
openssl pkcs12 -export -name authentication -in "$PKI/hospital.pem" -inkey "$PKI/hospital.key" \
    -passout "pass:$PW" -out "$T/ks/hospital.p12" 2>>"$T/out.txt" || fail "openssl pkcs12 -export"
chmod 600 "$T/ks/pass" "$T/ks/hospital.p12"
KS=(-s "tsa.keystore=$T/ks/hospital.p12" -s general.log_level=debug)

# push_marked LABEL N: N entries whose bytes and client references carry the markers
N_PUSH=0
push_marked() {
    local d="$T/entries-$1" i
    mkdir -p "$d"
    for i in $(seq 1 "$2"); do
        printf '%s|%s|%s|prescription' "$CONTENT" "$1" "$i" >"$d/$REF-$1-$i"
    done
    N_PUSH=$((N_PUSH + 1))
    tsbag push --name-as-ref "$d" >"$T/push-$N_PUSH.out" 2>"$LOGS/push-$N_PUSH.err" ||
        fail "tsbag push $1: $(cat "$LOGS/push-$N_PUSH.err")"
}
cli() { # cli NAME ARGS...: a tsbag command whose output is a log to search
    local n=$1
    shift
    tsbag "$@" >"$LOGS/$n.out" 2>"$LOGS/$n.err"
}
last_seq() { sql "SELECT max(seq) FROM bags"; }

start_sim
T0=$(($(date +%s%N) / 1000000))

# ---- password from a file ----
start_daemon "${KS[@]}" -s "tsa.keystore_password_file=$T/ks/pass"
push_marked stamped 3
cli seal1 seal || fail "seal"
wait_for "SELECT state FROM bags WHERE seq = 1" stamped

fault requester-error
push_marked held 2
cli seal2 seal || fail "seal"
wait_for "SELECT state FROM bags WHERE seq = 2" failed
cli status-held status
fault clear
cli retry retry || fail "tsbag retry: $(cat "$LOGS/retry.err")"
wait_for "SELECT state FROM bags WHERE seq = 2" stamped

fault 'http-503@1'
push_marked transient 2
cli seal3 seal || fail "seal"
wait_for "SELECT state FROM bags WHERE seq = 3" stamped
cli status status
stop_daemon
T1=$(($(date +%s%N) / 1000000))

# ---- a bag lost from the archive comes back through tsbag reconcile ----
lose_bags "seq = 1"
cli reconcile -s "tsa.keystore_password_file=$T/ks/pass" "${KS[@]}" \
    -s "tsa.ca_file=$PKI/tls-ca.pem" -s "tsa.trust_anchors=$PKI/tsa-ca.pem" \
    -s "consult.url=https://127.0.0.1:$PORT/TimestampConsult/v2" \
    reconcile --no-progress --from "$T0" --to "$T1" || fail "tsbag reconcile: $(cat "$LOGS/reconcile.err")"
[ "$(sql "SELECT state FROM bags WHERE seq = 1")" = recovered ] || fail "bag 1 was not recovered"

# ---- password from the environment ----
TSB_TEST_KS_PW=$PW start_daemon "${KS[@]}" -s tsa.keystore_password_file= \
    -s tsa.keystore_password_env=TSB_TEST_KS_PW
push_marked env 1
cli seal4 seal || fail "seal"
wait_for "SELECT state FROM bags WHERE seq = 4" stamped
stop_daemon
cp "$T/d.log" "$LOGS/tsbagd.log"

# ---- one key=value line per event, with its SequenceNumber ----
ev() { grep -h "event=$1 " "$LOGS"/* | grep -q -- "$2" || fail "no '$1' event line with '$2'"; }
ev sealed 'info: event=sealed seq=1 last_seq=1 bags=1 entries=3 trigger=request'
ev sent 'info: event=sent seq=1 entries=3 bytes=[0-9]* attempt=1$'
ev stamped 'info: event=stamped seq=1 entries=3 bytes=[0-9]* attempt=1 serial=1 gen_time=20[0-9-]*T[0-9:.]*Z latency_ms=[0-9]*$'
ev held 'error: event=held seq=2 entries=2 bytes=[0-9]* attempt=1 reason="TSA refused: .*RequesterError'
ev stamped 'event=stamped seq=2 entries=2 .* attempt=2 '
ev retry 'warn: event=retry seq=3 attempt=1 retry_in_ms=[0-9]* reason="HTTP 503'
ev stamped 'event=stamped seq=3 entries=2 .* attempt=2 '
ev recovered 'warn: event=recovered seq=1 entries=3 serial=1 gen_time=20'
ev stamped 'event=stamped seq=4 entries=1 .* attempt=1 '
grep -q 'debug: ' "$LOGS/tsbagd.log" || fail "tsbagd did not log at debug level"

# ---- and nothing secret or clinical anywhere ----
for needle in "$PW" "$CONTENT" "$REF" "$(printf '%s' "$PW" | base64)"; do
    if grep -rlF -- "$needle" "$LOGS" >"$T/hits"; then
        fail "'$needle' appears in $(tr '\n' ' ' <"$T/hits")"
    fi
done
[ "$(ls "$LOGS" | wc -l)" -ge 14 ] || fail "fewer logs than commands: $(ls "$LOGS")"
pass
