#!/usr/bin/env bash
# bench/run-seal-latency.sh: ack latency while tsbagd seals a full-size backlog.
#   bench/run-seal-latency.sh [BUILD_DIR]     (default build/; LISTEN, CLOSED_PORT: see below)
# Stages STAGED entries (default 100 000) in a fresh tsbagd, then offers a steady RATE
# entries/s (2 000) for SECS seconds (10) and asks for a seal (tsbag seal) SEAL_AT seconds (3)
# into it: bench_load's ack-latency distribution (p50/p99/p99.9/max) is the distribution
# during the seal. The same run without the seal is printed first as the reference. The sender
# points at a closed loopback port (sealing, not sending, is measured). SIZE (256) bytes per
# entry. Before and after the two phases, the disk's own floor: FSYNCS (500) appends of 4 KiB to a
# file in the state folder, each followed by fsync (what a WAL commit does), as a latency
# distribution, so that ack latencies can be read against what the disk allows at that moment.
# Works on any build dir holding tsbagd, tsbag and bench_load, so that two builds can be
# compared on the same machine in one session. Not part of the tests.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
STAGED=${STAGED:-100000} RATE=${RATE:-2000} SECS=${SECS:-10} SIZE=${SIZE:-256}
SEAL_AT=${SEAL_AT:-3}
# LISTEN: tsbagd's ingest address (port 0: any free one); CLOSED_PORT: where the sender's TSA is
# said to be (nothing may listen there)
LISTEN=${LISTEN:-127.0.0.1:0} CLOSED_PORT=${CLOSED_PORT:-9}
. "$top/bench/lib-sealing.sh"
sealing_setup seal-lat "$build"

say() { printf '\n== %s\n' "$*"; }

sealing_start 86400 "$LISTEN" "$CLOSED_PORT"

# fsync_floor: the latency distribution of FSYNCS appends + fsync on the state folder's disk
fsync_floor() {
    python3 - "$state/fsync-floor" "${FSYNCS:-500}" <<'PY'
import os, sys, time
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
block, lat = b"\0" * 4096, []
for _ in range(n):
    t = time.perf_counter_ns()
    os.write(fd, block)
    os.fsync(fd)
    lat.append((time.perf_counter_ns() - t) / 1e6)
os.close(fd)
os.unlink(path)
lat.sort()
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("  disk floor, %d x (4 KiB append + fsync) ms: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f"
      % (n, pct(0.50), pct(0.99), pct(0.999), lat[-1]))
PY
}

say "machine: $(nproc) CPUs, $(uptime)"
say "build $build; staging $STAGED entries of $SIZE bytes"
"$load" --tcp "127.0.0.1:$port" -c 16 -P 64 -s "$SIZE" -n "$STAGED" | grep -E "acked"

# steady NAME: LOADS generators of one connection each (bench_load closes several connections of
# one process unreliably at the end of a rate-limited run), RATE/LOADS entries/s each, in the
# background; wait_steady NAME prints each one's latency line and the worst p99 and max.
LOADS=${LOADS:-4}
steady() {
    lpids=()
    for i in $(seq "$LOADS"); do
        "$load" --tcp "127.0.0.1:$port" -c 1 -P 16 -s "$SIZE" -r $((RATE / LOADS)) -d "$SECS" \
            >"$work/$1.$i.out" 2>&1 &
        lpids+=($!)
    done
}
wait_steady() {
    for p in "${lpids[@]}"; do wait "$p"; done
    cat "$work/$1".*.out | grep -E 'acked|latency' | sed 's/^ */  /'
    cat "$work/$1".*.out | awk '/ack latency/ { if ($7 > p99) p99 = $7; if ($9 > p999) p999 = $9;
        if ($11 > mx) mx = $11; p50 += $5; n++ } END { printf "  all %d: mean p50 %.3f ms, worst p99 %.3f ms, worst p99.9 %.3f ms, max %.3f ms\n",
        n, p50 / n, p99, p999, mx }'
}

fsync_floor

say "reference: $RATE entries/s for $SECS s, no seal"
steady ref
wait_steady ref

say "$RATE entries/s for $SECS s, tsbag seal after $SEAL_AT s"
steady seal
sleep "$SEAL_AT"
t0=$(date +%s.%N)
"$tsbag" -s "general.state_dir=$state" seal
t1=$(date +%s.%N)
wait_steady seal
echo "  tsbag seal took $(echo "$t1 - $t0" | bc) s (request to reply)"
fsync_floor
echo "  $(uptime)"
kill -TERM "$pid"
wait "$pid" || true
pid=
