-- 0002_reconcile: what the nightly reconciliation with TimeStampConsult needs. A bag recovered
-- from eHealth may fill a SequenceNumber gap (a damaged or restored archive) and arrives with its
-- journal entries already linked to it; a recovered bag that disagrees with local data is kept
-- beside it in bag_conflicts (never overwriting anything); every run is recorded in
-- reconcile_runs. Applied by store.c in one transaction with PRAGMA user_version = 2.
-- The table reference is schema/README.md.

-- ---- bags: only fresh seals must extend the chain; a recovered bag may fill a gap ------------

DROP TRIGGER bags_insert_gap_free;

CREATE TRIGGER bags_insert_gap_free BEFORE INSERT ON bags
WHEN NEW.state IS NOT 'recovered'
     AND NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM bags)
BEGIN
    SELECT RAISE(ABORT, 'bags.seq must be the last SequenceNumber + 1 (gap-free)');
END;

-- ---- entries: staged, or (recovered) already in place inside a recovered bag -----------------

DROP TRIGGER entries_insert_staged;

CREATE TRIGGER entries_insert_staged BEFORE INSERT ON entries
WHEN (NEW.bag_seq IS NOT NULL OR NEW.position IS NOT NULL)
     AND NOT EXISTS (SELECT 1 FROM bags b
                     WHERE b.seq = NEW.bag_seq AND b.state = 'recovered'
                       AND NEW.ref BETWEEN b.first_ref AND b.last_ref
                       AND NEW.position >= 0 AND NEW.position < b.entry_count)
BEGIN
    SELECT RAISE(ABORT, 'journal entries are inserted staged (no bag), or inside a recovered bag');
END;

-- ---- conflicts: a recovered bag that disagrees with the archive (a security event) ----------

CREATE TABLE bag_conflicts (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER,
    seq           INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('bag', 'entry')),
    detail        TEXT    NOT NULL,
    detected_ms   INTEGER NOT NULL,
    tsa_serial    TEXT,
    gen_time_ms   INTEGER,
    local_digest  BLOB    CHECK (local_digest IS NULL OR length(local_digest) = 32),
    remote_digest BLOB    NOT NULL CHECK (length(remote_digest) = 32),
    remote_token  BLOB,
    remote_sign_response BLOB,
    remote_bytes  BLOB    NOT NULL CHECK (length(remote_bytes) > 0)
);

CREATE INDEX bag_conflicts_seq ON bag_conflicts (seq);

CREATE TRIGGER bag_conflicts_no_update BEFORE UPDATE ON bag_conflicts
BEGIN
    SELECT RAISE(ABORT, 'bag conflicts are evidence: append-only');
END;

CREATE TRIGGER bag_conflicts_no_delete BEFORE DELETE ON bag_conflicts
BEGIN
    SELECT RAISE(ABORT, 'bag conflicts are evidence: append-only');
END;

-- ---- reconciliation runs ---------------------------------------------------------------------

CREATE TABLE reconcile_runs (
    id              INTEGER PRIMARY KEY,
    started_ms      INTEGER NOT NULL,
    finished_ms     INTEGER NOT NULL,
    mode            TEXT    NOT NULL CHECK (mode IN ('consult', 'local-only')),
    period_from_ms  INTEGER,
    period_to_ms    INTEGER,
    -- end of the last period whose checkCompleteness completed (--since-last resumes after it)
    done_to_ms      INTEGER,
    result          TEXT    NOT NULL CHECK (result IN ('clean', 'discrepancies', 'failed')),
    exit_code       INTEGER NOT NULL CHECK (exit_code IN (0, 1, 2)),
    bags_local      INTEGER NOT NULL DEFAULT 0,
    bags_remote_missing INTEGER NOT NULL DEFAULT 0,
    recovered       INTEGER NOT NULL DEFAULT 0,
    missing_at_ehealth INTEGER NOT NULL DEFAULT 0,
    conflicts       INTEGER NOT NULL DEFAULT 0,
    errors          INTEGER NOT NULL DEFAULT 0,
    violations      INTEGER NOT NULL DEFAULT 0,
    report          TEXT    NOT NULL
);

CREATE INDEX reconcile_runs_done ON reconcile_runs (done_to_ms) WHERE done_to_ms IS NOT NULL;

CREATE TRIGGER reconcile_runs_no_update BEFORE UPDATE ON reconcile_runs
BEGIN
    SELECT RAISE(ABORT, 'reconciliation runs are append-only');
END;

CREATE TRIGGER reconcile_runs_no_delete BEFORE DELETE ON reconcile_runs
BEGIN
    SELECT RAISE(ABORT, 'reconciliation runs are append-only');
END;
