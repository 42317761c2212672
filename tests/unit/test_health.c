/* Unit tests for health: a table of /healthz inputs (nothing wrong, an unstamped entry just under
 * and just over sealer.unstamped_alarm_s, the age rule off without a sealer, a held bag, a failed
 * archive, unreadable statistics, statistics not read yet, a keystore certificate 31 / 29 days
 * from expiry and expired) with the level and the words of the reason; the worst level wins and
 * names only its own rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "health.h"

#include <string.h>

#define NOW  1796157554000LL
#define DAYS (86400LL * 1000)

static struct tsb_health_in base(void)
{
    return (struct tsb_health_in){.now_ms = NOW,
                                  .have_stats = true,
                                  .unstamped_alarm_s = 900,
                                  .sealer_enabled = true,
                                  .keystore_not_after_ms = NOW + 365 * DAYS};
}

static void test_table(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int what;
        enum tsb_health want;
        const char *reason; /* substring; "" for ok */
        const char *absent; /* must not appear, or NULL */
    } table[] = {
        {"all well", 0, TSB_HEALTH_OK, "", NULL},
        {"unstamped under the alarm", 1, TSB_HEALTH_OK, "", NULL},
        {"unstamped over the alarm", 2, TSB_HEALTH_FAILING,
         "the oldest unstamped entry is 901 s old (sealer.unstamped_alarm_s 900 s)", NULL},
        {"no sealer: no age rule", 3, TSB_HEALTH_OK, "", NULL},
        {"held bag", 4, TSB_HEALTH_FAILING, "1 bag(s) held after a definitive failure", NULL},
        {"archive failed", 5, TSB_HEALTH_FAILING, "the archive can no longer be written", NULL},
        {"statistics unreadable", 6, TSB_HEALTH_FAILING, "the archive statistics cannot be read",
         NULL},
        {"statistics not read yet", 7, TSB_HEALTH_DEGRADED, "starting", NULL},
        {"keystore 31 days", 8, TSB_HEALTH_OK, "", NULL},
        {"keystore 29 days", 9, TSB_HEALTH_DEGRADED,
         "the keystore certificate expires in 29 day(s), on 2026-12-30T", NULL},
        {"keystore expired", 10, TSB_HEALTH_FAILING, "the keystore certificate expired on", NULL},
        {"failing beats degraded", 11, TSB_HEALTH_FAILING, "1 bag(s) held", "expires in"},
        {"two failures", 12, TSB_HEALTH_FAILING, "written; tsbagd is stopping; 2 bag(s) held",
         NULL},
        {"second TSA under its alarm", 13, TSB_HEALTH_OK, "", NULL},
        {"second TSA over its alarm", 14, TSB_HEALTH_DEGRADED,
         "3 bag(s) without a second token, the oldest sealed 61 s ago (tsa2.alarm_s 60 s)", NULL},
        {"no second TSA: no backlog rule", 15, TSB_HEALTH_OK, "", NULL},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        struct tsb_health_in in = base();
        switch (table[i].what) {
        case 1:
            in.oldest_unstamped_ms = NOW - 899 * 1000;
            break;
        case 2:
            in.oldest_unstamped_ms = NOW - 901 * 1000;
            break;
        case 3:
            in.oldest_unstamped_ms = NOW - 5 * DAYS;
            in.sealer_enabled = false;
            in.keystore_not_after_ms = 0;
            break;
        case 4:
            in.held_bags = 1;
            break;
        case 5:
            in.archive_failed = true;
            break;
        case 6:
            in.stats_failed = true;
            break;
        case 7:
            in.have_stats = false;
            break;
        case 8:
            in.keystore_not_after_ms = NOW + 31 * DAYS;
            break;
        case 9:
            in.keystore_not_after_ms = NOW + 29 * DAYS + 1000;
            break;
        case 10:
            in.keystore_not_after_ms = NOW - 1000;
            break;
        case 11:
            in.keystore_not_after_ms = NOW + 2 * DAYS;
            in.held_bags = 1;
            break;
        case 12:
            in.archive_failed = true;
            in.held_bags = 2;
            break;
        case 13:
            in.tsa2_alarm_s = 60;
            in.tsa2_missing_bags = 3;
            in.tsa2_oldest_missing_ms = NOW - 59 * 1000;
            break;
        case 14:
            in.tsa2_alarm_s = 60;
            in.tsa2_missing_bags = 3;
            in.tsa2_oldest_missing_ms = NOW - 61 * 1000;
            break;
        case 15:
            in.tsa2_missing_bags = 3;
            in.tsa2_oldest_missing_ms = NOW - 5 * DAYS;
            break;
        }
        char why[512];
        enum tsb_health got = tsb_health_decide(&in, why, sizeof(why));
        if (got != table[i].want || strstr(why, table[i].reason) == NULL ||
            (table[i].want == TSB_HEALTH_OK && why[0] != '\0') ||
            (table[i].absent && strstr(why, table[i].absent) != NULL))
            fail_msg("%s: got %s '%s', want %s with '%s'", table[i].name, tsb_health_name(got), why,
                     tsb_health_name(table[i].want), table[i].reason);
    }
}

static void test_small_reason_buffer(void **state)
{
    (void)state;
    struct tsb_health_in in = base();
    in.held_bags = 3;
    char why[8];
    assert_int_equal(tsb_health_decide(&in, why, sizeof(why)), TSB_HEALTH_FAILING);
    assert_string_equal(why, "3 bag(s"); /* truncated, terminated */
    assert_string_equal(tsb_health_name(TSB_HEALTH_DEGRADED), "degraded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_small_reason_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
