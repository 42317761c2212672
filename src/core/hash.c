/*
 * hash: SHA-256 through OpenSSL's EVP interface. The EVP_MD is fetched once per hasher (a
 * provider lookup per call would dominate small entries) and one EVP_MD_CTX is reset and reused.
 */
#include "hash.h"

#include "codec.h"
#include "err.h"
#include "log.h"
#include "mem.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct tsb_hasher {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    size_t max_len;
};

struct tsb_hasher *tsb_hasher_new(size_t max_len)
{
    struct tsb_hasher *h = tsb_calloc(1, sizeof(*h));
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (h->md == NULL || h->ctx == NULL)
        tsb_fatal("OpenSSL cannot provide SHA-256");
    h->max_len = max_len;
    return h;
}

void tsb_hasher_free(struct tsb_hasher *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    free(h);
}

int tsb_hasher_digest(struct tsb_hasher *h, const uint8_t *p, size_t len,
                      uint8_t out[TSB_SHA256_LEN])
{
    unsigned int n = 0;
    if (len > h->max_len)
        return tsb_err(TSB_ETOOBIG, "journal entry of %zu bytes exceeds the limit of %zu bytes",
                       len, h->max_len);
    if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1 || EVP_DigestUpdate(h->ctx, p, len) != 1 ||
        EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != TSB_SHA256_LEN)
        return tsb_err(TSB_ECRYPTO, "SHA-256 computation failed");
    return 0;
}

void tsb_sha256(const uint8_t *p, size_t len, uint8_t out[TSB_SHA256_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) != 1 || n != TSB_SHA256_LEN)
        tsb_fatal("OpenSSL SHA-256 failed");
}

size_t tsb_hash_encode(const uint8_t d[TSB_SHA256_LEN], enum tsb_hash_enc enc, char *out)
{
    if (enc == TSB_HASH_BASE64) {
        tsb_b64_encode(d, TSB_SHA256_LEN, out);
        return TSB_HASH_B64_LEN;
    }
    tsb_hex_encode(d, TSB_SHA256_LEN, out);
    return TSB_HASH_HEX_LEN;
}

int tsb_hash_decode(const char *s, size_t len, uint8_t out[TSB_SHA256_LEN],
                    enum tsb_hash_enc *enc_out)
{
    int r;
    if (len == TSB_HASH_HEX_LEN) {
        if ((r = tsb_hex_decode(s, len, out, TSB_SHA256_LEN)) != 0)
            return r;
        if (enc_out)
            *enc_out = TSB_HASH_HEX;
        return 0;
    }
    if (len == TSB_HASH_B64_LEN) {
        struct tsb_buf b;
        tsb_buf_init(&b, TSB_SHA256_LEN + 1); /* 44 chars reserve 33 bytes before padding */
        r = tsb_b64_decode_buf(s, len, false, &b);
        if (r == 0 && b.len != TSB_SHA256_LEN)
            r = tsb_err(TSB_EFORMAT, "base64 hash decodes to %zu bytes, not 32", b.len);
        if (r == 0) {
            memcpy(out, b.p, TSB_SHA256_LEN);
            if (enc_out)
                *enc_out = TSB_HASH_BASE64;
        }
        tsb_buf_cleanup(&b);
        return r;
    }
    return tsb_err(TSB_EFORMAT, "hash of %zu characters is neither 64 hex nor 44 base64 characters",
                   len);
}

int tsb_hash_enc_parse(const char *s, enum tsb_hash_enc *out)
{
    if (strcmp(s, "hex") == 0)
        *out = TSB_HASH_HEX;
    else if (strcmp(s, "base64") == 0)
        *out = TSB_HASH_BASE64;
    else
        return tsb_err(TSB_EINVAL, "unknown hash encoding '%s' (hex or base64)", s);
    return 0;
}
