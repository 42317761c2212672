/*
 * capture: writes the request/answer pairs of tsa.capture_dir (capture.h). A file appears under
 * its final name only once complete: it is written to ".<name>.tmp", flushed to disk and renamed.
 * Names carry the RequestID with anything outside [A-Za-z0-9._-] replaced, so that a RequestID
 * can never leave the folder. Called on libuv's thread pool by the sender.
 */
#include "capture.h"

#include "clock.h"
#include "codec.h"
#include "err.h"
#include "hash.h"
#include "mem.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define STEM_MAX 200

static void stem(char out[STEM_MAX], int64_t seq, int64_t attempt, const char *request_id)
{
    int n = snprintf(out, STEM_MAX, "bag-%" PRId64 "-attempt-%" PRId64 "-", seq, attempt);
    for (const char *p = request_id ? request_id : ""; *p && n < STEM_MAX - 1; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[n] = ok ? c : '_';
    }
    out[n] = '\0';
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* dir/name, atomically: a temporary file in the same folder, fsync, rename. */
static int write_atomic(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[4096], tmp[4200];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return tsb_err(TSB_EIO, "capture path %s/%s is too long", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return tsb_err(TSB_EIO, "cannot create %s: %s", tmp, strerror(errno));
    int e = 0;
    if (write_all(fd, p, n) != 0 || fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e == 0 && rename(tmp, path) != 0)
        e = errno;
    if (e != 0) {
        unlink(tmp);
        return tsb_err(TSB_EIO, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

int tsb_capture_request(const char *dir, int64_t seq, int64_t attempt, const char *request_id,
                        const uint8_t *msg, size_t len)
{
    char s[STEM_MAX], name[STEM_MAX + 32];
    stem(s, seq, attempt, request_id);
    snprintf(name, sizeof(name), "%s.request.xml", s);
    return write_atomic(dir, name, msg, len);
}

/* The body file's extension, from the answer's Content-Type. */
static const char *body_ext(const char *content_type)
{
    const char *ct = content_type ? content_type : "";
    size_t n = strcspn(ct, ";");
    for (size_t i = 0; i + 3 <= n; i++) {
        if (strncasecmp(ct + i, "xml", 3) == 0)
            return "xml";
        if (i + 4 <= n && strncasecmp(ct + i, "html", 4) == 0)
            return "html";
    }
    return "bin";
}

/* key=value, the value on one line whatever the peer or the error text held. */
static void field(struct tsb_buf *b, const char *key, const char *value)
{
    const char *p = value ? value : "";
    (void)tsb_buf_appendf(b, "%s=", key);
    for (size_t n; *p; p += n) {
        n = strcspn(p, "\r\n");
        (void)tsb_buf_append(b, p, n);
        if (p[n] != '\0') {
            (void)tsb_buf_append(b, " ", 1);
            n++;
        }
    }
    (void)tsb_buf_append(b, "\n", 1);
}

int tsb_capture_answer(const char *dir, const struct tsb_capture_answer *a)
{
    int r = TSB_EINTERNAL;
    char s[STEM_MAX], body_name[STEM_MAX + 32], meta_name[STEM_MAX + 32], now[64], num[32];
    struct tsb_buf m;
    tsb_buf_init(&m, 64 * 1024);
    tsb_time_utc(tsb_now_ms(), now);
    stem(s, a->seq, a->attempt, a->request_id);
    snprintf(meta_name, sizeof(meta_name), "%s.answer.txt", s);
    snprintf(body_name, sizeof(body_name), "none");
    if (a->http_status != 0) {
        snprintf(body_name, sizeof(body_name), "%s.answer.%s", s, body_ext(a->content_type));
        if ((r = write_atomic(dir, body_name, a->body, a->body_len)) != 0)
            goto out;
    }
    snprintf(num, sizeof(num), "%" PRId64, a->seq);
    field(&m, "seq", num);
    snprintf(num, sizeof(num), "%" PRId64, a->attempt);
    field(&m, "attempt", num);
    field(&m, "request_id", a->request_id);
    (void)tsb_buf_appendf(&m, "request=%s.request.xml\n", s);
    field(&m, "received", now);
    field(&m, "transport", a->transport);
    field(&m, "transport_error", a->error);
    snprintf(num, sizeof(num), "%ld", a->http_status);
    field(&m, "http_status", num);
    field(&m, "content_type", a->content_type);
    field(&m, "answer", body_name);
    if (a->http_status != 0) {
        uint8_t d[TSB_SHA256_LEN];
        char hex[2 * TSB_SHA256_LEN + 1];
        tsb_sha256(a->body, a->body_len, d);
        tsb_hex_encode(d, sizeof(d), hex);
        snprintf(num, sizeof(num), "%zu", a->body_len);
        field(&m, "answer_bytes", num);
        field(&m, "answer_sha256", hex);
    }
    field(&m, "verdict", a->verdict);
    field(&m, "reason", a->reason);
    field(&m, "finding", a->finding);
    field(&m, "failure_key", a->failure_key);
    r = write_atomic(dir, meta_name, m.p, m.len);
out:
    tsb_buf_cleanup(&m);
    return r;
}
