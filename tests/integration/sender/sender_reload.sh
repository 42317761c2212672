#!/usr/bin/env bash
# sender_reload: SIGHUP re-reads the configuration (-c file and -s overrides) without dropping
# the running daemon. A bag retrying against a stopped TSA port is stamped once tsa.url names the
# simulator; the alarm threshold tsbag status reports (from tsbagd's STATUS reply) follows
# sealer.unstamped_alarm_s; general.log_level=debug brings debug lines; a keystore replaced in
# place signs the next request (the captured request's BinarySecurityToken is the new
# certificate), one that does not load is reported and the running one kept; a file with a
# syntax error keeps everything and names file:line; a changed general.state_dir is logged as
# needing a restart and keeps the running value; a bag held because tsa.trust_anchors did not hold
# the TSA's CA is stamped after a reload that fixes them and a tsbag retry.
. "$(dirname "$0")/lib.sh"

CFG=$T/tsbagd.ini
mkdir -p "$T/ks"
cp "$PKI/hospital.p12" "$T/ks/hospital.p12"
chmod 600 "$T/ks/hospital.p12"

# write_cfg URL ALARM LEVEL [ANCHORS]: the configuration file the test reloads
write_cfg() {
    cat >"$CFG" <<X
[general]
log_level = $3
state_dir = $T/state

[sealer]
unstamped_alarm_s = $2

[tsa]
url = $1
keystore = $T/ks/hospital.p12
trust_anchors = ${4:-$PKI/tsa-ca.pem}
X
}

# hup: signals tsbagd and waits for the reload's last line (its summary or its error)
hup() {
    local n i pat='configuration reloaded\|keeping the running configuration'
    n=$(grep -c "$pat" "$T/d.log")
    kill -HUP "$D_PID"
    for i in $(seq 1 300); do
        [ "$(grep -c "$pat" "$T/d.log")" -gt "$n" ] && return 0
        sleep 0.1
    done
    fail "no reload logged after SIGHUP"
}

status_alarm() { tsbag status 2>&1 | sed -n 's/^oldest unstamped: .*alarm at \(.*\))$/\1/p'; }

start_sim
DEAD=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_cfg "https://127.0.0.1:$DEAD/TimestampAuthority/v2" 900 info
start_daemon -c "$CFG"

# ---- the TSA URL: a bag retrying against a closed port is stamped after the reload ----
push 2 first
seal
wait_for "SELECT attempts >= 1 FROM bags WHERE seq = 1" 1
[ "$(sql "SELECT state FROM bags WHERE seq = 1")" = sent ] || fail "bag 1 is not retrying"
[ "$(status_alarm)" = "15 min 0 s" ] || fail "status alarm before the reload: '$(status_alarm)'"
tsbag seal >>"$T/out.txt" 2>&1 # nothing staged: a debug line, not written at info
grep -q '^debug: \|Z debug: ' "$T/d.log" && fail "a debug line at log_level=info"

write_cfg "https://127.0.0.1:$PORT/TimestampAuthority/v2" 3725 debug
hup
grep -q 'tsbagd: reload: tsa.url changed' "$T/d.log" || fail "tsa.url change not logged"
grep -q 'tsbagd: reload: sealer.unstamped_alarm_s changed' "$T/d.log" || fail "alarm change not logged"
wait_for "SELECT state FROM bags WHERE seq = 1" stamped
[ "$(status_alarm)" != "" ] || push 1 keep-unstamped # an unstamped entry makes status show the limit
[ "$(tsbag status 2>&1 | grep -c 'alarm at 62 min 5 s')" = 1 ] ||
    fail "tsbag status does not show the reloaded threshold: $(tsbag status 2>&1)"
tsbag seal >>"$T/out.txt" 2>&1
wait_for "SELECT count(*) FROM bags WHERE state <> 'stamped'" 0
tsbag seal >>"$T/out.txt" 2>&1 # nothing staged
wait_log 'debug: sealer: nothing staged'

# ---- a keystore renewed in place signs the next request ----
cp "$PKI/hospital-ec.p12" "$T/ks/hospital.p12.new"
chmod 600 "$T/ks/hospital.p12.new"
mv "$T/ks/hospital.p12.new" "$T/ks/hospital.p12"
hup
wait_log 'sender: reload: keystore loaded'
push 1 renewed
seal
seq=$(sql "SELECT max(seq) FROM bags")
wait_for "SELECT state FROM bags WHERE seq = $seq" stamped
bst() { sed -n 's:.*<wsse\:BinarySecurityToken[^>]*>\([^<]*\)</wsse\:BinarySecurityToken>.*:\1:p' "$1" | tr -d '\n\r '; }
new=$(openssl x509 -in "$PKI/hospital-ec.pem" -outform DER | base64 -w0)
old=$(openssl x509 -in "$PKI/hospital.pem" -outform DER | base64 -w0)
req=$(ls "$T/capture"/bag-$seq-attempt-*.request.xml | tail -n 1)
[ "$(bst "$req")" = "$new" ] || fail "bag $seq was not signed with the renewed certificate"
[ "$(bst "$(captured 1 1)")" = "$old" ] || fail "bag 1 was not signed with the first certificate"

# ---- a keystore that does not load keeps the running one ----
cp "$T/ks/hospital.p12" "$T/ks/good.p12"
printf 'not a keystore' >"$T/ks/hospital.p12"
hup
grep -q "error: tsbagd: reload: .*$T/ks/hospital.p12.*keeping the running keystore and TSA trust settings" "$T/d.log" ||
    fail "a broken keystore is not reported naming its file: $(grep reload "$T/d.log" | tail -n 2)"
push 1 broken-keystore
seal
seq=$(sql "SELECT max(seq) FROM bags")
wait_for "SELECT state FROM bags WHERE seq = $seq" stamped
[ "$(bst "$(ls "$T/capture"/bag-$seq-attempt-*.request.xml | tail -n 1)")" = "$new" ] ||
    fail "bag $seq was not signed with the running keystore"
mv "$T/ks/good.p12" "$T/ks/hospital.p12"

# ---- a syntax error keeps the running configuration and names file:line ----
write_cfg "https://127.0.0.1:$DEAD/TimestampAuthority/v2" 60 info
sed -i '6s/.*/this line is not ini/' "$CFG"
hup
grep -q "error: tsbagd: reload: $CFG:6: syntax error" "$T/d.log" || fail "the syntax error is not logged with file:line: $(grep reload "$T/d.log" | tail -n 3)"
grep -q 'keeping the running configuration' "$T/d.log" || fail "no 'keeping the running configuration'"
push 1 after-bad
seal
seq=$(sql "SELECT max(seq) FROM bags")
wait_for "SELECT state FROM bags WHERE seq = $seq" stamped # still the simulator's URL

# ---- general.state_dir cannot change while running ----
write_cfg "https://127.0.0.1:$PORT/TimestampAuthority/v2" 3725 debug
sed -i "s:^state_dir = .*:state_dir = $T/elsewhere:" "$CFG"
hup
grep -q 'warn: tsbagd: reload: general.state_dir changed: needs a restart' "$T/d.log" ||
    fail "the state_dir change is not logged as needing a restart"
grep -q 'tsbagd: reload: store.path changed' "$T/d.log" && fail "a derived path moved with state_dir"
[ -e "$T/elsewhere" ] && fail "tsbagd created the new state folder"
push 1 after-state
seal
seq=$(sql "SELECT max(seq) FROM bags")
wait_for "SELECT state FROM bags WHERE seq = $seq" stamped

# ---- TSA trust anchors: a bag held for an untrusted chain is stamped once they are fixed ----
write_cfg "https://127.0.0.1:$PORT/TimestampAuthority/v2" 3725 info "$PKI/unknown-ca.pem"
hup
push 1 anchors
seal
seq=$(sql "SELECT max(seq) FROM bags")
wait_for "SELECT state FROM bags WHERE seq = $seq" failed
write_cfg "https://127.0.0.1:$PORT/TimestampAuthority/v2" 3725 info
hup
grep -q 'tsbagd: reload: tsa.trust_anchors changed' "$T/d.log" || fail "trust anchor change not logged"
tsbag retry >>"$T/out.txt" 2>&1 || fail "tsbag retry"
wait_for "SELECT state FROM bags WHERE seq = $seq" stamped
verify_stamped
kill -0 "$D_PID" || fail "tsbagd died"
stop_daemon
[ -n "${TSB_KEEP_LOG:-}" ] && cp "$T/d.log" "$TSB_KEEP_LOG"
pass
