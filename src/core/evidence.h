/*
 * evidence: self-contained evidence packages for auditors. A package is a folder holding, per
 * bag, the bag's exact bytes, its RFC 3161 token (DER) and the TSA chain the token verified with,
 * plus the trust anchor, the entries (SHA-256 hash, Ref, bag) and a README that walks through the
 * checks with stock tools only (sha256sum, grep, openssl). `tsbag verify --package` reads it back
 * with no archive. Layout and file names are fixed (docs/verify.md); the writer builds the folder
 * under a temporary name next to the target and renames it, so a package is whole or absent.
 */
#ifndef TSB_EVIDENCE_H
#define TSB_EVIDENCE_H

#include "audit.h"
#include "hash.h"

#include <stddef.h>
#include <stdint.h>

#define TSB_EVIDENCE_ENTRIES "entries.txt"
#define TSB_EVIDENCE_README  "README.txt"
#define TSB_EVIDENCE_ANCHOR  "tsa-anchor.pem"

struct tsb_evidence_entry {
    uint8_t digest[TSB_SHA256_LEN];
    int64_t ref;
    int64_t seq;
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
};

/* Writes a package folder at dir (which must not exist): bag-<seq>.xml, token-<seq>.der,
 * chain-<seq>.pem per bag, tsa-anchor.pem, entries.txt and README.txt. Every entry's seq must be
 * one of the bags. zone names the local time zone shown next to UTC (Europe/Brussels). */
int tsb_evidence_write(const char *dir, const struct tsb_evidence_entry *e, size_t ne,
                       const struct tsb_evidence_bag *b, size_t nb, const char *zone);

/* A package read back from disk. */
struct tsb_evidence {
    struct tsb_evidence_entry *entries;
    size_t ne;
    struct tsb_audit_bag *bags; /* owns bytes, token, chain_file */
    size_t nb;
};

/* Reads the package at dir. TSB_EFORMAT or TSB_EIO name the file and line at fault. */
int tsb_evidence_read(const char *dir, struct tsb_evidence **out);
void tsb_evidence_free(struct tsb_evidence *ev);
/* The bag seq of ev, or NULL. */
const struct tsb_audit_bag *tsb_evidence_bag_get(const struct tsb_evidence *ev, int64_t seq);

#endif
