/*
 * health: the decision behind tsbagd's /healthz, kept pure so that every rule has a unit test.
 * Failing (HTTP 503) beats degraded (200) beats ok (200); the reason names each rule that fired,
 * with the option or command that concerns it. metrics.c fills the input from its snapshot.
 */
#ifndef TSB_HEALTH_H
#define TSB_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tsb_health { TSB_HEALTH_OK, TSB_HEALTH_DEGRADED, TSB_HEALTH_FAILING };

#define TSB_HEALTH_EXPIRY_WARN_DAYS 30 /* keystore certificate: degraded from this many days */

struct tsb_health_in {
    int64_t now_ms;
    bool have_stats;                /* the archive statistics were read at least once */
    bool stats_failed;              /* the latest read of them failed */
    bool archive_failed;            /* the writer lost durability (tsbagd is stopping) */
    int64_t oldest_unstamped_ms;    /* received_ms of the oldest entry without a stamp, 0: none */
    int64_t unstamped_alarm_s;      /* sealer.unstamped_alarm_s */
    bool sealer_enabled;            /* off: entries stay staged by design, no age rule */
    int64_t held_bags;              /* bags in state failed (the sender holds them) */
    int64_t keystore_not_after_ms;  /* 0: no keystore loaded */
    int64_t tsa2_alarm_s;           /* tsa2.alarm_s; 0: no second TSA configured */
    int64_t tsa2_oldest_missing_ms; /* sealed_ms of the oldest bag without a second token, 0 */
    int64_t tsa2_missing_bags;
};

/* The state, with why (every rule that fired, "; "-separated) in reason ("" when ok). */
enum tsb_health tsb_health_decide(const struct tsb_health_in *in, char *reason, size_t n);
/* "ok", "degraded" or "failing". */
const char *tsb_health_name(enum tsb_health h);

#endif
