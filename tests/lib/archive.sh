# Archive damage for integration tests (sourced by tests/integration/*/lib.sh and tests); the
# sourcing script defines sql (the sqlite3 shell on its archive) and fail.

# lose_bags WHERE: deletes the bags matching WHERE and their journal rows behind the archive's
# no-delete triggers (a damaged or partly restored archive), then puts the triggers back.
lose_bags() {
    local bt et
    bt=$(sql "SELECT sql FROM sqlite_schema WHERE name = 'bags_no_delete'")
    et=$(sql "SELECT sql FROM sqlite_schema WHERE name = 'entries_no_delete'")
    sql "BEGIN; DROP TRIGGER bags_no_delete; DROP TRIGGER entries_no_delete;
         DELETE FROM entries WHERE EXISTS (SELECT 1 FROM bags WHERE ($1)
             AND entries.ref BETWEEN bags.first_ref AND bags.last_ref);
         DELETE FROM bags WHERE $1; $bt; $et; COMMIT;"
}
