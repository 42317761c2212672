/* Unit tests for json: escaping, UTF-8 repair, insertion order, nesting, the output cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "json.h"

#include <stdio.h>
#include <string.h>

/* The compact document {"s":<s>} as written. */
static void dump_one(const char *s, char *out, size_t n)
{
    struct json_t *o = tsb_json_object();
    struct tsb_buf b;
    tsb_buf_init(&b, 4096);
    tsb_json_set_str(o, "s", s);
    assert_int_equal(tsb_json_dump(o, &b), 0);
    snprintf(out, n, "%s", (const char *)b.p);
    tsb_buf_cleanup(&b);
    tsb_json_free(o);
}

static void test_strings(void **state)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        {"", "{\"s\":\"\"}"},
        {"plain", "{\"s\":\"plain\"}"},
        {"a\"b\\c", "{\"s\":\"a\\\"b\\\\c\"}"},
        {"tab\there\nline", "{\"s\":\"tab\\there\\nline\"}"},
        {"\x01\x1f", "{\"s\":\"\\u0001\\u001F\"}"}, /* jansson writes upper-case hex */
        {"a/b", "{\"s\":\"a/b\"}"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "{\"s\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}"},
        /* stray bytes, a cut sequence, an overlong '/', a UTF-16 surrogate: U+FFFD each byte */
        {"x\xffy", "{\"s\":\"x\xef\xbf\xbdy\"}"},
        {"\xe2\x82", "{\"s\":\"\xef\xbf\xbd\xef\xbf\xbd\"}"},
        {"\xc0\xaf", "{\"s\":\"\xef\xbf\xbd\xef\xbf\xbd\"}"},
        {"\xed\xa0\x80", "{\"s\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"}"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        dump_one(v[i].in, out, sizeof(out));
        assert_string_equal(out, v[i].out);
    }
    dump_one(NULL, out, sizeof(out));
    assert_string_equal(out, "{\"s\":null}");
}

static void test_order_and_nesting(void **state)
{
    struct json_t *o = tsb_json_object(), *a = tsb_json_array(), *inner = tsb_json_object();
    struct tsb_buf b;
    tsb_buf_init(&b, 4096);
    tsb_json_set_int(o, "zeta", INT64_MAX);
    tsb_json_set_bool(o, "alpha", true);
    tsb_json_set(o, "mid", tsb_json_null());
    tsb_json_set_int(inner, "n", -1);
    tsb_json_append(a, inner);
    tsb_json_append(a, tsb_json_str("x"));
    tsb_json_set(o, "list", a);
    tsb_json_set_bool(o, "alpha", false); /* keeps its place */
    assert_int_equal(tsb_buf_append_str(&b, "doc="), 0);
    assert_int_equal(tsb_json_dump(o, &b), 0);
    assert_string_equal((const char *)b.p, "doc={\"zeta\":9223372036854775807,\"alpha\":false,"
                                           "\"mid\":null,\"list\":[{\"n\":-1},\"x\"]}");
    tsb_buf_reset(&b);
    assert_int_equal(tsb_json_dump_line(o, &b), 0);
    assert_string_equal((const char *)b.p, "{\"zeta\": 9223372036854775807, \"alpha\": false, "
                                           "\"mid\": null, \"list\": [{\"n\": -1}, \"x\"]}");
    tsb_buf_cleanup(&b);
    tsb_json_free(o);
    tsb_json_free(NULL);
}

static void test_cap(void **state)
{
    struct json_t *o = tsb_json_object();
    struct tsb_buf b;
    tsb_buf_init(&b, 16);
    tsb_json_set_str(o, "long", "more than sixteen bytes");
    assert_int_equal(tsb_buf_append_str(&b, "ab"), 0);
    assert_int_equal(tsb_json_dump(o, &b), TSB_ETOOBIG);
    assert_int_equal(b.len, 2);
    assert_string_equal((const char *)b.p, "ab");
    tsb_buf_cleanup(&b);
    tsb_json_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_order_and_nesting),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
