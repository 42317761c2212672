/*
 * timefmt: UTC formatting with gmtime_r, zone conversions through the C library and the system tz
 * database (TZ is switched for the call and restored, so daylight saving rules come from tzdata,
 * never from a hard-coded offset).
 */
#include "timefmt.h"

#include "err.h"
#include "mem.h"
#include "period.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

void tsb_time_utc(int64_t ms, char out[TSB_TIME_STR_MAX])
{
    time_t s = (time_t)floor_div(ms, 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, TSB_TIME_STR_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ms - floor_div(ms, 1000) * 1000));
}

/* glibc falls back to UTC for an unknown zone without saying so: period.c looks for the file. */
static int check_zone(const char *zone)
{
    if (zone != NULL && strcmp(zone, "UTC") == 0)
        return 0;
    return tsb_period_check_tz(zone);
}

/* Switches TZ to zone; returns the previous value (to give to tz_restore). */
static char *tz_switch(const char *zone)
{
    const char *old = getenv("TZ");
    char *saved = old ? tsb_strdup(old) : NULL;
    setenv("TZ", zone, 1);
    tzset();
    return saved;
}

static void tz_restore(char *saved)
{
    if (saved != NULL)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
}

int tsb_time_zone(int64_t ms, const char *zone, char out[TSB_TIME_STR_MAX])
{
    int r = check_zone(zone);
    if (r != 0)
        return r;
    time_t s = (time_t)floor_div(ms, 1000);
    struct tm tm;
    char *saved = tz_switch(zone);
    localtime_r(&s, &tm);
    char date[32], abbr[16], off[8];
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    strftime(abbr, sizeof(abbr), "%Z", &tm);
    strftime(off, sizeof(off), "%z", &tm); /* +0100 */
    tz_restore(saved);
    snprintf(out, TSB_TIME_STR_MAX, "%s.%03d %s (UTC%.3s:%.2s)", date,
             (int)(ms - floor_div(ms, 1000) * 1000), abbr, off, off + 3);
    return 0;
}

/* Reads exactly n digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static int bad(const char *s)
{
    return tsb_err(TSB_EINVAL,
                   "'%s' is not a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM] or "
                   "milliseconds since 1970",
                   s);
}

int tsb_time_parse(const char *s, const char *zone, bool end_of_day, int64_t *out_ms)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
    size_t n = strlen(s);

    if (n > 0 && n <= 18 && strspn(s, "0123456789") == n) {
        *out_ms = strtoll(s, NULL, 10);
        return 0;
    }
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
        return bad(s);
    bool date_only = *p == '\0';
    if (date_only) { /* a whole local day, 23 to 25 hours long: period.c knows */
        struct tsb_date day;
        int64_t from, to;
        int r;
        if (tsb_date_parse(s, &day) != 0)
            return bad(s);
        if ((r = check_zone(zone)) != 0 || (r = tsb_period_day(zone, day, &from, &to)) != 0)
            return r;
        *out_ms = end_of_day ? to : from;
        return 0;
    }
    if ((*p != 'T' && *p != ' ') || (p++, !digits(&p, 2, &h)) || *p++ != ':' ||
        !digits(&p, 2, &mi) || h > 23 || mi > 59)
        return bad(s);
    if (*p == ':') {
        p++;
        if (!digits(&p, 2, &sec) || sec > 60)
            return bad(s);
        if (*p == '.') {
            p++;
            int scale = 100, k = 0;
            while (isdigit((unsigned char)*p)) {
                frac += scale * (*p++ - '0');
                scale /= 10;
                if (++k > 9)
                    return bad(s);
            }
            if (k == 0)
                return bad(s);
        }
    }
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec,
                    .tm_isdst = -1};
    int64_t secs;
    if (*p == 'Z' || *p == '+' || *p == '-') {
        int oh = 0, om = 0, sign = *p == '-' ? -1 : 1;
        if (*p == 'Z') {
            p++;
        } else {
            p++;
            if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
                return bad(s);
        }
        if (*p != '\0')
            return bad(s);
        secs = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
    } else {
        if (*p != '\0')
            return bad(s);
        int r = check_zone(zone);
        if (r != 0)
            return r;
        char *saved = tz_switch(zone);
        secs = (int64_t)mktime(&tm);
        tz_restore(saved);
    }
    *out_ms = secs * 1000 + frac;
    return 0;
}
