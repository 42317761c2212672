# Helpers of the evidence-record tests (sourced), on top of tests/lib/harness.sh. Each test makes
# its own development PKI in $T/pki with a second TSA certificate valid TSA2_DAYS days (default
# 2), so that "the original certificate has expired" is a date two days ahead that --at and the
# simulator's clock-offset reach without waiting. Environment from ctest: TSB_SOURCE_DIR, TSB_SIM,
# TSB_TSBAG, TSB_TSBAGD.
SUITE=ers
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/harness.sh"

SRC=${TSB_SOURCE_DIR:?}
: "${TSB_SIM:?}" "${TSB_TSBAG:?}" "${TSB_TSBAGD:?}"
ERS_VERIFY=$SRC/tools/ers-verify.py
ER_TOOL=$SRC/tests/integration/ers/er_tool.py
PKI=$T/pki
"$SRC/tools/dev-pki" --quiet --tsa2-days "${TSA2_DAYS:-2}" "$PKI" >"$T/pki.log" 2>&1 ||
    fail "tools/dev-pki --tsa2-days: $(cat "$T/pki.log")"
mkdir -p "$T/state"

# iso SECONDS: the instant as YYYY-MM-DDTHH:MM:SSZ, what both verifiers' --at take
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# epoch seconds of a certificate's notAfter
not_after() { date -d "$(openssl x509 -in "$1" -noout -enddate | sed 's/notAfter=//')" +%s; }

# stamp2 FILE OUT: a SHA-256 RFC 3161 request for FILE to the simulator's /rfc3161 (certReq);
# the token goes to OUT (DER). Fails unless the answer is granted.
stamp2() {
    openssl ts -query -data "$1" -sha256 -cert -out "$T/q.tsq" 2>/dev/null || fail "openssl ts -query"
    curl -sS --cacert "$PKI/tls-ca.pem" -H 'Content-Type: application/timestamp-query' \
        --data-binary "@$T/q.tsq" -o "$T/r.tsr" "https://127.0.0.1:$PORT/rfc3161" ||
        fail "POST /rfc3161"
    openssl ts -reply -in "$T/r.tsr" -token_out -out "$2" 2>/dev/null || fail "no token in the reply"
}

# gen_time TOKEN: the token's genTime in epoch seconds
gen_time() {
    date -d "$(openssl ts -reply -in "$1" -token_in -text 2>/dev/null | sed -n 's/^Time stamp: //p')" +%s
}

# signer_subject TOKEN: the subject of the token's first certificate (the signer: OpenSSL puts
# it first)
signer_subject() {
    openssl pkcs7 -inform DER -in "$1" -print_certs 2>/dev/null | sed -n 's/^subject=//p' | head -1
}

# stamp_digest HEX OUT: a SHA-256 timestamp of the digest HEX from /rfc3161 into OUT (DER token)
stamp_digest() {
    openssl ts -query -digest "$1" -sha256 -cert -out "$T/q.tsq" 2>/dev/null || fail "ts -query"
    curl -sS --cacert "$PKI/tls-ca.pem" -H 'Content-Type: application/timestamp-query' \
        --data-binary "@$T/q.tsq" -o "$T/r.tsr" "https://127.0.0.1:$PORT/rfc3161" || fail "POST"
    openssl ts -reply -in "$T/r.tsr" -token_out -out "$2" 2>/dev/null || fail "no token"
}

# The two verifiers on the package $P: pyv EXIT [ARGS...] runs ers-verify.py (output in
# $T/v.txt), cv EXIT [ARGS...] tsbag verify --package with no configuration and the anchors of
# CV_ANCHORS (output in $T/c.txt); each fails unless the exit status is EXIT.
pyv() {
    local want=$1 rc=0
    shift
    python3 "$ERS_VERIFY" "$P" "$@" >"$T/v.txt" 2>&1 || rc=$?
    [ "$rc" = "$want" ] || fail "ers-verify.py $*: exit $rc, expected $want: $(cat "$T/v.txt")"
}
cv() {
    local want=$1 rc=0
    shift
    "$TSBAG" -s "general.state_dir=$T/none" verify --package "$P" "${CV_ANCHORS[@]}" "$@" \
        >"$T/c.txt" 2>&1 || rc=$?
    [ "$rc" = "$want" ] || fail "tsbag verify --package $*: exit $rc, expected $want: $(cat "$T/c.txt")"
}

# both KIND PYTEXT CTEXT AT: bag $TSEQ's record fails in both verifiers as of AT with the same
# KIND (and the texts given); the package's other records still hold (NOTHERS of them).
both() {
    pyv 1 --at "$4"
    grep -q "^evidence-record-$TSEQ.ers: INVALID ($1): .*$2" "$T/v.txt" ||
        fail "ers-verify.py: expected INVALID ($1) '$2' for bag $TSEQ: $(cat "$T/v.txt")"
    [ "$(grep -c ': VALID at ' "$T/v.txt")" = "$NOTHERS" ] || fail "the other records no longer hold: $(cat "$T/v.txt")"
    cv 1 --at "$4"
    grep -q "evidence record  INVALID ($1) at .*$3" "$T/c.txt" ||
        fail "tsbag verify: expected INVALID ($1) '$3' for bag $TSEQ: $(cat "$T/c.txt")"
    [ "$(grep -c '^Ref .*: INVALID (failed check: ' "$T/c.txt")" -ge 1 ] ||
        fail "tsbag verify: no entry INVALID: $(cat "$T/c.txt")"
}

# restore: bag 2's record back to the good one saved in $T/good-2.ers
restore() { cp "$T/good-2.ers" "$P/evidence-record-2.ers"; }

# tamper_common AT: the tamperings both tests make to bag 2 of the package $P (TSEQ=2, its good
# record in $T/good-2.ers), each failing in both verifiers as of AT: a bag byte and a token byte
# (object), a hash of a reduced-hash-tree path (root), the renewal removed (expired: the
# original certificate has expired at AT). The last one is left in place for the caller.
tamper_common() {
    # a changed bag byte
    cp "$P/bag-2.xml" "$T/bag-2.xml"
    sed -i 's/SequenceNumber="2"/SequenceNumber="9"/' "$P/bag-2.xml"
    cmp -s "$P/bag-2.xml" "$T/bag-2.xml" && fail "the bag was not changed"
    both object 'the sha256 of bag-2.xml .* is not in its first partial hash tree' '' "$1"
    cp "$T/bag-2.xml" "$P/bag-2.xml"
    # a changed token byte (the last byte: inside the signature)
    cp "$P/token-2.der" "$T/token-2.der"
    python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-1]^=1; open(p,"wb").write(b)' "$P/token-2.der"
    both object 'the sha256 of token-2.der .* is not in its first partial hash tree' '' "$1"
    cp "$T/token-2.der" "$P/token-2.der"
    # a changed byte of a reduced-hash-tree path: a hash of the first archive timestamp's second
    # list (the sibling node)
    python3 "$ER_TOOL" flip-hash "$T/good-2.ers" 1 1 2 1 >"$P/evidence-record-2.ers"
    both root 'chain 1, ArchiveTimeStamp 1: the root computed from its reduced hash tree' '' "$1"
    restore
    # the renewal removed: at AT only the original certificate's timestamp is left, and it has
    # expired
    python3 "$ER_TOOL" drop "$T/good-2.ers" 1 2 >"$P/evidence-record-2.ers"
    both expired 'the latest ArchiveTimeStamp (chain 1, ArchiveTimeStamp 1, .*) has a TSA certificate that is not valid at' '' "$1"
}
