/*
 * prom: the Prometheus text exposition format (0.0.4). Every line is built in full before it is
 * appended, so a failed append (the buffer's cap) leaves whole lines only. The escaping rules:
 * HELP text escapes backslash and newline; label values also escape the double quote.
 */
#include "prom.h"

#include "err.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int tsb_prom_name_ok(const char *s, int label)
{
    if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (!label && c == ':');
        if (!ok)
            return 0;
    }
    return !(label && strncmp(s, "__", 2) == 0); /* reserved for Prometheus itself */
}

/* Appends s escaped: backslash and newline always, the double quote in label values. */
static int append_escaped(struct tsb_buf *b, const char *s, bool quote)
{
    int r = 0;
    for (const char *p = s; *p && r == 0; p++) {
        if (*p == '\\')
            r = tsb_buf_append_str(b, "\\\\");
        else if (*p == '\n')
            r = tsb_buf_append_str(b, "\\n");
        else if (*p == '"' && quote)
            r = tsb_buf_append_str(b, "\\\"");
        else
            r = tsb_buf_append(b, p, 1);
    }
    return r;
}

int tsb_prom_family(struct tsb_buf *b, const char *name, const char *type, const char *help)
{
    int r = TSB_EINTERNAL;
    if (!tsb_prom_name_ok(name, 0))
        return tsb_err(TSB_EINVAL, "metric name '%s' is not [a-zA-Z_:][a-zA-Z0-9_:]*", name);
    if (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
        strcmp(type, "histogram") != 0)
        return tsb_err(TSB_EINVAL, "metric %s: type '%s' is not counter, gauge or histogram", name,
                       type);
    size_t n = strlen(name);
    if (strcmp(type, "counter") == 0 && (n < 6 || strcmp(name + n - 6, "_total") != 0))
        return tsb_err(TSB_EINVAL, "counter %s does not end in _total", name);
    if ((r = tsb_buf_appendf(b, "# HELP %s ", name)) != 0 ||
        (r = append_escaped(b, help, false)) != 0 ||
        (r = tsb_buf_appendf(b, "\n# TYPE %s %s\n", name, type)) != 0)
        return r;
    return 0;
}

/* name{k="v",...} without the value; extra is one more label pair (the histogram's le) or NULL. */
static int put_series(struct tsb_buf *b, const char *name, const char *suffix,
                      tsb_prom_labels labels, const char *extra_name, const char *extra_value)
{
    int r = TSB_EINTERNAL;
    bool any = false;
    if ((r = tsb_buf_appendf(b, "%s%s", name, suffix)) != 0)
        return r;
    for (size_t i = 0; labels != NULL && labels[i] != NULL; i += 2) {
        if (!tsb_prom_name_ok(labels[i], 1) || labels[i + 1] == NULL)
            return tsb_err(TSB_EINVAL, "metric %s: bad label '%s'", name, labels[i]);
        if ((r = tsb_buf_appendf(b, "%s%s=\"", any ? "," : "{", labels[i])) != 0 ||
            (r = append_escaped(b, labels[i + 1], true)) != 0 ||
            (r = tsb_buf_append_str(b, "\"")) != 0)
            return r;
        any = true;
    }
    if (extra_name != NULL) {
        if ((r = tsb_buf_appendf(b, "%s%s=\"%s\"", any ? "," : "{", extra_name, extra_value)) != 0)
            return r;
        any = true;
    }
    return any ? tsb_buf_append_str(b, "}") : 0;
}

static void format_real(double v, char *out, size_t n)
{
    if (isnan(v))
        snprintf(out, n, "NaN");
    else if (isinf(v))
        snprintf(out, n, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (snprintf(out, n, "%.15g", v) > 0 && strtod(out, NULL) != v)
        snprintf(out, n, "%.17g", v); /* the shortest form that reads back the same */
}

/* The line is built in a scratch buffer, then appended whole. */
static int put_line(struct tsb_buf *b, const char *name, const char *suffix, tsb_prom_labels labels,
                    const char *le, const char *value)
{
    int r = TSB_EINTERNAL;
    struct tsb_buf line;
    tsb_buf_init(&line, 64 * 1024);
    if ((r = put_series(&line, name, suffix, labels, le ? "le" : NULL, le)) != 0 ||
        (r = tsb_buf_appendf(&line, " %s\n", value)) != 0 ||
        (r = tsb_buf_append(b, line.p, line.len)) != 0)
        goto out;
    r = 0;
out:
    tsb_buf_cleanup(&line);
    return r;
}

int tsb_prom_int(struct tsb_buf *b, const char *name, tsb_prom_labels labels, int64_t v)
{
    char value[32];
    snprintf(value, sizeof(value), "%lld", (long long)v);
    return put_line(b, name, "", labels, NULL, value);
}

int tsb_prom_real(struct tsb_buf *b, const char *name, tsb_prom_labels labels, double v)
{
    char value[40];
    format_real(v, value, sizeof(value));
    return put_line(b, name, "", labels, NULL, value);
}

int tsb_prom_histogram(struct tsb_buf *b, const char *name, tsb_prom_labels labels,
                       const double *bounds, const uint64_t *counts, size_t n, double sum)
{
    int r = TSB_EINTERNAL;
    char le[40], value[32];
    uint64_t cum = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && i > 0 && !(bounds[i] > bounds[i - 1]))
            return tsb_err(TSB_EINVAL, "histogram %s: bounds not increasing", name);
        cum += counts[i];
        if (i < n)
            format_real(bounds[i], le, sizeof(le));
        else
            snprintf(le, sizeof(le), "+Inf");
        snprintf(value, sizeof(value), "%llu", (unsigned long long)cum);
        if ((r = put_line(b, name, "_bucket", labels, le, value)) != 0)
            return r;
    }
    format_real(sum, value, sizeof(value));
    if ((r = put_line(b, name, "_sum", labels, NULL, value)) != 0)
        return r;
    snprintf(value, sizeof(value), "%llu", (unsigned long long)cum);
    return put_line(b, name, "_count", labels, NULL, value);
}
