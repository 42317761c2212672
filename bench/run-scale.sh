#!/usr/bin/env bash
# bench/run-scale.sh: tsbag on a large archive. Builds once (and keeps) archives of BAGS/10 and
# BAGS bags of 1 000 entries each (default 1 000 and 10 000 bags: 1 M and 10 M entries), every
# bag sealed and stamped with a real RFC 3161 token over its bytes (bench_verify's builder,
# through the store API), then reports for 0, 1 M and 10 M entries:
#   - append throughput (bench_store into: 50 batches of 1 024 entries, synchronous=FULL, into a
#     copy of the archive);
#   - tsbag status, cold (the archive's pages dropped from the page cache first) and warm;
#   - verify by Ref and by hash, cold and warm (bench_verify), once with the archive's pages
#     dropped from the page cache and once with the archive read into it;
#   - the archive check (tsbag reconcile --local-only: integrity_check, then every bag and every
#     journal row) in entries/s, and its peak RSS;
#   - the archive's bytes per entry.
#   bench/run-scale.sh PKI_DIR [BUILD_DIR]      (PKI_DIR from tools/dev-pki; BUILD_DIR build/)
# Environment: BAGS (10000); DIR, where the archives are kept and measured (${TMPDIR:-/tmp});
# FAST, where they are built (/dev/shm: fsyncs cost nothing in memory, the build takes minutes
# instead of hours; the result is copied to DIR). Not part of the tests.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
pki=${1:?usage: bench/run-scale.sh PKI_DIR [BUILD_DIR]}
build=${2:-$top/build}
BAGS=${BAGS:-10000}
DIR=${DIR:-${TMPDIR:-/tmp}}
FAST=${FAST:-/dev/shm}
bv=$build/bench/bench_verify bs=$build/bench/bench_store tsbag=$build/src/cli/tsbag
for b in "$bv" "$bs" "$tsbag"; do
    [ -x "$b" ] || { echo "run-scale: $b is missing (cmake --build $build --target bench tsbag)" >&2; exit 2; }
done
keep=$DIR/tsbag-scale
mkdir -p "$keep"

say() { printf '\n== %s\n' "$*"; }
drop_cache() { dd if="$1" iflag=nocache count=0 status=none 2>/dev/null || true; }

build_archive() { # BAGS: the kept archive of BAGS x 1 000 entries, built if missing
    local n=$1 db=$keep/bench-verify-$1.db tmp
    if [ ! -s "$db" ]; then
        tmp=$(mktemp -d "$FAST/tsbag-scale-XXXXXX")
        say "building $n bags x 1 000 entries in $tmp"
        /usr/bin/time -f "  build + first measurements: %e s wall, peak RSS %M KiB" \
            "$bv" "$pki" "$tmp" "$n" >"$tmp/out.txt"
        grep '^built' "$tmp/out.txt" | sed 's/^/  /'
        cp "$tmp/bench-verify-$n.db" "$db.part" && mv "$db.part" "$db"
        rm -rf "$tmp"
    fi
}

status_time() { # DB LABEL
    local out
    out=$( { /usr/bin/time -f "%e s wall, %U s user + %S s system CPU, peak RSS %M KiB" "$tsbag" \
        -s "store.path=$1" -s "general.state_dir=$keep" status >/dev/null; } 2>&1 | tail -1)
    echo "  tsbag status (the whole process), $2: $out"
}

measure() { # BAGS (0: an empty archive)
    local n=$1 db entries
    if [ "$n" = 0 ]; then
        db=$keep/empty.db
        rm -f "$db" "$db-wal" "$db-shm"
        entries=0
    else
        build_archive "$n"
        db=$keep/bench-verify-$n.db
        entries=$((n * 1000))
    fi
    say "$entries entries ($db)"
    if [ "$n" != 0 ]; then
        echo "  archive: $(stat -c %s "$db") bytes, $(($(stat -c %s "$db") / entries)) bytes per entry"
    fi
    local copy=$keep/append-copy.db
    rm -f "$copy" "$copy-wal" "$copy-shm"
    # sync: the appends must not measure the disk writing the copy back (2.5 GB at 10 M)
    [ "$n" = 0 ] || { cp "$db" "$copy" && sync; }
    drop_cache "$copy"
    "$bs" into "$copy" 50 | sed 's/^/  /'
    rm -f "$copy" "$copy-wal" "$copy-shm"
    [ "$n" = 0 ] && return 0
    drop_cache "$db"
    status_time "$db" "cold"
    status_time "$db" "warm"
    drop_cache "$db"
    "$bs" stats "$db" | sed 's/^/  cold /'
    "$bs" stats "$db" | sed 's/^/  warm /'
    # bench_verify twice: with the archive's pages dropped from the page cache (each lookup of
    # another bag reads its pages from the disk: "warm" there is the process, not the pages),
    # then with the whole file read into it first (the pages warm too)
    drop_cache "$db"
    "$bv" "$pki" "$keep" "$n" | sed 's/^/  pages dropped: /'
    cat "$db" >/dev/null
    "$bv" "$pki" "$keep" "$n" | sed 's/^/  pages cached:  /'
    local t0 t1 rss
    drop_cache "$db"
    t0=$(date +%s.%N)
    rss=$( { /usr/bin/time -f "%M" "$tsbag" -s "store.path=$db" -s "general.state_dir=$keep" \
        -s "tsa.trust_anchors=$pki/tsa-ca.pem" reconcile --local-only --no-progress \
        >"$keep/check.txt"; } 2>&1 | tail -1) || true
    t1=$(date +%s.%N)
    echo "  archive check: $(head -1 "$keep/check.txt")"
    echo "  archive check: $(echo "$t1 - $t0" | bc) s wall, $(echo "$entries / ($t1 - $t0)" | bc) entries/s, peak RSS $rss KiB"
}

say "machine: $(nproc) CPUs, $(uptime)"
df -h "$DIR" | tail -1
measure 0
measure $((BAGS / 10))
measure "$BAGS"
