-- 0009_tsa2_tokens: the second, independent RFC 3161 timestamp of each bag ([tsa2]). One row per
-- bag at most, written once by tsbagd after the token verified (status granted, nonce, imprint,
-- signature, chain, ESS certificate id, policy) and never changed or removed, like the bags it
-- stamps. The imprint column is the bag's SHA-256 at the time of the stamp; the insert trigger
-- refuses a row whose imprint is not the bag's digest, so no token over other bytes is archived.
-- Bags without a row are the second TSA's backlog (tsbag status). Applied by store.c in one
-- transaction with PRAGMA user_version = 9.

CREATE TABLE tsa2_tokens (
    seq         INTEGER PRIMARY KEY REFERENCES bags (seq),
    url         TEXT    NOT NULL CHECK (length(url) > 0),
    tsa_serial  TEXT    NOT NULL CHECK (length(tsa_serial) > 0),
    gen_time_ms INTEGER NOT NULL,
    policy      TEXT    NOT NULL,
    tsa_subject TEXT    NOT NULL,
    nonce       TEXT    NOT NULL CHECK (length(nonce) > 0),
    stamped_ms  INTEGER NOT NULL,
    imprint     BLOB    NOT NULL CHECK (typeof(imprint) = 'blob' AND length(imprint) = 32),
    token       BLOB    NOT NULL CHECK (typeof(token) = 'blob' AND length(token) > 0)
);

CREATE TRIGGER tsa2_tokens_insert_imprint BEFORE INSERT ON tsa2_tokens
WHEN NEW.imprint IS NOT (SELECT digest FROM bags WHERE seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'a second token must stamp the digest of an archived bag');
END;

CREATE TRIGGER tsa2_tokens_no_update BEFORE UPDATE ON tsa2_tokens
BEGIN
    SELECT RAISE(ABORT, 'second tokens are append-only');
END;

CREATE TRIGGER tsa2_tokens_no_delete BEFORE DELETE ON tsa2_tokens
BEGIN
    SELECT RAISE(ABORT, 'second tokens are never deleted (retention is an explicit operator action)');
END;
