-- 0011_bag_bytes: the bytes of bags sealed or recovered from now on live in bag_bytes, in parts
-- (seq, part -> bytes) written before the bag's row and never changed once it exists; the bags
-- row keeps only the small columns that change (state, attempts, request, token). Updating a
-- bag's state no longer rewrites its bytes: SQLite rewrites a whole record to change one column,
-- so every sealed -> sent -> stamped step of a bag read its 8 MiB blob and wrote it again as new
-- overflow pages (and 8 MiB of WAL). Parts let tsbagd write a bag's bytes in short transactions
-- of their own, between the batches it acknowledges, before the one that inserts the bag row.
-- Applied by store.c in one transaction with PRAGMA user_version = 11. The table reference is
-- schema/README.md.
--
-- Bags sealed before this migration keep their bytes in bags.bytes: readers take bags.bytes, or
-- else the bag's parts in order, and a bag has its bytes in exactly one of the two (triggers
-- below). Moving them would copy every bag ever sealed in one transaction (the archive's
-- size again in the WAL and in the file, which keeps the freed pages until a VACUUM) for bags that
-- are, but for the few sealed or sent at the time of the upgrade, final and never updated again.
--
-- bags.bytes becomes nullable without rebuilding the table (which would copy it, bytes included):
-- the column's NOT NULL and CHECK are rewritten in sqlite_schema, SQLite's documented procedure
-- for removing a NOT NULL or CHECK constraint (https://sqlite.org/lang_altertable.html, "Making
-- Other Kinds Of Table Schema Changes"): the stored records do not change, every existing row
-- satisfies the new constraint, and the CREATE TABLE below changes the schema cookie so that every
-- other connection re-reads the schema; writable_schema = RESET makes this one re-read it now.

PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql,
                  'bytes         BLOB    NOT NULL CHECK (typeof(bytes) = ''blob'' AND length(bytes) > 0)',
                  'bytes         BLOB    CHECK (bytes IS NULL OR (typeof(bytes) = ''blob'' AND length(bytes) > 0))')
WHERE type = 'table' AND name = 'bags';

PRAGMA writable_schema = RESET;

-- The rewrite above is a text replacement: refuse the migration (rolled back whole) if it did not
-- find the column as 0001 created it.
CREATE TEMP TABLE migration_0011 (
    bags_rewritten INTEGER
    CONSTRAINT "schema/0011: the bags table is not as schema/0001 created it (bytes BLOB NOT NULL); restore the archive from a backup made by tsbag"
    CHECK (bags_rewritten = 1)
);
INSERT INTO migration_0011
SELECT count(*) FROM sqlite_schema
WHERE type = 'table' AND name = 'bags'
  AND instr(sql, 'bytes         BLOB    CHECK (bytes IS NULL OR (typeof(bytes) = ''blob'' AND length(bytes) > 0))') > 0;
DROP TABLE migration_0011;

-- ---- bag_bytes: written before the bag row, never changed after ---------------------------

-- A bag's bytes are the concatenation of its parts in part order. Parts of a SequenceNumber that
-- has no bag row yet are pending: a seal writing them (each part may be its own transaction), or
-- left by one that stopped (a crash, a plan refused at commit); the next seal of that number
-- replaces them. No foreign key to bags: the parts exist before their bag.
CREATE TABLE bag_bytes (
    seq   INTEGER NOT NULL,
    part  INTEGER NOT NULL CHECK (part >= 0),
    bytes BLOB    NOT NULL CHECK (typeof(bytes) = 'blob' AND length(bytes) > 0),
    PRIMARY KEY (seq, part)
);

-- A bag's bytes are in one place, and there: every bag inserted from now on has its parts in
-- bag_bytes already, and none in bags.bytes.
CREATE TRIGGER bags_insert_bytes_apart BEFORE INSERT ON bags
WHEN NEW.bytes IS NOT NULL OR NOT EXISTS (SELECT 1 FROM bag_bytes WHERE seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'a bag row is inserted after its bytes, written to bag_bytes (schema 0011), not bags.bytes');
END;

CREATE TRIGGER bag_bytes_insert_pending BEFORE INSERT ON bag_bytes
WHEN EXISTS (SELECT 1 FROM bags WHERE seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'a bag''s bytes are written before its row, never after');
END;

CREATE TRIGGER bag_bytes_no_update BEFORE UPDATE ON bag_bytes
BEGIN
    SELECT RAISE(ABORT, 'sealed bag bytes are immutable');
END;

-- Pending parts may be replaced; a bag's are never deleted.
CREATE TRIGGER bag_bytes_delete_pending BEFORE DELETE ON bag_bytes
WHEN EXISTS (SELECT 1 FROM bags WHERE seq = OLD.seq)
BEGIN
    SELECT RAISE(ABORT, 'bag bytes are never deleted (retention is an explicit operator action)');
END;
