#!/usr/bin/env bash
# bench/run-nonreader.sh: tsbagd's peak memory while clients pipeline requests and never read a
# reply, with the sealer on, beside a normal client.
#   bench/run-nonreader.sh [BUILD_DIR]     (default build-release/; PKI=DIR to reuse a dev PKI)
# Environment: READERS (4 non-reading connections) SIZE (4096 bytes per entry) SECS (15)
#              RATE (2000 entries/s offered by the normal client) INTERVAL (5: sealer.interval_s)
#              CLOSED_PORT (9: where the TSA is said to be; nothing may listen there)
#              SET: more tsbagd settings, e.g. SET="sealer.max_bag_bytes=4194304 ingest.buffer_bytes=..."
# tsbagd runs with its default memory settings and the sealer on (a seal every INTERVAL s; the
# TSA is a closed loopback port, so bags are sealed, not sent). Each non-reader sends HELLO, reads
# HELLO_OK, then writes SUBMIT frames of SIZE distinct bytes as fast as the socket takes them and
# reads nothing. Prints what each non-reader got written before the server stopped reading, the
# normal client's acks and latency, the bags sealed, and tsbagd's VmHWM. Not part of the tests.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build-release}
READERS=${READERS:-4} SIZE=${SIZE:-4096} SECS=${SECS:-15} RATE=${RATE:-2000}
INTERVAL=${INTERVAL:-5}
. "$top/bench/lib-sealing.sh"
sealing_setup nonreader "$build"
# shellcheck disable=SC2086 # SET is a list of settings
sealing_start "$INTERVAL" 127.0.0.1:0 "${CLOSED_PORT:-9}" ${SET:-}
hwm() { awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status"; }

echo "== machine: $(nproc) CPUs, $(uptime)"
echo "== tsbagd (sealer on, every $INTERVAL s; default memory settings${SET:+ but $SET}): VmHWM at start $(hwm)"
"$load" --tcp "127.0.0.1:$port" -c 1 -P 16 -s 1024 -r "$RATE" -d "$SECS" >"$work/normal.out" 2>&1 &
lpid=$!
python3 - "$port" "$READERS" "$SIZE" "$SECS" <<'PY'
import socket, struct, sys, threading, time
port, readers, size, secs = (int(a) for a in sys.argv[1:5])
def frame(t, body):
    return struct.pack(">IB", 1 + len(body), t) + body
sent = [0] * readers
def run(k):
    s = socket.create_connection(("127.0.0.1", port))
    src = b"nonreader"
    s.sendall(frame(0x01, b"TSBG" + struct.pack(">HB", 1, len(src)) + src))
    head = s.recv(5)
    assert len(head) == 5 and head[4] == 0x81, "no HELLO_OK: %r" % head
    n = 0
    while True:
        burst = b"".join(frame(0x02, b"\x00\x00\x00" + (b"%d.%d." % (k, n + i)).ljust(size, b"x"))
                         for i in range(64))
        s.sendall(burst)  # blocks for good once the server stops reading
        n += 64
        sent[k] = n
threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(readers)]
for t in threads:
    t.start()
time.sleep(secs)
print("== %d non-readers, %d-byte entries, %d s: written before the server stopped reading: %s"
      % (readers, size, secs, ", ".join(str(x) for x in sent)))
PY
wait "$lpid"
grep -E 'acked|latency' "$work/normal.out" | sed 's/^ */  normal client: /'
echo "== bags sealed: $("$tsbag" -s "store.path=$state/archive.db" -s "general.state_dir=$state" status 2>/dev/null | grep -iE '^ *bags' | head -3 | tr -s ' ' | tr '\n' ';')"
echo "== tsbagd peak RSS (VmHWM): $(hwm)"
