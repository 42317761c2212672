/*
 * codec: table-driven hex and base64. Decoders report the first bad offset; base64 decoding
 * rejects data after padding and non-zero trailing bits, so every accepted text has exactly one
 * byte string (a token or bag cannot be smuggled through two spellings).
 */
#include "codec.h"

#include "err.h"

#include <string.h>

static const char hexdig[] = "0123456789abcdef";
static const char b64dig[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void tsb_hex_encode(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[p[i] >> 4];
        out[2 * i + 1] = hexdig[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int tsb_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n)
        return tsb_err(TSB_EFORMAT, "hex text has %zu characters, expected %zu", slen, 2 * n);
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return tsb_err(TSB_EFORMAT, "invalid hex character at offset %zu",
                           hi < 0 ? 2 * i : 2 * i + 1);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

size_t tsb_b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void tsb_b64_encode(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64dig[v >> 18];
        out[o++] = b64dig[(v >> 12) & 63];
        out[o++] = b64dig[(v >> 6) & 63];
        out[o++] = b64dig[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64dig[v >> 18];
        out[o++] = b64dig[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64dig[v >> 18];
        out[o++] = b64dig[(v >> 12) & 63];
        out[o++] = b64dig[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

int tsb_b64_encode_buf(const uint8_t *p, size_t n, struct tsb_buf *b)
{
    size_t need = tsb_b64_encoded_len(n);
    int r;
    if ((r = tsb_buf_reserve(b, need)) != 0)
        return r;
    tsb_b64_encode(p, n, (char *)b->p + b->len);
    tsb_buf_added(b, need);
    return 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int tsb_b64_decode_buf(const char *s, size_t slen, bool allow_ws, struct tsb_buf *b)
{
    uint8_t quad[4];
    size_t q = 0, pad = 0, start = b->len;
    int r;

    if ((r = tsb_buf_reserve(b, slen / 4 * 3)) != 0)
        return r;
    for (size_t i = 0; i < slen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_ws(c)) {
            if (allow_ws)
                continue;
            goto bad;
        }
        if (c == '=') {
            if (q < 2)
                goto bad;
            pad++;
            quad[q++] = 0;
        } else {
            int v = b64val(c);
            if (v < 0 || pad > 0)
                goto bad;
            quad[q++] = (uint8_t)v;
        }
        if (q == 4) {
            uint32_t v = (uint32_t)quad[0] << 18 | (uint32_t)quad[1] << 12 |
                         (uint32_t)quad[2] << 6 | quad[3];
            uint8_t out[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
            if (pad == 2 && (quad[1] & 15) != 0)
                goto bits;
            if (pad == 1 && (quad[2] & 3) != 0)
                goto bits;
            if ((r = tsb_buf_append(b, out, 3 - pad)) != 0)
                goto fail;
            q = 0;
            if (pad) {
                /* only whitespace may follow the padding */
                for (size_t j = i + 1; j < slen; j++)
                    if (!(allow_ws && is_ws((unsigned char)s[j]))) {
                        i = j;
                        goto bad;
                    }
                break;
            }
        }
        continue;
    bad:
        r = tsb_err(TSB_EFORMAT, "invalid base64 at offset %zu", i);
        goto fail;
    bits:
        r = tsb_err(TSB_EFORMAT, "non-canonical base64 padding at offset %zu", i);
        goto fail;
    }
    if (q != 0) {
        r = tsb_err(TSB_EFORMAT, "base64 text is truncated (length not a multiple of 4)");
        goto fail;
    }
    return 0;
fail:
    tsb_buf_truncate(b, start);
    return r;
}

bool tsb_b64_looks_like(const uint8_t *s, size_t slen)
{
    size_t n = 0, pad = 0;
    for (size_t i = 0; i < slen; i++) {
        unsigned char c = s[i];
        if (is_ws(c))
            continue;
        if (c == '=') {
            pad++;
        } else if (b64val(c) < 0 || pad) {
            return false;
        }
        n++;
    }
    return n >= 4 && n % 4 == 0 && pad <= 2;
}
