/*
 * backoff: the retry delay shared by tsbagd's TSA clients (the eHealth sender and the second
 * TSA): exponential from a minimum to a maximum, with "equal jitter" so that many appliances
 * recovering from the same outage do not hit a TSA in step. Pure core.
 */
#ifndef TSB_BACKOFF_H
#define TSB_BACKOFF_H

#include <stdint.h>

/* d = min(max_ms, min_ms * 2^(streak-1)) for streak >= 1 consecutive failures, then a uniform
 * draw in [d/2, d] (from RAND_bytes; the clock if that fails). */
int64_t tsb_backoff_ms(int64_t min_ms, int64_t max_ms, int streak);
/* The same delay with the draw given: rnd (any value) picks the point of [d/2, d]. Pure, for
 * tests. */
int64_t tsb_backoff_jitter_ms(int64_t min_ms, int64_t max_ms, int streak, uint32_t rnd);

#endif
