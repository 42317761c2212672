/*
 * hash: SHA-256 of journal entries, the hot path of ingest. A tsb_hasher fetches the digest
 * implementation once and reuses one EVP context for every call; it is not thread-safe (one per
 * thread). Journal hashes are encoded as lowercase hex (default) or base64 in bags.
 */
#ifndef TSB_HASH_H
#define TSB_HASH_H

#include <stddef.h>
#include <stdint.h>

#define TSB_SHA256_LEN   32
#define TSB_HASH_HEX_LEN 64 /* chars, without NUL */
#define TSB_HASH_B64_LEN 44 /* chars, without NUL */
#define TSB_HASH_STR_MAX 65 /* buffer size that fits either encoding and a NUL */

enum tsb_hash_enc { TSB_HASH_HEX, TSB_HASH_BASE64 };

struct tsb_hasher;

/* A hasher that refuses entries longer than max_len bytes (TSB_ETOOBIG, detail names both
 * sizes). Aborts if the SHA-256 implementation cannot be fetched (a broken OpenSSL install). */
struct tsb_hasher *tsb_hasher_new(size_t max_len);
void tsb_hasher_free(struct tsb_hasher *h);

/* SHA-256 of p[0..len) into out. Returns 0, TSB_ETOOBIG or TSB_ECRYPTO. */
int tsb_hasher_digest(struct tsb_hasher *h, const uint8_t *p, size_t len,
                      uint8_t out[TSB_SHA256_LEN]);

/* One-shot SHA-256 without a size cap, for bags and tokens (not the ingest hot path). */
void tsb_sha256(const uint8_t *p, size_t len, uint8_t out[TSB_SHA256_LEN]);

/* Encodes a digest as the bag's Hash text into out (size >= TSB_HASH_STR_MAX); returns the length.
 */
size_t tsb_hash_encode(const uint8_t d[TSB_SHA256_LEN], enum tsb_hash_enc enc, char *out);

/* Decodes a Hash text: 64 hex chars (either case) or 44 base64 chars. Sets *enc_out if non-NULL.
 * TSB_EFORMAT names what is wrong. */
int tsb_hash_decode(const char *s, size_t len, uint8_t out[TSB_SHA256_LEN],
                    enum tsb_hash_enc *enc_out);

/* Parses "hex" or "base64". */
int tsb_hash_enc_parse(const char *s, enum tsb_hash_enc *out);

#endif
