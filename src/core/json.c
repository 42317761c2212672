/*
 * json: jansson behind tsbag's conventions. jansson refuses a string that is not valid UTF-8;
 * tsbag's texts carry what peers sent (fault strings, file names), so each string is repaired
 * before it is handed over rather than dropped. Every NULL jansson returns for lack of memory
 * aborts, like tsb_malloc.
 */
#include "json.h"

#include "err.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *must(json_t *v)
{
    if (v == NULL) {
        fprintf(stderr, "tsbag: out of memory building a JSON document\n");
        abort();
    }
    return v;
}

json_t *tsb_json_object(void)
{
    return must(json_object());
}

json_t *tsb_json_array(void)
{
    return must(json_array());
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if there is none. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t len;
    uint32_t c;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        c = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        c = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        c = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    /* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff) ||
        c > 0x10ffff)
        return 0;
    return len;
}

json_t *tsb_json_str(const char *s)
{
    if (s == NULL)
        return must(json_null());
    size_t n = strlen(s), i = 0, o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0)
            break;
        i += k;
    }
    if (i == n)
        return must(json_stringn(s, n));
    /* each stray byte becomes U+FFFD (3 bytes) */
    char *fixed = tsb_malloc(n * 3 + 1);
    for (i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0) {
            memcpy(fixed + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(fixed + o, s + i, k);
            o += k;
            i += k;
        }
    }
    json_t *v = must(json_stringn(fixed, o));
    free(fixed);
    return v;
}

json_t *tsb_json_int(int64_t v)
{
    return must(json_integer((json_int_t)v));
}

json_t *tsb_json_bool(bool v)
{
    return must(json_boolean(v));
}

json_t *tsb_json_null(void)
{
    return must(json_null());
}

void tsb_json_free(json_t *v)
{
    json_decref(v);
}

void tsb_json_set(json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, v) != 0)
        must(NULL);
}

void tsb_json_set_str(json_t *obj, const char *key, const char *s)
{
    tsb_json_set(obj, key, tsb_json_str(s));
}

void tsb_json_set_int(json_t *obj, const char *key, int64_t v)
{
    tsb_json_set(obj, key, tsb_json_int(v));
}

void tsb_json_set_bool(json_t *obj, const char *key, bool v)
{
    tsb_json_set(obj, key, tsb_json_bool(v));
}

void tsb_json_append(json_t *arr, json_t *v)
{
    if (json_array_append_new(arr, v) != 0)
        must(NULL);
}

static int dump_cb(const char *p, size_t n, void *arg)
{
    return tsb_buf_append(arg, p, n) == 0 ? 0 : -1;
}

static int dump(const json_t *doc, size_t flags, struct tsb_buf *out)
{
    size_t before = out->len;
    if (json_dump_callback(doc, dump_cb, out, flags | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) != 0) {
        tsb_buf_truncate(out, before);
        return tsb_err(TSB_ETOOBIG, "a JSON document does not fit in %zu bytes", out->max);
    }
    return 0;
}

int tsb_json_dump(const json_t *doc, struct tsb_buf *out)
{
    return dump(doc, JSON_COMPACT, out);
}

int tsb_json_dump_line(const json_t *doc, struct tsb_buf *out)
{
    return dump(doc, 0, out);
}
