/*
 * finding: when a TSA answer breaks one of tsbag's assumptions, say what the TSA did instead. The
 * public eHealth material leaves open what a token's messageImprint covers, whether tokens carry
 * certificates and which signature scheme they use; a token that fails verification is examined
 * here so that the operator (and eHealth) read "the imprint covers the base64 text that was sent"
 * rather than only "imprint mismatch". Each finding has a stable key (bag_attempts.finding) and a
 * sentence. Pure core: no network, no archive; the sender calls it on its thread-pool step.
 */
#ifndef TSB_FINDING_H
#define TSB_FINDING_H

#include <stddef.h>
#include <stdint.h>

#define TSB_FINDING_KEY_MAX  96
#define TSB_FINDING_TEXT_MAX 400

struct tsb_finding {
    char key[TSB_FINDING_KEY_MAX];   /* e.g. "imprint:sha256:base64-text"; "" when none */
    char text[TSB_FINDING_TEXT_MAX]; /* one sentence naming what the TSA did */
};

/* What a request offered the TSA to stamp. */
struct tsb_finding_request {
    const uint8_t *bag; /* the exact bag bytes */
    size_t bag_len;
    const uint8_t *msg; /* the SOAP request as sent (NULL: only the bag candidates are tried) */
    size_t msg_len;
    size_t max_len; /* parser cap for the request and the bag */
};

/* Computes the token's own imprint algorithm over every candidate (the bag bytes, the base64
 * text that was sent, the exc-c14n of the bag document, of the dss:SignRequest element and of
 * the SOAP Body, the whole request) and names the one the imprint matches: key
 * "imprint:<algorithm>:<candidate>", or "imprint:<algorithm>:none". TSB_EFORMAT when the token
 * cannot be read (out untouched). */
int tsb_finding_imprint(const uint8_t *der, size_t len, const struct tsb_finding_request *rq,
                        struct tsb_finding *out);

/* Looks at how the token was made: "token:no-certificates" (the signer certificate must come
 * from configuration) or "signature:rsassa-pss"; out->key stays "" when nothing is unusual. */
void tsb_finding_token_shape(const uint8_t *der, size_t len, struct tsb_finding *out);

#endif
