/*
 * frame: encoder and incremental decoder of ingest frames. All integers are big-endian. The
 * decoder never trusts a length before checking it against max_frame, and never reads past the
 * frame it was given: every body parser walks the slice with bounds-checked readers.
 */
#include "frame.h"

#include "codec.h"
#include "err.h"

#include <inttypes.h>
#include <string.h>

static const char *const nack_names[TSB_NACK_LAST] = {
    [TSB_NACK_NONE] = "NONE",
    [TSB_NACK_MALFORMED] = "MALFORMED",
    [TSB_NACK_TOO_LARGE] = "TOO_LARGE",
    [TSB_NACK_EMPTY_FRAME] = "EMPTY_FRAME",
    [TSB_NACK_VERSION] = "VERSION",
    [TSB_NACK_HELLO_REQUIRED] = "HELLO_REQUIRED",
    [TSB_NACK_UNKNOWN_TYPE] = "UNKNOWN_TYPE",
    [TSB_NACK_EMPTY_ENTRY] = "EMPTY_ENTRY",
    [TSB_NACK_FIELD_INVALID] = "FIELD_INVALID",
    [TSB_NACK_SOURCE_REFUSED] = "SOURCE_REFUSED",
    [TSB_NACK_FORBIDDEN] = "FORBIDDEN",
    [TSB_NACK_SEALER_DOWN] = "SEALER_DOWN",
    [TSB_NACK_SEAL_FAILED] = "SEAL_FAILED",
    [TSB_NACK_BUSY] = "BUSY",
    [TSB_NACK_SHUTTING_DOWN] = "SHUTTING_DOWN",
    [TSB_NACK_ARCHIVE_FAILED] = "ARCHIVE_FAILED",
    [TSB_NACK_TOO_MANY_CONNS] = "TOO_MANY_CONNS",
    [TSB_NACK_IDLE_TIMEOUT] = "IDLE_TIMEOUT",
    [TSB_NACK_TRUNCATED] = "TRUNCATED",
    [TSB_NACK_STAMP_STALLED] = "STAMP_STALLED",
};

const char *tsb_nack_name(unsigned code)
{
    return code < TSB_NACK_LAST ? nack_names[code] : "UNKNOWN";
}

/* ---- big-endian helpers -------------------------------------------------------------------- */

static void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* A bounds-checked cursor over a body. Every take fails once the body is exhausted. */
struct rd {
    const uint8_t *p;
    size_t left;
};

static bool take(struct rd *r, size_t n, struct tsb_slice *out)
{
    if (n > r->left)
        return false;
    out->p = r->p;
    out->len = n;
    r->p += n;
    r->left -= n;
    return true;
}

static bool take_u8(struct rd *r, uint32_t *v)
{
    struct tsb_slice s;
    if (!take(r, 1, &s))
        return false;
    *v = s.p[0];
    return true;
}

static bool take_u16(struct rd *r, uint32_t *v)
{
    struct tsb_slice s;
    if (!take(r, 2, &s))
        return false;
    *v = get_u16(s.p);
    return true;
}

/* ---- decoder ------------------------------------------------------------------------------- */

void tsb_frame_decoder_init(struct tsb_frame_decoder *d, size_t max_frame)
{
    memset(d, 0, sizeof(*d));
    d->max_frame = max_frame;
    tsb_buf_init(&d->frame, max_frame);
}

void tsb_frame_decoder_cleanup(struct tsb_frame_decoder *d)
{
    tsb_buf_cleanup(&d->frame);
}

/* A frame handed out from the buffer is complete: it counts as between frames. */
static bool handed_out(const struct tsb_frame_decoder *d)
{
    return d->hdr_got == TSB_FRAME_HDR_LEN && d->frame.len == d->need;
}

bool tsb_frame_decoder_midframe(const struct tsb_frame_decoder *d)
{
    return d->hdr_got > 0 && !handed_out(d);
}

static int check_length(struct tsb_frame_decoder *d, uint32_t len)
{
    if (len == 0) {
        d->nack = TSB_NACK_EMPTY_FRAME;
        return tsb_err(TSB_EFORMAT, "frame length is 0 (a frame carries at least its type byte)");
    }
    if (len > d->max_frame) {
        d->nack = TSB_NACK_TOO_LARGE;
        return tsb_err(TSB_ETOOBIG, "frame length %u exceeds the %zu-byte limit", len,
                       d->max_frame);
    }
    d->need = len;
    return 0;
}

int tsb_frame_decode(struct tsb_frame_decoder *d, struct tsb_slice *in, struct tsb_frame *f)
{
    int r;

    if (d->nack != TSB_NACK_NONE)
        return tsb_err(TSB_ESTATE, "frame decoder already failed (%s)", tsb_nack_name(d->nack));
    /* the previous frame, if assembled in the buffer, has been handed out: forget it */
    if (handed_out(d)) {
        d->hdr_got = 0;
        if (d->frame.cap > 65536) { /* do not keep a large frame's memory per idle connection */
            tsb_buf_cleanup(&d->frame);
            tsb_buf_init(&d->frame, d->max_frame);
        } else {
            tsb_buf_reset(&d->frame);
        }
    }
    /* fast path: a whole frame at the front of the input, nothing buffered */
    if (d->hdr_got == 0 && in->len >= TSB_FRAME_HDR_LEN) {
        uint32_t len = get_u32(in->p);
        if ((r = check_length(d, len)) != 0)
            return r;
        if (in->len - TSB_FRAME_HDR_LEN >= len) {
            f->type = in->p[TSB_FRAME_HDR_LEN];
            f->body.p = in->p + TSB_FRAME_HDR_LEN + 1;
            f->body.len = len - 1;
            in->p += TSB_FRAME_HDR_LEN + len;
            in->len -= TSB_FRAME_HDR_LEN + len;
            return 1;
        }
    }
    /* slow path: accumulate the header, then the frame, across calls */
    while (d->hdr_got < TSB_FRAME_HDR_LEN) {
        if (in->len == 0)
            return 0;
        d->hdr[d->hdr_got++] = in->p[0];
        in->p++;
        in->len--;
        if (d->hdr_got == TSB_FRAME_HDR_LEN && (r = check_length(d, get_u32(d->hdr))) != 0)
            return r;
    }
    size_t want = d->need - d->frame.len;
    size_t n = in->len < want ? in->len : want;
    if (n > 0 && (r = tsb_buf_append(&d->frame, in->p, n)) != 0)
        return tsb_err(TSB_EINTERNAL, "frame buffer refused %zu bytes", n);
    in->p += n;
    in->len -= n;
    if (d->frame.len < d->need)
        return 0;
    f->type = d->frame.p[0];
    f->body.p = d->frame.p + 1;
    f->body.len = d->frame.len - 1;
    return 1;
}

/* ---- field rules --------------------------------------------------------------------------- */

bool tsb_frame_name_ok(struct tsb_slice s, size_t max)
{
    if (s.len == 0 || s.len > max)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < 0x21 || s.p[i] > 0x7e)
            return false;
    return true;
}

bool tsb_frame_ref_ok(struct tsb_slice s, size_t max)
{
    if (s.len > max)
        return false;
    size_t i = 0;
    while (i < s.len) {
        uint8_t c = s.p[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (s.len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            uint8_t cc = s.p[i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (cc & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF, C1 controls */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return false;
        i += n + 1;
    }
    return true;
}

/* ---- request parsers ----------------------------------------------------------------------- */

static int bad(enum tsb_nack *nack, enum tsb_nack code, int err)
{
    *nack = code;
    return err;
}

int tsb_frame_parse_hello(struct tsb_slice body, const struct tsb_frame_limits *lim,
                          struct tsb_hello *out, enum tsb_nack *nack)
{
    struct rd r = {body.p, body.len};
    struct tsb_slice magic, source;
    uint32_t version, slen;

    if (!take(&r, 4, &magic) || memcmp(magic.p, TSB_PROTO_MAGIC, 4) != 0)
        return bad(nack, TSB_NACK_VERSION,
                   tsb_err(TSB_EPROTO, "HELLO does not start with the magic \"TSBG\""));
    if (!take_u16(&r, &version) || !take_u8(&r, &slen))
        return bad(nack, TSB_NACK_MALFORMED,
                   tsb_err(TSB_EFORMAT, "HELLO body of %zu bytes is shorter than 7", body.len));
    if (version != TSB_PROTO_VERSION)
        return bad(nack, TSB_NACK_VERSION,
                   tsb_err(TSB_EPROTO, "protocol version %u is not supported (this server: %d)",
                           version, TSB_PROTO_VERSION));
    if (!take(&r, slen, &source))
        return bad(nack, TSB_NACK_MALFORMED,
                   tsb_err(TSB_EFORMAT, "HELLO source length %u runs past the frame", slen));
    if (r.left != 0)
        return bad(nack, TSB_NACK_MALFORMED,
                   tsb_err(TSB_EFORMAT, "HELLO has %zu bytes after the source name", r.left));
    if (source.len > 0 && !tsb_frame_name_ok(source, lim->max_source))
        return bad(nack, TSB_NACK_FIELD_INVALID,
                   tsb_err(TSB_EFORMAT,
                           "source name must be 1-%zu printable ASCII bytes (got %zu bytes)",
                           lim->max_source, source.len));
    out->version = version;
    out->source = source;
    return 0;
}

int tsb_frame_parse_submit(uint8_t type, struct tsb_slice body, const struct tsb_frame_limits *lim,
                           struct tsb_submit *out, enum tsb_nack *nack)
{
    struct rd r = {body.p, body.len};
    struct tsb_submit s = {.has_digest = type == TSB_FT_SUBMIT_HASH};
    uint32_t flen, rlen;
    const char *what = s.has_digest ? "SUBMIT_HASH" : "SUBMIT";

    if (type != TSB_FT_SUBMIT && type != TSB_FT_SUBMIT_HASH)
        return bad(nack, TSB_NACK_UNKNOWN_TYPE, tsb_err(TSB_EINVAL, "not a submit type"));
    if (!take_u8(&r, &flen) || !take(&r, flen, &s.format))
        return bad(nack, TSB_NACK_MALFORMED,
                   tsb_err(TSB_EFORMAT, "%s format id runs past the frame", what));
    if (!take_u16(&r, &rlen) || !take(&r, rlen, &s.client_ref))
        return bad(nack, TSB_NACK_MALFORMED,
                   tsb_err(TSB_EFORMAT, "%s client reference runs past the frame", what));
    if (s.format.len > 0 && !tsb_frame_name_ok(s.format, TSB_FORMAT_ID_MAX))
        return bad(nack, TSB_NACK_FIELD_INVALID,
                   tsb_err(TSB_EFORMAT, "format id must be 1-%d printable ASCII bytes",
                           TSB_FORMAT_ID_MAX));
    if (s.client_ref.len > lim->max_client_ref)
        return bad(nack, TSB_NACK_FIELD_INVALID,
                   tsb_err(TSB_ETOOBIG, "client reference of %zu bytes exceeds %zu",
                           s.client_ref.len, lim->max_client_ref));
    if (!tsb_frame_ref_ok(s.client_ref, lim->max_client_ref))
        return bad(nack, TSB_NACK_FIELD_INVALID,
                   tsb_err(TSB_EFORMAT, "client reference is not UTF-8 without control "
                                        "characters"));
    if (s.has_digest) {
        struct tsb_slice d;
        if (r.left != TSB_SHA256_LEN || !take(&r, TSB_SHA256_LEN, &d))
            return bad(
                nack, TSB_NACK_MALFORMED,
                tsb_err(TSB_EFORMAT, "SUBMIT_HASH carries %zu digest bytes, not 32", r.left));
        memcpy(s.digest, d.p, TSB_SHA256_LEN);
    } else {
        if (r.left == 0)
            return bad(nack, TSB_NACK_EMPTY_ENTRY,
                       tsb_err(TSB_EFORMAT, "SUBMIT carries no entry bytes"));
        take(&r, r.left, &s.entry);
    }
    *out = s;
    return 0;
}

/* ---- reply parsers ------------------------------------------------------------------------- */

int tsb_frame_parse_hello_ok(struct tsb_slice body, struct tsb_hello_ok *out)
{
    struct rd r = {body.p, body.len};
    struct tsb_slice fixed, source;
    uint32_t slen;
    if (!take(&r, 10, &fixed) || !take_u8(&r, &slen) || !take(&r, slen, &source))
        return tsb_err(TSB_EFORMAT, "HELLO_OK body of %zu bytes is malformed", body.len);
    out->version = get_u16(fixed.p);
    out->max_frame = get_u32(fixed.p + 2);
    out->max_inflight = get_u32(fixed.p + 6);
    out->source = source;
    return 0;
}

int tsb_frame_parse_ack(struct tsb_slice body, struct tsb_ack *out)
{
    if (body.len < TSB_ACK_BODY_LEN)
        return tsb_err(TSB_EFORMAT, "ACK body of %zu bytes is shorter than %d", body.len,
                       TSB_ACK_BODY_LEN);
    uint8_t digest[TSB_SHA256_LEN];
    if (tsb_hex_decode((const char *)body.p + 16, TSB_HASH_HEX_LEN, digest, sizeof(digest)) != 0)
        return tsb_err(TSB_EFORMAT, "ACK hash is not 64 hex characters");
    out->ref = (int64_t)get_u64(body.p);
    out->received_ms = (int64_t)get_u64(body.p + 8);
    memcpy(out->hash, body.p + 16, TSB_HASH_HEX_LEN);
    out->hash[TSB_HASH_HEX_LEN] = '\0';
    return 0;
}

int tsb_frame_parse_nack(struct tsb_slice body, struct tsb_nack_reply *out)
{
    if (body.len < 3)
        return tsb_err(TSB_EFORMAT, "NACK body of %zu bytes is shorter than 3", body.len);
    out->code = get_u16(body.p);
    out->closing = (body.p[2] & TSB_NACK_FLAG_CLOSING) != 0;
    out->reason.p = body.p + 3;
    out->reason.len = body.len - 3;
    return 0;
}

int tsb_frame_parse_status(struct tsb_slice body, struct tsb_status *out)
{
    const uint8_t *p = body.p;
    if (body.len < TSB_STATUS_BODY_LEN)
        return tsb_err(TSB_EFORMAT, "STATUS_OK body of %zu bytes is shorter than %d", body.len,
                       TSB_STATUS_BODY_LEN);
    out->staged = (int64_t)get_u64(p);
    out->last_ref = (int64_t)get_u64(p + 8);
    out->last_seq = (int64_t)get_u64(p + 16);
    out->next_seal_ms = (int64_t)get_u64(p + 24);
    out->now_ms = (int64_t)get_u64(p + 32);
    out->entries = (int64_t)get_u64(p + 40);
    out->oldest_unstamped_ms = (int64_t)get_u64(p + 48);
    out->writer_queue = get_u32(p + 56);
    out->connections = get_u32(p + 60);
    out->flags = get_u32(p + 64);
    out->has_ext = body.len >= TSB_STATUS_EXT_LEN;
    out->alarm_ms = out->has_ext ? (int64_t)get_u64(p + 68) : 0;
    out->seal_interval_ms = out->has_ext ? (int64_t)get_u64(p + 76) : 0;
    return 0;
}

int tsb_frame_parse_seal_ok(struct tsb_slice body, struct tsb_seal_ok *out)
{
    if (body.len < TSB_SEAL_OK_BODY_LEN)
        return tsb_err(TSB_EFORMAT, "SEAL_OK body of %zu bytes is shorter than %d", body.len,
                       TSB_SEAL_OK_BODY_LEN);
    out->first_seq = (int64_t)get_u64(body.p);
    out->bags = get_u32(body.p + 8);
    out->entries = (int64_t)get_u64(body.p + 12);
    return 0;
}

int tsb_frame_parse_retry(struct tsb_slice body, int64_t *seq)
{
    if (body.len != 0 && body.len != TSB_RETRY_BODY_LEN)
        return tsb_err(TSB_EFORMAT, "RETRY body of %zu bytes: expected 0 or %d", body.len,
                       TSB_RETRY_BODY_LEN);
    int64_t v = body.len ? (int64_t)get_u64(body.p) : 0;
    if (v < 0)
        return tsb_err(TSB_EFORMAT, "RETRY names SequenceNumber %" PRId64, v);
    *seq = v;
    return 0;
}

/* ---- encoders ------------------------------------------------------------------------------ */

/* Reserves a frame of body_len bytes of the given type and returns where its body goes. */
static int frame_begin(struct tsb_buf *b, uint8_t type, size_t body_len, uint8_t **body)
{
    int r;
    if (body_len >= UINT32_MAX)
        return tsb_err(TSB_ETOOBIG, "frame body of %zu bytes", body_len);
    uint8_t *p;
    if ((r = tsb_buf_extend(b, TSB_FRAME_HDR_LEN + 1 + body_len, &p)) != 0)
        return r;
    put_u32(p, (uint32_t)(body_len + 1));
    p[TSB_FRAME_HDR_LEN] = type;
    *body = p + TSB_FRAME_HDR_LEN + 1;
    return 0;
}

static void put_bytes(uint8_t **p, struct tsb_slice s)
{
    if (s.len)
        memcpy(*p, s.p, s.len);
    *p += s.len;
}

int tsb_frame_put_hello(struct tsb_buf *b, unsigned version, struct tsb_slice source)
{
    uint8_t *p = NULL;
    int r;
    if (source.len > TSB_SOURCE_MAX_PROTO || version > 0xffff)
        return tsb_err(TSB_ETOOBIG, "source name of %zu bytes", source.len);
    if ((r = frame_begin(b, TSB_FT_HELLO, 7 + source.len, &p)) != 0)
        return r;
    memcpy(p, TSB_PROTO_MAGIC, 4);
    put_u16(p + 4, version);
    p[6] = (uint8_t)source.len;
    p += 7;
    put_bytes(&p, source);
    return 0;
}

static int put_submit_head(struct tsb_buf *b, uint8_t type, struct tsb_slice format,
                           struct tsb_slice client_ref, size_t tail, uint8_t **p)
{
    int r;
    if (format.len > 255 || client_ref.len > 0xffff)
        return tsb_err(TSB_ETOOBIG, "format id (%zu) or client reference (%zu) too long",
                       format.len, client_ref.len);
    if ((r = frame_begin(b, type, 3 + format.len + client_ref.len + tail, p)) != 0)
        return r;
    (*p)[0] = (uint8_t)format.len;
    *p += 1;
    put_bytes(p, format);
    put_u16(*p, (uint32_t)client_ref.len);
    *p += 2;
    put_bytes(p, client_ref);
    return 0;
}

int tsb_frame_put_submit(struct tsb_buf *b, struct tsb_slice format, struct tsb_slice client_ref,
                         struct tsb_slice entry)
{
    uint8_t *p = NULL;
    int r;
    if ((r = put_submit_head(b, TSB_FT_SUBMIT, format, client_ref, entry.len, &p)) != 0)
        return r;
    put_bytes(&p, entry);
    return 0;
}

int tsb_frame_put_submit_hash(struct tsb_buf *b, struct tsb_slice format,
                              struct tsb_slice client_ref, const uint8_t digest[TSB_SHA256_LEN])
{
    uint8_t *p = NULL;
    int r;
    if ((r = put_submit_head(b, TSB_FT_SUBMIT_HASH, format, client_ref, TSB_SHA256_LEN, &p)) != 0)
        return r;
    memcpy(p, digest, TSB_SHA256_LEN);
    return 0;
}

int tsb_frame_put_simple(struct tsb_buf *b, uint8_t type, struct tsb_slice payload)
{
    uint8_t *p = NULL;
    int r;
    if ((r = frame_begin(b, type, payload.len, &p)) != 0)
        return r;
    put_bytes(&p, payload);
    return 0;
}

int tsb_frame_put_hello_ok(struct tsb_buf *b, const struct tsb_hello_ok *h)
{
    uint8_t *p = NULL;
    int r;
    if (h->source.len > TSB_SOURCE_MAX_PROTO)
        return tsb_err(TSB_ETOOBIG, "source name of %zu bytes", h->source.len);
    if ((r = frame_begin(b, TSB_FT_HELLO_OK, 11 + h->source.len, &p)) != 0)
        return r;
    put_u16(p, h->version);
    put_u32(p + 2, h->max_frame);
    put_u32(p + 6, h->max_inflight);
    p[10] = (uint8_t)h->source.len;
    p += 11;
    put_bytes(&p, h->source);
    return 0;
}

int tsb_frame_put_ack(struct tsb_buf *b, int64_t ref, int64_t received_ms,
                      const uint8_t digest[TSB_SHA256_LEN])
{
    uint8_t *p = NULL;
    int r;
    char hex[TSB_HASH_HEX_LEN + 1];
    if ((r = frame_begin(b, TSB_FT_ACK, TSB_ACK_BODY_LEN, &p)) != 0)
        return r;
    put_u64(p, (uint64_t)ref);
    put_u64(p + 8, (uint64_t)received_ms);
    tsb_hex_encode(digest, TSB_SHA256_LEN, hex);
    memcpy(p + 16, hex, TSB_HASH_HEX_LEN);
    return 0;
}

int tsb_frame_put_nack(struct tsb_buf *b, enum tsb_nack code, bool closing, const char *reason)
{
    uint8_t *p = NULL;
    int r;
    size_t n = strlen(reason);
    if (n > TSB_NACK_REASON_MAX) {
        n = TSB_NACK_REASON_MAX;
        while (n > 0 && ((uint8_t)reason[n] & 0xc0) == 0x80) /* do not split a UTF-8 sequence */
            n--;
    }
    if ((r = frame_begin(b, TSB_FT_NACK, 3 + n, &p)) != 0)
        return r;
    put_u16(p, (uint32_t)code);
    p[2] = closing ? TSB_NACK_FLAG_CLOSING : 0;
    memcpy(p + 3, reason, n);
    return 0;
}

int tsb_frame_put_status(struct tsb_buf *b, const struct tsb_status *s)
{
    uint8_t *p = NULL;
    int r;
    size_t len = s->has_ext ? TSB_STATUS_EXT_LEN : TSB_STATUS_BODY_LEN;
    if ((r = frame_begin(b, TSB_FT_STATUS_OK, len, &p)) != 0)
        return r;
    put_u64(p, (uint64_t)s->staged);
    put_u64(p + 8, (uint64_t)s->last_ref);
    put_u64(p + 16, (uint64_t)s->last_seq);
    put_u64(p + 24, (uint64_t)s->next_seal_ms);
    put_u64(p + 32, (uint64_t)s->now_ms);
    put_u64(p + 40, (uint64_t)s->entries);
    put_u64(p + 48, (uint64_t)s->oldest_unstamped_ms);
    put_u32(p + 56, s->writer_queue);
    put_u32(p + 60, s->connections);
    put_u32(p + 64, s->flags);
    if (s->has_ext) {
        put_u64(p + 68, (uint64_t)s->alarm_ms);
        put_u64(p + 76, (uint64_t)s->seal_interval_ms);
    }
    return 0;
}

int tsb_frame_put_seal_ok(struct tsb_buf *b, const struct tsb_seal_ok *s)
{
    uint8_t *p = NULL;
    int r;
    if ((r = frame_begin(b, TSB_FT_SEAL_OK, TSB_SEAL_OK_BODY_LEN, &p)) != 0)
        return r;
    put_u64(p, (uint64_t)s->first_seq);
    put_u32(p + 8, s->bags);
    put_u64(p + 12, (uint64_t)s->entries);
    return 0;
}

int tsb_frame_put_retry(struct tsb_buf *b, uint8_t type, int64_t seq)
{
    uint8_t *p = NULL;
    int r = frame_begin(b, type, TSB_RETRY_BODY_LEN, &p);
    if (r == 0)
        put_u64(p, (uint64_t)seq);
    return r;
}
