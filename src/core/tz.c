/*
 * tz: TZif reader. The file lists the zone's transitions (instant -> local time type) and, in
 * version 2 and later, ends with a POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3") that holds after
 * the last transition. Offsets come from that data only: there is no hard-coded rule, and the
 * C library's TZ state is never touched (setenv("TZ") in a threaded process races with every
 * getenv and localtime of the other threads).
 */
#include "tz.h"

#include "err.h"
#include "mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_NAME_MAX 128
#define TZ_FILE_MAX (1 << 20) /* the largest zone of tzdata is under 4 KiB */
#define TZ_HEADER   44

struct ttype {
    int32_t off;
    char abbr[TSB_TZ_ABBR_MAX];
};

/* A rule date: Jn (1-365, February 29 never counted), n (0-365) or Mm.w.d. */
struct rdate {
    char kind; /* 'J', 'N' or 'M' */
    int n, m, w, d;
    int32_t time; /* local seconds after midnight of that date (may be negative or > 24 h) */
};

struct rule {
    struct ttype std, dst;
    bool has_dst;
    struct rdate start, end;
};

struct tsb_tz {
    size_t n;      /* transitions */
    int64_t *at;   /* instants, ascending */
    uint8_t *type; /* index into types of the time type from at[i] on */
    size_t ntypes;
    struct ttype *types;
    bool has_rule; /* the footer rule applies after the last transition */
    struct rule rule;
};

/* ---- civil calendar ------------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Days from 1970-01-01 with March-based years (February last, so leap days come at the end). */
int64_t tsb_days_from_civil(int64_t y, int m, int d)
{
    y += floor_div(m - 1, 12);
    m = (int)((m - 1) - floor_div(m - 1, 12) * 12) + 1;
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                         /* 0-399 */
    int64_t mp = m > 2 ? m - 3 : m + 9;                  /* 0 = March */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;            /* day of the March-based year */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0-146096 */
    return era * 146097 + doe - 719468;
}

void tsb_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return md[m - 1] + (m == 2 && leap(y));
}

/* ---- the POSIX TZ rule of the footer ------------------------------------------------------- */

static bool rule_name(const char **p, char out[TSB_TZ_ABBR_MAX])
{
    const char *s = *p, *e;
    if (*s == '<') {
        e = strchr(++s, '>');
        if (e == NULL)
            return false;
        *p = e + 1;
    } else {
        for (e = s; (*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z'); e++)
            ;
        *p = e;
    }
    if (e - s < 1 || e - s >= TSB_TZ_ABBR_MAX)
        return false;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return true;
}

static bool rule_num(const char **p, int max, int *out)
{
    int v = 0, k = 0;
    while (**p >= '0' && **p <= '9' && k < 4) {
        v = v * 10 + (*(*p)++ - '0');
        k++;
    }
    *out = v;
    return k > 0 && v <= max;
}

/* [+-]hh[:mm[:ss]] in seconds. */
static bool rule_hms(const char **p, int max_h, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (**p == '+' || **p == '-')
        sign = *(*p)++ == '-' ? -1 : 1;
    if (!rule_num(p, max_h, &h))
        return false;
    if (**p == ':' && ((*p)++, !rule_num(p, 59, &m)))
        return false;
    if (**p == ':' && ((*p)++, !rule_num(p, 59, &s)))
        return false;
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

static bool rule_date(const char **p, struct rdate *r)
{
    if (**p == 'M') {
        (*p)++;
        r->kind = 'M';
        if (!rule_num(p, 12, &r->m) || r->m < 1 || *(*p)++ != '.' || !rule_num(p, 5, &r->w) ||
            r->w < 1 || *(*p)++ != '.' || !rule_num(p, 6, &r->d))
            return false;
    } else if (**p == 'J') {
        (*p)++;
        r->kind = 'J';
        if (!rule_num(p, 365, &r->n) || r->n < 1)
            return false;
    } else {
        r->kind = 'N';
        if (!rule_num(p, 365, &r->n))
            return false;
    }
    r->time = 2 * 3600;
    if (**p == '/') {
        (*p)++;
        return rule_hms(p, 167, &r->time);
    }
    return true;
}

static bool parse_rule(const char *s, struct rule *r)
{
    int32_t v;
    memset(r, 0, sizeof(*r));
    if (!rule_name(&s, r->std.abbr) || !rule_hms(&s, 24, &v))
        return false;
    r->std.off = -v; /* POSIX counts hours west of Greenwich */
    if (*s == '\0')
        return true;
    if (!rule_name(&s, r->dst.abbr))
        return false;
    r->has_dst = true;
    r->dst.off = r->std.off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!rule_hms(&s, 24, &v))
            return false;
        r->dst.off = -v;
    }
    if (*s == '\0') { /* no dates: the POSIX default, as glibc applies it */
        r->start = (struct rdate){'M', 0, 3, 2, 0, 7200};
        r->end = (struct rdate){'M', 0, 11, 1, 0, 7200};
        return true;
    }
    return *s++ == ',' && rule_date(&s, &r->start) && *s++ == ',' && rule_date(&s, &r->end) &&
           *s == '\0';
}

/* The day number (since 1970-01-01) of rule date r in year y. */
static int64_t rdate_day(const struct rdate *r, int64_t y)
{
    int64_t jan1 = tsb_days_from_civil(y, 1, 1);
    if (r->kind == 'J')
        return jan1 + r->n - 1 + (leap(y) && r->n >= 60);
    if (r->kind == 'N')
        return jan1 + r->n;
    int64_t first = tsb_days_from_civil(y, r->m, 1);
    int dow = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    int mday = 1 + (r->d - dow + 7) % 7 + (r->w - 1) * 7;
    while (mday > month_days(y, r->m))
        mday -= 7;
    return first + mday - 1;
}

static const struct ttype *rule_at(const struct rule *r, int64_t utc_s)
{
    if (!r->has_dst)
        return &r->std;
    int64_t y;
    int m, d;
    tsb_civil_from_days(floor_div(utc_s + r->std.off, 86400), &y, &m, &d);
    /* the start is written in standard time, the end in daylight saving time */
    int64_t start = rdate_day(&r->start, y) * 86400 + r->start.time - r->std.off;
    int64_t end = rdate_day(&r->end, y) * 86400 + r->end.time - r->dst.off;
    bool dst = start < end ? utc_s >= start && utc_s < end : !(utc_s >= end && utc_s < start);
    return dst ? &r->dst : &r->std;
}

/* ---- TZif ---------------------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int bad_file(const char *name, const char *path, const char *why)
{
    return tsb_err(TSB_ECONFIG, "time zone \"%s\": %s is not a usable tz database file (%s)", name,
                   path, why);
}

/* Parses one data block (time_size 4 for version 1, 8 for the later ones) at b[0..len). On
 * success *used is the block's length, header included. */
static int parse_block(struct tsb_tz *tz, const uint8_t *b, size_t len, int time_size, size_t *used,
                       const char *name, const char *path)
{
    if (len < TZ_HEADER || memcmp(b, "TZif", 4) != 0)
        return bad_file(name, path, "no TZif header");
    size_t isut = be32(b + 20), isstd = be32(b + 24), leapcnt = be32(b + 28);
    size_t timecnt = be32(b + 32), typecnt = be32(b + 36), charcnt = be32(b + 40);
    size_t need = TZ_HEADER + timecnt * (size_t)time_size + timecnt + typecnt * 6 + charcnt +
                  leapcnt * (size_t)(time_size + 4) + isstd + isut;
    if (timecnt > TZ_FILE_MAX || typecnt > 256 || charcnt > TZ_FILE_MAX || leapcnt > TZ_FILE_MAX ||
        need > len)
        return bad_file(name, path, "truncated");
    if (typecnt == 0)
        return bad_file(name, path, "no local time type");
    if (leapcnt != 0)
        return bad_file(name, path, "leap-second zones are not supported");
    const uint8_t *p = b + TZ_HEADER;
    const uint8_t *idx = p + timecnt * (size_t)time_size;
    const uint8_t *info = idx + timecnt;
    const char *chars = (const char *)(info + typecnt * 6);
    tz->at = tsb_calloc(timecnt ? timecnt : 1, sizeof(*tz->at));
    tz->type = tsb_calloc(timecnt ? timecnt : 1, 1);
    tz->types = tsb_calloc(typecnt, sizeof(*tz->types));
    tz->n = timecnt;
    tz->ntypes = typecnt;
    for (size_t i = 0; i < timecnt; i++) {
        tz->at[i] = time_size == 8 ? be64(p + 8 * i) : (int32_t)be32(p + 4 * i);
        tz->type[i] = idx[i];
        if (idx[i] >= typecnt || (i > 0 && tz->at[i] <= tz->at[i - 1]))
            return bad_file(name, path, "bad transition");
    }
    for (size_t i = 0; i < typecnt; i++) {
        const uint8_t *t = info + 6 * i;
        size_t di = t[5];
        tz->types[i].off = (int32_t)be32(t);
        if (di >= charcnt || tz->types[i].off < -26 * 3600 || tz->types[i].off > 26 * 3600)
            return bad_file(name, path, "bad local time type");
        size_t n = strnlen(chars + di, charcnt - di);
        if (n >= TSB_TZ_ABBR_MAX)
            n = TSB_TZ_ABBR_MAX - 1;
        memcpy(tz->types[i].abbr, chars + di, n);
    }
    *used = need;
    return 0;
}

static void clear_block(struct tsb_tz *tz)
{
    free(tz->at);
    free(tz->type);
    free(tz->types);
    tz->at = NULL;
    tz->type = NULL;
    tz->types = NULL;
}

static int parse_tzif(struct tsb_tz *tz, const uint8_t *b, size_t len, const char *name,
                      const char *path)
{
    size_t used = 0;
    int r = parse_block(tz, b, len, 4, &used, name, path);
    if (r != 0 || b[4] < '2')
        return r;
    clear_block(tz); /* version 2+: the 64-bit block that follows replaces the 32-bit one */
    size_t used2 = 0;
    if ((r = parse_block(tz, b + used, len - used, 8, &used2, name, path)) != 0)
        return r;
    const char *f = (const char *)b + used + used2, *end = (const char *)b + len;
    if (f >= end || *f != '\n')
        return bad_file(name, path, "no footer");
    const char *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
    if (nl == NULL || nl - f - 1 > 255)
        return bad_file(name, path, "bad footer");
    if (nl == f + 1)
        return 0; /* empty footer: the last transition's type holds for ever */
    char rule[256];
    memcpy(rule, f + 1, (size_t)(nl - f - 1));
    rule[nl - f - 1] = '\0';
    if (!parse_rule(rule, &tz->rule))
        return bad_file(name, path, "footer rule not understood");
    tz->has_rule = true;
    return 0;
}

int tsb_tz_open(const char *name, struct tsb_tz **out)
{
    int r = TSB_EINTERNAL;
    struct tsb_tz *tz = NULL;
    uint8_t *b = NULL;
    FILE *f = NULL;
    char path[512];
    if (name == NULL || *name == '\0' || strlen(name) > TZ_NAME_MAX || name[0] == '/' ||
        name[0] == ':' || strstr(name, "..") != NULL)
        return tsb_err(TSB_ECONFIG,
                       "time zone \"%s\" is not a tz database name like "
                       "Europe/Brussels",
                       name ? name : "");
    tz = tsb_calloc(1, sizeof(*tz));
    if (strcmp(name, "UTC") == 0) { /* no file needed */
        tz->ntypes = 1;
        tz->types = tsb_calloc(1, sizeof(*tz->types));
        snprintf(tz->types[0].abbr, TSB_TZ_ABBR_MAX, "UTC");
        *out = tz;
        return 0;
    }
    const char *dir = getenv("TZDIR");
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    if ((f = fopen(path, "rb")) == NULL) {
        r = tsb_err(TSB_ECONFIG,
                    "time zone \"%s\" is not in the tz database (%s missing; is tzdata "
                    "installed?)",
                    name, path);
        goto out;
    }
    b = tsb_malloc(TZ_FILE_MAX);
    size_t len = fread(b, 1, TZ_FILE_MAX, f);
    if (ferror(f) || len == TZ_FILE_MAX) {
        r = bad_file(name, path, ferror(f) ? "read error" : "too large");
        goto out;
    }
    if ((r = parse_tzif(tz, b, len, name, path)) != 0)
        goto out;
    *out = tz;
    tz = NULL;
    r = 0;
out:
    if (f != NULL)
        fclose(f);
    free(b);
    tsb_tz_free(tz);
    return r;
}

void tsb_tz_free(struct tsb_tz *tz)
{
    if (tz == NULL)
        return;
    clear_block(tz);
    free(tz);
}

static const struct ttype *type_at(const struct tsb_tz *tz, int64_t utc_s)
{
    if (tz->n == 0 || utc_s < tz->at[0])
        return tz->n == 0 && tz->has_rule ? rule_at(&tz->rule, utc_s) : &tz->types[0];
    size_t lo = 0, hi = tz->n; /* the last transition at or before utc_s is in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= utc_s)
            lo = mid;
        else
            hi = mid;
    }
    if (lo == tz->n - 1 && tz->has_rule)
        return rule_at(&tz->rule, utc_s);
    return &tz->types[tz->type[lo]];
}

int32_t tsb_tz_offset(const struct tsb_tz *tz, int64_t utc_s, char abbr[TSB_TZ_ABBR_MAX])
{
    const struct ttype *t = type_at(tz, utc_s);
    if (abbr != NULL)
        memcpy(abbr, t->abbr, TSB_TZ_ABBR_MAX);
    return t->off;
}

void tsb_tz_civil(const struct tsb_tz *tz, int64_t ms, struct tsb_civil_time *out)
{
    int64_t s = floor_div(ms, 1000);
    memset(out, 0, sizeof(*out));
    out->ms = (int)(ms - s * 1000);
    if (tz != NULL)
        out->off = tsb_tz_offset(tz, s, out->abbr);
    else
        snprintf(out->abbr, TSB_TZ_ABBR_MAX, "UTC");
    int64_t local = s + out->off, days = floor_div(local, 86400), sod = local - days * 86400;
    tsb_civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(sod / 3600);
    out->min = (int)(sod / 60 % 60);
    out->sec = (int)(sod % 60);
}

int64_t tsb_tz_to_utc(const struct tsb_tz *tz, int64_t local_s)
{
    /* Offsets change at most once within a day around any instant of a real zone: the offsets
     * a day before and a day after are the only candidates. */
    int64_t before = local_s - tsb_tz_offset(tz, local_s - 86400, NULL);
    int64_t after = local_s - tsb_tz_offset(tz, local_s + 86400, NULL);
    bool b_ok = before + tsb_tz_offset(tz, before, NULL) == local_s;
    bool a_ok = after + tsb_tz_offset(tz, after, NULL) == local_s;
    if (b_ok && a_ok)
        return before < after ? before : after;
    if (a_ok)
        return after;
    return before; /* valid, or in a gap: read with the offset before the change */
}
