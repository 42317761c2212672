# Helpers of the archive check tests (sourced), on top of the sender tests' lib.sh: a load
# generator, the check itself, and file sizes.
. "$(dirname "${BASH_SOURCE[0]}")/../sender/lib.sh"

# tsbag ARGS...: the CLI on $T/state, with the simulator's TSA anchors (verify, reconcile).
tsbag() { "$TSBAG" -s "general.state_dir=$T/state" -s "tsa.trust_anchors=$PKI/tsa-ca.pem" "$@"; }

# check_archive [ARGS...]: tsbag reconcile --local-only on $T/state with the TSA anchors.
check_archive() {
    "$TSBAG" -s "general.state_dir=${CHECK_STATE:-$T/state}" -s "tsa.trust_anchors=$PKI/tsa-ca.pem" \
        reconcile --local-only --no-progress "$@"
}

# start_load BATCH [BYTES [PAUSE]]: pushes the same BATCH entries of BYTES (default 2048) each
# again and again until stop_load, PAUSE seconds (default 0.05) between pushes to pace the load
# (tsbagd gives every submission its own Ref; the files are made once so that the shell is not
# the bottleneck); store.store_content makes the archive keep the bytes.
LOAD_PID=
start_load() {
    local n=$1 bytes=${2:-2048} pause=${3:-0.05} i pad
    rm -f "$T/load.stop"
    mkdir -p "$T/load"
    pad=$(head -c "$bytes" /dev/zero | tr '\0' 'x')
    for i in $(seq 1 "$n"); do printf 'load|%s|%s' "$i" "$pad" >"$T/load/e$i"; done
    (
        while [ ! -e "$T/load.stop" ] && [ -d "$T/load" ]; do
            "$TSBAG" -s "general.state_dir=$T/state" push "$T/load" >/dev/null 2>>"$T/load.log" ||
                { [ -d "$T/load" ] && echo "push failed" >>"$T/load.log"; }
            sleep "$pause"
        done
    ) &
    LOAD_PID=$!
}

stop_load() {
    [ -n "$LOAD_PID" ] || return 0
    touch "$T/load.stop"
    wait "$LOAD_PID" 2>/dev/null
    LOAD_PID=
}

# Background loops end before the folder goes (the harness's cleanup hook).
BG_PIDS=
before_cleanup() {
    stop_load
    touch "$T/bg.stop" 2>/dev/null
    local p
    for p in $BG_PIDS; do wait "$p" 2>/dev/null; done
}

# size FILE: its size in bytes, 0 when absent.
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
