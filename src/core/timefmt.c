/*
 * timefmt: instants rendered from the civil calendar of tz.c (UTC needs no zone at all) and
 * zone conversions from the TZif file, so daylight saving rules come from tzdata, never from a
 * hard-coded offset, and the process's TZ is never switched.
 */
#include "timefmt.h"

#include "err.h"
#include "period.h"
#include "tz.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tsb_time_utc(int64_t ms, char out[TSB_TIME_STR_MAX])
{
    struct tsb_civil_time c;
    tsb_tz_civil(NULL, ms, &c);
    snprintf(out, TSB_TIME_STR_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)c.year, c.month,
             c.day, c.hour, c.min, c.sec, c.ms);
}

void tsb_time_utc_s(int64_t ms, char out[TSB_TIME_STR_MAX])
{
    struct tsb_civil_time c;
    tsb_tz_civil(NULL, ms, &c);
    snprintf(out, TSB_TIME_STR_MAX, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)c.year, c.month, c.day,
             c.hour, c.min, c.sec);
}

int tsb_time_zone(int64_t ms, const char *zone, char out[TSB_TIME_STR_MAX])
{
    struct tsb_tz *z = NULL;
    struct tsb_civil_time c;
    int r = tsb_tz_open(zone, &z);
    if (r != 0)
        return r;
    tsb_tz_civil(z, ms, &c);
    tsb_tz_free(z);
    int32_t off = c.off < 0 ? -c.off : c.off;
    snprintf(out, TSB_TIME_STR_MAX, "%04d-%02d-%02d %02d:%02d:%02d.%03d %s (UTC%c%02d:%02d)",
             (int)c.year, c.month, c.day, c.hour, c.min, c.sec, c.ms, c.abbr, c.off < 0 ? '-' : '+',
             (int)(off / 3600), (int)(off / 60 % 60));
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
        if ((r = tsb_period_day(zone, day, &from, &to)) != 0)
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
    /* seconds since the epoch as if the wall-clock reading were UTC (d may run past the month
     * end and sec may be 60: both roll over, as mktime and timegm do) */
    int64_t wall = tsb_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
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
        secs = wall - sign * (oh * 3600 + om * 60);
    } else {
        if (*p != '\0')
            return bad(s);
        struct tsb_tz *z = NULL;
        int r = tsb_tz_open(zone, &z);
        if (r != 0)
            return r;
        secs = tsb_tz_to_utc(z, wall);
        tsb_tz_free(z);
    }
    *out_ms = secs * 1000 + frac;
    return 0;
}
