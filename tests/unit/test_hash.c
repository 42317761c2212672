/* Unit tests for hash: SHA-256 known answers (FIPS 180-2 and the protocol reference §2),
 * context reuse, the size cap, and both bag encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"
#include "err.h"
#include "hash.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *in;
    const char *hex;
} kat[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    /* protocol reference §2: the illustrative journal entry */
    {"1|71000436|2024-05-02T10:15:00Z|12345678901|10987654321|0012345|NEW|1",
     "8de44a19c21dc062ad9d00ebea990cec737e3b4da467e8cac7f6a3b068d23e95"},
};

static void test_known_answers_with_reused_context(void **state)
{
    struct tsb_hasher *h = tsb_hasher_new(1024);
    /* twice over the table: the second pass proves the reused context is reset correctly */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
            uint8_t d[TSB_SHA256_LEN];
            char hex[TSB_HASH_STR_MAX];
            assert_int_equal(tsb_hasher_digest(h, (const uint8_t *)kat[i].in, strlen(kat[i].in), d),
                             0);
            assert_int_equal(tsb_hash_encode(d, TSB_HASH_HEX, hex), 64);
            assert_string_equal(hex, kat[i].hex);
            uint8_t d2[TSB_SHA256_LEN];
            tsb_sha256((const uint8_t *)kat[i].in, strlen(kat[i].in), d2);
            assert_memory_equal(d, d2, TSB_SHA256_LEN);
        }
    }
    tsb_hasher_free(h);
}

static void test_million_a(void **state)
{
    size_t n = 1000000;
    uint8_t *p = malloc(n);
    memset(p, 'a', n);
    struct tsb_hasher *h = tsb_hasher_new(n);
    uint8_t d[TSB_SHA256_LEN];
    char hex[TSB_HASH_STR_MAX];
    assert_int_equal(tsb_hasher_digest(h, p, n, d), 0);
    tsb_hash_encode(d, TSB_HASH_HEX, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    tsb_hasher_free(h);
    free(p);
}

static void test_size_cap(void **state)
{
    struct tsb_hasher *h = tsb_hasher_new(8);
    uint8_t d[TSB_SHA256_LEN];
    assert_int_equal(tsb_hasher_digest(h, (const uint8_t *)"12345678", 8, d), 0);
    assert_int_equal(tsb_hasher_digest(h, (const uint8_t *)"123456789", 9, d), TSB_ETOOBIG);
    assert_non_null(strstr(tsb_err_detail(), "9 bytes"));
    assert_non_null(strstr(tsb_err_detail(), "8 bytes"));
    tsb_hasher_free(h);
}

static void test_base64_encoding_and_decode(void **state)
{
    uint8_t d[TSB_SHA256_LEN], back[TSB_SHA256_LEN];
    char b64[TSB_HASH_STR_MAX];
    enum tsb_hash_enc enc;
    tsb_sha256((const uint8_t *)kat[3].in, strlen(kat[3].in), d);
    assert_int_equal(tsb_hash_encode(d, TSB_HASH_BASE64, b64), 44);
    assert_string_equal(b64, "jeRKGcIdwGKtnQDr6pkM7HN+O02kZ+jKx/ajsGjSPpU=");
    assert_int_equal(tsb_hash_decode(b64, 44, back, &enc), 0);
    assert_int_equal(enc, TSB_HASH_BASE64);
    assert_memory_equal(d, back, TSB_SHA256_LEN);
    assert_int_equal(tsb_hash_decode(kat[3].hex, 64, back, &enc), 0);
    assert_int_equal(enc, TSB_HASH_HEX);
    assert_memory_equal(d, back, TSB_SHA256_LEN);
    /* uppercase hex is accepted on input */
    assert_int_equal(
        tsb_hash_decode("8DE44A19C21DC062AD9D00EBEA990CEC737E3B4DA467E8CAC7F6A3B068D23E95", 64,
                        back, NULL),
        0);
    assert_memory_equal(d, back, TSB_SHA256_LEN);
    assert_int_equal(tsb_hash_decode("abc", 3, back, NULL), TSB_EFORMAT);
    assert_int_equal(tsb_hash_decode(kat[3].hex, 63, back, NULL), TSB_EFORMAT);
}

static void test_encoding_names(void **state)
{
    enum tsb_hash_enc e;
    assert_int_equal(tsb_hash_enc_parse("hex", &e), 0);
    assert_int_equal(e, TSB_HASH_HEX);
    assert_int_equal(tsb_hash_enc_parse("base64", &e), 0);
    assert_int_equal(e, TSB_HASH_BASE64);
    assert_int_equal(tsb_hash_enc_parse("HEX", &e), TSB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers_with_reused_context),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_base64_encoding_and_decode),
        cmocka_unit_test(test_encoding_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
