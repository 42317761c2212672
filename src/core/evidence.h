/*
 * evidence: self-contained evidence packages for auditors. A package is a folder holding, per
 * bag, the bag's exact bytes, its RFC 3161 token (DER) and the TSA chain the token verified with,
 * plus the trust anchor, the entries (SHA-256 hash, Ref, bag), optionally a range of consecutive
 * bags of the chain (bag-chain.txt), each covered bag's RFC 4998 evidence record
 * (evidence-record-<seq>.ers, listed in evidence-records.txt with its group's data objects, with
 * the archive timestamps' TSA certificates and anchors and ers-verify.py, the stand-alone
 * verifier), and a README that walks through the checks with stock tools only (sha256sum, grep,
 * openssl, python3). `tsbag verify --package` reads it back with no archive. Layout and file names
 * are fixed (docs/verify.md); the writer builds the folder under a temporary name next to the
 * target and renames it, so a package is whole or absent.
 */
#ifndef TSB_EVIDENCE_H
#define TSB_EVIDENCE_H

#include "audit.h"
#include "hash.h"

#include <stddef.h>
#include <stdint.h>

#define TSB_EVIDENCE_ENTRIES   "entries.txt"
#define TSB_EVIDENCE_README    "README.txt"
#define TSB_EVIDENCE_ANCHOR    "tsa-anchor.pem"
#define TSB_EVIDENCE_CHAIN     "bag-chain.txt"
#define TSB_EVIDENCE_RANGE_MAX 10000 /* most bags in one package's chain range */

struct tsb_evidence_entry {
    uint8_t digest[TSB_SHA256_LEN];
    int64_t ref;
    int64_t seq;
};

#define TSB_EVIDENCE_TSA2_ANCHOR "tsa2-anchor.pem"

/* A bag's second token ([tsa2]) in a package: tsa2-token-<seq>.der and tsa2-chain-<seq>.pem
 * (the chain it verified with, signer first); token NULL when the package has none for it. */
struct tsb_evidence_tsa2 {
    const uint8_t *token;
    size_t token_len;
    const uint8_t *chain_file;
    size_t chain_file_len;
    int64_t gen_time_ms;
    char serial[80];
    char subject[256];
};

#define TSB_EVIDENCE_ERS_LIST   "evidence-records.txt"
#define TSB_EVIDENCE_ERS_CERTS  "ers-tsa-certs.pem"
#define TSB_EVIDENCE_ERS_ANCHOR "ers-tsa-anchor.pem"
#define TSB_EVIDENCE_ERS_SCRIPT "ers-verify.py"

/* A bag's RFC 4998 EvidenceRecord in a package: evidence-record-<seq>.ers, whose group's data
 * objects (TSB_ERS_OBJ_*: the bag, its token, its second token) evidence-records.txt names. der
 * is NULL when the package has none for the bag (not yet covered when it was exported). */
struct tsb_evidence_er {
    const uint8_t *der;
    size_t der_len;
    unsigned members;
    /* writer only: the TSA chains its ArchiveTimeStamps verified with (PEM, any order), the
     * trust anchors they were verified with (PEM: the blocks of certs found there are written
     * as ers-tsa-anchor.pem), and what the README shows */
    const uint8_t *certs;
    size_t certs_len;
    const uint8_t *anchors;
    size_t anchors_len;
    size_t n_ats;
    int64_t first_gen_time_ms, last_gen_time_ms, last_not_after_ms;
};

/* One bag of a package: bytes, token and chain; the rest feeds the README. */
struct tsb_evidence_bag {
    struct tsb_audit_bag b; /* chain_file holds the verified chain (PEM, signer first) */
    int64_t gen_time_ms;
    char serial[80];
    char subject[256];
    char policy[80];      /* TSTInfo.policy OID */
    char imprint_alg[80]; /* "SHA-256", "SHA-384" or "SHA-512" */
    bool pss_rsa_key;     /* the README checks the signature with openssl cms, not openssl ts */
    struct tsb_evidence_tsa2 tsa2; /* the second token, if any (borrowed) */
    struct tsb_evidence_er er;     /* the evidence record, if any (borrowed) */
};

/* Writes a package folder at dir (which must not exist): bag-<seq>.xml, token-<seq>.der,
 * chain-<seq>.pem per bag (and tsa2-token-<seq>.der, tsa2-chain-<seq>.pem for a bag with a second
 * token, with tsa2-anchor.pem; evidence-record-<seq>.ers for a bag with an evidence record, with
 * evidence-records.txt, ers-tsa-certs.pem, ers-tsa-anchor.pem and ers-verify.py), tsa-anchor.pem,
 * entries.txt and README.txt. Every entry's seq must be one of the bags; an evidence record whose
 * group holds the second token needs it in the package. zone names the local time zone shown
 * next to UTC (Europe/Brussels). */
int tsb_evidence_write(const char *dir, const struct tsb_evidence_entry *e, size_t ne,
                       const struct tsb_evidence_bag *b, size_t nb, const char *zone);

/* Like tsb_evidence_write, plus a range of consecutive bags of the chain (sealer.chain): range
 * holds nr bags (bytes only) with SequenceNumbers ascending by one. Their bytes are written as
 * bag-<seq>.xml (if not already written for an entry), the range is listed in bag-chain.txt and
 * the README gains the steps that check each link with sha256sum and grep. nr 0: no range. */
int tsb_evidence_write_range(const char *dir, const struct tsb_evidence_entry *e, size_t ne,
                             const struct tsb_evidence_bag *b, size_t nb,
                             const struct tsb_audit_bag *range, size_t nr, const char *zone);

/* One bag of a package's chain range: its bytes and their SHA-256. */
struct tsb_evidence_link {
    int64_t seq;
    uint8_t *bytes;
    size_t bytes_len;
    uint8_t digest[TSB_SHA256_LEN];
};

/* A package read back from disk. */
struct tsb_evidence {
    struct tsb_evidence_entry *entries;
    size_t ne;
    struct tsb_audit_bag *bags; /* owns bytes, token, chain_file; prev_digest points into range
                                 * or digests when the package holds the previous bag */
    size_t nb;
    uint8_t (*digests)[TSB_SHA256_LEN]; /* SHA-256 of bags[i]'s bytes */
    struct tsb_evidence_link *range;    /* bag-chain.txt, ascending; NULL if none */
    size_t nr;
    struct tsb_evidence_tsa2 *tsa2; /* parallel to bags; owns token, chain_file */
    struct tsb_evidence_er *er;     /* parallel to bags; owns der (NULL: none for the bag) */
    size_t n_er;                    /* bags with an evidence record */
    uint8_t *ers_certs;             /* ers-tsa-certs.pem (NULL when absent) */
    size_t ers_certs_len;
};

/* Reads the package at dir. TSB_EFORMAT or TSB_EIO name the file and line at fault. */
int tsb_evidence_read(const char *dir, struct tsb_evidence **out);
void tsb_evidence_free(struct tsb_evidence *ev);
/* Checks the links of ev's chain range: each chained bag after the first must start with the
 * SHA-256 of the one before it (a bag without a link, sealed with sealer.chain off, is skipped).
 * Returns 0 and sets *links to the number verified, or TSB_EFORMAT with why naming the
 * SequenceNumber where the chain breaks. */
int tsb_evidence_check_range(const struct tsb_evidence *ev, size_t *links, char *why, size_t len);

/* The second token of bag seq in ev, or NULL when the package has none. */
const struct tsb_evidence_tsa2 *tsb_evidence_tsa2_get(const struct tsb_evidence *ev, int64_t seq);
/* The evidence record of bag seq in ev, or NULL when the package has none for it. */
const struct tsb_evidence_er *tsb_evidence_er_get(const struct tsb_evidence *ev, int64_t seq);
/* The data objects of er's group as files of ev (bag, token, second token), in that order, into
 * objs (3 slots); returns how many, 0 when a member is missing from the package. */
size_t tsb_evidence_er_objects(const struct tsb_evidence *ev, int64_t seq,
                               const struct tsb_evidence_er *er, struct tsb_slice objs[3]);
/* The bag seq of ev, or NULL. */
const struct tsb_audit_bag *tsb_evidence_bag_get(const struct tsb_evidence *ev, int64_t seq);

#endif
