#!/usr/bin/env bash
# integration.ers_script: tools/ers-verify.py, the stand-alone verifier shipped in every package,
# on evidence records built here by hand (er_tool.py, from RFC 4998's ASN.1) over tokens of the
# simulator's /rfc3161: three bags in one tree, stamped by tsa2.pem (expires in two days), the
# tree's timestamp renewed an hour later by tsa2-next.pem. Four days ahead, after tsa2.pem's
# notAfter, the record still holds; each tampering fails with its own reason: a bag byte
# (object), a token byte (object), a hash of the reduced tree (root), the renewal removed
# (expired), a renewal made after tsa2.pem expired (late), a truncated record (format), and a
# record whose group holds an object its line does not name (group). The DER is checked
# with openssl asn1parse.
. "$(dirname "$0")/lib.sh"

ER_TOOL=$SRC/tests/integration/ers/er_tool.py
start_sim
P=$T/pkg
mkdir -p "$P"
cp "$PKI/tsa2-ca.pem" "$P/tsa-anchor.pem"
cp "$PKI/tsa2-ca.pem" "$P/ers-tsa-anchor.pem"
cat "$PKI/tsa2.pem" "$PKI/tsa2-next.pem" >"$P/ers-tsa-certs.pem"
groups=()
for s in 1 2 3; do
    printf '<TimeStampBag SequenceNumber="%s">bag %s</TimeStampBag>' "$s" "$s" >"$P/bag-$s.xml"
    stamp2 "$P/bag-$s.xml" "$P/token-$s.der"
    cp "$PKI/tsa2.pem" "$P/chain-$s.pem"
    groups+=("$P/bag-$s.xml,$P/token-$s.der")
done
mkdir -p "$T/w"
root=$(python3 "$ER_TOOL" tree sha256 "$T/w" "${groups[@]}") || fail "er_tool tree"
# the initial archive timestamp over the tree's root
stamp_digest() { # HEX OUT
    openssl ts -query -digest "$1" -sha256 -cert -out "$T/q.tsq" 2>/dev/null || fail "ts -query"
    curl -sS --cacert "$PKI/tls-ca.pem" -H 'Content-Type: application/timestamp-query' \
        --data-binary "@$T/q.tsq" -o "$T/r.tsr" "https://127.0.0.1:$PORT/rfc3161" || fail "POST"
    openssl ts -reply -in "$T/r.tsr" -token_out -out "$2" 2>/dev/null || fail "no token"
}
stamp_digest "$root" "$T/w/ats1.tok"
# the renewal: one leaf, H(the first ATS's timeStamp field), no reduced hash tree
fault tsa2-next
fault clock-offset=3600
stamp_digest "$(python3 "$ER_TOOL" hash sha256 "$T/w/ats1.tok")" "$T/w/ats2.tok"
python3 "$ER_TOOL" ats sha256 "$T/w/ats2.tok" >"$T/w/ats2.der"
: >"$P/evidence-records.txt"
for s in 1 2 3; do
    python3 "$ER_TOOL" ats sha256 "$T/w/ats1.tok" "$T/w/rht-$s.der" >"$T/w/ats1-$s.der"
    python3 "$ER_TOOL" record "$T/w/ats1-$s.der,$T/w/ats2.der" >"$P/evidence-record-$s.ers"
    echo "$s evidence-record-$s.ers bag-$s.xml token-$s.der" >>"$P/evidence-records.txt"
done
cp "$P/evidence-record-2.ers" "$T/good-2.ers"

# structure: stock openssl reads the record as DER
openssl asn1parse -inform DER -in "$P/evidence-record-2.ers" >"$T/asn1.txt" 2>&1 ||
    fail "openssl asn1parse rejects the record: $(cat "$T/asn1.txt")"
grep -q 'sha256' "$T/asn1.txt" && grep -q 'pkcs7-signedData' "$T/asn1.txt" && grep -q 'cont \[ 2 \]' "$T/asn1.txt" ||
    fail "the record lacks its algorithm, tokens or [2] reducedHashtree: $(cat "$T/asn1.txt")"

end=$(not_after "$PKI/tsa2.pem")
after=$(iso $((end + 2 * 86400)))
before=$(iso $((end - 3600)))
verify() { # EXPECTED-EXIT [ARGS...]: runs the script, output in $T/v.txt
    local want=$1 rc=0
    shift
    python3 "$ERS_VERIFY" "$P" "$@" >"$T/v.txt" 2>&1 || rc=$?
    [ "$rc" = "$want" ] || fail "ers-verify.py $*: exit $rc, expected $want: $(cat "$T/v.txt")"
}
verify 0 --at "$after"
[ "$(grep -c ': VALID at ' "$T/v.txt")" = 3 ] || fail "not 3 VALID records: $(cat "$T/v.txt")"
grep -q '2 ArchiveTimeStamps in 1 chain' "$T/v.txt" || fail "the chain is not reported: $(cat "$T/v.txt")"
verify 0 --dump --at "$after" 2
grep -q 'partial hash tree 2' "$T/v.txt" || fail "--dump shows no second partial hash tree"

# expect_invalid KIND TEXT: bag 2's record fails with that reason (the others still hold)
expect_invalid() {
    verify 1 --at "$after"
    grep -q "^evidence-record-2.ers: INVALID ($1): .*$2" "$T/v.txt" ||
        fail "expected INVALID ($1) '$2' for bag 2: $(cat "$T/v.txt")"
    [ "$(grep -c ': VALID at ' "$T/v.txt")" = 2 ] || fail "the other records no longer hold"
}
restore() { cp "$T/good-2.ers" "$P/evidence-record-2.ers"; }

# a changed bag byte
cp "$P/bag-2.xml" "$T/bag-2.xml"
printf 'X' | dd of="$P/bag-2.xml" bs=1 seek=5 conv=notrunc 2>/dev/null
expect_invalid object 'the sha256 of bag-2.xml .* is not in its first partial hash tree'
cp "$T/bag-2.xml" "$P/bag-2.xml"
# a changed token byte (the last byte: inside the signature)
cp "$P/token-2.der" "$T/token-2.der"
sz=$(stat -c %s "$P/token-2.der")
printf '\x00' | dd of="$P/token-2.der" bs=1 seek=$((sz - 1)) conv=notrunc 2>/dev/null
cmp -s "$P/token-2.der" "$T/token-2.der" && printf '\x01' | dd of="$P/token-2.der" bs=1 seek=$((sz - 1)) conv=notrunc 2>/dev/null
expect_invalid object 'the sha256 of token-2.der .* is not in its first partial hash tree'
cp "$T/token-2.der" "$P/token-2.der"
# a changed byte of the reduced hash tree's path (second list: the sibling node)
python3 "$ER_TOOL" flip-hash "$T/good-2.ers" 1 1 2 1 >"$P/evidence-record-2.ers"
expect_invalid root 'chain 1, ArchiveTimeStamp 1: the root computed from its reduced hash tree'
restore
# the renewal removed: at $after only tsa2.pem's timestamp is left, and it has expired
python3 "$ER_TOOL" drop "$T/good-2.ers" 1 2 >"$P/evidence-record-2.ers"
expect_invalid expired 'the latest ArchiveTimeStamp (chain 1, ArchiveTimeStamp 1, .*) has a TSA certificate that is not valid at'
verify 0 --at "$before" 2 # before the notAfter, the initial timestamp alone holds
restore
# a renewal made after tsa2.pem's notAfter (the simulator's clock a day past it)
fault clock-offset=$((end - $(date +%s) + 86400))
stamp_digest "$(python3 "$ER_TOOL" hash sha256 "$T/w/ats1.tok")" "$T/w/late.tok"
python3 "$ER_TOOL" ats sha256 "$T/w/late.tok" >"$T/w/late.der"
python3 "$ER_TOOL" replace "$T/good-2.ers" 1 2 "$T/w/late.der" >"$P/evidence-record-2.ers"
expect_invalid late 'chain 1, ArchiveTimeStamp 2 was made at .*, after the TSA certificate of chain 1, ArchiveTimeStamp 1 expired'
restore
# a truncated record
head -c 200 "$T/good-2.ers" >"$P/evidence-record-2.ers"
expect_invalid format 'malformed DER at offset 0: the element needs'
restore
# the group holds a third object (say a second token) that the line does not name: a first list
# must be exactly the group's hashes
printf 'another object' >"$T/w/extra"
mkdir -p "$T/w3"
root3=$(python3 "$ER_TOOL" tree sha256 "$T/w3" "${groups[0]}" "$P/bag-2.xml,$P/token-2.der,$T/w/extra") ||
    fail "er_tool tree"
fault clear
stamp_digest "$root3" "$T/w3/ats.tok"
python3 "$ER_TOOL" ats sha256 "$T/w3/ats.tok" "$T/w3/rht-2.der" >"$T/w3/ats.der"
python3 "$ER_TOOL" record "$T/w3/ats.der" >"$P/evidence-record-2.ers"
verify 1 --at "$before"
grep -q "^evidence-record-2.ers: INVALID (group): chain 1, ArchiveTimeStamp 1: its first partial hash tree holds 3 hash values, the 2 data objects" "$T/v.txt" ||
    fail "expected INVALID (group) for bag 2: $(cat "$T/v.txt")"
restore
verify 0 --at "$after"
stop_sim
pass
