/*
 * testlib: helpers for tests. They abort the test (via assert) on setup failures rather than
 * returning errors, because a test that cannot set itself up must not pass.
 */
#include "testlib.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Not need(): tests are also built with NDEBUG, and a failed setup must never be skipped. */
#define need(x)                                                                                    \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: test setup failed: %s\n", __FILE__, __LINE__, #x);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

char *tsb_test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof(tmpl), "%s/tsbag-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    need(d != NULL);
    return strdup(d);
}

void tsb_test_rmtree(const char *path)
{
    if (path == NULL || strlen(path) < 8)
        return;
    tsb_test_sh("rm -rf '%s'", path);
}

uint8_t *tsb_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *p = malloc(cap + 1);
    need(p != NULL);
    size_t got;
    while ((got = fread(p + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            p = realloc(p, cap + 1);
            need(p != NULL);
        }
    }
    fclose(f);
    p[n] = '\0';
    *len = n;
    return p;
}

int tsb_test_write_file(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t w = fwrite(p, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

const char *tsb_test_source_dir(void)
{
    return env_or("TSB_SOURCE_DIR", ".");
}

const char *tsb_test_shared_dir(void)
{
    return env_or("TSB_SHARED_DIR", "../shared");
}

const char *tsb_test_binary_dir(void)
{
    return env_or("TSB_BINARY_DIR", "build");
}

int tsb_test_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    need(n > 0 && (size_t)n < sizeof(cmd));
    fflush(stdout);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

char *tsb_test_path(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    need(p != NULL);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}
