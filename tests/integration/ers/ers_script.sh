#!/usr/bin/env bash
# integration.ers_script: the two verifiers of evidence records, tools/ers-verify.py (Python
# standard library + openssl, shipped in every package) and tsbag verify --package (ers.c), on
# records built here by hand from RFC 4998's ASN.1 (er_tool.py), over a real package: three bags
# stamped by tsbagd through the simulator, exported, each bag and its eHealth token a data object
# group of one tree stamped by the simulator's /rfc3161 with tsa2.pem (it expires in two days),
# the tree's timestamp renewed with tsa2-next.pem. Four days ahead, after tsa2.pem's
# notAfter, both say VALID; each tampering fails in both with the same kind: a bag byte and a
# token byte (object), a hash of the reduced tree (root), the renewal removed (expired), a
# renewal made after tsa2.pem expired (late), a truncated record (format), and a group holding
# an object its line does not name (group). The DER is checked with openssl asn1parse. Then the
# same trees are filed in the archive as tsbag renew files them: tsbag export assembles (ers.c)
# records byte for byte equal to er_tool.py's, and tsbag verify --at checks them from the archive.
. "$(dirname "$0")/lib.sh"

CV_ANCHORS=(--anchors "$PKI/tsa-ca.pem" --ers-anchors "$PKI/tsa2-ca.pem")
TSEQ=2    # the bag whose record is tampered with
NOTHERS=2 # the records that keep holding
start_sim
start_daemon
for i in 1 2 3; do
    push 1 "b$i"
    seal
    wait_for "SELECT state FROM bags WHERE seq = $i" stamped
done
stop_daemon
tsbag -s "tsa.trust_anchors=$PKI/tsa-ca.pem" export --out "$T/pkg" --from 2000-01-01 \
    --to 2100-01-01 >"$T/export.txt" 2>&1 || fail "export: $(cat "$T/export.txt")"
P=$T/pkg
[ -s "$P/bag-3.xml" ] && [ -s "$P/token-3.der" ] || fail "the package lacks bag 3: $(ls "$P")"

mkdir -p "$T/w"
root=$(python3 "$ER_TOOL" tree sha256 "$T/w" "$P/bag-1.xml,$P/token-1.der" \
    "$P/bag-2.xml,$P/token-2.der" "$P/bag-3.xml,$P/token-3.der") || fail "er_tool tree"
stamp_digest "$root" "$T/w/ats1.tok"
# the renewal: one leaf, H(the first archive timestamp's timeStamp field), no reduced hash tree,
# by the TSA's renewed certificate (not later than now: a verifier refuses a genTime after its
# verification time, so the simulator's clock moves only for the late renewal below)
fault tsa2-next
stamp_digest "$(python3 "$ER_TOOL" hash sha256 "$T/w/ats1.tok")" "$T/w/ats2.tok"
python3 "$ER_TOOL" ats sha256 "$T/w/ats2.tok" >"$T/w/ats2.der"
echo "# records built by er_tool.py" >"$P/evidence-records.txt"
for s in 1 2 3; do
    python3 "$ER_TOOL" ats sha256 "$T/w/ats1.tok" "$T/w/rht-$s.der" >"$T/w/ats1-$s.der"
    python3 "$ER_TOOL" record "$T/w/ats1-$s.der,$T/w/ats2.der" >"$P/evidence-record-$s.ers"
    echo "$s evidence-record-$s.ers bag-$s.xml token-$s.der" >>"$P/evidence-records.txt"
done
cp "$PKI/tsa2-ca.pem" "$P/ers-tsa-anchor.pem"
cat "$PKI/tsa2.pem" "$PKI/tsa2-next.pem" >"$P/ers-tsa-certs.pem"
cp "$P/evidence-record-2.ers" "$T/good-2.ers"

openssl asn1parse -inform DER -in "$P/evidence-record-2.ers" >"$T/asn1.txt" 2>&1 ||
    fail "openssl asn1parse rejects the record: $(cat "$T/asn1.txt")"
grep -q 'sha256' "$T/asn1.txt" && grep -q 'pkcs7-signedData' "$T/asn1.txt" &&
    grep -q 'cont \[ 2 \]' "$T/asn1.txt" ||
    fail "the record lacks its algorithm, tokens or [2] reducedHashtree: $(cat "$T/asn1.txt")"

end=$(not_after "$PKI/tsa2.pem")
after=$(iso $((end + 2 * 86400)))
before=$(iso $((end - 3600)))
pyv 0 --at "$after"
[ "$(grep -c ': VALID at ' "$T/v.txt")" = 3 ] || fail "not 3 VALID records: $(cat "$T/v.txt")"
grep -q '2 ArchiveTimeStamps in 1 chain' "$T/v.txt" || fail "the chain is not reported: $(cat "$T/v.txt")"
pyv 0 --dump --at "$after" 2
grep -q 'partial hash tree 2' "$T/v.txt" || fail "--dump shows no second partial hash tree"
cv 0 --at "$after"
[ "$(grep -c 'evidence record  VALID at .*: 2 ArchiveTimeStamps in 1 chain (sha256)' "$T/c.txt")" = 3 ] ||
    fail "tsbag does not say VALID for the 3 records: $(cat "$T/c.txt")"

tamper_common "$after"
pyv 0 --at "$before" 2 # before the notAfter, the initial timestamp alone holds
cv 0 --at "$before"
restore
# a renewal made after tsa2.pem's notAfter (the simulator's clock a day past it)
fault clock-offset=$((end - $(date +%s) + 86400))
stamp_digest "$(python3 "$ER_TOOL" hash sha256 "$T/w/ats1.tok")" "$T/w/late.tok"
python3 "$ER_TOOL" ats sha256 "$T/w/late.tok" >"$T/w/late.der"
python3 "$ER_TOOL" replace "$T/good-2.ers" 1 2 "$T/w/late.der" >"$P/evidence-record-2.ers"
both late 'chain 1, ArchiveTimeStamp 2 was made at .*, after the TSA certificate of chain 1, ArchiveTimeStamp 1 expired' '' "$after"
restore
# a truncated record
head -c 200 "$T/good-2.ers" >"$P/evidence-record-2.ers"
both format 'malformed DER at offset 0: the element needs' '' "$after"
restore
# the group holds a third object (say a second token) that the line does not name: a first list
# must be exactly the group's hashes
printf 'another object' >"$T/w/extra"
mkdir -p "$T/w3"
root3=$(python3 "$ER_TOOL" tree sha256 "$T/w3" "$P/bag-1.xml,$P/token-1.der" \
    "$P/bag-2.xml,$P/token-2.der,$T/w/extra") || fail "er_tool tree"
fault clear
stamp_digest "$root3" "$T/w3/ats.tok"
python3 "$ER_TOOL" ats sha256 "$T/w3/ats.tok" "$T/w3/rht-2.der" >"$T/w3/ats.der"
python3 "$ER_TOOL" record "$T/w3/ats.der" >"$P/evidence-record-2.ers"
both group 'chain 1, ArchiveTimeStamp 1: its first partial hash tree holds 3 hash values, the 2 data objects' '' "$before"
restore
# damaged anywhere, a record is refused with a reason by both, never with a crash
sz=$(stat -c %s "$T/good-2.ers")
for off in 0 1 4 40 400 $((sz / 2)) $((sz - 1)); do
    python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[int(sys.argv[3])]^=0x80; open(sys.argv[2],"wb").write(b)' \
        "$T/good-2.ers" "$P/evidence-record-2.ers" "$off"
    for v in pyv cv; do
        "$v" 1 --at "$after"
        out=$([ "$v" = pyv ] && cat "$T/v.txt" || cat "$T/c.txt")
        grep -q "INVALID (" <<<"$out" && ! grep -q "Traceback" <<<"$out" ||
            fail "$v: a record damaged at byte $off: $out"
    done
done
restore
pyv 0 --at "$after"
cv 0 --at "$after"
stop_sim

# The same trees filed in the archive (ers_trees, ers_links) as tsbag renew files them: tsbag export then
# assembles each bag's record with ers.c, byte for byte the one er_tool.py wrote, and tsbag verify
# checks it from the archive.
tree_row() { # ID KIND LEAVES ROOT-HEX TOKEN NOT-AFTER-S
    local serial
    serial=$(openssl ts -reply -in "$5" -token_in -text 2>/dev/null | sed -n 's/^Serial number: //p')
    sql "INSERT INTO ers_trees VALUES ($1, '$2', 'sha256', $3, 'https://127.0.0.1/rfc3161',
         '$serial', 'tsbag Development Second Time Stamping Authority', $(($(gen_time "$5") * 1000)),
         $(($6 * 1000)), $(($(date +%s) * 1000)), x'$4', readfile('$5'))"
}
tree_row 1 initial 3 "$root" "$T/w/ats1.tok" "$end"
tree_row 2 renewal 1 "$(python3 "$ER_TOOL" hash sha256 "$T/w/ats1.tok")" "$T/w/ats2.tok" \
    "$(not_after "$PKI/tsa2-next.pem")"
for s in 1 2 3; do
    sql "INSERT INTO ers_links VALUES ($s, 1, 1, 1, 'bag,token', readfile('$T/w/rht-$s.der'))"
    sql "INSERT INTO ers_links VALUES ($s, 1, 2, 2, 'bag,token', x'3000')"
done
tsbag -s "tsa.trust_anchors=$PKI/tsa-ca.pem" export --ers-anchors "$PKI/tsa2-ca.pem" \
    --out "$T/pkg2" --from 2000-01-01 --to 2100-01-01 >"$T/export2.txt" 2>&1 ||
    fail "export with records: $(cat "$T/export2.txt")"
grep -q "with 3 evidence records (RFC 4998)" "$T/export2.txt" || fail "export: $(cat "$T/export2.txt")"
for s in 1 2 3; do
    cmp "$T/pkg2/evidence-record-$s.ers" "$P/evidence-record-$s.ers" >&2 ||
        fail "ers.c's record of bag $s differs from er_tool.py's"
done
cmp -s "$T/pkg2/evidence-records.txt" "$P/evidence-records.txt" && fail "the listing kept er_tool's comment"
P=$T/pkg2
pyv 0 --at "$after"
cv 0 --at "$after"
# --json: each result's evidence_record; without the renewal, as of after the notAfter, the
# entries of bag 2 are INVALID with failed_check evidence_record (their own checks pass)
cv 0 --json --at "$after"
python3 - "$T/c.txt" <<'PY' || fail "JSON evidence_record: $(cat "$T/c.txt")"
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
assert rs and all(r["evidence_record"]["verdict"] == "VALID" for r in rs), rs
assert rs[0]["evidence_record"]["archive_timestamps"] == 2, rs[0]
PY
cp "$P/evidence-record-2.ers" "$T/keep-2.ers"
python3 "$ER_TOOL" drop "$T/keep-2.ers" 1 2 >"$P/evidence-record-2.ers"
cv 1 --json --at "$after"
python3 - "$T/c.txt" <<'PY' || fail "JSON of the expired record: $(cat "$T/c.txt")"
import json, sys
rs = [r for r in json.load(open(sys.argv[1]))["results"] if r["bag_sequence"] == 2]
assert rs, "no entry of bag 2"
for r in rs:
    assert r["verdict"] == "INVALID" and r["failed_check"] == "evidence_record", r
    assert r["evidence_record"]["fail"] == "expired", r
    assert all(c["outcome"] == "pass" for c in r["checks"]), r
PY
cp "$T/keep-2.ers" "$P/evidence-record-2.ers"
tsbag -s "tsa.trust_anchors=$PKI/tsa-ca.pem" verify --ers-anchors "$PKI/tsa2-ca.pem" --at "$after" \
    --ref 2 >"$T/a.txt" 2>&1 || fail "verify --at on the archive: $(cat "$T/a.txt")"
grep -q "evidence record  VALID at .*: 2 ArchiveTimeStamps in 1 chain (sha256)" "$T/a.txt" ||
    fail "the archive's record of bag 2: $(cat "$T/a.txt")"
# --at without the archive timestamps' anchors (none configured here) is a usage error
rc=0
tsbag -s "tsa.trust_anchors=$PKI/tsa-ca.pem" verify --at "$after" --ref 2 >"$T/a.txt" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q -- "--at checks the evidence records, which need" "$T/a.txt" ||
    fail "--at without the archive timestamps' anchors: exit $rc: $(cat "$T/a.txt")"
pass
