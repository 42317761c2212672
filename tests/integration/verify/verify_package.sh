#!/usr/bin/env bash
# integration.verify_package: `tsbag export` writes an evidence package that stands on its own:
# moved to another folder with the archive gone, `tsbag verify --package` says VALID and every
# stock-tool command of its README (extracted from the README itself, run as an auditor would)
# succeeds; each tampering (document, bag, token, chain file, trust anchor) gives its own tsbag
# failure and makes the README's matching command fail.
. "$(dirname "$0")/lib.sh"
cd "$T"

. "$(dirname "$0")/../../lib/readme.sh"

# ---- export, move elsewhere, drop the archive ----
expect_rc 0 tsb export --out "$T/pkg" --tar doc1.txt
expect_line "wrote the evidence package $T/pkg: 1 entry in 1 bag"
for f in README.txt entries.txt bag-1.xml token-1.der chain-1.pem tsa-anchor.pem; do
    [ -s "$T/pkg/$f" ] || fail "the package lacks $f"
done
[ -s "$T/pkg.tar" ] || fail "no $T/pkg.tar"
mkdir "$T/laptop"
cp -r "$T/pkg" "$T/laptop/evidence"
cp "$PKI/tsa-ca.pem" "$T/laptop/ehealth-root.pem"
cp doc1.txt "$T/laptop/prescription.txt"
mv "$T/archive.db" "$T/archive.away"
rm -f "$T"/archive.db-*
L=$T/laptop
[ "$(cmp "$L/evidence/bag-1.xml" <(sqlite3 "$T/archive.away" "SELECT CAST($(bag_bytes_sql 1) AS TEXT)" | head -c -1) && echo same)" = same ] ||
    fail "bag-1.xml is not the archived bag's exact bytes"

# tsbag, offline, with no configuration and no archive (the anchor given explicitly)
pv() { "$TSBAG" -s "general.state_dir=$L/none" verify --package "$@"; }
expect_rc 0 pv "$L/evidence" --anchors "$L/ehealth-root.pem" "$L/prescription.txt"
golden package-valid.txt "$T/out"
expect_line "prescription.txt: VALID"
expect_line "ok       package certificate file: holds the verified chain (2 certificates)"
expect_line "ok       document hash"
expect_rc 0 pv "$L/evidence" --anchors "$L/ehealth-root.pem"
expect_line "Ref 1: VALID"
expect_rc 2 pv "$L/evidence" "$L/prescription.txt"
grep -q "from eHealth, not from the package" "$T/err" || fail "no advice on trust anchors"

# the README, run as written, on the good package
readme_run "$L/evidence" "$L/prescription.txt"
if grep -v '^0 ' "$T/readme.status" >&2; then
    cat "$T/readme.out" >&2
    fail "a README command failed on the good package"
fi
grep -q "Verification: OK" "$T/readme.out" || fail "openssl ts -verify did not say OK"
grep -q "chain-1.pem: OK" "$T/readme.out" || fail "openssl verify did not say OK"
grep -q "prescription.txt: OK" "$T/readme.out" || fail "sha256sum -c did not say OK"
grep -qx 1 "$T/readme.out" || fail "grep -c did not print 1"
fp=$(openssl x509 -in "$PKI/tsa-ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
grep -q "sha256 Fingerprint=$fp" "$L/evidence/README.txt" || fail "README lacks the anchor fingerprint"
grep -q "openssl ts -verify -data bag-1.xml -in token-1.der -token_in -CAfile tsa-anchor.pem" \
    "$L/evidence/README.txt" || fail "README lacks the openssl ts -verify command"

# the single-file package is the same folder
mkdir "$T/untar" && tar -xf "$T/pkg.tar" -C "$T/untar" || fail "cannot unpack pkg.tar"
diff -r "$T/pkg" "$T/untar/pkg" >&2 || fail "pkg.tar differs from the folder"

# tamper COPYNAME: a fresh copy of the good package to alter; prints its path.
tamper() {
    rm -rf "$T/t-$1"
    cp -r "$L/evidence" "$T/t-$1"
    echo "$T/t-$1"
}

# ---- one byte of the document ----
cp "$L/prescription.txt" "$T/altered.txt"
flip_byte "$T/altered.txt" 10
expect_rc 1 pv "$L/evidence" --anchors "$L/ehealth-root.pem" "$T/altered.txt"
expect_line "altered.txt: INVALID (failed check: document hash)"
expect_line "What it means: The document you gave is not the one that was stamped"
readme_run "$L/evidence" "$T/altered.txt"
readme_fails "sha256sum -c"

# ---- one byte of the bag (another entry's hash, so the XML stays well-formed) ----
p=$(tamper bag)
h2=$(sha doc2.txt)
sed -i "s/$h2/$(flip_hex "$h2")/" "$p/bag-1.xml"
[ "$(stat -c %s "$p/bag-1.xml")" = "$(stat -c %s "$L/evidence/bag-1.xml")" ] || fail "sed changed the size"
expect_rc 1 pv "$p" --anchors "$L/ehealth-root.pem" "$L/prescription.txt"
golden package-invalid-bag.txt "$T/out"
expect_line "prescription.txt: INVALID (failed check: messageImprint)"
readme_run "$p" "$L/prescription.txt"
readme_fails "openssl ts -verify"

# ---- one byte of the token (its signature) ----
p=$(tamper token)
flip_byte "$p/token-1.der" -1
expect_rc 1 pv "$p" --anchors "$L/ehealth-root.pem" "$L/prescription.txt"
expect_line "prescription.txt: INVALID (failed check: CMS signature)"
readme_run "$p" "$L/prescription.txt"
readme_fails "openssl ts -verify"

# ---- one character of the chain file (inside the TSA certificate) ----
p=$(tamper chain)
line=$(sed -n 10p "$p/chain-1.pem")
c=${line:20:1}
[ "$c" = A ] && n=B || n=A
sed -i "10s/^\(.\{20\}\)./\1$n/" "$p/chain-1.pem"
cmp -s "$p/chain-1.pem" "$L/evidence/chain-1.pem" && fail "the chain file did not change"
expect_rc 1 pv "$p" --anchors "$L/ehealth-root.pem" "$L/prescription.txt"
golden package-invalid-chain.txt "$T/out"
expect_line "prescription.txt: INVALID (failed check: package certificate file)"
readme_run "$p" "$L/prescription.txt"
grep -q '^[1-9][0-9]* openssl verify' "$T/readme.status" || fail "openssl verify accepted the chain"
readme_fails "openssl (ts -)?verify"

# ---- the wrong trust anchor ----
expect_rc 1 pv "$L/evidence" --anchors "$PKI/unknown-ca.pem" "$L/prescription.txt"
expect_line "prescription.txt: INVALID (failed check: certificate chain at genTime)"
p=$(tamper anchor)
cp "$PKI/unknown-ca.pem" "$p/tsa-anchor.pem"
readme_run "$p" "$L/prescription.txt"
grep -v '^0 ' "$T/readme.status" | grep -q "openssl ts -verify" ||
    fail "openssl ts -verify accepted the wrong anchor"
grep -q "sha256 Fingerprint=$fp" "$T/readme.out" && fail "the wrong anchor printed eHealth's fingerprint"

# ---- export refuses what is not VALID, and existing folders ----
mv "$T/archive.away" "$T/archive.db"
expect_rc 1 tsb export --out "$T/pkg4" --ref 4
grep -q "NOT YET STAMPED" "$T/err" || fail "export did not say why"
[ -e "$T/pkg4" ] && fail "export wrote a package for an unstamped entry"
expect_rc 2 tsb export --out "$T/pkg" --ref 1
grep -q "already exists" "$T/err" || fail "export overwrote a folder"
expect_rc 2 tsb export --ref 1

# ---- several entries and bags' worth: a period export verifies entry by entry ----
expect_rc 0 tsb export --out "$T/day" --ref 1 --ref 2 --ref 3
expect_rc 0 "$TSBAG" verify --package "$T/day" --anchors "$PKI/tsa-ca.pem" --json
grep -q '"summary": {"valid": 3, "invalid": 0, "not_found": 0, "not_yet_stamped": 0}' "$T/out" ||
    fail "the 3-entry package does not verify"
readme_run "$T/day" "$T/doc1.txt"
[ "$(grep -c '^0 .*sha256sum' "$T/readme.status")" = 1 ] || fail "doc1 matched other than once"
[ "$(grep -c '^0 .*grep -c' "$T/readme.status")" = 3 ] || fail "grep steps failed"

# ---- a token signed with RSASSA-PSS under the TSA's rsaEncryption key (RFC 4056) ----
# VALID, and beyond openssl ts -verify: the README checks it with openssl cms instead
db=$(copy_db pss)
sqlite3 "$db" "SELECT writefile('$T/tok1.der', token) FROM bags WHERE seq = 1;" >/dev/null
"${TSB_RESIGN:?}" "$T/tok1.der" "$PKI/tsa.pem" "$PKI/tsa.key" "$T/pss.der" pss ||
    fail "cannot re-sign the token with RSASSA-PSS"
sql_tamper "$db" "UPDATE bags SET token = readfile('$T/pss.der') WHERE seq = 1;"
DB=$db expect_rc 0 tsb export --out "$T/pss" --ref 1
expect_rc 0 pv "$T/pss" --anchors "$PKI/tsa-ca.pem" "$T/doc1.txt"
expect_line "doc1.txt: VALID"
expect_line "the signature (RSASSA-PSS with SHA-256) matches the token content"
grep -q '^    \$ openssl ts -verify' "$T/pss/README.txt" &&
    fail "the PSS package's README gives openssl ts -verify, which cannot check it"
readme_run "$T/pss" "$T/doc1.txt"
if grep -v '^0 ' "$T/readme.status" >&2; then
    cat "$T/readme.out" >&2
    fail "a README command failed on the PSS package"
fi
grep -q "CMS Verification successful" "$T/readme.out" || fail "openssl cms -verify did not succeed"
# the imprint step is a real check: another entry's hash altered in the bag makes it fail
p=$T/pss-bag
cp -r "$T/pss" "$p"
rm -f "$p"/tstinfo-*.der
sed -i "s/$h2/$(flip_hex "$h2")/" "$p/bag-1.xml"
readme_run "$p" "$T/doc1.txt"
readme_fails "openssl asn1parse"
pass
