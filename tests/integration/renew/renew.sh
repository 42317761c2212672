#!/usr/bin/env bash
# integration.renew: tsbag renew against a real tsbagd archive and the simulator's /rfc3161 over
# HTTPS. Without a TSA it refuses, naming what to set; the TSA down (503), a token for another
# request (nonce) and one by an unknown certificate are refused, nothing written, each message
# naming the cause and what to do; --dry-run writes nothing; the first run
# covers every stamped bag in one tree whose root token stock openssl ts -verify accepts and whose
# root this test recomputes from the bags (RFC 4998 §4.2, Python's hashlib); a second run does
# nothing; a bag stamped later (with its second token) goes into a new tree with a three-object
# group. With the 30-day certificate inside renew.margin_days, the renewal is refused while the
# TSA still signs with that certificate (nothing written; both notAfter as UTC dates), and done
# once it signs with its
# successor (tsa2-next), then not again; --rehash sha512 starts chain 2 for every bag, stamped
# with a SHA-512 imprint, once. After each step every bag's EvidenceRecord parses with openssl
# asn1parse and passes the ers library's verifier; the archive check (reconcile --local-only)
# verifies them all, and names the bag whose reduced hash tree was replaced behind the triggers.
. "$(dirname "$0")/lib.sh"

start_sim
start_daemon
push 2 a
seal
push 3 b
seal
wait_for "SELECT count(*) FROM bags WHERE state = 'stamped'" 2

# no TSA configured: refused, naming the options
rc=0
tsbag renew >"$T/none.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "renew without a TSA exited $rc"
grep -q "no TSA configured: set renew.url (or tsa2.url)" "$T/none.out" ||
    fail "renew without a TSA: $(cat "$T/none.out")"

renew_ok --dry-run
grep -q "would stamp a sha256 tree of 2 bags (1..2): newly covered" "$T/renew.out" ||
    fail "dry run: $(cat "$T/renew.out")"
[ "$(sql "SELECT count(*) FROM ers_trees")" = 0 ] || fail "the dry run wrote a tree"

# the TSA down, answering for another request, or signing with a certificate the anchors do not
# know: exit 2, nothing written, and the message names what was wrong and what to do
# renew_refused FAULT TEXT...: with the simulator's FAULT on, tsbag renew fails with each TEXT
renew_refused() {
    local knob=$1 t
    shift
    fault "$knob"
    renew
    fault clear
    [ "$RC" = 2 ] || fail "renew with $knob: exit $RC: $(cat "$T/renew.err")"
    for t in "$@"; do
        grep -q "$t" "$T/renew.err" || fail "renew with $knob: no '$t': $(cat "$T/renew.err")"
    done
    [ "$(sql "SELECT count(*) FROM ers_trees")" = 0 ] || fail "renew with $knob wrote a tree"
}
renew_refused tsa2-down "answered HTTP status 503, nothing archived: the TSA is unavailable" \
    "run tsbag renew again later"
renew_refused tsa2-wrong-nonce "token refused (nonce), nothing archived" \
    "report it to the TSA's operator or name another TSA in renew.url, then run tsbag renew again"
renew_refused tsa2-untrusted "the token failed verification" \
    "check renew.trust_anchors and renew.policy_oids against the TSA"

# the certificate (30 days) is not due with a 1-day margin
RENEW_SETTINGS="-s renew.margin_days=1"
renew_ok
grep -q "^renew: tree 1: 2 bags newly covered (1..2), sha256, TSA https://127.0.0.1:$PORT/rfc3161, serial [0-9]*, genTime 20" "$T/renew.out" ||
    fail "first run: $(cat "$T/renew.out")"
grep -q "^renew: 2 bags newly covered, 0 rehashed, 0 renewed, in 1 trees$" "$T/renew.out" ||
    fail "first run summary: $(cat "$T/renew.out")"
covered_once
[ "$(sql "SELECT group_concat(members, ';') FROM ers_links ORDER BY seq")" = "bag,token;bag,token" ] ||
    fail "groups: $(sql "SELECT seq, members FROM ers_links")"
# the root's token, by stock openssl, and the root recomputed here from the archived objects
root=$(sql "SELECT lower(hex(root)) FROM ers_trees WHERE id = 1")
sql "SELECT writefile('$T/tree1.der', token) FROM ers_trees WHERE id = 1" >/dev/null
openssl ts -verify -digest "$root" -in "$T/tree1.der" -token_in -CAfile "$PKI/tsa2-ca.pem" \
    >/dev/null 2>&1 || fail "openssl ts -verify rejects tree 1's token over its root"
for s in 1 2; do
    sql "SELECT writefile('$T/bag$s', $(bag_bytes_sql bags.seq)), writefile('$T/tok$s', token) FROM bags WHERE seq = $s" >/dev/null
done
again=$(python3 - "$T" <<'PY'
import hashlib, sys
t = sys.argv[1]
h = lambda b: hashlib.sha256(b).digest()
def leaf(s):
    m = sorted([h(open(f"{t}/bag{s}", "rb").read()), h(open(f"{t}/tok{s}", "rb").read())])
    return h(b"".join(m))
print(h(b"".join(sorted([leaf(1), leaf(2)]))).hex())
PY
)
[ "$again" = "$root" ] || fail "the root recomputed from bags 1 and 2 is $again, the tree's is $root"
for s in 1 2; do
    ers_check "$s"
    [ "$VERDICT" = "verified chains=1 ats=1 alg=sha256 objects=2" ] || fail "bag $s: $VERDICT"
done

# a second run does nothing
renew_ok
grep -q "^renew: 0 bags newly covered, 0 rehashed, 0 renewed, in 0 trees: nothing to do" "$T/renew.out" ||
    fail "second run: $(cat "$T/renew.out")"
[ "$(sql "SELECT count(*) FROM ers_trees")" = 1 ] || fail "the second run stamped a tree"

# status: covered, the 30-day certificate inside the default 180-day margin
tsbag status --json >"$T/status.json" 2>&1
[ "$(jq -c '.evidence | [.bags_covered, .bags_uncovered, .trees, .earliest_sequence, .renewal_due]' "$T/status.json")" = "[2,0,1,1,true]" ] ||
    fail "status --json evidence: $(jq -c .evidence "$T/status.json")"
tsbag status >"$T/status.txt" 2>&1
grep -q "^evidence:          2 bag(s) covered by archive timestamps, 0 not yet; earliest TSA certificate expiry 20.*(bag 1); RENEWAL DUE" "$T/status.txt" ||
    fail "status: $(grep evidence "$T/status.txt")"

# a bag stamped later, with its second token: a new tree, a group of three objects
stop_daemon
start_daemon -s "tsa2.url=https://127.0.0.1:$PORT/rfc3161" -s "tsa2.trust_anchors=$PKI/tsa2-ca.pem" \
    -s "tsa2.policy_oids=$POLICY2" -s tsa2.retry_min_ms=100 -s tsa2.retry_max_ms=400 \
    -s tsa2.min_interval_ms=10
push 1 c
seal
wait_for "SELECT state FROM bags WHERE seq = 3" stamped
wait_for "SELECT count(*) FROM tsa2_tokens WHERE seq = 3" 1
renew_ok
grep -q "^renew: tree 2: 1 bags newly covered (3..3)" "$T/renew.out" || fail "third run: $(cat "$T/renew.out")"
[ "$(sql "SELECT group_concat(members, ';') FROM (SELECT members FROM ers_links ORDER BY seq)")" = "bag,token;bag,token;bag,token,tsa2" ] ||
    fail "groups: $(sql "SELECT seq, members FROM ers_links")"
ers_check 3
[ "$VERDICT" = "verified chains=1 ats=1 alg=sha256 objects=3" ] || fail "bag 3: $VERDICT"
stop_daemon

# renewal due (default margin): refused while the TSA signs with the same certificate
RENEW_SETTINGS=
renew
[ "$RC" = 2 ] || fail "a renewal by the same certificate: exit $RC: $(cat "$T/renew.out")"
grep -q "renewal of bags 1..3 refused, nothing written: the TSA's certificate" "$T/renew.err" &&
    grep -q "would not outlive the one it renews" "$T/renew.err" || fail "refusal: $(cat "$T/renew.err")"
# both certificates' notAfter written as UTC dates an operator reads, not milliseconds
D='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
grep -Eq "valid until $D\) would not outlive the one it renews \(valid until $D\)" "$T/renew.err" ||
    fail "refusal without readable dates: $(cat "$T/renew.err")"
[ "$(sql "SELECT count(*) FROM ers_trees")" = 2 ] || fail "the refused renewal wrote a tree"

# the TSA's renewed certificate: renewed once, then not due
fault tsa2-next
renew_ok
grep -q "^renew: 0 bags newly covered, 0 rehashed, 3 renewed, in 1 trees$" "$T/renew.out" ||
    fail "renewal: $(cat "$T/renew.out")"
[ "$(sql "SELECT count(*) FROM ers_links l JOIN ers_trees t ON t.id = l.tree_id WHERE chain = 1 AND position = 2 AND t.kind = 'renewal'")" = 3 ] ||
    fail "not 3 renewals at position 2"
covered_once
for s in 1 2 3; do
    ers_check "$s"
    case "$VERDICT" in "verified chains=1 ats=2 alg=sha256 "*) ;; *) fail "bag $s: $VERDICT" ;; esac
done
renew_ok
grep -q "in 0 trees: nothing to do" "$T/renew.out" || fail "renewed again: $(cat "$T/renew.out")"

# hash-tree renewal: chain 2 with SHA-512 for every bag, once
renew_ok --rehash sha512
grep -q "^renew: 0 bags newly covered, 3 rehashed, 0 renewed, in 1 trees$" "$T/renew.out" ||
    fail "rehash: $(cat "$T/renew.out")"
[ "$(sql "SELECT count(*) FROM ers_links l JOIN ers_trees t ON t.id = l.tree_id WHERE chain = 2 AND position = 1 AND t.kind = 'rehash' AND t.alg = 'sha512' AND length(t.root) = 64")" = 3 ] ||
    fail "not 3 SHA-512 chains"
sql "SELECT writefile('$T/rehash.der', token) FROM ers_trees WHERE kind = 'rehash'" >/dev/null
openssl ts -reply -in "$T/rehash.der" -token_in -text 2>/dev/null | grep "Hash Algorithm: sha512" >/dev/null ||
    fail "the rehash tree's token is not a SHA-512 imprint"
openssl ts -verify -digest "$(sql "SELECT lower(hex(root)) FROM ers_trees WHERE kind = 'rehash'")" \
    -in "$T/rehash.der" -token_in -CAfile "$PKI/tsa2-ca.pem" >/dev/null 2>&1 ||
    fail "openssl ts -verify rejects the SHA-512 token over its root"
for s in 1 2 3; do
    ers_check "$s"
    case "$VERDICT" in "verified chains=2 ats=3 alg=sha512 "*) ;; *) fail "bag $s: $VERDICT" ;; esac
done
renew_ok --rehash sha512
grep -q "in 0 trees: nothing to do" "$T/renew.out" || fail "rehashed again: $(cat "$T/renew.out")"
covered_once

# the archive check verifies every evidence record with the [renew] anchors, and names the bag
# whose reduced hash tree was replaced behind the triggers (bag 1 given bag 2's path)
check() {
    CRC=0
    tsbag -s "tsa.trust_anchors=$PKI/tsa-ca.pem" -s "renew.trust_anchors=$PKI/tsa2-ca.pem" \
        -s "renew.policy_oids=$POLICY2" reconcile --local-only --no-progress --json \
        >"$T/check.json" 2>"$T/check.err" || CRC=$?
}
check
[ "$CRC" = 0 ] || fail "archive check exit $CRC: $(cat "$T/check.err") $(jq -c .violations "$T/check.json")"
[ "$(jq -c '.local_check | [.evidence_records, .violations]' "$T/check.json")" = "[3,0]" ] ||
    fail "archive check: $(jq -c .local_check "$T/check.json")"
sql "DROP TRIGGER ers_links_no_update;
     UPDATE ers_links SET path = (SELECT path FROM ers_links WHERE seq = 2 AND chain = 1 AND position = 1)
     WHERE seq = 1 AND chain = 1 AND position = 1"
check
[ "$CRC" = 1 ] || fail "the archive check of a replaced path exited $CRC"
[ "$(jq -r '[.violations[] | select(.kind == "evidence") | .seq] | join(",")' "$T/check.json")" = 1 ] ||
    fail "evidence violations: $(jq -c .violations "$T/check.json")"
jq -r '.violations[0].message' "$T/check.json" | grep -q "^bag 1: its evidence record does not verify (object): " ||
    fail "the violation: $(jq -r '.violations[0].message' "$T/check.json")"
"$TSB_ERS_RECORD" "$DB" 1 "$T/bad.ers" "$PKI/tsa2-ca.pem" >"$T/bad.txt" 2>&1 &&
    fail "the replaced path verifies: $(cat "$T/bad.txt")"
grep -q "^failed object: " "$T/bad.txt" || fail "the replaced path: $(cat "$T/bad.txt")"
pass
