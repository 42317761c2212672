# Shared helpers of the sender integration tests (sourced). Environment from ctest:
#   TSB_SIM (ehealth-sim), TSB_SIM_PKI (a dev-pki folder), TSB_TSBAG, TSB_TSBAGD, TSB_SHARED_DIR.
# Each test gets a fresh folder $T (removed at exit); the processes it starts are stopped at exit.
set -uo pipefail

T=$(mktemp -d "${TMPDIR:-/tmp}/tsb-sender-test.XXXXXX")
NAME=$(basename "$0" .sh)
PKI=${TSB_SIM_PKI:?}
SIM=${TSB_SIM:?}
TSBAG=${TSB_TSBAG:?}
TSBAGD=${TSB_TSBAGD:?}
XSD=${TSB_SHARED_DIR:?}/reference/xsd/external/oasis-dss-core-schema-v1.0-os.xsd
DB=$T/state/archive.db
SIM_PID=
D_PID=
PORT=
mkdir -p "$T/state" "$T/capture"

cleanup() {
    [ -n "$D_PID" ] && { kill -TERM "$D_PID" 2>/dev/null; wait "$D_PID" 2>/dev/null; }
    [ -n "$SIM_PID" ] && { kill -TERM "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null; }
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL [$NAME]: $*" >&2
    for f in "$T/d.log" "$T/sim.log" "$T/out.txt"; do
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

# start_sim [ARGS...]: ehealth-sim with its own archive, on $PORT if set (a restart) or port 0.
start_sim() {
    rm -f "$T/port"
    "$SIM" --pki "$PKI" --db "$T/sim.db" --port "${PORT:-0}" --port-file "$T/port" "$@" \
        >>"$T/sim.out" 2>>"$T/sim.log" &
    SIM_PID=$!
    local i
    for i in $(seq 1 200); do
        [ -s "$T/port" ] && break
        kill -0 "$SIM_PID" 2>/dev/null || fail "ehealth-sim exited at start"
        sleep 0.05
    done
    [ -s "$T/port" ] || fail "ehealth-sim did not write its port file"
    PORT=$(cat "$T/port")
}

stop_sim() {
    kill -TERM "$SIM_PID"
    wait "$SIM_PID" 2>/dev/null
    SIM_PID=
}

# fault KNOB: sets a simulator fault knob through its admin endpoint ("clear" clears them).
fault() {
    curl -sS --cacert "$PKI/tls-ca.pem" --data-binary "$1" \
        "https://127.0.0.1:$PORT/admin/fault" >>"$T/admin.log" 2>&1 || fail "admin fault $1"
}

# start_daemon [-s S.K=V]...: tsbagd with the sealer and sender on, the simulator as TSA, fast
# retries, request capture, /metrics on a free port (never the default 9180: tests run side by
# side); waits until its socket accepts. With DAEMON_CONFIG set, that file is loaded first (-c),
# under these settings.
start_daemon() {
    "$TSBAGD" ${DAEMON_CONFIG:+-c "$DAEMON_CONFIG"} -s "general.state_dir=$T/state" -s sealer.enabled=true \
        -s sealer.interval_s=86400 \
        -s "tsa.url=https://127.0.0.1:$PORT/TimestampAuthority/v2" \
        -s "tsa.ca_file=$PKI/tls-ca.pem" -s "tsa.keystore=$PKI/hospital.p12" \
        -s "tsa.keystore_password_file=$PKI/hospital.pass" -s "tsa.trust_anchors=$PKI/tsa-ca.pem" \
        -s tsa.retry_min_ms=100 -s tsa.retry_max_ms=400 -s tsa.timeout_ms=5000 \
        -s "tsa.capture_dir=$T/capture" -s metrics.listen=127.0.0.1:0 "$@" >>"$T/d.log" 2>&1 &
    D_PID=$!
    local i
    for i in $(seq 1 200); do
        grep -q "tsbagd: ready" "$T/d.log" 2>/dev/null && [ -S "$T/state/tsbagd.sock" ] && return 0
        kill -0 "$D_PID" 2>/dev/null || fail "tsbagd exited at start"
        sleep 0.05
    done
    fail "tsbagd did not become ready"
}

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

# wait_log WORDS: polls tsbagd's log for a line (the operator-visible error line, not readiness)
wait_log() {
    local i
    for i in $(seq 1 300); do
        grep -qF -- "$1" "$T/d.log" && return 0
        sleep 0.1
    done
    fail "no log line '$1'"
}

seal() { tsbag seal >>"$T/out.txt" 2>&1 || fail "tsbag seal"; }

sql() { sqlite3 -batch "$DB" "$@" || fail "sqlite3 $*"; }

# wait_for SQL-QUERY EXPECTED [SECONDS]: polls the archive until the query prints EXPECTED.
wait_for() {
    local i n=$((${3:-30} * 10)) got=
    for i in $(seq 1 "$n"); do
        got=$(sqlite3 -batch "$DB" "$1" 2>/dev/null)
        [ "$got" = "$2" ] && return 0
        sleep 0.1
    done
    fail "waited for [$1] = [$2], last [$got]"
}

# verify_stamped: every stamped bag's token passes stock openssl ts -verify against its bytes,
# and no unstamped bag carries a token (nothing unverified is ever archived).
verify_stamped() {
    local seq
    [ "$(sql "SELECT count(*) FROM bags WHERE state <> 'stamped' AND state <> 'recovered' AND token IS NOT NULL")" = 0 ] ||
        fail "an unstamped bag carries a token"
    for seq in $(sql "SELECT seq FROM bags WHERE state = 'stamped' ORDER BY seq"); do
        sql "SELECT writefile('$T/bag$seq.xml', bytes), writefile('$T/tok$seq.der', token) FROM bags WHERE seq = $seq" >/dev/null
        openssl ts -verify -data "$T/bag$seq.xml" -in "$T/tok$seq.der" -token_in \
            -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 ||
            fail "openssl ts -verify rejects the archived token of bag $seq"
    done
}

# gap_free [FIRST]: SequenceNumbers FIRST (default 1)..N without a hole, every entry in exactly
# one bag.
gap_free() {
    local first=${1:-1}
    [ "$(sql "SELECT count(*) = max(seq) - $first + 1 AND min(seq) = $first FROM bags")" = 1 ] ||
        fail "SequenceNumbers from $first have a gap"
    # an entry's bag is the bag whose Ref range holds it (schema 0008)
    [ "$(sql "SELECT count(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM bags b WHERE e.ref BETWEEN b.first_ref AND b.last_ref)")" = 0 ] ||
        fail "entries left unsealed"
}

# captured SEQ ATTEMPT [SUFFIX]: the tsa.capture_dir file of that attempt (default the request;
# answer.txt, answer.xml ...); fails unless exactly one exists. Names carry the RequestID.
captured() {
    local f n=0 got=
    for f in "$T/capture/bag-$1-attempt-$2-"*".${3:-request.xml}"; do
        [ -e "$f" ] && { n=$((n + 1)); got=$f; }
    done
    [ "$n" = 1 ] || fail "$n capture files for bag $1 attempt $2 (${3:-request.xml}), expected 1"
    printf '%s\n' "$got"
}

# request_bag FILE: the bag bytes carried by a captured request (Base64XML decoded).
request_bag() {
    sed -n 's:.*<dss\:Base64XML>\([^<]*\)</dss\:Base64XML>.*:\1:p' "$1" | base64 -d
}
