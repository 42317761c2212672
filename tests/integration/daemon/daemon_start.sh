#!/usr/bin/env bash
# daemon_start.sh lock|readonly|files|cpus: what a real tsbagd refuses at start, what it leaves on
# disk and where its threads run (ctest: integration.daemon_lock, integration.daemon_readonly,
# integration.daemon_files, integration.daemon_cpus).
# Refused with exit 1 before "ready", by a line naming the file and what to do: a read-only
# archive, a read-only state folder, a second tsbagd on a state folder another one holds (the
# first keeps serving on its socket), a keystore open to others with
# tsa.keystore_permissions=refuse. Also: the archive, its -wal and -shm and the lock file give
# others no access whatever the umask tsbagd inherits; a keystore or password file open to others
# is warned about; the password variable is gone from /proc/<pid>/environ of the running daemon.
# With 2 CPUs allowed, the writer thread keeps to one of them alone and every other thread to the
# other (writer.own_cpu; not with one CPU, nor with the option off).
# Tests run as root in CI, and root ignores file modes: the read-only cases drop the
# capabilities that let root write a read-only file (setpriv), and are skipped (exit 77) where
# that is impossible.
. "$(dirname "$0")/lib.sh"

umask 022 # the common interactive umask: tsbagd must not depend on a stricter one

others_bits() { echo $((0$(stat -c %a "$1") & 07)); }

# ---- two daemons on one state folder --------------------------------------------------------
case_lock() {
    fresh_daemon -s sealer.enabled=false
    push 3 first
    inode=$(stat -c %i "$T/state/tsbagd.sock")
    start_fails twin "$TSBAGD" -s "general.state_dir=$T/state" -s sealer.enabled=false
    log_has twin "another tsbagd (PID $D_PID)"
    log_has twin "$T/state/tsbagd.lock"
    kill -0 "$D_PID" 2>/dev/null || fail "the first tsbagd died when the second one started"
    [ "$(stat -c %i "$T/state/tsbagd.sock")" = "$inode" ] || fail "the second tsbagd replaced the socket"
    [ "$(tr -d '\n' <"$T/state/tsbagd.lock")" = "$D_PID" ] || fail "tsbagd.lock does not hold the PID"
    push 2 after-twin # the first one still serves its socket
    [ "$(sql "SELECT count(*) FROM entries")" = 5 ] || fail "entries pushed after the twin are missing"
    tsbag status >"$T/status.txt" 2>&1 # read-only verbs take no lock
    grep -q '^entries: *5 ' "$T/status.txt" || { cat "$T/status.txt" >&2; fail "tsbag status beside tsbagd"; }
    stop_daemon
}

# ---- files closed to others, keystore and password file permissions, password variable -----
case_files() {
    fresh_daemon -s sealer.enabled=false
    push 3 modes
    for f in archive.db archive.db-wal archive.db-shm tsbagd.lock; do
        [ -e "$T/state/$f" ] || fail "$f was not created"
        [ "$(others_bits "$T/state/$f")" = 0 ] ||
            fail "$f is mode $(stat -c %a "$T/state/$f"): readable by others under umask 022"
    done
    stop_daemon

    mkdir -p "$T/pki"
    cp "$PKI/hospital.p12" "$PKI/hospital.pass" "$T/pki/"
    chmod 0644 "$T/pki/hospital.p12"
    chmod 0600 "$T/pki/hospital.pass"
    ks=(-s "tsa.keystore=$T/pki/hospital.p12" -s "tsa.keystore_password_file=$T/pki/hospital.pass")
    fresh_daemon "${ks[@]}"
    grep -qF "keystore $T/pki/hospital.p12 is accessible by group or others (mode 0644)" "$T/d.log" ||
        fail "no warning about a 0644 keystore"
    stop_daemon

    chmod 0600 "$T/pki/hospital.p12"
    chmod 0640 "$T/pki/hospital.pass"
    fresh_daemon "${ks[@]}"
    grep -qF "keystore password file $T/pki/hospital.pass is accessible by group or others (mode 0640)" \
        "$T/d.log" || fail "no warning about a 0640 password file"
    grep -qF "keystore $T/pki/hospital.p12 is accessible" "$T/d.log" && fail "a 0600 keystore is warned about"
    stop_daemon

    chmod 0604 "$T/pki/hospital.p12"
    chmod 0600 "$T/pki/hospital.pass"
    start_fails refuse "$TSBAGD" -s "general.state_dir=$T/state" -s "tsa.url=https://127.0.0.1:$PORT/TimestampAuthority/v2" \
        -s "tsa.ca_file=$PKI/tls-ca.pem" -s "tsa.trust_anchors=$PKI/tsa-ca.pem" "${ks[@]}" \
        -s tsa.keystore_permissions=refuse
    log_has refuse "keystore $T/pki/hospital.p12 is accessible by group or others (mode 0604)"
    log_has refuse "tsa.keystore_permissions=refuse"
    rc=0 # a bad value on the command line is a usage error (exit 2)
    "$TSBAGD" -s "general.state_dir=$T/state" -s tsa.keystore_permissions=maybe >"$T/badvalue.log" 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "tsa.keystore_permissions=maybe: exit $rc, expected 2"
    log_has badvalue "tsa.keystore_permissions: expected warn or refuse, got 'maybe'"

    # The password from a variable: the file named beside it holds a wrong password, so a ready
    # daemon can only have used the variable, which must then be gone from its environment.
    chmod 0600 "$T/pki/hospital.p12"
    echo wrong-password >"$T/pki/wrong.pass"
    chmod 0600 "$T/pki/wrong.pass"
    pass=$(head -n 1 "$T/pki/hospital.pass")
    export TSB_IT_KEYSTORE_PASSWORD=$pass
    fresh_daemon -s "tsa.keystore=$T/pki/hospital.p12" -s "tsa.keystore_password_file=$T/pki/wrong.pass" \
        -s tsa.keystore_password_env=TSB_IT_KEYSTORE_PASSWORD
    unset TSB_IT_KEYSTORE_PASSWORD
    [ -r "/proc/$D_PID/environ" ] || fail "cannot read /proc/$D_PID/environ"
    tr '\0' '\n' <"/proc/$D_PID/environ" >"$T/environ.txt"
    grep -q '^TSB_SIM=' "$T/environ.txt" || fail "/proc/$D_PID/environ does not show the environment"
    grep -q 'TSB_IT_KEYSTORE_PASSWORD' "$T/environ.txt" && fail "the password variable is still in the environment"
    grep -qF "$pass" "/proc/$D_PID/environ" && fail "the password is still readable in /proc/$D_PID/environ"
    stop_daemon
}

# ---- read-only archive, read-only state folder ------------------------------------------------
case_readonly() {
    # As root, drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH so that file modes apply to tsbagd.
    unpriv=()
    [ "$(id -u)" = 0 ] && unpriv=(setpriv --bounding-set=-dac_override,-dac_read_search)
    : >"$T/probe" && chmod 0444 "$T/probe"
    if "${unpriv[@]}" sh -c ': >>"$1"' sh "$T/probe" 2>/dev/null; then
        echo "SKIP [$NAME]: cannot make a file read-only for this user (${unpriv[*]:-no setpriv})"
        exit 77
    fi

    fresh_daemon -s sealer.enabled=false # creates the archive
    push 1 ro
    stop_daemon
    ro=(-s "general.state_dir=$T/state" -s sealer.enabled=false)
    chmod 0444 "$DB"
    start_fails ro-archive "${unpriv[@]}" "$TSBAGD" "${ro[@]}"
    log_has ro-archive "archive $DB is read-only"
    [ -S "$T/state/tsbagd.sock" ] && fail "ro-archive: the socket was bound"

    chmod 0640 "$DB"
    chmod 0555 "$T/state"
    start_fails ro-folder "${unpriv[@]}" "$TSBAGD" "${ro[@]}"
    log_has ro-folder "state folder $T/state is not writable"
    chmod 0750 "$T/state"

    # writable again, the same folder starts: nothing left behind blocks it
    fresh_daemon "${ro[@]}"
    push 1 ro-again
    stop_daemon
}

# ---- writer.own_cpu: the writer on a CPU of its own, every other thread on the others --------
# thread_cpus NAME: "COMM=CPUS" for each thread of the running tsbagd, CPUS its affinity as a
# sorted comma list (from /proc, whatever ranges the kernel prints)
thread_cpus() {
    python3 - "$D_PID" >"$T/$1.cpus" <<'PY'
import os, sys
pid = sys.argv[1]
for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
    comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
    print(f"{comm}=" + ",".join(str(c) for c in sorted(os.sched_getaffinity(int(tid)))))
PY
}

# on_cpus CPUS ARGS...: fresh_daemon under taskset -c CPUS (a wrapper that execs, so D_PID is
# tsbagd's own PID)
on_cpus() {
    local cpus=$1 real=$TSBAGD
    shift
    printf '#!/bin/sh\nexec taskset -c %s %s "$@"\n' "$cpus" "$real" >"$T/tsbagd-on-cpus"
    chmod +x "$T/tsbagd-on-cpus"
    TSBAGD=$T/tsbagd-on-cpus fresh_daemon "$@"
}

case_cpus() {
    local allowed first second
    allowed=$(python3 -c 'import os; print(" ".join(map(str, sorted(os.sched_getaffinity(0)))))')
    first=${allowed%% *}

    # one CPU: nothing pinned, the writer shares it with everyone
    on_cpus "$first"
    thread_cpus one
    grep -qx "tsbagd-writer=$first" "$T/one.cpus" || { cat "$T/one.cpus" >&2; fail "one CPU: writer"; }
    grep -q "runs on CPU" "$T/d.log" && fail "one CPU: tsbagd says it gave the writer a CPU of its own"
    push 2 one-cpu
    stop_daemon

    set -- $allowed
    [ $# -ge 2 ] || { echo "only one CPU allowed here: the two-CPU cases are skipped"; exit 77; }
    second=$2

    # two CPUs: the writer on the second alone, every other thread (loop, checkpointer, sealer,
    # sender, metrics server ...) on the first
    on_cpus "$first,$second"
    push 3 two-cpus
    seal # the plan runs in libuv's pool: its threads exist only from the first seal on
    thread_cpus two
    grep -qx "tsbagd-writer=$second" "$T/two.cpus" || { cat "$T/two.cpus" >&2; fail "two CPUs: the writer is not on CPU $second alone"; }
    [ "$(grep -c . "$T/two.cpus")" -ge 5 ] || { cat "$T/two.cpus" >&2; fail "two CPUs: fewer threads than loop, writer, checkpointer, metrics server and libuv's pool"; }
    if grep -v "^tsbagd-writer=" "$T/two.cpus" | grep -vx ".*=$first" >"$T/two.bad"; then
        cat "$T/two.cpus" >&2
        fail "two CPUs: threads other than the writer may run on the writer's CPU: $(tr '\n' ' ' <"$T/two.bad")"
    fi
    grep -qF "the writer thread runs on CPU $second alone" "$T/d.log" || fail "two CPUs: not logged"
    [ "$(sql "SELECT count(*) FROM entries")" = 5 ] || fail "two CPUs: entries missing"
    stop_daemon

    # the option off: every thread on both
    on_cpus "$first,$second" -s writer.own_cpu=false
    thread_cpus off
    if grep -vx ".*=$first,$second" "$T/off.cpus" >"$T/off.bad"; then
        cat "$T/off.cpus" >&2
        fail "writer.own_cpu=false: threads kept to fewer CPUs: $(tr '\n' ' ' <"$T/off.bad")"
    fi
    stop_daemon
}

case "${1:-}" in
lock | readonly | files | cpus) ;;
*) fail "usage: daemon_start.sh lock|readonly|files|cpus" ;;
esac
NAME=daemon_$1
start_sim
"case_$1"
pass
