/* Unit tests for codec: hex and base64 round trips, strictness, RFC 4648 vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"
#include "err.h"

#include <string.h>

static void test_b64_rfc4648_vectors(void **state)
{
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},
             {"f", "Zg=="},
             {"fo", "Zm8="},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg=="},
             {"fooba", "Zm9vYmE="},
             {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char out[16];
        tsb_b64_encode((const uint8_t *)v[i].in, strlen(v[i].in), out);
        assert_string_equal(out, v[i].out);
        assert_int_equal(tsb_b64_encoded_len(strlen(v[i].in)), strlen(v[i].out));
        struct tsb_buf b;
        tsb_buf_init(&b, 64);
        assert_int_equal(tsb_b64_decode_buf(v[i].out, strlen(v[i].out), false, &b), 0);
        assert_int_equal(b.len, strlen(v[i].in));
        if (b.len)
            assert_memory_equal(b.p, v[i].in, b.len);
        tsb_buf_cleanup(&b);
    }
}

static void test_b64_rejects(void **state)
{
    static const char *bad[] = {
        "Zg=", "Zg", "Z===", "Zm9v=", "Zh==", "Zm9=", "Zm9v\n", "Zg==Zg==", "Zm!v", "=Zm9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tsb_buf b;
        tsb_buf_init(&b, 64);
        assert_int_equal(tsb_b64_decode_buf(bad[i], strlen(bad[i]), false, &b), TSB_EFORMAT);
        assert_int_equal(b.len, 0);
        tsb_buf_cleanup(&b);
    }
}

static void test_b64_whitespace_when_allowed(void **state)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 64);
    const char *s = " Zm9v\r\nYmFy \n";
    assert_int_equal(tsb_b64_decode_buf(s, strlen(s), true, &b), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.p, "foobar", 6);
    tsb_buf_cleanup(&b);
    assert_true(tsb_b64_looks_like((const uint8_t *)"Zm9v\nYg==", 9));
    assert_false(tsb_b64_looks_like((const uint8_t *)"0\x82\x01", 3));
}

static void test_b64_decode_respects_cap(void **state)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 2);
    assert_int_equal(tsb_b64_decode_buf("Zm9v", 4, false, &b), TSB_ETOOBIG);
    tsb_buf_cleanup(&b);
}

static void test_hex(void **state)
{
    uint8_t in[] = {0x00, 0x7f, 0x80, 0xff, 0x0a};
    char out[11];
    tsb_hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "007f80ff0a");
    uint8_t back[5];
    assert_int_equal(tsb_hex_decode("007F80fF0a", 10, back, 5), 0);
    assert_memory_equal(back, in, 5);
    assert_int_equal(tsb_hex_decode("007f80ff0", 9, back, 5), TSB_EFORMAT);
    assert_int_equal(tsb_hex_decode("007f80ff0g", 10, back, 5), TSB_EFORMAT);
    assert_non_null(strstr(tsb_err_detail(), "offset 9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_rfc4648_vectors),
        cmocka_unit_test(test_b64_rejects),
        cmocka_unit_test(test_b64_whitespace_when_allowed),
        cmocka_unit_test(test_b64_decode_respects_cap),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
