/*
 * frame: the ingest protocol's frame codec (docs/protocol.md is the normative description).
 * A frame is a 4-byte big-endian length L, then L bytes: one type byte and L-1 body bytes.
 * Pure code: no sockets, no event loop. The daemon, the client library, `tsbag push`, the bench
 * and the tests all encode and decode through this one module.
 *
 * The incremental decoder takes bytes as they arrive and yields whole frames; a frame that lies
 * entirely inside the input is returned in place (no copy), one that spans reads is assembled in a
 * buffer bounded by max_frame. A length of zero or above max_frame is refused before any body byte
 * is buffered, so a peer can never make the decoder hold more than max_frame bytes.
 */
#ifndef TSB_FRAME_H
#define TSB_FRAME_H

#include "hash.h"
#include "mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSB_PROTO_VERSION    1
#define TSB_PROTO_MAGIC      "TSBG"             /* first 4 body bytes of HELLO */
#define TSB_FRAME_HDR_LEN    4                  /* the length field */
#define TSB_FRAME_MIN_MAX    64                 /* smallest max_frame anyone may configure */
#define TSB_FRAME_MAX_LIMIT  (64 * 1024 * 1024) /* largest max_frame anyone may configure */
#define TSB_FRAME_WIRE_MAX   (TSB_FRAME_HDR_LEN + TSB_FRAME_MAX_LIMIT) /* largest frame sent */
#define TSB_FORMAT_ID_MAX    64  /* longest format id, bytes */
#define TSB_NACK_REASON_MAX  512 /* longest NACK reason, bytes */
#define TSB_PING_MAX         256 /* longest PING payload, echoed in PONG */
#define TSB_ACK_BODY_LEN     (8 + 8 + TSB_HASH_HEX_LEN)
#define TSB_STATUS_BODY_LEN  68 /* the fields every version-1 server sends */
#define TSB_STATUS_EXT_LEN   84 /* with the appended daemon settings (alarm_ms, seal interval) */
#define TSB_SEAL_OK_BODY_LEN 20
#define TSB_RETRY_BODY_LEN   8
#define TSB_SOURCE_MAX_PROTO                                                                       \
    255 /* the HELLO length byte's range; ingest.max_source_len is lower                           \
         */

/* Frame types. Requests have the high bit clear, replies set. */
enum tsb_frame_type {
    TSB_FT_HELLO = 0x01,
    TSB_FT_SUBMIT = 0x02,
    TSB_FT_SUBMIT_HASH = 0x03,
    TSB_FT_PING = 0x04,
    TSB_FT_STATUS = 0x05,
    TSB_FT_SEAL = 0x06,
    TSB_FT_RETRY = 0x07,

    TSB_FT_HELLO_OK = 0x81,
    TSB_FT_ACK = 0x82,
    TSB_FT_PONG = 0x84,
    TSB_FT_STATUS_OK = 0x85,
    TSB_FT_SEAL_OK = 0x86,
    TSB_FT_RETRY_OK = 0x87,
    TSB_FT_NACK = 0xFF,
};

/* NACK codes (docs/protocol.md lists each with its meaning and whether the connection closes). */
enum tsb_nack {
    TSB_NACK_NONE = 0,
    TSB_NACK_MALFORMED = 1,       /* body does not match its type's layout; closes */
    TSB_NACK_TOO_LARGE = 2,       /* length above the server's max_frame; closes */
    TSB_NACK_EMPTY_FRAME = 3,     /* length 0; closes */
    TSB_NACK_VERSION = 4,         /* bad magic or unsupported version in HELLO; closes */
    TSB_NACK_HELLO_REQUIRED = 5,  /* first frame not HELLO, or HELLO repeated; closes */
    TSB_NACK_UNKNOWN_TYPE = 6,    /* request type this server does not know */
    TSB_NACK_EMPTY_ENTRY = 7,     /* SUBMIT with no entry bytes */
    TSB_NACK_FIELD_INVALID = 8,   /* a name or reference too long or with forbidden bytes */
    TSB_NACK_SOURCE_REFUSED = 9,  /* source not allowed for this client certificate; closes */
    TSB_NACK_FORBIDDEN = 10,      /* request not allowed on this listener (SEAL over TCP) */
    TSB_NACK_SEALER_DOWN = 11,    /* SEAL while no sealer runs in this daemon */
    TSB_NACK_SEAL_FAILED = 12,    /* the sealer tried and failed */
    TSB_NACK_BUSY = 13,           /* the archive refused for now; nothing stored, retry later */
    TSB_NACK_SHUTTING_DOWN = 14,  /* the daemon is stopping; nothing stored; closes */
    TSB_NACK_ARCHIVE_FAILED = 15, /* the archive lost durability; nothing stored; closes */
    TSB_NACK_TOO_MANY_CONNS = 16, /* connection limit reached; closes */
    TSB_NACK_IDLE_TIMEOUT = 17,   /* no complete frame for idle_timeout_ms; closes */
    TSB_NACK_TRUNCATED = 18,      /* the client ended its sending side inside a frame; closes */
    TSB_NACK_STAMP_STALLED = 19,  /* fail-closed: stamping is stalled; nothing stored */
    TSB_NACK_LAST = 20,
};

#define TSB_NACK_FLAG_CLOSING 0x01 /* the server closes the connection after this reply */

/* Stable upper-case name of a NACK code ("TOO_LARGE"); "UNKNOWN" for codes it does not know. */
const char *tsb_nack_name(unsigned code);

/* ---- incremental decoder ------------------------------------------------------------------ */

struct tsb_frame {
    uint8_t type;
    struct tsb_slice body; /* valid until the next decode call and while the input is alive */
};

struct tsb_frame_decoder {
    size_t max_frame;
    uint8_t hdr[TSB_FRAME_HDR_LEN];
    size_t hdr_got;
    size_t need;          /* frame length (type + body) once the header is complete */
    struct tsb_buf frame; /* a frame that spans reads, assembled here */
    enum tsb_nack nack;   /* why the last decode failed */
};

/* Prepares a decoder refusing frames longer than max_frame (type + body bytes). */
void tsb_frame_decoder_init(struct tsb_frame_decoder *d, size_t max_frame);
void tsb_frame_decoder_cleanup(struct tsb_frame_decoder *d);

/* Consumes bytes from *in (advancing it) until one frame is complete: returns 1 and fills *f, or
 * 0 when *in is used up mid-frame. TSB_EFORMAT (zero length) or TSB_ETOOBIG (over max_frame) set
 * d->nack and the detail; the decoder is then unusable (the stream has lost its framing). */
int tsb_frame_decode(struct tsb_frame_decoder *d, struct tsb_slice *in, struct tsb_frame *f);

/* True when some bytes of an unfinished frame have been consumed. */
bool tsb_frame_decoder_midframe(const struct tsb_frame_decoder *d);

/* ---- request bodies ------------------------------------------------------------------------ */

struct tsb_frame_limits {
    size_t max_source;     /* ingest.max_source_len */
    size_t max_client_ref; /* ingest.max_client_ref */
};

struct tsb_hello {
    unsigned version;
    struct tsb_slice source; /* may be empty (TLS connections take it from the allow-list) */
};

struct tsb_submit {
    bool has_digest;         /* SUBMIT_HASH */
    struct tsb_slice format; /* empty when absent */
    struct tsb_slice client_ref;
    struct tsb_slice entry; /* SUBMIT only, at least one byte */
    uint8_t digest[TSB_SHA256_LEN];
};

/* Each parser returns 0, or a negative TSB_E* code with *nack set to the NACK to send and the
 * detail naming the field. Slices point into body. */
int tsb_frame_parse_hello(struct tsb_slice body, const struct tsb_frame_limits *lim,
                          struct tsb_hello *out, enum tsb_nack *nack);
int tsb_frame_parse_submit(uint8_t type, struct tsb_slice body, const struct tsb_frame_limits *lim,
                           struct tsb_submit *out, enum tsb_nack *nack);

/* Name rule for sources and format ids: 1..max printable ASCII bytes 0x21-0x7E. */
bool tsb_frame_name_ok(struct tsb_slice s, size_t max);
/* Client reference rule: 0..max bytes of UTF-8 without control characters (C0, DEL). */
bool tsb_frame_ref_ok(struct tsb_slice s, size_t max);

/* ---- reply bodies -------------------------------------------------------------------------- */

struct tsb_hello_ok {
    unsigned version;
    uint32_t max_frame;
    uint32_t max_inflight;
    struct tsb_slice source; /* the source the server will record */
};

struct tsb_ack {
    int64_t ref;
    int64_t received_ms;
    char hash[TSB_HASH_HEX_LEN + 1]; /* lowercase hex, NUL-terminated */
};

struct tsb_nack_reply {
    unsigned code;
    bool closing;
    struct tsb_slice reason;
};

#define TSB_STATUS_SEALER_RUNNING 0x01
#define TSB_STATUS_SHUTTING_DOWN  0x02
#define TSB_STATUS_ALARM          0x04 /* the oldest unstamped entry is older than alarm_ms */

struct tsb_status {
    int64_t staged;
    int64_t last_ref;
    int64_t last_seq;
    int64_t next_seal_ms;
    int64_t now_ms;
    int64_t entries;
    int64_t oldest_unstamped_ms;
    uint32_t writer_queue;
    uint32_t connections;
    uint32_t flags;
    /* appended fields: has_ext is false for a server that sends only the first 68 bytes */
    bool has_ext;
    int64_t alarm_ms;         /* the daemon's sealer.unstamped_alarm_s, in ms */
    int64_t seal_interval_ms; /* the daemon's sealer.interval_s in ms, 0 when no sealer runs */
};

struct tsb_seal_ok {
    int64_t first_seq;
    uint32_t bags;
    int64_t entries;
};

int tsb_frame_parse_hello_ok(struct tsb_slice body, struct tsb_hello_ok *out);
int tsb_frame_parse_ack(struct tsb_slice body, struct tsb_ack *out);
int tsb_frame_parse_nack(struct tsb_slice body, struct tsb_nack_reply *out);
/* Accepts the 68-byte body of older servers (has_ext false) and ignores bytes after the fields
 * it knows. */
int tsb_frame_parse_status(struct tsb_slice body, struct tsb_status *out);
int tsb_frame_parse_seal_ok(struct tsb_slice body, struct tsb_seal_ok *out);
/* RETRY carries the SequenceNumber to release (empty body or 0: the held bag, whichever it is),
 * RETRY_OK the one released (0: nothing was held or waiting). */
int tsb_frame_parse_retry(struct tsb_slice body, int64_t *seq);

/* ---- encoders: each appends one whole frame to b (TSB_ETOOBIG past b's cap or a field limit) */

int tsb_frame_put_hello(struct tsb_buf *b, unsigned version, struct tsb_slice source);
int tsb_frame_put_submit(struct tsb_buf *b, struct tsb_slice format, struct tsb_slice client_ref,
                         struct tsb_slice entry);
int tsb_frame_put_submit_hash(struct tsb_buf *b, struct tsb_slice format,
                              struct tsb_slice client_ref, const uint8_t digest[TSB_SHA256_LEN]);
/* An empty request of the given type (STATUS, SEAL) or a PING with its payload. */
int tsb_frame_put_simple(struct tsb_buf *b, uint8_t type, struct tsb_slice payload);

int tsb_frame_put_hello_ok(struct tsb_buf *b, const struct tsb_hello_ok *h);
int tsb_frame_put_ack(struct tsb_buf *b, int64_t ref, int64_t received_ms,
                      const uint8_t digest[TSB_SHA256_LEN]);
/* The reason is cut at TSB_NACK_REASON_MAX bytes (on a UTF-8 boundary). */
int tsb_frame_put_nack(struct tsb_buf *b, enum tsb_nack code, bool closing, const char *reason);
/* Writes the extended body when s->has_ext, else the 68-byte one. */
int tsb_frame_put_status(struct tsb_buf *b, const struct tsb_status *s);
int tsb_frame_put_seal_ok(struct tsb_buf *b, const struct tsb_seal_ok *s);
/* A RETRY request or a RETRY_OK reply (type says which) naming seq. */
int tsb_frame_put_retry(struct tsb_buf *b, uint8_t type, int64_t seq);

#endif
