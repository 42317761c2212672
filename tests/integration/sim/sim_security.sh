#!/usr/bin/env bash
# integration.sim_security: the simulator's WS-Security checks. An independently signed request
# (stock xmlsec1 over a template) is accepted with RSA and ECDSA keys; the same request with a
# byte changed in the Body, an expired or future Timestamp, an unknown or unmapped certificate, a
# signature that does not cover Body/Timestamp/BST, a wrapped Body, a duplicate wsu:Id, no
# Security header, or a wrong IDHospital is refused with the right SOAP fault and reason.
. "$(dirname "$0")/lib.sh"
need_sim
start_sim --skew 300

make_bag "$T/bag.xml" 1
check_body "$ID_HOSPITAL" 0 9999999999999 "" >"$T/cb.xml"

# accepted: RSA and ECDSA
sign --bag "$T/bag.xml" >"$T/good.xml"
[ "$(tsa "$T/good.xml")" = 200 ] || fail "a correctly signed request was refused: $(head -c 600 "$T/resp.xml")"
sign --bag "$T/bag.xml" --cert hospital-ec >"$T/req.xml"
grep -q 'ecdsa-sha256' "$T/req.xml" || fail "the EC request is not ecdsa-sha256"
[ "$(tsa "$T/req.xml")" = 200 ] || fail "an ECDSA-signed request was refused: $(head -c 600 "$T/resp.xml")"
sign "$T/cb.xml" >"$T/req.xml"
[ "$(consult "$T/req.xml")" = 200 ] || fail "a signed consult request was refused"

# one byte changed in the Body (inside the signed bag base64 text)
b64=$(base64 -w0 <"$T/bag.xml")
changed=${b64:0:20}$([ "${b64:20:1}" = A ] && echo B || echo A)${b64:21}
grep -qF "$b64" "$T/good.xml" || fail "the bag base64 is not in the request"
sed "s|$b64|$changed|" "$T/good.xml" >"$T/req.xml"
cmp -s "$T/good.xml" "$T/req.xml" && fail "the test did not change the request"
assert_fault "$(tsa "$T/req.xml")" wsse:FailedAuthentication "digest of reference \"#id-body\" does not match"

# a byte changed in the Timestamp
sed 's|\(<wsu:Created>[0-9-]*T[0-9:]*\.\)000Z|\1001Z|' "$T/good.xml" >"$T/req.xml"
cmp -s "$T/good.xml" "$T/req.xml" && fail "the test did not change the Timestamp"
assert_fault "$(tsa "$T/req.xml")" wsse:FailedAuthentication "reference \"#TS-1\""

# expired, and created in the future (beyond the 300 s skew)
sign --bag "$T/bag.xml" --created-offset -1000 --ttl 60 >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "the message has expired"
sign --bag "$T/bag.xml" --created-offset 1000 >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "in the future"
# within the skew is fine
sign --bag "$T/bag.xml" --created-offset -320 --ttl 60 >"$T/req.xml"
[ "$(tsa "$T/req.xml")" = 200 ] || fail "a timestamp expired 260 s ago (skew 300 s) was refused"

# unknown certificate (issued by a CA the simulator does not trust, though mapped)
sign --bag "$T/bag.xml" --cert unknown >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:FailedAuthentication "does not chain to a trusted hospital CA"
sign "$T/cb.xml" --cert unknown >"$T/req.xml"
assert_fault "$(consult "$T/req.xml")" wsse:FailedAuthentication "does not chain"

# the signature must cover Body, Timestamp and BST even if it verifies
sign --bag "$T/bag.xml" --refs body,ts >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "does not cover the BinarySecurityToken"
sign --bag "$T/bag.xml" --refs body,bst >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "does not cover the wsu:Timestamp"
sign --bag "$T/bag.xml" --refs ts,bst >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "does not cover the soap:Body"

# every reference names exc-c14n; SHA-1 is refused
sign --bag "$T/bag.xml" --ref-c14n none >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "must have exactly one exc-c14n Transform"
sign --bag "$T/bag.xml" --ref-c14n inclusive >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "must have exactly one exc-c14n Transform"
sign --bag "$T/bag.xml" --sha1 >"$T/req.xml"
grep -q 'xmldsig#rsa-sha1' "$T/req.xml" || fail "--sha1 did not produce rsa-sha1"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "only exc-c14n, rsa-sha256, ecdsa-sha256 and sha256"

# signature wrapping: the signed Body moved into a header, a new unsigned Body in its place
python3 - "$T/good.xml" "$T/req.xml" <<'PY' || fail "cannot build the wrapped request"
import re, sys
s = open(sys.argv[1]).read()
m = re.search(r'<soapenv:Body [^>]*>.*</soapenv:Body>', s, re.S)
body = m.group(0)
evil = '<soapenv:Body><dss:SignRequest xmlns:dss="urn:oasis:names:tc:dss:1.0:core:schema"><dss:InputDocuments><dss:Document><dss:Base64XML>PGEvPg==</dss:Base64XML></dss:Document></dss:InputDocuments></dss:SignRequest></soapenv:Body>'
s = s.replace(body, evil)
s = s.replace('<soapenv:Header>', '<soapenv:Header><w:Wrapper xmlns:w="urn:example:wrap">' + body + '</w:Wrapper>', 1)
open(sys.argv[2], 'w').write(s)
PY
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "does not cover the soap:Body"

# a second element claiming the Body's wsu:Id
sed 's|<soapenv:Header>|<soapenv:Header><x:Dup xmlns:x="urn:example:dup" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" wsu:Id="id-body"/>|' \
    "$T/good.xml" >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "is used more than once"

# no Security header at all
printf '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>' \
    "$(cat "$T/cb.xml")" >"$T/req.xml"
assert_fault "$(consult "$T/req.xml")" wsse:InvalidSecurity "no wsse:Security header"
# Security without a signature
perl -0pe 's|<ds:Signature .*?</ds:Signature>||s' "$T/good.xml" >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "has no ds:Signature"

# a certificate mapped to another hospital asks for tsa_0406798006_01
sign "$T/cb.xml" --cert hospital2 >"$T/req.xml"
assert_fault "$(consult "$T/req.xml")" wsse:FailedAuthentication "may not use IDHospital tsa_0406798006_01"
get_body "$ID_HOSPITAL" "" >"$T/gb.xml"
sign "$T/gb.xml" --cert hospital2 >"$T/req.xml"
assert_fault "$(consult "$T/req.xml")" wsse:FailedAuthentication "may not use IDHospital"
# ...and may use its own
check_body tsa_0000000097_01 0 9999999999999 "" >"$T/cb2.xml"
sign "$T/cb2.xml" --cert hospital2 >"$T/req.xml"
[ "$(consult "$T/req.xml")" = 200 ] || fail "hospital2 refused for its own IDHospital"
[ "$(xp '//*[local-name()="Status"]')" = OK ] || fail "hospital2's empty archive is not OK"
stop_sim

# with --idhospital-error the same refusal is a Status ERROR / NotAuthorized answer
start_sim --idhospital-error
sign "$T/cb.xml" --cert hospital2 >"$T/req.xml"
[ "$(consult "$T/req.xml")" = 200 ] || fail "--idhospital-error: expected HTTP 200"
validate_consult
[ "$(xp '//*[local-name()="Status"]')" = ERROR ] || fail "--idhospital-error: Status is not ERROR"
[ "$(xp '//*[local-name()="Error"]/*[local-name()="Type"]')" = NotAuthorized ] || fail "Error Type is not NotAuthorized"
[ "$(xp '//*[local-name()="Error"]/*[local-name()="Number"]')" = 3 ] || fail "Error Number is not 3"
# --skew 0 refuses a request that expired a second ago
stop_sim
start_sim --skew 0
sign --bag "$T/bag.xml" --created-offset -62 --ttl 60 >"$T/req.xml"
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "expired"
stop_sim
pass
