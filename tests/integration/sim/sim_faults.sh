#!/usr/bin/env bash
# integration.sim_faults: every fault knob produces its fault, at start (--fault) and at run time
# (POST /admin/fault), and "@N" knobs stop after N requests. The tokens of the knobs that break
# tsbag's assumptions (imprint over other data, SHA-384, no certificates, RSASSA-PSS) are checked
# with stock openssl ts/cms and xmllint.
. "$(dirname "$0")/lib.sh"
need_sim
start_sim --fault http-503 --fault-file "$T/faults.txt"

make_bag "$T/bag.xml" 1
sign --bag "$T/bag.xml" >"$T/req.xml"
cp "$T/req.xml" "$T/good.xml"
fresh() { sign --bag "$T/bag.xml" >"$T/req.xml"; }
curl_tsa() { # CURL-ARGS...: prints curl's exit status
    local rc=0
    curl -s --cacert "$PKI/tls-ca.pem" -H 'Content-Type: text/xml; charset=utf-8' \
        --data-binary "@$T/req.xml" -o "$T/resp.xml" "$@" "$URL/TimestampAuthority/v2" || rc=$?
    echo "$rc"
}

# --fault at start: every request gets 503 until cleared; the knob is listed
[ "$(tsa "$T/req.xml")" = 503 ] || fail "--fault http-503: expected 503"
[ "$(tsa "$T/req.xml")" = 503 ] || fail "--fault http-503 is not sticky"
curl -s --cacert "$PKI/tls-ca.pem" "$URL/admin/faults" | grep -qx 'http-503' || fail "/admin/faults does not list http-503"
fault clear
[ -z "$(curl -s --cacert "$PKI/tls-ca.pem" "$URL/admin/faults")" ] || fail "clear left knobs"
[ "$(tsa "$T/req.xml")" = 200 ] || fail "after clear the request failed"

# an unknown knob is refused with 400 and the list of knobs
out=$(curl -s --cacert "$PKI/tls-ca.pem" --data-binary 'explode' -w ' %{http_code}' "$URL/admin/fault")
[ "${out##* }" = 400 ] && grep -q 'unknown fault' <<<"$out" || fail "unknown knob accepted: $out"
out=$(curl -s --cacert "$PKI/tls-ca.pem" --data-binary 'latency' -w ' %{http_code}' "$URL/admin/fault")
[ "${out##* }" = 400 ] || fail "latency without =MS accepted"

# http-500@1: one SOAP Server fault, then normal again
fault 'http-500@1'
fresh
assert_fault "$(tsa "$T/req.xml")" soapenv:Server "http-500"
[ "$(tsa "$T/req.xml")" = 200 ] || fail "http-500@1 applied to a second request"

# http-503@2 on the consult endpoint too
fault 'http-503@2'
check_body "$ID_HOSPITAL" 0 9999999999999 "" >"$T/cb.xml"
sign "$T/cb.xml" >"$T/creq.xml"
[ "$(consult "$T/creq.xml")" = 503 ] || fail "http-503 not applied to consult"
[ "$(tsa "$T/req.xml")" = 503 ] || fail "http-503@2: second request not 503"
[ "$(tsa "$T/req.xml")" = 200 ] || fail "http-503@2: third request not 200"

# reset: the connection closes without an answer (curl: empty reply / receive error)
fault 'reset@1'
rc=$(curl_tsa)
[ "$rc" = 52 ] || [ "$rc" = 56 ] || fail "reset: curl exit $rc, expected 52 or 56"
[ "$(curl_tsa)" = 0 ] || fail "reset@1 applied twice"

# timeout: accepted, never answered; the client gives up (curl 28), the simulator stays up
fault 'timeout=600@1'
rc=$(curl_tsa -m 2)
[ "$rc" = 28 ] || fail "timeout: curl exit $rc, expected 28 (timed out)"
[ "$(curl_tsa)" = 0 ] || fail "after timeout the next request failed"

# latency: with 3 s added, a 1 s client timeout fires; without, it does not. The held request is
# still stamped when its delay ends (the client only gave up): wait for that stamp, so that it
# cannot land inside a later step's consult window.
n_stamps() { # how many bags TSConsult holds in all
    check_body "$ID_HOSPITAL" 0 9999999999999 "" >"$T/all.xml"
    sign "$T/all.xml" >"$T/allreq.xml"
    [ "$(consult "$T/allreq.xml")" = 200 ] || fail "n_stamps: consult failed"
    count '//*[local-name()="TSConsultResponse"]/*[local-name()="TSList"]'
}
n0=$(n_stamps)
fault 'latency=3000@1'
rc=$(curl_tsa -m 1)
[ "$rc" = 28 ] || fail "latency=3000: curl exit $rc, expected 28"
fresh
[ "$(curl_tsa -m 30)" = 0 ] || fail "after latency@1 the next request failed"
held_stamped() { [ "$(n_stamps)" -ge $((n0 + 2)) ]; }
wait_until 30 "the latency-held request's stamp" held_stamped
[ "$(n_stamps)" = $((n0 + 2)) ] || fail "latency: the held request was not stamped ($(n_stamps) stamps, expected $((n0 + 2)))"

# drop-response: processed (stamped and archived), but no answer
fault 'drop-response@1'
make_bag "$T/dropped.xml" 2
sign --bag "$T/dropped.xml" >"$T/req.xml"
rc=$(curl_tsa)
[ "$rc" = 52 ] || [ "$rc" = 56 ] || fail "drop-response: curl exit $rc"
digest=$(sha256sum "$T/dropped.xml" | cut -c1-64)
sign "$T/cb.xml" >"$T/creq.xml"
[ "$(consult "$T/creq.xml")" = 200 ] || fail "check after drop failed"
get_body "$ID_HOSPITAL" "$(resp_tslist | tail -1 | sed 's/\(.*\):\(.*\)/<TSList><sequenceNumber>\1<\/sequenceNumber><dateTime>\2<\/dateTime><\/TSList>/' | tr -d '\n')" >"$T/gb.xml"
sign "$T/gb.xml" >"$T/creq.xml"
[ "$(consult "$T/creq.xml")" = 200 ] || fail "get after drop failed"
found=
for ((i = 1; i <= $(count '//*[local-name()="TSBagValue"]'); i++)); do
    [ "$(xp "(//*[local-name()='TSBagValue'])[$i]" | base64 -d | sha256sum | cut -c1-64)" = "$digest" ] &&
        found=yes
done
[ -n "$found" ] || fail "the dropped request's bag was not archived"

# malformed-xml: HTTP 200 with a body that is not well-formed
fault 'malformed-xml@1'
fresh
[ "$(tsa "$T/req.xml")" = 200 ] || fail "malformed-xml: expected 200"
[ -s "$T/resp.xml" ] || fail "malformed-xml: empty body"
xmllint --noout "$T/resp.xml" 2>/dev/null && fail "malformed-xml: the body is well-formed"

# wrong-imprint: a token over another digest
fault 'wrong-imprint@1'
read -r _ _ < <(stamp "$T/bag.xml")
openssl ts -verify -data "$T/bag.xml" -in "$T/tok.der" -token_in -CAfile "$PKI/tsa-ca.pem" >"$T/v.out" 2>&1 &&
    fail "wrong-imprint: the token verifies"
grep -q 'message imprint mismatch' "$T/v.out" || fail "wrong-imprint: not an imprint mismatch: $(cat "$T/v.out")"
read -r _ _ < <(stamp "$T/bag.xml")
openssl ts -verify -data "$T/bag.xml" -in "$T/tok.der" -token_in -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 ||
    fail "wrong-imprint@1 applied twice"

# untrusted-tsa: signed by the rogue TSA, which does not chain to the dev CA
fault 'untrusted-tsa@1'
read -r _ _ < <(stamp "$T/bag.xml")
openssl pkcs7 -inform DER -in "$T/tok.der" -print_certs | grep -q 'Rogue Time Stamping Authority' ||
    fail "untrusted-tsa: the token is not signed by the rogue TSA"
openssl ts -verify -data "$T/bag.xml" -in "$T/tok.der" -token_in -CAfile "$PKI/tsa-ca.pem" >"$T/v.out" 2>&1 &&
    fail "untrusted-tsa: the token verifies against the dev CA"
grep -qi 'certificate' "$T/v.out" || fail "untrusted-tsa: not a certificate failure: $(cat "$T/v.out")"

# legacy-double-base64 under profile 2.1-cert
fault 'legacy-double-base64@1'
fresh
[ "$(tsa "$T/req.xml")" = 200 ] || fail "legacy: stamp failed"
xp '//*[local-name()="RFC3161TimeStampToken"]' | base64 -d >"$T/once" || fail "legacy: not base64"
openssl ts -reply -in "$T/once" -token_in -token_out -text >/dev/null 2>&1 &&
    fail "legacy: single decoding already gives a token"
base64 -d <"$T/once" >"$T/resp.der" || fail "legacy: not double base64"
openssl ts -verify -data "$T/bag.xml" -in "$T/resp.der" -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 ||
    fail "legacy: the TimeStampResp does not verify"

# the knobs that break tsbag's assumptions, each checked with stock openssl and xmllint
verify_over() { # DATA [OPENSSL-ARGS...]: the token in $T/tok.der stamps DATA
    local data=$1
    shift
    openssl ts -verify -data "$data" -in "$T/tok.der" -token_in -CAfile "$PKI/tsa-ca.pem" "$@" \
        >"$T/v.out" 2>&1
}
fault 'imprint-over-base64@1'
stamp "$T/bag.xml" >/dev/null
printf '%s' "$(xp '//*[local-name()="Base64XML"]' "$T/req.xml")" >"$T/b64.txt"
verify_over "$T/b64.txt" || fail "imprint-over-base64: the token does not stamp the base64 text: $(cat "$T/v.out")"
verify_over "$T/bag.xml" && fail "imprint-over-base64: the token stamps the bag bytes"
fault 'imprint-over-c14n@1'
stamp "$T/bag.xml" >/dev/null
xmllint --exc-c14n "$T/bag.xml" >"$T/c14n.xml"
verify_over "$T/c14n.xml" || fail "imprint-over-c14n: the token does not stamp the exc-c14n: $(cat "$T/v.out")"
verify_over "$T/bag.xml" && fail "imprint-over-c14n: the token stamps the bag bytes"
fault 'sha384-imprint@1'
stamp "$T/bag.xml" >/dev/null
openssl ts -reply -in "$T/tok.der" -token_in -token_out -text 2>/dev/null | grep -q 'Hash Algorithm: sha384' ||
    fail "sha384-imprint: not a SHA-384 imprint"
verify_over "$T/bag.xml" || fail "sha384-imprint: the token does not stamp the bag: $(cat "$T/v.out")"
fault 'token-without-certs@1'
stamp "$T/bag.xml" >/dev/null
[ -z "$(openssl pkcs7 -inform DER -in "$T/tok.der" -print_certs 2>/dev/null | grep BEGIN)" ] ||
    fail "token-without-certs: the token carries certificates"
verify_over "$T/bag.xml" && fail "token-without-certs: verifies without the TSA certificate"
verify_over "$T/bag.xml" -untrusted "$PKI/tsa.pem" || fail "token-without-certs: $(cat "$T/v.out")"
fault 'pss-signature@1'
stamp "$T/bag.xml" >/dev/null
openssl cms -cmsout -print -inform DER -in "$T/tok.der" | grep -q 'algorithm: rsassaPss' ||
    fail "pss-signature: not an RSASSA-PSS signature"
openssl cms -verify -inform DER -in "$T/tok.der" -CAfile "$PKI/tsa-ca.pem" -purpose any \
    -out "$T/tstinfo.der" >/dev/null 2>&1 || fail "pss-signature: openssl cms -verify rejects it"
fault 'no-request-id@1'
stamp "$T/bag.xml" >/dev/null
[ -z "$(xp '//*[local-name()="SignResponse"]/@RequestID')" ] || fail "no-request-id: RequestID echoed"
validate_dss
fault 'wrong-request-id@1'
stamp "$T/bag.xml" >/dev/null
rid=$(xp '//*[local-name()="SignRequest"]/@RequestID' "$T/req.xml")
[ "$(xp '//*[local-name()="SignResponse"]/@RequestID')" = "SIM-OTHER-$rid" ] || fail "wrong-request-id: $(xp '//*[local-name()="SignResponse"]/@RequestID')"
fault 'requester-error@1'
fresh
assert_dss_error "$(tsa "$T/req.xml")" RequesterError GeneralError "requester-error fault knob"
fault 'responder-error@1'
fresh
assert_dss_error "$(tsa "$T/req.xml")" ResponderError GeneralError "responder-error fault knob"
fault 'http-403@1'
fresh
[ "$(tsa "$T/req.xml")" = 403 ] || fail "http-403: expected 403"
[ "$(tsa "$T/req.xml")" = 200 ] || fail "http-403@1 applied twice"

# clock-offset: the simulator's clock, genTime and freshness checks move
c0=$(date +%s%3N)
fault 'clock-offset=+7200'
c1=$(sim_clock)
c2=$(date +%s%3N)
[ "$c1" -ge $((c0 + 7200000)) ] && [ "$c1" -le $((c2 + 7200000)) ] || fail "clock-offset: sim clock $c1 not 2 h ahead of [$c0, $c2]"
fresh
assert_fault "$(tsa "$T/req.xml")" wsse:InvalidSecurity "the message has expired"
sign --bag "$T/bag.xml" --created-offset 7200 >"$T/req.xml"
c0=$(sim_clock)
[ "$(tsa "$T/req.xml")" = 200 ] || fail "clock-offset: a request on the simulator's time was refused"
c1=$(sim_clock)
token_of "$T/resp.xml" "$T/tok.der"
read -r _ g < <(token_id "$T/tok.der")
[ "$g" -ge "$c0" ] && [ "$g" -le "$c1" ] || fail "clock-offset: genTime $g not in [$c0, $c1]"
fault 'clock-offset=0'

# forget-bag=SERIAL and forget-bag=last: TSConsult no longer knows the bag
make_bag "$T/f1.xml" 11
make_bag "$T/f2.xml" 12
read -r f1 tf1 < <(stamp "$T/f1.xml")
read -r f2 tf2 < <(stamp "$T/f2.xml")
check_body "$ID_HOSPITAL" "$tf1" "$tf2" "" >"$T/q.xml"
sign "$T/q.xml" >"$T/creq.xml"
[ "$(consult "$T/creq.xml")" = 200 ] && [ "$(resp_tslist | wc -l)" = 2 ] || fail "forget: setup"
fault "forget-bag=$f1"
sign "$T/q.xml" >"$T/creq.xml"
consult "$T/creq.xml" >/dev/null
[ "$(resp_tslist)" = "$f2:$tf2" ] || fail "forget-bag=$f1: still listed: $(resp_tslist)"
get_body "$ID_HOSPITAL" "$(tsid "$f1" "$tf1")" >"$T/gb.xml"
sign "$T/gb.xml" >"$T/creq.xml"
consult "$T/creq.xml" >/dev/null
[ "$(xp '//*[local-name()="Type"]')" = UnknownTimestamp ] || fail "forgotten bag still returned"
fault 'forget-bag=last'
sign "$T/q.xml" >"$T/creq.xml"
consult "$T/creq.xml" >/dev/null
[ "$(xp '//*[local-name()="Status"]')" = OK ] || fail "forget-bag=last: $(resp_tslist)"
out=$(curl -s --cacert "$PKI/tls-ca.pem" --data-binary 'forget-bag=987654' -w ' %{http_code}' "$URL/admin/fault")
[ "${out##* }" = 404 ] || fail "forgetting an unknown serial: $out"

# SIGUSR1 replaces the knobs by those of --fault-file
printf '# injected by the test\nhttp-500@1\nlatency=1\n' >"$T/faults.txt"
fault 'malformed-xml'
kill -USR1 "$SIM_PID"
wait_until 5 "SIGUSR1 to load the fault file (latency=1 http-500@1)" knobs_are "latency=1 http-500@1 "
fresh
assert_fault "$(tsa "$T/req.xml")" soapenv:Server "http-500"
: >"$T/faults.txt"
kill -USR1 "$SIM_PID"
wait_until 5 "an empty fault file to clear the knobs" knobs_are ""

# with a timeout in progress, the simulator still stops promptly and cleanly. The request is
# being held once it has taken the one-shot knob: /admin/faults no longer lists it.
fault 'timeout@1'
(curl -s --cacert "$PKI/tls-ca.pem" --data-binary "@$T/good.xml" -m 60 "$URL/TimestampAuthority/v2" >/dev/null 2>&1 &)
wait_until 30 "the timeout@1 request to reach the simulator" knobs_are ""
stop_sim
pass
