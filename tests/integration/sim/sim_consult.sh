#!/usr/bin/env bash
# integration.sim_consult: TimeStampConsult semantics. checkCompleteness: OK, INCOMPLETE with the
# missing list, the same-bag rule, inclusive ms periods, ERROR for unknown ids and Start > End;
# getTimestamp: bags returned in request order with TSBagValue byte-identical to what was sent
# and the original SignResponse, the 10-item limit, ERROR for unknown ids. Every answer is valid
# against the eHealth v2 schema.
. "$(dirname "$0")/lib.sh"
need_sim
start_sim

# A stamped twice (a retry: same bag, two tokens), B once, C once with line-wrapped base64,
# D once by another hospital.
make_bag "$T/A.xml" 1
make_bag "$T/B.xml" 2
make_bag "$T/C.xml" 3
make_bag "$T/D.xml" 4
read -r a1 ta1 < <(stamp "$T/A.xml")
cp "$T/resp.xml" "$T/respA1.xml"
read -r a2 ta2 < <(stamp "$T/A.xml")
read -r b1 tb1 < <(stamp "$T/B.xml")
cp "$T/resp.xml" "$T/respB1.xml"
# C travels as base64 wrapped at 76 characters: it must come back exactly so
wrapped=$(base64 -w 76 <"$T/C.xml")
[ "$(wc -l <<<"$wrapped")" -gt 1 ] || fail "test bag C is too short to wrap"
sign - >"$T/req.xml" <<X
<dss:SignRequest xmlns:dss="urn:oasis:names:tc:dss:1.0:core:schema" RequestID="c" Profile="urn:ehealth:profiles:timestamping:2.1-cert"><dss:InputDocuments><dss:Document><dss:Base64XML>$wrapped</dss:Base64XML></dss:Document></dss:InputDocuments></dss:SignRequest>
X
[ "$(tsa "$T/req.xml")" = 200 ] || fail "stamping C failed"
token_of "$T/resp.xml" "$T/tokC.der"
openssl ts -verify -data "$T/C.xml" -in "$T/tokC.der" -token_in -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 ||
    fail "C's token does not verify"
read -r c1 tc1 < <(token_id "$T/tokC.der")
read -r d1 td1 < <(stamp "$T/D.xml" --cert hospital2)
[ "$a1" -lt "$a2" ] && [ "$a2" -lt "$b1" ] && [ "$b1" -lt "$c1" ] || fail "serials out of order"

ask() { # KIND BODY-FILE: sign, post, expect 200, validate
    sign "$2" >"$T/req.xml"
    local http
    http=$(consult "$T/req.xml")
    [ "$http" = 200 ] || fail "$1: HTTP $http: $(head -c 600 "$T/resp.xml")"
    validate_consult
    check_resp_timestamp
}
status() { xp '//*[local-name()="Status"]'; }
all=0
end=9999999999999

# everything listed (one of A's two stamps is enough: same-bag rule) -> OK, empty list
check_body "$ID_HOSPITAL" "$all" "$end" "$(tsid "$a2" "$ta2")$(tsid "$b1" "$tb1")$(tsid "$c1" "$tc1")" >"$T/q.xml"
ask "check all" "$T/q.xml"
[ "$(status)" = OK ] || fail "all listed: Status $(status), expected OK"
[ "$(count '//*[local-name()="TSList"]')" = 0 ] || fail "all listed: TSList is not empty"
[ "$(count '//*[local-name()="Error"]')" = 0 ] || fail "OK answer carries an Error"

# only A listed -> INCOMPLETE with exactly B and C (not A's other stamp)
check_body "$ID_HOSPITAL" "$all" "$end" "$(tsid "$a1" "$ta1")" >"$T/q.xml"
ask "check A" "$T/q.xml"
[ "$(status)" = INCOMPLETE ] || fail "only A listed: Status $(status)"
[ "$(resp_tslist | tr '\n' ' ')" = "$b1:$tb1 $c1:$tc1 " ] ||
    fail "only A listed: missing list is '$(resp_tslist | tr '\n' ' ')', expected B and C"

# nothing listed -> all four stamps of this hospital, in time order; D (other hospital) absent
check_body "$ID_HOSPITAL" "$all" "$end" "" >"$T/q.xml"
ask "check none" "$T/q.xml"
[ "$(status)" = INCOMPLETE ] || fail "nothing listed: Status $(status)"
[ "$(resp_tslist | tr '\n' ' ')" = "$a1:$ta1 $a2:$ta2 $b1:$tb1 $c1:$tc1 " ] ||
    fail "nothing listed: '$(resp_tslist | tr '\n' ' ')'"

# period bounds are inclusive, in ms
check_body "$ID_HOSPITAL" "$tb1" "$tb1" "" >"$T/q.xml"
ask "check [B,B]" "$T/q.xml"
[ "$(resp_tslist)" = "$b1:$tb1" ] || fail "period [tB, tB] should list exactly B: '$(resp_tslist)'"
check_body "$ID_HOSPITAL" "$((tb1 + 1))" "$((tc1 - 1))" "" >"$T/q.xml"
ask "check (B,C)" "$T/q.xml"
[ "$(status)" = OK ] || fail "period strictly between B and C should be OK: $(resp_tslist)"
check_body "$ID_HOSPITAL" "$((ta2 + 1))" "$tc1" "" >"$T/q.xml"
ask "check (A2,C]" "$T/q.xml"
[ "$(resp_tslist | tr '\n' ' ')" = "$b1:$tb1 $c1:$tc1 " ] || fail "period (A2, C]: '$(resp_tslist | tr '\n' ' ')'"

# the other hospital sees only D
check_body tsa_0000000097_01 "$all" "$end" "" >"$T/q.xml"
sign "$T/q.xml" --cert hospital2 >"$T/req.xml"
[ "$(consult "$T/req.xml")" = 200 ] || fail "hospital2 check failed"
[ "$(resp_tslist)" = "$d1:$td1" ] || fail "hospital2 should see only D: '$(resp_tslist)'"

error_is() { # TYPE NUMBER
    [ "$(xp '//*[local-name()="Error"]/*[local-name()="Type"]')" = "$1" ] ||
        fail "Error Type '$(xp '//*[local-name()="Error"]/*[local-name()="Type"]')', expected $1"
    [ "$(xp '//*[local-name()="Error"]/*[local-name()="Number"]')" = "$2" ] || fail "Error Number is not $2"
}
# ERROR: an id unknown to eHealth, a known serial with the wrong dateTime, D's id for this
# hospital, Start > End, a malformed Period
for bad in "$(tsid 999999 "$ta1")" "$(tsid "$a1" "$((ta1 + 1))")" "$(tsid "$d1" "$td1")" "$(tsid abc 1)"; do
    check_body "$ID_HOSPITAL" "$all" "$end" "$(tsid "$b1" "$tb1")$bad" >"$T/q.xml"
    ask "check unknown" "$T/q.xml"
    [ "$(status)" = ERROR ] || fail "unknown id: Status $(status)"
    error_is UnknownTimestamp 2
    [ "$(count '//*[local-name()="TSList"]')" = 0 ] || fail "ERROR answer lists timestamps"
done
check_body "$ID_HOSPITAL" 10 9 "" >"$T/q.xml"
ask "check start>end" "$T/q.xml"
[ "$(status)" = ERROR ] || fail "Start > End: Status $(status)"
error_is InvalidRequest 1
check_body "$ID_HOSPITAL" x 9 "" >"$T/q.xml"
ask "check bad period" "$T/q.xml"
[ "$(status)" = ERROR ] || fail "bad Start: Status $(status)"
error_is InvalidRequest 1

# getTimestamp: order follows the request; TSBagValue byte-identical; original SignResponse
get_body "$ID_HOSPITAL" "$(tsid "$c1" "$tc1")$(tsid "$a1" "$ta1")$(tsid "$b1" "$tb1")" >"$T/q.xml"
ask "get C A B" "$T/q.xml"
[ "$(count '//*[local-name()="TSBag"]')" = 3 ] || fail "get: expected 3 TSBags"
[ "$(count '//*[local-name()="Error"]')" = 0 ] || fail "get: unexpected Error"
[ "$(xp '(//*[local-name()="TSBagValue"])[1]')" = "$wrapped" ] || fail "C's TSBagValue is not the wrapped text as sent"
[ "$(xp '(//*[local-name()="TSBagValue"])[2]')" = "$(base64 -w0 <"$T/A.xml")" ] || fail "A's TSBagValue differs"
[ "$(xp '(//*[local-name()="TSBagValue"])[3]')" = "$(base64 -w0 <"$T/B.xml")" ] || fail "B's TSBagValue differs"
xp '(//*[local-name()="TSBagValue"])[2]' | base64 -d | cmp -s - "$T/A.xml" || fail "A's bag bytes differ"
[ "$(xp '(//*[local-name()="TSBag"])[2]//*[local-name()="RFC3161TimeStampToken"]')" = \
    "$(xp '//*[local-name()="RFC3161TimeStampToken"]' "$T/respA1.xml")" ] || fail "A's archived token differs"
[ "$(xp '(//*[local-name()="TSBag"])[3]/*[local-name()="SignResponse"]/@RequestID')" = \
    "$(xp '//*[local-name()="SignResponse"]/@RequestID' "$T/respB1.xml")" ] || fail "B's archived SignResponse differs"
# the returned token still verifies against the returned bag
xp '(//*[local-name()="TSBagValue"])[3]' | base64 -d >"$T/gotB.xml"
xp '(//*[local-name()="TSBag"])[3]//*[local-name()="RFC3161TimeStampToken"]' | base64 -d >"$T/gotB.der"
openssl ts -verify -data "$T/gotB.xml" -in "$T/gotB.der" -token_in -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 ||
    fail "returned bag and token do not verify"

# exactly 10 is allowed, 11 is an ERROR
ten=
for i in $(seq 1 10); do ten+=$(tsid "$b1" "$tb1"); done
get_body "$ID_HOSPITAL" "$ten" >"$T/q.xml"
ask "get 10" "$T/q.xml"
[ "$(count '//*[local-name()="TSBag"]')" = 10 ] || fail "get 10: expected 10 TSBags"
get_body "$ID_HOSPITAL" "$ten$(tsid "$a1" "$ta1")" >"$T/q.xml"
ask "get 11" "$T/q.xml"
error_is TooManyTimestamps 4
[ "$(count '//*[local-name()="TSBag"]')" = 0 ] || fail "get 11 returned bags"
# unknown id: Error and no bags
get_body "$ID_HOSPITAL" "$(tsid "$a1" "$ta1")$(tsid 424242 1)" >"$T/q.xml"
ask "get unknown" "$T/q.xml"
error_is UnknownTimestamp 2
[ "$(count '//*[local-name()="TSBag"]')" = 0 ] || fail "get unknown returned bags"
# empty request: empty answer
get_body "$ID_HOSPITAL" "" >"$T/q.xml"
ask "get none" "$T/q.xml"
[ "$(count '//*[local-name()="TSConsultTSBagResponse"]/*')" = 0 ] || fail "get none is not empty"
stop_sim
pass
