/*
 * mem: allocation wrappers that abort on out-of-memory, and tsb_buf, a growable byte buffer with
 * a hard cap. A buffer that would grow past its cap refuses with TSB_ETOOBIG and keeps its
 * contents, so every peer-controlled buffer is bounded by construction. Code outside mem.c reads
 * p and len but changes them only through the functions below (append, extend, added, truncate,
 * consume), which keep len <= max, len < cap and the NUL after len; every cap a caller passes is
 * derived from configuration or a protocol limit.
 */
#ifndef TSB_MEM_H
#define TSB_MEM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void *tsb_malloc(size_t n);
void *tsb_calloc(size_t nmemb, size_t size);
void *tsb_realloc(void *p, size_t n);
char *tsb_strdup(const char *s);
char *tsb_strndup(const char *s, size_t n);

/* A read-only view of bytes owned elsewhere (network input is never NUL-terminated). */
struct tsb_slice {
    const uint8_t *p;
    size_t len;
};

struct tsb_buf {
    uint8_t *p; /* always NUL-terminated past len when non-NULL, for convenience */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
};

/* Initialises an empty buffer that may hold at most max bytes (max < SIZE_MAX). */
void tsb_buf_init(struct tsb_buf *b, size_t max);
/* Frees the contents; the buffer can be reused after tsb_buf_init. */
void tsb_buf_cleanup(struct tsb_buf *b);
/* Forgets the contents but keeps the allocation. */
void tsb_buf_reset(struct tsb_buf *b);
/* Ensures room for n more bytes; TSB_ETOOBIG past max. */
int tsb_buf_reserve(struct tsb_buf *b, size_t n);
/* Like tsb_buf_reserve, but grows the allocation to exactly len + n (+ NUL) instead of doubling:
 * for a writer that knows its final size (a bag) and must cost no more than that. */
int tsb_buf_reserve_exact(struct tsb_buf *b, size_t n);
int tsb_buf_append(struct tsb_buf *b, const void *p, size_t n);
int tsb_buf_append_str(struct tsb_buf *b, const char *s);
int tsb_buf_appendf(struct tsb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reserves n bytes at the end, counts them in len and sets *where to them, for a writer that
 * knows its length (the bytes are uninitialised until written). TSB_ETOOBIG past max. */
int tsb_buf_extend(struct tsb_buf *b, size_t n, uint8_t **where);
/* Bytes that may be written at p + len without another reserve (0 for an empty allocation). */
size_t tsb_buf_room(const struct tsb_buf *b);
/* Counts n bytes just written at p + len (n <= tsb_buf_room) and NUL-terminates: for writers that
 * learn their length while writing (reads, encoders). */
void tsb_buf_added(struct tsb_buf *b, size_t n);
/* Shortens the contents to len bytes (len <= the current length), e.g. to undo a partial write. */
void tsb_buf_truncate(struct tsb_buf *b, size_t len);
/* Drops the first n bytes (n <= the current length), moving the rest to the front. */
void tsb_buf_consume(struct tsb_buf *b, size_t n);
/* The cap given at init. */
size_t tsb_buf_max(const struct tsb_buf *b);
/* Hands the bytes to the caller (who frees them) and leaves the buffer empty; *len gets the
 * length. Returns NULL for an empty buffer that never allocated. */
uint8_t *tsb_buf_take(struct tsb_buf *b, size_t *len);

#endif
