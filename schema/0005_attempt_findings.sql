-- 0005_attempt_findings: what the TSA did differently from tsbag's assumptions, per attempt. The
-- sender names it when an answer breaks one (a messageImprint over something other than the bag
-- bytes, a token without certificates, a RequestID not echoed ...): a stable key such as
-- "imprint:sha256:base64-text" or "request-id:absent", NULL when nothing was unusual. The sentence
-- for people stays in reason. Applied by store.c in one transaction with PRAGMA user_version = 5.

ALTER TABLE bag_attempts ADD COLUMN finding TEXT;
