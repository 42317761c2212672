/*
 * ers: RFC 4998 Evidence Record Syntax, the pure part: hash trees over data objects, reduced hash
 * trees, the DER of ArchiveTimeStamp / ArchiveTimeStampChain / ArchiveTimeStampSequence /
 * EvidenceRecord (the ASN.1 module is IMPLICIT TAGS), the leaves of timestamp renewal (§5.2) and
 * hash-tree renewal (§5.2 steps 1-5, verified by §5.3), and the verifier of a whole EvidenceRecord
 * against its data objects. No archive, no network: the archive side (renew) builds trees and
 * stores what these functions return; the auditor side (export, verify --package) decodes and
 * verifies. docs/internals/ERS.md gives the byte-level rules with a worked example.
 *
 * Invariants: every hash is the full digest of its algorithm (no truncation); every list that is
 * hashed is sorted in binary ascending order (memcmp) and concatenated, duplicates kept; decoded
 * structures point into the caller's DER buffer, which must outlive them; the decoder refuses
 * input past its limits (struct tsb_ers_limits) before allocating for it.
 *
 * API changes since first published: struct tsb_ers_limits.max_total_hashes and
 * struct tsb_ers_verify_result.rehash_sorted added, max_der default 8 MiB; the verifier's sentence
 * counts chains, ATSs and objects from 1 (the result's fields still from 0).
 *
 * Two readings of RFC 4998 that are easy to get wrong, as tsbag implements them:
 * - the timestamp renewal leaf is H(the previous ArchiveTimeStamp's timeStamp field), i.e. the
 *   hash of the previous token's DER ContentInfo, tag and length included (§5.2 "the content of
 *   the timeStamp field of the old Archive Timestamp has to be hashed"), not of the whole ATS;
 * - the hash-tree renewal value is h' = H(h(d) || ha) in that order (§5.2 step 4's formula); the
 *   verifier also accepts the sorted pair that §5.2's Figure 4 shows, and says which it found.
 */
#ifndef TSB_ERS_H
#define TSB_ERS_H

#include "mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tsb_token_verifier;

/* Hash algorithms of trees and ArchiveTimeStamps. The values are stable (they may be stored). */
enum tsb_ers_alg {
    TSB_ERS_ALG_NONE = 0,
    TSB_ERS_SHA256 = 1, /* 2.16.840.1.101.3.4.2.1, 32 bytes */
    TSB_ERS_SHA384 = 2, /* 2.16.840.1.101.3.4.2.2, 48 bytes */
    TSB_ERS_SHA512 = 3, /* 2.16.840.1.101.3.4.2.3, 64 bytes */
};

#define TSB_ERS_HASH_MAX 64 /* the longest digest (SHA-512) */

/* Digest length in bytes, 0 for TSB_ERS_ALG_NONE or an unknown value. */
size_t tsb_ers_alg_len(enum tsb_ers_alg alg);
/* "sha256", "sha384", "sha512" (configuration and CLI spelling), "none" otherwise. */
const char *tsb_ers_alg_name(enum tsb_ers_alg alg);
/* Dotted OID text ("2.16.840.1.101.3.4.2.1"), "" for none. */
const char *tsb_ers_alg_oid(enum tsb_ers_alg alg);
/* Parses "sha256"/"sha384"/"sha512" (also "SHA-256" ...). TSB_EALGORITHM names the refused word
 * and the accepted ones. */
int tsb_ers_alg_parse(const char *s, enum tsb_ers_alg *out);

/* H(p[0..len)) into out (tsb_ers_alg_len(alg) bytes). TSB_EALGORITHM, TSB_ECRYPTO. */
int tsb_ers_digest(enum tsb_ers_alg alg, const uint8_t *p, size_t len, uint8_t *out);

/* ---- data objects and groups (§4.2 steps 2-3) ---- */

/* Hashes n objects: out[i * len .. (i+1) * len) = H(objs[i]), in the given order. */
int tsb_ers_hash_objects(enum tsb_ers_alg alg, const struct tsb_slice *objs, size_t n,
                         uint8_t *out);

/* The leaf of a data object group from its n member hashes (n * len bytes, any order): for n == 1
 * the member hash itself, for n >= 2 H(sorted concatenation of the members). TSB_EINVAL for n 0. */
int tsb_ers_group_leaf(enum tsb_ers_alg alg, const uint8_t *member_hashes, size_t n, uint8_t *leaf);

/* ---- hash trees (§4.2 step 4) ---- */

/* A binary hash tree over n leaves in the caller's order: level 0 is the leaves, each higher
 * level pairs nodes (0,1), (2,3), ... into H(sorted(a, b)); an odd last node is carried up
 * unchanged (it gets no list of its own in a reduced hash tree). The root of a one-leaf tree is
 * that leaf. Memory: about 2 * n * len bytes. */
struct tsb_ers_tree;

#define TSB_ERS_TREE_MAX_LEAVES (1u << 22) /* 4 194 304: far above renew.max_tree_leaves */

/* Builds the tree over n leaves (n * tsb_ers_alg_len(alg) bytes, copied). TSB_EINVAL for n 0,
 * TSB_ETOOBIG past TSB_ERS_TREE_MAX_LEAVES, TSB_EALGORITHM, TSB_ECRYPTO. */
int tsb_ers_tree_new(enum tsb_ers_alg alg, const uint8_t *leaves, size_t n,
                     struct tsb_ers_tree **out);
void tsb_ers_tree_free(struct tsb_ers_tree *t);
size_t tsb_ers_tree_leaves(const struct tsb_ers_tree *t);
enum tsb_ers_alg tsb_ers_tree_alg(const struct tsb_ers_tree *t);
/* The root (tsb_ers_alg_len bytes, owned by the tree): what the RFC 3161 request stamps as its
 * messageImprint (hashedMessage = root, hashAlgorithm = the tree's algorithm). */
const uint8_t *tsb_ers_tree_root(const struct tsb_ers_tree *t);

/* Appends to der the reduced hash tree of leaf i: the DER of SEQUENCE OF PartialHashtree (tag
 * 0x30, universal; tsb_ers_ats_encode re-tags it [2]). The first PartialHashtree is, for a group
 * (n_members >= 2), exactly the members' hashes (member_hashes, n_members * len bytes, whose group
 * leaf must be leaf i: TSB_EINVAL otherwise), else leaf i and its sibling; each further one holds
 * the sibling of the node reached (none for a node carried up). A one-leaf tree without a group
 * has no lists: der gets the empty SEQUENCE 30 00, which tsb_ers_ats_encode omits. */
int tsb_ers_tree_reduced(const struct tsb_ers_tree *t, size_t i, const uint8_t *member_hashes,
                         size_t n_members, struct tsb_buf *der);

/* ---- renewal leaves (§5.2) ---- */

/* Timestamp renewal: leaf = H(prev_token), the DER of the previous ArchiveTimeStamp's timeStamp
 * field (the token as the archive stores it), with the chain's algorithm. One object, no group.
 * Every bag of one tree shares that tree's token, hence the same renewal leaf: a renewal tree
 * needs one leaf per distinct previous token (tree), not one per bag. */
int tsb_ers_renewal_leaf(enum tsb_ers_alg alg, const uint8_t *prev_token, size_t len,
                         uint8_t *leaf);

/* Hash-tree renewal: transforms the n member hashes h(d) (new algorithm, n * len bytes) into
 * h' = H(h(d) || ha) with ha = H(seq_der), seq_der being the DER ArchiveTimeStampSequence of every
 * chain so far (tsb_ers_sequence_encode). out may equal member_hashes. The bag's leaf is then
 * tsb_ers_group_leaf over the transformed hashes, which are also the first PartialHashtree. */
int tsb_ers_rehash_members(enum tsb_ers_alg alg, const uint8_t *seq_der, size_t seq_len,
                           const uint8_t *member_hashes, size_t n, uint8_t *out);

/* ---- encoding ---- */

/* Appends an ArchiveTimeStamp: SEQUENCE { digestAlgorithm [0] (always written, parameters
 * absent), reducedHashtree [2] (omitted when rht_der is NULL or the empty SEQUENCE), timeStamp
 * (token, a DER ContentInfo, copied as is) }. rht_der is tsb_ers_tree_reduced's output.
 * TSB_EFORMAT when rht_der or token is not one well-formed DER element. */
int tsb_ers_ats_encode(enum tsb_ers_alg alg, const uint8_t *rht_der, size_t rht_len,
                       const uint8_t *token, size_t token_len, struct tsb_buf *out);

/* A chain as its ArchiveTimeStamps' DER, oldest first. */
struct tsb_ers_chain_in {
    const struct tsb_slice *ats;
    size_t n;
};

/* Appends the ArchiveTimeStampSequence (SEQUENCE OF ArchiveTimeStampChain, each a SEQUENCE OF
 * ArchiveTimeStamp) of n chains, oldest first; each ATS is copied as is. n may be 0 (30 00). */
int tsb_ers_sequence_encode(const struct tsb_ers_chain_in *chains, size_t n, struct tsb_buf *out);

/* Appends an EvidenceRecord: SEQUENCE { version 1, digestAlgorithms (each distinct algorithm of
 * the ATSs in order of first use), archiveTimeStampSequence } of n >= 1 chains, no cryptoInfos or
 * encryptionInfo. Each ATS is decoded to learn its algorithm: TSB_EFORMAT names a bad one. */
int tsb_ers_record_encode(const struct tsb_ers_chain_in *chains, size_t n, struct tsb_buf *out);

/* ---- decoding ---- */

/* Caps on what a decoder accepts from untrusted input; a zero field takes its default. */
struct tsb_ers_limits {
    size_t max_der;          /* whole EvidenceRecord, bytes (default 8 MiB) */
    size_t max_chains;       /* ArchiveTimeStampChains (default 64) */
    size_t max_ats;          /* ArchiveTimeStamps in one chain (default 1024) */
    size_t max_lists;        /* PartialHashtrees in one reduced hash tree (default 64) */
    size_t max_hashes;       /* hash values in one PartialHashtree (default 256) */
    size_t max_total_ats;    /* ArchiveTimeStamps in the whole record (default 4096) */
    size_t max_total_hashes; /* hash values in the whole record (default 262 144) */
};

struct tsb_ers_list {
    const struct tsb_slice *hash; /* n hash values (OCTET STRING contents) */
    size_t n;
};

struct tsb_ers_ats {
    struct tsb_slice der;      /* the whole ArchiveTimeStamp */
    size_t offset;             /* of der in the decoded input */
    enum tsb_ers_alg alg;      /* digestAlgorithm; TSB_ERS_ALG_NONE when the field is absent */
    char alg_oid[80];          /* its OID text, also when not one of ours ("" when absent) */
    bool has_attributes;       /* [1] present (kept opaque, not interpreted) */
    struct tsb_ers_list *list; /* reducedHashtree, n_lists lists (0: the field is absent) */
    size_t n_lists;
    struct tsb_slice token; /* timeStamp: the DER ContentInfo, tag and length included */
};

struct tsb_ers_chain {
    struct tsb_slice der; /* the whole ArchiveTimeStampChain */
    struct tsb_ers_ats *ats;
    size_t n;
};

struct tsb_ers_record {
    long version;
    enum tsb_ers_alg *digest_algs; /* digestAlgorithms; NONE for an OID not ours */
    size_t n_digest_algs;
    bool has_crypto_infos, has_encryption_info; /* [0], [1]: kept opaque */
    struct tsb_slice seq_der;                   /* the whole ArchiveTimeStampSequence */
    struct tsb_ers_chain *chain;
    size_t n_chains;
};

/* Decodes one ArchiveTimeStamp (DER, strict: definite lengths, minimal length octets, nothing
 * after it) into out, pointing into der. TSB_EFORMAT names the field and its byte offset;
 * TSB_ETOOBIG a limit. Release with tsb_ers_ats_cleanup. lim may be NULL. */
int tsb_ers_ats_decode(const uint8_t *der, size_t len, const struct tsb_ers_limits *lim,
                       struct tsb_ers_ats *out);
void tsb_ers_ats_cleanup(struct tsb_ers_ats *a);

/* Decodes an EvidenceRecord; *out points into der (which must outlive it). Errors as above. */
int tsb_ers_record_decode(const uint8_t *der, size_t len, const struct tsb_ers_limits *lim,
                          struct tsb_ers_record **out);
void tsb_ers_record_free(struct tsb_ers_record *r);

/* Walks a reduced hash tree from the first list to the root (§4.3 step 3): h = H(sorted list 0),
 * then for each further list h = H(sorted(list k + {h})). root gets tsb_ers_alg_len(alg) bytes.
 * A tree without lists has no root of its own: TSB_EINVAL (the object hash is then the root). */
int tsb_ers_ats_root(enum tsb_ers_alg alg, const struct tsb_ers_ats *a, uint8_t *root);

/* ---- verification (§4.3, §5.3) ---- */

enum tsb_ers_fail {
    TSB_ERS_OK = 0,
    TSB_ERS_FAIL_FORMAT,    /* malformed DER (offset), or a structure the RFC forbids */
    TSB_ERS_FAIL_LIMIT,     /* over a decoder limit */
    TSB_ERS_FAIL_ALGORITHM, /* unknown algorithm, or algorithms mixed within a chain */
    TSB_ERS_FAIL_OBJECT,    /* a data object's hash is not in the first partial hash tree */
    TSB_ERS_FAIL_GROUP,     /* the first partial hash tree holds a hash of no given object */
    TSB_ERS_FAIL_ROOT,      /* the computed root differs from the token's messageImprint */
    TSB_ERS_FAIL_TOKEN,     /* token signature / chain at genTime / policy / ESS / EKU */
    TSB_ERS_FAIL_RENEWAL,   /* an ATS does not cover the previous ATS's timeStamp (§5.2) */
    TSB_ERS_FAIL_ORDER,     /* an ATS's genTime is before the previous one's */
    TSB_ERS_FAIL_LATE,      /* renewed after the previous ATS's TSA certificate expired */
    TSB_ERS_FAIL_EXPIRED,   /* the latest ATS's TSA certificate is not valid at the time */
    TSB_ERS_FAIL_FUTURE,    /* an ATS's genTime is after the verification time */
    TSB_ERS_FAIL_INTERNAL,  /* no verdict: OpenSSL could not allocate / digest */
};

/* "ok", "format", "limit", "algorithm", "object", "group", "root", "token", "renewal", "order",
 * "late", "expired", "future", "internal": stable words for reports and tests. */
const char *tsb_ers_fail_name(enum tsb_ers_fail f);

#define TSB_ERS_MSG_MAX 512

struct tsb_ers_verify_result {
    enum tsb_ers_fail fail;
    long chain, ats, object;   /* where it failed, 0-based; -1 when not about one */
    size_t offset;             /* byte offset in the ER of the failing element (or decode error) */
    char msg[TSB_ERS_MSG_MAX]; /* what failed and why; counts chains, ATSs, objects from 1 */
    /* Filled as verification proceeds (complete when fail is OK): */
    size_t n_chains, n_ats;
    int64_t first_gen_time_ms;    /* genTime of the first ATS: the data existed then */
    int64_t last_gen_time_ms;     /* genTime of the latest ATS */
    int64_t last_not_after_ms;    /* notAfter of the latest ATS's TSA certificate: renew before */
    enum tsb_ers_alg current_alg; /* algorithm of the latest chain */
    /* A hash-tree renewal was found as H(sorted(h(d), ha)) (RFC 4998 Figure 4) rather than the
     * §5.2 formula H(h(d) || ha) that tsb_ers_rehash_members writes. */
    bool rehash_sorted;
};

struct tsb_ers_verify_opts {
    /* Trust anchors, helper certificates and policies for every ATS token (token.h): each token
     * is verified with its chain valid at its own genTime, check_skew off. */
    const struct tsb_token_verifier *tv;
    int64_t at_ms; /* the verification time (now, or `verify --at`) */
    /* Untrusted PEM certificates (a package's chain files) offered to every token check. */
    const uint8_t *extra_pem;
    size_t extra_pem_len;
    const struct tsb_ers_limits *limits; /* NULL: defaults */
    /* If non-NULL: each ATS's verified TSA chain appended as PEM, oldest ATS first. */
    struct tsb_buf *chain_pem;
};

/* Verifies the EvidenceRecord er[0..len) for the data objects objs[0..n): the bag, its token,
 * its second token, i.e. every member of the group in any order (then the first partial hash
 * tree must be exactly their hashes), or one object alone (proven when its hash is in the first
 * list, RFC 4998 §4.3). Checks every chain, oldest first: each ATS's reduced hash tree to its
 * token's imprint, each token (tv, chain at its genTime, its unsigned CMS envelope fields), each
 * renewal covering the previous timeStamp no later than that certificate's notAfter, each new
 * chain covering the objects rehashed with the sequence before it, one algorithm per chain (every
 * ATS must name it in digestAlgorithm) listed in digestAlgorithms, and the latest ATS's TSA
 * certificate valid at at_ms. Fills res (always). Returns 0 when the evidence holds; else the code
 * of its kind (TSB_EFORMAT, TSB_ETOOBIG, TSB_EALGORITHM, TSB_ETOKEN for every other verdict,
 * TSB_ECRYPTO for no verdict, TSB_EINVAL without objects or verifier), res and the detail naming
 * it. docs/internals/ERS.md lists the steps in order. */
int tsb_ers_verify(const uint8_t *er, size_t len, const struct tsb_slice *objs, size_t n,
                   const struct tsb_ers_verify_opts *o, struct tsb_ers_verify_result *res);

#endif
