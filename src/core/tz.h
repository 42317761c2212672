/*
 * tz: a zone of the system tz database (Europe/Brussels for reports and the reconciliation day)
 * read from its TZif file (RFC 8536) into a value the caller owns, and civil-calendar arithmetic.
 * Nothing here reads or sets the process's TZ or calls localtime/mktime, so any thread may use
 * it. Instants are seconds since the Unix epoch; "local seconds" are the wall-clock time of the
 * zone counted the same way (local midnight of 1970-01-01 is 0).
 */
#ifndef TSB_TZ_H
#define TSB_TZ_H

#include <stdint.h>

#define TSB_TZ_ABBR_MAX 16

struct tsb_tz;

/* Reads the zone name ("UTC" or a tz database name such as Europe/Brussels, looked up under
 * $TZDIR or /usr/share/zoneinfo). TSB_ECONFIG names what is wrong: not a zone name, no such file
 * (is tzdata installed?), not a TZif file. The caller frees *out with tsb_tz_free. */
int tsb_tz_open(const char *name, struct tsb_tz **out);
void tsb_tz_free(struct tsb_tz *tz);

/* The offset from UTC (seconds east) in force at the instant utc_s and its abbreviation ("CET",
 * "CEST"); abbr may be NULL. */
int32_t tsb_tz_offset(const struct tsb_tz *tz, int64_t utc_s, char abbr[TSB_TZ_ABBR_MAX]);

/* The instant at which the zone's clocks read local_s. A wall-clock time that occurs twice (the
 * hour repeated when daylight saving time ends) gives the earlier instant; one that never occurs
 * (the hour skipped when it starts) is read with the offset in force before the change, so 02:30
 * on the day Brussels springs forward is 01:30 UTC, 03:30 CEST (as Python's zoneinfo does with
 * fold=0; glibc's mktime agrees on skipped times and answers either for repeated ones). */
int64_t tsb_tz_to_utc(const struct tsb_tz *tz, int64_t local_s);

/* A wall-clock reading: the date, the time to the millisecond, the offset and its abbreviation. */
struct tsb_civil_time {
    int64_t year;
    int month, day, hour, min, sec, ms;
    int32_t off; /* seconds east of UTC */
    char abbr[TSB_TZ_ABBR_MAX];
};

/* What the clocks of tz (NULL: UTC) read at the instant ms (milliseconds since the epoch). */
void tsb_tz_civil(const struct tsb_tz *tz, int64_t ms, struct tsb_civil_time *out);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1-12; d may run past the end of
 * the month, as mktime allows: 2026-02-31 is 2026-03-03). */
int64_t tsb_days_from_civil(int64_t y, int m, int d);

/* The date of day number days since 1970-01-01. */
void tsb_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
