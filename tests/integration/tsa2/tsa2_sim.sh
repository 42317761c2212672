#!/usr/bin/env bash
# The simulator's RFC 3161 endpoint as the second TSA: its own root (tsa2-ca.pem) and policy
# (tsa2-policy.txt) from the dev-pki. Every bag gets both tokens; the faults tsa2-wrong-nonce,
# tsa2-wrong-imprint, tsa2-untrusted and tsa2-down are each refused with their reason and never
# archived while eHealth stamping goes on (the endpoints share no knob), then the bag is stamped
# once the fault is cleared. Every second token passes stock openssl ts -verify against the
# second root and not against eHealth's; a package holds both tokens; with the chain on, a
# deleted and a replaced bag are each found by the archive check at their SequenceNumber.
. "$(dirname "$0")/../sender/lib.sh"

[ -s "$PKI/tsa2.pem" ] || fail "the dev-pki lacks tsa2.pem"
POLICY2=$(cat "$PKI/tsa2-policy.txt")
start_sim
start_daemon -s "tsa2.url=https://127.0.0.1:$PORT/rfc3161" -s "tsa2.trust_anchors=$PKI/tsa2-ca.pem" \
    -s "tsa2.policy_oids=$POLICY2" -s tsa2.retry_min_ms=100 -s tsa2.retry_max_ms=400 \
    -s tsa2.min_interval_ms=10
push 2 ok
seal
wait_for "SELECT count(*) FROM tsa2_tokens WHERE seq = 1" 1
wait_for "SELECT state FROM bags WHERE seq = 1" stamped

seq=1
for fault in tsa2-wrong-nonce tsa2-wrong-imprint tsa2-untrusted tsa2-down; do
    seq=$((seq + 1))
    fault "$fault@3"
    push 1 "$fault"
    seal
    wait_for "SELECT state FROM bags WHERE seq = $seq" stamped
    wait_for "SELECT count(*) FROM tsa2_tokens WHERE seq = $seq" 1
    n=$(grep -c "tsa2: bag $seq: no second token archived" "$T/d.log")
    [ "$n" = 3 ] || fail "$fault: $n refused attempts logged for bag $seq, expected 3"
done
grep -q "tsa2: bag 2: no second token archived (nonce): the token's nonce" "$T/d.log" ||
    fail "tsa2-wrong-nonce not logged with its reason"
grep -q "tsa2: bag 3: no second token archived (imprint): the token's messageImprint" "$T/d.log" ||
    fail "tsa2-wrong-imprint not logged with its reason"
grep -q "tsa2: bag 4: no second token archived (token): the token failed verification: certificate chain at genTime" "$T/d.log" ||
    fail "tsa2-untrusted not logged with its reason"
grep -q "tsa2: bag 5: no second token archived (http): HTTP status 503" "$T/d.log" ||
    fail "tsa2-down not logged with its reason"
# the eHealth endpoint consumed none of those knobs: no eHealth attempt failed
[ "$(sql "SELECT count(*) FROM bag_attempts WHERE outcome <> 'stamped'")" = 0 ] ||
    fail "a tsa2-* knob reached the eHealth endpoint"
stop_daemon

verify_stamped
for s in $(sql "SELECT seq FROM tsa2_tokens ORDER BY seq"); do
    sql "SELECT writefile('$T/b$s.xml', $(bag_bytes_sql t.seq)), writefile('$T/t$s.der', t.token) FROM tsa2_tokens t WHERE seq = $s" >/dev/null
    openssl ts -verify -data "$T/b$s.xml" -in "$T/t$s.der" -token_in -CAfile "$PKI/tsa2-ca.pem" \
        >/dev/null 2>&1 || fail "openssl ts -verify rejects the second token of bag $s"
    openssl ts -verify -data "$T/b$s.xml" -in "$T/t$s.der" -token_in -CAfile "$PKI/tsa-ca.pem" \
        >/dev/null 2>&1 && fail "the second token of bag $s verifies against eHealth's root"
done
[ "$(sql "SELECT count(*) FROM tsa2_tokens WHERE policy = '$POLICY2'")" = 5 ] ||
    fail "not 5 second tokens under $POLICY2"

# both TSAs and the chain together: a package of an entry of bag 2 holds both tokens, each
# passing stock openssl ts -verify against its own root
. "$TSB_SOURCE_DIR/tests/lib/archive.sh"
ref2=$(sql "SELECT first_ref FROM bags WHERE seq = 2")
tsbag -s "tsa.trust_anchors=$PKI/tsa-ca.pem" -s "tsa2.trust_anchors=$PKI/tsa2-ca.pem" \
    export --out "$T/pkg" --ref "$ref2" >"$T/export.txt" 2>&1 || fail "export: $(cat "$T/export.txt")"
for f in bag-2.xml token-2.der tsa2-token-2.der tsa2-chain-2.pem tsa2-anchor.pem; do
    [ -s "$T/pkg/$f" ] || fail "the package lacks $f: $(ls "$T/pkg")"
done
openssl ts -verify -data "$T/pkg/bag-2.xml" -in "$T/pkg/token-2.der" -token_in \
    -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 || fail "the package's eHealth token does not verify"
openssl ts -verify -data "$T/pkg/bag-2.xml" -in "$T/pkg/tsa2-token-2.der" -token_in \
    -CAfile "$PKI/tsa2-ca.pem" -untrusted "$T/pkg/tsa2-chain-2.pem" >/dev/null 2>&1 ||
    fail "the package's second token does not verify"
# bag 3 deleted behind the triggers, bag 4's bytes replaced: the archive check finds each
# through the chain at its SequenceNumber
lose_bags "seq = 3"
h4=$(sql "SELECT lower(hex(e.hash)) FROM entries e JOIN bags b ON b.seq = 4
          AND e.ref BETWEEN b.first_ref AND b.last_ref LIMIT 1")
replace_in_bag 4 "$h4" "$(printf forged | sha256sum | cut -d' ' -f1)"
rc=0
tsbag -s "tsa.trust_anchors=$PKI/tsa-ca.pem" reconcile --local-only --no-progress --json \
    >"$T/check.json" 2>"$T/check.err" || rc=$?
[ "$rc" = 1 ] || fail "the damaged chain: reconcile --local-only exit $rc, expected 1: $(cat "$T/check.err")"
jq -e '.violations[] | select(.kind == "chain" and .seq == 3)' "$T/check.json" >/dev/null ||
    fail "the deleted bag 3 is not found through the chain: $(jq -c .violations "$T/check.json")"
jq -e '.violations[] | select(.kind == "chain" and .seq == 4)' "$T/check.json" >/dev/null ||
    fail "the replaced bag 4 is not found through the chain: $(jq -c .violations "$T/check.json")"
pass
