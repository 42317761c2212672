#!/usr/bin/env bash
# bench/run-core.sh: the core benchmarks (journal hashing, 100 000-entry bags) in a Release build,
# next to `openssl speed` for SHA-256 on 1 KiB as the reference. Output is also saved under
# bench/out/. Usage: bench/run-core.sh [BUILD_DIR]   (default build-release)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build-release}
mkdir -p "$top/bench/out"
out="$top/bench/out/core-$(date -u +%Y%m%dT%H%M%SZ).txt"

# Release without -Werror: this build measures, the test builds check warnings
cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DTSB_WERROR=OFF >/dev/null
cmake --build "$dir" --target bench_hash bench_bag -j "$(nproc)" >/dev/null 2>&1 ||
    cmake --build "$dir" --target bench_hash bench_bag -j 1

{
    echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $(openssl version)"
    "$dir/bench/bench_hash"
    echo
    "$dir/bench/bench_bag"
    echo
    echo "# openssl speed -evp sha256 -bytes 1024 -seconds 3 (CPU user time, 10^3 bytes/s)"
    speed=$(openssl speed -evp sha256 -bytes 1024 -seconds 3 2>/dev/null | awk '$1 == "sha256" {print $2}')
    echo "openssl sha256 1024 bytes: ${speed}"
} | tee "$out.tmp"

ours=$(awk '$2 == "size=1024" {print $4}' "$out.tmp")
theirs=$(awk '$1 == "openssl" {sub(/k$/, "", $5); print $5 / 1000}' "$out.tmp")
awk -v o="$ours" -v t="$theirs" 'BEGIN {
    printf "\nSHA-256 1 KiB: tsb_hasher %.1f MB/s, openssl speed %.1f MB/s, ratio %.2f\n", o, t, o / t }' |
    tee -a "$out.tmp"
mv "$out.tmp" "$out"
echo "saved to $out"
