/*
 * allowlist: parser and lookup of the TLS allow-list file. Lines are read whole (a line longer
 * than the buffer is refused, never split into two entries); errors name file:line.
 */
#include "allowlist.h"

#include "err.h"
#include "frame.h"
#include "mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 2048

struct allow {
    char *subject;
    char *source;
};

struct tsb_allowlist {
    struct allow *v;
    size_t n;
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* One non-comment line into a; the error names path:lineno. */
static int parse_line(struct tsb_allowlist *a, char *l, size_t max_source, const char *path,
                      int lineno)
{
    char *eq = strrchr(l, '=');
    if (eq == NULL)
        return tsb_err(TSB_ECONFIG, "%s:%d: expected 'subject = source'", path, lineno);
    *eq = '\0';
    char *subject = trim(l), *source = trim(eq + 1);
    struct tsb_slice src = {(const uint8_t *)source, strlen(source)};
    if (*subject == '\0' || !tsb_frame_name_ok(src, max_source))
        return tsb_err(TSB_ECONFIG,
                       "%s:%d: empty subject or source not 1-%zu printable ASCII characters", path,
                       lineno, max_source);
    a->v = tsb_realloc(a->v, (a->n + 1) * sizeof(*a->v));
    a->v[a->n].subject = tsb_strdup(subject);
    a->v[a->n].source = tsb_strdup(source);
    a->n++;
    return 0;
}

int tsb_allowlist_load(const char *path, size_t max_source, struct tsb_allowlist **out)
{
    int r = 0, lineno = 0;
    char line[LINE_MAX_LEN];
    struct tsb_allowlist *a = tsb_calloc(1, sizeof(*a));
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        r = tsb_err(TSB_ECONFIG, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    while (r == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
            r = tsb_err(TSB_ECONFIG, "%s:%d: line longer than %d bytes", path, lineno,
                        LINE_MAX_LEN - 2);
            break;
        }
        char *l = trim(line);
        if (*l != '\0' && *l != '#')
            r = parse_line(a, l, max_source, path, lineno);
    }
    if (r == 0 && ferror(f))
        r = tsb_err(TSB_ECONFIG, "%s: read error after line %d", path, lineno);
out:
    if (f != NULL)
        fclose(f);
    if (r != 0) {
        tsb_allowlist_free(a);
        return r;
    }
    *out = a;
    return 0;
}

const char *tsb_allowlist_source(const struct tsb_allowlist *a, const char *subject)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].subject, subject) == 0)
            return a->v[i].source;
    return NULL;
}

size_t tsb_allowlist_count(const struct tsb_allowlist *a)
{
    return a->n;
}

void tsb_allowlist_free(struct tsb_allowlist *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].subject);
        free(a->v[i].source);
    }
    free(a->v);
    free(a);
}
