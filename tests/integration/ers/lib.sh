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
