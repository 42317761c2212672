/* Unit tests for tsq: the TimeStampReq tsbag builds is read back by stock `openssl ts -query` and
 * answered by stock `openssl ts -reply` (a throw-away PKI made at test time); the reply checks
 * are a table of those answers, each replying to a known request, with the failure expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"
#include "err.h"
#include "hash.h"
#include "mem.h"
#include "testlib.h"
#include "token.h"
#include "tsq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static const uint8_t nonce[TSB_TSQ_NONCE_LEN] = {0x81, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
static const uint8_t other_nonce[TSB_TSQ_NONCE_LEN] = {0x81, 0x02, 0x03, 0x04,
                                                       0x05, 0x06, 0x07, 0x09};
static uint8_t digest[TSB_SHA256_LEN], other_digest[TSB_SHA256_LEN];
static const char bag[] = "<TimeStampBag SequenceNumber=\"1\"/>";

/* Reads or writes the file name in the test folder. */
static uint8_t *read_in(const char *name, size_t *len)
{
    char *p = tsb_test_path(dir, name);
    uint8_t *b = tsb_test_read_file(p, len);
    free(p);
    return b;
}

static int write_in(const char *name, const void *b, size_t len)
{
    char *p = tsb_test_path(dir, name);
    int r = tsb_test_write_file(p, b, len);
    free(p);
    return r;
}

static void write_request(const uint8_t *d, const uint8_t *n, const char *name)
{
    struct tsb_buf q;
    tsb_buf_init(&q, 4096);
    assert_int_equal(tsb_tsq_request(d, n, &q), 0);
    assert_int_equal(write_in(name, q.p, q.len), 0);
    tsb_buf_cleanup(&q);
}

static int setup(void **state)
{
    (void)state;
    dir = tsb_test_tmpdir();
    if (tsb_test_sh("'%s/tests/lib/test-pki.sh' '%s' rsa", tsb_test_source_dir(), dir) != 0)
        return -1;
    tsb_sha256((const uint8_t *)bag, strlen(bag), digest);
    memcpy(other_digest, digest, sizeof(digest));
    other_digest[0] ^= 1;
    if (write_in("bag.xml", bag, strlen(bag)) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

/* The request as stock openssl reads it: version 1, SHA-256 of the bag, our nonce, certReq. */
static void test_request_read_by_openssl(void **state)
{
    (void)state;
    char hex[TSB_HASH_STR_MAX];
    write_request(digest, nonce, "q.tsq");
    tsb_hex_encode(digest, TSB_SHA256_LEN, hex);
    assert_int_equal(tsb_test_sh("cd '%s' && openssl ts -query -in q.tsq -text >q.txt 2>&1", dir),
                     0);
    assert_int_equal(tsb_test_sh("cd '%s' && grep -q 'Version: 1' q.txt && "
                                 "grep -q 'Hash Algorithm: sha256' q.txt && "
                                 "grep -q 'Nonce: 0x8102030405060708' q.txt && "
                                 "grep -q 'Certificate required: yes' q.txt && "
                                 "grep -q 'Policy OID: unspecified' q.txt",
                                 dir),
                     0);
    /* the imprint is the bag's SHA-256: openssl's own -verify of a reply to it over bag.xml
     * passes only if so */
    assert_int_equal(
        tsb_test_sh("cd '%s' && openssl ts -reply -config ts.cnf -queryfile q.tsq -signer "
                    "tsa.pem -inkey tsa.key -out q.tsr 2>/dev/null && openssl ts -verify -data "
                    "bag.xml -in q.tsr -CAfile tsa-ca.pem -untrusted tsa.pem >/dev/null 2>&1",
                    dir),
        0);
}

struct reply_case {
    const char *name;
    const char *make; /* shell, in dir: writes r.tsr (q.tsq is the request of digest, nonce) */
    const uint8_t *expect_digest, *expect_nonce;
    enum tsb_tsq_fail fail;
    const char *why; /* substring of the reason ("" for OK) */
};

#define REPLY "openssl ts -reply -config ts.cnf -signer tsa.pem -inkey tsa.key -out r.tsr "

static void test_reply_table(void **state)
{
    (void)state;
    static const struct reply_case cases[] = {
        {"granted", REPLY "-queryfile q.tsq", NULL, NULL, TSB_TSQ_OK, ""},
        {"another request's nonce", REPLY "-queryfile q.tsq", NULL, other_nonce, TSB_TSQ_NONCE,
         "is not the request's (8102030405060709)"},
        {"no nonce",
         "openssl ts -query -data bag.xml -sha256 -cert -no_nonce -out n.tsq && " REPLY
         "-queryfile n.tsq",
         NULL, NULL, TSB_TSQ_NONCE, "nonce (absent)"},
        {"other data", REPLY "-queryfile q.tsq", other_digest, NULL, TSB_TSQ_IMPRINT,
         "is not the SHA-256 of the bag"},
        {"rejected (unaccepted algorithm)",
         "openssl ts -query -data bag.xml -sha384 -cert -out s.tsq && " REPLY "-queryfile s.tsq",
         NULL, NULL, TSB_TSQ_REFUSED, "PKIStatus 2, rejection (badAlg"},
        {"not DER", "printf 'HTTP/1.1 200 OK' >r.tsr", NULL, NULL, TSB_TSQ_MALFORMED,
         "is not a DER TimeStampResp"},
        {"a bare token", REPLY "-queryfile q.tsq -token_out", NULL, NULL, TSB_TSQ_MALFORMED,
         "is not a DER TimeStampResp"},
    };
    write_request(digest, nonce, "q.tsq");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct reply_case *c = &cases[i];
        char why[TSB_TSQ_REASON_MAX];
        size_t len = 0;
        struct tsb_buf token;
        print_message("case %s\n", c->name);
        assert_int_equal(tsb_test_sh("cd '%s' && rm -f r.tsr && { %s; } 2>/dev/null", dir, c->make),
                         0);
        uint8_t *p = read_in("r.tsr", &len);
        assert_non_null(p);
        tsb_buf_init(&token, 1 << 20);
        enum tsb_tsq_fail f =
            tsb_tsq_check_reply(p, len, c->expect_digest ? c->expect_digest : digest,
                                c->expect_nonce ? c->expect_nonce : nonce, &token, why);
        if (f != c->fail || strstr(why, c->why) == NULL)
            fail_msg("%s: got %s (%s), expected %s with '%s'", c->name, tsb_tsq_fail_name(f), why,
                     tsb_tsq_fail_name(c->fail), c->why);
        if (f == TSB_TSQ_OK) {
            /* the token taken out is the DER token openssl would take out */
            assert_int_equal(tsb_test_sh("cd '%s' && openssl ts -reply -in r.tsr -token_out "
                                         "-out r.tst 2>/dev/null",
                                         dir),
                             0);
            size_t tl = 0;
            uint8_t *t = read_in("r.tst", &tl);
            assert_int_equal(token.len, tl);
            assert_memory_equal(token.p, t, tl);
            free(t);
        } else {
            assert_int_equal(token.len, 0); /* nothing handed out to archive */
        }
        tsb_buf_cleanup(&token);
        free(p);
    }
}

/* An RFC 4998 tree root stamped with SHA-512 (tsbag renew --rehash sha512): openssl reads the
 * request as a SHA-512 imprint of exactly the root; the reply to it passes the checks for that
 * root, and fails them for a SHA-256 reading of it or another root; a root whose length is not
 * the algorithm's is no request. */
static void test_sha512_root(void **state)
{
    (void)state;
    uint8_t root[64], other[64];
    char hex[2 * sizeof(root) + 1];
    for (size_t i = 0; i < sizeof(root); i++)
        root[i] = (uint8_t)(0xa0 + i);
    memcpy(other, root, sizeof(root));
    other[63] ^= 1;
    struct tsb_buf q, token;
    tsb_buf_init(&q, 4096);
    tsb_buf_init(&token, 1 << 20);
    assert_int_equal(tsb_tsq_request_alg("sha512", root, 32, nonce, &q), TSB_EINVAL);
    assert_int_equal(tsb_tsq_request_alg("sha1", root, 20, nonce, &q), TSB_EINVAL);
    assert_int_equal(q.len, 0);
    assert_int_equal(tsb_tsq_request_alg("sha512", root, sizeof(root), nonce, &q), 0);
    assert_int_equal(write_in("q512.tsq", q.p, q.len), 0);
    tsb_hex_encode(root, 16, hex); /* openssl prints the hash 16 bytes a line */
    assert_int_equal(
        tsb_test_sh("cd '%s' && openssl ts -query -in q512.tsq -text >q512.txt 2>&1 && "
                    "grep -q 'Hash Algorithm: sha512' q512.txt && "
                    "sed 's/^digests = .*/digests = sha256, sha512/' ts.cnf "
                    ">ts512.cnf && openssl ts -reply -config ts512.cnf -queryfile q512.tsq "
                    "-signer tsa.pem -inkey tsa.key -out r512.tsr 2>/dev/null && "
                    "openssl ts -reply -in r512.tsr -text 2>/dev/null | grep -q 'sha512'",
                    dir),
        0);
    assert_int_equal(tsb_test_sh("cd '%s' && openssl ts -query -in q512.tsq -text | tr -d ' :-' "
                                 "| tr 'A-F' 'a-f' | grep -q '%.8s'",
                                 dir, hex),
                     0);
    size_t len = 0;
    uint8_t *p = read_in("r512.tsr", &len);
    assert_non_null(p);
    char why[TSB_TSQ_REASON_MAX];
    assert_int_equal(
        tsb_tsq_check_reply_alg(p, len, "sha512", root, sizeof(root), nonce, &token, why),
        TSB_TSQ_OK);
    assert_true(token.len > 0);
    tsb_buf_reset(&token);
    assert_int_equal(
        tsb_tsq_check_reply_alg(p, len, "sha512", other, sizeof(other), nonce, &token, why),
        TSB_TSQ_IMPRINT);
    assert_non_null(strstr(why, "is not the sha512 tree root requested"));
    assert_int_equal(tsb_tsq_check_reply_alg(p, len, "sha256", root, 32, nonce, &token, why),
                     TSB_TSQ_IMPRINT);
    assert_int_equal(token.len, 0);
    free(p);
    tsb_buf_cleanup(&q);
    tsb_buf_cleanup(&token);
}

static void test_fail_names(void **state)
{
    (void)state;
    static const struct {
        enum tsb_tsq_fail f;
        const char *name;
    } names[] = {{TSB_TSQ_OK, "ok"},           {TSB_TSQ_MALFORMED, "malformed"},
                 {TSB_TSQ_REFUSED, "refused"}, {TSB_TSQ_NONCE, "nonce"},
                 {TSB_TSQ_IMPRINT, "imprint"}, {(enum tsb_tsq_fail)99, "unknown"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_string_equal(tsb_tsq_fail_name(names[i].f), names[i].name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_read_by_openssl),
        cmocka_unit_test(test_reply_table),
        cmocka_unit_test(test_sha512_root),
        cmocka_unit_test(test_fail_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
