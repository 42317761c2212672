/*
 * store_ers: a bag's RFC 4998 EvidenceRecord assembled from the archive (schema 0010: ers_trees,
 * ers_links): one ArchiveTimeStampChain per hash algorithm the bag was stamped with, each the
 * chain's first ArchiveTimeStamp (initial tree, or the rehash tree of §5.3) followed by its
 * timestamp renewals (§5.2), each ArchiveTimeStamp the bag's reduced hash tree and the tree's
 * RFC 3161 token. The bytes are a pure function of the archived rows (DER, encoded by ers.c), so
 * the ArchiveTimeStamp that tsbag renew hashed for a renewal is byte for byte the one exported.
 * Callers: tsbag export (the package's evidence-record-<seq>.ers), tsbag renew (§5.3: the hash of
 * the ArchiveTimeStampSequence so far), the tests. No network; store.c does the SQL.
 */
#ifndef TSB_STORE_ERS_H
#define TSB_STORE_ERS_H

#include "mem.h"
#include "store.h"

#include <stdint.h>

/* Appends bag seq's EvidenceRecord (RFC 4998 §3, DER: version 1, digestAlgorithms in chain order,
 * the ArchiveTimeStampSequence; no cryptoInfos or encryptionInfo) to der. TSB_ENOTFOUND when the
 * bag is absent or not yet covered by an ArchiveTimeStamp (tsbag renew has not run since it was
 * stamped); TSB_ESTORE when the archived rows do not make a record (a gap, undecodable path);
 * TSB_ETOOBIG when der's cap is exceeded. Reads in one snapshot when none is open. */
int tsb_store_ers_record(struct tsb_store *s, int64_t seq, struct tsb_buf *der);

/* Appends bag seq's ArchiveTimeStampSequence alone (every chain so far, DER): what a hash-tree
 * renewal (RFC 4998 §5.2, tsb_ers_rehash_members) hashes with the new algorithm. Errors as
 * tsb_store_ers_record. */
int tsb_store_ers_sequence(struct tsb_store *s, int64_t seq, struct tsb_buf *der);

/* The data objects of bag seq's group (TSB_ERS_OBJ_* bits: bag, token and possibly tsa2, in that
 * order inside the group's first PartialHashtree after sorting), the same in all of its chains.
 * TSB_ENOTFOUND when the bag is not covered yet. */
int tsb_store_ers_members(struct tsb_store *s, int64_t seq, unsigned *members);

#endif
