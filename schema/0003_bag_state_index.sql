-- 0003_bag_state_index: bags by state. A bag row is large (its bytes, token and SignResponse
-- push most rows to a page of their own), so status queries that scanned the bags table cost a
-- page per bag ever sealed. This covering index answers the per-state counts and the latest
-- stamp time (tsb_store_stats) from a few small pages.
-- Applied by store.c in one transaction with PRAGMA user_version = 3.

CREATE INDEX bags_state ON bags (state, stamped_ms);
