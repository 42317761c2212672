#!/usr/bin/env bash
# bench/run-ingest.sh: tsbagd ingest throughput and latency against redis-server with
# appendfsync always (the nearest peer doing "durable small write over a socket"), in one run.
#   bench/run-ingest.sh [BUILD_DIR]     (default build/)
# Environment: SIZE (1024) CONNS (50) DEPTH (16) COUNT (200000) RATE (10000) RATE_SECS (10)
#              OVERLOAD_SECS (15); TSBAGD and BENCH_LOAD name prebuilt binaries (no build step)
# Installs redis-server/redis-tools with apt-get if they are missing. Not part of the tests.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
SIZE=${SIZE:-1024} CONNS=${CONNS:-50} DEPTH=${DEPTH:-16} COUNT=${COUNT:-200000}
RATE=${RATE:-10000} RATE_SECS=${RATE_SECS:-10} OVERLOAD_SECS=${OVERLOAD_SECS:-15}

say() { printf '\n== %s\n' "$*"; }

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    say "installing redis-server and redis-tools"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        redis-server redis-tools >/dev/null
fi

if [ -z "${TSBAGD:-}" ] || [ -z "${BENCH_LOAD:-}" ]; then
    cmake --build "$build" --target bench tsbagd -j "$(nproc)" >/dev/null
fi
tsbagd=${TSBAGD:-$build/src/daemon/tsbagd}
load=${BENCH_LOAD:-$build/bench/bench_load}

work=$(mktemp -d "${TMPDIR:-/tmp}/tsbag-bench-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_tsbagd() { # name, extra -s options...
    local dir=$work/$1
    shift
    mkdir -p "$dir"
    local args=(-s "general.state_dir=$dir" -s ingest.tcp_listen=127.0.0.1:0 -s ingest.tls=false)
    for o in "$@"; do args+=(-s "$o"); done
    "$tsbagd" "${args[@]}" 2>"$dir/tsbagd.log" &
    tsbagd_pid=$!
    pids+=("$tsbagd_pid")
    for _ in $(seq 200); do [ -s "$dir/tsbagd.port" ] && break; sleep 0.05; done
    tsbagd_port=$(cat "$dir/tsbagd.port")
    tsbagd_dir=$dir
}

stop_tsbagd() {
    kill -TERM "$tsbagd_pid"
    wait "$tsbagd_pid" || true
}

say "machine"
nproc; uname -srm; uptime
df -h "$work" | tail -1

say "tsbagd: S=$SIZE N=$CONNS P=$DEPTH, $COUNT entries over TCP loopback (plain)"
start_tsbagd main
"$load" --tcp "127.0.0.1:$tsbagd_port" -c "$CONNS" -P "$DEPTH" -s "$SIZE" -n "$COUNT" | tee "$work/tsbagd.out"
tsb_rate=$(sed -n 's/^RESULT acks_per_s=\([0-9]*\).*/\1/p' "$work/tsbagd.out")

say "tsbagd: same load over the Unix socket"
"$load" --socket "$tsbagd_dir/tsbagd.sock" -c "$CONNS" -P "$DEPTH" -s "$SIZE" -n "$COUNT"

say "tsbagd: rate-limited to $RATE entries/s for $RATE_SECS s (latency at a steady rate)"
"$load" --tcp "127.0.0.1:$tsbagd_port" -c "$CONNS" -P "$DEPTH" -s "$SIZE" -r "$RATE" -d "$RATE_SECS"
stop_tsbagd

say "redis-server --appendonly yes --appendfsync always; redis-benchmark -t set -d $SIZE -c $CONNS -P $DEPTH -n $COUNT"
rport=$((20000 + RANDOM % 20000))
mkdir -p "$work/redis"
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes \
    --appendfsync always --save '' --daemonize no >"$work/redis/log" 2>&1 &
rpid=$!
pids+=("$rpid")
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-benchmark -p "$rport" -t set -d "$SIZE" -c "$CONNS" -P "$DEPTH" -n "$COUNT" -r 100000000 \
    --csv | tee "$work/redis.out"
redis_rate=$(grep '"SET"' "$work/redis.out" | cut -d, -f2 | tr -d '"')
kill "$rpid"; wait "$rpid" 2>/dev/null || true

say "overload: 200 connections x depth 256 x 4 KiB with entry bytes stored, $OVERLOAD_SECS s"
start_tsbagd overload store.store_content=true
"$load" --tcp "127.0.0.1:$tsbagd_port" -c 200 -P 256 -s 4096 -d "$OVERLOAD_SECS" --watch &
lp=$!
peak=0
while kill -0 "$lp" 2>/dev/null; do
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$tsbagd_pid/status" 2>/dev/null || echo 0)
    [ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
    sleep 0.2
done
wait "$lp" || true
echo "tsbagd peak RSS (VmHWM): $((peak / 1024)) MiB (writer.queue_bytes=8388608, max_inflight=256)"
stop_tsbagd

say "summary (S=$SIZE N=$CONNS P=$DEPTH)"
printf 'tsbagd  %10.0f acks/s (TCP loopback, fsync per group commit)\n' "$tsb_rate"
printf 'redis   %10.0f SET/s  (appendfsync always)\n' "$redis_rate"
awk -v a="$tsb_rate" -v b="$redis_rate" 'BEGIN { printf "ratio   %10.2fx (target >= 1.5x)\n", a / b }'
