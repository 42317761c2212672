#!/usr/bin/env bash
# Second tokens in tsbag verify and tsbag export: the second verdict beside the eHealth one
# (text and --json), --require-tsa2 turning a missing or bad second token into INVALID, and an
# evidence package shipping tsa2-token-N.der and tsa2-chain-N.pem whose README steps (stock
# openssl ts -verify) pass when run as written, and which tsbag verify --package checks again.
. "$(dirname "$0")/../sender/lib.sh"
. "$(dirname "$0")/lib.sh"

tsa2_pki
start_sim
start_tsa2 ok
# shellcheck disable=SC2046
start_daemon $(tsa2_args)
push 2 one
seal
push 2 two
seal
wait_for "SELECT count(*) FROM tsa2_tokens" 2
wait_for "SELECT count(*) FROM bags WHERE state = 'stamped'" 2
tsa2_mode down
push 2 three
seal
wait_for "SELECT state FROM bags WHERE seq = 3" stamped
wait_tsa2_requests down 1
stop_daemon
[ "$(sql "SELECT count(*) FROM tsa2_tokens WHERE seq = 3")" = 0 ] || fail "bag 3 has a second token"

A2="-s tsa2.trust_anchors=$TSA2/root.pem -s tsa.trust_anchors=$PKI/tsa-ca.pem"
# shellcheck disable=SC2086
verify() { tsbag $A2 verify "$@"; }

verify --ref 1 >"$T/v1.txt" 2>&1 || fail "verify Ref 1: $(cat "$T/v1.txt")"
grep -q "^Ref 1: VALID" "$T/v1.txt" || fail "Ref 1 not VALID: $(cat "$T/v1.txt")"
grep -q "second token *VALID: serial .* by /CN=Independent Test TSA (policy $TSA2_POLICY)" "$T/v1.txt" ||
    fail "no second verdict beside the first: $(cat "$T/v1.txt")"
verify --json --ref 1 >"$T/v1.json" || fail "verify --json Ref 1"
python3 - "$T/v1.json" <<'PY' || fail "JSON second_token of Ref 1: $(cat "$T/v1.json")"
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
assert r["verdict"] == "VALID", r
s = r["second_token"]
assert s["verdict"] == "valid" and s["tsa_subject"] == "/CN=Independent Test TSA", s
PY

# bag 3 has no second token: VALID (the eHealth token is the evidence), INVALID when required
verify --ref 5 >"$T/v5.txt" 2>&1 || fail "verify Ref 5 without --require-tsa2: $(cat "$T/v5.txt")"
grep -q "second token *MISSING: bag 3 has no second token" "$T/v5.txt" ||
    fail "the missing second token is not shown: $(cat "$T/v5.txt")"
rc=0
verify --require-tsa2 --ref 5 >"$T/v5r.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "--require-tsa2 on a bag without a second token exits $rc, not 1"
grep -q "^Ref 5: INVALID (failed check: second token)" "$T/v5r.txt" ||
    fail "--require-tsa2 does not name the second token: $(cat "$T/v5r.txt")"
rc=0
verify --require-tsa2 --json --ref 5 >"$T/v5r.json" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q '"failed_check": "second_token"' "$T/v5r.json" ||
    fail "--require-tsa2 --json: $rc $(cat "$T/v5r.json")"
verify --require-tsa2 --ref 1 >/dev/null 2>&1 || fail "--require-tsa2 refuses a bag with a good second token"

# shellcheck disable=SC2086
# a bad second token (a copy of the archive where bag 2 carries bag 1's second token)
cp "$DB" "$T/bad.db"
sqlite3 -batch "$T/bad.db" "DROP TRIGGER tsa2_tokens_no_update; UPDATE tsa2_tokens SET token = (SELECT token FROM tsa2_tokens WHERE seq = 1) WHERE seq = 2" ||
    fail "cannot prepare the tampered copy"
rc=0
tsbag $A2 -s "store.path=$T/bad.db" verify --ref 3 >"$T/vbad.txt" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q "second token *INVALID: messageImprint" "$T/vbad.txt" ||
    fail "a second token over other bytes: $rc $(cat "$T/vbad.txt")"
rc=0
tsbag $A2 -s "store.path=$T/bad.db" verify --require-tsa2 --ref 3 >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "--require-tsa2 accepts a second token over other bytes (exit $rc)"

# the package holds both tokens of bags 1 and 2, and only the eHealth token of bag 3
tsbag $A2 export --out "$T/pkg" --ref 1 --ref 3 --ref 5 >"$T/export.txt" 2>&1 ||
    fail "export: $(cat "$T/export.txt")"
grep -q "3 bags (2 with a second token)" "$T/export.txt" || fail "export summary: $(cat "$T/export.txt")"
for f in tsa2-token-1.der tsa2-chain-1.pem tsa2-token-2.der tsa2-chain-2.pem tsa2-anchor.pem \
    token-3.der; do
    [ -s "$T/pkg/$f" ] || fail "the package lacks $f"
done
[ -e "$T/pkg/tsa2-token-3.der" ] && fail "the package ships a second token bag 3 does not have"
cmp -s "$T/pkg/tsa2-anchor.pem" "$TSA2/root.pem" || fail "tsa2-anchor.pem is not the second TSA's root"
# the README's second-token steps, run exactly as written
grep '^    \$ openssl ts -verify .*tsa2-token' "$T/pkg/README.txt" | sed 's/^    \$ //' >"$T/steps.sh"
[ "$(wc -l <"$T/steps.sh")" = 2 ] || fail "README has $(wc -l <"$T/steps.sh") second-token steps, not 2"
(cd "$T/pkg" && bash -e "$T/steps.sh") >"$T/steps.out" 2>&1 || fail "README steps fail: $(cat "$T/steps.out")"
[ "$(grep -c '^Verification: OK' "$T/steps.out")" = 2 ] || fail "README steps: $(cat "$T/steps.out")"
tsbag verify --anchors "$PKI/tsa-ca.pem" --package "$T/pkg" --tsa2-anchors "$TSA2/root.pem" --require-tsa2 --ref 1 --ref 3 \
    >"$T/vp.txt" 2>&1 || fail "verify --package --require-tsa2: $(cat "$T/vp.txt")"
[ "$(grep -c "second token *VALID" "$T/vp.txt")" = 2 ] || fail "package second verdicts: $(cat "$T/vp.txt")"
rc=0
tsbag verify --anchors "$PKI/tsa-ca.pem" --package "$T/pkg" --tsa2-anchors "$TSA2/root.pem" --require-tsa2 --ref 5 \
    >"$T/vp5.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "verify --package --require-tsa2 on bag 3 exits $rc"
pass
