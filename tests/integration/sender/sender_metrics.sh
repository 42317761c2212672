#!/usr/bin/env bash
# /metrics and /healthz of a real tsbagd (metrics.listen on port 0) against a real ehealth-sim:
# every scrape passes the strict text-format checker (tests/lib/promcheck.py); pushing N entries
# moves the received and acknowledged counters and the ack latency count by exactly N; a stamp
# moves the TSA counters; /healthz says ok, then 503 failing once the simulator has been down past
# sealer.unstamped_alarm_s, then ok again after it is back; a keystore certificate expiring within
# 30 days makes it 200 degraded; a busy metrics port stops a second tsbagd with exit 1 naming
# metrics.listen.
. "$(dirname "$0")/lib.sh"
PROMCHECK=${TSB_SOURCE_DIR:?}/tests/lib/promcheck.py
MPORT=

# metrics_port: the port tsbagd wrote to its metrics port file.
metrics_port() {
    [ -s "$T/state/tsbagd.metrics.port" ] || fail "tsbagd wrote no tsbagd.metrics.port"
    MPORT=$(cat "$T/state/tsbagd.metrics.port")
}

# scrape NAME: GET /metrics into $T/NAME.txt, checked strictly, canonical samples in $T/NAME.s
scrape() {
    curl -sS -f -o "$T/$1.txt" -D "$T/$1.hdr" "http://127.0.0.1:$MPORT/metrics" ||
        fail "GET /metrics ($1)"
    grep -qi '^content-type: text/plain; version=0.0.4' "$T/$1.hdr" ||
        fail "/metrics content type: $(cat "$T/$1.hdr")"
    python3 "$PROMCHECK" "$T/$1.txt" >"$T/$1.s" || fail "/metrics ($1) is not valid text format"
}

# value NAME SERIES: the value of one canonical series in scrape NAME (0 when absent).
value() {
    awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }' "$T/$1.s"
}

# moved A B SERIES N: SERIES grew by exactly N from scrape A to scrape B.
moved() {
    local a b
    a=$(value "$1" "$3")
    b=$(value "$2" "$3")
    [ "$((b - a))" = "$4" ] || fail "$3 moved from $a to $b, expected +$4"
}

# health: "<HTTP status> <body>" of GET /healthz.
health() {
    curl -sS -o "$T/health.txt" -w '%{http_code}' "http://127.0.0.1:$MPORT/healthz" >"$T/code.txt" ||
        fail "GET /healthz"
    echo "$(cat "$T/code.txt") $(cat "$T/health.txt")"
}

# wait_health PATTERN [SECONDS]: polls /healthz until "<status> <body>" matches the ERE.
wait_health() {
    local i got=
    for i in $(seq 1 $((${2:-30} * 10))); do
        got=$(health)
        [[ $got =~ $1 ]] && return 0
        sleep 0.1
    done
    fail "/healthz: waited for /$1/, last [$got]"
}

start_sim
start_daemon -s sealer.unstamped_alarm_s=2
metrics_port
wait_health '^200 ok$'

UNIX_RX='tsbag_entries_received_total{listener="unix",source=""}'
UNIX_ACK='tsbag_entries_acknowledged_total{listener="unix",source=""}'
scrape s0
push 7 first
scrape s1
moved s0 s1 "$UNIX_RX" 7
moved s0 s1 "$UNIX_ACK" 7
moved s0 s1 tsbag_ack_latency_seconds_count 7
[ "$(value s1 'tsbag_ack_latency_seconds_bucket{le="+Inf"}')" = "$(value s1 tsbag_ack_latency_seconds_count)" ] ||
    fail "ack latency +Inf bucket differs from the count"
grep -q '^tsbag_build_info{git="[^"]*",version="[0-9.]*"} 1$' "$T/s1.s" || fail "no tsbag_build_info"
grep -q '^tsbag_keystore_cert_expiry_timestamp_seconds [0-9]' "$T/s1.s" || fail "no keystore expiry"
grep -q '^tsbag_process_start_time_seconds [0-9]' "$T/s1.s" || fail "no process start time"
[ "$(value s1 'tsbag_connections{listener="unix",stage="serving"}')" -ge 0 ] || fail "no connections"

seal
wait_for "SELECT count(*) FROM bags WHERE state = 'stamped'" 1
for i in $(seq 1 100); do
    scrape s2
    [ "$(value s2 'tsbag_bags{state="stamped"}')" = 1 ] && break
    sleep 0.1
done
[ "$(value s2 'tsbag_bags{state="stamped"}')" = 1 ] || fail "tsbag_bags{state=stamped} never 1"
moved s1 s2 'tsbag_tsa_requests_total{outcome="stamped"}' 1
moved s1 s2 tsbag_tsa_request_latency_seconds_count 1
[ "$(value s2 tsbag_entries_staged)" = 0 ] || fail "entries still staged after the seal"
awk '$1 == "tsbag_last_stamp_timestamp_seconds" && $2 > 1e9 { ok = 1 } END { exit !ok }' \
    "$T/s2.s" || fail "no last stamp time"
awk '$1 == "tsbag_archive_bytes" && $2 > 0 { ok = 1 } END { exit !ok }' "$T/s2.s" ||
    fail "no archive size"

# the TSA down past the alarm: failing; back: ok
stop_sim
push 3 outage
seal
wait_health '^503 failing: the oldest unstamped entry is [0-9]+ s old \(sealer.unstamped_alarm_s 2 s\)$' 60
scrape s3
[ "$(value s3 'tsbag_tsa_requests_total{outcome="transient"}')" -gt 0 ] ||
    fail "no transient TSA failure counted while the simulator was down"
awk '$1 == "tsbag_oldest_unstamped_age_seconds" && $2 > 2 { ok = 1 } END { exit !ok }' \
    "$T/s3.s" || fail "oldest unstamped age not over the alarm"
[ "$(value s3 tsbag_health)" = 2 ] || fail "tsbag_health is not 2 while failing"
start_sim
wait_health '^200 ok$' 60
wait_for "SELECT count(*) FROM bags WHERE state = 'stamped'" 2

# a busy metrics port: a second tsbagd (its own state folder) stops at start naming the option
rc=0
timeout 60 "$TSBAGD" -s "general.state_dir=$T/state2" -s sealer.enabled=false \
    -s "metrics.listen=127.0.0.1:$MPORT" >"$T/busy.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "tsbagd on a busy metrics port exited $rc, expected 1: $(cat "$T/busy.log")"
grep -q "metrics.listen 127.0.0.1:$MPORT: Address already in use" "$T/busy.log" ||
    fail "the busy-port error does not name metrics.listen: $(cat "$T/busy.log")"
grep -q "tsbagd: ready" "$T/busy.log" && fail "tsbagd said ready on a busy metrics port"
stop_daemon

# a keystore whose certificate expires in 10 days: 200 degraded
openssl x509 -x509toreq -in "$PKI/hospital.pem" -signkey "$PKI/hospital.key" \
    -copy_extensions copyall -out "$T/short.csr" 2>>"$T/out.txt" || fail "openssl x509toreq"
openssl x509 -req -in "$T/short.csr" -CA "$PKI/hospital-ca.pem" -CAkey "$PKI/hospital-ca.key" \
    -CAcreateserial -CAserial "$T/short.srl" -days 10 -copy_extensions copyall \
    -out "$T/short.pem" 2>>"$T/out.txt" || fail "openssl x509 -req"
openssl pkcs12 -export -inkey "$PKI/hospital.key" -in "$T/short.pem" \
    -certfile "$PKI/hospital-ca.pem" -passout "file:$PKI/hospital.pass" -out "$T/short.p12" \
    2>>"$T/out.txt" || fail "openssl pkcs12 -export"
chmod 600 "$T/short.p12"
start_daemon -s "tsa.keystore=$T/short.p12"
metrics_port
wait_health '^200 degraded: the keystore certificate expires in 9 day\(s\), on [0-9T:.Z-]+ \(renew it\)$'
stop_daemon
pass
