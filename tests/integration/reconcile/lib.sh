# Helpers of the reconciliation integration tests (sourced), on top of tests/lib/harness.sh
# ($T, start_sim/stop_sim, sql, wait_until ...): seeded archives, tsbag reconcile and its
# configuration. Environment from ctest: TSB_SOURCE_DIR, TSB_SIM (ehealth-sim), TSB_SIM_PKI (a
# dev-pki folder), TSB_TSBAG (the CLI), TSB_SEED (seed_archive).
SUITE=reconcile
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/harness.sh"

: "${TSB_SIM_PKI:?}" "${TSB_SIM:?}" "${TSB_TSBAG:?}"
SEED=${TSB_SEED:?}
LOGS=("$T/out.txt" "$T/err.txt" "$T/sim.log")
mkdir -p "$T/state"
need_sim

# after each start_sim: TSA and CONSULT, and $T/tsbag.ini naming them and the dev PKI
sim_started() {
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

# seed BAGS ENTRIES [LABEL]: that many freshly stamped bags in $DB.
seed() {
    "$SEED" "$DB" "$TSA" "$PKI" "$@" >>"$T/seed.log" 2>&1 || { cat "$T/seed.log" >&2; fail "seeding failed"; }
}

# reconcile ARGS...: runs tsbag reconcile; stdout in $T/out.txt, stderr in $T/err.txt; sets RC.
reconcile() {
    RC=0
    "$TSBAG" -c "$T/tsbag.ini" reconcile --no-progress "$@" >"$T/out.txt" 2>"$T/err.txt" || RC=$?
}

# lose_bags WHERE (tests/lib/archive.sh)
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/archive.sh"

jqr() { jq -r "$1" "$T/out.txt" || fail "jq $1 on the report"; }
