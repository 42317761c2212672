#!/usr/bin/env bash
# The reconcile report is valid JSON whatever bytes its texts carry: a keystore path that is not
# UTF-8 (Latin-1 "caf\xe9") ends up in an error line; the printed report and the one recorded in
# reconcile_runs must both parse with a strict UTF-8 JSON parser (python3; jq would repair the
# bytes silently), with U+FFFD in place of the stray byte.
. "$(dirname "$0")/lib.sh"

start_sim
BAD=$'/nonexistent/caf\xe9.p12'
RC=0
"$TSBAG" -c "$T/tsbag.ini" -s "tsa.keystore=$BAD" reconcile --no-progress --from 1000 --to 2000 \
    --json >"$T/out.txt" 2>"$T/err.txt" || RC=$?
[ "$RC" = 2 ] || fail "unreadable keystore: exit $RC, expected 2"
strict='import json, sys
d = json.loads(sys.stdin.buffer.read().decode("utf-8"))
print(d["errors"][0])'
line=$(python3 -c "$strict" <"$T/out.txt") || fail "the printed report is not strict UTF-8 JSON"
case "$line" in
*"caf"$'\xef\xbf\xbd'".p12"*) ;;
*) fail "the error line does not show the path with U+FFFD: $line" ;;
esac
sql "SELECT report FROM reconcile_runs ORDER BY id DESC LIMIT 1" >"$T/recorded.json"
python3 -c "$strict" <"$T/recorded.json" >/dev/null || fail "the recorded report is not strict UTF-8 JSON"
pass
