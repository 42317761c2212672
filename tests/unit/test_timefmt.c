/* Unit tests for timefmt: UTC formatting (including before 1970), Europe/Brussels from the tz
 * database across both daylight saving switches, TZ never rewritten by a call, unknown zones
 * refused, and the --from/--to parser (dates as whole local days, offsets, ms) with its refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "period.h"
#include "timefmt.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BXL "Europe/Brussels"

static void test_utc(void **state)
{
    char b[TSB_TIME_STR_MAX];
    tsb_time_utc(0, b);
    assert_string_equal(b, "1970-01-01T00:00:00.000Z");
    tsb_time_utc(-1, b);
    assert_string_equal(b, "1969-12-31T23:59:59.999Z");
    tsb_time_utc(1772355600123LL, b);
    assert_string_equal(b, "2026-03-01T09:00:00.123Z");
}

static const struct {
    int64_t ms;
    const char *want;
} zone_kat[] = {
    {1768471200000LL, "2026-01-15 11:00:00.000 CET (UTC+01:00)"},  /* 2026-01-15T10:00Z */
    {1782900000000LL, "2026-07-01 12:00:00.000 CEST (UTC+02:00)"}, /* 2026-07-01T10:00Z */
    /* spring forward: 2026-03-29 01:00 UTC, 02:00 local does not exist */
    {1774745999999LL, "2026-03-29 01:59:59.999 CET (UTC+01:00)"},
    {1774746000000LL, "2026-03-29 03:00:00.000 CEST (UTC+02:00)"},
    /* fall back: 2026-10-25 01:00 UTC, 02:00-03:00 local happens twice */
    {1792889999000LL, "2026-10-25 02:59:59.000 CEST (UTC+02:00)"},
    {1792890000000LL, "2026-10-25 02:00:00.000 CET (UTC+01:00)"},
};

static void test_brussels_from_tzdata(void **state)
{
    char b[TSB_TIME_STR_MAX];
    setenv("TZ", "Asia/Tokyo", 1); /* the zone of the process plays no part */
    for (size_t i = 0; i < sizeof(zone_kat) / sizeof(zone_kat[0]); i++) {
        assert_int_equal(tsb_time_zone(zone_kat[i].ms, BXL, b), 0);
        assert_string_equal(b, zone_kat[i].want);
        assert_string_equal(getenv("TZ"), "Asia/Tokyo");
    }
    unsetenv("TZ");
    assert_int_equal(tsb_time_zone(0, BXL, b), 0);
    assert_null(getenv("TZ"));
    assert_int_equal(tsb_time_zone(0, "UTC", b), 0);
    assert_string_equal(b, "1970-01-01 00:00:00.000 UTC (UTC+00:00)");
}

/* setenv and unsetenv of this executable shadow the C library's for tsbag's code (linked
 * statically), so every write of TZ is seen; the test's own calls go through with_env. */
static int tz_writes;
static bool test_writes;

int setenv(const char *name, const char *value, int overwrite)
{
    if (strcmp(name, "TZ") == 0 && !test_writes)
        tz_writes++;
    int (*real)(const char *, const char *, int) =
        (int (*)(const char *, const char *, int))dlsym(RTLD_NEXT, "setenv");
    return real(name, value, overwrite);
}

int unsetenv(const char *name)
{
    if (strcmp(name, "TZ") == 0 && !test_writes)
        tz_writes++;
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unsetenv");
    return real(name);
}

/* No conversion writes TZ, not even to set and restore it: in tsbagd other threads read the
 * environment meanwhile (getenv, localtime), and glibc documents setenv as unsafe against that. */
static void test_tz_never_written(void **state)
{
    (void)state;
    char b[TSB_TIME_STR_MAX];
    int64_t ms, from, to;
    struct tsb_date d;
    test_writes = true;
    setenv("TZ", "Asia/Tokyo", 1);
    test_writes = false;
    tz_writes = 0;
    assert_int_equal(tsb_time_zone(1792890000000LL, BXL, b), 0);
    assert_int_equal(tsb_time_parse("2026-07-01T12:00", BXL, false, &ms), 0);
    assert_int_equal(tsb_time_parse("2026-03-29", BXL, true, &ms), 0);
    assert_int_equal(tsb_period_day(BXL, (struct tsb_date){2026, 10, 25}, &from, &to), 0);
    assert_int_equal(tsb_period_date_of(BXL, to, &d), 0);
    assert_int_equal(tsb_period_format_local(BXL, to, b), 0);
    assert_int_equal(tsb_period_check_tz(BXL), 0);
    assert_int_equal(tz_writes, 0);
    assert_string_equal(getenv("TZ"), "Asia/Tokyo");
    test_writes = true;
    unsetenv("TZ");
    test_writes = false;
}

static void test_unknown_zone(void **state)
{
    char b[TSB_TIME_STR_MAX];
    assert_int_equal(tsb_time_zone(0, "Europe/Atlantis", b), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "Europe/Atlantis"));
    assert_int_equal(tsb_time_zone(0, "../etc/passwd", b), TSB_ECONFIG);
    assert_int_equal(tsb_time_zone(0, "", b), TSB_ECONFIG);
    int64_t ms;
    assert_int_equal(tsb_time_parse("2026-03-01", "Mars/Olympus", false, &ms), TSB_ECONFIG);
}

static const struct {
    const char *in;
    bool end;
    int64_t want;
} parse_kat[] = {
    {"2026-03-01", false, 1772319600000LL},       /* 2026-02-28T23:00Z */
    {"2026-03-01", true, 1772405999999LL},        /* 2026-03-01T22:59:59.999Z */
    {"2026-03-29", true, 1774821599999LL},        /* a 23-hour day ends 21:59:59.999Z */
    {"2026-10-25", false, 1792879200000LL},       /* 2026-10-24T22:00Z */
    {"2026-10-25", true, 1792969199999LL},        /* a 25-hour day ends 22:59:59.999Z */
    {"2026-07-01T12:00", false, 1782900000000LL}, /* local wall clock */
    {"2026-07-01T12:00:00", true, 1782900000000LL},
    {"2026-07-01T10:00:00Z", false, 1782900000000LL},
    {"2026-07-01T10:00:00.250Z", false, 1782900000250LL},
    {"2026-07-01T12:00:00+02:00", false, 1782900000000LL},
    {"2026-07-01T05:30:00-04:30", false, 1782900000000LL},
    {"1782900000000", false, 1782900000000LL},
    /* the hour skipped on 2026-03-29: read as CET, 01:30Z (03:30 CEST) */
    {"2026-03-29T02:30", false, 1774747800000LL},
    /* the hour repeated on 2026-10-25: the earlier 02:30, in CEST (00:30Z) */
    {"2026-10-25T02:30", false, 1792888200000LL},
    {"2026-10-25T03:00", false, 1792893600000LL},
    /* year boundary in local time */
    {"2026-01-01T00:00", false, 1767222000000LL},
    {"2025-12-31", true, 1767221999999LL},
};

static void test_parse(void **state)
{
    for (size_t i = 0; i < sizeof(parse_kat) / sizeof(parse_kat[0]); i++) {
        int64_t ms = -1;
        if (tsb_time_parse(parse_kat[i].in, BXL, parse_kat[i].end, &ms) != 0)
            fail_msg("%s: %s", parse_kat[i].in, tsb_err_detail());
        if (ms != parse_kat[i].want)
            fail_msg("%s: got %lld, want %lld", parse_kat[i].in, (long long)ms,
                     (long long)parse_kat[i].want);
    }
}

static void test_parse_refusals(void **state)
{
    static const char *const bad[] = {
        "",
        "yesterday",
        "2026-13-01",
        "2026-00-10",
        "2026-03-32",
        "2026-02-30",
        "2026-3-1",
        "2026-03-01T25:00",
        "2026-03-01T10:60",
        "2026-03-01T10",
        "2026-03-01T10:00:00.",
        "2026-03-01T10:00:00+2",
        "2026-03-01T10:00Zjunk",
        "2026-03-01 junk",
        "-5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        if (tsb_time_parse(bad[i], BXL, false, &ms) != TSB_EINVAL)
            fail_msg("'%s' was accepted (%lld)", bad[i], (long long)ms);
        assert_int_equal(ms, 42);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_brussels_from_tzdata),
        cmocka_unit_test(test_tz_never_written),
        cmocka_unit_test(test_unknown_zone),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
