# Shared helpers of the reconciliation integration tests (sourced). Environment from ctest:
#   TSB_SOURCE_DIR, TSB_SIM (ehealth-sim), TSB_SIM_PKI (a dev-pki folder), TSB_TSBAG (the CLI),
#   TSB_SEED (seed_archive). Each test gets a fresh folder $T, removed at exit; the simulator it
#   starts is stopped at exit and must exit 0.
set -uo pipefail

T=$(mktemp -d "${TMPDIR:-/tmp}/tsb-reconcile-test.XXXXXX")
SIM_PID=
NAME=$(basename "$0" .sh)
PKI=${TSB_SIM_PKI:?}
SIM=${TSB_SIM:?}
TSBAG=${TSB_TSBAG:?}
SEED=${TSB_SEED:?}
DB=$T/state/archive.db
mkdir -p "$T/state"

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
    for f in "$T/out.txt" "$T/err.txt" "$T/sim.log"; do
        [ -s "$f" ] && { echo "--- $(basename "$f") (tail) ---" >&2; tail -n 40 "$f" >&2; }
    done
    exit 1
}
pass() {
    echo "PASS [$NAME]"
    exit 0
}

[ -x "$SIM" ] || fail "TSB_SIM does not name the ehealth-sim binary"
[ -s "$PKI/hospital.p12" ] || fail "TSB_SIM_PKI ($PKI) holds no dev-pki output"

# start_sim [ARGS...]: ehealth-sim on port 0 with its own archive; sets PORT, TSA, CONSULT.
start_sim() {
    rm -f "$T/port"
    "$SIM" --pki "$PKI" --db "$T/sim.db" --port 0 --port-file "$T/port" "$@" \
        >"$T/sim.out" 2>>"$T/sim.log" &
    SIM_PID=$!
    local i
    for i in $(seq 1 200); do
        [ -s "$T/port" ] && break
        kill -0 "$SIM_PID" 2>/dev/null || fail "ehealth-sim exited at start"
        sleep 0.05
    done
    [ -s "$T/port" ] || fail "ehealth-sim did not write its port file"
    PORT=$(cat "$T/port")
    TSA=https://127.0.0.1:$PORT/TimestampAuthority/v2
    CONSULT=https://127.0.0.1:$PORT/TimestampConsult/v2
    cat >"$T/tsbag.ini" <<X
[general]
state_dir = $T/state
[tsa]
ca_file = $PKI/tls-ca.pem
keystore = $PKI/hospital.p12
keystore_password_file = $PKI/hospital.pass
trust_anchors = $PKI/tsa-ca.pem
[consult]
url = $CONSULT
X
}

stop_sim() {
    kill -TERM "$SIM_PID"
    local rc=0
    wait "$SIM_PID" || rc=$?
    SIM_PID=
    [ "$rc" = 0 ] || fail "ehealth-sim exited with status $rc"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# seed BAGS ENTRIES [LABEL]: that many freshly stamped bags in $DB.
seed() {
    "$SEED" "$DB" "$TSA" "$PKI" "$@" >>"$T/seed.log" 2>&1 || { cat "$T/seed.log" >&2; fail "seeding failed"; }
}

# reconcile ARGS...: runs tsbag reconcile; stdout in $T/out.txt, stderr in $T/err.txt; sets RC.
reconcile() {
    RC=0
    "$TSBAG" -c "$T/tsbag.ini" reconcile --no-progress "$@" >"$T/out.txt" 2>"$T/err.txt" || RC=$?
}

# sql SQL: runs SQL with the sqlite3 shell (an operator's tool: the triggers are bypassed only by
# dropping them explicitly).
sql() { sqlite3 -batch "$DB" "$@" || fail "sqlite3 $*"; }

# lose_bags WHERE (tests/lib/archive.sh)
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/archive.sh"

jqr() { jq -r "$1" "$T/out.txt" || fail "jq $1 on the report"; }
