#!/usr/bin/env bash
# integration.verify_cli: `tsbag verify` against a real archive (store API, real openssl ts
# tokens): golden outputs for each verdict, exit codes, --json, a period, and the tampering
# matrix (document, bag, token, stored content, wrong trust anchor, a token from another TSA),
# each giving its own failure.
. "$(dirname "$0")/lib.sh"
cd "$T"

# ---- each verdict, golden ----
expect_rc 0 tsb verify doc1.txt
golden valid.txt "$T/out"
expect_line "doc1.txt: VALID"
expect_line "TSA certificate  /C=BE/O=tsbag development/CN=tsbag Development Time Stamping Authority"
expect_line "stamped (local)"

expect_rc 0 tsb verify --json doc1.txt
golden valid.json "$T/out"

# the stamp time in Europe/Brussels is the UTC time shifted by the tz database's offset
utc=$(sed -n 's/.*"gen_time_utc": "\([^"]*\)".*/\1/p' "$T/out")
loc=$(sed -n 's/.*"gen_time_local": "\([^ ]* [^ .]*\).*/\1/p' "$T/out")
[ -n "$utc" ] && [ -n "$loc" ] || fail "no genTime in the JSON output"
want=$(TZ=Europe/Brussels date -d "${utc%.*}Z" '+%Y-%m-%d %H:%M:%S')
[ "$loc" = "$want" ] || fail "local time '$loc' is not '$want' (date(1), tz database)"

expect_rc 0 tsb verify --hash "$(sha doc2.txt)" --ref 3
expect_line "hash $(sha doc2.txt): VALID"
expect_line "ok       stored content: the stored copy (84 bytes) re-hashes to the entry's hash"

cp doc1.txt altered.txt
flip_byte altered.txt 0
expect_rc 3 tsb verify altered.txt
golden not-found.txt "$T/out"
expect_line "altered.txt: NOT FOUND"

expect_rc 4 tsb verify --ref 4 --ref 5
golden not-yet-stamped.txt "$T/out"
expect_line "Ref 4: NOT YET STAMPED"
expect_line "last error: connection refused by the TSA"
expect_line "not yet sealed into a bag"

# a whole day in Europe/Brussels: the five entries, worst verdict decides the exit status
expect_rc 4 tsb verify --from 2026-03-01 --to 2026-03-01
golden period.txt "$T/out"
expect_line "summary: 5 checked: 3 VALID, 0 INVALID, 0 NOT FOUND, 2 NOT YET STAMPED"
expect_rc 3 tsb verify --from 2026-02-01 --to 2026-02-28
expect_line "period: NOT FOUND"

# ---- usage and could-not-run ----
expect_rc 2 tsb verify
expect_rc 2 tsb verify --ref zero
expect_rc 2 tsb verify --hash 1234
expect_rc 2 tsb verify --from 2026-03-01
expect_rc 2 tsb verify missing-file.txt
DB=$T/none.db expect_rc 2 tsb verify doc1.txt
grep -q "cannot open the archive" "$T/err" || fail "no archive message"
ANCHORS=$T/none.pem expect_rc 2 tsb verify doc1.txt
grep -q -- "--anchors" "$T/err" || fail "no anchors advice"

# ---- tampering matrix: each alteration gives its own failure ----
h1=$(sha doc1.txt)
h2=$(sha doc2.txt)

# one byte of the bag (Ref 2's hash): the bag no longer matches the token
db=$(copy_db bag)
sql_tamper "$db" "UPDATE bag_bytes SET bytes = CAST(replace(CAST(bytes AS TEXT), '$h2', '$(flip_hex "$h2")') AS BLOB) WHERE seq = 1;"
DB=$db expect_rc 1 tsb verify doc1.txt
golden invalid-bag.txt "$T/out"
expect_line "doc1.txt: INVALID (failed check: messageImprint)"
expect_line "What it means: The bag was altered after it was stamped"

# one byte of the bag (this entry's own hash): the bag does not list it
db=$(copy_db bagentry)
sql_tamper "$db" "UPDATE bag_bytes SET bytes = CAST(replace(CAST(bytes AS TEXT), '$h1', '$(flip_hex "$h1")') AS BLOB) WHERE seq = 1;"
DB=$db expect_rc 1 tsb verify --ref 1
expect_line "Ref 1: INVALID (failed check: entry in bag)"
expect_line "bag 1 lists Ref 1 with hash $(flip_hex "$h1"), not $h1"

# one byte of the token (its signature)
db=$(copy_db token)
sql_tamper "$db" "UPDATE bags SET token = substr(token, 1, length(token) - 1) ||
           CASE WHEN substr(token, -1) = X'00' THEN X'01' ELSE X'00' END WHERE seq = 1;"
DB=$db expect_rc 1 tsb verify doc1.txt
golden invalid-token.txt "$T/out"
expect_line "doc1.txt: INVALID (failed check: CMS signature)"

# one byte of the stored content
db=$(copy_db content)
sql_tamper "$db" "UPDATE entries SET content = CAST(replace(CAST(content AS TEXT), '400 mg', '800 mg') AS BLOB) WHERE ref = 3;"
DB=$db expect_rc 1 tsb verify --ref 3
expect_line "Ref 3: INVALID (failed check: stored content)"

# the wrong trust anchor: a CA that did not issue the TSA certificate
ANCHORS=$PKI/unknown-ca.pem expect_rc 1 tsb verify doc1.txt
golden invalid-anchor.txt "$T/out"
expect_line "doc1.txt: INVALID (failed check: certificate chain at genTime)"
expect_line "untrusted timestamp authority"

# a real token over the same bag, from a TSA that does not chain to the anchor
db=$(copy_db rogue)
sqlite3 "$db" "SELECT writefile('$T/bag1.xml', $(bag_bytes_sql 1));" >/dev/null
openssl ts -query -data "$T/bag1.xml" -sha256 -cert -no_nonce -out "$T/q.tsq" 2>/dev/null &&
    (cd "$T/work" && openssl ts -reply -config ts.cnf -queryfile "$T/q.tsq" \
        -signer "$PKI/rogue-tsa.pem" -inkey "$PKI/rogue-tsa.key" -token_out \
        -out "$T/rogue.der" 2>/dev/null) || fail "cannot make the rogue token"
sql_tamper "$db" "UPDATE bags SET token = readfile('$T/rogue.der') WHERE seq = 1;"
DB=$db expect_rc 1 tsb verify doc1.txt
expect_line "doc1.txt: INVALID (failed check: certificate chain at genTime)"
expect_line "CN=Rogue Time Stamping Authority does not chain to any configured TSA trust anchor"

# the TSA policy is shown and, with tsa.policy_oids, checked; a malformed list is refused by name
expect_rc 0 tsb verify doc1.txt
expect_line "TSA policy       2.999.7355.1.1"
expect_rc 0 tsb -s "tsa.policy_oids=1.2.3.4, 2.999.7355.1.1" verify --json doc1.txt
expect_line '"tsa_policy": "2.999.7355.1.1"'
expect_line '"check": "tsa_policy", "name": "TSA policy", "outcome": "pass", "message": "2.999.7355.1.1, listed in tsa.policy_oids"'
expect_rc 1 tsb -s tsa.policy_oids=1.2.3.4 verify doc1.txt
expect_line "doc1.txt: INVALID (failed check: TSA policy)"
expect_line "issued under TSA policy 2.999.7355.1.1, which tsa.policy_oids does not list"
expect_rc 2 tsb -s tsa.policy_oids=sha256 verify doc1.txt
grep -q "tsa.policy_oids: 'sha256' is not a dotted OID" "$T/err" || fail "no clear policy_oids error"

# a token without certificates: the signer comes from tsa.tsa_certs (never trusted by itself)
db=$(copy_db nocerts)
openssl ts -query -data "$T/bag1.xml" -sha256 -no_nonce -out "$T/q-nocert.tsq" 2>/dev/null &&
    (cd "$T/work" && openssl ts -reply -config ts.cnf -queryfile "$T/q-nocert.tsq" \
        -signer "$PKI/tsa.pem" -inkey "$PKI/tsa.key" -token_out -out "$T/nocerts.der" \
        2>/dev/null) || fail "cannot make the token without certificates"
sql_tamper "$db" "UPDATE bags SET token = readfile('$T/nocerts.der') WHERE seq = 1;"
DB=$db expect_rc 1 tsb verify doc1.txt
expect_line "doc1.txt: INVALID (failed check: signer certificate)"
DB=$db expect_rc 0 tsb -s "tsa.tsa_certs=$PKI/tsa.pem" verify doc1.txt
expect_line "doc1.txt: VALID"
DB=$db ANCHORS=$PKI/unknown-ca.pem expect_rc 1 tsb -s "tsa.tsa_certs=$PKI/tsa-chain.pem" verify \
    doc1.txt
expect_line "doc1.txt: INVALID (failed check: certificate chain at genTime)"
DB=$db expect_rc 2 tsb -s "tsa.tsa_certs=$T/none.pem" verify doc1.txt
grep -q "cannot open TSA certificates (tsa.tsa_certs) $T/none.pem" "$T/err" ||
    fail "no clear tsa_certs error"

# the untouched archive still verifies (tampering copies never touched it)
expect_rc 0 tsb verify doc1.txt doc2.txt doc3.txt
pass
