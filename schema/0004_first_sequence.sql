-- 0004_first_sequence: the first bag of an archive may start above 1 (sealer.first_sequence: a
-- hospital moving from another client under the same IDHospital continues its SequenceNumbers).
-- Once a bag exists, every sealed bag is still the last SequenceNumber + 1.
-- Applied by store.c in one transaction with PRAGMA user_version = 4.

DROP TRIGGER bags_insert_gap_free;

CREATE TRIGGER bags_insert_gap_free BEFORE INSERT ON bags
WHEN NEW.state IS NOT 'recovered'
     AND EXISTS (SELECT 1 FROM bags)
     AND NEW.seq IS NOT (SELECT max(seq) + 1 FROM bags)
BEGIN
    SELECT RAISE(ABORT, 'bags.seq must be the last SequenceNumber + 1 (gap-free)');
END;
