/*
 * bag: the TimeStampBag codec. The writer produces the deterministic bytes of DESIGN.md:
 * `<?xml version="1.0" encoding="UTF-8"?>\n` + one line, no trailing newline, root element
 * `TimeStampBag` (configurable) in the v2 namespace (v1 selectable), attributes Hash="SHA-256" then
 * SequenceNumber, then JournalEntry{Hash, Ref} in Ref order. Those bytes are archived and sent
 * as-is and never re-serialised. The writer appends straight into a tsb_buf (no XML tree), so a
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
};

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
/* Validates o (root name) and writes the declaration and the root start tag with Hash and seq
 * (any xs:long). o NULL means v2, hex, TimeStampBag. */
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
    size_t n;
    struct tsb_bag_entry *entries; /* in document order (not necessarily Ref order) */
};

/* Parses bag bytes. lim NULL means the defaults. On success *out is a new bag (tsb_bag_free).
 * Errors: TSB_ETOOBIG (bytes or entries), TSB_EFORMAT (not XML, wrong structure, bad Hash text,
 * bad Ref, duplicate Ref), TSB_ENAMESPACE, TSB_EALGORITHM (Hash attribute not "SHA-256"); the
 * detail names the element or attribute. */
int tsb_bag_parse(const uint8_t *p, size_t len, const struct tsb_bag_limits *lim,
                  struct tsb_bag **out);
/* Frees a parsed bag; accepts NULL. */
void tsb_bag_free(struct tsb_bag *b);

#endif
