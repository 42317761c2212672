/*
 * backoff: see backoff.h. The doubling stops at the maximum, so a long outage never overflows.
 */
#include "backoff.h"

#include <openssl/rand.h>
#include <time.h>

int64_t tsb_backoff_jitter_ms(int64_t min_ms, int64_t max_ms, int streak, uint32_t rnd)
{
    int64_t d = min_ms;
    for (int i = 1; i < streak && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    return d / 2 + (int64_t)(rnd % (uint64_t)(d / 2 + 1));
}

int64_t tsb_backoff_ms(int64_t min_ms, int64_t max_ms, int streak)
{
    uint32_t rnd = 0;
    if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
        rnd = (uint32_t)time(NULL);
    return tsb_backoff_jitter_ms(min_ms, max_ms, streak, rnd);
}
