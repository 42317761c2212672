#!/usr/bin/env bash
# integration.verify_json: `tsbag verify --json` stays valid JSON whatever the input's name: a
# document named in Latin-1 ("caf\xe9.txt") is reported with U+FFFD in "input", and the whole
# output parses with a strict UTF-8 JSON parser (python3; jq would repair the bytes silently).
. "$(dirname "$0")/lib.sh"
cd "$T"

cp doc1.txt $'caf\xe9.txt'
expect_rc 0 tsb verify --json $'caf\xe9.txt'
got=$(python3 -c 'import json, sys
d = json.loads(sys.stdin.buffer.read().decode("utf-8"))
r = d["results"][0]
print(r["input"], r["verdict"], d["summary"]["valid"])' <"$T/out") ||
    fail "the output is not strict UTF-8 JSON"
[ "$got" = $'caf\xef\xbf\xbd.txt VALID 1' ] || fail "unexpected result: $got"
pass
