/*
 * audit: the auditor's verification of journal entries, for `tsbag verify` and `tsbag export`.
 * For one entry it runs, in a fixed order, every check that proves the prescription existed
 * unchanged at the stamp's time: the document's hash (when a document was given), the stored
 * content (when kept), the entry's Hash+Ref in the bag's exact bytes, then every RFC 3161 token
 * check of token.c over SHA-256 of those bytes (audit mode: genTime is not compared with today's
 * clock), and for an evidence package that its certificate file is the verified chain. The
 * verdict is VALID only when every check that ran passed; the first failure is named.
 *
 * A bag's parse and token verification are cached for the last bag seen, so a period walked in
 * Ref order costs one token verification per bag. Reads only: the archive is opened read-only by
 * the caller. Pure core: no network, no event loop.
 */
#ifndef TSB_AUDIT_H
#define TSB_AUDIT_H

#include "hash.h"
#include "mem.h"
#include "store.h"
#include "token.h"

#include <stdbool.h>
#include <stdint.h>

enum tsb_verdict {
    TSB_VERDICT_VALID,
    TSB_VERDICT_INVALID,
    TSB_VERDICT_NOT_FOUND,
    TSB_VERDICT_NOT_STAMPED,
};
/* "VALID", "INVALID", "NOT FOUND", "NOT YET STAMPED". */
const char *tsb_verdict_name(enum tsb_verdict v);

/* The checks, in the order they are reported; the token's checks sit at TSB_ACHK_TOKEN + c. */
enum {
    TSB_ACHK_DOCUMENT = 0,                /* SHA-256 of the given document = entry hash */
    TSB_ACHK_CONTENT = 1,                 /* stored content re-hashes to the entry hash */
    TSB_ACHK_IN_BAG = 2,                  /* Hash+Ref listed in the bag's exact bytes */
    TSB_ACHK_TOKEN = 3,                   /* first of TSB_TCHK_N token checks */
    TSB_ACHK_CHAIN_FILE = 3 + TSB_TCHK_N, /* package: certificate file = verified chain */
    TSB_ACHK_N
};
/* Short name of check c ("entry in bag", "CMS signature", ...). */
const char *tsb_audit_check_name(int c);
/* Stable identifier of check c for JSON ("entry_in_bag", "cms_signature", ...). */
const char *tsb_audit_check_id(int c);
/* What a failure of check c means for the evidence, in words for a non-engineer. */
const char *tsb_audit_check_meaning(int c);

struct tsb_audit_result {
    enum tsb_verdict verdict;
    int failed; /* first failing check, -1 if none */
    enum tsb_check_outcome outcome[TSB_ACHK_N];
    char message[TSB_ACHK_N][TSB_TOKEN_MSG_MAX];
    char note[TSB_TOKEN_MSG_MAX]; /* NOT FOUND / NOT YET STAMPED: why, in words */
    bool have_entry;              /* the fields below are known */
    uint8_t digest[TSB_SHA256_LEN];
    int64_t ref;
    int64_t bag_seq;          /* 0 while staged */
    char tsa_serial[80];      /* "" when unknown */
    int64_t gen_time_ms;      /* 0 when unknown */
    char tsa_subject[256];    /* "" when unknown */
    int64_t tsa_not_after_ms; /* the token's signer certificate's notAfter, 0 when unknown */
    char tsa_policy[80];      /* TSTInfo.policy OID, "" when unknown */
    char imprint_alg[80];     /* the token's messageImprint algorithm, "" when unknown */
    bool pss_rsa_key;         /* see tsb_token_result */
    uint8_t bag_digest[TSB_SHA256_LEN];
    bool have_bag; /* bag_digest is known */
    /* the bag's place in the chain (sealer.chain), shown beside the verdict, never part of it:
     * link is an enum tsb_link, or TSB_AUDIT_LINK_UNKNOWN when the previous bag is not at hand
     * (a package without it); link_msg says it in words, "" when the bag was not read */
    int link;
    char link_msg[TSB_TOKEN_MSG_MAX];
};

#define TSB_AUDIT_LINK_UNKNOWN (-1)

/* A bag as the auditor sees it: exact bytes and token, from the archive or a package. */
struct tsb_audit_bag {
    int64_t seq;
    const uint8_t *bytes;
    size_t bytes_len;
    const uint8_t *token; /* DER, NULL if none */
    size_t token_len;
    const uint8_t *chain_file; /* package: its certificate file, NULL otherwise */
    size_t chain_file_len;
    /* the previous SequenceNumber's bag, for the link: prev_digest is the SHA-256 of its bytes;
     * NULL with prev_absent: there is no such bag (archive); NULL alone: not at hand (package) */
    const uint8_t *prev_digest;
    bool prev_absent;
};

struct tsb_audit;

/* An auditor over the TSA trust anchors in anchors_pem (PEM file), with the untrusted TSA
 * certificates tsa_certs (PEM file or NULL) and the accepted policies policy_oids (see
 * tsb_token_verifier_set_policies; NULL accepts any). TSB_ECONFIG names what is wrong. */
int tsb_audit_new(const char *anchors_pem, const char *tsa_certs, const char *policy_oids,
                  struct tsb_audit **out);
void tsb_audit_free(struct tsb_audit *a);

/* Verifies entry e of archive s. doc_digest: SHA-256 of a document the auditor gave, or NULL.
 * Fills res (any verdict) and returns 0; a negative code only when the archive could not be read
 * (res is then meaningless). */
int tsb_audit_archive_entry(struct tsb_audit *a, struct tsb_store *s, const struct tsb_entry_rec *e,
                            const uint8_t *doc_digest, struct tsb_audit_result *res);

/* Verifies that the entry (digest, ref) is proven by bag b (package mode, or a caller that loaded
 * the bag itself). doc_digest may be NULL. Always fills res; returns 0. */
int tsb_audit_bag_entry(struct tsb_audit *a, const struct tsb_audit_bag *b,
                        const uint8_t digest[TSB_SHA256_LEN], int64_t ref,
                        const uint8_t *doc_digest, struct tsb_audit_result *res);

/* Fills res as NOT FOUND with note. */
void tsb_audit_not_found(struct tsb_audit_result *res, const char *note);

/* The verified TSA chain (PEM, signer first) of the last bag verified, "" if its chain did not
 * verify. Valid until the next call on a; for evidence packages. */
const struct tsb_buf *tsb_audit_last_chain(const struct tsb_audit *a);

#endif
