# The evidence package README run as an auditor would (sourced by integration tests); the sourcing
# script defines $T (its temporary folder) and fail.

# readme_run DIR DOC: runs every "    $ " command of DIR/README.txt in DIR, DOCUMENT replaced by
# DOC; writes "<status> <command>" lines to $T/readme.status and all output to $T/readme.out.
readme_run() {
    local dir=$1 doc=$2 c
    : >"$T/readme.status"
    : >"$T/readme.out"
    sed -n 's/^    \$ //p' "$dir/README.txt" >"$T/readme.cmds"
    [ -s "$T/readme.cmds" ] || fail "no command in $dir/README.txt"
    while IFS= read -r c; do
        c=${c//DOCUMENT/$doc}
        (cd "$dir" && sh -c "$c") >>"$T/readme.out" 2>&1
        echo "$? $c" >>"$T/readme.status"
    done <"$T/readme.cmds"
}
# readme_fails REGEX: some README command failed, and only commands matching REGEX did.
readme_fails() {
    grep -v '^0 ' "$T/readme.status" >"$T/readme.failed"
    [ -s "$T/readme.failed" ] || fail "no README command failed (expected: $1)"
    if grep -v -E -- "$1" "$T/readme.failed" >&2; then
        fail "README commands other than '$1' failed"
    fi
}
