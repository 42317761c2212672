#!/usr/bin/env bash
# sender_capture: with tsa.capture_dir, every attempt leaves its request and what the TSA answered,
# paired by name (bag SequenceNumber, attempt number, RequestID). A stamp, a DSS RequesterError and
# an imprint over the base64 text (two answers) give request/answer pairs whose answers are
# well-formed XML, echo the request's RequestID and agree with what the sender archived (token,
# bag_attempts reason, finding, RequestID); a reset connection leaves the request and a metadata
# file saying no answer arrived. No capture holds the keystore password or the private key, and no
# temporary file is left behind.
. "$(dirname "$0")/lib.sh"

# meta FILE KEY: the value of KEY= in an answer.txt
meta() { sed -n "s/^$2=//p" "$1"; }

# pair SEQ ATTEMPT: checks the request/answer pair of one answered attempt against the archive;
# sets ANS (the body file) and TXT (the metadata)
pair() {
    local req rid
    req=$(captured "$1" "$2") || exit 1
    TXT=$(captured "$1" "$2" answer.txt) || exit 1
    ANS=$(captured "$1" "$2" answer.xml) || exit 1
    [ "${req%.request.xml}" = "${TXT%.answer.txt}" ] || fail "bag $1/$2: request and answer do not pair"
    rid=$(sql "SELECT request_id FROM bag_attempts WHERE seq = $1 AND attempt = $2")
    [ -n "$rid" ] || fail "bag $1/$2: no attempt recorded"
    case "$(basename "$req")" in
    "bag-$1-attempt-$2-$rid.request.xml") ;;
    *) fail "bag $1/$2: $(basename "$req") does not carry the recorded RequestID $rid" ;;
    esac
    grep -q "RequestID=\"$rid\"" "$req" || fail "bag $1/$2: the request does not carry $rid"
    xmllint --noout --nonet "$ANS" 2>"$T/xmllint.txt" || fail "bag $1/$2: answer not well-formed: $(cat "$T/xmllint.txt")"
    [ "$(xmllint --xpath 'string(//*[local-name()="SignResponse"]/@RequestID)' "$ANS")" = "$rid" ] ||
        fail "bag $1/$2: the answer does not echo $rid"
    [ "$(meta "$TXT" request_id)" = "$rid" ] || fail "bag $1/$2: metadata names another RequestID"
    [ "$(meta "$TXT" request)" = "$(basename "$req")" ] || fail "bag $1/$2: metadata names another request"
    [ "$(meta "$TXT" answer)" = "$(basename "$ANS")" ] || fail "bag $1/$2: metadata names another answer"
    [ "$(meta "$TXT" http_status)" = 200 ] || fail "bag $1/$2: http_status $(meta "$TXT" http_status)"
    meta "$TXT" content_type | grep -qi 'xml' || fail "bag $1/$2: content type $(meta "$TXT" content_type)"
    [ "$(meta "$TXT" answer_bytes)" = "$(stat -c %s "$ANS")" ] || fail "bag $1/$2: answer_bytes"
    [ "$(meta "$TXT" answer_sha256)" = "$(sha256sum "$ANS" | cut -d' ' -f1)" ] || fail "bag $1/$2: answer_sha256"
}

# recorded SEQ ATTEMPT COLUMN: bag_attempts.COLUMN of that attempt ("" for NULL)
recorded() { sql "SELECT coalesce($3, '') FROM bag_attempts WHERE seq = $1 AND attempt = $2"; }

start_sim
start_daemon

# ---- a stamp: the answer carries the very token that was archived ----
push 2 ok
seal
wait_for "SELECT state FROM bags WHERE seq = 1" stamped
pair 1 1
[ "$(meta "$TXT" verdict)" = verified ] || fail "stamp: verdict $(meta "$TXT" verdict)"
[ "$(meta "$TXT" transport)" = ok ] || fail "stamp: transport $(meta "$TXT" transport)"
xmllint --xpath 'string(//*[local-name()="RFC3161TimeStampToken"])' "$ANS" | base64 -d >"$T/tok-answer.der" ||
    fail "stamp: no token in the captured answer"
sql "SELECT writefile('$T/tok-archive.der', token) FROM bags WHERE seq = 1" >/dev/null
cmp -s "$T/tok-answer.der" "$T/tok-archive.der" || fail "stamp: the captured answer's token is not the archived one"

# ---- a DSS RequesterError: held at once; the answer says RequesterError ----
fault requester-error
push 1 refused
seal
wait_for "SELECT state FROM bags WHERE seq = 2" failed
pair 2 1
xmllint --xpath 'string(//*[local-name()="ResultMajor"])' "$ANS" | grep -q 'RequesterError' ||
    fail "requester-error: the captured answer holds no RequesterError"
[ "$(meta "$TXT" verdict)" = definitive ] || fail "requester-error: verdict $(meta "$TXT" verdict)"
[ "$(meta "$TXT" reason)" = "$(recorded 2 1 reason)" ] || fail "requester-error: metadata reason differs from bag_attempts"
[ "$(meta "$TXT" failure_key)" = "$(recorded 2 1 failure_key)" ] || fail "requester-error: failure_key differs"

# ---- an imprint over the base64 text: two answers, both captured, with the finding ----
fault clear
fault imprint-over-base64
tsbag retry 2 >>"$T/out.txt" 2>&1 || fail "tsbag retry 2"
wait_for "SELECT count(*) FROM bag_attempts WHERE seq = 2" 3
for n in 2 3; do
    pair 2 $n
    [ "$(meta "$TXT" verdict)" = rejected ] || fail "imprint: attempt $n verdict $(meta "$TXT" verdict)"
    [ "$(meta "$TXT" finding)" = imprint:sha256:base64-text ] || fail "imprint: attempt $n finding $(meta "$TXT" finding)"
    [ "$(meta "$TXT" finding)" = "$(recorded 2 $n finding)" ] || fail "imprint: finding differs from bag_attempts"
    [ "$(meta "$TXT" reason)" = "$(recorded 2 $n reason)" ] || fail "imprint: attempt $n reason differs from bag_attempts"
done
wait_for "SELECT state FROM bags WHERE seq = 2" failed

# ---- a reset connection: the request, and a metadata file saying no answer came ----
fault clear
fault 'reset@1'
tsbag retry 2 >>"$T/out.txt" 2>&1 || fail "tsbag retry 2 (reset)"
wait_for "SELECT state FROM bags WHERE seq = 2" stamped
captured 2 4 >/dev/null || exit 1
TXT=$(captured 2 4 answer.txt) || exit 1
[ "$(meta "$TXT" answer)" = none ] || fail "reset: answer=$(meta "$TXT" answer), expected none"
[ "$(meta "$TXT" http_status)" = 0 ] || fail "reset: http_status $(meta "$TXT" http_status)"
[ "$(meta "$TXT" transport)" = network ] || fail "reset: transport $(meta "$TXT" transport)"
[ -n "$(meta "$TXT" transport_error)" ] || fail "reset: no transport error"
[ "$(meta "$TXT" reason)" = "$(recorded 2 4 reason)" ] || fail "reset: reason differs from bag_attempts"
ls "$T/capture/bag-2-attempt-4-"*.answer.* | grep -qv '\.answer\.txt$' && fail "reset: a body file without an answer"
pair 2 5

# ---- never a secret, never a temporary file ----
[ "$(ls -A "$T/capture" | grep -c '\.tmp$')" = 0 ] || fail "temporary files left: $(ls -A "$T/capture")"
[ "$(ls "$T/capture" | grep -c '\.request\.xml$')" = 6 ] || fail "expected 6 requests: $(ls "$T/capture")"
grep -rqF -- "$(head -n 1 "$PKI/hospital.pass")" "$T/capture" && fail "the keystore password is in a capture"
grep -rqi 'PRIVATE KEY' "$T/capture" && fail "a PEM private key is in a capture"
# the private part of the key (RSA privateExponent or EC priv), as raw bytes: neither it nor its
# base64 (in any of the three byte alignments) nor its hex may occur in a capture
openssl pkcs12 -in "$PKI/hospital.p12" -passin "file:$PKI/hospital.pass" -nocerts -nodes 2>/dev/null |
    openssl pkey -noout -text 2>/dev/null |
    awk '/^(privateExponent|priv):/ {on = 1; next} /^[a-zA-Z]/ {on = 0} on' | tr -d ' :\n' >"$T/priv.hex"
[ "$(wc -c <"$T/priv.hex")" -ge 64 ] || fail "cannot read the hospital key's private part for the secret check"
grep -rqiF -- "$(cut -c 1-48 "$T/priv.hex")" "$T/capture" && fail "the private key (hex) is in a capture"
xxd -r -p "$T/priv.hex" >"$T/priv.bin"
for skip in 0 1 2; do
    tail -c +$((skip + 1)) "$T/priv.bin" | base64 -w0 | cut -c 5-44 >"$T/priv.b64"
    grep -rqF -- "$(cat "$T/priv.b64")" "$T/capture" && fail "the private key (base64) is in a capture"
done

verify_stamped
stop_daemon
pass
