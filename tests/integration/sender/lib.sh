# Helpers of the sender integration tests (sourced), on top of tests/lib/harness.sh ($T,
# start_sim/stop_sim, start_daemon/stop_daemon, fault, push, seal, sql, wait_for ...).
# Environment from ctest: TSB_SIM (ehealth-sim), TSB_SIM_PKI (a dev-pki folder), TSB_TSBAG,
# TSB_TSBAGD, TSB_SHARED_DIR.
SUITE=sender
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/harness.sh"

: "${TSB_SIM_PKI:?}" "${TSB_SIM:?}" "${TSB_TSBAG:?}" "${TSB_TSBAGD:?}"
XSD=${TSB_SHARED_DIR:?}/reference/xsd/external/oasis-dss-core-schema-v1.0-os.xsd
mkdir -p "$T/state" "$T/capture"
need_sim

# wait_log WORDS: waits for a line of tsbagd's log: what a test checks is that the operator is
# told (an error line), never readiness.
wait_log() { wait_until 30 "the log line '$1'" grep -qF -- "$1" "$T/d.log"; }

# verify_stamped: every stamped bag's token passes stock openssl ts -verify against its bytes,
# and no unstamped bag carries a token (nothing unverified is ever archived).
verify_stamped() {
    local seq
    [ "$(sql "SELECT count(*) FROM bags WHERE state <> 'stamped' AND state <> 'recovered' AND token IS NOT NULL")" = 0 ] ||
        fail "an unstamped bag carries a token"
    for seq in $(sql "SELECT seq FROM bags WHERE state = 'stamped' ORDER BY seq"); do
        sql "SELECT writefile('$T/bag$seq.xml', $(bag_bytes_sql bags.seq)), writefile('$T/tok$seq.der', token) FROM bags WHERE seq = $seq" >/dev/null
        openssl ts -verify -data "$T/bag$seq.xml" -in "$T/tok$seq.der" -token_in \
            -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 ||
            fail "openssl ts -verify rejects the archived token of bag $seq"
    done
}

# gap_free [FIRST]: SequenceNumbers FIRST (default 1)..N without a hole, every entry in exactly
# one bag.
gap_free() {
    local first=${1:-1}
    [ "$(sql "SELECT count(*) = max(seq) - $first + 1 AND min(seq) = $first FROM bags")" = 1 ] ||
        fail "SequenceNumbers from $first have a gap"
    # an entry's bag is the bag whose Ref range holds it (schema 0008)
    [ "$(sql "SELECT count(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM bags b WHERE e.ref BETWEEN b.first_ref AND b.last_ref)")" = 0 ] ||
        fail "entries left unsealed"
}

# captured SEQ ATTEMPT [SUFFIX]: the tsa.capture_dir file of that attempt (default the request;
# answer.txt, answer.xml ...); fails unless exactly one exists. Names carry the RequestID.
captured() {
    local f n=0 got=
    for f in "$T/capture/bag-$1-attempt-$2-"*".${3:-request.xml}"; do
        [ -e "$f" ] && { n=$((n + 1)); got=$f; }
    done
    [ "$n" = 1 ] || fail "$n capture files for bag $1 attempt $2 (${3:-request.xml}), expected 1"
    printf '%s\n' "$got"
}

# request_bag FILE: the bag bytes carried by a captured request (Base64XML decoded).
request_bag() {
    sed -n 's:.*<dss\:Base64XML>\([^<]*\)</dss\:Base64XML>.*:\1:p' "$1" | base64 -d
}
