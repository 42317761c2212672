# tests/lib/harness.sh: the one library of the shell integration tests (sourced first by each
# suite's lib.sh). It gives every test a fresh folder $T (removed at exit), starts and stops the
# real processes (ehealth-sim, tsbagd) and waits on explicit signals, never on a fixed sleep:
#   - ehealth-sim is ready when it has written its port file (--port-file); a restart reuses
#     $PORT, so that a client configured with the old URL reaches the new process;
#   - tsbagd is ready when it has sent READY=1 to $NOTIFY_SOCKET (systemd's Type=notify message,
#     received by notify_ready.py, which creates $T/ready), never when a log line appears;
#   - wait_until polls a condition (a file, an SQL answer, an HTTP answer) up to a deadline.
# Environment from ctest (each suite needs some): TSB_SIM, TSB_SIM_PKI, TSB_TSBAG, TSB_TSBAGD,
# TSB_SOURCE_DIR, TSB_SHARED_DIR. Hooks a suite may define: sim_started (after each start_sim),
# before_cleanup (at exit, before the processes stop). LOGS lists the files whose tails fail
# prints.
set -uo pipefail

NAME=$(basename "$0" .sh)
HARNESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/tsb-${SUITE:-test}.XXXXXX")
PKI=${TSB_SIM_PKI:-}
SIM=${TSB_SIM:-}
TSBAG=${TSB_TSBAG:-}
TSBAGD=${TSB_TSBAGD:-}
DB=$T/state/archive.db
SIM_PID=
D_PID=
NOTIFY_PID=
PORT=
URL=
LOGS=("$T/d.log" "$T/sim.log" "$T/out.txt")

harness_cleanup() {
    declare -F before_cleanup >/dev/null && before_cleanup
    [ -n "$D_PID" ] && { kill -TERM "$D_PID" 2>/dev/null; wait "$D_PID" 2>/dev/null; }
    [ -n "$SIM_PID" ] && { kill -TERM "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null; }
    [ -n "$NOTIFY_PID" ] && { kill -TERM "$NOTIFY_PID" 2>/dev/null; wait "$NOTIFY_PID" 2>/dev/null; }
    rm -rf "$T"
}
trap harness_cleanup EXIT

fail() {
    echo "FAIL [$NAME]: $*" >&2
    local f
    for f in "${LOGS[@]}"; do
        [ -s "$f" ] && { echo "--- $(basename "$f") (tail) ---" >&2; tail -n 40 "$f" >&2; }
    done
    exit 1
}
pass() {
    echo "PASS [$NAME]"
    exit 0
}

# wait_until SECONDS WHAT CMD...: runs CMD until it succeeds; fails naming WHAT after SECONDS.
# The pause between tries only paces the polling: correctness never depends on its length.
wait_until() {
    local limit=$1 what=$2
    shift 2
    local end=$((SECONDS + limit))
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || fail "waited ${limit} s for $what"
        sleep 0.05
    done
}

need_sim() {
    [ -x "$SIM" ] || fail "TSB_SIM does not name the ehealth-sim binary"
    [ -s "$PKI/hospital.p12" ] || fail "TSB_SIM_PKI ($PKI) holds no dev-pki output"
}

sim_up() { # true once the port file is written; fails if the simulator died first
    [ -s "$T/port" ] && return 0
    kill -0 "$SIM_PID" 2>/dev/null || fail "ehealth-sim exited at start"
    return 1
}

# start_sim [ARGS...]: ehealth-sim with its archive in $T, on $PORT if set (a restart) or on
# port 0; sets PORT and URL (https://localhost:PORT), then calls the sim_started hook.
start_sim() {
    need_sim
    rm -f "$T/port"
    "$SIM" --pki "$PKI" --db "$T/sim.db" --port "${PORT:-0}" --port-file "$T/port" "$@" \
        >"$T/sim.out" 2>>"$T/sim.log" &
    SIM_PID=$!
    wait_until 60 "ehealth-sim's port file" sim_up
    PORT=$(cat "$T/port")
    URL=https://localhost:$PORT
    if declare -F sim_started >/dev/null; then sim_started; fi
    return 0
}

# stop_sim: SIGTERM, and the simulator must exit 0 (clean shutdown, no sanitizer report).
stop_sim() {
    kill -TERM "$SIM_PID"
    local rc=0
    wait "$SIM_PID" || rc=$?
    SIM_PID=
    [ "$rc" = 0 ] || fail "ehealth-sim exited with status $rc"
}

# fault KNOB: sets simulator fault knobs (one per line) through POST /admin/fault, which must
# answer 200 ("clear" clears them).
fault() {
    local out
    out=$(curl -sS --cacert "$PKI/tls-ca.pem" --data-binary "$1" -w ' %{http_code}' \
        "https://127.0.0.1:$PORT/admin/fault" 2>&1)
    echo "$1 -> $out" >>"$T/admin.log"
    [ "${out##* }" = 200 ] || fail "admin fault '$1' refused: $out"
}

notify_stop() { # SOCKET: ends a notify_ready.py after what it was sent before
    python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"STOP=1", sys.argv[1])' "$1" ||
        fail "cannot reach the readiness socket $1"
}

# knobs: the simulator's active fault knobs (GET /admin/faults) on one line; knobs_are LIST
# (for wait_until) compares them. A one-shot knob ("@1") leaves the list when a request takes
# it, which tells a test that its request has reached the simulator.
knobs() { curl -s --cacert "$PKI/tls-ca.pem" "https://127.0.0.1:$PORT/admin/faults" | tr '\n' ' '; }
knobs_are() { [ "$(knobs)" = "$1" ]; }

daemon_up() { # true once tsbagd said READY=1; fails if it died first
    [ -e "$T/ready" ] && return 0
    kill -0 "$D_PID" 2>/dev/null || fail "tsbagd exited at start"
    return 1
}

# start_daemon [-s S.K=V]...: tsbagd with the sealer and sender on, the simulator as TSA, fast
# retries, request capture, /metrics on a free port (never the default 9180: tests run side by
# side); waits for its READY=1. With DAEMON_CONFIG set, that file is loaded first (-c), under
# these settings.
start_daemon() {
    rm -f "$T/ready" "$T/notify.sock"
    python3 "$HARNESS/notify_ready.py" "$T/notify.sock" "$T/ready" 600 &
    NOTIFY_PID=$!
    wait_until 60 "the readiness socket" test -S "$T/notify.sock"
    NOTIFY_SOCKET=$T/notify.sock "$TSBAGD" ${DAEMON_CONFIG:+-c "$DAEMON_CONFIG"} \
        -s "general.state_dir=$T/state" -s sealer.enabled=true -s sealer.interval_s=86400 \
        -s "tsa.url=https://127.0.0.1:$PORT/TimestampAuthority/v2" \
        -s "tsa.ca_file=$PKI/tls-ca.pem" -s "tsa.keystore=$PKI/hospital.p12" \
        -s "tsa.keystore_password_file=$PKI/hospital.pass" -s "tsa.trust_anchors=$PKI/tsa-ca.pem" \
        -s tsa.retry_min_ms=100 -s tsa.retry_max_ms=400 -s tsa.timeout_ms=5000 \
        -s "tsa.capture_dir=$T/capture" -s metrics.listen=127.0.0.1:0 "$@" >>"$T/d.log" 2>&1 &
    D_PID=$!
    wait_until 60 "tsbagd's READY=1" daemon_up
    wait "$NOTIFY_PID" 2>/dev/null
    NOTIFY_PID=
}

# stop_daemon: SIGTERM, and tsbagd must exit 0.
stop_daemon() {
    kill -TERM "$D_PID"
    local rc=0
    wait "$D_PID" || rc=$?
    D_PID=
    [ "$rc" = 0 ] || fail "tsbagd exited with status $rc after SIGTERM"
}

kill9_daemon() {
    kill -KILL "$D_PID"
    wait "$D_PID" 2>/dev/null
    D_PID=
}

tsbag() { "$TSBAG" -s "general.state_dir=$T/state" "$@"; }

# push N LABEL: pushes N distinct entries through the Unix socket.
push() {
    local i d="$T/entries-$2"
    mkdir -p "$d"
    for i in $(seq 1 "$1"); do printf '%s|prescription|%s|%s' "$2" "$i" "$RANDOM" >"$d/e$i"; done
    tsbag push "$d" >>"$T/out.txt" 2>&1 || fail "tsbag push $2"
}

seal() { tsbag seal >>"$T/out.txt" 2>&1 || fail "tsbag seal"; }

# sql SQL: runs SQL on the archive with the sqlite3 shell (an operator's tool: the triggers are
# bypassed only by dropping them explicitly). It waits up to 10 s for a write lock that a running
# tsbagd holds for a moment (the shell's default is to fail at once); a test of lock contention
# runs sqlite3 itself with the timeout it needs.
sql() { sqlite3 -batch -cmd ".timeout 10000" "$DB" "$@" || fail "sqlite3 $*"; }

# bag_bytes_sql SEQ: an SQL expression for the bytes of bag SEQ (a column or a number): its parts
# in bag_bytes concatenated in part order (schema 0011; the primary key returns them in order).
bag_bytes_sql() { printf "(SELECT group_concat(bytes, '') FROM bag_bytes x WHERE x.seq = %s)" "$1"; }

sql_is() { # SQL EXPECTED: the query prints EXPECTED (for wait_until); keeps the answer in GOT
    GOT=$(sqlite3 -batch -cmd ".timeout 10000" "$DB" "$1" 2>/dev/null)
    [ "$GOT" = "$2" ]
}

# wait_for SQL-QUERY EXPECTED [SECONDS]: polls the archive until the query prints EXPECTED.
wait_for() {
    local end=$((SECONDS + ${3:-30}))
    GOT=
    until sql_is "$1" "$2"; do
        [ "$SECONDS" -lt "$end" ] || fail "waited for [$1] = [$2], last [$GOT]"
        sleep 0.05
    done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
