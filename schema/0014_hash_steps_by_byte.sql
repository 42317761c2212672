-- 0014_hash_steps_by_byte: the digest index's steps get four times smaller. A step indexed one
-- eighth of a chunk (2 048 entries, 4-9 ms of the writer's time, during which nothing is
-- acknowledged); it now indexes a thirty-second (512 entries), and the point it reached is kept
-- as the hash's first byte, so that the step's width can change again without a migration
-- (docs/internals/STORE.md, "The digest index"). Applied by store.c in one transaction with
-- PRAGMA user_version = 14. The table reference is schema/README.md.
--
-- hashing_byte: the chunk above hashed_ref has every entry whose hash starts with a byte below
-- it in entry_hashes (0: none yet). hashing_slice (0012, whose CHECK allows 0..7 only, and SQLite
-- cannot change a CHECK without rebuilding the table) is no longer read or written: 0 from here.
ALTER TABLE counters ADD COLUMN hashing_byte INTEGER NOT NULL DEFAULT 0
    CHECK (hashing_byte BETWEEN 0 AND 255);

-- slice k of eight covered the first bytes [32 k, 32 (k + 1))
UPDATE counters SET hashing_byte = hashing_slice * 32, hashing_slice = 0 WHERE id = 1;
