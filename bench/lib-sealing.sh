# bench/lib-sealing.sh: sourced by the bench scripts that run a tsbagd with its sealer on and the
# sender pointed at a closed loopback port (bags are sealed and signed, never sent).
# sealing_setup NAME BUILD: checks tsbagd, tsbag and bench_load in BUILD (sets tsbagd, tsbag,
# load), makes the work folder (work) with a development PKI (PKI=DIR reuses one) and the state
# folder (state), and removes both and stops the daemon at exit.
# sealing_start INTERVAL LISTEN CLOSED_PORT [SETTING...]: starts tsbagd (pid), waits for its
# port (port).
sealing_setup() {
    local b
    tsbagd=$2/src/daemon/tsbagd tsbag=$2/src/cli/tsbag load=$2/bench/bench_load
    for b in "$tsbagd" "$tsbag" "$load"; do
        [ -x "$b" ] || { echo "$1: $b is missing (cmake --build $2 --target bench tsbagd tsbag)" >&2; exit 2; }
    done
    work=$(mktemp -d "${TMPDIR:-/tmp}/tsbag-$1-XXXXXX")
    pid=
    trap sealing_cleanup EXIT
    trap "exit 1" INT TERM
    if [ -n "${PKI:-}" ]; then ln -s "$PKI" "$work/pki"; else "$top/tools/dev-pki" --quiet "$work/pki"; fi
    state=$work/state
    mkdir -p "$state"
}

sealing_cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}

sealing_start() {
    local interval=$1 listen=$2 closed=$3 kv extra=()
    shift 3
    for kv in "$@"; do extra+=(-s "$kv"); done
    "$tsbagd" -s "general.state_dir=$state" -s "ingest.tcp_listen=$listen" -s ingest.tls=false \
        -s sealer.enabled=true -s "sealer.interval_s=$interval" \
        -s "tsa.url=https://127.0.0.1:$closed/TimestampAuthority/v2" -s "tsa.ca_file=$work/pki/tls-ca.pem" \
        -s "tsa.keystore=$work/pki/hospital.p12" \
        -s "tsa.keystore_password_file=$work/pki/hospital.pass" \
        -s "tsa.trust_anchors=$work/pki/tsa-ca.pem" -s tsa.retry_min_ms=60000 \
        -s tsa.retry_max_ms=60000 -s metrics.listen= "${extra[@]}" 2>"$work/tsbagd.log" &
    pid=$!
    for _ in $(seq 1200); do [ -s "$state/tsbagd.port" ] && break; sleep 0.05; done
    [ -s "$state/tsbagd.port" ] || { cat "$work/tsbagd.log" >&2; exit 1; }
    port=$(cat "$state/tsbagd.port")
}
