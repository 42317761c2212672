/*
 * period: local days in a tz-database zone as inclusive millisecond bounds. The zone is read from
 * its TZif file (tz.c) for each call, never by switching the process's TZ. A day starts at the
 * instant its local midnight occurs and ends 1 ms before the next day's, so 23- and 25-hour days
 * come out right without any arithmetic on offsets.
 */
#include "period.h"

#include "err.h"
#include "tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int tsb_period_check_tz(const char *tz)
{
    struct tsb_tz *z = NULL;
    int r = tsb_tz_open(tz, &z);
    tsb_tz_free(z);
    return r;
}

static bool valid_date(struct tsb_date d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d.year < 1970 || d.year > 9999 || d.month < 1 || d.month > 12 || d.day < 1)
        return false;
    int leap = (d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0;
    int max = mdays[d.month - 1] + (d.month == 2 ? leap : 0);
    return d.day <= max;
}

struct tsb_date tsb_date_next(struct tsb_date d)
{
    struct tsb_date n = d;
    n.day++;
    if (!valid_date(n)) {
        n.day = 1;
        if (++n.month > 12) {
            n.month = 1;
            n.year++;
        }
    }
    return n;
}

/* The instant (ms) of local midnight starting d in z. */
static int64_t local_midnight(const struct tsb_tz *z, struct tsb_date d)
{
    return tsb_tz_to_utc(z, tsb_days_from_civil(d.year, d.month, d.day) * 86400) * 1000;
}

int tsb_period_day(const char *tz, struct tsb_date d, int64_t *from_ms, int64_t *to_ms)
{
    struct tsb_tz *z = NULL;
    if (!valid_date(d))
        return tsb_err(TSB_EINVAL, "%04d-%02d-%02d is not a date", d.year, d.month, d.day);
    int r = tsb_tz_open(tz, &z);
    if (r != 0)
        return r;
    *from_ms = local_midnight(z, d);
    *to_ms = local_midnight(z, tsb_date_next(d)) - 1;
    tsb_tz_free(z);
    return 0;
}

int tsb_period_date_of(const char *tz, int64_t ms, struct tsb_date *out)
{
    struct tsb_tz *z = NULL;
    struct tsb_civil_time c;
    int r = tsb_tz_open(tz, &z);
    if (r != 0)
        return r;
    tsb_tz_civil(z, ms, &c);
    tsb_tz_free(z);
    *out = (struct tsb_date){(int)c.year, c.month, c.day};
    return 0;
}

int tsb_date_parse(const char *s, struct tsb_date *out)
{
    struct tsb_date d;
    char tail;
    if (s == NULL || strlen(s) != 10 ||
        sscanf(s, "%4d-%2d-%2d%c", &d.year, &d.month, &d.day, &tail) != 3 || s[4] != '-' ||
        s[7] != '-' || !valid_date(d))
        return tsb_err(TSB_EINVAL, "\"%s\" is not a date YYYY-MM-DD", s ? s : "");
    *out = d;
    return 0;
}

void tsb_date_format(struct tsb_date d, char out[16])
{
    snprintf(out, 16, "%04d-%02d-%02d", d.year % 10000, d.month % 100, d.day % 100);
}

int tsb_period_format_local(const char *tz, int64_t ms, char out[64])
{
    struct tsb_tz *z = NULL;
    struct tsb_civil_time c;
    int r = tsb_tz_open(tz, &z);
    if (r != 0)
        return r;
    tsb_tz_civil(z, ms, &c);
    tsb_tz_free(z);
    int32_t off = c.off < 0 ? -c.off : c.off;
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02d:%02d", (int)c.year, c.month, c.day,
             c.hour, c.min, c.sec, c.ms, c.off < 0 ? '-' : '+', (int)(off / 3600),
             (int)(off / 60 % 60));
    return 0;
}
