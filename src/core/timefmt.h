/*
 * timefmt: instants (milliseconds since the Unix epoch, as archived) written for people, in UTC
 * and in a named time zone from the system tz database (Europe/Brussels for reports and the
 * reconciliation day), and read back from the command line (whole local days via period.h).
 * Zones are read by tz.h without touching the process's TZ: safe in any thread.
 */
#ifndef TSB_TIMEFMT_H
#define TSB_TIMEFMT_H

#include <stdbool.h>
#include <stdint.h>

#define TSB_TIME_STR_MAX 64

/* "2026-11-28T10:00:00.123Z". */
void tsb_time_utc(int64_t ms, char out[TSB_TIME_STR_MAX]);

/* "2026-11-28T10:00:00Z": the same, to the second (truncated), for status lines. */
void tsb_time_utc_s(int64_t ms, char out[TSB_TIME_STR_MAX]);

/* "2026-11-28 11:00:00.123 CET (UTC+01:00)" in zone (a tz database name, e.g. Europe/Brussels).
 * TSB_ECONFIG when the zone is not in the tz database (glibc would silently use UTC). */
int tsb_time_zone(int64_t ms, const char *zone, char out[TSB_TIME_STR_MAX]);

/* Reads an instant: milliseconds since the epoch (digits only), "YYYY-MM-DD" (midnight in zone,
 * or with end_of_day the last millisecond of that day), or "YYYY-MM-DDTHH:MM[:SS[.fff]]" followed
 * by "Z", "+HH:MM"/"-HH:MM", or nothing (a wall-clock time in zone: a time that occurs twice when
 * daylight saving time ends is the earlier instant, one skipped when it starts is read with the
 * offset before the change; see tsb_tz_to_utc). TSB_EINVAL names what is wrong. */
int tsb_time_parse(const char *s, const char *zone, bool end_of_day, int64_t *out_ms);

#endif
