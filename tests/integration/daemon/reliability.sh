#!/usr/bin/env bash
# integration.reliability (label `reliability`, left out of tools/dev test): for
# $TSB_RELIABILITY_SECONDS (default 600) a real tsbagd seals every second and sends to a real
# ehealth-sim while `tsbag push` loads it, `tsbag reconcile --local-only` runs over and over
# beside it, and tsbagd and the simulator are killed with SIGKILL at random moments and
# restarted. At the end, with everything restarted until every bag is stamped:
#   - every entry ever acknowledged is in the archive under the Ref and hash its ACK carried,
#     and no Ref was acknowledged twice;
#   - SequenceNumbers are gap-free and every entry is in a bag;
#   - every stamped token passes stock `openssl ts -verify` against its bag's bytes;
#   - every check run during the test, and a last one, was CLEAN (exit 0).
# The summary line gives cycles, kills, acks checked, bags verified and check runs.
# Replay: TSB_RELIABILITY_SEED (bash $RANDOM seed).
. "$(dirname "$0")/lib.sh"

SECONDS_WANTED=${TSB_RELIABILITY_SECONDS:-600}
SEED=${TSB_RELIABILITY_SEED:-$(($(date +%s) ^ $$))}
RANDOM=$SEED
CHECK_LOG=$T/checks.txt
CHECK_PID=
echo "integration.reliability: ${SECONDS_WANTED} s, seed $SEED (TSB_RELIABILITY_SEED to replay)"

# the checker loop outlives a failure: stop it before lib.sh's cleanup removes $T
trap 'stop_checks; cleanup' EXIT

DAEMON_ARGS=(-s sealer.interval_s=1 -s store.store_content=false)
check_args=(-s "tsa.trust_anchors=$PKI/tsa-ca.pem")

# ms_sleep MIN MAX: sleeps a random time in [MIN, MAX] ms (the random moment of a kill).
ms_sleep() {
    local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

# make_entries DIR N K: N distinct journal entries of random length as files in DIR.
make_entries() {
    rm -rf "$1" && mkdir -p "$1"
    awk -v d="$1" -v n="$2" -v k="$3" -v s="$RANDOM" 'BEGIN {
        srand(s)
        pad = sprintf("%300s", "")
        for (i = 1; i <= n; i++) {
            f = d "/e" i
            printf "reliability|pool=%d|%d|%d|%s", k, i, int(rand() * 1e9),
                substr(pad, 1, int(rand() * 300)) > f
            close(f)
        }
    }'
}

# The checker: `tsbag reconcile --local-only` back to back until $T/stop-checks exists; one line
# per run in $CHECK_LOG ("<run> <exit> <result> <violations>"), the report of a non-clean run
# kept as $T/check-<run>.json.
check_loop() {
    local n=0 rc
    while [ ! -e "$T/stop-checks" ]; do
        n=$((n + 1))
        rc=0
        "$TSBAG" -s "general.state_dir=$T/state" "${check_args[@]}" reconcile --local-only --json \
            >"$T/check.json" 2>"$T/check.err" || rc=$?
        echo "$n $rc $(jq -r '.result + " " + (.local_check.violations | tostring)' "$T/check.json" 2>/dev/null || echo "no-report -")" >>"$CHECK_LOG"
        if [ "$rc" != 0 ]; then
            cp "$T/check.json" "$T/check-$n.json" 2>/dev/null
            cat "$T/check.err" >>"$T/check-errors.txt"
        fi
        sleep 0.2 # leave the two cores some room between runs; not a synchronisation
    done
}

stop_checks() {
    [ -n "$CHECK_PID" ] || return 0
    : >"$T/stop-checks"
    wait "$CHECK_PID" 2>/dev/null
    CHECK_PID=
}

# The load: a pool of folders of distinct journal entries, pushed again and again (each push of
# the same bytes is a new entry with a new Ref).
POOL=8 POOL_SIZE=4000
for k in $(seq 1 $POOL); do make_entries "$T/pool/$k" "$POOL_SIZE" "$k"; done

start_sim
fresh_daemon "${DAEMON_ARGS[@]}"
: >"$CHECK_LOG"
check_loop &
CHECK_PID=$!

mkdir -p "$T/acks"
end=$((SECONDS + SECONDS_WANTED))
cycles=0 daemon_kills=0 sim_kills=0
while [ "$SECONDS" -lt "$end" ]; do
    cycles=$((cycles + 1))
    [ -n "$D_PID" ] || fresh_daemon "${DAEMON_ARGS[@]}"
    [ -n "$SIM_PID" ] || start_sim
    # two clients, each pushing 1 to 4 folders of the pool (4 000 to 16 000 entries, pipelined)
    pushers=() sent=0
    for c in 1 2; do
        picks=()
        for k in $(seq 1 $((1 + RANDOM % 4))); do picks+=("$T/pool/$((1 + RANDOM % POOL))"); done
        sent=$((sent + ${#picks[@]} * POOL_SIZE))
        # tsbag push prints "<Ref> <hash> <file>" for each ACK it received, and only for those
        tsbag push --depth 128 "${picks[@]}" >"$T/acks/cycle-$cycles-$c.txt" 2>>"$T/push-errors.txt" &
        pushers+=($!)
    done
    ms_sleep 0 1000
    if [ $((RANDOM % 2)) = 0 ]; then # the TSA dies at a random moment and comes back
        kill -KILL "$SIM_PID"
        wait "$SIM_PID" 2>/dev/null
        SIM_PID=
        sim_kills=$((sim_kills + 1))
        ms_sleep 0 1000
        start_sim
    fi
    ms_sleep 50 1500 # tsbagd dies while the load flows, or while it seals and sends after it
    kill9_daemon
    daemon_kills=$((daemon_kills + 1))
    wait "${pushers[@]}" # they exit 1 when the daemon died under them
    if [ $((RANDOM % 4)) = 0 ] && [ -n "$SIM_PID" ]; then # now and then the TSA dies with it
        kill -KILL "$SIM_PID"
        wait "$SIM_PID" 2>/dev/null
        SIM_PID=
        sim_kills=$((sim_kills + 1))
    fi
    echo "cycle $cycles: $(cat "$T/acks/cycle-$cycles"-*.txt | wc -l) of $sent acked before the kill"
done

# Everything back up until every entry is sealed and every bag stamped.
[ -n "$SIM_PID" ] || start_sim
fresh_daemon "${DAEMON_ARGS[@]}"
wait_for "SELECT count(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM bags b WHERE e.ref BETWEEN b.first_ref AND b.last_ref)" 0 300
wait_for "SELECT count(*) FROM bags WHERE state <> 'stamped'" 0 300
stop_checks
stop_daemon

# every ACK: in the archive under its Ref with its hash, no Ref twice
# (tsbag push writes each line whole as its ACK arrives and exits cleanly when tsbagd dies under
# it: a half line would be an ACK record lost, so it fails the test)
half=$(grep -h -c -v -E '^[0-9]+ [0-9a-f]{64} ' "$T/acks"/cycle-*.txt | awk '{ n += $1 } END { print n + 0 }')
[ "$half" = 0 ] || fail "$half lines of tsbag push's output are not whole '<Ref> <hash> <file>' lines"
grep -h -E '^[0-9]+ [0-9a-f]{64} ' "$T/acks"/cycle-*.txt | awk '{ print $1 "," $2 }' >"$T/acks.csv"
acks=$(wc -l <"$T/acks.csv")
[ "$acks" -gt 0 ] || fail "no entry was acknowledged at all"
missing=$(sqlite3 -batch "$T/acks.db" "CREATE TABLE acks (ref INTEGER, hash TEXT);" ".mode csv" \
    ".import $T/acks.csv acks" ".mode list" "ATTACH '$DB' AS arc;" \
    "SELECT count(*) FROM acks a LEFT JOIN arc.entries e ON e.ref = a.ref
         WHERE e.ref IS NULL OR lower(hex(e.hash)) <> a.hash;") || fail "sqlite3 on the acks"
if [ "$missing" != 0 ]; then
    # the evidence: each such ACK line as the client printed it, and what the archive holds there
    sqlite3 -batch "$T/acks.db" "ATTACH '$DB' AS arc;" \
        "SELECT 'acked Ref ' || a.ref || ' hash ' || a.hash || ', archive: ' ||
                coalesce(lower(hex(e.hash)) || ' in bag ' || coalesce((SELECT b.seq FROM arc.bags b
                    WHERE e.ref BETWEEN b.first_ref AND b.last_ref), '-'), 'no row')
         FROM acks a LEFT JOIN arc.entries e ON e.ref = a.ref
         WHERE e.ref IS NULL OR lower(hex(e.hash)) <> a.hash LIMIT 5;" >&2
    cat "$T/acks"/cycle-*.txt | awk 'NF != 3 || length($2) != 64' | head -n 5 >&2
    fail "$missing of $acks acknowledged entries are missing or differ in the archive"
fi
[ "$(sqlite3 -batch "$T/acks.db" "SELECT count(*) - count(DISTINCT ref) FROM acks")" = 0 ] ||
    fail "a Ref was acknowledged twice"

gap_free
verify_stamped
bags=$(sql "SELECT count(*) FROM bags WHERE state = 'stamped'")

# a last check on the quiet archive, then every run's verdict
rc=0
"$TSBAG" -s "general.state_dir=$T/state" "${check_args[@]}" reconcile --local-only --json \
    >"$T/check-last.json" 2>&1 || rc=$?
echo "last $rc $(jq -r '.result' "$T/check-last.json" 2>/dev/null)" >>"$CHECK_LOG"
runs=$(wc -l <"$CHECK_LOG")
bad=$(awk '$2 != 0' "$CHECK_LOG" | wc -l)
summary="integration.reliability: $cycles cycles ($daemon_kills tsbagd and $sim_kills simulator kill -9), $acks acks checked, $bags bags stamped and verified, $runs check runs"
if [ "$bad" != 0 ]; then
    echo "$summary, $bad NOT CLEAN:"
    awk '$2 != 0' "$CHECK_LOG" | head -n 20
    for f in "$T"/check-[0-9]*.json; do
        [ -e "$f" ] || continue
        echo "--- $(basename "$f"): violation kinds"
        jq -r '.violations[].kind' "$f" 2>/dev/null | sort | uniq -c
        jq -r '.violations[0].message // empty, .errors[]?' "$f" 2>/dev/null | head -n 3
        break
    done
    [ -s "$T/check-errors.txt" ] && { echo "--- stderr of failed runs (head)"; head -n 5 "$T/check-errors.txt"; }
    fail "$bad of $runs check runs were not CLEAN"
fi
echo "$summary, all CLEAN"
pass
