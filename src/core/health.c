/*
 * health: /healthz rules. Each rule appends its reason; the worst level wins. A reason never
 * carries entry content or client references: only ages, counts, dates and option names.
 */
#include "health.h"

#include "timefmt.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct verdict {
    enum tsb_health level;
    char *reason;
    size_t n, len;
};

__attribute__((format(printf, 3, 4))) static void add(struct verdict *v, enum tsb_health level,
                                                      const char *fmt, ...)
{
    /* reasons of the winning level only: "degraded: x" must not list what made it failing */
    if (level < v->level)
        return;
    if (level > v->level) {
        v->level = level;
        v->len = 0;
        v->reason[0] = '\0';
    }
    if (v->len > 0 && v->len + 2 < v->n) {
        memcpy(v->reason + v->len, "; ", 3);
        v->len += 2;
    }
    if (v->len + 1 >= v->n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(v->reason + v->len, v->n - v->len, fmt, ap);
    va_end(ap);
    if (k > 0)
        v->len = (size_t)k >= v->n - v->len ? v->n - 1 : v->len + (size_t)k;
}

enum tsb_health tsb_health_decide(const struct tsb_health_in *in, char *reason, size_t n)
{
    char buf[1024] = "";
    struct verdict v = {.level = TSB_HEALTH_OK, .reason = buf, .n = sizeof(buf)};
    if (in->archive_failed)
        add(&v, TSB_HEALTH_FAILING, "the archive can no longer be written; tsbagd is stopping");
    if (in->stats_failed)
        add(&v, TSB_HEALTH_FAILING, "the archive statistics cannot be read");
    if (!in->have_stats && !in->stats_failed)
        add(&v, TSB_HEALTH_DEGRADED, "starting: the archive statistics are not read yet");
    if (in->held_bags > 0)
        add(&v, TSB_HEALTH_FAILING,
            "%" PRId64 " bag(s) held after a definitive failure (tsbag status; tsbag retry)",
            in->held_bags);
    int64_t age = in->now_ms - in->oldest_unstamped_ms;
    if (in->sealer_enabled && in->oldest_unstamped_ms != 0 && age > in->unstamped_alarm_s * 1000)
        add(&v, TSB_HEALTH_FAILING,
            "the oldest unstamped entry is %" PRId64 " s old (sealer.unstamped_alarm_s %" PRId64
            " s)",
            age / 1000, in->unstamped_alarm_s);
    int64_t missing = in->now_ms - in->tsa2_oldest_missing_ms;
    if (in->tsa2_alarm_s > 0 && in->tsa2_oldest_missing_ms != 0 &&
        missing > in->tsa2_alarm_s * 1000)
        add(&v, TSB_HEALTH_DEGRADED,
            "%" PRId64 " bag(s) without a second token, the oldest sealed %" PRId64
            " s ago (tsa2.alarm_s %" PRId64 " s)",
            in->tsa2_missing_bags, missing / 1000, in->tsa2_alarm_s);
    if (in->keystore_not_after_ms != 0) {
        int64_t left = in->keystore_not_after_ms - in->now_ms;
        char when[TSB_TIME_STR_MAX];
        tsb_time_utc(in->keystore_not_after_ms, when);
        if (left <= 0)
            add(&v, TSB_HEALTH_FAILING, "the keystore certificate expired on %s", when);
        else if (left < (int64_t)TSB_HEALTH_EXPIRY_WARN_DAYS * 86400 * 1000)
            add(&v, TSB_HEALTH_DEGRADED,
                "the keystore certificate expires in %" PRId64 " day(s), on %s (renew it)",
                left / 86400000, when);
    }
    snprintf(reason, n, "%s", buf);
    return v.level;
}

const char *tsb_health_name(enum tsb_health h)
{
    switch (h) {
    case TSB_HEALTH_OK:
        return "ok";
    case TSB_HEALTH_DEGRADED:
        return "degraded";
    case TSB_HEALTH_FAILING:
        return "failing";
    }
    return "unknown";
}
