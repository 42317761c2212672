/*
 * sender: sends sealed bags to the TimeStampAuthority one at a time, lowest unstamped
 * SequenceNumber first, and archives a stamp only after its token verified. The attempt is marked
 * sent (committed) before the request leaves; every resend carries the same bag bytes with a new
 * RequestID; transient failures back off exponentially with jitter, definitive ones are recorded
 * and retried or held according to tsa.retry_rejected. Also raises the unstamped-age alarm.
 * docs/internals/SENDER.md has the state machine and the crash points. Loop thread only.
 */
#ifndef TSB_SENDER_H
#define TSB_SENDER_H

#include "config.h"
#include "writer.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct tsb_sender;

/* Loads the hospital keystore and the TSA trust anchors (errors name the file), creates the HTTPS
 * client and starts with whatever the archive holds unstamped (a restart resumes). cfg and w must
 * outlive the sender. */
int tsb_sender_start(uv_loop_t *loop, const struct tsb_config *cfg, struct tsb_writer *w,
                     struct tsb_sender **out);

/* New bags were sealed: start sending if idle (a backoff in progress is not cut short). */
void tsb_sender_kick(struct tsb_sender *s);

/* True while the oldest unstamped entry is older than sealer.unstamped_alarm_s. */
bool tsb_sender_alarm(const struct tsb_sender *s);

/* Stops: a request in flight is abandoned (the bag stays sent and is resent after the next
 * start), jobs already queued complete first. Frees the sender, then calls stopped. */
void tsb_sender_stop(struct tsb_sender *s, void (*stopped)(void *arg), void *arg);

#endif
