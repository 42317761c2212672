/* Unit tests for allowlist: the TLS allow-list file (ingest.tls_allowlist): lookups, comments and
 * blank lines, the last '=' separating a subject that contains '=', and each error naming
 * file:line and what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "allowlist.h"
#include "err.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SOURCE 64

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tsb_test_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

static char *write_list(const char *text)
{
    char *p = tsb_test_path(dir, "allowlist.txt");
    assert_int_equal(tsb_test_write_file(p, text, strlen(text)), 0);
    return p;
}

static void test_lookup(void **state)
{
    (void)state;
    char *p = write_list("# hospital systems\n"
                         "\n"
                         "CN=pharmacy,O=Hospital,C=BE = PHARMA\n"
                         "   CN=lab\\, north,O=Hospital,C=BE\t=\tLAB-1   \r\n"
                         "CN=pharmacy,O=Hospital,C=BE = SECOND\n"
                         "CN=last,O=H = LAST"); /* no newline at the end */
    struct tsb_allowlist *a = NULL;
    assert_int_equal(tsb_allowlist_load(p, MAX_SOURCE, &a), 0);
    assert_int_equal(tsb_allowlist_count(a), 4);
    assert_string_equal(tsb_allowlist_source(a, "CN=pharmacy,O=Hospital,C=BE"), "PHARMA");
    assert_string_equal(tsb_allowlist_source(a, "CN=lab\\, north,O=Hospital,C=BE"), "LAB-1");
    assert_string_equal(tsb_allowlist_source(a, "CN=last,O=H"), "LAST");
    assert_null(tsb_allowlist_source(a, "CN=pharmacy,O=Hospital"));
    assert_null(tsb_allowlist_source(a, "cn=pharmacy,O=Hospital,C=BE"));
    tsb_allowlist_free(a);
    tsb_allowlist_free(NULL);
    free(p);
}

static void test_empty_file_lists_nobody(void **state)
{
    (void)state;
    char *p = write_list("# nobody yet\n\n");
    struct tsb_allowlist *a = NULL;
    assert_int_equal(tsb_allowlist_load(p, MAX_SOURCE, &a), 0);
    assert_int_equal(tsb_allowlist_count(a), 0);
    assert_null(tsb_allowlist_source(a, "CN=x"));
    tsb_allowlist_free(a);
    free(p);
}

static void expect_error(const char *text, const char *where, const char *what)
{
    char *p = write_list(text);
    struct tsb_allowlist *a = (struct tsb_allowlist *)&a; /* must stay untouched */
    struct tsb_allowlist *before = a;
    assert_int_equal(tsb_allowlist_load(p, MAX_SOURCE, &a), TSB_ECONFIG);
    assert_ptr_equal(a, before);
    char want[4200];
    snprintf(want, sizeof(want), "%s%s", p, where);
    const char *d = tsb_err_detail();
    if (strstr(d, want) == NULL || strstr(d, what) == NULL)
        fail_msg("error '%s' does not name '%s' and '%s'", d, want, what);
    free(p);
}

static void test_errors_name_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text, *where, *what;
    } cases[] = {
        {"CN=a = A\nno separator here\n", ":2:", "expected 'subject = source'"},
        {"# c\n = SOURCE\n", ":2:", "empty subject"},
        {"CN=a = \n", ":1:", "not 1-64 printable ASCII characters"},
        {"CN=a = two words\n", ":1:", "not 1-64 printable ASCII characters"},
        {"CN=a = "
         "SOURCE-LONGER-THAN-SIXTY-FOUR-CHARACTERS-IS-REFUSED-BY-THE-PROTOCOL-RULE\n",
         ":1:", "printable ASCII"},
        {"CN=a = caf\xc3\xa9\n", ":1:", "printable ASCII"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].text, cases[i].where, cases[i].what);
}

/* A line longer than the reader's buffer is an error, not two entries. */
static void test_overlong_line_is_refused(void **state)
{
    (void)state;
    size_t n = 5000;
    char *text = malloc(n + 32);
    memcpy(text, "CN=a = A\nCN=", 12);
    memset(text + 12, 'x', n);
    strcpy(text + 12 + n, " = B\n");
    expect_error(text, ":2:", "line longer than");
    /* the tail of a long line is not read as an entry of its own */
    memset(text, ' ', n);
    memcpy(text, "CN=a = A", 8);
    strcpy(text + 2100, "CN=tail = TAIL\n");
    expect_error(text, ":1:", "line longer than");
    free(text);
}

static void test_missing_file(void **state)
{
    (void)state;
    char *p = tsb_test_path(dir, "absent.txt");
    struct tsb_allowlist *a = NULL;
    assert_int_equal(tsb_allowlist_load(p, MAX_SOURCE, &a), TSB_ECONFIG);
    assert_null(a);
    assert_non_null(strstr(tsb_err_detail(), p));
    assert_non_null(strstr(tsb_err_detail(), "cannot open"));
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_empty_file_lists_nobody),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_overlong_line_is_refused),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
