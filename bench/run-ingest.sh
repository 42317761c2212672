#!/usr/bin/env bash
# bench/run-ingest.sh: durable ingest throughput of tsbagd (ingest only: sealer.enabled=false)
# against redis-server --appendfsync always + redis-benchmark -t set, the nearest peer doing
# "durable small write over a socket", on the same load, alternated A B A B ... in one run; then
# tsbagd's ack latency at a steady rate, beside the latency the disk alone allows at that rate
# (bench_fsync: an ideal group commit, no CPU), and its peak RSS under overload. Works on a fresh clone:
# installs its Debian packages (tools/dev bench-setup) and builds Release itself.
#   bench/run-ingest.sh [BUILD_DIR]     (default build-release/)
# Environment: SIZE (1024) CONNS (50) DEPTH (16) COUNT (100000 per side and pair) PAIRS (5)
#              RATE (10000) RATE_SECS (10) OVERLOAD_SECS (15); PERF=1 records the first tsbagd
#              pass with `perf record -g` and prints the writer and loop threads' profiles;
#              TSBAGD, BENCH_LOAD and BENCH_FSYNC name prebuilt binaries (no build step);
#              SET: more tsbagd settings for every phase, e.g. SET="writer.sync_thread=false".
# Every server gets a fresh data folder under $TMPDIR (default /tmp): the same disk for both.
# The output is also saved to bench/out/ingest-<UTC time>.txt. Not part of the tests.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build-release}
SIZE=${SIZE:-1024} CONNS=${CONNS:-50} DEPTH=${DEPTH:-16} COUNT=${COUNT:-100000}
PAIRS=${PAIRS:-5} RATE=${RATE:-10000} RATE_SECS=${RATE_SECS:-10}
OVERLOAD_SECS=${OVERLOAD_SECS:-15} PERF=${PERF:-0}

say() { printf '\n== %s\n' "$*"; }

"$top/tools/dev" bench-setup # idempotent: installs only what is missing

if [ -z "${TSBAGD:-}" ] || [ -z "${BENCH_LOAD:-}" ] || [ -z "${BENCH_FSYNC:-}" ]; then
    # Release without -Werror: this build measures, the test builds check warnings
    cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTSB_WERROR=OFF >/dev/null
    cmake --build "$build" --target tsbagd bench_load bench_fsync -j "$(nproc)" >/dev/null 2>&1 ||
        cmake --build "$build" --target tsbagd bench_load bench_fsync -j 1
fi
tsbagd=${TSBAGD:-$build/src/daemon/tsbagd}
load=${BENCH_LOAD:-$build/bench/bench_load}
fsync_floor=${BENCH_FSYNC:-$build/bench/bench_fsync}

work=$(mktemp -d "${TMPDIR:-/tmp}/tsbag-bench-XXXXXX")
mkdir -p "$top/bench/out"
out="$top/bench/out/ingest-$(date -u +%Y%m%dT%H%M%SZ).txt"
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
exec > >(tee "$out") 2>&1

tck=$(getconf CLK_TCK)
# utime + stime of every thread of process $1, in seconds (fields 14 and 15 of /proc/PID/stat,
# counted after the parenthesised command name, which may hold spaces)
cpu_s() { sed 's/^.*) //' "/proc/$1/stat" | awk -v t="$tck" '{ printf "%.2f", ($12 + $13) / t }'; }
# the same for tsbagd's writer thread (named tsbagd-writer) alone
writer_cpu_s() {
    local t
    for t in /proc/"$1"/task/*; do
        [ "$(cat "$t/comm")" = tsbagd-writer ] && sed 's/^.*) //' "$t/stat" |
            awk -v t="$tck" '{ printf "%.2f", ($12 + $13) / t }'
    done
}

# Starts tsbagd ingest-only on a fresh state folder $work/$1, TCP plain on loopback. Besides the
# connection limits (the defaults admit 32 connections per peer address and 64 before HELLO;
# every client here is 127.0.0.1) and no metrics endpoint, the configuration is the default.
start_tsbagd() { # name, extra section.key=value...
    local dir=$work/$1
    shift
    mkdir -p "$dir"
    local args=(-s "general.state_dir=$dir" -s ingest.tcp_listen=127.0.0.1:0 -s ingest.tls=false
        -s sealer.enabled=false -s metrics.listen= -s ingest.max_connections_per_source=1000
        -s ingest.max_pending=1000)
    # shellcheck disable=SC2086 # SET is a list of settings
    for o in "$@" ${SET:-}; do args+=(-s "$o"); done
    "$tsbagd" "${args[@]}" 2>"$dir/tsbagd.log" &
    server_pid=$!
    local i
    for i in $(seq 600); do
        [ -s "$dir/tsbagd.port" ] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$dir/tsbagd.log"; exit 1; }
        sleep 0.05
    done
    [ -s "$dir/tsbagd.port" ] || { echo "tsbagd did not listen; log:"; cat "$dir/tsbagd.log"; exit 1; }
    tsbagd_port=$(cat "$dir/tsbagd.port")
}

# redis-server cannot pick a free port itself (--port 0 turns TCP off): a random one, and
# another one if that is taken
start_redis() { # name
    local dir=$work/$1 i try
    mkdir -p "$dir"
    for try in 1 2 3 4 5; do
        rport=$((20000 + RANDOM % 20000))
        redis-server --port "$rport" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
            --appendfsync always --save '' --daemonize no >"$dir/log" 2>&1 &
        server_pid=$!
        for i in $(seq 600); do
            kill -0 "$server_pid" 2>/dev/null || break
            # ours answering, not another redis already on that port
            redis-cli -p "$rport" info server 2>/dev/null | tr -d '\r' |
                grep -qx "process_id:$server_pid" && return 0
            sleep 0.05
        done
        kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
        server_pid=
    done
    echo "redis-server did not start; its last log:"
    cat "$dir/log"
    exit 1
}

stop_server() {
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=
}

say "machine"
echo "$(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
df -h "$work" | tail -1
"$tsbagd" --version
redis-server --version
[ -z "${SET:-}" ] || echo "tsbagd settings besides the defaults: $SET"

say "throughput: S=$SIZE N=$CONNS P=$DEPTH, $COUNT durable writes per side, $PAIRS pairs (tsbagd, then redis)"
ratios=() tsb_cpus=() redis_cpus=()
for p in $(seq "$PAIRS"); do
    start_tsbagd "pair$p-tsbagd"
    if [ "$PERF" = 1 ] && [ "$p" = 1 ]; then
        perf record -q -g -p "$server_pid" -o "$work/perf.data" 2>/dev/null &
        perf_pid=$!
    fi
    c0=$(cpu_s "$server_pid") w0=$(writer_cpu_s "$server_pid")
    "$load" --tcp "127.0.0.1:$tsbagd_port" -c "$CONNS" -P "$DEPTH" -s "$SIZE" -n "$COUNT" \
        >"$work/tsbagd.out"
    c1=$(cpu_s "$server_pid") w1=$(writer_cpu_s "$server_pid")
    if [ "$PERF" = 1 ] && [ "$p" = 1 ]; then
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
    fi
    stop_server
    read -r t_rate t_acked t_p50 t_p99 < <(sed -n \
        's/^RESULT acks_per_s=\([0-9]*\) acked=\([0-9]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\).*/\1 \2 \3 \4/p' \
        "$work/tsbagd.out")
    t_cpu=$(awk -v a="$c0" -v b="$c1" -v n="$t_acked" 'BEGIN { printf "%.2f", (b - a) * 100000 / n }')
    t_wcpu=$(awk -v a="$w0" -v b="$w1" -v n="$t_acked" 'BEGIN { printf "%.2f", (b - a) * 100000 / n }')

    start_redis "pair$p-redis"
    c0=$(cpu_s "$server_pid")
    redis-benchmark -p "$rport" -t set -d "$SIZE" -c "$CONNS" -P "$DEPTH" -n "$COUNT" \
        -r 100000000 --csv >"$work/redis.out"
    c1=$(cpu_s "$server_pid")
    stop_server
    # "SET","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",...
    read -r r_rate r_p50 r_p99 < <(awk -F, '$1 == "\"SET\"" { gsub(/"/, ""); print $2, $5, $7 }' \
        "$work/redis.out")
    r_cpu=$(awk -v a="$c0" -v b="$c1" -v n="$COUNT" 'BEGIN { printf "%.2f", (b - a) * 100000 / n }')

    ratio=$(awk -v a="$t_rate" -v b="$r_rate" 'BEGIN { printf "%.2f", a / b }')
    ratios+=("$ratio") tsb_cpus+=("$t_cpu") redis_cpus+=("$r_cpu")
    printf 'pair %d: tsbagd %6.0f acks/s (p50 %s ms, p99 %s ms) %s CPU s/100k acks (writer %s) | redis %6.0f SET/s (p50 %s ms, p99 %s ms) %s CPU s/100k | ratio %sx | load %s\n' \
        "$p" "$t_rate" "$t_p50" "$t_p99" "$t_cpu" "$t_wcpu" "$r_rate" "$r_p50" "$r_p99" "$r_cpu" "$ratio" \
        "$(cut -d' ' -f1 /proc/loadavg)"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo " - " hi }'; }

if [ "$PERF" = 1 ]; then
    say "profile of the first tsbagd pass (perf record -g), share of all samples"
    perf report -i "$work/perf.data" --no-children --sort comm,dso --stdio -g none 2>/dev/null |
        grep '%' | head -12
    # sorted by thread first: with --comm and --sort dso,symbol, perf merges a symbol's samples
    # of both threads into one entry before it filters, and the loop thread showed the writer's
    # malloc
    perf report -i "$work/perf.data" --no-children --sort comm,dso,symbol --stdio -g none \
        2>/dev/null | grep '%' >"$work/perf.symbols" || true
    echo "-- writer thread (tsbagd-writer), top symbols:"
    grep -E '^ +[0-9.]+% +tsbagd-writer ' "$work/perf.symbols" | head -25 || true
    echo "-- loop thread (tsbagd), top symbols:"
    grep -E '^ +[0-9.]+% +tsbagd ' "$work/perf.symbols" | head -25 || true
fi

say "tsbagd: rate-limited to $RATE entries/s for $RATE_SECS s (latency at a steady rate)"
# each tsbagd run is followed by the disk alone at the same rate, for as long, in the same folder:
# the floor a server that only group-commits (write + fdatasync, no CPU) would see meanwhile
for round in 1 2; do
    start_tsbagd "steady$round"
    "$load" --tcp "127.0.0.1:$tsbagd_port" -c "$CONNS" -P "$DEPTH" -s "$SIZE" -r "$RATE" -d "$RATE_SECS"
    stop_server
    echo "-- the disk alone (bench_fsync, ideal group commit at $RATE entries/s):"
    "$fsync_floor" "$work" "$RATE" "$RATE_SECS"
done

say "overload: 200 connections x depth 256 x 4 KiB with entry bytes stored, $OVERLOAD_SECS s"
start_tsbagd overload store.store_content=true
"$load" --tcp "127.0.0.1:$tsbagd_port" -c 200 -P 256 -s 4096 -d "$OVERLOAD_SECS" --watch &
lp=$!
peak=0
while kill -0 "$lp" 2>/dev/null; do
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0)
    [ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
    sleep 0.2
done
wait "$lp" || true
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0)
[ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
echo "tsbagd peak RSS (VmHWM): $((peak / 1024)) MiB (default memory settings: ingest.buffer_bytes, writer.queue_bytes, ingest.max_inflight)"
stop_server

say "summary (S=$SIZE N=$CONNS P=$DEPTH, $PAIRS pairs, load average now $(cut -d' ' -f1-3 /proc/loadavg))"
echo "ratio tsbagd/redis per pair: ${ratios[*]}"
echo "median ratio: $(median "${ratios[@]}")x (range $(range "${ratios[@]}"); target >= 2.0x)"
echo "CPU s per 100 000 acks, median (range): tsbagd $(median "${tsb_cpus[@]}") ($(range "${tsb_cpus[@]}")), redis-server $(median "${redis_cpus[@]}") ($(range "${redis_cpus[@]}"))"
echo "saved to $out"
