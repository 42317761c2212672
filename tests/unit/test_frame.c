/* Unit tests for frame: golden bytes of docs/protocol.md's examples, round trips of every frame
 * type, the incremental decoder fed in every possible split, and a table of malformed bodies each
 * mapped to its documented NACK code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"
#include "err.h"
#include "frame.h"
#include "hash.h"

#include <stdlib.h>
#include <string.h>

#define S(str) ((struct tsb_slice){(const uint8_t *)(str), sizeof(str) - 1})

static const struct tsb_frame_limits lim = {.max_source = 64, .max_client_ref = 256};

static void hex_of(const struct tsb_buf *b, char *out)
{
    tsb_hex_encode(b->p, b->len, out);
}

/* The examples printed in docs/protocol.md, byte for byte. */
static void test_golden_examples(void **state)
{
    struct tsb_buf b;
    char hex[1024];
    tsb_buf_init(&b, 4096);

    assert_int_equal(tsb_frame_put_hello(&b, 1, S("pharmacy-1")), 0);
    hex_of(&b, hex);
    assert_string_equal(hex, "0000001201545342470001"
                             "0a"
                             "706861726d6163792d31");
    tsb_buf_reset(&b);

    assert_int_equal(tsb_frame_put_submit(&b, S(""), S("RX-1"), S("hello")), 0);
    hex_of(&b, hex);
    assert_string_equal(hex, "0000000d02"
                             "00"
                             "0004"
                             "52582d31"
                             "68656c6c6f");
    tsb_buf_reset(&b);

    uint8_t d[TSB_SHA256_LEN];
    tsb_sha256((const uint8_t *)"hello", 5, d);
    assert_int_equal(tsb_frame_put_ack(&b, 42, 1714644900000, d), 0);
    hex_of(&b, hex);
    /* length 0x51 = 81: type + ref + received time + 64 hex chars */
    assert_string_equal(hex, "0000005182"
                             "000000000000002a"
                             "0000018f38ccd8a0"
                             "3263663234646261356662306133306532366538336232616335623965323965"
                             "3162313631653563316661373432356537333034333336323933386239383234");
    tsb_buf_reset(&b);

    assert_int_equal(tsb_frame_put_nack(&b, TSB_NACK_TOO_LARGE, true, "too big"), 0);
    hex_of(&b, hex);
    assert_string_equal(hex, "0000000bff"
                             "0002"
                             "01"
                             "746f6f20626967");
    tsb_buf_cleanup(&b);
}

static void test_roundtrip_all_types(void **state)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    uint8_t digest[TSB_SHA256_LEN];
    memset(digest, 0xab, sizeof(digest));
    struct tsb_hello_ok hok = {
        .version = 1, .max_frame = 1048576, .max_inflight = 256, .source = S("lab")};
    struct tsb_status st = {.staged = 7,
                            .last_ref = 99,
                            .last_seq = 3,
                            .next_seal_ms = 1700000100000,
                            .now_ms = 1700000000000,
                            .entries = 100,
                            .oldest_unstamped_ms = 5,
                            .writer_queue = 12,
                            .connections = 4,
                            .flags = 1};
    struct tsb_seal_ok sok = {.first_seq = 8, .bags = 2, .entries = 150000};

    assert_int_equal(tsb_frame_put_hello(&b, 1, S("lab")), 0);
    assert_int_equal(tsb_frame_put_submit(&b, S("kmehr"), S("réf-1"), S("entry bytes")), 0);
    assert_int_equal(tsb_frame_put_submit_hash(&b, S(""), S(""), digest), 0);
    assert_int_equal(tsb_frame_put_simple(&b, TSB_FT_PING, S("xyz")), 0);
    assert_int_equal(tsb_frame_put_hello_ok(&b, &hok), 0);
    assert_int_equal(tsb_frame_put_ack(&b, INT64_MAX, 1, digest), 0);
    assert_int_equal(tsb_frame_put_status(&b, &st), 0);
    assert_int_equal(tsb_frame_put_seal_ok(&b, &sok), 0);
    assert_int_equal(tsb_frame_put_nack(&b, TSB_NACK_BUSY, false, "later"), 0);

    struct tsb_frame_decoder dec;
    tsb_frame_decoder_init(&dec, 4096);
    struct tsb_slice in = {b.p, b.len};
    struct tsb_frame f;
    enum tsb_nack nack;

    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    assert_int_equal(f.type, TSB_FT_HELLO);
    struct tsb_hello h;
    assert_int_equal(tsb_frame_parse_hello(f.body, &lim, &h, &nack), 0);
    assert_int_equal(h.version, 1);
    assert_memory_equal(h.source.p, "lab", 3);

    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    struct tsb_submit s;
    assert_int_equal(tsb_frame_parse_submit(f.type, f.body, &lim, &s, &nack), 0);
    assert_false(s.has_digest);
    assert_int_equal(s.format.len, 5);
    assert_int_equal(s.client_ref.len, strlen("réf-1"));
    assert_memory_equal(s.entry.p, "entry bytes", 11);

    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    assert_int_equal(tsb_frame_parse_submit(f.type, f.body, &lim, &s, &nack), 0);
    assert_true(s.has_digest);
    assert_int_equal(s.format.len, 0);
    assert_memory_equal(s.digest, digest, 32);

    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    assert_int_equal(f.type, TSB_FT_PING);
    assert_int_equal(f.body.len, 3);

    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    struct tsb_hello_ok hok2;
    assert_int_equal(tsb_frame_parse_hello_ok(f.body, &hok2), 0);
    assert_int_equal(hok2.max_frame, 1048576);
    assert_int_equal(hok2.max_inflight, 256);
    assert_int_equal(hok2.source.len, 3);

    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    struct tsb_ack a;
    assert_int_equal(tsb_frame_parse_ack(f.body, &a), 0);
    assert_true(a.ref == INT64_MAX);
    assert_int_equal(a.received_ms, 1);
    assert_string_equal(a.hash, "abababababababababababababababababababababababababababababababab");

    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    struct tsb_status st2;
    assert_int_equal(tsb_frame_parse_status(f.body, &st2), 0);
    assert_int_equal(st2.staged, 7);
    assert_int_equal(st2.last_ref, 99);
    assert_int_equal(st2.last_seq, 3);
    assert_int_equal(st2.next_seal_ms, 1700000100000);
    assert_int_equal(st2.now_ms, 1700000000000);
    assert_int_equal(st2.entries, 100);
    assert_int_equal(st2.oldest_unstamped_ms, 5);
    assert_int_equal(st2.writer_queue, 12);
    assert_int_equal(st2.connections, 4);
    assert_int_equal(st2.flags, 1);

    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    struct tsb_seal_ok sok2;
    assert_int_equal(tsb_frame_parse_seal_ok(f.body, &sok2), 0);
    assert_int_equal(sok2.first_seq, 8);
    assert_int_equal(sok2.bags, 2);
    assert_int_equal(sok2.entries, 150000);

    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    struct tsb_nack_reply nr;
    assert_int_equal(tsb_frame_parse_nack(f.body, &nr), 0);
    assert_int_equal(nr.code, TSB_NACK_BUSY);
    assert_false(nr.closing);
    assert_memory_equal(nr.reason.p, "later", 5);

    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 0);
    assert_int_equal(in.len, 0);
    assert_false(tsb_frame_decoder_midframe(&dec));
    tsb_frame_decoder_cleanup(&dec);
    tsb_buf_cleanup(&b);
}

/* Every split point of a 3-frame stream must yield the same frames, including a frame larger than
 * any single chunk (assembled in the decoder's buffer). */
/* STATUS_OK: the extended body carries the daemon's settings; a version-1 server's 68-byte body
 * still parses (has_ext false), and bytes after the known fields are ignored. */
static void test_status_body_versions(void **state)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    struct tsb_status st = {.now_ms = 1700000000000,
                            .flags = TSB_STATUS_SEALER_RUNNING | TSB_STATUS_ALARM,
                            .has_ext = true,
                            .alarm_ms = 120000,
                            .seal_interval_ms = 300000};
    assert_int_equal(tsb_frame_put_status(&b, &st), 0);
    assert_int_equal(b.len, TSB_FRAME_HDR_LEN + 1 + TSB_STATUS_EXT_LEN);
    struct tsb_status got;
    struct tsb_slice body = {b.p + TSB_FRAME_HDR_LEN + 1, TSB_STATUS_EXT_LEN};
    assert_int_equal(tsb_frame_parse_status(body, &got), 0);
    assert_true(got.has_ext);
    assert_int_equal(got.alarm_ms, 120000);
    assert_int_equal(got.seal_interval_ms, 300000);
    assert_int_equal(got.flags, TSB_STATUS_SEALER_RUNNING | TSB_STATUS_ALARM);
    assert_int_equal(got.now_ms, 1700000000000);

    body.len = TSB_STATUS_BODY_LEN; /* what an older server sends */
    assert_int_equal(tsb_frame_parse_status(body, &got), 0);
    assert_false(got.has_ext);
    assert_int_equal(got.alarm_ms, 0);
    assert_int_equal(got.now_ms, 1700000000000);

    uint8_t longer[TSB_STATUS_EXT_LEN + 8];
    memcpy(longer, b.p + TSB_FRAME_HDR_LEN + 1, TSB_STATUS_EXT_LEN);
    memset(longer + TSB_STATUS_EXT_LEN, 0x5a, 8); /* a later version's field */
    assert_int_equal(tsb_frame_parse_status((struct tsb_slice){longer, sizeof(longer)}, &got), 0);
    assert_int_equal(got.seal_interval_ms, 300000);

    body.len = TSB_STATUS_BODY_LEN - 1;
    assert_int_equal(tsb_frame_parse_status(body, &got), TSB_EFORMAT);

    tsb_buf_reset(&b);
    st.has_ext = false;
    assert_int_equal(tsb_frame_put_status(&b, &st), 0);
    assert_int_equal(b.len, TSB_FRAME_HDR_LEN + 1 + TSB_STATUS_BODY_LEN);
    tsb_buf_cleanup(&b);
}

static void test_every_split(void **state)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    uint8_t big[3000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    assert_int_equal(tsb_frame_put_submit(&b, S("f"), S("r"), S("a")), 0);
    assert_int_equal(tsb_frame_put_submit(&b, S(""), S(""), (struct tsb_slice){big, sizeof(big)}),
                     0);
    assert_int_equal(tsb_frame_put_simple(&b, TSB_FT_STATUS, S("")), 0);

    for (size_t chunk = 1; chunk <= b.len; chunk += (chunk < 16 ? 1 : 97)) {
        struct tsb_frame_decoder dec;
        tsb_frame_decoder_init(&dec, 4096);
        size_t got = 0, off = 0;
        uint8_t types[3];
        size_t lens[3];
        while (off < b.len) {
            size_t n = b.len - off < chunk ? b.len - off : chunk;
            /* copy into a scratch chunk so in-place frames cannot borrow the rest of b */
            uint8_t *scratch = malloc(n);
            memcpy(scratch, b.p + off, n);
            struct tsb_slice in = {scratch, n};
            struct tsb_frame f;
            int r;
            while ((r = tsb_frame_decode(&dec, &in, &f)) == 1) {
                assert_true(got < 3);
                types[got] = f.type;
                lens[got] = f.body.len;
                if (got == 1) {
                    struct tsb_submit s;
                    enum tsb_nack nack;
                    assert_int_equal(tsb_frame_parse_submit(f.type, f.body, &lim, &s, &nack), 0);
                    assert_int_equal(s.entry.len, sizeof(big));
                    assert_memory_equal(s.entry.p, big, sizeof(big));
                }
                got++;
            }
            assert_int_equal(r, 0);
            assert_int_equal(in.len, 0);
            free(scratch);
            off += n;
        }
        assert_int_equal(got, 3);
        assert_int_equal(types[0], TSB_FT_SUBMIT);
        assert_int_equal(lens[0], 1 + 1 + 2 + 1 + 1);
        assert_int_equal(types[1], TSB_FT_SUBMIT);
        assert_int_equal(types[2], TSB_FT_STATUS);
        assert_int_equal(lens[2], 0);
        assert_false(tsb_frame_decoder_midframe(&dec));
        tsb_frame_decoder_cleanup(&dec);
    }
    tsb_buf_cleanup(&b);
}

static void test_decoder_refuses_bad_lengths(void **state)
{
    static const struct {
        const char *hex;
        int err;
        enum tsb_nack nack;
    } cases[] = {
        {"00000000", TSB_EFORMAT, TSB_NACK_EMPTY_FRAME},
        {"00000041", TSB_ETOOBIG, TSB_NACK_TOO_LARGE},   /* 65 > 64 */
        {"47455420", TSB_ETOOBIG, TSB_NACK_TOO_LARGE},   /* "GET " */
        {"ffffffff02", TSB_ETOOBIG, TSB_NACK_TOO_LARGE}, /* 4 GiB - 1 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t raw[16];
        size_t n = strlen(cases[i].hex) / 2;
        assert_int_equal(tsb_hex_decode(cases[i].hex, 2 * n, raw, n), 0);
        /* fed whole and fed byte by byte: same verdict */
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct tsb_frame_decoder dec;
            tsb_frame_decoder_init(&dec, 64);
            struct tsb_frame f;
            int r = 0;
            for (size_t off = 0; off < n && r == 0; off += bytewise ? 1 : n) {
                struct tsb_slice in = {raw + off, bytewise ? 1 : n};
                r = tsb_frame_decode(&dec, &in, &f);
            }
            assert_int_equal(r, cases[i].err);
            assert_int_equal(dec.nack, cases[i].nack);
            assert_true(strlen(tsb_err_detail()) > 0);
            /* a failed decoder stays failed */
            struct tsb_slice more = {raw, n};
            assert_int_equal(tsb_frame_decode(&dec, &more, &f), TSB_ESTATE);
            tsb_frame_decoder_cleanup(&dec);
        }
    }
}

static void test_truncated_is_midframe(void **state)
{
    struct tsb_frame_decoder dec;
    tsb_frame_decoder_init(&dec, 64);
    struct tsb_frame f;
    struct tsb_slice in = {(const uint8_t *)"\x00\x00", 2};
    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 0);
    assert_true(tsb_frame_decoder_midframe(&dec));
    tsb_frame_decoder_cleanup(&dec);
}

/* Bodies that must be refused with a specific NACK code. Hex of the body (after the type byte). */
static void test_bad_bodies(void **state)
{
    static const struct {
        uint8_t type;
        const char *body_hex;
        enum tsb_nack nack;
    } cases[] = {
        {TSB_FT_HELLO, "", TSB_NACK_VERSION},                          /* no magic */
        {TSB_FT_HELLO, "58585858000100", TSB_NACK_VERSION},            /* wrong magic */
        {TSB_FT_HELLO, "54534247000200", TSB_NACK_VERSION},            /* version 2 */
        {TSB_FT_HELLO, "545342470001", TSB_NACK_MALFORMED},            /* no length byte */
        {TSB_FT_HELLO, "5453424700010561", TSB_NACK_MALFORMED},        /* source runs past */
        {TSB_FT_HELLO, "545342470001006161", TSB_NACK_MALFORMED},      /* trailing bytes */
        {TSB_FT_HELLO, "5453424700010261 20", TSB_NACK_FIELD_INVALID}, /* space in name */
        {TSB_FT_SUBMIT, "", TSB_NACK_MALFORMED},
        {TSB_FT_SUBMIT, "05616263", TSB_NACK_MALFORMED},   /* format runs past */
        {TSB_FT_SUBMIT, "0000", TSB_NACK_MALFORMED},       /* ref length cut */
        {TSB_FT_SUBMIT, "00000a6162", TSB_NACK_MALFORMED}, /* ref runs past */
        {TSB_FT_SUBMIT, "000000", TSB_NACK_EMPTY_ENTRY},
        {TSB_FT_SUBMIT, "0000010a61", TSB_NACK_FIELD_INVALID},     /* newline in ref */
        {TSB_FT_SUBMIT, "000002c0af61", TSB_NACK_FIELD_INVALID},   /* overlong UTF-8 */
        {TSB_FT_SUBMIT, "000002eda08061", TSB_NACK_FIELD_INVALID}, /* cut UTF-8 sequence */
        {TSB_FT_SUBMIT, "000003eda08061", TSB_NACK_FIELD_INVALID}, /* surrogate */
        {TSB_FT_SUBMIT, "01200000 61", TSB_NACK_FIELD_INVALID},    /* space as format */
        {TSB_FT_SUBMIT_HASH, "0000", TSB_NACK_MALFORMED},
        {TSB_FT_SUBMIT_HASH,
         "000000"
         "aa",
         TSB_NACK_MALFORMED},                     /* 1-byte digest */
        {TSB_FT_PING, "", TSB_NACK_UNKNOWN_TYPE}, /* not a submit */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char clean[256];
        size_t k = 0;
        for (const char *c = cases[i].body_hex; *c; c++)
            if (*c != ' ')
                clean[k++] = *c;
        clean[k] = '\0';
        uint8_t body[128];
        size_t n = k / 2;
        assert_int_equal(tsb_hex_decode(clean, k, body, n), 0);
        enum tsb_nack nack = TSB_NACK_NONE;
        int r;
        if (cases[i].type == TSB_FT_HELLO) {
            struct tsb_hello h;
            r = tsb_frame_parse_hello((struct tsb_slice){body, n}, &lim, &h, &nack);
        } else {
            struct tsb_submit s;
            r = tsb_frame_parse_submit(cases[i].type, (struct tsb_slice){body, n}, &lim, &s, &nack);
        }
        if (r == 0 || nack != cases[i].nack)
            fail_msg("case %zu (%s): r=%d nack=%s, expected %s", i, cases[i].body_hex, r,
                     tsb_nack_name(nack), tsb_nack_name(cases[i].nack));
    }
}

static void test_limits_from_config(void **state)
{
    struct tsb_frame_limits small = {.max_source = 4, .max_client_ref = 3};
    struct tsb_buf b;
    tsb_buf_init(&b, 4096);
    struct tsb_frame_decoder dec;
    tsb_frame_decoder_init(&dec, 4096);
    enum tsb_nack nack;

    assert_int_equal(tsb_frame_put_hello(&b, 1, S("abcde")), 0);
    assert_int_equal(tsb_frame_put_submit(&b, S(""), S("abcd"), S("x")), 0);
    assert_int_equal(tsb_frame_put_submit(&b, S(""), S("abc"), S("x")), 0);
    struct tsb_slice in = {b.p, b.len};
    struct tsb_frame f;
    struct tsb_hello h;
    struct tsb_submit s;
    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    assert_int_not_equal(tsb_frame_parse_hello(f.body, &small, &h, &nack), 0);
    assert_int_equal(nack, TSB_NACK_FIELD_INVALID);
    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    assert_int_equal(tsb_frame_parse_submit(f.type, f.body, &small, &s, &nack), TSB_ETOOBIG);
    assert_int_equal(nack, TSB_NACK_FIELD_INVALID);
    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    assert_int_equal(tsb_frame_parse_submit(f.type, f.body, &small, &s, &nack), 0);
    tsb_frame_decoder_cleanup(&dec);
    tsb_buf_cleanup(&b);
}

static void test_nack_reason_is_capped_on_utf8_boundary(void **state)
{
    char reason[TSB_NACK_REASON_MAX + 16];
    /* 'a' then 2-byte sequences so that the cap falls inside one */
    reason[0] = 'a';
    size_t i = 1;
    while (i + 2 < sizeof(reason)) {
        reason[i++] = (char)0xc3;
        reason[i++] = (char)0xa9;
    }
    reason[i] = '\0';
    struct tsb_buf b;
    tsb_buf_init(&b, 4096);
    assert_int_equal(tsb_frame_put_nack(&b, TSB_NACK_MALFORMED, true, reason), 0);
    struct tsb_frame_decoder dec;
    tsb_frame_decoder_init(&dec, 4096);
    struct tsb_slice in = {b.p, b.len};
    struct tsb_frame f;
    struct tsb_nack_reply nr;
    assert_int_equal(tsb_frame_decode(&dec, &in, &f), 1);
    assert_int_equal(tsb_frame_parse_nack(f.body, &nr), 0);
    assert_true(nr.closing);
    assert_true(nr.reason.len <= TSB_NACK_REASON_MAX);
    assert_true(tsb_frame_ref_ok(nr.reason, TSB_NACK_REASON_MAX));
    assert_string_equal(tsb_nack_name(nr.code), "MALFORMED");
    assert_string_equal(tsb_nack_name(999), "UNKNOWN");
    tsb_frame_decoder_cleanup(&dec);
    tsb_buf_cleanup(&b);
}

/* RETRY: an empty body means "whichever bag is held"; 8 bytes name one; anything else or a
 * negative SequenceNumber is malformed. RETRY_OK round-trips the released bag. */
static void test_retry_bodies(void **state)
{
    (void)state;
    int64_t seq = -1;
    assert_int_equal(tsb_frame_parse_retry((struct tsb_slice){NULL, 0}, &seq), 0);
    assert_int_equal(seq, 0);
    struct tsb_buf b;
    tsb_buf_init(&b, 1024);
    assert_int_equal(tsb_frame_put_retry(&b, TSB_FT_RETRY_OK, 41), 0);
    assert_int_equal(b.len, TSB_FRAME_HDR_LEN + 1 + TSB_RETRY_BODY_LEN);
    static const uint8_t want[] = {0, 0, 0, 9, 0x87, 0, 0, 0, 0, 0, 0, 0, 41};
    assert_memory_equal(b.p, want, sizeof(want));
    assert_int_equal(tsb_frame_parse_retry((struct tsb_slice){b.p + 5, 8}, &seq), 0);
    assert_int_equal(seq, 41);
    static const uint8_t neg[8] = {0x80, 0, 0, 0, 0, 0, 0, 1};
    seq = 7;
    assert_int_equal(tsb_frame_parse_retry((struct tsb_slice){neg, 8}, &seq), TSB_EFORMAT);
    assert_int_equal(tsb_frame_parse_retry((struct tsb_slice){neg, 4}, &seq), TSB_EFORMAT);
    assert_non_null(strstr(tsb_err_detail(), "RETRY body of 4 bytes"));
    assert_int_equal(seq, 7);
    assert_string_equal(tsb_nack_name(TSB_NACK_STAMP_STALLED), "STAMP_STALLED");
    tsb_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_examples),
        cmocka_unit_test(test_roundtrip_all_types),
        cmocka_unit_test(test_status_body_versions),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_decoder_refuses_bad_lengths),
        cmocka_unit_test(test_truncated_is_midframe),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_limits_from_config),
        cmocka_unit_test(test_nack_reason_is_capped_on_utf8_boundary),
        cmocka_unit_test(test_retry_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
