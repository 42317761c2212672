/* Unit tests for audit and evidence: real tokens made by `openssl ts -reply`
 * (tests/lib/test-pki.sh) over a bag built by the bag writer; every check's failure is forced on
 * its own (document, entry missing or with another hash, SequenceNumber, unreadable bag, no token,
 * expired and not-yet-valid TSA certificates, package certificate file) and the one-bag cache never
 * mixes two bags up. Packages are written, read back and refused when malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "audit.h"
#include "bag.h"
#include "err.h"
#include "evidence.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static struct tsb_buf bag;
static struct tsb_bag_entry ents[3];
static uint8_t *tok_good, *tok_expired, *tok_future;
static size_t len_good, len_expired, len_future;
static struct tsb_audit *aud;

static char *at(const char *name)
{
    static char bufs[8][4200];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
    return b;
}

static uint8_t *slurp(const char *name, size_t *len)
{
    uint8_t *p = tsb_test_read_file(at(name), len);
    assert_non_null(p);
    return p;
}

static int setup(void **state)
{
    dir = tsb_test_tmpdir();
    if (tsb_test_sh("'%s/tests/lib/test-pki.sh' '%s' rsa >/dev/null 2>&1", tsb_test_source_dir(),
                    dir) != 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        char doc[32];
        snprintf(doc, sizeof(doc), "prescription %d", i + 1);
        ents[i].ref = 10 + i;
        tsb_sha256((const uint8_t *)doc, strlen(doc), ents[i].digest);
    }
    tsb_buf_init(&bag, 1 << 20);
    if (tsb_bag_build(NULL, 7, ents, 3, &bag) != 0 ||
        tsb_test_write_file(at("bag.xml"), bag.p, bag.len) != 0)
        return -1;
    if (tsb_test_sh("cd '%s' && openssl ts -query -data bag.xml -sha256 -cert -no_nonce -out q.tsq "
                    "2>/dev/null && for s in tsa tsa-expired tsa-future; do openssl ts -reply "
                    "-config ts.cnf -queryfile q.tsq -signer $s.pem -inkey tsa.key -token_out "
                    "-out $s.tst 2>/dev/null || exit 1; done",
                    dir) != 0)
        return -1;
    tok_good = slurp("tsa.tst", &len_good);
    tok_expired = slurp("tsa-expired.tst", &len_expired);
    tok_future = slurp("tsa-future.tst", &len_future);
    return tsb_audit_new(at("tsa-ca.pem"), NULL, NULL, &aud);
}

static int teardown(void **state)
{
    tsb_audit_free(aud);
    free(tok_good);
    free(tok_expired);
    free(tok_future);
    tsb_buf_cleanup(&bag);
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

static struct tsb_audit_bag good_bag(void)
{
    return (struct tsb_audit_bag){
        .seq = 7, .bytes = bag.p, .bytes_len = bag.len, .token = tok_good, .token_len = len_good};
}

/* Only check c failed (or none when c < 0); checks not run stay not run. */
static void expect_failed(const struct tsb_audit_result *r, int c, const char *words)
{
    if (c < 0) {
        assert_int_equal(r->verdict, TSB_VERDICT_VALID);
        assert_int_equal(r->failed, -1);
        return;
    }
    assert_int_equal(r->verdict, TSB_VERDICT_INVALID);
    if (r->failed != c)
        fail_msg("first failure is %s (%s), expected %s", tsb_audit_check_name(r->failed),
                 r->message[r->failed], tsb_audit_check_name(c));
    if (words != NULL && strstr(r->message[c], words) == NULL)
        fail_msg("'%s' lacks '%s'", r->message[c], words);
    assert_true(strlen(tsb_audit_check_meaning(c)) > 20);
}

static void test_valid_with_details(void **state)
{
    struct tsb_audit_bag b = good_bag();
    struct tsb_audit_result r;
    assert_int_equal(tsb_audit_bag_entry(aud, &b, ents[1].digest, 11, ents[1].digest, &r), 0);
    expect_failed(&r, -1, NULL);
    assert_int_equal(r.outcome[TSB_ACHK_DOCUMENT], TSB_CHECK_PASS);
    assert_int_equal(r.outcome[TSB_ACHK_IN_BAG], TSB_CHECK_PASS);
    for (int c = TSB_ACHK_TOKEN; c < TSB_ACHK_TOKEN + TSB_TCHK_GEN_TIME; c++)
        assert_int_equal(r.outcome[c], TSB_CHECK_PASS);
    /* audit mode: the stamp is not compared with today's clock, and not reported */
    assert_int_equal(r.outcome[TSB_ACHK_TOKEN + TSB_TCHK_GEN_TIME], TSB_CHECK_NOT_RUN);
    assert_int_equal(r.outcome[TSB_ACHK_CHAIN_FILE], TSB_CHECK_NOT_RUN);
    assert_int_equal(r.ref, 11);
    assert_int_equal(r.bag_seq, 7);
    assert_string_equal(r.tsa_serial, "257"); /* tsaserial 0100, then incremented */
    assert_non_null(strstr(r.tsa_subject, "CN=Test TSA"));
    assert_true(r.gen_time_ms > 1700000000000LL);
    /* the signer certificate's notAfter: what verify compares --at with for a bag without an
     * evidence record */
    assert_true(r.tsa_not_after_ms > r.gen_time_ms);
    uint8_t d[TSB_SHA256_LEN];
    tsb_sha256(bag.p, bag.len, d);
    assert_memory_equal(r.bag_digest, d, TSB_SHA256_LEN);
    const struct tsb_buf *chain = tsb_audit_last_chain(aud);
    assert_non_null(memmem(chain->p, chain->len, "BEGIN CERTIFICATE", 17));
}

static void test_entry_failures(void **state)
{
    struct tsb_audit_bag b = good_bag();
    struct tsb_audit_result r;
    uint8_t other[TSB_SHA256_LEN];
    tsb_sha256((const uint8_t *)"x", 1, other);

    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, other, &r);
    expect_failed(&r, TSB_ACHK_DOCUMENT, "not the stamped hash");
    assert_int_equal(r.outcome[TSB_ACHK_IN_BAG], TSB_CHECK_PASS); /* the rest still ran */

    tsb_audit_bag_entry(aud, &b, ents[0].digest, 99, NULL, &r);
    expect_failed(&r, TSB_ACHK_IN_BAG, "does not list Ref 99");

    tsb_audit_bag_entry(aud, &b, other, 12, NULL, &r);
    expect_failed(&r, TSB_ACHK_IN_BAG, "lists Ref 12 with hash");
    assert_int_equal(r.outcome[TSB_ACHK_TOKEN + TSB_TCHK_IMPRINT], TSB_CHECK_PASS);

    b.seq = 8; /* filed under another SequenceNumber than its bytes say */
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, TSB_ACHK_IN_BAG, "say SequenceNumber 7");

    b = good_bag();
    b.bytes_len -= 1; /* truncated: unreadable, and no longer what was stamped */
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, TSB_ACHK_IN_BAG, "not a readable TimeStampBag");
    assert_int_equal(r.outcome[TSB_ACHK_TOKEN + TSB_TCHK_IMPRINT], TSB_CHECK_FAIL);

    b = good_bag();
    b.token = NULL;
    b.token_len = 0;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, TSB_ACHK_TOKEN + TSB_TCHK_PARSE, "no timestamp token");
}

static void test_certificate_not_valid_at_gen_time(void **state)
{
    struct tsb_audit_bag b = good_bag();
    struct tsb_audit_result r;
    b.token = tok_expired;
    b.token_len = len_expired;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, TSB_ACHK_TOKEN + TSB_TCHK_CHAIN, "had already expired");
    assert_non_null(strstr(tsb_audit_check_meaning(r.failed), "expired"));

    b.token = tok_future;
    b.token_len = len_future;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, TSB_ACHK_TOKEN + TSB_TCHK_CHAIN, "not yet valid");

    /* the cache follows the bag it is given: back to the good token */
    b = good_bag();
    tsb_audit_bag_entry(aud, &b, ents[2].digest, 12, NULL, &r);
    expect_failed(&r, -1, NULL);
}

/* The chain the good token verifies with, as PEM (the caller frees it); *first: the length of
 * its first certificate (the signer's), anchor after it. */
static char *verified_chain(size_t *first)
{
    struct tsb_audit_bag b = good_bag();
    struct tsb_audit_result r;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    const struct tsb_buf *v = tsb_audit_last_chain(aud);
    char *chain = tsb_strndup((const char *)v->p, v->len);
    char *end = strstr(chain, "-----END CERTIFICATE-----\n");
    assert_non_null(end);
    *first = (size_t)(end - chain) + strlen("-----END CERTIFICATE-----\n");
    assert_true(*first < strlen(chain)); /* signer and anchor */
    return chain;
}

static void test_package_certificate_file(void **state)
{
    struct tsb_audit_bag b = good_bag();
    struct tsb_audit_result r;
    size_t first;
    char *chain = verified_chain(&first);
    size_t n = strlen(chain);

    b.chain_file = (const uint8_t *)chain;
    b.chain_file_len = n;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, -1, NULL);
    assert_int_equal(r.outcome[TSB_ACHK_CHAIN_FILE], TSB_CHECK_PASS);

    /* only the signer: an auditor's anchor may be nearer than the exporter's */
    b.chain_file_len = first;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, -1, NULL);

    /* one character changed inside the signer's certificate */
    char *t = tsb_strndup(chain, n);
    t[100] = t[100] == 'A' ? 'B' : 'A';
    b.chain_file = (const uint8_t *)t;
    b.chain_file_len = n;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, TSB_ACHK_CHAIN_FILE, "certificate 1");

    /* an extra certificate after the chain */
    char *x = tsb_malloc(2 * n + 1);
    memcpy(x, chain, n);
    memcpy(x + n, chain, n);
    b.chain_file = (const uint8_t *)x;
    b.chain_file_len = 2 * n;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, TSB_ACHK_CHAIN_FILE, "beyond the verified chain");

    b.chain_file = (const uint8_t *)"garbage";
    b.chain_file_len = 7;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, TSB_ACHK_CHAIN_FILE, "no readable certificate");
    free(x);
    free(t);
    free(chain);
}

/* Wraps the base64 lines of each PEM block of in at width columns, with CRLF line ends and a
 * trailing blank on every line: another rendering of the same certificates. */
static char *rewrap(const char *in, size_t width)
{
    char *out = tsb_malloc(4 * strlen(in) + 64), *o = out;
    size_t col = 0;
    for (const char *p = in; *p != '\0'; p++) {
        if (*p == '-') { /* a BEGIN or END line, kept whole */
            if (col > 0) {
                o += sprintf(o, " \r\n");
                col = 0;
            }
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            o += sprintf(o, "%.*s \r\n", (int)n, p);
            p += n;
            if (*p == '\0')
                break;
        } else if (*p != '\n') {
            *o++ = *p;
            if (++col == width) {
                o += sprintf(o, " \r\n");
                col = 0;
            }
        }
    }
    *o = '\0';
    return out;
}

/* The certificate file is compared certificate by certificate, not as text: another rendering of
 * the same chain passes; another certificate, or the same ones in another order, fails. */
static void test_package_certificate_renderings(void **state)
{
    struct tsb_audit_bag b = good_bag();
    struct tsb_audit_result r;
    size_t first;
    char *chain = verified_chain(&first);
    char *wrapped = rewrap(chain, 76);
    assert_int_not_equal(strcmp(wrapped, chain), 0); /* really another text */
    b.chain_file = (const uint8_t *)wrapped;
    b.chain_file_len = strlen(wrapped);
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, -1, NULL);
    assert_int_equal(r.outcome[TSB_ACHK_CHAIN_FILE], TSB_CHECK_PASS);

    /* the anchor first, then the signer: certificate 1 is not the signer's */
    size_t n = strlen(chain);
    char *swapped = tsb_malloc(n + 1);
    memcpy(swapped, chain + first, n - first);
    memcpy(swapped + (n - first), chain, first);
    swapped[n] = '\0';
    b.chain_file = (const uint8_t *)swapped;
    b.chain_file_len = n;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, TSB_ACHK_CHAIN_FILE, "certificate 1");

    /* a well-formed certificate that is not the signer's (the rogue TSA's) */
    size_t rn;
    uint8_t *rogue = slurp("rogue-tsa.pem", &rn);
    b.chain_file = rogue;
    b.chain_file_len = rn;
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, &r);
    expect_failed(&r, TSB_ACHK_CHAIN_FILE, "certificate 1");
    free(rogue);
    free(swapped);
    free(wrapped);
    free(chain);
}

/* The good bag as a package holds it: verified, with the chain it verified with. */
static struct tsb_evidence_bag package_bag(struct tsb_audit_result *r)
{
    struct tsb_audit_bag b = good_bag();
    tsb_audit_bag_entry(aud, &b, ents[0].digest, 10, NULL, r);
    const struct tsb_buf *v = tsb_audit_last_chain(aud);
    struct tsb_evidence_bag eb = {.b = b, .gen_time_ms = r->gen_time_ms};
    eb.b.chain_file = v->p;
    eb.b.chain_file_len = v->len;
    snprintf(eb.serial, sizeof(eb.serial), "%s", r->tsa_serial);
    return eb;
}

static void test_package_round_trip(void **state)
{
    struct tsb_audit_result r;
    struct tsb_evidence_bag eb = package_bag(&r);
    struct tsb_evidence_entry e[2] = {{.ref = 10, .seq = 7}, {.ref = 12, .seq = 7}};
    memcpy(e[0].digest, ents[0].digest, TSB_SHA256_LEN);
    memcpy(e[1].digest, ents[2].digest, TSB_SHA256_LEN);

    assert_int_equal(tsb_evidence_write(at("pkg"), e, 2, &eb, 1, "Europe/Brussels"), 0);
    assert_int_equal(tsb_evidence_write(at("pkg"), e, 2, &eb, 1, "Europe/Brussels"), TSB_EIO);
    struct tsb_evidence_entry lost = {.ref = 1, .seq = 3};
    assert_int_equal(tsb_evidence_write(at("pkg2"), &lost, 1, &eb, 1, "UTC"), TSB_EINVAL);
    assert_int_not_equal(tsb_test_sh("test -e '%s'", at("pkg2")), 0);

    struct tsb_evidence *ev = NULL;
    assert_int_equal(tsb_evidence_read(at("pkg"), &ev), 0);
    assert_int_equal(ev->ne, 2);
    assert_int_equal(ev->nb, 1);
    const struct tsb_audit_bag *rb = tsb_evidence_bag_get(ev, 7);
    assert_non_null(rb);
    assert_memory_equal(rb->bytes, bag.p, bag.len);
    for (size_t i = 0; i < ev->ne; i++) {
        tsb_audit_bag_entry(aud, rb, ev->entries[i].digest, ev->entries[i].ref, NULL, &r);
        expect_failed(&r, -1, NULL);
        assert_int_equal(r.outcome[TSB_ACHK_CHAIN_FILE], TSB_CHECK_PASS);
    }
    tsb_evidence_free(ev);

    /* a damaged entries.txt is refused with its line */
    assert_int_equal(tsb_test_sh("echo 'not a line' >>'%s/entries.txt'", at("pkg")), 0);
    assert_int_equal(tsb_evidence_read(at("pkg"), &ev), TSB_EFORMAT);
    assert_non_null(strstr(tsb_err_detail(), "entries.txt:5"));
    assert_int_equal(tsb_test_sh("rm '%s/token-7.der'", at("pkg")), 0);
    assert_int_equal(tsb_evidence_read(at("pkg"), &ev), TSB_EIO);
    assert_int_equal(tsb_evidence_read(at("nothing"), &ev), TSB_EIO);
}

extern const size_t tsb_ers_verify_py_len;

/* A bag with an evidence record: the record, its line in evidence-records.txt, the archive
 * timestamps' certificates and anchor (each PEM block once) and ers-verify.py are written, and
 * read back; a record whose group holds a second token the package lacks is refused. */
static void test_package_evidence_record(void **state)
{
    struct tsb_audit_result r;
    struct tsb_evidence_bag eb = package_bag(&r);
    static const uint8_t er[] = {0x30, 0x03, 0x02, 0x01, 0x01}; /* bytes, not parsed here */
    size_t cn;
    uint8_t *cert = slurp("tsa.pem", &cn);
    struct tsb_buf two;
    tsb_buf_init(&two, 1 << 20);
    assert_int_equal(tsb_buf_append(&two, cert, cn), 0);
    assert_int_equal(tsb_buf_append(&two, cert, cn), 0);
    eb.er = (struct tsb_evidence_er){.der = er,
                                     .der_len = sizeof(er),
                                     .members = TSB_ERS_OBJ_BAG | TSB_ERS_OBJ_TOKEN,
                                     .certs = two.p,
                                     .certs_len = two.len,
                                     .anchors = cert,
                                     .anchors_len = cn,
                                     .n_ats = 2};
    struct tsb_evidence_entry e = {.ref = 10, .seq = 7};
    memcpy(e.digest, ents[0].digest, TSB_SHA256_LEN);
    assert_int_equal(tsb_evidence_write(at("erpkg"), &e, 1, &eb, 1, "UTC"), 0);
    assert_int_equal(tsb_test_sh("grep -qx '7 evidence-record-7.ers bag-7.xml token-7.der' "
                                 "'%s/evidence-records.txt'",
                                 at("erpkg")),
                     0);
    assert_int_equal(
        tsb_test_sh("test $(grep -c 'BEGIN CERTIFICATE' '%s/ers-tsa-certs.pem') = 1", at("erpkg")),
        0);
    assert_int_equal(tsb_test_sh("test $(stat -c %%s '%s/ers-verify.py') = %zu", at("erpkg"),
                                 tsb_ers_verify_py_len),
                     0);
    assert_int_equal(tsb_test_sh("grep -q 'python3 ers-verify.py' '%s/README.txt'", at("erpkg")),
                     0);
    struct tsb_evidence *ev = NULL;
    assert_int_equal(tsb_evidence_read(at("erpkg"), &ev), 0);
    const struct tsb_evidence_er *got = tsb_evidence_er_get(ev, 7);
    assert_non_null(got);
    assert_int_equal(got->der_len, sizeof(er));
    assert_memory_equal(got->der, er, sizeof(er));
    struct tsb_slice objs[3];
    assert_int_equal(tsb_evidence_er_objects(ev, 7, got, objs), 2);
    assert_int_equal(objs[0].len, bag.len);
    assert_non_null(ev->ers_certs);
    tsb_evidence_free(ev);

    /* a line naming a file the group does not have is refused with its line number */
    assert_int_equal(
        tsb_test_sh("sed -i 's/token-7.der/token-8.der/' '%s/evidence-records.txt'", at("erpkg")),
        0);
    assert_int_equal(tsb_evidence_read(at("erpkg"), &ev), TSB_EFORMAT);
    assert_non_null(strstr(tsb_err_detail(), "evidence-records.txt:2"));

    eb.er.members |= TSB_ERS_OBJ_TSA2;
    assert_int_equal(tsb_evidence_write(at("erpkg2"), &e, 1, &eb, 1, "UTC"), TSB_EINVAL);
    assert_non_null(strstr(tsb_err_detail(), "second token"));
    assert_int_not_equal(tsb_test_sh("test -e '%s'", at("erpkg2")), 0);
    tsb_buf_cleanup(&two);
    free(cert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_with_details),
        cmocka_unit_test(test_entry_failures),
        cmocka_unit_test(test_certificate_not_valid_at_gen_time),
        cmocka_unit_test(test_package_certificate_file),
        cmocka_unit_test(test_package_certificate_renderings),
        cmocka_unit_test(test_package_round_trip),
        cmocka_unit_test(test_package_evidence_record),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
