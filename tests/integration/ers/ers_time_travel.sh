#!/usr/bin/env bash
# integration.ers_time_travel, the acceptance test of evidence records: time passes without
# waiting. tsbagd stamps three bags through the simulator, each with a second token ([tsa2]). A
# package exported before any renewal has no records: `tsbag verify --package` holds as of a day
# before the eHealth TSA certificate's notAfter and fails every entry (MISSING, the bag named,
# `tsbag renew`) as of a day after.
# `tsbag renew` covers them with an archive timestamp from the /rfc3161 TSA, whose certificate
# (tools/dev-pki --tsa2-days 2) expires in two days; the TSA switches to its renewed certificate
# (knob tsa2-next), and `tsbag renew` renews the archive timestamps (renew.margin_days 180 >
# two days). Time then travels by --at (a verifier refuses a genTime after its verification
# time, so the renewal is stamped at the real time); the simulator's clock moves (clock-offset)
# past the original notAfter for the late renewal. A package exported then holds each
# bag's evidence record; checked as of four days ahead (--at), after the original certificate's
# notAfter, `tsbag verify --package`, `tsbag verify` on the archive and the stand-alone
# ers-verify.py all say VALID. The record's DER is read by openssl asn1parse and its trees
# recomputed by the script (which shares no code with tsbag). Each tampering fails in both
# verifiers with its own reason: a bag byte and a token byte (object), a byte of a
# reduced-hash-tree path (root), the renewal removed (expired: the original certificate has
# expired at --at), a renewal made after the previous certificate's notAfter (late), a
# truncated record (format); the script exits 2, naming it, for a bag the package holds no
# record of, or a listing emptied of its lines; with another root as anchors both refuse every
# record (token), the script with openssl's reason. Then `tsbag renew --rehash sha512` starts a second chain, which both
# verifiers check.
. "$(dirname "$0")/lib.sh"

POLICY2=$(cat "$PKI/tsa2-policy.txt")
TSA2=(-s "tsa2.url=https://127.0.0.1:PORT/rfc3161" -s "tsa2.ca_file=$PKI/tls-ca.pem"
    -s "tsa2.trust_anchors=$PKI/tsa2-ca.pem" -s "tsa2.policy_oids=$POLICY2")
start_sim
TSA2=("${TSA2[@]/PORT/$PORT}")
start_daemon "${TSA2[@]}" -s tsa2.retry_min_ms=100 -s tsa2.retry_max_ms=400 \
    -s tsa2.min_interval_ms=10
for i in 1 2 3; do
    push 2 "b$i"
    seal
    wait_for "SELECT state FROM bags WHERE seq = $i" stamped
done
wait_for "SELECT count(*) FROM tsa2_tokens" 3
stop_daemon
TB=(-s "tsa.trust_anchors=$PKI/tsa-ca.pem" "${TSA2[@]}")
CV_ANCHORS=(--anchors "$PKI/tsa-ca.pem" --ers-anchors "$PKI/tsa2-ca.pem" --tsa2-anchors "$PKI/tsa2-ca.pem")

# a package made before any tsbag renew holds no evidence record: while the bags' tokens' TSA
# certificate (tsa.pem) is valid, tsbag verify --package holds and says "none"; as of a day after
# its notAfter nothing proves the bags, and every entry fails, its bag named with what to do
tsbag "${TB[@]}" export --out "$T/pkg0" --from 2000-01-01 --to 2100-01-01 >"$T/export0.txt" 2>&1 ||
    fail "export before tsbag renew: $(cat "$T/export0.txt")"
P=$T/pkg0
tsa_end=$(not_after "$PKI/tsa.pem")
cv 0 --at "$(iso $((tsa_end - 86400)))"
[ "$(grep -c '^Ref .*: VALID' "$T/c.txt")" = 6 ] &&
    [ "$(grep -c 'evidence record  none: no archive timestamp covers bag' "$T/c.txt")" = 6 ] ||
    fail "no record, token certificate valid: not 6 VALID with none: $(cat "$T/c.txt")"
cv 1 --at "$(iso $((tsa_end + 86400)))"
[ "$(grep -c '^Ref .*: INVALID (failed check: evidence record)' "$T/c.txt")" = 6 ] ||
    fail "no record, token certificate expired: not 6 INVALID: $(cat "$T/c.txt")"
for s in 1 2 3; do
    grep -q "evidence record  MISSING at .*: bag $s has no evidence record, and its token's TSA certificate expired on .*: run tsbag renew on the archive, then export the package again" "$T/c.txt" ||
        fail "bag $s: no MISSING line naming it and tsbag renew: $(cat "$T/c.txt")"
done
cv 1 --json --at "$(iso $((tsa_end + 86400)))"
python3 - "$T/c.txt" <<'PY' || fail "JSON of a missing record: $(cat "$T/c.txt")"
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
assert len(rs) == 6, rs
for r in rs:
    assert r["verdict"] == "INVALID" and r["failed_check"] == "evidence_record", r
    assert r["evidence_record"]["state"] == "missing", r
    assert "tsbag renew" in r["reason"], r
PY

# renew RUN-NAME [ARGS...]: tsbag renew, which must succeed (output in $T/renew-RUN-NAME.txt)
renew() {
    local name=$1
    shift
    tsbag "${TB[@]}" "$@" renew >"$T/renew-$name.txt" 2>&1 ||
        fail "tsbag renew ($name): $(cat "$T/renew-$name.txt")"
}
# the initial archive timestamps, by tsa2.pem: its two days are outside a one-day margin
renew initial -s renew.margin_days=1
[ "$(sql "SELECT count(DISTINCT seq) FROM ers_links")" = 3 ] ||
    fail "tsbag renew did not cover the 3 bags: $(cat "$T/renew-initial.txt")"
# a second run changes nothing (idempotent)
renew again -s renew.margin_days=1
[ "$(sql "SELECT count(*) FROM ers_trees")" = 1 ] || fail "a second run added a tree"
# the TSA renews its certificate, and the archive timestamps are renewed
fault tsa2-next
renew renewal
[ "$(sql "SELECT count(*) FROM ers_trees")" = 2 ] ||
    fail "tsbag renew did not renew: $(cat "$T/renew-renewal.txt")"
fault clear

end=$(not_after "$PKI/tsa2.pem")
after=$(iso $((end + 2 * 86400)))
# the archive, as of after the original certificate's notAfter
tsbag "${TB[@]}" verify --at "$after" --ref 1 >"$T/a.txt" 2>&1 || fail "verify --at on the archive: $(cat "$T/a.txt")"
grep -q "^Ref 1: VALID" "$T/a.txt" && grep -q "evidence record  VALID at " "$T/a.txt" ||
    fail "the archive's record of bag 1 does not hold at $after: $(cat "$T/a.txt")"
grep -q "2 ArchiveTimeStamps in 1 chain (sha256)" "$T/a.txt" || fail "not 2 archive timestamps: $(cat "$T/a.txt")"

# the package, made now
tsbag "${TB[@]}" export --out "$T/pkg" --from 2000-01-01 --to 2100-01-01 >"$T/export.txt" 2>&1 ||
    fail "export: $(cat "$T/export.txt")"
grep -q "with 3 evidence records (RFC 4998)" "$T/export.txt" || fail "export: $(cat "$T/export.txt")"
P=$T/pkg
for f in evidence-record-1.ers evidence-record-2.ers evidence-record-3.ers evidence-records.txt \
    ers-tsa-certs.pem ers-tsa-anchor.pem ers-verify.py tsa2-token-2.der; do
    [ -s "$P/$f" ] || fail "the package lacks $f: $(ls "$P")"
done
cmp -s "$P/ers-verify.py" "$ERS_VERIFY" || fail "the package's ers-verify.py is not tools/ers-verify.py"
grep -qx "2 evidence-record-2.ers bag-2.xml token-2.der tsa2-token-2.der" "$P/evidence-records.txt" ||
    fail "bag 2's group is not its bag and both tokens: $(cat "$P/evidence-records.txt")"
grep -q 'python3 ers-verify.py' "$P/README.txt" || fail "the README does not run the script"
fp2=$(openssl x509 -in "$PKI/tsa2-ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
grep -q "sha256 Fingerprint=$fp2" "$P/README.txt" ||
    fail "the README lacks the archive timestamps' anchor fingerprint"
# the record is DER that stock openssl reads: two archive timestamps of chain 1, each a
# digestAlgorithm [0] and a signed token; the first with its [2] reducedHashtree
openssl asn1parse -inform DER -in "$P/evidence-record-2.ers" >"$T/asn1.txt" 2>&1 ||
    fail "openssl asn1parse rejects the record: $(cat "$T/asn1.txt")"
[ "$(grep -c 'pkcs7-signedData' "$T/asn1.txt")" = 2 ] && grep -q 'cont \[ 2 \]' "$T/asn1.txt" &&
    grep -q 'sha256' "$T/asn1.txt" || fail "unexpected record structure: $(cat "$T/asn1.txt")"
# the trees recomputed by the independent script (every list printed, every root compared)
pyv 0 --dump --at "$after"
[ "$(grep -c ': VALID at ' "$T/v.txt")" = 3 ] || fail "the script: not 3 VALID: $(cat "$T/v.txt")"
grep -q 'partial hash tree 1' "$T/v.txt" || fail "--dump shows no partial hash tree"
cv 0 --at "$after"
[ "$(grep -c 'evidence record  VALID at ' "$T/c.txt")" -ge 3 ] || fail "tsbag: $(cat "$T/c.txt")"
# now (before the notAfter) both hold too; a day before the renewal, without it... below
cv 0
pyv 0

TSEQ=2
NOTHERS=2
cp "$P/evidence-record-2.ers" "$T/good-2.ers"
tamper_common "$after"
restore
# a renewal made after the original certificate's notAfter (the TSA's clock a day past it)
python3 "$ER_TOOL" token "$T/good-2.ers" 1 1 >"$T/ats1.tok"
fault tsa2-next
fault clock-offset=$((end - $(date +%s) + 86400))
stamp_digest "$(python3 "$ER_TOOL" hash sha256 "$T/ats1.tok")" "$T/late.tok"
fault clear
python3 "$ER_TOOL" ats sha256 "$T/late.tok" >"$T/late.der"
python3 "$ER_TOOL" replace "$T/good-2.ers" 1 2 "$T/late.der" >"$P/evidence-record-2.ers"
both late 'chain 1, ArchiveTimeStamp 2 was made at .*, after the TSA certificate of chain 1, ArchiveTimeStamp 1 expired' '' "$after"
restore
# a truncated record
head -c 300 "$T/good-2.ers" >"$P/evidence-record-2.ers"
both format 'malformed DER at offset 0: the element needs' '' "$after"
restore
pyv 0 --at "$after"
cv 0 --at "$after"
# the script never reports success for a record the package does not hold: a bag asked for
# that the listing does not name, or a listing emptied of its lines, is exit 2 naming it
pyv 2 --at "$after" 2 9
grep -q "lists no evidence record for bag 9: check the bag SequenceNumbers" "$T/v.txt" ||
    fail "ers-verify.py on bag 9 (no record): $(cat "$T/v.txt")"
grep -q ": VALID at " "$T/v.txt" && fail "ers-verify.py checked records before refusing: $(cat "$T/v.txt")"
cp "$P/evidence-records.txt" "$T/listing.txt"
grep '^#' "$T/listing.txt" >"$P/evidence-records.txt" || :
pyv 2 --at "$after"
grep -q "lists no evidence record for any bag" "$T/v.txt" ||
    fail "ers-verify.py on an emptied listing: $(cat "$T/v.txt")"
cp "$T/listing.txt" "$P/evidence-records.txt"
pyv 0 --at "$after"
# an anchors file swapped (here the eHealth TSA's root): every record fails (token) in both, the
# script giving openssl's reason and naming the anchors to obtain from the TSA
cp "$P/ers-tsa-anchor.pem" "$T/ers-anchor.pem"
cp "$PKI/tsa-ca.pem" "$P/ers-tsa-anchor.pem"
pyv 1 --at "$after"
[ "$(grep -c "INVALID (token): chain 1, ArchiveTimeStamp 1: its token .* fails openssl ts -verify at its genTime: Verify error:.* (the trust anchors .*ers-tsa-anchor.pem must be the archive timestamps' TSA's root, obtained from that TSA: give it with --anchors FILE)" "$T/v.txt")" = 3 ] ||
    fail "the script with swapped anchors: $(cat "$T/v.txt")"
cp "$T/ers-anchor.pem" "$P/ers-tsa-anchor.pem"
cv 1 --at "$after" --ers-anchors "$PKI/tsa-ca.pem"
[ "$(grep -c 'evidence record  INVALID (token) at .*certificate chain at genTime' "$T/c.txt")" -ge 3 ] ||
    fail "tsbag verify with the wrong archive timestamps' anchors: $(cat "$T/c.txt")"

# hash-tree renewal (RFC 4998 section 5.2, --rehash sha512): a second chain; both verifiers check
# it (the data objects rehashed with the first chain's sequence) as of after the notAfter
fault tsa2-next # the TSA's current certificate (the late renewal above cleared the knobs)
tsbag "${TB[@]}" renew --rehash sha512 >"$T/renew-rehash.txt" 2>&1 ||
    fail "tsbag renew --rehash sha512: $(cat "$T/renew-rehash.txt")"
tsbag "${TB[@]}" export --out "$T/pkg-rehash" --ref 1 >"$T/export-rehash.txt" 2>&1 ||
    fail "export after --rehash: $(cat "$T/export-rehash.txt")"
P=$T/pkg-rehash
pyv 0 --at "$after"
grep -q "evidence-record-1.ers: VALID at .*: 3 ArchiveTimeStamps in 2 chains" "$T/v.txt" ||
    fail "the script on the rehashed record: $(cat "$T/v.txt")"
cv 0 --at "$after"
grep -q "evidence record  VALID at .*: 3 ArchiveTimeStamps in 2 chains (sha512)" "$T/c.txt" ||
# grep reads all of it: grep -q would stop early and, under pipefail, asn1parse's SIGPIPE fail the test
    fail "tsbag on the rehashed record: $(cat "$T/c.txt")"
openssl asn1parse -inform DER -in "$P/evidence-record-1.ers" | grep sha512 >/dev/null ||
    fail "the rehashed record names no sha512"
stop_sim
pass
