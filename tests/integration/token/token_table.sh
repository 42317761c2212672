#!/bin/bash
# integration.token_table: tsbag's token verdicts against stock OpenSSL's. A throw-away PKI
# (tests/lib/test-pki.sh ... variants) and every token are made here, at test time; tokens come
# from `openssl ts -reply` under several TSA configurations and, where it refuses to sign (a
# certificate unfit for timestamping, an RSA-PSS key, PSS padding, no certificates), from the CMS
# re-signer. For each variant tsbag (tokverify over tsb_token_verify, imprint computed over the
# data) and `openssl ts -verify -attime genTime` must give the expected verdict; where the two
# differ the variant must be listed in docs/verify.md ("Deviations from openssl ts -verify") and
# `openssl cms -verify -purpose timestampsign` must agree with tsbag.
# Environment from ctest: TSB_SOURCE_DIR, TSB_TOKVERIFY, TSB_RESIGN.
set -uo pipefail

SRC=${TSB_SOURCE_DIR:?}
TOKVERIFY=${TSB_TOKVERIFY:?}
RESIGN=${TSB_RESIGN:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/tsb-token-table.XXXXXX")
trap 'rm -rf "$T"' EXIT

fail() {
    echo "FAIL [token_table]: $*" >&2
    exit 1
}

sh "$SRC/tests/lib/test-pki.sh" "$T" rsa variants >/dev/null || fail "test-pki.sh failed"
cd "$T" || fail "no $T"

# ---- the tokens ------------------------------------------------------------------------------
printf '<TimeStampBag SequenceNumber="1"><JournalEntry><Ref>1</Ref></JournalEntry></TimeStampBag>' \
    >bag.xml
printf 'another bag' >other.xml
# every imprint algorithm is granted (the verifier, not the TSA, must refuse the weak ones)
sed 's/^digests = .*/digests = sha256, sha384, sha512, sha1, md5/' ts.cnf >all.cnf
sed 's/^ess_cert_id_alg = .*/ess_cert_id_alg = sha1/' all.cnf >v1.cnf
sed 's/^signer_digest = .*/signer_digest = sha384/' all.cnf >sha384.cnf
query() { # query OUT [openssl ts -query options]
    local out=$1
    shift
    openssl ts -query -data bag.xml -no_nonce "$@" -out "$out" 2>/dev/null || fail "query $out"
}
reply() { # reply QUERY CONFIG CERT KEY OUT [options]
    local q=$1 c=$2 cert=$3 key=$4 out=$5
    shift 5
    openssl ts -reply -config "$c" -queryfile "$q" -signer "$cert" -inkey "$key" -token_out \
        "$@" -out "$out" 2>/dev/null || fail "openssl ts -reply for $out"
}
resign() { # resign CERT KEY OUT [pss] [nocerts]: good.tst's TSTInfo signed again with the CMS API
    "$RESIGN" good.tst "$@" >/dev/null || fail "resign $3"
}
query q.tsq -sha256 -cert
query q-nocert.tsq -sha256
query q384.tsq -sha384 -cert
query q512.tsq -sha512 -cert
query q1.tsq -sha1 -cert
query qmd5.tsq -md5 -cert
query qpol5.tsq -sha256 -cert -tspolicy 1.2.3.4.5
query qpol1.tsq -sha256 -cert -tspolicy 1.2.3.4.1

reply q.tsq all.cnf tsa.pem tsa.key good.tst
reply q.tsq v1.cnf tsa.pem tsa.key essv1.tst
reply q.tsq all.cnf tsa-ec256.pem tsa-ec256.key ec256.tst
reply q.tsq sha384.cnf tsa-ec384.pem tsa-ec384.key ec384.tst
reply q384.tsq all.cnf tsa.pem tsa.key sha384.tst
reply q512.tsq all.cnf tsa.pem tsa.key sha512.tst
reply q1.tsq all.cnf tsa.pem tsa.key sha1.tst
reply qmd5.tsq all.cnf tsa.pem tsa.key md5.tst
reply q-nocert.tsq all.cnf tsa.pem tsa.key nocerts.tst
reply q.tsq all.cnf tsa-sub.pem tsa.key sub.tst
reply q.tsq all.cnf tsa-sub.pem tsa.key sub-chain.tst -chain tsa-inter.pem
reply q.tsq all.cnf tsa-sub-notca.pem tsa.key sub-notca.tst -chain tsa-notca.pem
reply q.tsq all.cnf tsa-noku.pem tsa.key noku.tst
reply q.tsq all.cnf tsa-othereku.pem tsa.key othereku.tst
reply q.tsq all.cnf tsa-expired.pem tsa.key expired.tst
reply q.tsq all.cnf tsa-future.pem tsa.key future.tst
reply q.tsq all.cnf rogue-tsa.pem rogue-tsa.key rogue.tst
reply qpol5.tsq all.cnf tsa.pem tsa.key pol5.tst
resign tsa-pss.pem tsa-pss.key psskey.tst
resign tsa.pem tsa.key pss-rsaenc.tst pss
resign tsa.pem tsa.key resigned-nocerts.tst nocerts
resign tsa-noeku.pem tsa.key noeku.tst
resign tsa-noncrit.pem tsa.key noncrit.tst
resign tsa-kuenc.pem tsa.key kuenc.tst
resign tsa-kumixed.pem tsa.key kumixed.tst
resign tsa-anyeku.pem tsa.key anyeku.tst
# the last byte belongs to the RSA signature value
python3 -c "import sys; b=bytearray(open('good.tst','rb').read()); b[-1]^=1; open('tampered.tst','wb').write(b)" ||
    fail "cannot tamper"

# ---- the table -------------------------------------------------------------------------------
deviations=$(sed -n '/^## Deviations from openssl ts -verify/,/^## /p' "$SRC/docs/verify.md")
[ -n "$deviations" ] || fail "docs/verify.md has no 'Deviations from openssl ts -verify' section"
n=0
errors=0
bad() { # a variant that disagrees: reported, and the table goes on so that every one is seen
    echo "FAIL [token_table]: $*" >&2
    errors=$((errors + 1))
}
# variant NAME TOKEN ANCHORS TSA_CERTS POLICIES TSBAG OPENSSL [FAILED_CHECK [OPENSSL_INPUT]]
#   TSA_CERTS is also openssl's -untrusted ("-" for none); OPENSSL_INPUT replaces "-data bag.xml"
variant() {
    local name=$1 tok=$2 anchors=$3 certs=$4 pol=$5 want=$6 owant=$7 check=${8:-}
    local input=${9:--data bag.xml} data=bag.xml out got ogt ogot
    [ "$name" = wrong-data ] && data=other.xml
    out=$("$TOKVERIFY" "$anchors" "$data" "$tok" "$certs" "$pol")
    case $? in
    0) got=VALID ;;
    1) got=INVALID ;;
    *) fail "$name: tokverify could not run: $out" ;;
    esac
    ogt=$(sed -n 's/^gen_time //p' <<<"$out")
    local untrusted=()
    [ "$certs" != - ] && untrusted=(-untrusted "$certs")
    # shellcheck disable=SC2086 # input is a list of options
    if openssl ts -verify $input -in "$tok" -token_in -CAfile "$anchors" "${untrusted[@]}" \
        -attime "$ogt" >ossl.out 2>&1; then
        ogot=VALID
    else
        ogot=INVALID
    fi
    printf '%-26s tsbag %-7s openssl %-7s %s\n' "$name" "$got" "$ogot" \
        "$(sed -n 's/^failed //p' <<<"$out")"
    n=$((n + 1))
    [ "$got" = "$want" ] || bad "$name: tsbag says $got, expected $want: $out"
    [ "$ogot" = "$owant" ] || bad "$name: openssl ts -verify says $ogot, expected $owant: $(cat ossl.out)"
    if [ -n "$check" ] && ! grep -q "^failed $check:" <<<"$out"; then
        bad "$name: expected the failed check '$check': $out"
    fi
    if [ "$got" != "$ogot" ]; then
        grep -q "\`$name\`" <<<"$deviations" ||
            bad "$name: tsbag ($got) and openssl ($ogot) differ and docs/verify.md does not list it"
        # the CMS view of the same token, purpose and time, agrees with tsbag (which also looks
        # for the signer among the anchors and accepts any anchor, as -partial_chain does)
        local cgot=INVALID certfile=(-certfile "$anchors")
        [ "$certs" != - ] && certfile=(-certfile "$certs")
        openssl cms -verify -inform DER -in "$tok" -binary -CAfile "$anchors" "${certfile[@]}" \
            -partial_chain -purpose timestampsign -attime "$ogt" -out /dev/null >/dev/null 2>&1 &&
            cgot=VALID
        if [ "$got" = VALID ] && [ "$cgot" != VALID ]; then
            bad "$name: openssl cms -verify does not confirm tsbag's VALID"
        fi
    fi
}
A=tsa-ca.pem
variant rsa-essv2 good.tst $A - "" VALID VALID
variant rsa-essv1 essv1.tst $A - "" VALID VALID
variant ec-p256 ec256.tst $A - "" VALID VALID
variant ec-p384-sha384-signer ec384.tst $A - "" VALID VALID
variant rsa-pss-key psskey.tst $A - "" VALID VALID
variant pss-under-rsaencryption pss-rsaenc.tst $A - "" VALID INVALID
variant imprint-sha384 sha384.tst $A - "" VALID VALID
variant imprint-sha512 sha512.tst $A - "" VALID VALID
variant imprint-sha1 sha1.tst $A - "" INVALID VALID "messageImprint algorithm"
variant imprint-md5 md5.tst $A - "" INVALID VALID "messageImprint algorithm"
variant wrong-data good.tst $A - "" INVALID INVALID "messageImprint" "-data other.xml"
variant no-certs-anchor-only nocerts.tst $A - "" INVALID INVALID "signer certificate"
variant no-certs-tsa-certs nocerts.tst $A tsa.pem "" VALID VALID
variant resigned-no-certs resigned-nocerts.tst $A tsa.pem "" VALID VALID
variant intermediate-tsa-certs sub.tst $A tsa-inter.pem "" VALID VALID
variant intermediate-in-token sub-chain.tst $A - "" VALID VALID
variant issuer-not-a-ca sub-notca.tst $A - "" INVALID INVALID "certificate chain at genTime"
variant intermediate-missing sub.tst $A - "" INVALID INVALID "certificate chain at genTime"
variant no-eku noeku.tst $A - "" INVALID INVALID "timeStamping key usage"
variant eku-not-critical noncrit.tst $A - "" INVALID INVALID "timeStamping key usage"
variant ku-keyencipherment-only kuenc.tst $A - "" INVALID INVALID "timeStamping key usage"
variant ku-digsig-keyencipherment kumixed.tst $A - "" INVALID INVALID "timeStamping key usage"
variant no-keyusage noku.tst $A - "" VALID VALID
variant eku-any anyeku.tst $A - "" INVALID INVALID "timeStamping key usage"
variant eku-private-oid-too othereku.tst $A - "" VALID VALID
variant expired-at-gentime expired.tst $A - "" INVALID INVALID "certificate chain at genTime"
variant not-yet-valid-at-gentime future.tst $A - "" INVALID INVALID "certificate chain at genTime"
variant wrong-anchor rogue.tst $A - "" INVALID INVALID "certificate chain at genTime"
variant anchor-is-tsa-certificate nocerts.tst tsa.pem - "" VALID INVALID
variant anchor-of-another-tsa good.tst rogue-ca.pem - "" INVALID INVALID \
    "certificate chain at genTime"
variant policy-listed pol5.tst $A - "1.2.3.4.1, 1.2.3.4.5" VALID VALID "" "-queryfile qpol5.tsq"
variant policy-not-listed pol5.tst $A - "1.2.3.4.1" INVALID INVALID "TSA policy" \
    "-queryfile qpol1.tsq"
variant tampered-signature tampered.tst $A - "" INVALID INVALID "CMS signature"

# a malformed policy list is a configuration error naming the entry
out=$("$TOKVERIFY" $A bag.xml good.tst - "1.2.3.4.1, sha256" 2>&1)
[ $? -eq 2 ] && grep -q "'sha256' is not a dotted OID" <<<"$out" ||
    fail "tsa.policy_oids=sha256 not refused clearly: $out"
[ "$n" -ge 12 ] || fail "only $n variants"
[ "$errors" -eq 0 ] || fail "$errors disagreement(s) in $n variants"
echo "PASS [token_table]: $n variants"
