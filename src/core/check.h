/*
 * check: the local archive check (the reference client's "checkArchive"), run by `tsbag reconcile`
 * after every consult and alone with --local-only. It reads the whole archive once and reports
 * every violation it finds, never stopping at the first: SequenceNumbers gap-free; every bag's
 * bytes re-hash to its stored digest and parse strictly as a bag with its own SequenceNumber;
 * every stamped or recovered bag's token verifies against SHA-256(bytes) with the configured TSA
 * anchors (without the live-clock skew check: bags are old) and names the serial and genTime
 * stored beside it; genTime never decreases with SequenceNumber; every journal row of a bag is
 * the JournalEntry at its position in the bag's bytes (same Ref, same hash) and every
 * JournalEntry has its row; every bag's link (sealer.chain) names the bytes of the bag before it,
 * so a bag missing, replaced or moved breaks the chain at its SequenceNumber; no row points at a
 * missing bag; stored contents re-hash to their
 * hash; and first of all, SQLite's own integrity check finds the file intact (its findings are
 * "archive-damage" violations: the file is damaged, whatever the other checks say); with the
 * [renew] anchors, every covered bag's RFC 4998 EvidenceRecord verifies for its data objects as of
 * now ("evidence": a tree path, token, renewal or expired certificate). Everything
 * after the integrity check reads one snapshot (one read transaction), so a daemon sealing
 * meanwhile cannot make it see a bag's entries without their bag. Read-only: it never changes
 * the archive.
 */
#ifndef TSB_CHECK_H
#define TSB_CHECK_H

#include "bag.h"
#include "store.h"
#include "token.h"

#include <stdint.h>

enum tsb_violation_kind {
    TSB_V_GAP,        /* SequenceNumbers missing from the chain */
    TSB_V_BAG_DIGEST, /* the bytes do not hash to the stored digest */
    TSB_V_BAG_FORMAT, /* the bytes are not a well-formed bag */
    TSB_V_BAG_HEADER, /* the bag's SequenceNumber, entry count or Ref range disagree with its row */
    TSB_V_TOKEN,      /* the token does not verify for these bytes */
    TSB_V_TOKEN_ID,   /* the token's serial or genTime disagree with the row */
    TSB_V_ORDER,      /* genTime decreases while SequenceNumber increases */
    TSB_V_ENTRY_LINK, /* journal rows and the bag's JournalEntry list disagree */
    TSB_V_ENTRY_ORPHAN,  /* a journal row points at a bag that does not exist */
    TSB_V_ENTRY_CONTENT, /* stored content does not re-hash to the entry's hash */
    TSB_V_DAMAGE,        /* SQLite's integrity check: the archive file itself is damaged */
    TSB_V_CHAIN,         /* a bag's link does not name the bag before it (missing, replaced) */
    TSB_V_EVIDENCE,      /* a bag's RFC 4998 EvidenceRecord does not verify (schema 0010) */
    TSB_V_NKINDS
};

/* "gap", "bag-digest", "bag-format", "bag-header", "token", "token-id", "order", "entry-link",
 * "entry-orphan", "entry-content", "archive-damage", "chain", "evidence". */
const char *tsb_violation_kind_name(enum tsb_violation_kind k);

struct tsb_violation {
    enum tsb_violation_kind kind;
    int64_t seq; /* the bag concerned, 0 if none */
    int64_t ref; /* the journal entry concerned, 0 if none */
    char message[512];
};

typedef void (*tsb_violation_cb)(void *arg, const struct tsb_violation *v);
typedef void (*tsb_progress_cb)(void *arg, const char *phase, int64_t done, int64_t total);

struct tsb_check_opts {
    const struct tsb_token_verifier *verifier; /* required */
    struct tsb_bag_limits limits;              /* zero: the bag parser's defaults */
    tsb_violation_cb on_violation;             /* called for each violation, in archive order */
    void *arg;                                 /* for on_violation */
    tsb_progress_cb on_progress;               /* may be NULL */
    void *progress_arg;
    int64_t first_seq; /* sealer.first_sequence: the first SequenceNumber expected; 0 means 1 */
    /* The [renew] TSA's anchors: each covered bag's EvidenceRecord (tsbag renew) is verified
     * against its data objects as of now_ms; NULL skips that check. */
    const struct tsb_token_verifier *ers_verifier;
    int64_t now_ms;
};

struct tsb_check_stats {
    int64_t bags, stamped, recovered, unstamped; /* unstamped: sealed, sent or failed */
    int64_t entries, contents;                   /* journal rows; rows with stored content */
    int64_t violations;
    int64_t damage;                   /* of the violations, those of kind TSB_V_DAMAGE */
    int64_t links, genesis, unlinked; /* bags whose link matched; chain starts; unchained bags */
    int64_t evidence;                 /* bags whose EvidenceRecord was verified (ers_verifier) */
};

/* Checks the whole archive, reporting each violation through o->on_violation. Returns 0 when the
 * check ran to the end (whatever it found: see out->violations), or when the file is damaged and
 * reading stopped there (out->damage > 0); the store's error when the archive could not be read.
 * Needs a connection with no transaction open. */
int tsb_check_archive(struct tsb_store *s, const struct tsb_check_opts *o,
                      struct tsb_check_stats *out);

#endif
