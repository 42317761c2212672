/* Unit tests for tz: offsets, abbreviations and local-to-UTC conversions read from the TZif files
 * compared with the C library over the same system zoneinfo (in a forked child that sets TZ, so
 * this process's environment is never touched), every third hour from 1970 to 2100 (past the last
 * transition a fat file lists, where the footer rule takes over) and at every transition second;
 * Europe/Brussels's switches both ways with the skipped and the repeated hour, year boundaries,
 * zones with negative daylight saving time (Dublin), southern summers (Sydney), 45-minute offsets
 * (Chatham); a synthetic TZif file with only a footer rule; the civil calendar against gmtime_r;
 * and refusals naming the zone and the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "testlib.h"
#include "tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BXL "Europe/Brussels"

static const char *const zones[] = {
    BXL,
    "Europe/London",
    "Europe/Dublin",
    "America/New_York",
    "Australia/Sydney",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "UTC",
};

static struct tsb_tz *open_zone(const char *name)
{
    struct tsb_tz *z = NULL;
    if (tsb_tz_open(name, &z) != 0)
        fail_msg("%s: %s", name, tsb_err_detail());
    return z;
}

/* Runs in the child, with TZ=name: every third hour from 1970 to 2100, and both sides of every
 * change of offset found on the way, must agree with localtime_r; every local wall-clock time at
 * :00 and :30 that occurs exactly once with mktime. Returns the number of disagreements (the first
 * ones are printed). */
static int compare_with_libc(const char *name)
{
    struct tsb_tz *z = NULL;
    if (tsb_tz_open(name, &z) != 0) {
        fprintf(stderr, "%s: %s\n", name, tsb_err_detail());
        return 1;
    }
    int bad = 0;
    const int64_t from = 0, to = 4102444800LL; /* 2100-01-01 */
    int32_t prev = tsb_tz_offset(z, from, NULL);
    for (int64_t t = from; t < to; t += 3 * 3600) {
        int32_t off = tsb_tz_offset(z, t, NULL);
        int64_t a = t, b = t;
        if (off != prev) { /* bisect to the second of the change: check both sides */
            a = t - 3 * 3600;
            while (b - a > 1) {
                int64_t mid = a + (b - a) / 2;
                if (tsb_tz_offset(z, mid, NULL) == prev)
                    a = mid;
                else
                    b = mid;
            }
        }
        prev = off;
        for (int64_t s = a; s <= b; s++) {
            char abbr[TSB_TZ_ABBR_MAX];
            int32_t got = tsb_tz_offset(z, s, abbr);
            time_t tt = (time_t)s;
            struct tm tm;
            localtime_r(&tt, &tm);
            if (got != tm.tm_gmtoff || strcmp(abbr, tm.tm_zone) != 0) {
                if (bad++ < 5)
                    fprintf(stderr, "%s at %lld: tz %d %s, libc %ld %s\n", name, (long long)s, got,
                            abbr, tm.tm_gmtoff, tm.tm_zone);
            }
        }
    }
    /* local to UTC: every 90 minutes of local time (so :00 and :30 alternate) to 2045 */
    for (int64_t local = 86400; local < 2366755200LL; local += 5400) {
        int64_t y;
        int m, d;
        tsb_civil_from_days(local / 86400, &y, &m, &d);
        int64_t sod = local % 86400;
        struct tm tm = {.tm_year = (int)(y - 1900),
                        .tm_mon = m - 1,
                        .tm_mday = d,
                        .tm_hour = (int)(sod / 3600),
                        .tm_min = (int)(sod / 60 % 60),
                        .tm_isdst = -1};
        int64_t want = (int64_t)mktime(&tm), got = tsb_tz_to_utc(z, local);
        /* a repeated wall-clock time has two answers and a skipped one none: glibc's choice
         * depends on its previous calls and on the zone's isdst flags, so only the times that
         * occur exactly once are compared; tsb_tz_to_utc's rule is checked in test_brussels */
        int64_t a = local - tsb_tz_offset(z, local - 86400, NULL);
        int64_t b = local - tsb_tz_offset(z, local + 86400, NULL);
        bool a_ok = a + tsb_tz_offset(z, a, NULL) == local;
        bool b_ok = b + tsb_tz_offset(z, b, NULL) == local;
        bool once = a == b ? a_ok : a_ok != b_ok;
        if (got != want && once && bad++ < 10)
            fprintf(stderr, "%s: local %lld: tz %lld, mktime %lld\n", name, (long long)local,
                    (long long)got, (long long)want);
    }
    tsb_tz_free(z);
    return bad;
}

static void test_matches_libc(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            setenv("TZ", zones[i], 1);
            tzset();
            _exit(compare_with_libc(zones[i]) == 0 ? 0 : 1);
        }
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("%s disagrees with the C library (see above)", zones[i]);
    }
    assert_null(getenv("TZ")); /* only the children set it */
}

static const struct {
    int64_t utc_s;
    int32_t off;
    const char *abbr;
} bxl_kat[] = {
    /* spring forward 2026-03-29 01:00 UTC: 02:00 local becomes 03:00 */
    {1774745999, 3600, "CET"},
    {1774746000, 7200, "CEST"},
    /* fall back 2026-10-25 01:00 UTC: 03:00 local becomes 02:00 again */
    {1792889999, 7200, "CEST"},
    {1792890000, 3600, "CET"},
    /* new year: 2025-12-31T23:00Z is midnight in Brussels */
    {1767221999, 3600, "CET"},
    {1767222000, 3600, "CET"},
    /* 2090, long after the last transition of the file: the footer rule */
    {3794173199, 3600, "CET"},  /* 2090-03-26T00:59:59Z */
    {3794173200, 7200, "CEST"}, /* 2090-03-26T01:00:00Z */
};

static void test_brussels(void **state)
{
    (void)state;
    struct tsb_tz *z = open_zone(BXL);
    for (size_t i = 0; i < sizeof(bxl_kat) / sizeof(bxl_kat[0]); i++) {
        char abbr[TSB_TZ_ABBR_MAX];
        int32_t off = tsb_tz_offset(z, bxl_kat[i].utc_s, abbr);
        if (off != bxl_kat[i].off || strcmp(abbr, bxl_kat[i].abbr) != 0)
            fail_msg("%lld: %d %s, want %d %s", (long long)bxl_kat[i].utc_s, off, abbr,
                     bxl_kat[i].off, bxl_kat[i].abbr);
    }
    int64_t day = tsb_days_from_civil(2026, 3, 29) * 86400;
    /* the skipped hour: 02:30 is read as CET, i.e. 01:30Z (03:30 CEST); 03:00 is 01:00Z */
    assert_int_equal(tsb_tz_to_utc(z, day + 2 * 3600 + 1800), 1774747800);
    assert_int_equal(tsb_tz_to_utc(z, day + 3 * 3600), 1774746000);
    assert_int_equal(tsb_tz_to_utc(z, day + 3600 + 1800), 1774744200);
    /* the repeated hour: 02:30 happens at 00:30Z (CEST) and 01:30Z (CET): the earlier one */
    day = tsb_days_from_civil(2026, 10, 25) * 86400;
    assert_int_equal(tsb_tz_to_utc(z, day + 2 * 3600 + 1800), 1792888200);
    assert_int_equal(tsb_tz_to_utc(z, day + 3600 + 1800), 1792884600); /* 01:30 CEST */
    assert_int_equal(tsb_tz_to_utc(z, day + 3 * 3600), 1792893600);    /* 03:00 CET */
    /* year boundary: local midnight of 2026-01-01 */
    assert_int_equal(tsb_tz_to_utc(z, tsb_days_from_civil(2026, 1, 1) * 86400), 1767222000);
    struct tsb_civil_time c;
    tsb_tz_civil(z, 1767221999999LL, &c);
    assert_int_equal(c.year, 2025);
    assert_int_equal(c.month, 12);
    assert_int_equal(c.day, 31);
    assert_int_equal(c.hour, 23);
    assert_int_equal(c.sec, 59);
    assert_int_equal(c.ms, 999);
    tsb_tz_civil(z, 1767222000000LL, &c);
    assert_int_equal(c.year, 2026);
    assert_int_equal(c.month, 1);
    assert_int_equal(c.day, 1);
    assert_int_equal(c.hour, 0);
    assert_string_equal(c.abbr, "CET");
    tsb_tz_free(z);
}

static void test_civil_calendar(void **state)
{
    (void)state;
    /* every 7th day from 1800 to 2400 against gmtime_r, both ways */
    for (int64_t days = -62091; days < 157054; days += 7) {
        time_t t = (time_t)(days * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        int64_t y;
        int m, d;
        tsb_civil_from_days(days, &y, &m, &d);
        if (y != tm.tm_year + 1900 || m != tm.tm_mon + 1 || d != tm.tm_mday)
            fail_msg("day %lld: %lld-%d-%d, gmtime %d-%d-%d", (long long)days, (long long)y, m, d,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        assert_int_equal(tsb_days_from_civil(y, m, d), days);
    }
    /* days past the end of the month roll over as mktime's do */
    assert_int_equal(tsb_days_from_civil(2026, 2, 31), tsb_days_from_civil(2026, 3, 3));
    assert_int_equal(tsb_days_from_civil(2024, 2, 29) + 1, tsb_days_from_civil(2024, 3, 1));
    assert_int_equal(tsb_days_from_civil(2025, 12, 32), tsb_days_from_civil(2026, 1, 1));
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A version 2 TZif image without transitions: one type (off, "XST") and the footer rule. */
static size_t footer_only(uint8_t *b, int32_t off, const char *rule)
{
    size_t n = 0;
    for (int blk = 0; blk < 2; blk++) {
        memset(b + n, 0, 44);
        memcpy(b + n, "TZif2", 5);
        be32(b + n + 36, 1); /* typecnt */
        be32(b + n + 40, 4); /* charcnt */
        n += 44;
        be32(b + n, (uint32_t)off);
        b[n + 4] = 0;
        b[n + 5] = 0;
        memcpy(b + n + 6, "XST", 4);
        n += 10;
    }
    n += (size_t)sprintf((char *)b + n, "\n%s\n", rule);
    return n;
}

static void test_footer_rule_and_refusals(void **state)
{
    (void)state;
    char *dir = tsb_test_tmpdir();
    char *old = getenv("TZDIR") ? strdup(getenv("TZDIR")) : NULL;
    setenv("TZDIR", dir, 1);
    uint8_t b[512];
    size_t n = footer_only(b, 3600, "CET-1CEST,M3.5.0,M10.5.0/3");
    char *p = tsb_test_path(dir, "Rule");
    assert_int_equal(tsb_test_write_file(p, b, n), 0);
    struct tsb_tz *z = open_zone("Rule");
    char abbr[TSB_TZ_ABBR_MAX];
    assert_int_equal(tsb_tz_offset(z, 1774745999, abbr), 3600);
    assert_string_equal(abbr, "CET");
    assert_int_equal(tsb_tz_offset(z, 1774746000, abbr), 7200);
    assert_string_equal(abbr, "CEST");
    assert_int_equal(tsb_tz_offset(z, 1792890000, abbr), 3600);
    tsb_tz_free(z);
    free(p);
    /* quoted names, an implied daylight offset and Jn dates */
    n = footer_only(b, 3600, "<-03>3<-02>,J60/2,J300/2");
    p = tsb_test_path(dir, "Quoted");
    assert_int_equal(tsb_test_write_file(p, b, n), 0);
    z = open_zone("Quoted");
    int64_t mar1 = tsb_days_from_civil(2026, 3, 1) * 86400; /* J60 is March 1 */
    assert_int_equal(tsb_tz_offset(z, mar1 + 2 * 3600 + 3 * 3600 - 1, abbr), -3 * 3600);
    assert_string_equal(abbr, "-03");
    assert_int_equal(tsb_tz_offset(z, mar1 + 2 * 3600 + 3 * 3600, abbr), -2 * 3600);
    assert_string_equal(abbr, "-02");
    tsb_tz_free(z);
    free(p);
    /* refusals name the zone and the file */
    p = tsb_test_path(dir, "Junk");
    assert_int_equal(tsb_test_write_file(p, "not a zone", 10), 0);
    assert_int_equal(tsb_tz_open("Junk", &z), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "Junk"));
    assert_non_null(strstr(tsb_err_detail(), "no TZif header"));
    free(p);
    p = tsb_test_path(dir, "Short");
    assert_int_equal(tsb_test_write_file(p, b, 50), 0);
    assert_int_equal(tsb_tz_open("Short", &z), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "truncated"));
    free(p);
    n = footer_only(b, 3600, "CET-1CEST,M13.5.0");
    p = tsb_test_path(dir, "BadRule");
    assert_int_equal(tsb_test_write_file(p, b, n), 0);
    assert_int_equal(tsb_tz_open("BadRule", &z), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "footer rule"));
    free(p);
    assert_int_equal(tsb_tz_open("Europe/Atlantis", &z), TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "Europe/Atlantis"));
    assert_int_equal(tsb_tz_open("../etc/passwd", &z), TSB_ECONFIG);
    assert_int_equal(tsb_tz_open("", &z), TSB_ECONFIG);
    if (old != NULL)
        setenv("TZDIR", old, 1);
    else
        unsetenv("TZDIR");
    free(old);
    tsb_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_libc),
        cmocka_unit_test(test_brussels),
        cmocka_unit_test(test_civil_calendar),
        cmocka_unit_test(test_footer_rule_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
