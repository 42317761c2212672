-- 0008_bag_ranges: a bag is the contiguous Ref range first_ref..last_ref, and an entry's bag and
-- position are derived from it (the bag whose range holds the Ref; the rank of the Ref inside it)
-- instead of being written into every entry row at seal time: a seal now writes its bag row and
-- nothing per entry. Status figures come from maintained counters instead of count(*) scans.
-- Applied by store.c in one transaction with PRAGMA user_version = 8.
-- The table reference is schema/README.md.
--
-- entries.bag_seq and entries.position stay (SQLite cannot drop columns named by a CHECK and a
-- foreign key without rebuilding the largest table): rows sealed before this migration keep their
-- values, which agree with the ranges; nothing writes or reads them any more.

-- ---- bags by range: "which bag holds Ref r" is one probe of this index ---------------------

CREATE INDEX bags_range ON bags (first_ref, last_ref, entry_count);

-- Ranges never overlap, so every Ref is in at most one bag. The only bag that could overlap the
-- new one is the one with the largest first_ref not above NEW.last_ref.
CREATE TRIGGER bags_insert_range BEFORE INSERT ON bags
WHEN (SELECT b.last_ref FROM bags b WHERE b.first_ref <= NEW.last_ref
      ORDER BY b.first_ref DESC LIMIT 1) >= NEW.first_ref
BEGIN
    SELECT RAISE(ABORT, 'a bag''s Ref range must not overlap another bag''s');
END;

-- ---- entries: immutable once inserted ------------------------------------------------------

DROP TRIGGER entries_update_seal_once;
DROP TRIGGER entries_insert_staged;

CREATE TRIGGER entries_insert_unlinked BEFORE INSERT ON entries
WHEN NEW.bag_seq IS NOT NULL OR NEW.position IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'journal entries are inserted without bag or position (derived from the bag ranges)');
END;

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
    SELECT RAISE(ABORT, 'journal entries are never updated (their bag is the one whose Ref range holds them)');
END;

-- The staged walk is a Ref range of the table itself now; the digest index covers every entry
-- (the partial one was filled at seal time, by the per-entry updates this migration removes).
DROP INDEX entries_bag;
DROP INDEX entries_hash;
CREATE INDEX entries_hash ON entries (hash);

-- ---- counters: what tsbag status reports, kept in the commits that change it ----------------

CREATE TABLE counters (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    -- journal entries ever appended or recovered (store.c adds each append's batch size)
    entries     INTEGER NOT NULL CHECK (entries >= 0),
    -- sum of entry_count over all bags: entries - bag_entries are the staged ones
    bag_entries INTEGER NOT NULL CHECK (bag_entries >= 0),
    -- every entry up to this Ref is in a bag; the next seal starts above it
    sealed_ref  INTEGER NOT NULL CHECK (sealed_ref >= 0),
    sealed      INTEGER NOT NULL CHECK (sealed >= 0),
    sent        INTEGER NOT NULL CHECK (sent >= 0),
    stamped     INTEGER NOT NULL CHECK (stamped >= 0),
    failed      INTEGER NOT NULL CHECK (failed >= 0),
    recovered   INTEGER NOT NULL CHECK (recovered >= 0)
);

INSERT INTO counters
SELECT 1, (SELECT count(*) FROM entries),
       (SELECT coalesce(sum(entry_count), 0) FROM bags),
       (SELECT coalesce(max(last_ref), 0) FROM bags WHERE state <> 'recovered'),
       (SELECT count(*) FROM bags WHERE state = 'sealed'),
       (SELECT count(*) FROM bags WHERE state = 'sent'),
       (SELECT count(*) FROM bags WHERE state = 'stamped'),
       (SELECT count(*) FROM bags WHERE state = 'failed'),
       (SELECT count(*) FROM bags WHERE state = 'recovered');

CREATE TRIGGER counters_no_delete BEFORE DELETE ON counters
BEGIN
    SELECT RAISE(ABORT, 'the counters row is never deleted');
END;

CREATE TRIGGER counters_bag_insert AFTER INSERT ON bags
BEGIN
    UPDATE counters SET
        bag_entries = bag_entries + NEW.entry_count,
        sealed_ref = CASE WHEN NEW.state = 'sealed' AND NEW.last_ref > sealed_ref
                          THEN NEW.last_ref ELSE sealed_ref END,
        sealed = sealed + (NEW.state = 'sealed'),
        recovered = recovered + (NEW.state = 'recovered')
    WHERE id = 1;
END;

CREATE TRIGGER counters_bag_state AFTER UPDATE OF state ON bags
WHEN NEW.state IS NOT OLD.state
BEGIN
    UPDATE counters SET
        sealed = sealed - (OLD.state = 'sealed') + (NEW.state = 'sealed'),
        sent = sent - (OLD.state = 'sent') + (NEW.state = 'sent'),
        stamped = stamped - (OLD.state = 'stamped') + (NEW.state = 'stamped'),
        failed = failed - (OLD.state = 'failed') + (NEW.state = 'failed')
    WHERE id = 1;
END;

-- Rows are deleted only by a deliberate operator action behind dropped guards (schema/README.md,
-- Retention) or by damage repair; the counters follow them too.
CREATE TRIGGER counters_bag_delete AFTER DELETE ON bags
BEGIN
    UPDATE counters SET
        bag_entries = max(bag_entries - OLD.entry_count, 0),
        sealed = max(sealed - (OLD.state = 'sealed'), 0),
        sent = max(sent - (OLD.state = 'sent'), 0),
        stamped = max(stamped - (OLD.state = 'stamped'), 0),
        failed = max(failed - (OLD.state = 'failed'), 0),
        recovered = max(recovered - (OLD.state = 'recovered'), 0)
    WHERE id = 1;
END;

CREATE TRIGGER counters_entry_delete AFTER DELETE ON entries
BEGIN
    UPDATE counters SET entries = max(entries - 1, 0) WHERE id = 1;
END;
