/*
 * codec: hex and base64 (RFC 4648, standard alphabet, padded) for digests, tokens and bag
 * carriers. Decoders are strict: they reject bad characters, bad padding and non-canonical
 * trailing bits, and say where. Whitespace is accepted only where the caller asks for it (XML
 * base64Binary may be wrapped).
 */
#ifndef TSB_CODEC_H
#define TSB_CODEC_H

#include "mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes 2*n lowercase hex chars and a NUL to out (size >= 2*n+1). */
void tsb_hex_encode(const uint8_t *p, size_t n, char *out);
/* Decodes exactly 2*n hex chars (either case) from s into out[n]; TSB_EFORMAT otherwise. */
int tsb_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);

/* Length of the padded base64 text for n bytes, without NUL. */
size_t tsb_b64_encoded_len(size_t n);
/* Writes the base64 text and a NUL to out (size >= tsb_b64_encoded_len(n)+1). */
void tsb_b64_encode(const uint8_t *p, size_t n, char *out);
/* Appends the base64 text of p to b. */
int tsb_b64_encode_buf(const uint8_t *p, size_t n, struct tsb_buf *b);
/* Appends the decoded bytes of s to b. With allow_ws, ASCII whitespace between characters is
 * skipped (XML base64Binary); otherwise it is an error. TSB_EFORMAT names the offending offset. */
int tsb_b64_decode_buf(const char *s, size_t slen, bool allow_ws, struct tsb_buf *b);
/* True when s (without whitespace) is syntactically padded base64 of at least 4 chars. */
bool tsb_b64_looks_like(const uint8_t *s, size_t slen);

#endif
