#!/usr/bin/env bash
# Every unit in deploy/ passes `systemd-analyze verify` (ExecStart pointed at the built tsbag and
# tsbagd); the reconcile timer's calendar expression is valid in Europe/Brussels and randomized,
# the service alerts on failure through OnFailure=, and its command line is one tsbag accepts;
# the same for tsbag-renew's daily timer and service.
# tsbag-backup.service's own command lines, run as systemd would run them (specifiers and $$
# unescaped), write a checked copy and keep the newest $KEEP. A deliberately broken copy is
# refused (negative control).
set -uo pipefail
SRC=${TSB_SOURCE_DIR:?}
TSBAG=${TSB_TSBAG:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/tsb-units.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL [units]: $*" >&2; exit 1; }

TSBAGD=${TSB_TSBAGD:?}
UNITS=(tsbagd.service tsbag-reconcile.service tsbag-reconcile.timer tsbag-reconcile-alert.service
    tsbag-backup.service tsbag-backup.timer tsbag-renew.service tsbag-renew.timer)
for u in "${UNITS[@]}"; do
    [ -s "$SRC/deploy/$u" ] || fail "deploy/$u is missing"
    sed -e "s|/usr/bin/tsbag |$TSBAG |" -e "s|/usr/sbin/tsbagd |$TSBAGD |" "$SRC/deploy/$u" >"$T/$u"
done
[ "$(ls "$SRC"/deploy/*.service "$SRC"/deploy/*.timer | wc -l)" = "${#UNITS[@]}" ] ||
    fail "deploy/ has a unit this test does not verify"
(cd "$T" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "${UNITS[@]/#/./}") \
    >"$T/verify.txt" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.txt")"
grep -v 'Failed to .*cgroup\|Permission denied' "$T/verify.txt" | grep -q . &&
    fail "systemd-analyze verify complained: $(cat "$T/verify.txt")"

cal=$(sed -n 's/^OnCalendar=//p' "$T/tsbag-reconcile.timer")
systemd-analyze calendar "$cal" >/dev/null 2>&1 || fail "OnCalendar '$cal' is invalid"
case "$cal" in *Europe/Brussels*) ;; *) fail "OnCalendar is not in Europe/Brussels" ;; esac
grep -q '^RandomizedDelaySec=[1-9]' "$T/tsbag-reconcile.timer" || fail "no randomized delay"
grep -q '^OnFailure=tsbag-reconcile-alert.service$' "$T/tsbag-reconcile.service" ||
    fail "the service does not alert on failure"
grep -q '^Type=oneshot$' "$T/tsbag-reconcile.service" || fail "the service is not oneshot"

# the service's arguments are accepted by tsbag (usage errors exit 2 before anything runs)
args=$(sed -n 's/^ExecStart=[^ ]* -c [^ ]* //p' "$T/tsbag-reconcile.service")
"$TSBAG" $args --help >/dev/null 2>&1 || fail "tsbag does not accept '$args'"

# tsbag-renew: a daily, randomized, persistent timer in Europe/Brussels, a oneshot service whose
# command line tsbag accepts
cal=$(sed -n 's/^OnCalendar=//p' "$T/tsbag-renew.timer")
systemd-analyze calendar "$cal" >/dev/null 2>&1 || fail "renew OnCalendar '$cal' is invalid"
case "$cal" in "*-*-* "*Europe/Brussels) ;; *) fail "the renew timer is not daily in Europe/Brussels" ;; esac
grep -q '^RandomizedDelaySec=[1-9]' "$T/tsbag-renew.timer" && grep -q '^Persistent=true$' "$T/tsbag-renew.timer" ||
    fail "the renew timer is not randomized and persistent"
grep -q '^Type=oneshot$' "$T/tsbag-renew.service" || fail "tsbag-renew.service is not oneshot"
args=$(sed -n 's/^ExecStart=[^ ]* -c [^ ]* //p' "$T/tsbag-renew.service")
[ "$args" = renew ] && "$TSBAG" $args --help >/dev/null 2>&1 || fail "tsbag does not accept '$args'"

# tsbag-backup.service: its commands as systemd runs them ($$ -> $, %% -> %), on a fresh archive,
# with three older copies in the folder and KEEP=2: a new CLEAN copy, and the newest old one kept
grep -q '^OnCalendar=.*Europe/Brussels' "$T/tsbag-backup.timer" || fail "backup timer not in Europe/Brussels"
mkdir -p "$T/state" "$T/backups"
printf '[general]\nstate_dir = %s/state\n[tsa]\ntrust_anchors = %s\n' "$T" "${TSB_SIM_PKI:?}/tsa-ca.pem" >"$T/tsbag.ini"
"$TSBAG" -c "$T/tsbag.ini" reconcile --local-only --no-progress >/dev/null 2>&1 # creates the archive
for d in 20200101 20200102 20200103; do echo old >"$T/backups/archive-${d}T000000Z.db"; done
unit_cmd() {
    sed -n "s/^$1=//p" "$T/tsbag-backup.service" | sed -e 's/\$\$/$/g' -e 's/%%/%/g' \
        -e "s|/etc/tsbag/tsbag.ini|$T/tsbag.ini|"
}
[ -n "$(unit_cmd ExecStart)" ] && [ -n "$(unit_cmd ExecStartPost)" ] || fail "backup unit commands"
(export BACKUP_DIR="$T/backups" KEEP=2; eval "$(unit_cmd ExecStart)") >"$T/backup.txt" 2>&1 ||
    fail "the backup unit's ExecStart failed: $(cat "$T/backup.txt")"
grep -q 'CLEAN (exit 0)' "$T/backup.txt" || fail "the backup unit's copy is not CLEAN"
(export BACKUP_DIR="$T/backups" KEEP=2; eval "$(unit_cmd ExecStartPost)") >"$T/prune.txt" 2>&1 ||
    fail "the backup unit's ExecStartPost failed: $(cat "$T/prune.txt")"
left=$(cd "$T/backups" && ls)
[ "$(echo "$left" | wc -l)" = 2 ] || fail "KEEP=2 left: $left"
echo "$left" | grep -q '^archive-20200103T000000Z.db$' || fail "the newest old copy was removed: $left"
echo "$left" | grep -q '^archive-20[0-9]\{6\}T[0-9]\{6\}Z.db$' || fail "no new dated copy: $left"
new=$(echo "$left" | grep -v 20200103)
[ "$(sqlite3 -readonly "$T/backups/$new" 'PRAGMA integrity_check')" = ok ] || fail "the new copy is not sound"

# negative control: a unit with a bad directive is refused
sed 's/^Type=oneshot$/Type=sometimes/' "$T/tsbag-reconcile.service" >"$T/broken.service"
(cd "$T" && systemd-analyze verify --man=no ./broken.service) >"$T/broken.txt" 2>&1
grep -qi 'service type' "$T/broken.txt" || fail "systemd-analyze accepted a broken unit"
echo "PASS [units]"
