/*
 * bag: the TimeStampBag codec. The writer produces the deterministic bytes of DESIGN.md:
 * `<?xml version="1.0" encoding="UTF-8"?>\n` + one line, no trailing newline, root element
 * `TimeStampBag` (configurable) in the v2 namespace (v1 selectable), attributes Hash="SHA-256" then
 * SequenceNumber, then JournalEntry{Hash, Ref} in Ref order. A chained bag starts with one more
 * JournalEntry, the link: the SHA-256 of the previous bag's exact bytes with Ref 0 (prescription
 * Refs start at 1, so 0 never names a prescription). Those bytes are archived and sent as-is and
 * never re-serialised. The writer appends straight into a tsb_buf (no XML tree), so a
 * bag costs its own size in memory.
 *
 * The parser reads a bag produced elsewhere (TSConsult returns bags) with hardened libxml2
 * settings and strict limits; it does not depend on the root element's name, only on its
 * namespace and structure. docs/internals/BAG.md states the byte rule and every parser limit.
 */
#ifndef TSB_BAG_H
#define TSB_BAG_H

#include "hash.h"
#include "mem.h"

#include <stddef.h>
#include <stdint.h>

#define TSB_BAG_NS_V2_URI    "urn:be:fgov:ehealth:timestamping:protocol:v2"
#define TSB_BAG_NS_V1_URI    "http://www.behealth.be/webservices/tsa"
#define TSB_BAG_ROOT_DEFAULT "TimeStampBag"
#define TSB_BAG_ROOT_MAX     64 /* longest accepted root element name, in bytes */

#define TSB_BAG_DEFAULT_MAX_BYTES   ((size_t)64 * 1024 * 1024)
#define TSB_BAG_DEFAULT_MAX_ENTRIES ((size_t)1000000)

enum tsb_bag_ns { TSB_BAG_NS_V2, TSB_BAG_NS_V1 };
/* How a bag travels in the DSS SignRequest (dss.c, tsa.carrier): as Base64XML or Base64Data. */
enum tsb_carrier { TSB_CARRIER_BASE64XML, TSB_CARRIER_BASE64DATA };

struct tsb_bag_opts {
    enum tsb_bag_ns ns;
    enum tsb_hash_enc enc;
    const char *root; /* NULL means "TimeStampBag"; must be an XML NCName */
    /* the link: SHA-256 of the previous bag's bytes, written as the first JournalEntry with
     * Ref 0 (TSB_BAG_LINK_REF); NULL writes no link (the chain's genesis, or sealer.chain off) */
    const uint8_t *prev;
};

#define TSB_BAG_LINK_REF 0 /* the Ref of the chain link entry */

struct tsb_bag_entry {
    int64_t ref;
    uint8_t digest[TSB_SHA256_LEN];
};

/* The namespace URI of ns. */
const char *tsb_bag_ns_uri(enum tsb_bag_ns ns);

/* Checks that name can be a bag's root element: a non-empty XML NCName (UTF-8) of at most
 * TSB_BAG_ROOT_MAX bytes. Returns 0 or TSB_EINVAL naming what is wrong. */
int tsb_bag_check_root(const char *name);

/* Streaming writer: begin, add each entry, end. Appends to out (whose max bounds the bag). The
 * caller guarantees at least one entry and strictly increasing refs > 0; violations return
 * TSB_EINVAL. Any error abandons the bag: out is cut back to its length at begin and later calls
 * return TSB_ESTATE. The fields are private; a zeroed writer is "not begun". */
struct tsb_bag_writer {
    struct tsb_buf *out;
    size_t start; /* out->len at begin */
    enum tsb_hash_enc enc;
    char root[TSB_BAG_ROOT_MAX + 1];
    size_t root_len;
    size_t count;
    int64_t last_ref;
    int state;
};
/* Validates o (root name) and writes the declaration, the root start tag with Hash and seq
 * (any xs:long) and, when o->prev is set, the link entry. o NULL means v2, hex, TimeStampBag, no
 * link. The link is not an entry: the "at least one entry" rule counts the adds. */
int tsb_bag_writer_begin(struct tsb_bag_writer *w, const struct tsb_bag_opts *o, int64_t seq,
                         struct tsb_buf *out);
/* Optional hint: reserves room in out for n more entries whose refs are at most max_ref plus the
 * end tag (clamped to out's max), so a caller that knows its batch grows the buffer once. */
int tsb_bag_writer_expect(struct tsb_bag_writer *w, size_t n, int64_t max_ref);
int tsb_bag_writer_add(struct tsb_bag_writer *w, int64_t ref, const uint8_t digest[TSB_SHA256_LEN]);
/* Writes the end tag; TSB_EINVAL (and out cut back) if no entry was added. */
int tsb_bag_writer_end(struct tsb_bag_writer *w);

/* Exact size in bytes of the bag for these arguments (entries assumed valid). */
size_t tsb_bag_size(const struct tsb_bag_opts *o, int64_t seq, const struct tsb_bag_entry *e,
                    size_t n);

/* Convenience: the whole bag for n entries in one call. Validates everything before writing and
 * reserves the exact size once; on error out is unchanged. */
int tsb_bag_build(const struct tsb_bag_opts *o, int64_t seq, const struct tsb_bag_entry *e,
                  size_t n, struct tsb_buf *out);

struct tsb_bag_limits {
    size_t max_bytes;   /* 0 means TSB_BAG_DEFAULT_MAX_BYTES (64 MiB) */
    size_t max_entries; /* 0 means TSB_BAG_DEFAULT_MAX_ENTRIES (1 000 000) */
};

struct tsb_bag {
    int64_t seq;
    enum tsb_bag_ns ns;
    enum tsb_hash_enc enc; /* encoding of the first entry's Hash; all entries must agree */
    char *root;            /* the root element's local name, as received (not checked) */
    /* the chain link (a first JournalEntry with Ref 0): linked says it was there, prev is the
     * previous bag's digest it names. It is not one of the entries. */
    int linked;
    uint8_t prev[TSB_SHA256_LEN];
    size_t n;                      /* the entries after the link: at least one */
    struct tsb_bag_entry *entries; /* in document order (not necessarily Ref order) */
};

/* Parses bag bytes. lim NULL means the defaults. On success *out is a new bag (tsb_bag_free);
 * a first JournalEntry with Ref 0 becomes the link (linked, prev), never an entry.
 * Errors: TSB_ETOOBIG (bytes or entries), TSB_EFORMAT (not XML, wrong structure, bad Hash text,
 * bad Ref, Ref 0 other than first, a link and no entry, duplicate Ref), TSB_ENAMESPACE,
 * TSB_EALGORITHM (Hash attribute not "SHA-256"); the detail names the element or attribute. */
int tsb_bag_parse(const uint8_t *p, size_t len, const struct tsb_bag_limits *lim,
                  struct tsb_bag **out);
/* Frees a parsed bag; accepts NULL. */
void tsb_bag_free(struct tsb_bag *b);

/* How a bag stands in the hash chain (sealer.chain): its link (the first JournalEntry, Ref 0)
 * against the SHA-256 of the previous SequenceNumber's bytes. */
enum tsb_link {
    TSB_LINK_OK,      /* the link is the previous bag's digest */
    TSB_LINK_GENESIS, /* no link, and no bag before it: the archive's first bag */
    TSB_LINK_NONE,    /* no link although a bag precedes it (sealed with sealer.chain off) */
    TSB_LINK_BROKEN,  /* the link is not the previous bag's digest */
    TSB_LINK_MISSING, /* a link, but the archive has no bag at the previous SequenceNumber */
};

/* "linked", "genesis", "unchained", "broken", "missing". */
const char *tsb_link_name(enum tsb_link l);

/* Judges bag b's link. prev_digest: SHA-256 of the bytes of the bag at b's SequenceNumber - 1,
 * NULL when the archive has none; first: no bag of the archive precedes b. */
enum tsb_link tsb_link_judge(const struct tsb_bag *b, const uint8_t *prev_digest, int first);

/* One sentence on a link that is not OK/genesis/unchained (for a finding or a report): which
 * SequenceNumber breaks the chain and how; want is b's link, have prev_digest (may be NULL). */
void tsb_link_describe(enum tsb_link l, int64_t seq, const struct tsb_bag *b,
                       const uint8_t *prev_digest, char *out, size_t len);

#endif
