-- 0006_reconcile_damaged: a reconciliation run can end "damaged" (exit 3): SQLite's integrity
-- check found the archive file itself damaged, which is neither a discrepancy with eHealth nor
-- a run that could not be done. SQLite cannot change a CHECK constraint in place, so the
-- append-only reconcile_runs table is rebuilt with every row, its index and its triggers.
-- Applied by store.c in one transaction with PRAGMA user_version = 6.

CREATE TABLE reconcile_runs_0006 (
    id              INTEGER PRIMARY KEY,
    started_ms      INTEGER NOT NULL,
    finished_ms     INTEGER NOT NULL,
    mode            TEXT    NOT NULL CHECK (mode IN ('consult', 'local-only')),
    period_from_ms  INTEGER,
    period_to_ms    INTEGER,
    -- end of the last period whose checkCompleteness completed (--since-last resumes after it)
    done_to_ms      INTEGER,
    result          TEXT    NOT NULL
                    CHECK (result IN ('clean', 'discrepancies', 'failed', 'damaged')),
    exit_code       INTEGER NOT NULL CHECK (exit_code IN (0, 1, 2, 3)),
    bags_local      INTEGER NOT NULL DEFAULT 0,
    bags_remote_missing INTEGER NOT NULL DEFAULT 0,
    recovered       INTEGER NOT NULL DEFAULT 0,
    missing_at_ehealth INTEGER NOT NULL DEFAULT 0,
    conflicts       INTEGER NOT NULL DEFAULT 0,
    errors          INTEGER NOT NULL DEFAULT 0,
    violations      INTEGER NOT NULL DEFAULT 0,
    report          TEXT    NOT NULL
);

INSERT INTO reconcile_runs_0006 SELECT * FROM reconcile_runs;
DROP TABLE reconcile_runs;
ALTER TABLE reconcile_runs_0006 RENAME TO reconcile_runs;

CREATE INDEX reconcile_runs_done ON reconcile_runs (done_to_ms) WHERE done_to_ms IS NOT NULL;

CREATE TRIGGER reconcile_runs_no_update BEFORE UPDATE ON reconcile_runs
BEGIN
    SELECT RAISE(ABORT, 'reconciliation runs are append-only');
END;

CREATE TRIGGER reconcile_runs_no_delete BEFORE DELETE ON reconcile_runs
BEGIN
    SELECT RAISE(ABORT, 'reconciliation runs are append-only');
END;
