#!/usr/bin/env bash
# tsbag doctor: every line OK on a good state (exit 0); then each broken part FAILs on its own
# line, with the lines that do not depend on it still OK (exit 1): a wrong keystore password, an
# expired keystore, an IDHospital the hospital certificate may not use (the simulator answers the
# checkCompleteness probe with a SOAP fault), a stopped simulator and a damaged archive (PRAGMA
# quick_check); trust anchors: an expired one kept beside the current one is OK, an expired one
# alone FAILs; an archive of the previous schema is a WARN and is not migrated. Checked through
# --json with jq, and the text form once.
. "$(dirname "$0")/../reconcile/lib.sh"

# doctor [ARGS...]: tsbag doctor --json with the test configuration; sets RC.
doctor() {
    RC=0
    "$TSBAG" -c "$T/tsbag.ini" "$@" doctor --json >"$T/out.txt" 2>"$T/err.txt" || RC=$?
}
verdict() { jqr ".checks[] | select(.name == \"$1\") | .verdict"; }
detail() { jqr ".checks[] | select(.name == \"$1\") | .detail"; }
# expect NAME VERDICT [WHAT]: the line NAME has VERDICT.
expect() {
    local got
    got=$(verdict "$1")
    [ "$got" = "$2" ] || fail "${3:-check}: line $1 is '$got', expected $2 ($(detail "$1"))"
}
# expect_ok WHAT NAME...: each named line is OK.
expect_ok() {
    local what=$1 n
    shift
    for n in "$@"; do expect "$n" OK "$what"; done
}

ALL="config environment state_dir archive keystore keystore_chain trust_anchors tsa_certs
     token_verifier tls_ca tsa_host consult_host consult_probe"

start_sim
sed -i "/^\[tsa\]/a url = $TSA" "$T/tsbag.ini" # lib.sh's configuration only reconciles
seed 1 1 # an archive with one stamped bag: the quick-start state after the first stamp

# all OK
doctor
[ "$RC" = 0 ] || fail "good state: exit $RC, expected 0"
[ "$(jqr .result)" = ok ] || fail "good state: result $(jqr .result)"
[ "$(jqr .exit_code)" = 0 ] || fail "good state: exit_code $(jqr .exit_code)"
[ "$(jqr '[.checks[].name] | join(" ")')" = "$(echo $ALL)" ] ||
    fail "the lines are not, in order: $(echo $ALL)"
expect_ok "good state" $ALL
detail consult_probe | grep -q 'answered Status OK' || fail "the probe does not show eHealth's Status"
[ "$(sql 'SELECT count(*) FROM bags')" = 1 ] || fail "doctor changed the archive"

# the text form: one line per check, then the verdict
RC=0
"$TSBAG" -c "$T/tsbag.ini" doctor >"$T/out.txt" 2>"$T/err.txt" || RC=$?
[ "$RC" = 0 ] || fail "text: exit $RC"
grep -Eq '^OK +consult_probe +checkCompleteness as tsa_0406798006_01 ' "$T/out.txt" ||
    fail "text: no OK consult_probe line"
[ "$(grep -c -E '^(OK|WARN|FAIL) ' "$T/out.txt")" = 13 ] || fail "text: not 13 check lines"
tail -n 1 "$T/out.txt" | grep -qx 'tsbag doctor: ok (exit 0)' || fail "text: no closing verdict"

# a wrong keystore password: the keystore FAILs, the probe cannot run, the rest is OK
echo wrong-password >"$T/wrong.pass"
doctor -s tsa.keystore_password_file="$T/wrong.pass"
[ "$RC" = 1 ] || fail "wrong password: exit $RC, expected 1"
[ "$(jqr .result)" = fail ] || fail "wrong password: result $(jqr .result)"
expect keystore FAIL "wrong password"
detail keystore | grep -qi 'password' || fail "wrong password: the keystore line does not say so"
expect consult_probe FAIL "wrong password"
expect_ok "wrong password" config environment state_dir archive trust_anchors tsa_certs \
    token_verifier tls_ca tsa_host consult_host

# an expired keystore: the demo hospital's own key and CA, a certificate that ended in 2021
mkdir -p "$T/expired/db"
: >"$T/expired/db/index"
echo 1000 >"$T/expired/db/serial"
cat >"$T/expired/ca.cnf" <<X
[ca]
default_ca = c
[c]
database = $T/expired/db/index
serial = $T/expired/db/serial
new_certs_dir = $T/expired/db
default_md = sha256
policy = p
copy_extensions = none
unique_subject = no
[p]
commonName = supplied
[ext]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
X
openssl req -new -key "$PKI/hospital.key" -subj "/C=BE/O=Demo Hospital/CN=Expired Hospital" \
    -out "$T/expired/h.csr" 2>/dev/null || fail "openssl req"
openssl ca -batch -config "$T/expired/ca.cnf" -cert "$PKI/hospital-ca.pem" \
    -keyfile "$PKI/hospital-ca.key" -in "$T/expired/h.csr" -startdate 20200101000000Z \
    -enddate 20210101000000Z -extensions ext -notext -out "$T/expired/h.pem" 2>/dev/null ||
    fail "openssl ca"
openssl pkcs12 -export -inkey "$PKI/hospital.key" -in "$T/expired/h.pem" \
    -certfile "$PKI/hospital-ca.pem" -name authentication -passout "file:$PKI/hospital.pass" \
    -out "$T/expired/h.p12" 2>/dev/null || fail "openssl pkcs12"
doctor -s tsa.keystore="$T/expired/h.p12"
[ "$RC" = 1 ] || fail "expired keystore: exit $RC, expected 1"
expect keystore FAIL "expired keystore"
detail keystore | grep -qi 'expired' || fail "expired keystore: the keystore line does not say so"
expect consult_probe FAIL "expired keystore"
expect_ok "expired keystore" config environment state_dir archive trust_anchors tsa_certs \
    token_verifier tls_ca tsa_host consult_host

# trust anchors after eHealth renewed its TSA certificate: the old, expired anchor kept beside
# the current one is fine (tokens are checked at their genTime); an expired one alone FAILs
cat "$PKI/tsa-ca.pem" "$T/expired/h.pem" >"$T/anchors-renewed.pem"
doctor -s tsa.trust_anchors="$T/anchors-renewed.pem"
[ "$RC" = 0 ] || fail "old anchor kept beside the current one: exit $RC, expected 0 ($(detail trust_anchors))"
expect trust_anchors OK "old anchor kept beside the current one"
detail trust_anchors | grep -q '1 valid certificate(s) (besides 1 expired, kept for older tokens' ||
    fail "the anchors line does not count the kept one: $(detail trust_anchors)"
doctor -s tsa.trust_anchors="$T/expired/h.pem"
[ "$RC" = 1 ] || fail "only an expired anchor: exit $RC, expected 1"
expect trust_anchors FAIL "only an expired anchor"
detail trust_anchors | grep -q 'none of its 1 certificate(s) is valid now' ||
    fail "only an expired anchor: $(detail trust_anchors)"

# an archive of the previous schema version (before an upgrade): WARN naming both versions, exit
# 0, and doctor leaves it unmigrated (tsbagd migrates it at its next start)
n=0
for f in $(ls "$TSB_SOURCE_DIR"/schema/[0-9]*.sql | sort | head -n -1); do
    sqlite3 -batch "$T/previous.db" <"$f" || fail "applying $f to the previous-schema archive"
    n=$((n + 1))
done
sqlite3 -batch "$T/previous.db" "PRAGMA user_version = $n"
doctor -s store.path="$T/previous.db"
[ "$RC" = 0 ] || fail "previous schema: exit $RC, expected 0 ($(detail archive))"
expect archive WARN "previous schema"
detail archive | grep -q "schema $n, quick_check ok; tsbagd migrates it to schema $((n + 1)) at its next start" ||
    fail "previous schema: $(detail archive)"
[ "$(sqlite3 -batch "$T/previous.db" "PRAGMA user_version")" = "$n" ] || fail "tsbag doctor migrated the archive"

# an IDHospital the certificate may not use: only the end-to-end probe can tell
doctor -s general.id_hospital=tsa_0000000097_01
[ "$RC" = 1 ] || fail "wrong IDHospital: exit $RC, expected 1"
expect consult_probe FAIL "wrong IDHospital"
detail consult_probe | grep -q 'FailedAuthentication' || fail "wrong IDHospital: no SOAP fault shown"
detail consult_probe | grep -q 'tsa_0000000097_01' || fail "wrong IDHospital: the IDHospital is not named"
expect_ok "wrong IDHospital" config environment state_dir archive keystore keystore_chain \
    trust_anchors tsa_certs token_verifier tls_ca tsa_host consult_host

# a stopped simulator: both hosts and the probe FAIL, everything local is still OK
stop_sim
doctor
[ "$RC" = 1 ] || fail "stopped simulator: exit $RC, expected 1"
expect tsa_host FAIL "stopped simulator"
expect consult_host FAIL "stopped simulator"
expect consult_probe FAIL "stopped simulator"
expect_ok "stopped simulator" config environment state_dir archive keystore keystore_chain \
    trust_anchors tsa_certs token_verifier tls_ca

# a damaged archive: a copy whose entries_received index page no longer is a b-tree page
sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cp "$DB" "$T/damaged.db"
PAGE=$(sql "SELECT rootpage FROM sqlite_schema WHERE name = 'entries_received'")
PSIZE=$(sql "PRAGMA page_size")
printf '\x0d\xff\xff\xff\xff\xff\xff\xff' |
    dd of="$T/damaged.db" bs=1 seek=$(((PAGE - 1) * PSIZE)) conv=notrunc 2>/dev/null
doctor -s store.path="$T/damaged.db"
[ "$RC" = 1 ] || fail "damaged archive: exit $RC, expected 1"
expect archive FAIL "damaged archive"
detail archive | grep -q "quick_check finds [0-9]* problem(s), the first: Page $PAGE" || fail "damaged archive: the page is not named"
expect_ok "damaged archive" config environment state_dir keystore keystore_chain trust_anchors \
    tsa_certs token_verifier tls_ca

# outside the simulator the demo IDHospital is refused on the environment line
doctor -s general.environment=acceptance -s "tsa.url=$TSA" -s "consult.url=$CONSULT"
expect environment FAIL "acceptance with the demo IDHospital"

# could not run: usage
RC=0
"$TSBAG" -c "$T/tsbag.ini" doctor --bogus >"$T/out.txt" 2>"$T/err.txt" || RC=$?
[ "$RC" = 2 ] || fail "usage error: exit $RC, expected 2"
pass
