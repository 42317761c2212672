/* Unit tests for log: the quoting of values in event=... lines (one value never breaks the
 * key=value structure of its line, whatever the text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "log.h"

#include <string.h>

static void test_quote(void **state)
{
    static const struct {
        const char *in;
        size_t size;
        const char *want;
    } cases[] = {
        {"", 64, "\"\""},
        {"HTTP 503", 64, "\"HTTP 503\""},
        {"say \"no\"", 64, "\"say \\\"no\\\"\""},
        {"a\\b", 64, "\"a\\\\b\""},
        {"line\nbreak\ttab\r", 64, "\"line break tab \""},
        {"abcdefgh", 6, "\"ab\""}, /* truncated, still closed */
        {"\"\"\"", 6, "\"\\\"\""}, /* an escape is never split */
        {"abc", 3, "\"\""},        /* room for an empty value only */
        {"abc", 2, ""},            /* no room for a value */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        memset(out, 'x', sizeof(out));
        const char *r = tsb_log_quote(cases[i].in, out, cases[i].size);
        assert_ptr_equal(r, out);
        assert_string_equal(out, cases[i].want);
        assert_true(strlen(out) < cases[i].size);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
