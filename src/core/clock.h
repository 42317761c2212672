/*
 * clock: the one wall clock of tsbag (milliseconds since the Unix epoch, the unit of the archive,
 * of WS-Security timestamps and of TSConsult periods) and the seal boundary derived from it.
 * Durations and timeouts use the monotonic clocks of libuv or the caller, never this one.
 */
#ifndef TSB_CLOCK_H
#define TSB_CLOCK_H

#include <stdint.h>

/* The wall time now, in milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t tsb_now_ms(void);

/* The first multiple of interval_ms strictly after now_ms (now_ms may be negative); interval_ms
 * must be > 0. The sealer arms its timer on it and tsbag status reports it as the next seal. */
int64_t tsb_next_boundary_ms(int64_t now_ms, int64_t interval_ms);

#endif
