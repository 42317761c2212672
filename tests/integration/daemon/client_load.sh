#!/usr/bin/env bash
# integration.client_load: the protocol client (src/io/client.c) under deep pipelining against a
# real ingest-only tsbagd on its Unix socket, in whatever build ctest runs (ASan+UBSan in
# tools/dev test):
#   - bench_load -c 4 -P 16 -n 2000 ends with exit 0, every request acknowledged, every
#     connection closed (it used to corrupt the heap when it closed them);
#   - tsbag push --depth 256 of 300 files prints one "<Ref> <hash> <file>" line per file, once
#     each, and all of them are in the archive.
. "$(dirname "$0")/lib.sh"

BENCH=${TSB_BENCH_LOAD:?}
[ -x "$BENCH" ] || fail "TSB_BENCH_LOAD does not name the bench_load binary"

fresh_daemon -s sealer.enabled=false

rc=0
"$BENCH" -c 4 -P 16 -s 64 -n 2000 --socket "$T/state/tsbagd.sock" >"$T/out.txt" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "bench_load -c 4 -P 16 exited $rc"
grep -q '^RESULT .* acked=2000 ' "$T/out.txt" || fail "bench_load did not have 2000 entries acknowledged"
grep -q 'nacked 0, lost 0' "$T/out.txt" || fail "bench_load saw NACKs or lost replies"
wait_for "SELECT count(*) FROM entries" 2000

d=$T/entries-deep
mkdir -p "$d"
for i in $(seq 1 300); do printf 'deep|prescription|%s' "$i" >"$d/e$i"; done
rc=0
tsbag push --depth 256 "$d" >"$T/push.txt" 2>>"$T/out.txt" || rc=$?
[ "$rc" = 0 ] || fail "tsbag push --depth 256 exited $rc"
[ "$(wc -l <"$T/push.txt")" = 300 ] || fail "tsbag push printed $(wc -l <"$T/push.txt") lines, not 300"
[ "$(awk '{print $3}' "$T/push.txt" | sort -u | wc -l)" = 300 ] || fail "a file was acknowledged twice or not at all"
wait_for "SELECT count(*) FROM entries" 2300
stop_daemon
pass
