#!/usr/bin/env bash
# tsa2.credentials_file: HTTP basic authentication at the second TSA. A file open to others is
# refused at start under tsa.keystore_permissions=refuse (exit 1, naming the file); a wrong
# password is a 401 logged with its reason and nothing archived; the right one stamps. The
# password never appears in tsbagd's log.
. "$(dirname "$0")/../sender/lib.sh"
. "$(dirname "$0")/lib.sh"

tsa2_pki
start_sim
start_tsa2 ok
echo "stamper:s3cret-Pa55" >"$TSA2/auth"
CRED=$T/tsa2.cred
echo "stamper:wrong-Pa55" >"$CRED"
chmod 0644 "$CRED"

# shellcheck disable=SC2046
"$TSBAGD" -s "general.state_dir=$T/state" -s sealer.enabled=true -s tsa.keystore_permissions=refuse \
    -s "tsa.keystore=$PKI/hospital.p12" -s "tsa.keystore_password_file=$PKI/hospital.pass" \
    -s "tsa.trust_anchors=$PKI/tsa-ca.pem" -s "tsa.ca_file=$PKI/tls-ca.pem" \
    -s "tsa.url=https://127.0.0.1:$PORT/TimestampAuthority/v2" -s metrics.listen= \
    $(tsa2_args) -s "tsa2.credentials_file=$CRED" >"$T/refused.log" 2>&1 &
pid=$!
rc=0
wait "$pid" || rc=$?
[ "$rc" = 1 ] || fail "tsbagd with a credentials file open to others exited $rc, not 1"
grep -q "tsa2 credentials file $CRED is accessible by group or others (mode 0644): whoever can read it can copy the second TSA's password" "$T/refused.log" ||
    fail "the refusal does not name the file: $(cat "$T/refused.log")"

chmod 0600 "$CRED"
# shellcheck disable=SC2046
start_daemon $(tsa2_args) -s "tsa2.credentials_file=$CRED"
push 1 wrong
seal
wait_for "SELECT state FROM bags WHERE seq = 1" stamped
wait_tsa2_requests unauthorized 2
[ "$(sql "SELECT count(*) FROM tsa2_tokens")" = 0 ] || fail "a token archived with a wrong password"
grep -q "tsa2: bag 1: no second token archived (http): HTTP status 401" "$T/d.log" ||
    fail "the 401 is not logged with its reason"
stop_daemon

echo "stamper:s3cret-Pa55" >"$CRED"
# shellcheck disable=SC2046
start_daemon $(tsa2_args) -s "tsa2.credentials_file=$CRED"
wait_for "SELECT count(*) FROM tsa2_tokens WHERE seq = 1" 1
grep -q "(HTTP basic authentication)" "$T/d.log" || fail "the start line does not say basic auth is on"
stop_daemon
grep -q "Pa55" "$T/d.log" "$T/refused.log" && fail "the password appears in tsbagd's log"
verify_tsa2
pass
