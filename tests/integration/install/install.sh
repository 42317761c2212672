#!/usr/bin/env bash
# install: `cmake --install BUILD --prefix $T/p` (no DESTDIR) puts every file in its FHS place;
# the installed units name the installed binaries and configuration and pass
# `systemd-analyze verify`; tsbagd.service's `systemd-analyze security` exposure is at most 2.0
# (printed); the installed man pages pass `man --warnings` and tsbag.ini(5) names every option of
# `tsbagd --print-config`; the installed tsbagd, on the installed example configuration (state
# folder, socket, URLs and keystore overridden with -s for this test's simulator and dev PKI),
# stamps a pushed entry that stock `openssl ts -verify` accepts.
. "$(dirname "$0")/../sender/lib.sh"
BUILD=${TSB_BUILD_DIR:?}
P=$T/p

cmake --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1 || fail "cmake --install: $(tail -5 "$T/install.log")"
for f in bin/tsbag sbin/tsbagd etc/tsbag/tsbag.ini share/doc/tsbag/examples/tsbag.ini \
    share/doc/tsbag/README.md share/doc/tsbag/operations.md share/doc/tsbag/configuration.md \
    share/man/man1/tsbag.1 share/man/man5/tsbag.ini.5 share/man/man8/tsbagd.8 \
    lib/sysusers.d/tsbag.conf lib/tmpfiles.d/tsbag.conf \
    lib/systemd/system/tsbagd.service lib/systemd/system/tsbag-reconcile.service \
    lib/systemd/system/tsbag-reconcile.timer lib/systemd/system/tsbag-reconcile-alert.service \
    lib/systemd/system/tsbag-backup.service lib/systemd/system/tsbag-backup.timer \
    lib/systemd/system/tsbag-renew.service lib/systemd/system/tsbag-renew.timer; do
    [ -s "$P/$f" ] || fail "not installed: $f"
done
[ -x "$P/sbin/tsbagd" ] && [ -x "$P/bin/tsbag" ] || fail "installed binaries not executable"

# the units point at what was installed, and systemd accepts them
U=$P/lib/systemd/system
grep -q "^ExecStart=$P/sbin/tsbagd -c $P/etc/tsbag/tsbag.ini$" "$U/tsbagd.service" ||
    fail "tsbagd.service does not start the installed tsbagd: $(grep ^ExecStart "$U/tsbagd.service")"
grep -q "^ExecStart=$P/bin/tsbag -c $P/etc/tsbag/tsbag.ini reconcile" "$U/tsbag-reconcile.service" ||
    fail "tsbag-reconcile.service does not run the installed tsbag"
grep -q "exec $P/bin/tsbag -c $P/etc/tsbag/tsbag.ini backup" "$U/tsbag-backup.service" ||
    fail "tsbag-backup.service does not run the installed tsbag"
grep -q "^ExecStart=$P/bin/tsbag -c $P/etc/tsbag/tsbag.ini renew$" "$U/tsbag-renew.service" ||
    fail "tsbag-renew.service does not run the installed tsbag"
grep -rq '/usr/s\?bin/tsbag' "$U" && fail "a unit still names /usr: $(grep -rl '/usr/s\?bin/tsbag' "$U")"
if command -v systemd-analyze >/dev/null; then
    (cd "$U" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no ./*.service ./*.timer) \
        >"$T/verify.txt" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.txt")"
    grep -v 'Failed to .*cgroup\|Permission denied' "$T/verify.txt" | grep -q . &&
        fail "systemd-analyze verify complained: $(cat "$T/verify.txt")"
    systemd-analyze security --offline=yes "$U/tsbagd.service" >"$T/security.txt" 2>&1
    exposure=$(sed -n 's/.*Overall exposure level for tsbagd.service: \([0-9.]*\).*/\1/p' "$T/security.txt")
    [ -n "$exposure" ] || fail "no exposure level: $(tail -3 "$T/security.txt")"
    echo "systemd-analyze security --offline=yes tsbagd.service: exposure $exposure"
    awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "tsbagd.service exposure $exposure > 2.0"
fi

# man pages: no warnings; every option is in tsbag.ini(5)
for m in man1/tsbag.1 man5/tsbag.ini.5 man8/tsbagd.8; do
    LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$P/share/man/$m" >"$T/man.txt" 2>"$T/man-warn.txt" ||
        fail "man -l $m failed: $(cat "$T/man-warn.txt")"
    [ -s "$T/man-warn.txt" ] && fail "man --warnings on $m: $(cat "$T/man-warn.txt")"
    [ "$(wc -l <"$T/man.txt")" -gt 20 ] || fail "$m renders to almost nothing"
done
"$P/sbin/tsbagd" --print-config | awk '/^\[/ { s = substr($0, 2, length($0) - 2); next }
    / = / || / =$/ { print s "." $1 }' >"$T/options.txt"
[ "$(wc -l <"$T/options.txt")" -gt 30 ] || fail "tsbagd --print-config listed few options"
LC_ALL=C.UTF-8 MANWIDTH=200 man -E UTF-8 -l "$P/share/man/man5/tsbag.ini.5" 2>/dev/null | col -b >"$T/ini5.txt"
while read -r o; do
    grep -qF "$o" "$T/ini5.txt" || fail "tsbag.ini(5) does not document $o"
done <"$T/options.txt"

# the installed daemon on the installed example configuration stamps an entry
TSBAGD=$P/sbin/tsbagd
TSBAG=$P/bin/tsbag
DAEMON_CONFIG=$P/etc/tsbag/tsbag.ini
start_sim
start_daemon -s general.environment=simulator -s "store.path=$DB" \
    -s "ingest.unix_socket=$T/state/tsbagd.sock" -s ingest.tcp_listen= \
    -s "consult.url=https://127.0.0.1:$PORT/TimestampConsult/v2"
push 1 installed
seal
wait_for "SELECT state FROM bags WHERE seq = 1" stamped
sql "SELECT writefile('$T/bag.xml', $(bag_bytes_sql bags.seq)), writefile('$T/bag.tst', token) FROM bags WHERE seq = 1" >/dev/null
openssl ts -verify -data "$T/bag.xml" -in "$T/bag.tst" -token_in -CAfile "$PKI/tsa-ca.pem" \
    >"$T/ossl.txt" 2>&1 || fail "openssl ts -verify refused the installed tsbagd's stamp"
stop_daemon
pass
