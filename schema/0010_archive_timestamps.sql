-- 0010_archive_timestamps: RFC 4998 archive timestamps over the stamped bags (tsbag renew). Each
-- ers_trees row is one hash tree and the RFC 3161 token over its root; each ers_links row puts one
-- bag in one tree as one ArchiveTimeStamp of its EvidenceRecord: chain (1-based: 1 is the first
-- hash algorithm, each rehash starts the next) and position in that chain (1-based: 1 is the
-- initial or rehash timestamp, 2.. the timestamp renewals), with the bag's reduced hash tree.
-- Written by tsbag renew in one transaction per tree, after the token verified; never changed or
-- removed. The primary key (seq, chain, position) is what makes a bag never stamped twice in the
-- same role, and the insert triggers keep every bag's chains and positions gap-free. Applied by
-- store.c in one transaction with PRAGMA user_version = 10.

CREATE TABLE ers_trees (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('initial', 'renewal', 'rehash')),
    alg          TEXT    NOT NULL CHECK (alg IN ('sha256', 'sha384', 'sha512')),
    leaves       INTEGER NOT NULL CHECK (leaves >= 1),
    url          TEXT    NOT NULL CHECK (length(url) > 0),
    tsa_serial   TEXT    NOT NULL CHECK (length(tsa_serial) > 0),
    tsa_subject  TEXT    NOT NULL,
    gen_time_ms  INTEGER NOT NULL,
    not_after_ms INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    root         BLOB    NOT NULL CHECK (typeof(root) = 'blob' AND length(root) IN (32, 48, 64)),
    token        BLOB    NOT NULL CHECK (typeof(token) = 'blob' AND length(token) > 0)
);

CREATE TABLE ers_links (
    seq      INTEGER NOT NULL REFERENCES bags (seq),
    chain    INTEGER NOT NULL CHECK (chain >= 1),
    position INTEGER NOT NULL CHECK (position >= 1),
    tree_id  INTEGER NOT NULL REFERENCES ers_trees (id),
    members  TEXT    NOT NULL CHECK (members IN ('bag,token', 'bag,token,tsa2')),
    path     BLOB    NOT NULL CHECK (typeof(path) = 'blob' AND length(path) >= 2),
    PRIMARY KEY (seq, chain, position)
) WITHOUT ROWID;

-- the links of one tree (the archive check, tsbag status)
CREATE INDEX ers_links_tree ON ers_links (tree_id);

-- position 1 of chain 1 is an initial tree, position 1 of a later chain a rehash tree, any later
-- position a renewal tree; each follows the position (or chain) before it; a bag's group of data
-- objects is the same in all its chains.
CREATE TRIGGER ers_links_insert_order BEFORE INSERT ON ers_links
WHEN (SELECT kind FROM ers_trees WHERE id = NEW.tree_id) IS NOT
         (CASE WHEN NEW.position > 1 THEN 'renewal' WHEN NEW.chain = 1 THEN 'initial'
               ELSE 'rehash' END)
  OR (NEW.position > 1 AND NOT EXISTS (SELECT 1 FROM ers_links WHERE seq = NEW.seq
                                       AND chain = NEW.chain AND position = NEW.position - 1))
  OR (NEW.position = 1 AND NEW.chain > 1 AND NOT EXISTS
        (SELECT 1 FROM ers_links WHERE seq = NEW.seq AND chain = NEW.chain - 1))
  OR EXISTS (SELECT 1 FROM ers_links WHERE seq = NEW.seq AND members <> NEW.members)
  OR (SELECT state FROM bags WHERE seq = NEW.seq) NOT IN ('stamped', 'recovered')
BEGIN
    SELECT RAISE(ABORT, 'an archive timestamp link out of order (kind, chain, position, group or bag state)');
END;

CREATE TRIGGER ers_trees_no_update BEFORE UPDATE ON ers_trees
BEGIN
    SELECT RAISE(ABORT, 'archive timestamp trees are append-only');
END;

CREATE TRIGGER ers_trees_no_delete BEFORE DELETE ON ers_trees
BEGIN
    SELECT RAISE(ABORT, 'archive timestamp trees are never deleted');
END;

CREATE TRIGGER ers_links_no_update BEFORE UPDATE ON ers_links
BEGIN
    SELECT RAISE(ABORT, 'archive timestamp links are append-only');
END;

CREATE TRIGGER ers_links_no_delete BEFORE DELETE ON ers_links
BEGIN
    SELECT RAISE(ABORT, 'archive timestamp links are never deleted');
END;
