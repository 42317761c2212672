#!/usr/bin/env bash
# wal_storm [SECONDS]: the WAL stays bounded under readers. A real tsbagd ingests (entries with
# 2 KiB of stored content, pushed in a loop), seals every second and stamps through the
# simulator, while three reader loops run for SECONDS (default 10; 60 under the `reliability`
# label): `tsbag verify --ref`, `tsbag status` and `tsbag reconcile --local-only`. The WAL's size
# is printed before, at its largest during, and after the storm; once the readers stop, it must
# come back under 16 MiB with the load still running (tsbagd's journal_size_limit and truncating
# checkpoints), and under 1 MiB once idle. Size assertions, not timing ones: each polls for up to
# 120 s.
. "$(dirname "$0")/lib.sh"

STORM=${1:-10}
CAP=$((16 * 1024 * 1024)) # TSB_STORE_WAL_LIMIT
IDLE_CAP=$((1024 * 1024))  # an idle writer truncates the WAL to nothing
WAL=$DB-wal
start_sim
start_daemon -s sealer.interval_s=1 -s store.store_content=true
start_load 500 2048
wait_for "SELECT count(*) > 0 FROM bags WHERE state = 'stamped'" 1 60
before=$(size "$WAL")

# reader loops, until $T/bg.stop
rm -f "$T/bg.stop"
reader() {
    local n=0
    while [ ! -e "$T/bg.stop" ]; do
        "$@" >/dev/null 2>&1
        n=$((n + 1))
    done
    echo "$n" >"$T/readers.$BASHPID"
}
reader tsbag verify --ref 1 &
BG_PIDS="$BG_PIDS $!"
reader tsbag status &
BG_PIDS="$BG_PIDS $!"
reader check_archive &
BG_PIDS="$BG_PIDS $!"

# measure (not synchronise): the WAL's largest size while the readers run
max=$before
end=$(($(date +%s) + STORM))
while [ "$(date +%s)" -lt "$end" ]; do
    s=$(size "$WAL")
    [ "$s" -gt "$max" ] && max=$s
    sleep 0.2
done
touch "$T/bg.stop"
for p in $BG_PIDS; do wait "$p" 2>/dev/null; done
BG_PIDS=
at_end=$(size "$WAL")
reads=$(cat "$T"/readers.* 2>/dev/null | awk '{ n += $1 } END { print n + 0 }')

# readers gone, load still running: the WAL must come back under the cap
poll_wal() {
    local i s
    for i in $(seq 1 600); do
        s=$(size "$WAL")
        [ "$s" -le "$1" ] && { echo "$s"; return 0; }
        sleep 0.2
    done
    echo "$s"
    return 1
}
busy_after=$(poll_wal "$CAP") || busy_fail=1
stop_load
idle_after=$(poll_wal "$IDLE_CAP") || idle_fail=1
entries=$(sql "SELECT count(*) FROM entries")
bags=$(sql "SELECT count(*) FROM bags")
echo "wal_storm: ${STORM} s storm, $reads reads, $entries entries, $bags bags; WAL before" \
    "$(mib "$before"), largest during $(mib "$max"), at storm end $(mib "$at_end"), after the" \
    "readers stopped $(mib "$busy_after") (load running, cap $(mib "$CAP")), $(mib "$idle_after")" \
    "(idle, cap $(mib "$IDLE_CAP"))"
[ -z "${busy_fail:-}" ] || fail "the WAL stayed at $(mib "$busy_after") after the readers stopped (cap $(mib "$CAP"))"
[ -z "${idle_fail:-}" ] || fail "the WAL stayed at $(mib "$idle_after") once idle (cap $(mib "$IDLE_CAP"))"
[ "$reads" -gt 0 ] || fail "no reader ran"
tsbag status >"$T/status.txt" 2>&1 || fail "status: $(cat "$T/status.txt")"
grep -q "^WAL: " "$T/status.txt" || fail "status does not show the WAL: $(cat "$T/status.txt")"
stop_daemon
pass
