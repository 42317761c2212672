# Helpers of the verify/export integration tests (sourced), on top of tests/lib/harness.sh ($T,
# fail, pass ...). Environment from ctest: TSB_SOURCE_DIR, TSB_TSBAG (the tsbag binary),
# TSB_MKARCHIVE (the archive fixture builder), TSB_VERIFY_PKI (a dev-pki folder made by the
# integration.verify_pki fixture). $T holds archive.db, built by mkarchive, and the documents
# doc1.txt..doc5.txt. TSB_UPDATE_GOLDEN=1 rewrites golden files.
SUITE=verify
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/harness.sh"

SRC=${TSB_SOURCE_DIR:?}
TSBAG=${TSB_TSBAG:?}
PKI=${TSB_VERIFY_PKI:?}
GOLDEN=$SRC/tests/data/verify
DB= # tsb's archive: $T/archive.db unless a test names a tampered copy
LOGS=()

[ -s "$PKI/tsa.key" ] || fail "no development PKI in $PKI (fixture integration.verify_pki)"
mkdir -p "$T/work"
"${TSB_MKARCHIVE:?}" "$T/archive.db" "$PKI" "$T/work" || fail "mkarchive failed"
cp "$T"/work/doc*.txt "$T/"

# tsbag with this test's archive and the development TSA anchor; extra arguments first.
tsb() {
    "$TSBAG" -s "store.path=${DB:-$T/archive.db}" -s "tsa.trust_anchors=${ANCHORS:-$PKI/tsa-ca.pem}" \
        -s "general.state_dir=$T" "$@"
}

# Replaces what depends on the day the test runs (the stamp time) with placeholders.
normalize() {
    sed -E -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z/<UTC>/g' \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} CES?T \(UTC\+0[12]:00\)/<LOCAL>/g' \
        -e 's/"gen_time_ms": [0-9]+/"gen_time_ms": <MS>/g' -e "s#$T#<T>#g"
}

# golden NAME FILE: FILE (normalized) must equal tests/data/verify/NAME.
golden() {
    normalize <"$2" >"$2.norm"
    if [ "${TSB_UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$2.norm" "$GOLDEN/$1"
        return 0
    fi
    diff -u "$GOLDEN/$1" "$2.norm" >&2 || fail "output differs from golden $1"
}

# expect_rc WANT CMD...: runs CMD, stdout to $T/out, and checks its exit status.
expect_rc() {
    local want=$1 rc
    shift
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" = "$want" ] || {
        cat "$T/out" "$T/err" >&2
        fail "$* exited $rc, expected $want"
    }
}

# expect_line TEXT: $T/out holds a line with TEXT.
expect_line() {
    grep -qF -- "$1" "$T/out" || {
        cat "$T/out" >&2
        fail "output lacks '$1'"
    }
}

# flip_byte FILE OFFSET: changes one byte (xor 1); OFFSET -1 is the last byte.
flip_byte() {
    local f=$1 off=$2 size b
    size=$(stat -c %s "$f")
    [ "$off" -lt 0 ] && off=$((size + off))
    b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
    printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# flip_hex TEXT: TEXT with its first character replaced by another hex digit.
flip_hex() {
    local c=${1:0:1}
    [ "$c" = 0 ] && c=1 || c=0
    echo "$c${1:1}"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# sql_tamper DB STATEMENTS: runs SQL on a copy-tampered archive (the triggers that protect stamped bags
# and sealed entries are dropped first, as an attacker with file access would).
sql_tamper() {
    sqlite3 "$1" "DROP TRIGGER IF EXISTS bags_update_immutable;
                  DROP TRIGGER IF EXISTS bags_update_transition;
                  DROP TRIGGER IF EXISTS bag_bytes_no_update;
                  DROP TRIGGER IF EXISTS entries_no_update; $2" || fail "sqlite3 failed"
}

# copy_db NAME: a copy of the archive to tamper with; prints its path.
copy_db() {
    sqlite3 "$T/archive.db" ".backup '$T/$1.db'" || fail "cannot copy the archive"
    echo "$T/$1.db"
}
