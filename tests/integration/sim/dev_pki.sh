#!/usr/bin/env bash
# integration.dev_pki: tools/dev-pki produces every file tsbagd and ehealth-sim expect, with the
# right chains, key usages, keystore friendly name and permissions, and is idempotent.
. "$(dirname "$0")/lib.sh"

dir=$T/pki
"$SRC/tools/dev-pki" --quiet "$dir" || fail "dev-pki failed"

for f in ca.pem ca.key tls-ca.pem tls-server.pem tls-server.key tsa.pem tsa.key tsa-ca.pem \
    tsa-chain.pem hospital.p12 hospital.pass hospital.pem hospital-ca.pem rogue-tsa.pem \
    rogue-tsa.key hospital2.p12 unknown.p12 unmapped.p12 hospital-ec.p12 id-hospital.map; do
    [ -s "$dir/$f" ] || fail "missing $f"
done
for f in hospital.pass hospital.p12 ca.key tsa.key tls-server.key hospital.key; do
    [ "$(stat -c %a "$dir/$f")" = 600 ] || fail "$f is not 0600"
done
# the folders it creates are closed to others, whatever the caller's umask
nested=$T/state/pki
(umask 022 && "$SRC/tools/dev-pki" --quiet "$nested") || fail "dev-pki into a new nested folder failed"
[ "$(stat -c %a "$T/state")" = 750 ] || fail "dev-pki created state/ as $(stat -c %a "$T/state"), not 0750"
[ "$(stat -c %a "$nested")" = 700 ] || fail "dev-pki created the PKI folder as $(stat -c %a "$nested"), not 0700"

openssl verify -CAfile "$dir/tsa-ca.pem" "$dir/tsa.pem" >/dev/null || fail "tsa.pem does not chain"
openssl verify -purpose timestampsign -CAfile "$dir/tsa-ca.pem" "$dir/tsa.pem" >/dev/null ||
    fail "tsa.pem is not a timestamping signer"
openssl x509 -in "$dir/tsa.pem" -noout -ext extendedKeyUsage | grep -q 'critical' ||
    fail "TSA extendedKeyUsage is not critical"
openssl verify -CAfile "$dir/tsa-ca.pem" "$dir/rogue-tsa.pem" >/dev/null 2>&1 &&
    fail "rogue-tsa.pem chains to the CA"
openssl verify -CAfile "$dir/tls-ca.pem" -verify_hostname localhost "$dir/tls-server.pem" \
    >/dev/null || fail "tls-server.pem does not verify for localhost"
openssl verify -CAfile "$dir/tls-ca.pem" -verify_ip 127.0.0.1 "$dir/tls-server.pem" >/dev/null ||
    fail "tls-server.pem does not verify for 127.0.0.1"
openssl verify -CAfile "$dir/tls-ca.pem" -verify_ip ::1 "$dir/tls-server.pem" >/dev/null ||
    fail "tls-server.pem does not verify for ::1"
for h in hospital hospital2 hospital-ec unmapped; do
    openssl verify -CAfile "$dir/hospital-ca.pem" "$dir/$h.pem" >/dev/null ||
        fail "$h.pem does not chain to hospital-ca.pem"
done
openssl verify -CAfile "$dir/hospital-ca.pem" "$dir/unknown.pem" >/dev/null 2>&1 &&
    fail "unknown.pem chains to hospital-ca.pem"

# The keystore opens with the password file, holds key + cert under "authentication".
info=$(openssl pkcs12 -in "$dir/hospital.p12" -passin "file:$dir/hospital.pass" -nodes 2>/dev/null) ||
    fail "hospital.p12 does not open with hospital.pass"
grep -q 'friendlyName: authentication' <<<"$info" || fail "no 'authentication' friendly name"
grep -q 'BEGIN PRIVATE KEY' <<<"$info" || fail "no private key in hospital.p12"
openssl pkcs12 -in "$dir/hospital.p12" -passin pass:wrong -nokeys >/dev/null 2>&1 &&
    fail "hospital.p12 opens with a wrong password"
openssl pkey -in "$dir/hospital-ec.key" -noout -text 2>/dev/null | grep -q 'P-256' ||
    fail "hospital-ec.key is not P-256"

# The map names the hospital cert's fingerprint with the default IDHospital.
fp=$(openssl x509 -in "$dir/hospital.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)
grep -q "^$fp tsa_0406798006_01\$" "$dir/id-hospital.map" || fail "hospital.pem not in id-hospital.map"

# Idempotent: a second run changes nothing; --force regenerates.
before=$(sha256sum "$dir/ca.pem")
"$SRC/tools/dev-pki" --quiet "$dir" || fail "second run failed"
[ "$(sha256sum "$dir/ca.pem")" = "$before" ] || fail "second run regenerated the CA"
"$SRC/tools/dev-pki" --quiet --force --ec "$dir" || fail "--force failed"
[ "$(sha256sum "$dir/ca.pem")" != "$before" ] || fail "--force did not regenerate the CA"
openssl pkey -in "$dir/hospital.key" -noout -text 2>/dev/null | grep -q 'P-256' ||
    fail "--ec did not give hospital.key a P-256 key"
ls -a "$dir" | grep -q '^\.dev-pki' && fail "temporary folder left behind"

# --tsa2-days: a second TSA certificate close to expiry, and its longer-lived successor
short=$T/short
"$SRC/tools/dev-pki" --quiet --tsa2-days 2 "$short" || fail "dev-pki --tsa2-days 2 failed"
in2d=$(($(date +%s) + 2 * 86400))
end=$(date -d "$(openssl x509 -in "$short/tsa2.pem" -noout -enddate | sed 's/notAfter=//')" +%s)
[ "$end" -le "$in2d" ] && [ "$end" -gt $((in2d - 86400)) ] ||
    fail "--tsa2-days 2 gave tsa2.pem notAfter $end, not about $in2d"
openssl x509 -in "$short/tsa2-next.pem" -noout -checkend $((1000 * 86400)) >/dev/null ||
    fail "tsa2-next.pem does not outlive 1000 days"
openssl verify -purpose timestampsign -CAfile "$short/tsa2-ca.pem" "$short/tsa2-next.pem" \
    >/dev/null || fail "tsa2-next.pem is not a timestamping signer under tsa2-ca.pem"
"$SRC/tools/dev-pki" --tsa2-days 0 "$T/bad" 2>/dev/null && fail "--tsa2-days 0 was accepted"
"$SRC/tools/dev-pki" --help | grep -q 'hospital.p12' || fail "--help does not list the files"
pass
