/*
 * sealer: seals staged journal entries into TimeStampBags at every wall-clock multiple of
 * sealer.interval_s (00:00, 00:05, ... with the default 300 s) and whenever a SEAL request asks.
 * The seal itself is a writer job (tsb_store_seal: bag bytes and SequenceNumbers committed before
 * anything is sent); after each seal that made bags the sender is kicked. Loop thread only.
 */
#ifndef TSB_SEALER_H
#define TSB_SEALER_H

#include "config.h"
#include "ingest.h"
#include "sender.h"
#include "tsa2.h"
#include "writer.h"

#include <stdint.h>
#include <uv.h>

struct tsb_sealer;

/* Starts the boundary timer. cfg, w and sender (may be NULL) must outlive the sealer. */
int tsb_sealer_start(uv_loop_t *loop, const struct tsb_config *cfg, struct tsb_writer *w,
                     struct tsb_sender *sender, struct tsb_sealer **out);

/* Kicks tsa2 (the second TSA; NULL: none) after each seal that made bags, like the sender. */
void tsb_sealer_set_tsa2(struct tsb_sealer *s, struct tsb_tsa2 *tsa2);

/* The SEAL request hook for tsb_ingest_set_seal_hook (arg is the sealer). */
void tsb_sealer_seal_hook(void *arg, tsb_seal_done_fn done, void *req);

/* Stops the timer; seals already submitted complete first. Frees the sealer, then stopped. */
void tsb_sealer_stop(struct tsb_sealer *s, void (*stopped)(void *arg), void *arg);

#endif
