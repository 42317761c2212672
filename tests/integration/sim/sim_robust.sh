#!/usr/bin/env bash
# integration.sim_robust: hostile or broken input gets a clear SOAP Client fault (or HTTP error)
# and never takes the simulator down: not XML, a DOCTYPE with entities, SOAP 1.2, an empty or
# double Body, an unknown operation, the wrong endpoint, an oversized request, binary garbage.
. "$(dirname "$0")/lib.sh"
need_sim
start_sim --max-request 65536

send() { # ENDPOINT CONTENT -> HTTP code, answer in $T/resp.xml
    printf '%s' "$2" >"$T/in"
    post "$1" "$T/in"
}
E='<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'

assert_fault "$(send /TimestampAuthority/v2 'not xml')" soapenv:Client "not well-formed"
assert_fault "$(send /TimestampAuthority/v2 '')" soapenv:Client "malformed request"
assert_fault "$(send /TimestampAuthority/v2 '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><x>&b;</x>')" \
    soapenv:Client "DOCTYPE"
assert_fault "$(send /TimestampAuthority/v2 '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>')" \
    soapenv:Client "SOAP 1.2"
assert_fault "$(send /TimestampAuthority/v2 "$E<soapenv:Body/></soapenv:Envelope>")" soapenv:Client "the Body is empty"
assert_fault "$(send /TimestampAuthority/v2 "$E<soapenv:Body><a/><b/></soapenv:Body></soapenv:Envelope>")" \
    soapenv:Client "more than one element"
assert_fault "$(send /TimestampAuthority/v2 "$E<soapenv:Body/><soapenv:Body/></soapenv:Envelope>")" \
    soapenv:Client "unexpected element"
assert_fault "$(send /TimestampAuthority/v2 "$E<soapenv:Body><x:Steal xmlns:x=\"urn:x\"/></soapenv:Body></soapenv:Envelope>")" \
    soapenv:Client "unknown operation {urn:x}Steal"
check_body "$ID_HOSPITAL" 0 1 "" >"$T/cb.xml"
sign "$T/cb.xml" >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" soapenv:Client "not served at this endpoint"
make_bag "$T/bag.xml" 1
sign --bag "$T/bag.xml" >"$T/req.xml"
assert_fault "$(consult "$T/req.xml")" soapenv:Client "not served at this endpoint"
# a bag too large for --max-request
head -c 100000 /dev/zero | tr '\0' 'a' >"$T/big"
printf '%s<soapenv:Body>%s</soapenv:Body></soapenv:Envelope>' "$E" "$(cat "$T/big")" >"$T/in"
assert_fault "$(post /TimestampAuthority/v2 "$T/in")" soapenv:Client "exceeds 65536 bytes"
head -c 20000 /dev/urandom >"$T/in"
[ "$(post /TimestampConsult/v2 "$T/in")" = 500 ] || fail "binary garbage: not a fault"
# deep nesting stays within libxml2's limits and is refused, not crashed on
python3 -c 'print("<a>"*5000 + "</a>"*5000, end="")' >"$T/in"
[ "$(post /TimestampAuthority/v2 "$T/in")" = 500 ] || fail "deep nesting: not a fault"
# HTTP-level misuse
[ "$(curl -s --cacert "$PKI/tls-ca.pem" -o /dev/null -w '%{http_code}' "$URL/TimestampAuthority/v2")" = 405 ] ||
    fail "GET on the TSA endpoint is not 405"
[ "$(curl -s --cacert "$PKI/tls-ca.pem" -o /dev/null -w '%{http_code}' "$URL/nothing")" = 404 ] ||
    fail "unknown path is not 404"
# TLS below 1.2 is refused
curl -s --cacert "$PKI/tls-ca.pem" --tlsv1.1 --tls-max 1.1 -o /dev/null "$URL/admin/clock" 2>/dev/null &&
    fail "TLS 1.1 was accepted"
# ::1 is in the certificate, and the simulator still works after all that
sign --bag "$T/bag.xml" >"$T/req.xml"
[ "$(tsa "$T/req.xml")" = 200 ] || fail "the simulator no longer stamps after bad input"
stop_sim

# IPv6 loopback (when the host has it): the listening line and the certificate's ::1 SAN
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    "$SIM" --pki "$PKI" --db "$T/sim6.db" --listen ::1 --port 0 --port-file "$T/port6" \
        >"$T/sim6.out" 2>>"$T/sim.log" &
    SIM_PID=$!
    wait_until 60 "the IPv6 simulator's port file" test -s "$T/port6"
    PORT=$(cat "$T/port6")
    grep -qx "ehealth-sim listening on https://\[::1\]:$PORT" "$T/sim6.out" ||
        fail "IPv6 listening line: $(cat "$T/sim6.out")"
    [ "$(curl -s --cacert "$PKI/tls-ca.pem" -o /dev/null -w '%{http_code}' "https://[::1]:$PORT/admin/clock")" = 200 ] ||
        fail "https://[::1] does not verify or answer"
    stop_sim
else
    echo "note: no IPv6 loopback here; the ::1 listener was not exercised"
fi
pass
