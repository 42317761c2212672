# Shared helpers of the simulator integration tests (sourced). Environment from ctest:
#   TSB_SOURCE_DIR, TSB_SHARED_DIR, TSB_SIM (the ehealth-sim binary), TSB_SIM_PKI (a dev-pki
#   folder made by the fixture). Each test gets a fresh temporary folder $T, removed at exit,
#   and the simulator it starts is stopped (and its exit status checked) at exit.
set -uo pipefail

SRC=${TSB_SOURCE_DIR:?}
SHARED=${TSB_SHARED_DIR:-$SRC/../shared}
XSD=$SHARED/reference/xsd
T=$(mktemp -d "${TMPDIR:-/tmp}/tsb-sim-test.XXXXXX")
SIM_PID=
NAME=$(basename "$0" .sh)

cleanup() {
    if [ -n "$SIM_PID" ]; then
        kill -TERM "$SIM_PID" 2>/dev/null
        wait "$SIM_PID" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL [$NAME]: $*" >&2
    if [ -s "$T/sim.log" ]; then
        echo "--- simulator log (tail) ---" >&2
        tail -n 30 "$T/sim.log" >&2
    fi
    exit 1
}
pass() {
    echo "PASS [$NAME]"
    exit 0
}
