# Helpers of the daemon tests (sourced): those of integration/sender/lib.sh ($T, start_sim,
# start_daemon, push, sql, gap_free, verify_stamped ...) plus the few below.
. "$(dirname "${BASH_SOURCE[0]}")/../sender/lib.sh"

# fresh_daemon ARGS...: start_daemon with an empty log, so that what a test reads in it is this
# run's (the previous log is appended to $T/d-all.log).
fresh_daemon() {
    [ -s "$T/d.log" ] && cat "$T/d.log" >>"$T/d-all.log"
    : >"$T/d.log"
    start_daemon "$@"
}

# start_fails NAME ARGS...: the command (a tsbagd) must exit 1 without ever sending READY=1;
# its log is $T/NAME.log.
start_fails() {
    local name=$1 rc=0 np
    shift
    rm -f "$T/$name.ready" "$T/$name.sock"
    python3 "$HARNESS/notify_ready.py" "$T/$name.sock" "$T/$name.ready" 120 &
    np=$!
    wait_until 60 "the readiness socket" test -S "$T/$name.sock"
    NOTIFY_SOCKET=$T/$name.sock timeout -s KILL 60 "$@" >"$T/$name.log" 2>&1 || rc=$?
    notify_stop "$T/$name.sock"
    wait "$np" 2>/dev/null
    [ "$rc" = 1 ] || { cat "$T/$name.log" >&2; fail "$name: tsbagd exited $rc, expected 1"; }
    [ -e "$T/$name.ready" ] && fail "$name: tsbagd said READY=1 before refusing"
    return 0
}

# log_has NAME TEXT: the log of a start_fails run names TEXT.
log_has() {
    grep -qF -- "$2" "$T/$1.log" || { cat "$T/$1.log" >&2; fail "$1: the log does not say '$2'"; }
}
