#!/usr/bin/env bash
# integration.sender_token_settings: tsbagd's sender verifies each token with the configured
# tsa.policy_oids and tsa.tsa_certs. The simulator stamps under the development policy
# 2.999.7355.1.1: listed, its tokens are archived; not listed, none is, and every attempt names
# the TSA policy. A malformed policy list or an unreadable tsa.tsa_certs stops tsbagd at start
# with the option named.
. "$(dirname "$0")/lib.sh"

start_sim
start_daemon -s "tsa.policy_oids=1.2.3.4, 2.999.7355.1.1" -s "tsa.tsa_certs=$PKI/tsa-chain.pem"
push 3 listed
seal
wait_for "SELECT count(*) FROM bags WHERE state = 'stamped'" 1
verify_stamped
stop_daemon

# a fresh archive, the development policy not listed: nothing archived, the reason says why
rm -rf "$T/state" && mkdir -p "$T/state"
start_daemon -s tsa.policy_oids=1.2.3.4
push 2 unlisted
seal
wait_for "SELECT count(*) > 0 FROM bag_attempts WHERE reason LIKE '%TSA policy: the token was issued under TSA policy 2.999.7355.1.1, which tsa.policy_oids does not list%'" 1
stop_daemon
[ "$(sql "SELECT count(*) FROM bags WHERE token IS NOT NULL")" = 0 ] ||
    fail "a token under an unlisted policy was archived"

# settings that cannot work stop tsbagd at start, naming the option
for bad in "tsa.policy_oids=2.999.x" "tsa.tsa_certs=$T/missing.pem"; do
    "$TSBAGD" -s "general.state_dir=$T/state" -s sealer.enabled=true \
        -s "tsa.url=https://127.0.0.1:$PORT/TimestampAuthority/v2" \
        -s "tsa.ca_file=$PKI/tls-ca.pem" -s "tsa.keystore=$PKI/hospital.p12" \
        -s "tsa.keystore_password_file=$PKI/hospital.pass" \
        -s "tsa.trust_anchors=$PKI/tsa-ca.pem" -s metrics.listen= -s "$bad" >"$T/bad.log" 2>&1 &&
        fail "tsbagd started with $bad"
    grep -q "${bad%%=*}" "$T/bad.log" || fail "tsbagd's error for $bad does not name ${bad%%=*}: $(cat "$T/bad.log")"
done
pass
