/*
 * sender_policy: pure functions of the sender (see sender_policy.h); docs/internals/SENDER.md
 * gives the rules in context.
 */
#include "sender_policy.h"

bool tsb_sender_holds(enum tsb_dss_class c, bool same_again)
{
    return c == TSB_DSS_DEFINITIVE || (c == TSB_DSS_SUSPECT && same_again);
}
