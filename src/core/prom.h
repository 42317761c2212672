/*
 * prom: writes the Prometheus text exposition format (version 0.0.4) into a tsb_buf: a HELP and
 * TYPE line per family, then its samples, label values escaped (backslash, double quote, newline).
 * Pure formatting, no state: metrics.c (tsbagd's /metrics) calls it from its HTTP thread.
 * Callers keep names to [a-zA-Z_:][a-zA-Z0-9_:]* and counters ending in _total; tsb_prom_family
 * refuses a bad name with TSB_EINVAL, so a typo shows in the unit test, not in a scrape.
 */
#ifndef TSB_PROM_H
#define TSB_PROM_H

#include "mem.h"

#include <stddef.h>
#include <stdint.h>

/* Labels of one sample: pairs of name and value, NULL-terminated ({"kind", "tcp", NULL}), or
 * NULL for none. */
typedef const char *const *tsb_prom_labels;

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram). */
int tsb_prom_family(struct tsb_buf *b, const char *name, const char *type, const char *help);
/* One sample line "name{labels} value" of an integer value. */
int tsb_prom_int(struct tsb_buf *b, const char *name, tsb_prom_labels labels, int64_t v);
/* One sample line of a real value (printed exactly enough to read back, "+Inf", "NaN"). */
int tsb_prom_real(struct tsb_buf *b, const char *name, tsb_prom_labels labels, double v);
/* The samples of one histogram: name_bucket{le=...} (cumulative, then le="+Inf"), name_sum and
 * name_count. counts has n + 1 non-cumulative counts: one per upper bound, then the overflow. */
int tsb_prom_histogram(struct tsb_buf *b, const char *name, tsb_prom_labels labels,
                       const double *bounds, const uint64_t *counts, size_t n, double sum);
/* Whether s is a valid metric (or, with label true, label) name. */
int tsb_prom_name_ok(const char *s, int label);

#endif
