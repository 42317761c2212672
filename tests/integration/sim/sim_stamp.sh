#!/usr/bin/env bash
# integration.sim_stamp: the simulated TimeStampAuthority issues RFC 3161 tokens that stock
# `openssl ts -verify` accepts for the bag bytes, with sequential persisted serials, SHA-256
# imprint, ESSCertIDv2, the TSA certificate and the dev policy; SignResponses echo RequestID and
# Profile and are schema-valid; every carrier and profile behaves as documented.
. "$(dirname "$0")/lib.sh"
need_sim
start_sim

verify() { # BAG TOKEN
    openssl ts -verify -data "$1" -in "$2" -token_in -CAfile "$PKI/tsa-ca.pem" \
        -untrusted "$PKI/tsa.pem" >"$T/verify.out" 2>&1 || fail "openssl ts -verify: $(cat "$T/verify.out")"
    grep -q '^Verification: OK' "$T/verify.out" || fail "openssl ts -verify did not say OK"
}

# 1. A Base64XML bag, signed independently by xmlsec1 (tools/sim-sign-request).
make_bag "$T/bag1.xml" 1
c0=$(sim_clock)
read -r s1 g1 < <(stamp "$T/bag1.xml" --request-id "_req-one")
c1=$(sim_clock)
verify "$T/bag1.xml" "$T/tok.der"
validate_dss
check_resp_timestamp
[ "$(xp '//*[local-name()="SignResponse"]/@RequestID')" = _req-one ] || fail "RequestID not echoed"
[ "$(xp '//*[local-name()="SignResponse"]/@Profile')" = urn:ehealth:profiles:timestamping:2.1-cert ] ||
    fail "Profile not set"
[ "$g1" -ge "$c0" ] && [ "$g1" -le "$c1" ] || fail "genTime $g1 is outside the simulator clock [$c0, $c1]"
# the token is a bare TimeStampToken, single base64: openssl reads it as a token directly
txt=$(openssl ts -reply -in "$T/tok.der" -token_in -token_out -text 2>/dev/null)
grep -q 'Policy OID: 2.999.7355.1.1' <<<"$txt" || fail "token policy is not the dev OID"
grep -q 'Hash Algorithm: sha256' <<<"$txt" || fail "imprint is not SHA-256"
cms=$(openssl cms -cmsout -print -inform DER -in "$T/tok.der")
grep -q 'signingCertificateV2' <<<"$cms" || fail "no ESSCertIDv2 (signingCertificateV2)"
grep -q 'signingCertificate ' <<<"$cms" && fail "an ESSCertID v1 (SHA-1) is present"
openssl pkcs7 -inform DER -in "$T/tok.der" -print_certs | grep -q 'CN *= *tsbag Development Time Stamping Authority' ||
    fail "the TSA certificate is not included in the token"
# included certificate is enough: verification without -untrusted
openssl ts -verify -data "$T/bag1.xml" -in "$T/tok.der" -token_in -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 ||
    fail "token does not verify with the included TSA certificate"
# a different bag does not verify against this token
make_bag "$T/other.xml" 99
openssl ts -verify -data "$T/other.xml" -in "$T/tok.der" -token_in -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 &&
    fail "token verifies for a different bag"

# 2. Base64Data, and an ECDSA (P-256) signed request; serials are sequential.
make_bag "$T/bag2.xml" 2
read -r s2 g2 < <(stamp "$T/bag2.xml" --carrier base64data --cert hospital-ec)
verify "$T/bag2.xml" "$T/tok.der"
[ "$s2" = $((s1 + 1)) ] || fail "serial $s2 does not follow $s1"
[ "$g2" -ge "$g1" ] || fail "genTime went backwards"

# 3. DocumentHash: stamp only (verified with -digest), not archived.
make_bag "$T/bag3.xml" 3
sign --hash "$T/bag3.xml" >"$T/req.xml"
[ "$(tsa "$T/req.xml")" = 200 ] || fail "DocumentHash stamp failed"
validate_dss
token_of "$T/resp.xml" "$T/tok3.der"
openssl ts -verify -digest "$(sha256sum "$T/bag3.xml" | cut -c1-64)" -in "$T/tok3.der" -token_in \
    -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 || fail "DocumentHash token does not verify"
read -r s3 g3 < <(token_id "$T/tok3.der")
check_body "$ID_HOSPITAL" 0 9999999999999 "" >"$T/cb.xml"
sign "$T/cb.xml" >"$T/req.xml"
[ "$(consult "$T/req.xml")" = 200 ] || fail "checkCompleteness failed"
resp_tslist >"$T/list"
grep -q "^$s3:" "$T/list" && fail "a DocumentHash stamp was archived"
[ "$(wc -l <"$T/list")" = 2 ] || fail "archive should hold exactly the two bags: $(cat "$T/list")"

# 4. Profile 2.0 answers the legacy shape: base64 of base64 of a whole TimeStampResp.
make_bag "$T/bag4.xml" 4
sign --bag "$T/bag4.xml" --profile urn:ehealth:profiles:timestamping:2.0 >"$T/req.xml"
[ "$(tsa "$T/req.xml")" = 200 ] || fail "profile 2.0 stamp failed"
validate_dss
[ "$(xp '//*[local-name()="SignResponse"]/@Profile')" = urn:ehealth:profiles:timestamping:2.0 ] ||
    fail "Profile 2.0 not echoed"
xp '//*[local-name()="RFC3161TimeStampToken"]' | base64 -d | base64 -d >"$T/resp4.der" ||
    fail "legacy token is not double base64"
openssl ts -verify -data "$T/bag4.xml" -in "$T/resp4.der" -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 ||
    fail "legacy TimeStampResp does not verify"

# 5. Refusals as DSS RequesterError with ResultMinor and message.
sign --bag "$T/bag4.xml" --profile urn:example:unknown >"$T/req.xml"
assert_dss_error "$(tsa "$T/req.xml")" RequesterError NotSupported "Profile urn:example:unknown"
printf 'not xml at all' >"$T/notxml"
sign --bag "$T/notxml" >"$T/req.xml"
assert_dss_error "$(tsa "$T/req.xml")" RequesterError GeneralError "well-formed XML"
sign - >"$T/req.xml" <<'X'
<dss:SignRequest xmlns:dss="urn:oasis:names:tc:dss:1.0:core:schema" RequestID="r" Profile="urn:ehealth:profiles:timestamping:2.1-cert"><dss:InputDocuments><dss:Document><dss:Base64XML>@@not base64@@</dss:Base64XML></dss:Document></dss:InputDocuments></dss:SignRequest>
X
assert_dss_error "$(tsa "$T/req.xml")" RequesterError GeneralError "not base64"
[ "$(xp '//*[local-name()="SignResponse"]/@RequestID')" = r ] || fail "RequestID not echoed on error"
sign - >"$T/req.xml" <<'X'
<dss:SignRequest xmlns:dss="urn:oasis:names:tc:dss:1.0:core:schema" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><dss:InputDocuments><dss:DocumentHash><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/><ds:DigestValue>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</ds:DigestValue></dss:DocumentHash></dss:InputDocuments></dss:SignRequest>
X
assert_dss_error "$(tsa "$T/req.xml")" RequesterError NotSupported "not supported"
sign --bag "$T/bag1.xml" --cert unmapped >"$T/req.xml"
assert_dss_error "$(tsa "$T/req.xml")" RequesterError NotAuthorized "not mapped to any IDHospital"

# 6. Serials persist across a restart of the simulator.
stop_sim
start_sim
make_bag "$T/bag5.xml" 5
read -r s5 g5 < <(stamp "$T/bag5.xml")
[ "$s5" -gt "$s2" ] || fail "serial $s5 after restart does not continue after $s2"
verify "$T/bag5.xml" "$T/tok.der"
stop_sim
pass
