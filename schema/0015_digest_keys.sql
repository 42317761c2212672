-- 0015_digest_keys: the digest index becomes a table of integer keys. entry_hashes (0012) held
-- each entry's 32-byte hash in a composite key (epoch, hash, ref): about 44 bytes per row, and
-- each row a record compared field by field. An index row is now one 64-bit integer, the rowid:
--
--     k = (ref >> 16) << 40  |  (the hash's first three bytes, big-endian) << 16  |  (ref & 65535)
--
-- The epoch (ref >> 16) still comes first, so one epoch's keys are one contiguous range and
-- filling it dirties that range only. Inside an epoch the keys sort by the hash's first three
-- bytes, then by Ref; the key gives the Ref back. A lookup probes each epoch's range for the
-- three bytes and checks each Ref it finds against the full hash in entries (one false candidate
-- per 256 epochs probed, on average). A row is about 13 bytes, and each step inserts it with an
-- integer comparison per b-tree level (docs/internals/STORE.md, "The digest index"; figures in
-- bench/README.md, "The digest index as integer keys"). Keys are non-negative (CHECK), so Refs
-- must stay below 2^39 (549 755 813 887). Applied by store.c in one transaction with
-- PRAGMA user_version = 15. The table reference is schema/README.md.
CREATE TABLE digest_keys (
    k INTEGER PRIMARY KEY CHECK (k >= 0)
);

-- Every row of entry_hashes (the same watermark holds: the rows up to counters.hashed_ref, and
-- those above it that were there early), in that table's order, which is the keys' order but
-- for hashes that share their first three bytes: the inserts go to the end of the table.
INSERT INTO digest_keys (k)
SELECT (epoch << 40)
     | ((instr('0123456789ABCDEF', substr(hex(hash), 1, 1)) - 1) << 36)
     | ((instr('0123456789ABCDEF', substr(hex(hash), 2, 1)) - 1) << 32)
     | ((instr('0123456789ABCDEF', substr(hex(hash), 3, 1)) - 1) << 28)
     | ((instr('0123456789ABCDEF', substr(hex(hash), 4, 1)) - 1) << 24)
     | ((instr('0123456789ABCDEF', substr(hex(hash), 5, 1)) - 1) << 20)
     | ((instr('0123456789ABCDEF', substr(hex(hash), 6, 1)) - 1) << 16)
     | (ref & 65535)
FROM entry_hashes ORDER BY epoch, hash, ref;

DROP TRIGGER entry_hashes_entry_delete;
DROP TABLE entry_hashes;

-- As before: an entry deleted by a deliberate operator action or a damage repair takes its index
-- row along. The key is spelled out from the deleted row (SQLite has no function from bytes to an
-- integer: each hex digit of the hash's first three bytes is found in a string of the sixteen).
CREATE TRIGGER digest_keys_entry_delete AFTER DELETE ON entries
BEGIN
    DELETE FROM digest_keys WHERE k =
          ((OLD.ref >> 16) << 40)
        | ((instr('0123456789ABCDEF', substr(hex(OLD.hash), 1, 1)) - 1) << 36)
        | ((instr('0123456789ABCDEF', substr(hex(OLD.hash), 2, 1)) - 1) << 32)
        | ((instr('0123456789ABCDEF', substr(hex(OLD.hash), 3, 1)) - 1) << 28)
        | ((instr('0123456789ABCDEF', substr(hex(OLD.hash), 4, 1)) - 1) << 24)
        | ((instr('0123456789ABCDEF', substr(hex(OLD.hash), 5, 1)) - 1) << 20)
        | ((instr('0123456789ABCDEF', substr(hex(OLD.hash), 6, 1)) - 1) << 16)
        | (OLD.ref & 65535);
END;
