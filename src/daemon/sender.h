/*
 * sender: sends sealed bags to the TimeStampAuthority one at a time, lowest unstamped
 * SequenceNumber first, and archives a stamp only after its token verified. The attempt is marked
 * sent (committed) before the request leaves; every resend carries the same bag bytes with a new
 * RequestID; transient failures back off exponentially with jitter, definitive ones (and a
 * suspect answer that fails the same way twice) hold the bag until an operator's `tsbag retry`.
 * Also raises the unstamped-age alarm and drives the fail-closed mode.
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

/* tsbag retry (ingest's RETRY hook; arg is the sender): releases the held bag, or cuts a backoff
 * short. seq 0 means whichever bag it is. 0 with *released = its seq, or 0 when nothing is held
 * or waiting; TSB_EINVAL (the detail names the bag that is) when seq names another bag. */
int tsb_sender_retry(void *arg, int64_t seq, int64_t *released);

/* Fail-closed mode (ingest's refuse hook): true, with why, while sealer.refuse_after_unstamped_s
 * is set and the oldest unstamped entry is older (as of the last archive statistics). */
bool tsb_sender_refusing(void *arg, char *why, size_t why_len);

/* Reload, loop thread: loads the token verifier (tsa.trust_anchors, tsa_certs, policy_oids) and
 * the keystore named by next, which the sender takes over between attempts, never while a BUILD or
 * CHECK work item uses the current ones (docs/internals/SENDER.md). A keystore whose password came
 * from the environment (wiped at start) is kept. On an error (naming the file) nothing changes. */
int tsb_sender_reload(struct tsb_sender *s, const struct tsb_config *next);

/* Reload, loop thread: the running configuration (cfg given to tsb_sender_start) changed in
 * place; re-arms the alarm check for the new thresholds. */
void tsb_sender_reconfigured(struct tsb_sender *s);

/* Stops: a request in flight is abandoned (the bag stays sent and is resent after the next
 * start), jobs already queued complete first. Frees the sender, then calls stopped. */
void tsb_sender_stop(struct tsb_sender *s, void (*stopped)(void *arg), void *arg);

#endif
