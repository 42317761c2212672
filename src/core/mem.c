/*
 * mem: abort-on-OOM allocation and the capped growable buffer. Growth doubles, clamped to the
 * cap (plus one byte for the terminating NUL).
 */
#include "mem.h"

#include "err.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void oom(size_t n)
{
    tsb_fatal("out of memory allocating %zu bytes", n);
}

void *tsb_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *tsb_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p == NULL)
        oom(nmemb * size);
    return p;
}

void *tsb_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *tsb_strdup(const char *s)
{
    return tsb_strndup(s, strlen(s));
}

char *tsb_strndup(const char *s, size_t n)
{
    char *d = tsb_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void tsb_buf_init(struct tsb_buf *b, size_t max)
{
    TSB_ASSERT(max < SIZE_MAX); /* room for the NUL */
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void tsb_buf_cleanup(struct tsb_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void tsb_buf_reset(struct tsb_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

int tsb_buf_reserve(struct tsb_buf *b, size_t n)
{
    if (n > b->max - b->len)
        return tsb_err(TSB_ETOOBIG, "buffer limit of %zu bytes reached", b->max);
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    /* need <= max + 1, so doubling stops at max + 1 before it can overflow */
    size_t cap = b->cap ? b->cap : 256, limit = b->max + 1;
    while (cap < need)
        cap = cap <= limit / 2 ? cap * 2 : limit;
    if (cap > limit)
        cap = limit;
    b->p = tsb_realloc(b->p, cap);
    b->cap = cap;
    return 0;
}

int tsb_buf_reserve_exact(struct tsb_buf *b, size_t n)
{
    if (n > b->max - b->len)
        return tsb_err(TSB_ETOOBIG, "buffer limit of %zu bytes reached", b->max);
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    b->p = tsb_realloc(b->p, need);
    b->cap = need;
    return 0;
}

int tsb_buf_append(struct tsb_buf *b, const void *p, size_t n)
{
    int r;
    if ((r = tsb_buf_reserve(b, n)) != 0)
        return r;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int tsb_buf_append_str(struct tsb_buf *b, const char *s)
{
    return tsb_buf_append(b, s, strlen(s));
}

int tsb_buf_appendf(struct tsb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return tsb_err(TSB_EINTERNAL, "bad format string");
    int r;
    if ((r = tsb_buf_reserve(b, (size_t)n)) != 0)
        return r;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int tsb_buf_extend(struct tsb_buf *b, size_t n, uint8_t **where)
{
    int r;
    if ((r = tsb_buf_reserve(b, n)) != 0)
        return r;
    *where = b->p + b->len;
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

size_t tsb_buf_room(const struct tsb_buf *b)
{
    return b->cap > b->len ? b->cap - b->len - 1 : 0;
}

void tsb_buf_added(struct tsb_buf *b, size_t n)
{
    TSB_ASSERT(n <= tsb_buf_room(b));
    if (n == 0 && b->p == NULL)
        return;
    b->len += n;
    b->p[b->len] = '\0';
}

void tsb_buf_truncate(struct tsb_buf *b, size_t len)
{
    TSB_ASSERT(len <= b->len);
    if (len >= b->len)
        return;
    b->len = len;
    b->p[len] = '\0';
}

void tsb_buf_consume(struct tsb_buf *b, size_t n)
{
    TSB_ASSERT(n <= b->len);
    if (n == 0)
        return;
    if (n > b->len)
        n = b->len;
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}

size_t tsb_buf_max(const struct tsb_buf *b)
{
    return b->max;
}

uint8_t *tsb_buf_take(struct tsb_buf *b, size_t *len)
{
    uint8_t *p = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
