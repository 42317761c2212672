#!/usr/bin/env bash
# sender_outage: the TSA is unreachable for several seal intervals (2 s here) while entries keep
# arriving: every push is still acknowledged, bags keep being sealed on the interval boundaries
# with consecutive SequenceNumbers, the first one is retried with backoff and stays pending; when
# the TSA is back every bag is stamped, in SequenceNumber order, nothing lost, no gap.
. "$(dirname "$0")/lib.sh"

start_sim
stop_sim # keeps $PORT: the TSA is down from the start
start_daemon -s sealer.interval_s=2 -s tsa.retry_max_ms=1000 -s tsa.connect_timeout_ms=1000

for round in 1 2 3 4; do
    push 4 "r$round"
    # each round is sealed at an interval boundary before the next one is pushed
    wait_for "SELECT count(*) FROM entries e WHERE NOT EXISTS
              (SELECT 1 FROM bags b WHERE e.ref BETWEEN b.first_ref AND b.last_ref)" 0
done
[ "$(sql "SELECT count(*) FROM entries")" = 16 ] || fail "not every push was acknowledged"
bags=$(sql "SELECT count(*) FROM bags")
[ "$bags" -ge 3 ] || fail "only $bags bags sealed during the outage"
[ "$(sql "SELECT count(*) FROM bags WHERE state = 'stamped'")" = 0 ] || fail "stamped without a TSA"
[ "$(sql "SELECT attempts >= 2 FROM bags WHERE seq = 1")" = 1 ] || fail "bag 1 not retried"
[ "$(sql "SELECT count(*) FROM bags WHERE seq > 1 AND attempts > 0")" = 0 ] ||
    fail "a later bag was sent before bag 1 was stamped"
grep -q "bag 1 attempt .* failed (transient)" "$T/d.log" || fail "no transient failure logged"

start_sim
seal # whatever arrived after the last boundary
wait_for "SELECT count(*) FROM bags WHERE state <> 'stamped'" 0 60
gap_free
# stamped in SequenceNumber order: stamp times and genTimes never decrease with seq
[ "$(sql "SELECT count(*) FROM bags a JOIN bags b ON b.seq = a.seq + 1 WHERE b.stamped_ms < a.stamped_ms OR b.gen_time_ms < a.gen_time_ms")" = 0 ] ||
    fail "bags stamped out of order"
[ "$(sql "SELECT count(*) FROM entries")" = 16 ] || fail "entries lost"
verify_stamped
stop_daemon
pass
