# Helpers of the daemon tests (sourced): those of integration/sender/lib.sh ($T, start_sim,
# start_daemon, push, sql, gap_free, verify_stamped ...) plus the few below.
. "$(dirname "${BASH_SOURCE[0]}")/../sender/lib.sh"

# fresh_daemon ARGS...: start_daemon with an empty log, so that an earlier run's "ready" line
# is not taken for this one's (the previous log is appended to $T/d-all.log).
fresh_daemon() {
    [ -s "$T/d.log" ] && cat "$T/d.log" >>"$T/d-all.log"
    : >"$T/d.log"
    start_daemon "$@"
}

# start_fails NAME ARGS...: the command (a tsbagd) must exit 1 without ever becoming ready; its
# log is $T/NAME.log.
start_fails() {
    local name=$1 rc=0
    shift
    timeout -s KILL 60 "$@" >"$T/$name.log" 2>&1 || rc=$?
    [ "$rc" = 1 ] || { cat "$T/$name.log" >&2; fail "$name: tsbagd exited $rc, expected 1"; }
    grep -q "tsbagd: ready" "$T/$name.log" && fail "$name: tsbagd said ready before refusing"
    return 0
}

# log_has NAME TEXT: the log of a start_fails run names TEXT.
log_has() {
    grep -qF -- "$2" "$T/$1.log" || { cat "$T/$1.log" >&2; fail "$1: the log does not say '$2'"; }
}
