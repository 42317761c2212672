-- 0012_hash_index: the digest index stops costing every append a random leaf page. Until now
-- entries_hash (hash) took each appended entry's key at insert time: a SHA-256 is random, so each
-- entry dirtied its own leaf (one 4 KiB WAL frame, its statement-journal copy and its checkpoint
-- copy per entry), and once the index outgrew the page cache at 1 M entries each append also read
-- its leaf from disk. entry_hashes replaces it and is filled after the fact, by tsbagd's writer
-- between batches, in steps whose cost does not depend on the archive's size (docs/internals/
-- STORE.md, "The digest index (schema 0012)"). Applied by store.c in one transaction with
-- PRAGMA user_version = 12. The table reference is schema/README.md.
--
-- epoch = ref >> 16: 65 536 Refs per epoch, and the primary key starts with it, so the rows of one
-- epoch are one contiguous region of the b-tree (at most ~700 leaves): filling an epoch dirties
-- that region only, whatever the archive's size. A lookup probes each epoch's (epoch, hash).
CREATE TABLE entry_hashes (
    epoch INTEGER NOT NULL CHECK (epoch = ref >> 16),
    hash  BLOB    NOT NULL CHECK (length(hash) = 32),
    ref   INTEGER NOT NULL CHECK (ref >= 1),
    PRIMARY KEY (epoch, hash, ref)
) WITHOUT ROWID;

-- Every existing entry, in Ref order: the rows go into one epoch's region after the other (the
-- working set is that region, not a sort of the whole archive).
INSERT INTO entry_hashes (epoch, hash, ref) SELECT ref >> 16, hash, ref FROM entries ORDER BY ref;

-- counters: every entry with ref <= hashed_ref is in entry_hashes (a multiple of 16 384, the
-- chunk the writer indexes next starts above it); hashing_slice is the next of the chunk's eight
-- steps (the hash's first byte in [32 * slice, 32 * (slice + 1))), the steps before it are done.
ALTER TABLE counters ADD COLUMN hashed_ref INTEGER NOT NULL DEFAULT 0
    CHECK (hashed_ref >= 0 AND hashed_ref % 16384 = 0);
ALTER TABLE counters ADD COLUMN hashing_slice INTEGER NOT NULL DEFAULT 0
    CHECK (hashing_slice BETWEEN 0 AND 7);

-- Every entry is in the table now; rows above hashed_ref are there early (the steps that reach
-- them insert OR IGNORE).
UPDATE counters SET hashed_ref = coalesce((SELECT max(ref) FROM entries), 0) / 16384 * 16384,
                    hashing_slice = 0
WHERE id = 1;

DROP INDEX entries_hash;

-- Rows are indexed without a trigger on entries (the append path stays free of it); an entry
-- deleted by a deliberate operator action or a damage repair takes its index row along.
CREATE TRIGGER entry_hashes_entry_delete AFTER DELETE ON entries
BEGIN
    DELETE FROM entry_hashes WHERE epoch = OLD.ref >> 16 AND hash = OLD.hash AND ref = OLD.ref;
END;
