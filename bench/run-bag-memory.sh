#!/usr/bin/env bash
# bench/run-bag-memory.sh: tsbagd's peak memory for one full-size bag sealed, signed, sent to the
# simulator and stamped.
#   bench/run-bag-memory.sh [BUILD_DIR]     (default build/; ENTRIES, SIZE, RUNS, PKI=DIR)
# For each of RUNS (2) runs: a fresh state folder and simulator, tsbagd with its defaults (sealer
# on with an interval of a day, sealer.max_bag_bytes 4 MiB), ENTRIES (34 000) entries of SIZE (200)
# bytes pushed as digests with bench_load, then `tsbag seal`; once the bag is stamped, the
# daemon's VmHWM (peak resident) and VmRSS are read from /proc/PID/status. Prints VmHWM after
# start, after the entries are acknowledged, and at the end, so the seal + sign + send + record
# peak can be read against the daemon's baseline. Works on any build dir holding tsbagd, tsbag,
# bench_load and ehealth-sim, so that two builds can be compared in one session. Not a test.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
ENTRIES=${ENTRIES:-34000} SIZE=${SIZE:-200} RUNS=${RUNS:-2}
tsbagd=$build/src/daemon/tsbagd tsbag=$build/src/cli/tsbag load=$build/bench/bench_load
sim=$build/tools/ehealth-sim/ehealth-sim
for b in "$tsbagd" "$tsbag" "$load" "$sim"; do
    [ -x "$b" ] || { echo "run-bag-memory: $b is missing (cmake --build $build --target bench tsbagd tsbag ehealth-sim)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/tsbag-bag-mem-XXXXXX")
pid= spid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap "exit 1" INT TERM

# wait_file FILE WHAT: up to 60 s for FILE to be non-empty
wait_file() {
    for _ in $(seq 1200); do [ -s "$1" ] && return 0; sleep 0.05; done
    echo "run-bag-memory: no $2 after 60 s (logs in $work)" >&2
    exit 1
}
hwm() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }
rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }

if [ -n "${PKI:-}" ]; then ln -s "$PKI" "$work/pki"; else "$top/tools/dev-pki" --quiet "$work/pki"; fi
echo "machine: $(nproc) CPUs, $(uptime)"
echo "build $build; $ENTRIES entries of $SIZE bytes, one seal, $RUNS runs"
for run in $(seq "$RUNS"); do
    d=$work/run$run
    mkdir -p "$d/state"
    "$sim" --pki "$work/pki" --db "$d/sim.db" --port 0 --port-file "$d/port" \
        --max-request 268435456 >"$d/sim.out" 2>"$d/sim.log" &
    spid=$!
    wait_file "$d/port" "simulator port"
    "$tsbagd" -s "general.state_dir=$d/state" -s ingest.tcp_listen=127.0.0.1:0 -s ingest.tls=false \
        -s sealer.enabled=true -s sealer.interval_s=86400 \
        -s "tsa.url=https://127.0.0.1:$(cat "$d/port")/TimestampAuthority/v2" \
        -s "tsa.ca_file=$work/pki/tls-ca.pem" -s "tsa.keystore=$work/pki/hospital.p12" \
        -s "tsa.keystore_password_file=$work/pki/hospital.pass" \
        -s "tsa.trust_anchors=$work/pki/tsa-ca.pem" -s metrics.listen= 2>"$d/tsbagd.log" &
    pid=$!
    wait_file "$d/state/tsbagd.port" "tsbagd port"
    idle=$(hwm)
    "$load" --tcp "127.0.0.1:$(cat "$d/state/tsbagd.port")" -c 4 -P 64 -s "$SIZE" -n "$ENTRIES" \
        --hash >"$d/load.out"
    acked=$(hwm)
    "$tsbag" -s "general.state_dir=$d/state" seal >/dev/null
    st=
    for _ in $(seq 1200); do
        st=$(sqlite3 -batch "$d/state/archive.db" \
            "SELECT group_concat(state) FROM bags" 2>/dev/null || true)
        case "$st" in *sealed* | *sent* | "") sleep 0.1 ;; *) break ;; esac
    done
    [ "$st" = stamped ] || { echo "run-bag-memory: bags $st after 120 s (logs in $d)" >&2; exit 1; }
    # (a build before schema 0011 has no bag_bytes)
    bag=$(sqlite3 -batch "$d/state/archive.db" \
        "SELECT b.entry_count || ' entries, ' || (SELECT sum(length(bytes)) FROM bag_bytes x
         WHERE x.seq = b.seq) || ' bytes' FROM bags b" 2>/dev/null ||
        sqlite3 -batch "$d/state/archive.db" \
            "SELECT entry_count || ' entries, ' || length(bytes) || ' bytes' FROM bags")
    echo "run $run: bag of $bag; VmHWM idle $idle MiB, after the acks $acked MiB, peak $(hwm) MiB; VmRSS once stamped $(rss) MiB"
    kill -TERM "$pid" "$spid"
    wait "$pid" "$spid" || true
    pid= spid=
done
