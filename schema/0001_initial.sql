-- 0001_initial: journal entries, bags, the send-attempt history, and the triggers that keep them
-- append-only. Applied by store.c inside one transaction together with PRAGMA user_version = 1.
-- Column order puts the large blobs last so scans of the small columns never touch overflow pages.
-- The table reference (every column, state and invariant) is schema/README.md.

-- "TSBG": marks the file as a tsbag archive (store.c refuses other SQLite files).
PRAGMA application_id = 1414742599;

CREATE TABLE bags (
    seq           INTEGER PRIMARY KEY CHECK (seq >= 1),
    state         TEXT    NOT NULL
                  CHECK (state IN ('sealed', 'sent', 'stamped', 'failed', 'recovered')),
    entry_count   INTEGER NOT NULL CHECK (entry_count >= 1),
    first_ref     INTEGER NOT NULL,
    last_ref      INTEGER NOT NULL CHECK (last_ref >= first_ref),
    sealed_ms     INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    request_id    TEXT,
    profile       TEXT,
    sent_ms       INTEGER,
    last_error    TEXT,
    tsa_serial    TEXT,
    gen_time_ms   INTEGER,
    stamped_ms    INTEGER,
    digest        BLOB    NOT NULL CHECK (typeof(digest) = 'blob' AND length(digest) = 32),
    token         BLOB,
    sign_response BLOB,
    bytes         BLOB    NOT NULL CHECK (typeof(bytes) = 'blob' AND length(bytes) > 0),
    -- a stamped bag carries its verified evidence; a recovered one at least the token
    CHECK (state <> 'stamped' OR (token IS NOT NULL AND sign_response IS NOT NULL
                                  AND tsa_serial IS NOT NULL AND gen_time_ms IS NOT NULL
                                  AND stamped_ms IS NOT NULL)),
    CHECK (state <> 'recovered' OR (token IS NOT NULL AND tsa_serial IS NOT NULL
                                    AND gen_time_ms IS NOT NULL)),
    CHECK (state NOT IN ('sent', 'failed') OR (attempts >= 1 AND request_id IS NOT NULL))
);

-- The bags a sender still has to finish (small: normally zero to a few rows).
CREATE INDEX bags_unstamped ON bags (seq) WHERE state IN ('sealed', 'sent', 'failed');
CREATE INDEX bags_gen_time ON bags (gen_time_ms) WHERE gen_time_ms IS NOT NULL;

CREATE TABLE entries (
    ref         INTEGER PRIMARY KEY AUTOINCREMENT,
    hash        BLOB    NOT NULL CHECK (typeof(hash) = 'blob' AND length(hash) = 32),
    source      TEXT    NOT NULL CHECK (length(source) > 0),
    format_id   TEXT,
    client_ref  TEXT,
    received_ms INTEGER NOT NULL,
    bag_seq     INTEGER REFERENCES bags (seq),
    position    INTEGER,
    content     BLOB,
    CHECK ((bag_seq IS NULL) = (position IS NULL))
);

-- Only sealed entries are indexed by hash: random-key inserts are the dominant append cost, and
-- doing them once per seal (one transaction) instead of once per append batch triples append
-- throughput. Lookups by hash add a scan of the staged entries (at most one seal interval).
CREATE INDEX entries_hash ON entries (hash) WHERE bag_seq IS NOT NULL;
CREATE INDEX entries_received ON entries (received_ms);
-- Staged entries are (NULL, NULL, ref) here, so "bag_seq IS NULL AND position IS NULL ORDER BY
-- ref" walks them in Ref order without a sort; sealed ones are unique per (bag, position).
CREATE UNIQUE INDEX entries_bag ON entries (bag_seq, position);

CREATE TABLE bag_attempts (
    id         INTEGER PRIMARY KEY,
    seq        INTEGER NOT NULL REFERENCES bags (seq),
    attempt    INTEGER NOT NULL CHECK (attempt >= 1),
    request_id TEXT    NOT NULL,
    outcome    TEXT    NOT NULL CHECK (outcome IN ('retry', 'failed', 'stamped')),
    reason     TEXT,
    at_ms      INTEGER NOT NULL
);

CREATE INDEX bag_attempts_seq ON bag_attempts (seq, id);

-- ---- bags: gap-free SequenceNumbers, enforced state machine, immutable bytes ------------------

CREATE TRIGGER bags_insert_gap_free BEFORE INSERT ON bags
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM bags)
BEGIN
    SELECT RAISE(ABORT, 'bags.seq must be the last SequenceNumber + 1 (gap-free)');
END;

CREATE TRIGGER bags_insert_state BEFORE INSERT ON bags
WHEN NOT ((NEW.state = 'sealed' AND NEW.attempts = 0 AND NEW.request_id IS NULL
           AND NEW.sent_ms IS NULL AND NEW.token IS NULL AND NEW.sign_response IS NULL
           AND NEW.stamped_ms IS NULL)
          OR NEW.state = 'recovered')
BEGIN
    SELECT RAISE(ABORT, 'a bag is inserted as sealed (fresh) or recovered only');
END;

CREATE TRIGGER bags_update_transition BEFORE UPDATE ON bags
WHEN NOT ((OLD.state = 'sealed' AND NEW.state = 'sent')
          OR (OLD.state = 'sent' AND NEW.state IN ('sent', 'stamped', 'failed'))
          OR (OLD.state = 'failed' AND NEW.state = 'sent'))
BEGIN
    SELECT RAISE(ABORT, 'bag state transition not allowed');
END;

CREATE TRIGGER bags_update_immutable BEFORE UPDATE ON bags
WHEN NEW.seq IS NOT OLD.seq OR NEW.bytes IS NOT OLD.bytes OR NEW.digest IS NOT OLD.digest
     OR NEW.entry_count IS NOT OLD.entry_count OR NEW.first_ref IS NOT OLD.first_ref
     OR NEW.last_ref IS NOT OLD.last_ref OR NEW.sealed_ms IS NOT OLD.sealed_ms
     OR NEW.attempts < OLD.attempts
BEGIN
    SELECT RAISE(ABORT, 'sealed bag bytes, digest, entry range and SequenceNumber are immutable');
END;

CREATE TRIGGER bags_no_delete BEFORE DELETE ON bags
BEGIN
    SELECT RAISE(ABORT, 'bags are never deleted (retention is an explicit operator action)');
END;

-- ---- entries: inserted staged, sealed once into an existing sealed bag, never deleted --------

CREATE TRIGGER entries_insert_staged BEFORE INSERT ON entries
WHEN NEW.bag_seq IS NOT NULL OR NEW.position IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'journal entries are inserted staged (no bag)');
END;

CREATE TRIGGER entries_update_seal_once BEFORE UPDATE ON entries
WHEN OLD.bag_seq IS NOT NULL
     OR NEW.ref IS NOT OLD.ref OR NEW.hash IS NOT OLD.hash OR NEW.source IS NOT OLD.source
     OR NEW.format_id IS NOT OLD.format_id OR NEW.client_ref IS NOT OLD.client_ref
     OR NEW.received_ms IS NOT OLD.received_ms OR NEW.content IS NOT OLD.content
     OR NOT EXISTS (SELECT 1 FROM bags b
                    WHERE b.seq = NEW.bag_seq AND b.state = 'sealed'
                      AND NEW.ref BETWEEN b.first_ref AND b.last_ref
                      AND NEW.position >= 0 AND NEW.position < b.entry_count)
BEGIN
    SELECT RAISE(ABORT, 'a journal entry only changes once: staged -> position in a sealed bag');
END;

CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN
    SELECT RAISE(ABORT, 'journal entries are never deleted (retention is an explicit operator action)');
END;

-- ---- attempt history: append-only ------------------------------------------------------------

CREATE TRIGGER bag_attempts_no_update BEFORE UPDATE ON bag_attempts
BEGIN
    SELECT RAISE(ABORT, 'the attempt history is append-only');
END;

CREATE TRIGGER bag_attempts_no_delete BEFORE DELETE ON bag_attempts
BEGIN
    SELECT RAISE(ABORT, 'the attempt history is append-only');
END;
