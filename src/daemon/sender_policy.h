/*
 * sender_policy: the sender's two decisions that depend on nothing but their inputs, kept out of
 * sender.c's state machine so that they can be tested alone: how long to wait before the next
 * attempt, and whether a failed attempt holds its bag for an operator (tsbag retry) instead of
 * being retried. How a TSA answer is classified in the first place is dss.h's
 * tsb_dss_response_class / tsb_dss_http_class.
 */
#ifndef TSB_SENDER_POLICY_H
#define TSB_SENDER_POLICY_H

#include "dss.h"

#include <stdbool.h>
#include <stdint.h>

/* The delay before the next attempt after streak (>= 1) consecutive failures:
 * d = min(max_ms, min_ms * 2^(streak-1)), then "equal jitter" with the uniform draw rnd, a value
 * in [d/2, d], so that appliances recovering from the same outage do not hit the TSA in step. */
int64_t tsb_sender_backoff_ms(int64_t min_ms, int64_t max_ms, int streak, uint32_t rnd);

/* Whether a failed attempt of class c holds its bag: a definitive failure at once, a suspect one
 * when the previous answer for the same bag failed the same way (same_again), a transient one
 * never. */
bool tsb_sender_holds(enum tsb_dss_class c, bool same_again);

#endif
