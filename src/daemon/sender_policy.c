/*
 * sender_policy: pure functions of the sender (see sender_policy.h); docs/internals/SENDER.md
 * gives the rules in context.
 */
#include "sender_policy.h"

int64_t tsb_sender_backoff_ms(int64_t min_ms, int64_t max_ms, int streak, uint32_t rnd)
{
    int64_t d = min_ms;
    for (int i = 1; i < streak && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    return d / 2 + (int64_t)(rnd % (uint64_t)(d / 2 + 1));
}

bool tsb_sender_holds(enum tsb_dss_class c, bool same_again)
{
    return c == TSB_DSS_DEFINITIVE || (c == TSB_DSS_SUSPECT && same_again);
}
