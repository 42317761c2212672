#!/usr/bin/env bash
# sender_legacy_keystore: a hospital keystore written with the legacy PKCS#12 algorithms of older
# Java tools (`openssl pkcs12 -export -legacy`: RC2-40-CBC certificate bag, 3DES key) loads, with
# a warning that the legacy provider read it, and its key stamps end to end against the simulator.
. "$(dirname "$0")/lib.sh"

openssl pkcs12 -export -legacy -in "$PKI/hospital.pem" -inkey "$PKI/hospital.key" \
    -certfile "$PKI/hospital-ca.pem" -name authentication -passout "file:$PKI/hospital.pass" \
    -out "$T/legacy.p12" 2>"$T/out.txt" || fail "openssl pkcs12 -export -legacy"
openssl pkcs12 -legacy -info -noout -in "$T/legacy.p12" -passin "file:$PKI/hospital.pass" \
    >"$T/info.txt" 2>&1 || fail "openssl pkcs12 -info"
grep -q "pbeWithSHA1And40BitRC2-CBC" "$T/info.txt" || fail "not an RC2 keystore: $(cat "$T/info.txt")"

start_sim
start_daemon -s "tsa.keystore=$T/legacy.p12"
grep -q "pbeWithSHA1And40BitRC2-CBC is not in OpenSSL's default provider.*legacy provider" "$T/d.log" ||
    fail "no log line says the legacy provider read the keystore"
push 4 legacy
seal
wait_for "SELECT state FROM bags WHERE seq = 1" stamped
gap_free
verify_stamped
stop_daemon
pass
