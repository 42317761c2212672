#!/usr/bin/env bash
# deploy/tsbag-reconcile.{service,timer} and the alert unit pass `systemd-analyze verify` (with
# ExecStart pointed at the built tsbag), the timer's calendar expression is valid in
# Europe/Brussels and randomized, the service alerts on failure through OnFailure=, and its
# command line is one tsbag accepts. A deliberately broken copy is refused (negative control).
set -uo pipefail
SRC=${TSB_SOURCE_DIR:?}
TSBAG=${TSB_TSBAG:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/tsb-units.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL [units]: $*" >&2; exit 1; }

for u in tsbag-reconcile.service tsbag-reconcile.timer tsbag-reconcile-alert.service; do
    sed "s|/usr/bin/tsbag |$TSBAG |" "$SRC/deploy/$u" >"$T/$u"
done
(cd "$T" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
    ./tsbag-reconcile.timer ./tsbag-reconcile.service ./tsbag-reconcile-alert.service) \
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

# negative control: a unit with a bad directive is refused
sed 's/^Type=oneshot$/Type=sometimes/' "$T/tsbag-reconcile.service" >"$T/broken.service"
(cd "$T" && systemd-analyze verify --man=no ./broken.service) >"$T/broken.txt" 2>&1
grep -qi 'service type' "$T/broken.txt" || fail "systemd-analyze accepted a broken unit"
echo "PASS [units]"
