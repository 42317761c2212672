/* Unit tests for token: RFC 3161 tokens made at test time by `openssl ts -reply` from a throw-away
 * PKI (and, where the openssl CLI refuses to sign, by a small CMS forger below) are decoded in
 * every form eHealth sends and verified check by check; stock `openssl ts -verify` agrees on the
 * good and the bad ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"
#include "err.h"
#include "hash.h"
#include "testlib.h"
#include "token.h"

#include <openssl/crypto.h>
#include <openssl/ess.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *dir;
static uint8_t bag_digest[TSB_SHA256_LEN];

/* OpenSSL's allocator, installed by main before OpenSSL allocates anything: counts allocations
 * and makes the one numbered fail_at (from 0, counting from when it was set) return NULL. */
static long alloc_count, fail_at = -1;

static bool alloc_fails(void)
{
    bool fail = fail_at >= 0 && alloc_count == fail_at;
    alloc_count++;
    return fail;
}

static void *crypto_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return alloc_fails() ? NULL : malloc(n);
}

static void *crypto_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return alloc_fails() ? NULL : realloc(p, n);
}

static void crypto_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}
static struct tsb_token_verifier *verifier;

static char *at(const char *name)
{
    static char bufs[8][4200];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 4200, "%s/%s", dir, name);
    return b;
}

static int setup(void **state)
{
    dir = tsb_test_tmpdir();
    if (tsb_test_sh("'%s/tests/lib/test-pki.sh' '%s' rsa", tsb_test_source_dir(), dir) != 0)
        return -1;
    const char *bag = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TimeStampBag "
                      "xmlns=\"urn:be:fgov:ehealth:timestamping:protocol:v2\" Hash=\"SHA-256\" "
                      "SequenceNumber=\"7\"><JournalEntry><Hash>"
                      "8de44a19c21dc062ad9d00ebea990cec737e3b4da467e8cac7f6a3b068d23e95</Hash>"
                      "<Ref>1</Ref></JournalEntry></TimeStampBag>";
    tsb_sha256((const uint8_t *)bag, strlen(bag), bag_digest);
    if (tsb_test_write_file(at("bag.xml"), bag, strlen(bag)) != 0)
        return -1;
    /* one query, answered by different signers; v1 ESS from a second configuration */
    if (tsb_test_sh(
            "cd '%s' && openssl ts -query -data bag.xml -sha256 -cert -no_nonce -out q.tsq "
            "2>/dev/null && sed 's/ess_cert_id_alg = sha256/ess_cert_id_alg = sha1/' ts.cnf "
            ">ts1.cnf && "
            "openssl ts -reply -config ts.cnf -queryfile q.tsq -signer tsa.pem -inkey tsa.key "
            "-out good.tsr 2>/dev/null && "
            "openssl ts -reply -in good.tsr -token_out -out good.tst 2>/dev/null && "
            "openssl ts -reply -config ts1.cnf -queryfile q.tsq -signer tsa.pem -inkey tsa.key "
            "-token_out -out v1.tst 2>/dev/null && "
            "openssl ts -reply -config ts.cnf -queryfile q.tsq -signer rogue-tsa.pem "
            "-inkey rogue-tsa.key -token_out -out rogue.tst 2>/dev/null && "
            "openssl ts -reply -config ts.cnf -queryfile q.tsq -signer tsa-expired.pem "
            "-inkey tsa.key -token_out -out expired.tst 2>/dev/null && "
            "openssl ts -reply -config ts.cnf -queryfile q.tsq -signer tsa-future.pem "
            "-inkey tsa.key -token_out -out future.tst 2>/dev/null && "
            "openssl ts -query -data bag.xml -sha1 -cert -no_nonce -out q1.tsq 2>/dev/null && "
            "openssl ts -reply -config ts.cnf -queryfile q1.tsq -signer tsa.pem -inkey tsa.key "
            "-token_out -out sha1.tst 2>/dev/null && "
            "openssl ts -query -data bag.xml -sha512 -no_nonce -out q512.tsq 2>/dev/null && "
            "openssl ts -reply -config ts.cnf -queryfile q512.tsq -signer tsa.pem -inkey tsa.key "
            "-out rejected.tsr 2>/dev/null",
            dir) != 0)
        return -1;
    if (tsb_token_verifier_new(at("tsa-ca.pem"), &verifier) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    tsb_token_verifier_free(verifier);
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

static uint8_t *slurp(const char *name, size_t *len)
{
    uint8_t *p = tsb_test_read_file(at(name), len);
    assert_non_null(p);
    return p;
}

static struct tsb_token_verify_opts now_opts(int64_t now_ms)
{
    return (struct tsb_token_verify_opts){.check_skew = true, .now_ms = now_ms, .max_skew_s = 300};
}

static int64_t now_ms(void)
{
    return (int64_t)time(NULL) * 1000;
}

static void verify_file(const char *name, const uint8_t *digest, struct tsb_token_result *res,
                        int want)
{
    size_t n;
    uint8_t *der = slurp(name, &n);
    struct tsb_token_verify_opts o = now_opts(now_ms());
    assert_int_equal(tsb_token_verify(verifier, der, n, digest, &o, res), want);
    free(der);
}

static void expect_only_failure(const struct tsb_token_result *res, enum tsb_token_check c,
                                const char *words)
{
    assert_false(res->ok);
    assert_int_equal(res->outcome[c], TSB_CHECK_FAIL);
    if (strstr(res->message[c], words) == NULL)
        fail_msg("%s: '%s' lacks '%s'", tsb_token_check_name(c), res->message[c], words);
    for (int i = 0; i < TSB_TCHK_N; i++)
        if (i != (int)c && res->outcome[i] != TSB_CHECK_PASS)
            fail_msg("check %s: outcome %d (%s), expected pass", tsb_token_check_name(i),
                     res->outcome[i], res->message[i]);
}

static void test_good_token(void **state)
{
    struct tsb_token_result res;
    verify_file("good.tst", bag_digest, &res, 0);
    assert_true(res.ok);
    for (int i = 0; i < TSB_TCHK_N; i++)
        assert_int_equal(res.outcome[i], TSB_CHECK_PASS);
    assert_string_equal(res.policy, "1.2.3.4.1");
    assert_non_null(strstr(res.tsa_subject, "CN=Test TSA"));
    assert_string_equal(tsb_token_result_reason(&res), "token verified");

    /* serial (decimal) and genTime agree with openssl's own reading of the token */
    assert_int_equal(tsb_test_sh("cd '%s' && openssl ts -reply -in good.tst -token_in -text "
                                 "2>/dev/null >good.txt",
                                 dir),
                     0);
    size_t n;
    char *txt = (char *)slurp("good.txt", &n);
    char *s = strstr(txt, "Serial number: 0x");
    assert_non_null(s);
    char want[64];
    snprintf(want, sizeof(want), "%lld", strtoll(s + strlen("Serial number: 0x"), NULL, 16));
    assert_string_equal(res.serial, want);
    char *t = strstr(txt, "Time stamp: ");
    assert_non_null(t);
    struct tm tm = {0};
    assert_non_null(strptime(t + strlen("Time stamp: "), "%b %d %H:%M:%S %Y", &tm));
    assert_int_equal(res.gen_time_ms / 1000, (int64_t)timegm(&tm));
    free(txt);

    /* and the stock tool accepts the very same token */
    assert_int_equal(tsb_test_sh("cd '%s' && openssl ts -verify -data bag.xml -in good.tst "
                                 "-token_in -CAfile tsa-ca.pem >/dev/null 2>&1",
                                 dir),
                     0);
}

static void test_ess_v1_token(void **state)
{
    struct tsb_token_result res;
    verify_file("v1.tst", bag_digest, &res, 0);
    assert_non_null(strstr(res.message[TSB_TCHK_ESS], "ESSCertID "));
}

static void test_wrong_imprint(void **state)
{
    uint8_t other[TSB_SHA256_LEN];
    tsb_sha256((const uint8_t *)"other bag", 9, other);
    struct tsb_token_result res;
    verify_file("good.tst", other, &res, TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_IMPRINT, "bag was altered");
    assert_string_equal(tsb_token_result_reason(&res), res.message[TSB_TCHK_IMPRINT]);
    /* openssl agrees */
    assert_int_not_equal(tsb_test_sh("cd '%s' && printf x >>bag.xml.2; cp bag.xml bag2.xml && "
                                     "printf x >>bag2.xml && openssl ts -verify -data bag2.xml "
                                     "-in good.tst -token_in -CAfile tsa-ca.pem >/dev/null 2>&1",
                                     dir),
                         0);
}

static void test_untrusted_signer(void **state)
{
    struct tsb_token_result res;
    verify_file("rogue.tst", bag_digest, &res, TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_CHAIN, "untrusted timestamp authority");
    assert_int_not_equal(tsb_test_sh("cd '%s' && openssl ts -verify -data bag.xml -in rogue.tst "
                                     "-token_in -CAfile tsa-ca.pem >/dev/null 2>&1",
                                     dir),
                         0);
}

static void test_tsa_certificate_not_valid_at_gen_time(void **state)
{
    struct tsb_token_result res;
    verify_file("expired.tst", bag_digest, &res, TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_CHAIN, "had already expired at the token's genTime");
    verify_file("future.tst", bag_digest, &res, TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_CHAIN, "was not yet valid at the token's genTime");
}

static void test_tampered_signature(void **state)
{
    size_t n;
    uint8_t *der = slurp("good.tst", &n);
    der[n - 1] ^= 0x01; /* the last bytes are the RSA signature value */
    assert_int_equal(tsb_test_write_file(at("tampered.tst"), der, n), 0);
    struct tsb_token_result res;
    struct tsb_token_verify_opts o = now_opts(now_ms());
    assert_int_equal(tsb_token_verify(verifier, der, n, bag_digest, &o, &res), TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_SIGNATURE, "altered or forged");
    assert_int_not_equal(tsb_test_sh("cd '%s' && openssl ts -verify -data bag.xml -in "
                                     "tampered.tst -token_in -CAfile tsa-ca.pem >/dev/null 2>&1",
                                     dir),
                         0);
    free(der);
}

static void test_gen_time_skew_and_audit_mode(void **state)
{
    size_t n;
    uint8_t *der = slurp("good.tst", &n);
    struct tsb_token_result res;
    struct tsb_token_verify_opts o = now_opts(now_ms() + 3600 * 1000);
    assert_int_equal(tsb_token_verify(verifier, der, n, bag_digest, &o, &res), TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_GEN_TIME, "check this machine's clock");
    /* an audit a year later does not compare with the clock */
    o.check_skew = false;
    o.now_ms = now_ms() + INT64_C(365) * 86400 * 1000;
    assert_int_equal(tsb_token_verify(verifier, der, n, bag_digest, &o, &res), 0);
    assert_true(res.ok);
    assert_int_equal(res.outcome[TSB_TCHK_GEN_TIME], TSB_CHECK_SKIPPED);
    free(der);
}

static void test_not_a_token(void **state)
{
    struct tsb_token_result res;
    struct tsb_token_verify_opts o = now_opts(now_ms());
    const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    assert_int_equal(tsb_token_verify(verifier, junk, sizeof(junk), bag_digest, &o, &res),
                     TSB_ETOKEN);
    assert_int_equal(res.outcome[TSB_TCHK_PARSE], TSB_CHECK_FAIL);
    assert_int_equal(res.outcome[TSB_TCHK_SIGNATURE], TSB_CHECK_SKIPPED);
    assert_false(res.ok);
}

static void test_imprint_recorded(void **state)
{
    struct tsb_token_result res;
    verify_file("good.tst", bag_digest, &res, 0);
    assert_string_equal(res.imprint_alg, "SHA-256");
    assert_true(res.imprint_alg_ok);
    assert_int_equal(res.imprint_len, TSB_SHA256_LEN);
    assert_memory_equal(res.imprint, bag_digest, TSB_SHA256_LEN);

    /* the data itself instead of its digest: hashed with the token's algorithm */
    size_t bn, tn;
    uint8_t *bag = slurp("bag.xml", &bn), *der = slurp("good.tst", &tn);
    struct tsb_token_verify_opts o = now_opts(now_ms());
    o.data = bag;
    o.data_len = bn;
    assert_int_equal(tsb_token_verify(verifier, der, tn, NULL, &o, &res), 0);
    assert_string_equal(res.message[TSB_TCHK_IMPRINT], "matches the bag's SHA-256");
    free(der);

    /* SHA-1: refused with a reason, yet the algorithm and the bytes are recorded */
    der = slurp("sha1.tst", &tn);
    assert_int_equal(tsb_token_verify(verifier, der, tn, NULL, &o, &res), TSB_ETOKEN);
    assert_int_equal(res.outcome[TSB_TCHK_IMPRINT_ALG], TSB_CHECK_FAIL);
    assert_non_null(strstr(res.message[TSB_TCHK_IMPRINT_ALG], "SHA-1, which is refused"));
    assert_int_equal(res.outcome[TSB_TCHK_IMPRINT], TSB_CHECK_SKIPPED);
    assert_int_equal(res.outcome[TSB_TCHK_SIGNATURE], TSB_CHECK_PASS);
    assert_false(res.imprint_alg_ok);
    assert_string_equal(res.imprint_alg, "SHA-1");
    assert_int_equal(res.imprint_len, 20);
    free(der);
    free(bag);
}

/* An expected messageImprint given as such (an RFC 4998 tree root, tsbag renew): the token's
 * imprint must be exactly those bytes; any other value, or one longer than any digest, fails the
 * imprint check alone. The signer certificate's notAfter is reported, as openssl reads it. */
static void test_expected_imprint(void **state)
{
    (void)state;
    struct tsb_token_result res;
    size_t tn;
    uint8_t *der = slurp("good.tst", &tn), other[TSB_SHA256_LEN], longer[TSB_TOKEN_IMPRINT_MAX + 1];
    struct tsb_token_verify_opts o = now_opts(now_ms());
    o.imprint = bag_digest;
    o.imprint_len = TSB_SHA256_LEN;
    assert_int_equal(tsb_token_verify(verifier, der, tn, NULL, &o, &res), 0);
    assert_true(res.ok);
    memcpy(other, bag_digest, sizeof(other));
    other[5] ^= 0x10;
    o.imprint = other;
    assert_int_equal(tsb_token_verify(verifier, der, tn, NULL, &o, &res), TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_IMPRINT, "the token stamps SHA-256");
    memset(longer, 0, sizeof(longer));
    memcpy(longer, bag_digest, TSB_SHA256_LEN);
    o.imprint = longer;
    o.imprint_len = sizeof(longer);
    assert_int_equal(tsb_token_verify(verifier, der, tn, NULL, &o, &res), TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_IMPRINT, "the token stamps SHA-256");

    assert_int_equal(tsb_test_sh("cd '%s' && date -d \"$(openssl x509 -in tsa.pem -noout -enddate "
                                 "| sed 's/notAfter=//')\" +%%s >tsa-end.txt",
                                 dir),
                     0);
    size_t n;
    uint8_t *end = slurp("tsa-end.txt", &n);
    char text[32] = "";
    memcpy(text, end, n < sizeof(text) - 1 ? n : sizeof(text) - 1);
    assert_true(strtoll(text, NULL, 10) > 0);
    assert_int_equal(res.signer_not_after_ms, strtoll(text, NULL, 10) * 1000);
    free(end);
    free(der);
}

static void test_digest_kat(void **state)
{
    static const struct {
        const char *alg;
        const char *hex; /* of "abc", FIPS 180-4 examples */
    } kat[] = {
        {"SHA-256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"SHA-384",
         "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc23"
         "58baeca134c825a7"},
        {"SHA-512",
         "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a8"
         "36ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
    };
    uint8_t d[TSB_TOKEN_IMPRINT_MAX];
    char hex[2 * TSB_TOKEN_IMPRINT_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
        assert_int_equal(tsb_token_digest(kat[i].alg, (const uint8_t *)"abc", 3, d, &n), 0);
        tsb_hex_encode(d, n, hex);
        assert_string_equal(hex, kat[i].hex);
    }
    assert_int_equal(tsb_token_digest("SHA-1", (const uint8_t *)"abc", 3, d, &n), TSB_EINVAL);
    assert_int_equal(tsb_token_digest("MD5", (const uint8_t *)"abc", 3, d, &n), TSB_EINVAL);
}

static void test_settings_refused_by_name(void **state)
{
    struct tsb_token_verifier *v = NULL;
    assert_int_equal(tsb_token_verifier_from_files(at("tsa-ca.pem"), NULL, "1.2.3, 1.2.x", &v),
                     TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "'1.2.x' is not a dotted OID"));
    assert_int_equal(tsb_token_verifier_from_files(at("tsa-ca.pem"), at("nothing.pem"), "", &v),
                     TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "TSA certificates (tsa.tsa_certs)"));
    assert_int_equal(tsb_token_verifier_from_files(at("tsa-ca.pem"), at("bag.xml"), "", &v),
                     TSB_ECONFIG);
    assert_non_null(strstr(tsb_err_detail(), "holds no PEM certificate"));
    assert_null(v);

    /* a policy list that names the token's policy accepts it, another refuses it */
    struct tsb_token_result res;
    size_t n;
    uint8_t *der = slurp("good.tst", &n);
    struct tsb_token_verify_opts o = now_opts(now_ms());
    assert_int_equal(
        tsb_token_verifier_from_files(at("tsa-ca.pem"), at("tsa.pem"), " 1.9.9 ,1.2.3.4.1", &v), 0);
    assert_int_equal(tsb_token_verify(v, der, n, bag_digest, &o, &res), 0);
    assert_int_equal(tsb_token_verifier_set_policies(v, "1.2.3.4.5"), 0);
    assert_int_equal(tsb_token_verify(v, der, n, bag_digest, &o, &res), TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_POLICY, "TSA policy 1.2.3.4.1, which tsa.policy_oids");
    tsb_token_verifier_free(v);
    free(der);
}

/* ---- tokens the openssl CLI refuses to make: re-sign good.tst's TSTInfo with any cert ---- */

enum { ESS_NONE, ESS_V1, ESS_V2, ESS_BOTH };

static void add_ess(PKCS7_SIGNER_INFO *si, int nid, unsigned char *der, int len)
{
    ASN1_STRING *seq = ASN1_STRING_new();
    assert_int_equal(ASN1_STRING_set(seq, der, len), 1);
    assert_int_equal(PKCS7_add_signed_attribute(si, nid, V_ASN1_SEQUENCE, seq), 1);
    OPENSSL_free(der);
}

static void forge(const char *cert_file, const char *key_file, int ess, const char *out_name)
{
    size_t n;
    uint8_t *der = slurp("good.tst", &n);
    const unsigned char *q = der;
    PKCS7 *good = d2i_PKCS7(NULL, &q, (long)n);
    TS_TST_INFO *tst = PKCS7_to_TS_TST_INFO(good);
    assert_non_null(tst);

    FILE *f = fopen(at(cert_file), "r");
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    f = fopen(at(key_file), "r");
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(cert);
    assert_non_null(key);

    PKCS7 *p7 = PKCS7_new();
    assert_int_equal(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
    assert_int_equal(PKCS7_add_certificate(p7, cert), 1);
    PKCS7_SIGNER_INFO *si = PKCS7_add_signature(p7, cert, key, EVP_sha256());
    assert_non_null(si);
    assert_int_equal(PKCS7_add_signed_attribute(si, NID_pkcs9_contentType, V_ASN1_OBJECT,
                                                OBJ_nid2obj(NID_id_smime_ct_TSTInfo)),
                     1);
    if (ess == ESS_V1 || ess == ESS_BOTH) {
        ESS_SIGNING_CERT *sc = OSSL_ESS_signing_cert_new_init(cert, NULL, 0);
        unsigned char *d = NULL;
        int l = i2d_ESS_SIGNING_CERT(sc, &d);
        add_ess(si, NID_id_smime_aa_signingCertificate, d, l);
        ESS_SIGNING_CERT_free(sc);
    }
    if (ess == ESS_V2 || ess == ESS_BOTH) {
        ESS_SIGNING_CERT_V2 *sc = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), cert, NULL, 0);
        unsigned char *d = NULL;
        int l = i2d_ESS_SIGNING_CERT_V2(sc, &d);
        add_ess(si, NID_id_smime_aa_signingCertificateV2, d, l);
        ESS_SIGNING_CERT_V2_free(sc);
    }
    /* encapsulated content of type id-smime-ct-TSTInfo (PKCS7_content_new knows no such type) */
    PKCS7 *inner = PKCS7_new();
    inner->d.other = ASN1_TYPE_new();
    inner->type = OBJ_nid2obj(NID_id_smime_ct_TSTInfo);
    ASN1_TYPE_set(inner->d.other, V_ASN1_OCTET_STRING, ASN1_OCTET_STRING_new());
    assert_int_equal(PKCS7_set_content(p7, inner), 1);
    BIO *b = PKCS7_dataInit(p7, NULL);
    assert_int_equal(i2d_TS_TST_INFO_bio(b, tst), 1);
    assert_int_equal(PKCS7_dataFinal(p7, b), 1);
    BIO_free_all(b);
    unsigned char *out = NULL;
    int len = i2d_PKCS7(p7, &out);
    assert_true(len > 0);
    assert_int_equal(tsb_test_write_file(at(out_name), out, (size_t)len), 0);
    OPENSSL_free(out);
    PKCS7_free(p7);
    X509_free(cert);
    EVP_PKEY_free(key);
    TS_TST_INFO_free(tst);
    PKCS7_free(good);
    free(der);
}

static void test_forger_control(void **state)
{
    /* the forger itself makes acceptable tokens with a proper TSA certificate */
    forge("tsa.pem", "tsa.key", ESS_V2, "forged-good.tst");
    struct tsb_token_result res;
    verify_file("forged-good.tst", bag_digest, &res, 0);
}

static void test_missing_or_noncritical_eku(void **state)
{
    struct tsb_token_result res;
    /* the hospital certificate (clientAuth only) does not chain to the TSA anchors either, so
     * use a TSA-CA-issued certificate whose EKU is present but not critical */
    forge("tsa-noncrit.pem", "tsa.key", ESS_V2, "noncrit.tst");
    verify_file("noncrit.tst", bag_digest, &res, TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_EKU, "not marked critical");

    forge("hospital.pem", "hospital.key", ESS_V2, "noeku.tst");
    verify_file("noeku.tst", bag_digest, &res, TSB_ETOKEN);
    assert_int_equal(res.outcome[TSB_TCHK_EKU], TSB_CHECK_FAIL);
    assert_non_null(strstr(res.message[TSB_TCHK_EKU], "not allowed to issue timestamps"));
    assert_int_equal(res.outcome[TSB_TCHK_SIGNATURE], TSB_CHECK_PASS);
}

static void test_ess_presence(void **state)
{
    struct tsb_token_result res;
    forge("tsa.pem", "tsa.key", ESS_NONE, "noess.tst");
    verify_file("noess.tst", bag_digest, &res, TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_ESS, "no ESSCertID");
    forge("tsa.pem", "tsa.key", ESS_BOTH, "bothess.tst");
    verify_file("bothess.tst", bag_digest, &res, TSB_ETOKEN);
    expect_only_failure(&res, TSB_TCHK_ESS, "exactly one is allowed");
}

/* ---- decoding ------------------------------------------------------------------------------ */

static void b64_file(const char *in, const char *out, int layers)
{
    assert_int_equal(tsb_test_sh("cd '%s' && cp %s %s.tmp && for i in $(seq %d); do base64 -w 0 "
                                 "%s.tmp >%s.tmp2 && mv %s.tmp2 %s.tmp; done && mv %s.tmp %s",
                                 dir, in, out, layers, out, out, out, out, out, out),
                     0);
}

/* OpenSSL failing to allocate during verification is TSB_ECRYPTO with a detail, never an abort
 * and never a good token: each allocation a good token's verification makes fails in turn. The
 * first is tsbag's own certificate list, so that one must come back as TSB_ECRYPTO. */
static void test_allocation_failure(void **state)
{
    (void)state;
    size_t n;
    uint8_t *der = slurp("good.tst", &n);
    struct tsb_token_verify_opts o = now_opts(now_ms());
    struct tsb_token_result res;
    alloc_count = 0;
    assert_int_equal(tsb_token_verify(verifier, der, n, bag_digest, &o, &res), 0);
    long total = alloc_count;
    assert_true(total > 0);
    int crypto = 0;
    for (long i = 0; i < total; i++) {
        alloc_count = 0;
        fail_at = i;
        tsb_err_clear();
        int r = tsb_token_verify(verifier, der, n, bag_digest, &o, &res);
        fail_at = -1;
        if (r == TSB_ECRYPTO) {
            crypto++;
            assert_false(res.ok);
            assert_non_null(strstr(tsb_err_detail(), "OpenSSL could not allocate"));
        } else if (r == TSB_ETOKEN) {
            assert_false(res.ok);
        } else {
            assert_int_equal(r, 0); /* an allocation OpenSSL could do without */
            assert_true(res.ok);
        }
        if (i == 0)
            assert_int_equal(r, TSB_ECRYPTO);
    }
    assert_true(crypto >= 1);
    /* and verification is whole again afterwards */
    assert_int_equal(tsb_token_verify(verifier, der, n, bag_digest, &o, &res), 0);
    free(der);
}

static void test_decode_forms(void **state)
{
    size_t tn;
    uint8_t *tok = slurp("good.tst", &tn);
    const struct {
        const char *src;
        int layers;
        bool full;
    } cases[] = {
        {"good.tst", 1, false},
        {"good.tst", 2, false},
        {"good.tsr", 1, true},
        {"good.tsr", 2, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b64_file(cases[i].src, "enc.txt", cases[i].layers);
        size_t n;
        uint8_t *text = slurp("enc.txt", &n);
        struct tsb_buf der;
        tsb_buf_init(&der, 1 << 20);
        struct tsb_token_form form;
        assert_int_equal(tsb_token_decode(text, n, &der, &form), 0);
        assert_int_equal(form.base64_layers, cases[i].layers);
        assert_int_equal(form.full_response, cases[i].full);
        assert_int_equal(der.len, tn);
        assert_memory_equal(der.p, tok, tn);
        tsb_buf_cleanup(&der);
        free(text);
    }
    free(tok);
}

static void test_decode_refusals(void **state)
{
    struct tsb_buf der;
    tsb_buf_init(&der, 1 << 20);
    struct tsb_token_form form;
    const char *notb64 = "this is not base64!";
    assert_int_equal(tsb_token_decode((const uint8_t *)notb64, strlen(notb64), &der, &form),
                     TSB_EFORMAT);
    const char *junk = "aGVsbG8gd29ybGQ="; /* "hello world" */
    assert_int_equal(tsb_token_decode((const uint8_t *)junk, strlen(junk), &der, &form),
                     TSB_EFORMAT);
    assert_non_null(strstr(tsb_err_detail(), "neither a TimeStampToken nor a TimeStampResp"));
    /* a TimeStampResp that refuses (sha512 is not an accepted digest here) */
    b64_file("rejected.tsr", "rej.txt", 1);
    size_t n;
    uint8_t *text = slurp("rej.txt", &n);
    assert_int_equal(tsb_token_decode(text, n, &der, &form), TSB_ETOKEN);
    assert_non_null(strstr(tsb_err_detail(), "not granted"));
    assert_int_equal(der.len, 0);
    free(text);
    tsb_buf_cleanup(&der);
}

int main(void)
{
    if (CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free) != 1) {
        fprintf(stderr, "test_token: OpenSSL allocated before main\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_token),
        cmocka_unit_test(test_ess_v1_token),
        cmocka_unit_test(test_wrong_imprint),
        cmocka_unit_test(test_untrusted_signer),
        cmocka_unit_test(test_tsa_certificate_not_valid_at_gen_time),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_gen_time_skew_and_audit_mode),
        cmocka_unit_test(test_not_a_token),
        cmocka_unit_test(test_imprint_recorded),
        cmocka_unit_test(test_expected_imprint),
        cmocka_unit_test(test_digest_kat),
        cmocka_unit_test(test_settings_refused_by_name),
        cmocka_unit_test(test_forger_control),
        cmocka_unit_test(test_missing_or_noncritical_eku),
        cmocka_unit_test(test_ess_presence),
        cmocka_unit_test(test_allocation_failure),
        cmocka_unit_test(test_decode_forms),
        cmocka_unit_test(test_decode_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
