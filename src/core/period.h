/*
 * period: reconciliation periods. A reconciliation day is midnight to midnight in a named time
 * zone from the tz database (default Europe/Brussels), expressed as inclusive bounds in
 * milliseconds since the Unix epoch, the unit of TSConsult's Period. A day is 23, 24 or 25 hours
 * long depending on daylight saving time. Zones are read by tz.h: no TZ switching, any thread.
 */
#ifndef TSB_PERIOD_H
#define TSB_PERIOD_H

#include <stddef.h>
#include <stdint.h>

struct tsb_date {
    int year, month, day; /* month 1-12, day 1-31 */
};

/* Checks that tz names a zone of the installed tz database (a readable TZif file under $TZDIR or
 * /usr/share/zoneinfo, or "UTC"); TSB_ECONFIG otherwise (the C library would silently use UTC). */
int tsb_period_check_tz(const char *tz);

/* Inclusive ms bounds of the local day d in tz: [local midnight, next local midnight - 1]. */
int tsb_period_day(const char *tz, struct tsb_date d, int64_t *from_ms, int64_t *to_ms);

/* The local date in tz of the instant ms. */
int tsb_period_date_of(const char *tz, int64_t ms, struct tsb_date *out);

/* The day after d (calendar arithmetic, no time zone). */
struct tsb_date tsb_date_next(struct tsb_date d);

/* Parses "YYYY-MM-DD" (a valid calendar date); TSB_EINVAL names what is wrong. */
int tsb_date_parse(const char *s, struct tsb_date *out);

/* Writes "YYYY-MM-DD" into out[16]. */
void tsb_date_format(struct tsb_date d, char out[16]);

/* Formats ms as local ISO-8601 in tz with its UTC offset ("2026-03-29T00:00:00.000+01:00")
 * into out[64]. */
int tsb_period_format_local(const char *tz, int64_t ms, char out[64]);

#endif
