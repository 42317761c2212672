/*
 * period: local days in a tz-database zone as inclusive millisecond bounds. The zone is applied
 * by setting TZ around each conversion and restoring the previous value, so the rest of the
 * process keeps its own zone. mktime() with tm_isdst = -1 resolves local midnight whatever the
 * daylight saving state, and the end of a day is the start of the next minus 1 ms, so 23- and
 * 25-hour days come out right without any arithmetic on offsets.
 */
#include "period.h"

#include "err.h"
#include "mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TZ_NAME_MAX 128

int tsb_period_check_tz(const char *tz)
{
    char path[512];
    const char *dir = getenv("TZDIR");
    if (tz == NULL || *tz == '\0' || strlen(tz) > TZ_NAME_MAX || tz[0] == '/' || tz[0] == ':' ||
        strstr(tz, "..") != NULL)
        return tsb_err(TSB_ECONFIG,
                       "time zone \"%s\" is not a tz database name like "
                       "Europe/Brussels",
                       tz ? tz : "");
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
    if (access(path, R_OK) != 0)
        return tsb_err(TSB_ECONFIG,
                       "time zone \"%s\" is not in the tz database (%s missing; "
                       "is tzdata installed?)",
                       tz, path);
    return 0;
}

struct tz_saved {
    char *old;
    int had;
};

static int tz_enter(const char *tz, struct tz_saved *sv)
{
    int r = tsb_period_check_tz(tz);
    if (r != 0)
        return r;
    const char *old = getenv("TZ");
    sv->had = old != NULL;
    sv->old = old ? tsb_strdup(old) : NULL;
    setenv("TZ", tz, 1);
    tzset();
    return 0;
}

static void tz_leave(struct tz_saved *sv)
{
    if (sv->had)
        setenv("TZ", sv->old, 1);
    else
        unsetenv("TZ");
    tzset();
    free(sv->old);
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

/* Local midnight starting d, in ms; call between tz_enter and tz_leave. */
static int local_midnight(struct tsb_date d, int64_t *ms)
{
    struct tm tm = {0};
    tm.tm_year = d.year - 1900;
    tm.tm_mon = d.month - 1;
    tm.tm_mday = d.day;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1)
        return tsb_err(TSB_EINVAL, "cannot convert %04d-%02d-%02d to a time", d.year, d.month,
                       d.day);
    *ms = (int64_t)t * 1000;
    return 0;
}

int tsb_period_day(const char *tz, struct tsb_date d, int64_t *from_ms, int64_t *to_ms)
{
    int r = TSB_EINTERNAL;
    struct tz_saved sv;
    int64_t a = 0, b = 0;
    if (!valid_date(d))
        return tsb_err(TSB_EINVAL, "%04d-%02d-%02d is not a date", d.year, d.month, d.day);
    if ((r = tz_enter(tz, &sv)) != 0)
        return r;
    if ((r = local_midnight(d, &a)) == 0 && (r = local_midnight(tsb_date_next(d), &b)) == 0) {
        *from_ms = a;
        *to_ms = b - 1;
    }
    tz_leave(&sv);
    return r;
}

int tsb_period_date_of(const char *tz, int64_t ms, struct tsb_date *out)
{
    int r = TSB_EINTERNAL;
    struct tz_saved sv;
    struct tm tm;
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    if ((r = tz_enter(tz, &sv)) != 0)
        return r;
    if (localtime_r(&t, &tm) == NULL)
        r = tsb_err(TSB_EINVAL, "cannot convert %lld ms to a local date", (long long)ms);
    else
        *out = (struct tsb_date){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
    tz_leave(&sv);
    return r;
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
    int r = TSB_EINTERNAL;
    struct tz_saved sv;
    struct tm tm;
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)t * 1000);
    if ((r = tz_enter(tz, &sv)) != 0)
        return r;
    if (localtime_r(&t, &tm) == NULL) {
        r = tsb_err(TSB_EINVAL, "cannot convert %lld ms to a local time", (long long)ms);
    } else {
        long off = tm.tm_gmtoff;
        char sign = off < 0 ? '-' : '+';
        off = off < 0 ? -off : off;
        snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02ld:%02ld", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac, sign,
                 off / 3600 % 24, (off % 3600) / 60 % 60);
    }
    tz_leave(&sv);
    return r;
}
