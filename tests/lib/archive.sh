# Archive damage for integration tests (sourced by tests/integration/*/lib.sh and tests); the
# sourcing script defines sql (the sqlite3 shell on its archive) and fail.

# lose_bags WHERE: deletes the bags matching WHERE and their journal rows behind the archive's
# no-delete triggers (a damaged or partly restored archive), then puts the triggers back.
lose_bags() {
    local bt et
    bt=$(sql "SELECT sql FROM sqlite_schema WHERE name = 'bags_no_delete'")
    et=$(sql "SELECT sql FROM sqlite_schema WHERE name = 'entries_no_delete'")
    # the bags' bytes go with them (without its bag, a bag's bytes may be deleted)
    sql "BEGIN; DROP TRIGGER bags_no_delete; DROP TRIGGER entries_no_delete;
         CREATE TEMP TABLE lost AS SELECT seq FROM bags WHERE $1;
         DELETE FROM entries WHERE EXISTS (SELECT 1 FROM bags WHERE ($1)
             AND entries.ref BETWEEN bags.first_ref AND bags.last_ref);
         DELETE FROM bags WHERE $1; DELETE FROM bag_bytes WHERE seq IN (SELECT seq FROM lost);
         $bt; $et; COMMIT;"
}

# replace_in_bag SEQ FROM TO: replaces the text FROM by TO in bag SEQ's bytes behind the
# bag_bytes immutability trigger (the digest column is left as sealed), then puts it back.
replace_in_bag() {
    local ut
    ut=$(sql "SELECT sql FROM sqlite_schema WHERE name = 'bag_bytes_no_update'")
    sql "BEGIN; DROP TRIGGER bag_bytes_no_update;
         UPDATE bag_bytes SET bytes = CAST(replace(CAST(bytes AS TEXT), '$2', '$3') AS BLOB)
         WHERE seq = $1; $ut; COMMIT;"
    [ "$(sql "SELECT instr(CAST(bytes AS TEXT), '$3') > 0 FROM bag_bytes WHERE seq = $1")" = 1 ] ||
        fail "bag $1 does not hold '$3' after the replacement"
}
