/*
 * tsa2: the second, independent RFC 3161 TSA ([tsa2]). Every bag of the archive, oldest first,
 * gets a TimeStampReq over SHA-256(bag bytes) with a random nonce and certReq=true, posted as
 * application/timestamp-query; the reply is checked (status, nonce, imprint, then the token
 * verifier: signature, chain, ESS certificate id, policy) and the token archived in tsa2_tokens
 * (schema 0009). It shares nothing with the eHealth sender but the writer and the loop: either
 * may fail or stall without delaying the other. docs/internals/TSA2.md has the state machine.
 */
#ifndef TSB_TSA2_H
#define TSB_TSA2_H

#include "config.h"
#include "writer.h"

#include <uv.h>

struct tsb_tsa2;

/* Loads the trust anchors and credentials, creates the HTTP client and starts stamping what the
 * archive lacks (the backlog first). cfg and w must outlive it. TSB_ECONFIG names a file that
 * does not load. Only call with cfg->tsa2.url set. */
int tsb_tsa2_start(uv_loop_t *loop, const struct tsb_config *cfg, struct tsb_writer *w,
                   struct tsb_tsa2 **out);

/* New bags were sealed (loop thread): stamp them once the current request is done. */
void tsb_tsa2_kick(struct tsb_tsa2 *t);

/* Cancels the request in flight (its bag is stamped after the next start), closes everything,
 * frees t, then calls stopped. */
void tsb_tsa2_stop(struct tsb_tsa2 *t, void (*stopped)(void *arg), void *arg);

#endif
