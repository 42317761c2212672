#!/usr/bin/env bash
# push_output: `tsbag push`'s output is the client's record of what tsbagd acknowledged, so it
# must never hold a half line nor vanish with the process:
#   - each "<Ref> <hash> <file>" line is written whole as its ACK arrives (line-buffered even into
#     a file): a push killed with SIGKILL mid-run leaves only whole lines, each in the archive;
#   - an output that cannot be written (a pipe whose reader left) is an error push reports and
#     exits 1 on, not a SIGPIPE that kills it silently (exit 141).
. "$(dirname "$0")/lib.sh"

start_sim
start_daemon

mkdir -p "$T/many"
for i in $(seq 1 3000); do printf 'push-output|%d|%s' "$i" "$RANDOM" >"$T/many/e$i"; done

# 1. killed mid-run: whole lines only, each one acknowledged into the archive
# the binary itself, not the tsbag shell function: $! of a backgrounded function is a subshell,
# and killing it would leave the push running and writing
"$TSBAG" -s "general.state_dir=$T/state" push --depth 1 "$T/many" >"$T/acks.txt" 2>"$T/push.err" &
pid=$!
for i in $(seq 1 600); do
    [ -s "$T/acks.txt" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ -s "$T/acks.txt" ] || fail "no acknowledgement was written before the kill"
[ "$(tail -c 1 "$T/acks.txt" | od -An -c | tr -d ' ')" = '\n' ] ||
    fail "the output ends in a half line: $(tail -c 80 "$T/acks.txt")"
bad=$(awk 'NF != 3 || $1 !~ /^[0-9]+$/ || length($2) != 64 || $2 !~ /^[0-9a-f]+$/' "$T/acks.txt" | head -n 3)
[ -z "$bad" ] || fail "malformed output lines: $bad"
# every printed (Ref, hash) is in the archive: one query over all lines (a sqlite3 process per
# line took minutes on a loaded machine); it prints "<lines> <lines whose Ref has that hash>"
n=$(wc -l <"$T/acks.txt")
got=$({
    echo "ATTACH '$DB' AS a; CREATE TABLE acked(ref INTEGER, hash TEXT);"
    awk '{ printf "INSERT INTO acked VALUES(%s, '"'"'%s'"'"');\n", $1, $2 }' "$T/acks.txt"
    echo "SELECT count(*) || ' ' || count(e.ref) FROM acked k
          LEFT JOIN a.entries e ON e.ref = k.ref AND lower(hex(e.hash)) = k.hash;"
} | sqlite3 -batch :memory:) || fail "sqlite3 on the archive"
[ "$got" = "$n $n" ] || fail "of $n printed Refs, [lines matched] = [$got]: the archive disagrees"
echo "push_output: $(wc -l <"$T/acks.txt") whole lines written before SIGKILL"

# 2. an output nobody reads: an error and exit 1, never death by SIGPIPE
printf 'push-output|pipe' >"$T/one"
tsbag push "$T/one" 2>"$T/pipe.err" | true
rc=${PIPESTATUS[0]}
[ "$rc" != 141 ] || fail "tsbag push was killed by SIGPIPE (exit 141): it reported nothing"
[ "$rc" = 1 ] || fail "tsbag push exited $rc with an unwritable output, expected 1: $(cat "$T/pipe.err")"
grep -q "cannot write" "$T/pipe.err" || fail "no error names the output: $(cat "$T/pipe.err")"

stop_daemon
pass
