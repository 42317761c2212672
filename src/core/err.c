/*
 * err: code names and the thread-local detail buffer. The detail is bounded; longer messages are
 * truncated, never allocated.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char detail[512];

static const char *const names[] = {
    [0] = "success",
    [1] = "internal error",
    [2] = "out of memory",
    [3] = "invalid argument",
    [4] = "input too large",
    [5] = "malformed input",
    [6] = "wrong XML namespace",
    [7] = "unsupported algorithm",
    [8] = "not found",
    [9] = "not allowed in current state",
    [10] = "archive database error",
    [11] = "durable write failed",
    [12] = "archive busy",
    [13] = "configuration error",
    [14] = "I/O error",
    [15] = "cryptographic error",
    [16] = "timestamp token invalid",
    [17] = "security check failed",
    [18] = "protocol error",
    [19] = "network error",
    [20] = "timed out",
    [21] = "conflicts with archived data",
    [22] = "closed",
    [23] = "archive damaged",
};

const char *tsb_strerror(int code)
{
    if (code > 0 || code <= TSB_E_LAST)
        return "unknown error";
    return names[-code];
}

int tsb_err(int code, const char *fmt, ...)
{
    /* format into a copy first: callers often pass tsb_err_detail() to prefix it */
    char tmp[sizeof(detail)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    memcpy(detail, tmp, sizeof(detail));
    return code;
}

const char *tsb_err_detail(void)
{
    return detail;
}

void tsb_err_clear(void)
{
    detail[0] = '\0';
}

void tsb_assert_failed(const char *cond, const char *file, int line, const char *func)
{
    /* no allocation and no log module: the process state is not to be trusted any more */
    fprintf(stderr, "tsbag: invariant violated: %s (%s:%d, %s)\n", cond, file, line, func);
    fflush(stderr);
    abort();
}

int tsb_result_set(struct tsb_result *res, int code)
{
    res->code = code;
    snprintf(res->msg, sizeof(res->msg), "%s", code != 0 ? detail : "");
    return code;
}
