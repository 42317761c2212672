/*
 * bag: the TimeStampBag codec. The writer produces the deterministic bytes of DESIGN.md:
 * `<?xml version="1.0" encoding="UTF-8"?>\n` + one line, no trailing newline, root element
 * `TimeStampBag` (configurable) in the v2 namespace (v1 selectable), attributes Hash="SHA-256" then
 * SequenceNumber, then JournalEntry{Hash, Ref} in Ref order. Those bytes are archived and sent
 * as-is and never re-serialised.
 *
 * The parser reads a bag produced elsewhere (TSConsult returns bags) with hardened libxml2
 * settings and strict limits; it does not depend on the root element's name, only on its
 * namespace and structure.
 */
#ifndef TSB_BAG_H
#define TSB_BAG_H

#include "hash.h"
#include "mem.h"

#include <stddef.h>
#include <stdint.h>

#define TSB_BAG_NS_V2_URI "urn:be:fgov:ehealth:timestamping:protocol:v2"
#define TSB_BAG_NS_V1_URI "http://www.behealth.be/webservices/tsa"
#define TSB_BAG_ROOT_MAX  64 /* longest accepted root element name */

enum tsb_bag_ns { TSB_BAG_NS_V2, TSB_BAG_NS_V1 };

struct tsb_bag_opts {
    enum tsb_bag_ns ns;
    enum tsb_hash_enc enc;
    const char *root; /* NULL means "TimeStampBag"; must be an XML NCName */
};

struct tsb_bag_entry {
    int64_t ref;
    uint8_t digest[TSB_SHA256_LEN];
};

/* Streaming writer: begin, add each entry, end. Appends to out (whose cap bounds the bag). The
 * caller guarantees at least one entry and strictly increasing refs; violations return TSB_EINVAL.
 */
struct tsb_bag_writer {
    struct tsb_buf *out;
    enum tsb_hash_enc enc;
    const char *root;
    size_t count;
    int64_t last_ref;
};
int tsb_bag_writer_begin(struct tsb_bag_writer *w, const struct tsb_bag_opts *o, int64_t seq,
                         struct tsb_buf *out);
int tsb_bag_writer_add(struct tsb_bag_writer *w, int64_t ref, const uint8_t digest[TSB_SHA256_LEN]);
int tsb_bag_writer_end(struct tsb_bag_writer *w);

/* Convenience: the whole bag for n entries in one call. */
int tsb_bag_build(const struct tsb_bag_opts *o, int64_t seq, const struct tsb_bag_entry *e,
                  size_t n, struct tsb_buf *out);

struct tsb_bag_limits {
    size_t max_bytes;   /* default 64 MiB */
    size_t max_entries; /* default 1 000 000 */
};

struct tsb_bag {
    int64_t seq;
    enum tsb_bag_ns ns;
    enum tsb_hash_enc enc; /* encoding of the first entry's Hash; all entries must agree */
    size_t n;
    struct tsb_bag_entry *entries; /* in document order */
};

/* Parses bag bytes. lim NULL means the defaults. On success *out is a new bag (tsb_bag_free).
 * Errors: TSB_ETOOBIG (bytes or entries), TSB_EFORMAT (not XML, wrong structure, bad Hash text,
 * bad Ref, duplicate Ref), TSB_ENAMESPACE, TSB_EALGORITHM (Hash attribute not "SHA-256"); the
 * detail names the element or attribute. */
int tsb_bag_parse(const uint8_t *p, size_t len, const struct tsb_bag_limits *lim,
                  struct tsb_bag **out);
void tsb_bag_free(struct tsb_bag *b);

#endif
