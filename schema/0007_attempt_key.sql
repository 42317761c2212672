-- 0007_attempt_key: the sender's failure key per failed attempt, so that "the same failure twice"
-- survives a restart. The key names what failed without the values that vary from one answer to
-- the next ("token:messageImprint:imprint:sha256:base64-text", "dss:fault wsse:InvalidSecurity",
-- "fetch:network" ...); NULL for a stamp and for rows written before this migration. When tsbagd
-- starts with a bag still sent, the key of that bag's last retried answer is the previous
-- failure, as if it had never stopped. Applied by store.c in one transaction with
-- PRAGMA user_version = 7.

ALTER TABLE bag_attempts ADD COLUMN failure_key TEXT;
