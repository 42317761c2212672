/*
 * clock: CLOCK_REALTIME in milliseconds, and interval boundaries aligned on the epoch (so that
 * every tsbagd seals at the same instants whatever its start time).
 */
#include "clock.h"

#include <time.h>

int64_t tsb_now_ms(void)
{
    /* cannot fail: CLOCK_REALTIME always exists and ts is valid (and log.c calls this, so a
     * failure could not even be reported) */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tsb_next_boundary_ms(int64_t now_ms, int64_t interval_ms)
{
    int64_t q = now_ms / interval_ms;
    if (now_ms % interval_ms != 0 && now_ms < 0)
        q--; /* floor, so that a negative now still gets the boundary after it */
    return (q + 1) * interval_ms;
}
