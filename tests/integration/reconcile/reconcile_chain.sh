#!/usr/bin/env bash
# The bag chain (sealer.chain) end to end with the simulator: 8 chained bags stamped by its
# TimeStampAuthority. tsbag verify reports each entry's link; tsbag export --bags 3..7 writes a
# package whose README checks the links with sha256sum and grep (run exactly as written, and
# failing at the right step when a bag of the range is replaced). A bag deleted behind the archive's triggers (4) and a bag whose bytes were
# replaced (6) are each found by the archive check at their SequenceNumber through the chain
# (finding "chain"), and tsbag verify names the broken link of the next bag; tsbag reconcile brings bag 4 back from eHealth and it fits the chain (the
# chain finding at 4 is gone, the one at 6 stays). A bag eHealth returns that does not fit the
# local chain (bag 3, after bag 2's bytes were replaced) is a conflict, not imported.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../../lib/readme.sh"

start_sim
T0=$(now_ms)
TSB_SEED_CHAIN=1 seed 8 3
T1=$(now_ms)

# the genesis has no link; every later bag starts with the SHA-256 of the one before it
sql "SELECT writefile('$T/bag-' || seq || '.xml', $(bag_bytes_sql bags.seq)) FROM bags" >/dev/null
grep -q '<Ref>0</Ref>' "$T/bag-1.xml" && fail "the genesis bag carries a link"
for n in 2 3 4 5 6 7 8; do
    prev=$(sha256sum "$T/bag-$((n - 1)).xml" | cut -d' ' -f1)
    grep -q "SequenceNumber=\"$n\"><JournalEntry><Hash>$prev</Hash><Ref>0</Ref></JournalEntry>" \
        "$T/bag-$n.xml" || fail "bag $n does not start with the link to bag $((n - 1))"
done
xmllint --noout --schema "$TSB_SOURCE_DIR/../shared/reference/xsd/tsbag-root.xsd" \
    "$T"/bag-*.xml 2>"$T/xmllint.txt" || { cat "$T/xmllint.txt" >&2; fail "a chained bag is not schema-valid"; }
[ "$(sql 'SELECT entry_count FROM bags WHERE seq = 5')" = 3 ] || fail "the link counted as an entry"

reconcile --local-only --json
[ "$RC" = 0 ] || fail "fresh chained archive: exit $RC"
[ "$(jqr .local_check.chain_links)" = 7 ] || fail "$(jqr .local_check.chain_links) links verified, not 7"
[ "$(jqr .local_check.chain_genesis)" = 1 ] || fail "not one genesis"

# tsbag verify reports the link of the entry's bag
"$TSBAG" -c "$T/tsbag.ini" verify --ref 1 --ref 19 >"$T/out.txt" 2>"$T/err.txt" || fail "verify: exit $?"
grep -q "bag chain        genesis: the first bag, without a link" "$T/out.txt" || fail "bag 1 is not reported as the genesis"
grep -q "bag chain        linked: its first JournalEntry (Ref 0) is the SHA-256 of bag 6's bytes, $(sha256sum "$T/bag-6.xml" | cut -d' ' -f1)" \
    "$T/out.txt" || fail "bag 7's link is not reported"

# the link is no prescription: a lookup by its hash finds nothing, and no journal row has Ref 0
RC=0
"$TSBAG" -c "$T/tsbag.ini" verify --hash "$(sha256sum "$T/bag-6.xml" | cut -d' ' -f1)" >"$T/out.txt" 2>"$T/err.txt" || RC=$?
[ "$RC" = 3 ] || fail "verify --hash of a link: exit $RC, expected 3 (NOT FOUND)"
[ "$(sql 'SELECT count(*) FROM entries WHERE ref = 0')" = 0 ] || fail "a journal row has Ref 0"

# an evidence package with the bags 3..7: the README's chain steps, run exactly as written
printf '%s' '1|71000436|rx-6-0|NEW|1' >"$T/doc.txt"
"$TSBAG" -c "$T/tsbag.ini" export --out "$T/pkg" --bags 3..7 "$T/doc.txt" >"$T/out.txt" 2>"$T/err.txt" ||
    fail "export --bags: exit $?"
grep -q "with the chain of bags 3 to 7" "$T/out.txt" || fail "export does not name the chain range"
for n in 3 4 5 6 7; do cmp -s "$T/pkg/bag-$n.xml" "$T/bag-$n.xml" || fail "bag-$n.xml is not bag $n's bytes"; done
[ "$(grep -c 'Ref>0</Ref></JournalEntry>" bag-' "$T/pkg/README.txt")" = 4 ] || fail "the README lacks the 4 link steps"
readme_run "$T/pkg" "$T/doc.txt"
if grep -v '^0 ' "$T/readme.status" >&2; then cat "$T/readme.out" >&2; fail "a README command failed"; fi
[ "$(grep -c -x 1 "$T/readme.out")" -ge 5 ] || fail "the link greps did not each print 1"
"$TSBAG" -c "$T/tsbag.ini" verify --package "$T/pkg" >"$T/out.txt" 2>"$T/err.txt" || fail "verify --package: exit $?"
grep -q "bag chain 3..7: 4 links verified" "$T/out.txt" || fail "verify --package does not check the range"
grep -q "bag chain        linked: its first JournalEntry (Ref 0) is the SHA-256 of bag 6's bytes" \
    "$T/out.txt" || fail "verify --package does not link the entry's bag to bag 6 of the range"
# a bag of the range replaced: its successor's link step fails, and only that one
cp -r "$T/pkg" "$T/pkg-bad"
sed -i 's/<Ref>13</<Ref>99</' "$T/pkg-bad/bag-5.xml"
readme_run "$T/pkg-bad" "$T/doc.txt"
readme_fails 'Ref>0</Ref></JournalEntry>" bag-6.xml'
RC=0
"$TSBAG" -c "$T/tsbag.ini" verify --package "$T/pkg-bad" >"$T/out.txt" 2>"$T/err.txt" || RC=$?
[ "$RC" = 1 ] || fail "verify --package of a broken range: exit $RC, expected 1"
grep -q "bag chain 3..7: BROKEN: chain broken at SequenceNumber 5: bag 6 is chained to a bag 5" \
    "$T/out.txt" || fail "verify --package does not name where the range breaks"

# the damage: bag 4 deleted, one JournalEntry hash of bag 6 replaced
lose_bags "seq = 4"
old=$(printf '%s' '1|71000436|rx-5-1|NEW|1' | sha256sum | cut -d' ' -f1)
new=$(printf '%s' 'forged' | sha256sum | cut -d' ' -f1)
grep -q "$old" "$T/bag-6.xml" || fail "bag 6 does not list the entry to replace"
replace_in_bag 6 "$old" "$new"

"$TSBAG" -c "$T/tsbag.ini" verify --ref 13 >"$T/out.txt" 2>"$T/err.txt"
grep -q "bag chain        BROKEN: chain broken at SequenceNumber 4: bag 5 is chained to a bag 4 .* which is not in the archive" \
    "$T/out.txt" || fail "verify does not report bag 5's broken link"

reconcile --local-only --json
[ "$RC" = 1 ] || fail "damaged chain: exit $RC, expected 1"
jq -e '.violations[] | select(.kind == "chain" and .seq == 4 and
       (.message | test("chain broken at SequenceNumber 4: bag 5 is chained to a bag 4 .* not in the archive")))' \
    "$T/out.txt" >/dev/null || fail "the deleted bag 4 is not found through the chain"
jq -e '.violations[] | select(.kind == "chain" and .seq == 6 and
       (.message | test("chain broken at SequenceNumber 6: bag 7 is chained to a bag 6 .*bag 6 was replaced")))' \
    "$T/out.txt" >/dev/null || fail "the replaced bag 6 is not found through the chain"
[ "$(jq '[.violations[] | select(.kind == "chain")] | length' "$T/out.txt")" = 2 ] ||
    fail "other chain findings than at 4 and 6"

# recovery: eHealth's copy of bag 4 fits between bags 3 and 5
reconcile --from "$T0" --to "$T1" --json
[ "$(jqr '[.recovered[].seq] | join(",")')" = 4 ] || fail "bag 4 was not recovered: $(jqr .recovered)"
jq -e '.violations[] | select(.kind == "chain" and .seq == 6)' "$T/out.txt" >/dev/null ||
    fail "the replaced bag 6 is no longer reported after the recovery"
jq -e '.violations[] | select(.kind == "chain" and .seq == 4)' "$T/out.txt" >/dev/null &&
    fail "the chain is still broken at 4 after the recovery"
[ "$(jqr .local_check.chain_links)" = 6 ] || fail "$(jqr .local_check.chain_links) links, not 6"
[ "$(sql "SELECT count(*) FROM entries e JOIN bags b ON b.seq = 4 AND e.ref BETWEEN b.first_ref AND b.last_ref")" = 3 ] ||
    fail "bag 4 does not hold its 3 journal rows (and no row for its link) after the recovery"
[ "$(sql 'SELECT entry_count FROM bags WHERE seq = 4')" = 3 ] || fail "the recovered bag 4 counts its link"

# a recovered bag must fit: bag 2's bytes replaced, bag 3 lost; eHealth's bag 3 is chained to the
# original bag 2, so it is a conflict and stays out of the archive
b2old=$(printf '%s' '1|71000436|rx-1-0|NEW|1' | sha256sum | cut -d' ' -f1)
replace_in_bag 2 "$b2old" "$new"
lose_bags "seq = 3"
reconcile --from "$T0" --to "$T1" --json
jq -e '.conflicts[] | select(.seq == 3 and (.detail | test("bag 3 from eHealth does not fit the archive.s chain: chain broken at SequenceNumber 2")))' \
    "$T/out.txt" >/dev/null || fail "the misfit bag 3 is not a conflict: $(jqr .conflicts)"
[ "$(sql 'SELECT count(*) FROM bags WHERE seq = 3')" = 0 ] || fail "the misfit bag 3 was imported"
[ "$(sql "SELECT count(*) FROM bag_conflicts WHERE seq = 3 AND kind = 'bag'")" -ge 1 ] ||
    fail "no bag_conflicts row for bag 3"
stop_sim
pass
