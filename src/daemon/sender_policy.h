/*
 * sender_policy: the sender's decision that depends on nothing but its inputs, kept out of
 * sender.c's state machine so that it can be tested alone: whether a failed attempt holds its
 * bag for an operator (tsbag retry) instead of being retried. How long to wait before the next
 * attempt is backoff.h's (shared with the second TSA); how a TSA answer is classified in the
 * first place is dss.h's tsb_dss_response_class / tsb_dss_http_class.
 */
#ifndef TSB_SENDER_POLICY_H
#define TSB_SENDER_POLICY_H

#include "dss.h"

#include <stdbool.h>
#include <stdint.h>

/* Whether a failed attempt of class c holds its bag: a definitive failure at once, a suspect one
 * when the previous answer for the same bag failed the same way (same_again), a transient one
 * never. */
bool tsb_sender_holds(enum tsb_dss_class c, bool same_again);

#endif
