/* Unit tests for period: reconciliation days in Europe/Brussels from the tz database, including
 * the two daylight-saving change days (23 and 25 hours), the day of an instant on both sides of
 * local midnight, calendar arithmetic, date parsing and unknown zones. Expected values are
 * computed independently with `date` where it helps (GNU date uses the same tz database). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "period.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BXL "Europe/Brussels"
#define H   (3600 * 1000LL)

struct day_case {
    struct tsb_date d;
    int64_t from, to; /* expected inclusive bounds */
    int64_t hours;
};

static void test_days(void **state)
{
    (void)state;
    static const struct day_case cases[] = {
        /* winter: UTC+1, midnight is 23:00Z the day before */
        {{2024, 1, 15}, 1705273200000LL, 1705359599999LL, 24},
        /* summer: UTC+2 */
        {{2024, 5, 2}, 1714600800000LL, 1714687199999LL, 24},
        /* spring forward 2026-03-29: 02:00 -> 03:00, 23 hours */
        {{2026, 3, 29}, 1774738800000LL, 1774821599999LL, 23},
        /* fall back 2026-10-25: 03:00 -> 02:00, 25 hours */
        {{2026, 10, 25}, 1792879200000LL, 1792969199999LL, 25},
        /* year and leap-day boundaries */
        {{2024, 2, 29}, 1709161200000LL, 1709247599999LL, 24},
        {{2025, 12, 31}, 1767135600000LL, 1767221999999LL, 24},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t from = 0, to = 0;
        assert_int_equal(tsb_period_day(BXL, cases[i].d, &from, &to), 0);
        assert_int_equal(from, cases[i].from);
        assert_int_equal(to, cases[i].to);
        assert_int_equal(to + 1 - from, cases[i].hours * H);
    }
}

/* The witness: GNU date with the same zone gives the same local midnight. */
static void test_days_match_date_command(void **state)
{
    (void)state;
    const char *days[] = {"2026-03-29", "2026-03-30", "2026-10-25", "2026-10-26", "2024-07-01"};
    for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
        struct tsb_date d;
        int64_t from = 0, to = 0;
        assert_int_equal(tsb_date_parse(days[i], &d), 0);
        assert_int_equal(tsb_period_day(BXL, d, &from, &to), 0);
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "test \"$(TZ=" BXL " date -d '%s 00:00' +%%s)000\" = %lld",
                 days[i], (long long)from);
        assert_int_equal(tsb_test_sh("%s", cmd), 0);
    }
}

static void test_date_of(void **state)
{
    (void)state;
    struct tsb_date d;
    /* 2026-03-28T23:30Z is already 00:30 on the 29th in Brussels (UTC+1) */
    assert_int_equal(tsb_period_date_of(BXL, 1774740600000LL, &d), 0);
    assert_int_equal(d.year, 2026);
    assert_int_equal(d.month, 3);
    assert_int_equal(d.day, 29);
    /* the last ms of a day and the first of the next */
    int64_t from, to;
    assert_int_equal(tsb_period_day(BXL, (struct tsb_date){2026, 10, 25}, &from, &to), 0);
    assert_int_equal(tsb_period_date_of(BXL, to, &d), 0);
    assert_int_equal(d.day, 25);
    assert_int_equal(tsb_period_date_of(BXL, to + 1, &d), 0);
    assert_int_equal(d.day, 26);
    char text[64];
    assert_int_equal(tsb_period_format_local(BXL, from, text), 0);
    assert_string_equal(text, "2026-10-25T00:00:00.000+02:00");
    assert_int_equal(tsb_period_format_local(BXL, to, text), 0);
    assert_string_equal(text, "2026-10-25T23:59:59.999+01:00");
    /* TZ of the process is left alone (test_timefmt counts the writes) */
    assert_null(getenv("TZ"));
}

static void test_dates(void **state)
{
    (void)state;
    struct tsb_date d;
    char text[16];
    assert_int_equal(tsb_date_parse("2024-02-29", &d), 0);
    d = tsb_date_next(d);
    tsb_date_format(d, text);
    assert_string_equal(text, "2024-03-01");
    assert_int_equal(tsb_date_parse("2025-12-31", &d), 0);
    tsb_date_format(tsb_date_next(d), text);
    assert_string_equal(text, "2026-01-01");
    const char *bad[] = {"2025-02-29", "2025-13-01", "2025-1-01",  "2025-01-01x",
                         "",           "20250101",   "2025-00-10", "2025-04-31"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tsb_date_parse(bad[i], &d), TSB_EINVAL);
}

static void test_unknown_zone(void **state)
{
    (void)state;
    int64_t from, to;
    struct tsb_date d = {2024, 1, 1};
    assert_int_equal(tsb_period_day("Europe/Atlantis", d, &from, &to), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "Europe/Atlantis"));
    assert_int_equal(tsb_period_day("../../etc/passwd", d, &from, &to), TSB_ECONFIG);
    assert_int_equal(tsb_period_day("", d, &from, &to), TSB_ECONFIG);
    assert_int_equal(tsb_period_check_tz("UTC"), 0);
    assert_int_equal(tsb_period_day("UTC", d, &from, &to), 0);
    assert_int_equal(from, 1704067200000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days),         cmocka_unit_test(test_days_match_date_command),
        cmocka_unit_test(test_date_of),      cmocka_unit_test(test_dates),
        cmocka_unit_test(test_unknown_zone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
