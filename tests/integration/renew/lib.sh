# Helpers of the tsbag renew tests (sourced), on top of tests/lib/harness.sh. Each test makes its
# own development PKI in $T/pki whose second TSA certificate (tsa2.pem, the simulator's /rfc3161
# signer) is valid TSA2_DAYS days (default 30: inside renew.margin_days' default of 180, so its
# ArchiveTimeStamps are due for renewal at once), with its successor tsa2-next.pem (1825 days)
# behind the simulator's tsa2-next knob. Environment from ctest: TSB_SOURCE_DIR, TSB_SIM,
# TSB_TSBAG, TSB_TSBAGD, TSB_ERS_RECORD (tests/integration/renew/ers_record.c).
SUITE=renew
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/harness.sh"

SRC=${TSB_SOURCE_DIR:?}
: "${TSB_SIM:?}" "${TSB_TSBAG:?}" "${TSB_TSBAGD:?}" "${TSB_ERS_RECORD:?}"
PKI=$T/pki
"$SRC/tools/dev-pki" --quiet --tsa2-days "${TSA2_DAYS:-30}" "$PKI" >"$T/pki.log" 2>&1 ||
    fail "tools/dev-pki --tsa2-days: $(cat "$T/pki.log")"
POLICY2=$(cat "$PKI/tsa2-policy.txt")
mkdir -p "$T/state" "$T/capture"
LOGS+=("$T/renew.out" "$T/renew.err")

# renew [ARGS...]: tsbag renew against the simulator's /rfc3161 with the dev-pki's second root;
# its output goes to $T/renew.out and .err (overwritten), its exit status to RC.
renew() {
    RC=0
    tsbag -s "renew.url=https://127.0.0.1:$PORT/rfc3161" -s "renew.ca_file=$PKI/tls-ca.pem" \
        -s "renew.trust_anchors=$PKI/tsa2-ca.pem" -s "renew.policy_oids=$POLICY2" \
        ${RENEW_SETTINGS:-} renew "$@" >"$T/renew.out" 2>"$T/renew.err" || RC=$?
}

# renew_ok [ARGS...]: renew, which must exit 0.
renew_ok() {
    renew "$@"
    [ "$RC" = 0 ] || fail "tsbag renew $* exited $RC: $(cat "$T/renew.err")"
}

# ers_check SEQ: bag SEQ's EvidenceRecord from the archive parses with stock openssl asn1parse and
# passes the ers library's verifier against its data objects; VERDICT keeps the verifier's line.
ers_check() {
    "$TSB_ERS_RECORD" "$DB" "$1" "$T/er-$1.ers" "$PKI/tsa2-ca.pem" >"$T/er-$1.txt" 2>&1 ||
        fail "the evidence record of bag $1 does not verify: $(cat "$T/er-$1.txt")"
    VERDICT=$(cat "$T/er-$1.txt")
    openssl asn1parse -inform DER -in "$T/er-$1.ers" >"$T/er-$1.asn1" 2>&1 ||
        fail "openssl asn1parse refuses the evidence record of bag $1: $(tail -3 "$T/er-$1.asn1")"
}

# covered_once: every stamped bag has exactly one ArchiveTimeStamp per role (chain, position),
# its chain 1 starts at position 1, and positions and chains have no gap.
covered_once() {
    [ "$(sql "SELECT count(*) FROM bags b WHERE state IN ('stamped', 'recovered') AND NOT EXISTS
              (SELECT 1 FROM ers_links l WHERE l.seq = b.seq AND chain = 1 AND position = 1)")" = 0 ] ||
        fail "a stamped bag has no initial archive timestamp"
    [ "$(sql "SELECT count(*) FROM (SELECT seq, chain, position FROM ers_links
              GROUP BY seq, chain, position HAVING count(*) > 1)")" = 0 ] ||
        fail "a bag has two archive timestamps in the same role"
    [ "$(sql "SELECT count(*) FROM ers_links l WHERE position > 1 AND NOT EXISTS (SELECT 1 FROM
              ers_links p WHERE p.seq = l.seq AND p.chain = l.chain AND p.position = l.position - 1)")" = 0 ] ||
        fail "a chain has a gap"
    [ "$(sql "SELECT count(*) FROM ers_trees t WHERE leaves <> (SELECT count(*) FROM ers_links
              WHERE tree_id = t.id)")" = 0 ] || fail "a tree's leaves are not its links"
}
