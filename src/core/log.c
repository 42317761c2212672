/*
 * log: formats a record into a stack buffer and writes it with one write(2) so that records from
 * the loop thread and the writer thread never interleave.
 */
#include "log.h"

#include "clock.h"
#include "err.h"
#include "timefmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum tsb_log_level min_level = TSB_LOG_INFO;
static bool with_time = true;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void tsb_log_setup(enum tsb_log_level level, bool timestamps)
{
    min_level = level;
    with_time = timestamps;
}

int tsb_log_level_parse(const char *s, enum tsb_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum tsb_log_level)i;
            return 0;
        }
    }
    return TSB_EINVAL;
}

static void vlog(enum tsb_log_level level, const char *fmt, va_list ap)
{
    char rec[2048];
    size_t n = 0;

    if (with_time) {
        char when[TSB_TIME_STR_MAX];
        tsb_time_utc(tsb_now_ms(), when);
        n += (size_t)snprintf(rec, sizeof(rec), "%s ", when);
    }
    n += (size_t)snprintf(rec + n, sizeof(rec) - n, "%s: ", level_names[level]);
    int w = vsnprintf(rec + n, sizeof(rec) - n, fmt, ap);
    if (w < 0)
        w = 0;
    n += (size_t)w;
    if (n > sizeof(rec) - 2)
        n = sizeof(rec) - 2;
    rec[n++] = '\n';
    ssize_t r = write(STDERR_FILENO, rec, n);
    (void)r;
}

const char *tsb_log_quote(const char *s, char *out, size_t size)
{
    size_t n = 0;
    if (size < 3) {
        if (size > 0)
            out[0] = '\0';
        return out;
    }
    out[n++] = '"';
    for (; *s != '\0' && n + 3 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            out[n++] = '\\';
        out[n++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

void tsb_log(enum tsb_log_level level, const char *fmt, ...)
{
    if (level > min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void tsb_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(TSB_LOG_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}
