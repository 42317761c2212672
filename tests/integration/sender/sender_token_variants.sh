#!/usr/bin/env bash
# sender_token_variants: tokens made the ways RFC 3161 allows and tsbag's verifier supports are
# stamped at the first answer: RSASSA-PSS signature, SHA-384 messageImprint over the bag bytes, and
# a token without certificates when tsa.tsa_certs supplies the TSA certificate. (Without
# tsa.tsa_certs the last one is held with a reason naming it: integration.sender_assumptions.)
# Needs the verifier that accepts these (RSASSA-PSS, SHA-384/512, tsa.tsa_certs); a build whose
# configuration has no tsa.tsa_certs lacks it, and the test is skipped (exit 77) saying so.
. "$(dirname "$0")/lib.sh"

if ! "$TSBAGD" --print-config -s "general.state_dir=$T/state" -s "tsa.tsa_certs=$PKI/tsa.pem" \
    >/dev/null 2>&1; then
    echo "SKIP [$NAME]: this build's token verifier has no tsa.tsa_certs (nor RSASSA-PSS and SHA-384 support)"
    exit 77
fi

start_sim
start_daemon -s "tsa.tsa_certs=$PKI/tsa.pem"

seq=0
stamped_at_once() {
    seq=$((seq + 1))
    fault "$1@1"
    push 1 "$1"
    seal
    wait_for "SELECT state FROM bags WHERE seq = $seq" stamped
    [ "$(sql "SELECT attempts FROM bags WHERE seq = $seq")" = 1 ] ||
        fail "$1: stamped after $(sql "SELECT attempts FROM bags WHERE seq = $seq") attempts, expected 1"
    [ "$(sql "SELECT count(*) FROM bag_attempts WHERE seq = $seq AND outcome <> 'stamped'")" = 0 ] ||
        fail "$1: a failed attempt was recorded"
}

stamped_at_once pss-signature
# the archived token is the PSS one, and stock CMS verification accepts it
sql "SELECT writefile('$T/pss.der', token) FROM bags WHERE seq = 1" >/dev/null
openssl cms -cmsout -print -inform DER -in "$T/pss.der" | grep -q rsassaPss || fail "archived token is not RSASSA-PSS"
openssl cms -verify -inform DER -in "$T/pss.der" -CAfile "$PKI/tsa-ca.pem" -purpose any -out /dev/null \
    >/dev/null 2>&1 || fail "openssl cms -verify rejects the archived PSS token"

stamped_at_once sha384-imprint
sql "SELECT writefile('$T/bag2.xml', $(bag_bytes_sql bags.seq)), writefile('$T/tok2.der', token) FROM bags WHERE seq = 2" >/dev/null
openssl ts -reply -token_in -in "$T/tok2.der" -text 2>/dev/null | grep -q 'Hash Algorithm: sha384' ||
    fail "archived token has no SHA-384 imprint"
openssl ts -verify -data "$T/bag2.xml" -in "$T/tok2.der" -token_in -CAfile "$PKI/tsa-ca.pem" \
    >/dev/null 2>&1 || fail "openssl ts -verify rejects the SHA-384 token"

stamped_at_once token-without-certs
sql "SELECT writefile('$T/bag3.xml', $(bag_bytes_sql bags.seq)), writefile('$T/tok3.der', token) FROM bags WHERE seq = 3" >/dev/null
openssl ts -verify -data "$T/bag3.xml" -in "$T/tok3.der" -token_in -CAfile "$PKI/tsa-ca.pem" \
    -untrusted "$PKI/tsa.pem" >/dev/null 2>&1 || fail "openssl ts -verify rejects the certificate-less token"

gap_free
stop_daemon
pass
