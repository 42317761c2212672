/*
 * audit2: the auditor's verdict on a bag's second token ([tsa2]), shown beside the eHealth
 * verdict by `tsbag verify` and checked by `tsbag export`. The token must pass every check of
 * token.c over the bag's exact bytes (audit mode: genTime is not compared with today's clock)
 * against the second TSA's own anchors, certificates and policies. The eHealth token stays the
 * legal evidence: this verdict only changes the entry's verdict with --require-tsa2 (the caller's
 * decision). Pure core: no network, no archive.
 */
#ifndef TSB_AUDIT2_H
#define TSB_AUDIT2_H

#include "mem.h"
#include "token.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tsb_second_verdict {
    TSB_SECOND_VALID,
    TSB_SECOND_INVALID,   /* a check failed: reason names it */
    TSB_SECOND_MISSING,   /* the bag has no second token */
    TSB_SECOND_UNCHECKED, /* no second-TSA anchors were given */
};
/* "VALID", "INVALID", "MISSING", "NOT CHECKED". */
const char *tsb_second_verdict_name(enum tsb_second_verdict v);
/* "valid", "invalid", "missing", "not_checked" (JSON). */
const char *tsb_second_verdict_id(enum tsb_second_verdict v);

struct tsb_second_result {
    enum tsb_second_verdict verdict;
    char reason[TSB_TOKEN_MSG_MAX + 64]; /* why it is not VALID; what passed otherwise */
    char serial[80];
    int64_t gen_time_ms; /* 0 when unknown */
    char tsa_subject[256];
    char policy[80];
};

struct tsb_audit2;

/* A checker over the second TSA's anchors (PEM file; NULL or "": every verdict is NOT CHECKED),
 * untrusted certificates and policies (NULL or "": none, any). TSB_ECONFIG names a bad file. */
int tsb_audit2_new(const char *anchors_pem, const char *tsa_certs, const char *policy_oids,
                   struct tsb_audit2 **out);
void tsb_audit2_free(struct tsb_audit2 *a);
/* Whether a was given anchors (second tokens are checked). */
bool tsb_audit2_enabled(const struct tsb_audit2 *a);

/* The verdict on token (DER, NULL when the bag has none) over the bag bytes. extra_pem: untrusted
 * certificates (a package's tsa2-chain file), may be NULL. chain_pem, when non-NULL, receives the
 * verified chain (PEM) of a VALID token. Always fills out. */
void tsb_audit2_check(const struct tsb_audit2 *a, int64_t seq, const uint8_t *bytes, size_t len,
                      const uint8_t *token, size_t token_len, const uint8_t *extra_pem,
                      size_t extra_len, struct tsb_buf *chain_pem, struct tsb_second_result *out);

#endif
