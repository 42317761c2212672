/* Unit tests for ers (RFC 4998 evidence records). Trees are checked against an independent
 * Python reading of the RFC (tests/unit/ers_check.py) and against themselves leaf by leaf; the
 * records carry real RFC 3161 tokens signed by OpenSSL's TS_RESP_CTX with a throw-away PKI made
 * at setup, whose TSA certificates have validity windows in the past and future so each token's
 * genTime (set here) can fall inside or outside them; one token comes from stock
 * `openssl ts -reply`; encoded records are read back by `openssl asn1parse`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"
#include "err.h"
#include "ers.h"
#include "mem.h"
#include "testlib.h"
#include "token.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *dir;
static struct tsb_token_verifier *tv;

/* 2020-06-01, 2021-09-01, 2022-03-01, 2026-01-01, 2030-09-01, 2031-06-01, 2032-01-01, 2040-01-01 */
#define T2020_06 1590969600LL
#define T2021_09 1630454400LL
#define T2022_03 1646092800LL
#define T2026_01 1767225600LL
#define T2030_09 1914451200LL
#define T2031_06 1938729600LL
#define T2032_01 1956528000LL
#define T2040_01 2208988800LL

static char *in_dir(const char *name)
{
    return tsb_test_path(dir, name);
}

/* ---- the test PKI ---- */

static void write_file(const char *name, const void *p, size_t len)
{
    char *path = in_dir(name);
    assert_int_equal(tsb_test_write_file(path, p, len), 0);
    free(path);
}

/* A certificate for key (P-256) named cn, valid [nb, na] (seconds), signed by issuer/ikey or
 * self-signed (issuer NULL): a CA, or a TSA signer with a critical timeStamping EKU. */
static X509 *new_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, int64_t nb,
                      int64_t na, bool ca, long serial)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                                (const unsigned char *)"tsbag ERS test", -1, -1, 0),
                     1);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
    assert_int_equal(X509_set_subject_name(x, name), 1);
    assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    static const struct {
        int nid;
        const char *ca, *tsa;
    } exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE", "critical,CA:FALSE"},
        {NID_key_usage, "critical,keyCertSign,cRLSign", "critical,digitalSignature,nonRepudiation"},
        {NID_ext_key_usage, NULL, "critical,timeStamping"},
        {NID_subject_key_identifier, "hash", "hash"},
    };
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        const char *v = ca ? exts[i].ca : exts[i].tsa;
        if (v == NULL)
            continue;
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, v);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
    X509_NAME_free(name);
    return x;
}

static void write_pem(const char *name, X509 *x, EVP_PKEY *key)
{
    char file[64];
    snprintf(file, sizeof(file), "%s.pem", name);
    char *p = in_dir(file);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    assert_int_equal(fclose(f), 0);
    free(p);
    snprintf(file, sizeof(file), "%s.key", name);
    p = in_dir(file);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    free(p);
}

/* The throw-away PKI (never committed): a root valid 2019-2060 and TSA signers whose windows
 * overlap the way a 30-year archive's do, so tokens dated inside each window (make_token sets
 * genTime) can be renewed before, or too late after, the previous certificate expires:
 *   tsa-a 2020-01-01 .. 2022-01-01, tsa-b 2021-06-01 .. 2031-01-01, tsa-c 2030-06-01 ..
 *   2045-01-01 (P-256 keys), tsa-rsa (RSA 2048) as tsa-b; tsa-now, valid around the current time
 *   for `openssl ts -reply` (ts.cnf), which stamps the clock; rogue: a self-signed TSA that
 *   chains to nothing. The root lasts to 2060 or 50 years from now, whichever is later. */
static void make_pki(void)
{
    static const struct {
        const char *name, *cn;
        int64_t nb, na;
        bool rsa;
    } tsas[] = {
        {"tsa-a", "ERS Test TSA A", 1577836800LL, 1640995200LL, false},
        {"tsa-b", "ERS Test TSA B", 1622505600LL, 1924992000LL, false},
        {"tsa-c", "ERS Test TSA C", 1906502400LL, 2366841600LL, false},
        {"tsa-rsa", "ERS Test TSA RSA", 1622505600LL, 1924992000LL, true},
    };
    int64_t now = (int64_t)time(NULL), root_end = 2840140800LL; /* 2060, or 50 years from now */
    if (root_end < now + 50 * 31556952LL)
        root_end = now + 50 * 31556952LL;
    EVP_PKEY *rk = EVP_EC_gen("P-256");
    assert_non_null(rk);
    X509 *root = new_cert("ERS Test Root", rk, NULL, NULL, 1546300800LL, root_end, true, 1);
    write_pem("root", root, rk);
    /* for `openssl ts -reply`, which stamps the current time: valid from yesterday, 10 years */
    EVP_PKEY *nk = EVP_EC_gen("P-256");
    X509 *nowc =
        new_cert("ERS Test TSA now", nk, root, rk, now - 86400, now + 10 * 31556952LL, false, 8);
    write_pem("tsa-now", nowc, nk);
    X509_free(nowc);
    EVP_PKEY_free(nk);
    for (size_t i = 0; i < sizeof(tsas) / sizeof(tsas[0]); i++) {
        EVP_PKEY *k = tsas[i].rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
        assert_non_null(k);
        X509 *x = new_cert(tsas[i].cn, k, root, rk, tsas[i].nb, tsas[i].na, false, (long)i + 2);
        write_pem(tsas[i].name, x, k);
        X509_free(x);
        EVP_PKEY_free(k);
    }
    EVP_PKEY *gk = EVP_EC_gen("P-256");
    X509 *rogue = new_cert("ERS Rogue TSA", gk, NULL, NULL, 1546300800LL, 2840140800LL, false, 9);
    write_pem("rogue", rogue, gk);
    X509_free(rogue);
    EVP_PKEY_free(gk);
    X509_free(root);
    EVP_PKEY_free(rk);
    static const char ts_cnf[] = "[tsa]\ndefault_tsa = t\n[t]\nserial = tsaserial\n"
                                 "signer_digest = sha256\ndefault_policy = 1.2.3.4.1\n"
                                 "digests = sha256, sha384, sha512\ness_cert_id_alg = sha256\n";
    write_file("ts.cnf", ts_cnf, strlen(ts_cnf));
    write_file("tsaserial", "0100\n", 5);
}

static int setup(void **state)
{
    (void)state;
    dir = tsb_test_tmpdir();
    make_pki();
    char *root = in_dir("root.pem");
    int r = tsb_token_verifier_new(root, &tv);
    free(root);
    return r;
}

static int teardown(void **state)
{
    (void)state;
    tsb_token_verifier_free(tv);
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

/* ---- tokens ---- */

static int time_cb(TS_RESP_CTX *ctx, void *data, long *sec, long *usec)
{
    (void)ctx;
    *sec = (long)*(const int64_t *)data;
    *usec = 0;
    return 1;
}

static const EVP_MD *md_of(enum tsb_ers_alg alg)
{
    return alg == TSB_ERS_SHA512   ? EVP_sha512()
           : alg == TSB_ERS_SHA384 ? EVP_sha384()
                                   : EVP_sha256();
}

/* A DER TimeStampToken over imprint (alg), signed by <signer>.pem/.key with genTime gen_s. */
static void make_token(const char *signer, enum tsb_ers_alg alg, const uint8_t *imprint,
                       int64_t gen_s, struct tsb_buf *out)
{
    char name[64];
    snprintf(name, sizeof(name), "%s.pem", signer);
    char *cp = in_dir(name);
    snprintf(name, sizeof(name), "%s.key", signer);
    char *kp = in_dir(name);
    FILE *f = fopen(cp, "r");
    assert_non_null(f);
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    f = fopen(kp, "r");
    assert_non_null(f);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(cert);
    assert_non_null(key);

    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *algo = X509_ALGOR_new();
    X509_ALGOR_set_md(algo, md_of(alg));
    assert_int_equal(TS_MSG_IMPRINT_set_algo(mi, algo), 1);
    assert_int_equal(
        TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)imprint, (int)tsb_ers_alg_len(alg)), 1);
    assert_int_equal(TS_REQ_set_msg_imprint(req, mi), 1);
    assert_int_equal(TS_REQ_set_version(req, 1), 1);
    assert_int_equal(TS_REQ_set_cert_req(req, 1), 1);
    BIO *rb = BIO_new(BIO_s_mem());
    assert_int_equal(i2d_TS_REQ_bio(rb, req), 1);

    TS_RESP_CTX *ctx = TS_RESP_CTX_new();
    ASN1_OBJECT *policy = OBJ_txt2obj("1.2.3.4.1", 1);
    assert_int_equal(TS_RESP_CTX_set_signer_cert(ctx, cert), 1);
    assert_int_equal(TS_RESP_CTX_set_signer_key(ctx, key), 1);
    assert_int_equal(TS_RESP_CTX_set_def_policy(ctx, policy), 1);
    assert_int_equal(TS_RESP_CTX_add_md(ctx, md_of(alg)), 1);
    assert_int_equal(TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()), 1);
    TS_RESP_CTX_set_time_cb(ctx, time_cb, &gen_s);
    TS_RESP *rsp = TS_RESP_create_response(ctx, rb);
    assert_non_null(rsp);
    assert_int_equal(ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(rsp))), 0);
    unsigned char *der = NULL;
    int n = i2d_PKCS7(TS_RESP_get_token(rsp), &der);
    assert_true(n > 0);
    assert_int_equal(tsb_buf_append(out, der, (size_t)n), 0);
    OPENSSL_free(der);
    TS_RESP_free(rsp);
    ASN1_OBJECT_free(policy);
    TS_RESP_CTX_free(ctx);
    BIO_free(rb);
    X509_ALGOR_free(algo);
    TS_MSG_IMPRINT_free(mi);
    TS_REQ_free(req);
    EVP_PKEY_free(key);
    X509_free(cert);
    free(cp);
    free(kp);
}

/* ---- helpers ---- */

static void leaf_of(size_t i, uint8_t out[32])
{
    char s[32];
    int n = snprintf(s, sizeof(s), "leaf %zu", i);
    assert_int_equal(tsb_ers_digest(TSB_ERS_SHA256, (const uint8_t *)s, (size_t)n, out), 0);
}

static struct tsb_ers_tree *tree_of(size_t n)
{
    uint8_t *leaves = tsb_malloc(n * 32);
    for (size_t i = 0; i < n; i++)
        leaf_of(i, leaves + 32 * i);
    struct tsb_ers_tree *t = NULL;
    assert_int_equal(tsb_ers_tree_new(TSB_ERS_SHA256, leaves, n, &t), 0);
    free(leaves);
    return t;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* A bag: its group of members ("bag <i>", "token <i>", and "second <i>" when k is 3). */
struct bag {
    char m[3][40];
    struct tsb_slice obj[3];
    size_t k;
    uint8_t h[3 * TSB_ERS_HASH_MAX];
    uint8_t leaf[TSB_ERS_HASH_MAX];
};

static void bag_init(struct bag *b, size_t i, size_t k, enum tsb_ers_alg alg)
{
    b->k = k; /* every obj[] is set, so a caller may pass more members than the bag has */
    snprintf(b->m[0], sizeof(b->m[0]), "<TimeStampBag seq=\"%zu\"/>", i);
    snprintf(b->m[1], sizeof(b->m[1]), "token %zu", i);
    snprintf(b->m[2], sizeof(b->m[2]), "second token %zu", i);
    for (size_t j = 0; j < 3; j++)
        b->obj[j] = (struct tsb_slice){(const uint8_t *)b->m[j], strlen(b->m[j])};
    assert_int_equal(tsb_ers_hash_objects(alg, b->obj, k, b->h), 0);
    assert_int_equal(tsb_ers_group_leaf(alg, b->h, k, b->leaf), 0);
}

/* One tree over n leaves stamped by signer at gen_s: the ATS of leaf i into out[i], its reduced
 * tree starting with the group members[i] (counts[i] hashes) when members is not NULL. */
static void stamp_tree(enum tsb_ers_alg alg, const uint8_t *leaves, size_t n,
                       const uint8_t *const *members, const size_t *counts, const char *signer,
                       int64_t gen_s, struct tsb_buf *out)
{
    struct tsb_ers_tree *t = NULL;
    assert_int_equal(tsb_ers_tree_new(alg, leaves, n, &t), 0);
    struct tsb_buf tok, rht;
    tsb_buf_init(&tok, 1 << 16);
    tsb_buf_init(&rht, 1 << 16);
    make_token(signer, alg, tsb_ers_tree_root(t), gen_s, &tok);
    for (size_t i = 0; i < n; i++) {
        tsb_buf_reset(&rht);
        assert_int_equal(
            tsb_ers_tree_reduced(t, i, members ? members[i] : NULL, members ? counts[i] : 0, &rht),
            0);
        tsb_buf_init(&out[i], 1 << 20);
        assert_int_equal(tsb_ers_ats_encode(alg, rht.p, rht.len, tok.p, tok.len, &out[i]), 0);
    }
    tsb_buf_cleanup(&tok);
    tsb_buf_cleanup(&rht);
    tsb_ers_tree_free(t);
}

/* One tree over bags[0..n), stamped by signer at gen_s: each bag's ATS DER into ats[i]. */
static void stamp_bags(struct bag *bags, size_t n, enum tsb_ers_alg alg, const char *signer,
                       int64_t gen_s, struct tsb_buf *ats)
{
    size_t len = tsb_ers_alg_len(alg);
    uint8_t *leaves = tsb_malloc(n * len);
    const uint8_t *members[8];
    size_t counts[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        memcpy(leaves + i * len, bags[i].leaf, len);
        members[i] = bags[i].h;
        counts[i] = bags[i].k;
    }
    stamp_tree(alg, leaves, n, members, counts, signer, gen_s, ats);
    free(leaves);
}

/* Renews the latest ATS of each of n chains (last[i], DER) in one tree stamped by signer: the new
 * ATS DER of each into out[i]. */
static void renew(const struct tsb_buf *last, size_t n, enum tsb_ers_alg alg, const char *signer,
                  int64_t gen_s, struct tsb_buf *out)
{
    size_t len = tsb_ers_alg_len(alg);
    uint8_t *leaves = tsb_malloc(n * len);
    for (size_t i = 0; i < n; i++) {
        struct tsb_ers_ats a;
        assert_int_equal(tsb_ers_ats_decode(last[i].p, last[i].len, NULL, &a), 0);
        assert_int_equal(tsb_ers_renewal_leaf(alg, a.token.p, a.token.len, leaves + i * len), 0);
        tsb_ers_ats_cleanup(&a);
    }
    stamp_tree(alg, leaves, n, NULL, NULL, signer, gen_s, out);
    free(leaves);
}

/* An ER of chains given as arrays of ATS buffers. */
static void record_of(const struct tsb_buf *const *chains, const size_t *counts, size_t n,
                      struct tsb_buf *er)
{
    struct tsb_ers_chain_in in[8];
    struct tsb_slice s[8][8];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < counts[i]; j++)
            s[i][j] = (struct tsb_slice){chains[i][j].p, chains[i][j].len};
        in[i] = (struct tsb_ers_chain_in){s[i], counts[i]};
    }
    tsb_buf_init(er, 1 << 22);
    assert_int_equal(tsb_ers_record_encode(in, n, er), 0);
}

static enum tsb_ers_fail verify_at(const struct tsb_buf *er, const struct tsb_slice *objs, size_t n,
                                   int64_t at_s, struct tsb_ers_verify_result *res)
{
    struct tsb_ers_verify_opts o = {.tv = tv, .at_ms = at_s * 1000};
    int r = tsb_ers_verify(er->p, er->len, objs, n, &o, res);
    if (res->fail == TSB_ERS_OK)
        assert_int_equal(r, 0);
    else
        assert_int_not_equal(r, 0);
    if (res->fail != TSB_ERS_OK)
        assert_true(res->msg[0] != '\0');
    return res->fail;
}

static void free_bufs(struct tsb_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tsb_buf_cleanup(&b[i]);
}

/* ---- tests ---- */

/* Changes each byte of each hash value of a's reduced tree in turn (a's slices point into a
 * buffer of ours): the walk then never reaches root. */
static void flip_every_path_byte(const struct tsb_ers_ats *a, const uint8_t root[32])
{
    for (size_t k = 0; k < a->n_lists; k++)
        for (size_t j = 0; j < a->list[k].n; j++)
            for (size_t b = 0; b < a->list[k].hash[j].len; b++) {
                uint8_t *p = (uint8_t *)a->list[k].hash[j].p + b;
                *p ^= 0x80;
                uint8_t got[32];
                assert_int_equal(tsb_ers_ats_root(TSB_ERS_SHA256, a, got), 0);
                assert_memory_not_equal(got, root, 32);
                *p ^= 0x80;
            }
}

/* Roots of 1, 2, 3, 5, 64 and 1000 leaves equal the independent Python reading's; every leaf's
 * reduced tree walks back to the root, and to another root when any byte of it changes (every
 * leaf up to 64 leaves, every 37th of 1000); a one-leaf tree has no lists and the leaf is the
 * root. */
static void test_tree_roots_and_paths(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 3, 5, 64, 1000};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        struct tsb_ers_tree *t = tree_of(n);
        assert_int_equal(tsb_ers_tree_leaves(t), n);
        char want[65], cmd_out[80] = "";
        hex(tsb_ers_tree_root(t), 32, want);
        char *outp = in_dir("root.txt");
        assert_int_equal(tsb_test_sh("python3 '%s/tests/unit/ers_check.py' tree %zu >'%s'",
                                     tsb_test_source_dir(), n, outp),
                         0);
        FILE *f = fopen(outp, "r");
        assert_non_null(f);
        assert_non_null(fgets(cmd_out, sizeof(cmd_out), f));
        fclose(f);
        free(outp);
        cmd_out[strcspn(cmd_out, "\n")] = '\0';
        assert_string_equal(cmd_out, want);

        struct tsb_buf rht, ats;
        tsb_buf_init(&rht, 1 << 16);
        tsb_buf_init(&ats, 1 << 16);
        static const uint8_t dummy_token[] = {0x30, 0x00};
        for (size_t i = 0; i < n; i++) {
            tsb_buf_reset(&rht);
            tsb_buf_reset(&ats);
            assert_int_equal(tsb_ers_tree_reduced(t, i, NULL, 0, &rht), 0);
            assert_int_equal(tsb_ers_ats_encode(TSB_ERS_SHA256, rht.p, rht.len, dummy_token,
                                                sizeof(dummy_token), &ats),
                             0);
            struct tsb_ers_ats a;
            assert_int_equal(tsb_ers_ats_decode(ats.p, ats.len, NULL, &a), 0);
            uint8_t root[32], leaf[32];
            leaf_of(i, leaf);
            if (n == 1) {
                assert_int_equal(a.n_lists, 0);
                assert_memory_equal(tsb_ers_tree_root(t), leaf, 32);
                assert_int_equal(tsb_ers_ats_root(TSB_ERS_SHA256, &a, root), TSB_EINVAL);
            } else {
                /* the first list holds the leaf and its (possibly carried) sibling */
                assert_int_equal(a.list[0].n, 2);
                assert_true(memcmp(a.list[0].hash[0].p, leaf, 32) == 0 ||
                            memcmp(a.list[0].hash[1].p, leaf, 32) == 0);
                for (size_t k = 1; k < a.n_lists; k++)
                    assert_int_equal(a.list[k].n, 1);
                assert_int_equal(tsb_ers_ats_root(TSB_ERS_SHA256, &a, root), 0);
                assert_memory_equal(root, tsb_ers_tree_root(t), 32);
                if (n < 1000 || i % 37 == 0)
                    flip_every_path_byte(&a, tsb_ers_tree_root(t));
            }
            tsb_ers_ats_cleanup(&a);
        }
        tsb_buf_cleanup(&rht);
        tsb_buf_cleanup(&ats);
        tsb_ers_tree_free(t);
    }
}

/* Hand-computed: the 2-leaf root is H(sorted(l0, l1)); the 3-leaf root H(sorted(H(sorted(l0,
 * l1)), l2)) with l2 carried up; l2's reduced tree is one list {l2, H01}. */
static void test_tree_hand_vectors(void **state)
{
    (void)state;
    uint8_t l[3][32], cat[64], h01[32], root3[32];
    for (size_t i = 0; i < 3; i++)
        leaf_of(i, l[i]);
    bool lt = memcmp(l[0], l[1], 32) < 0;
    memcpy(cat, lt ? l[0] : l[1], 32);
    memcpy(cat + 32, lt ? l[1] : l[0], 32);
    assert_int_equal(tsb_ers_digest(TSB_ERS_SHA256, cat, 64, h01), 0);
    lt = memcmp(h01, l[2], 32) < 0;
    memcpy(cat, lt ? h01 : l[2], 32);
    memcpy(cat + 32, lt ? l[2] : h01, 32);
    assert_int_equal(tsb_ers_digest(TSB_ERS_SHA256, cat, 64, root3), 0);
    struct tsb_ers_tree *t2 = tree_of(2), *t3 = tree_of(3);
    assert_memory_equal(tsb_ers_tree_root(t2), h01, 32);
    assert_memory_equal(tsb_ers_tree_root(t3), root3, 32);
    struct tsb_buf rht;
    tsb_buf_init(&rht, 4096);
    assert_int_equal(tsb_ers_tree_reduced(t3, 2, NULL, 0, &rht), 0);
    /* 30 46 | 30 44 | 04 20 <a> 04 20 <b>, a < b */
    assert_int_equal(rht.len, 2 + 2 + 2 * 34);
    assert_int_equal(rht.p[0], 0x30);
    assert_int_equal(rht.p[1], 0x46);
    assert_int_equal(rht.p[2], 0x30);
    assert_int_equal(rht.p[3], 0x44);
    const uint8_t *first = rht.p + 6, *second = rht.p + 6 + 34;
    assert_memory_equal(first, memcmp(h01, l[2], 32) < 0 ? h01 : l[2], 32);
    assert_memory_equal(second, memcmp(h01, l[2], 32) < 0 ? l[2] : h01, 32);
    tsb_buf_cleanup(&rht);
    tsb_ers_tree_free(t2);
    tsb_ers_tree_free(t3);
}

/* Writes the OCTET STRING of a SHA-256 value at p; returns the byte after it. */
static uint8_t *octets(uint8_t *p, const uint8_t h[32])
{
    p[0] = 0x04;
    p[1] = 0x20;
    memcpy(p + 2, h, 32);
    return p + 34;
}

/* The worked example of docs/internals/ERS.md, byte for byte: objects "a", "b", "c" (SHA-256),
 * the reduced trees of d1 and d3, and the group {"<bag/>", "token"}. */
static void test_worked_example(void **state)
{
    (void)state;
    static const char *const hexes[] = {
        "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb", /* h1 */
        "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d", /* h2 */
        "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6", /* h3 */
        "18d79cb747ea174c59f3a3b41768672526d56fecc58360a99d283d0f9b0a3cc0", /* h12 */
        "aea2dd4249dcecf97ca6a1556db7f21ebd6a40bbec0243ca61b717146a08c347", /* root */
        "54fceb0b38bd5a7f544d9f1c54b1f08a38f6b0a9e3bdac56a367f4384721ce29", /* group leaf */
    };
    uint8_t v[6][32];
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(tsb_hex_decode(hexes[i], 64, v[i], 32), 0);
    const struct tsb_slice objs[3] = {
        {(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}, {(const uint8_t *)"c", 1}};
    uint8_t h[96];
    assert_int_equal(tsb_ers_hash_objects(TSB_ERS_SHA256, objs, 3, h), 0);
    assert_memory_equal(h, v[0], 32);
    assert_memory_equal(h + 32, v[1], 32);
    assert_memory_equal(h + 64, v[2], 32);
    struct tsb_ers_tree *t = NULL;
    assert_int_equal(tsb_ers_tree_new(TSB_ERS_SHA256, h, 3, &t), 0);
    assert_memory_equal(tsb_ers_tree_root(t), v[4], 32);
    struct tsb_buf rht;
    tsb_buf_init(&rht, 4096);
    assert_int_equal(tsb_ers_tree_reduced(t, 0, NULL, 0, &rht), 0);
    /* h2 sorts before h1 */
    uint8_t want1[108] = {0x30, 0x6a, 0x30, 0x44}, *w = want1 + 4;
    w = octets(octets(w, v[1]), v[0]);
    w[0] = 0x30;
    w[1] = 0x22;
    octets(w + 2, v[2]);
    assert_int_equal(rht.len, 108);
    assert_memory_equal(rht.p, want1, 108);
    tsb_buf_reset(&rht);
    assert_int_equal(tsb_ers_tree_reduced(t, 2, NULL, 0, &rht), 0);
    uint8_t want3[72] = {0x30, 0x46, 0x30, 0x44}; /* h12 sorts before h3 */
    octets(octets(want3 + 4, v[3]), v[2]);
    assert_int_equal(rht.len, 72);
    assert_memory_equal(rht.p, want3, 72);
    const struct tsb_slice group[2] = {{(const uint8_t *)"<bag/>", 6},
                                       {(const uint8_t *)"token", 5}};
    uint8_t gh[64], leaf[32];
    assert_int_equal(tsb_ers_hash_objects(TSB_ERS_SHA256, group, 2, gh), 0);
    assert_int_equal(tsb_ers_group_leaf(TSB_ERS_SHA256, gh, 2, leaf), 0);
    assert_memory_equal(leaf, v[5], 32);
    tsb_buf_cleanup(&rht);
    tsb_ers_tree_free(t);
}

/* Groups of 1, 2 and 3 members in one tree: each bag verifies with exactly its members in any
 * order, or with one member alone; a partial group of several is "group", an altered or foreign
 * member "object". */
static void test_groups(void **state)
{
    (void)state;
    struct bag bags[5];
    size_t ks[5] = {1, 2, 3, 2, 3};
    for (size_t i = 0; i < 5; i++)
        bag_init(&bags[i], i, ks[i], TSB_ERS_SHA256);
    struct tsb_buf ats[5], er;
    stamp_bags(bags, 5, TSB_ERS_SHA256, "tsa-b", T2026_01, ats);
    struct tsb_ers_verify_result res;
    for (size_t i = 0; i < 5; i++) {
        const struct tsb_buf *chains[1] = {&ats[i]};
        size_t counts[1] = {1};
        record_of(chains, counts, 1, &er);
        assert_int_equal(verify_at(&er, bags[i].obj, bags[i].k, T2026_01 + 86400, &res),
                         TSB_ERS_OK);
        assert_int_equal(res.n_chains, 1);
        assert_int_equal(res.n_ats, 1);
        assert_int_equal(res.first_gen_time_ms, T2026_01 * 1000);
        if (bags[i].k >= 2) {
            struct tsb_slice rev[3];
            for (size_t j = 0; j < bags[i].k; j++)
                rev[j] = bags[i].obj[bags[i].k - 1 - j];
            assert_int_equal(verify_at(&er, rev, bags[i].k, T2026_01 + 86400, &res), TSB_ERS_OK);
            /* one member alone is proven (§4.3: in the first list); two of three are not the
             * group */
            assert_int_equal(verify_at(&er, bags[i].obj, 1, T2026_01 + 86400, &res), TSB_ERS_OK);
            if (bags[i].k == 3) {
                assert_int_equal(verify_at(&er, bags[i].obj, 2, T2026_01 + 86400, &res),
                                 TSB_ERS_FAIL_GROUP);
                assert_non_null(strstr(res.msg, "the group has another member"));
            }
        }
        struct tsb_slice bad[3];
        memcpy(bad, bags[i].obj, sizeof(bad));
        char altered[40];
        memcpy(altered, bags[i].m[0], sizeof(altered));
        altered[1] ^= 1;
        bad[0] = (struct tsb_slice){(const uint8_t *)altered, strlen(altered)};
        assert_int_equal(verify_at(&er, bad, bags[i].k, T2026_01 + 86400, &res),
                         TSB_ERS_FAIL_OBJECT);
        assert_int_equal(res.object, 0);
        assert_int_equal(res.chain, 0);
        assert_int_equal(res.ats, 0);
        assert_non_null(strstr(res.msg, "chain 1, archive timestamp 1 (byte offset"));
        assert_non_null(strstr(res.msg, "data object 1 (SHA-256 "));
        /* another bag's objects */
        assert_int_equal(verify_at(&er, bags[(i + 1) % 5].obj, bags[i].k, T2026_01 + 86400, &res),
                         TSB_ERS_FAIL_OBJECT);
        tsb_buf_cleanup(&er);
    }
    free_bufs(ats, 5);
}

/* The reduced tree of a group leaf whose members do not hash to it is refused. */
static void test_reduced_refuses_wrong_group(void **state)
{
    (void)state;
    struct bag b0, b1;
    bag_init(&b0, 0, 2, TSB_ERS_SHA256);
    bag_init(&b1, 1, 2, TSB_ERS_SHA256);
    uint8_t leaves[64];
    memcpy(leaves, b0.leaf, 32);
    memcpy(leaves + 32, b1.leaf, 32);
    struct tsb_ers_tree *t = NULL;
    assert_int_equal(tsb_ers_tree_new(TSB_ERS_SHA256, leaves, 2, &t), 0);
    struct tsb_buf rht;
    tsb_buf_init(&rht, 4096);
    assert_int_equal(tsb_ers_tree_reduced(t, 0, b1.h, 2, &rht), TSB_EINVAL);
    assert_int_equal(tsb_ers_tree_reduced(t, 2, NULL, 0, &rht), TSB_EINVAL);
    assert_int_equal(tsb_ers_tree_new(TSB_ERS_SHA256, leaves, 0, &(struct tsb_ers_tree *){NULL}),
                     TSB_EINVAL);
    tsb_buf_cleanup(&rht);
    tsb_ers_tree_free(t);
}

/* Every byte of a record, changed, makes verification fail; a changed hash value of the reduced
 * tree is "object" when it is one of the group's, else "root"; the token's bytes fail as "token"
 * (signature, or the unsigned envelope fields OpenSSL would let pass: versions, algorithm
 * parameters), "root" (the imprint) or "format"; other header bytes as "format". */
static void changed_bytes_fail(const char *signer)
{
    struct bag bags[5];
    for (size_t i = 0; i < 5; i++)
        bag_init(&bags[i], i, 2, TSB_ERS_SHA256);
    struct tsb_buf ats[5], er;
    stamp_bags(bags, 5, TSB_ERS_SHA256, signer, T2026_01, ats);
    const struct tsb_buf *chains[1] = {&ats[4]};
    size_t counts[1] = {1};
    record_of(chains, counts, 1, &er);
    struct tsb_ers_verify_result res;
    assert_int_equal(verify_at(&er, bags[4].obj, 2, T2026_01 + 60, &res), TSB_ERS_OK);
    struct tsb_ers_record *rec = NULL;
    assert_int_equal(tsb_ers_record_decode(er.p, er.len, NULL, &rec), 0);
    const struct tsb_ers_ats *a = &rec->chain[0].ats[0];
    size_t tok_off = (size_t)(a->token.p - er.p);
    size_t counted[TSB_ERS_FAIL_INTERNAL + 1] = {0};
    for (size_t pos = 0; pos < er.len; pos++) {
        /* which hash value of which list holds pos, if any */
        long list = -1;
        bool own = false;
        for (size_t k = 0; k < a->n_lists; k++)
            for (size_t j = 0; j < a->list[k].n; j++) {
                size_t o = (size_t)(a->list[k].hash[j].p - er.p);
                if (pos >= o && pos < o + a->list[k].hash[j].len) {
                    list = (long)k;
                    own = k == 0;
                }
            }
        struct tsb_buf bad;
        tsb_buf_init(&bad, 1 << 22);
        assert_int_equal(tsb_buf_append(&bad, er.p, er.len), 0);
        bad.p[pos] ^= 0x01;
        enum tsb_ers_fail f = verify_at(&bad, bags[4].obj, 2, T2026_01 + 60, &res);
        if (f == TSB_ERS_OK)
            fail_msg("a changed byte at offset %zu of %zu (token at %zu) still verifies", pos,
                     er.len, tok_off);
        counted[f]++;
        if (list >= 0)
            assert_int_equal(f, own ? TSB_ERS_FAIL_OBJECT : TSB_ERS_FAIL_ROOT);
        else if (pos >= tok_off)
            assert_true(f == TSB_ERS_FAIL_TOKEN || f == TSB_ERS_FAIL_ROOT ||
                        f == TSB_ERS_FAIL_FORMAT);
        tsb_buf_cleanup(&bad);
    }
    assert_true(counted[TSB_ERS_FAIL_OBJECT] >= 2 * 32);
    assert_true(counted[TSB_ERS_FAIL_ROOT] >= 32);
    assert_true(counted[TSB_ERS_FAIL_TOKEN] > 0);
    assert_true(counted[TSB_ERS_FAIL_FORMAT] > 0);
    tsb_ers_record_free(rec);
    tsb_buf_cleanup(&er);
    free_bufs(ats, 5);
}

static void test_any_changed_byte_fails(void **state)
{
    (void)state;
    changed_bytes_fail("tsa-b");   /* ECDSA P-256 */
    changed_bytes_fail("tsa-rsa"); /* RSA PKCS#1 v1.5 */
}

/* Timestamp renewal (§5.2): stamped in 2020 by TSA A (expires 2022-01-01), renewed in 2021-09 by
 * TSA B (expires 2031-01-01): verifies in 2026 and 2030, after A expired; "expired" in 2032 (no
 * renewal before B's end); "future" as of 2021-01 (the renewal did not exist yet); renewed in
 * 2022-03, after A expired, is "late"; a renewal of another tree's ATS is "renewal"; a renewal
 * dated before the ATS it renews is "order". The Python reading agrees, openssl asn1parse reads
 * the structure. */
static void test_timestamp_renewal(void **state)
{
    (void)state;
    struct bag bags[3];
    for (size_t i = 0; i < 3; i++)
        bag_init(&bags[i], i, 2, TSB_ERS_SHA256);
    struct bag others[3];
    for (size_t i = 0; i < 3; i++)
        bag_init(&others[i], 10 + i, 2, TSB_ERS_SHA256);
    struct tsb_buf a0[3], a1[3], late[3], early[3], o0[3], o1[3], er;
    stamp_bags(bags, 3, TSB_ERS_SHA256, "tsa-a", T2020_06, a0);
    stamp_bags(others, 3, TSB_ERS_SHA256, "tsa-a", T2020_06, o0);
    renew(o0, 3, TSB_ERS_SHA256, "tsa-b", T2021_09, o1);
    renew(a0, 3, TSB_ERS_SHA256, "tsa-b", T2021_09, a1);
    renew(a0, 3, TSB_ERS_SHA256, "tsa-b", T2022_03, late);
    renew(a0, 3, TSB_ERS_SHA256, "tsa-a", T2020_06 - 86400, early);
    struct tsb_ers_verify_result res;
    for (size_t i = 0; i < 3; i++) {
        struct tsb_buf chain[2] = {a0[i], a1[i]};
        const struct tsb_buf *chains[1] = {chain};
        size_t counts[1] = {2};
        record_of(chains, counts, 1, &er);
        assert_int_equal(verify_at(&er, bags[i].obj, 2, T2026_01, &res), TSB_ERS_OK);
        assert_int_equal(res.n_ats, 2);
        assert_int_equal(res.first_gen_time_ms, T2020_06 * 1000);
        assert_int_equal(res.last_gen_time_ms, T2021_09 * 1000);
        assert_int_equal(res.last_not_after_ms, 1924992000LL * 1000); /* 2031-01-01 */
        assert_int_equal(verify_at(&er, bags[i].obj, 2, T2030_09, &res), TSB_ERS_OK);
        assert_int_equal(verify_at(&er, bags[i].obj, 2, T2032_01, &res), TSB_ERS_FAIL_EXPIRED);
        assert_int_equal(res.ats, 1);
        assert_non_null(strstr(res.msg, "expired 2031-01-01T00:00:00Z"));
        /* without its renewal, the record is expired as of 2026 */
        {
            const struct tsb_buf *c1[1] = {&a0[i]};
            size_t n1[1] = {1};
            struct tsb_buf er1;
            record_of(c1, n1, 1, &er1);
            assert_int_equal(verify_at(&er1, bags[i].obj, 2, T2026_01, &res), TSB_ERS_FAIL_EXPIRED);
            assert_int_equal(verify_at(&er1, bags[i].obj, 2, T2021_09, &res), TSB_ERS_OK);
            tsb_buf_cleanup(&er1);
        }
        assert_int_equal(verify_at(&er, bags[i].obj, 2, 1609459200 /* 2021-01-01 */, &res),
                         TSB_ERS_FAIL_FUTURE);
        assert_int_equal(res.ats, 1);
        if (i == 0) {
            /* the TSA chains verified with, for a package: signer and root of each ATS */
            struct tsb_buf pem;
            tsb_buf_init(&pem, 1 << 20);
            struct tsb_ers_verify_opts o = {.tv = tv, .at_ms = T2026_01 * 1000, .chain_pem = &pem};
            assert_int_equal(tsb_ers_verify(er.p, er.len, bags[0].obj, 2, &o, &res), 0);
            size_t certs = 0;
            for (const char *q = (const char *)pem.p;
                 (q = strstr(q, "-----BEGIN CERTIFICATE")) != NULL; q++)
                certs++;
            assert_int_equal(certs, 4);
            assert_non_null(strstr((const char *)pem.p, "-----END CERTIFICATE-----"));
            tsb_buf_cleanup(&pem);
            write_file("renewal.ers", er.p, er.len);
            write_file("bag0.xml", bags[0].m[0], strlen(bags[0].m[0]));
            write_file("bag0.tok", bags[0].m[1], strlen(bags[0].m[1]));
            char *p = in_dir("renewal.ers");
            assert_int_equal(tsb_test_sh("cd '%s' && python3 '%s/tests/unit/ers_check.py' record "
                                         "renewal.ers bag0.xml bag0.tok >py.txt && grep -qx 'ok 1 "
                                         "2' py.txt",
                                         dir, tsb_test_source_dir()),
                             0);
            /* the Python reading refuses a changed object too (it is not a check that passes on
             * anything) */
            assert_int_not_equal(tsb_test_sh("cd '%s' && python3 '%s/tests/unit/ers_check.py' "
                                             "record renewal.ers bag0.tok bag0.tok >/dev/null "
                                             "2>&1",
                                             dir, tsb_test_source_dir()),
                                 0);
            assert_int_equal(
                tsb_test_sh("cd '%s' && openssl asn1parse -inform DER -in renewal.ers -i "
                            ">asn1.txt && grep -c 'cont \\[ 2 \\]' asn1.txt | grep -qx 2 && "
                            "grep -c 'cont \\[ 0 \\]' asn1.txt >/dev/null && "
                            "sed -n 2p asn1.txt | grep -q 'INTEGER *:01' && "
                            "grep -q 'OBJECT *:sha256' asn1.txt && "
                            "grep -q 'OBJECT *:id-smime-ct-TSTInfo' asn1.txt",
                            dir),
                0);
            free(p);
        }
        tsb_buf_cleanup(&er);

        struct tsb_buf lchain[2] = {a0[i], late[i]};
        const struct tsb_buf *lchains[1] = {lchain};
        record_of(lchains, counts, 1, &er);
        assert_int_equal(verify_at(&er, bags[i].obj, 2, T2026_01, &res), TSB_ERS_FAIL_LATE);
        assert_int_equal(res.ats, 1);
        assert_non_null(strstr(res.msg, "2022-01-01T00:00:00Z"));
        tsb_buf_cleanup(&er);

        /* the bags of one tree share its token, so their renewal leaves are equal: a renewal of
         * another tree's token is the wrong one */
        struct tsb_buf wchain[2] = {a0[i], o1[i]};
        const struct tsb_buf *wchains[1] = {wchain};
        record_of(wchains, counts, 1, &er);
        assert_int_equal(verify_at(&er, bags[i].obj, 2, T2026_01, &res), TSB_ERS_FAIL_RENEWAL);
        assert_int_equal(res.chain, 0);
        assert_int_equal(res.ats, 1);
        tsb_buf_cleanup(&er);

        struct tsb_buf echain[2] = {a0[i], early[i]};
        const struct tsb_buf *echains[1] = {echain};
        record_of(echains, counts, 1, &er);
        assert_int_equal(verify_at(&er, bags[i].obj, 2, T2021_09, &res), TSB_ERS_FAIL_ORDER);
        tsb_buf_cleanup(&er);
    }
    free_bufs(a0, 3);
    free_bufs(a1, 3);
    free_bufs(late, 3);
    free_bufs(early, 3);
    free_bufs(o0, 3);
    free_bufs(o1, 3);
}

/* Builds chain 1 (rehash, alg) of bags over the sequence of their chain 0 (a0 then a1): the
 * first ATS DER of each bag's new chain into out; sorted picks the Figure 4 reading. Returns
 * whether, for bag `which`, that reading differs from the formula's (some h(d) sorts after ha). */
static bool rehash(struct bag *bags, size_t n, const struct tsb_buf *a0, const struct tsb_buf *a1,
                   enum tsb_ers_alg alg, const char *signer, int64_t gen_s, bool sorted,
                   size_t which, struct tsb_buf *out)
{
    bool differs = false;
    size_t len = tsb_ers_alg_len(alg);
    uint8_t *leaves = tsb_malloc(n * len);
    uint8_t(*members)[3 * TSB_ERS_HASH_MAX] = tsb_calloc(n, sizeof(*members));
    for (size_t i = 0; i < n; i++) {
        struct tsb_slice s[2] = {{a0[i].p, a0[i].len}, {a1[i].p, a1[i].len}};
        struct tsb_ers_chain_in c = {s, 2};
        struct tsb_buf seq;
        tsb_buf_init(&seq, 1 << 22);
        assert_int_equal(tsb_ers_sequence_encode(&c, 1, &seq), 0);
        uint8_t h[3 * TSB_ERS_HASH_MAX];
        assert_int_equal(tsb_ers_hash_objects(alg, bags[i].obj, bags[i].k, h), 0);
        if (!sorted) {
            assert_int_equal(tsb_ers_rehash_members(alg, seq.p, seq.len, h, bags[i].k, members[i]),
                             0);
        } else {
            uint8_t ha[TSB_ERS_HASH_MAX];
            assert_int_equal(tsb_ers_digest(alg, seq.p, seq.len, ha), 0);
            for (size_t j = 0; j < bags[i].k; j++) {
                uint8_t pair[2 * TSB_ERS_HASH_MAX];
                bool lt = memcmp(h + j * len, ha, len) < 0;
                differs = differs || (i == which && !lt);
                memcpy(pair, lt ? h + j * len : ha, len);
                memcpy(pair + len, lt ? ha : h + j * len, len);
                assert_int_equal(tsb_ers_digest(alg, pair, 2 * len, members[i] + j * len), 0);
            }
        }
        assert_int_equal(tsb_ers_group_leaf(alg, members[i], bags[i].k, leaves + i * len), 0);
        tsb_buf_cleanup(&seq);
    }
    const uint8_t *mp[8];
    size_t counts[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        mp[i] = members[i];
        counts[i] = bags[i].k;
    }
    stamp_tree(alg, leaves, n, mp, counts, signer, gen_s, out);
    free(members);
    free(leaves);
    return differs;
}

/* Hash-tree renewal (§5.2/§5.3): chain 0 in SHA-256 (TSA A 2020, renewed by B 2021), chain 1 in
 * SHA-512 by TSA C in 2030-09 over the objects rehashed with chain 0's sequence: verifies in 2040
 * (A and B long expired); "late" when chain 1 starts after B expired (2031-06); the Figure 4
 * reading is accepted and reported; a chain 1 made for another bag is "object"; a SHA-512 ATS in
 * the SHA-256 chain is "algorithm". The Python reading agrees. */
static void test_rehash_chain(void **state)
{
    (void)state;
    struct bag bags[3];
    for (size_t i = 0; i < 3; i++)
        bag_init(&bags[i], i, 3, TSB_ERS_SHA256);
    struct tsb_buf a0[3], a1[3], c1[3], c1late[3], c1sorted[3], er;
    stamp_bags(bags, 3, TSB_ERS_SHA256, "tsa-a", T2020_06, a0);
    renew(a0, 3, TSB_ERS_SHA256, "tsa-b", T2021_09, a1);
    rehash(bags, 3, a0, a1, TSB_ERS_SHA512, "tsa-c", T2030_09, false, 0, c1);
    rehash(bags, 3, a0, a1, TSB_ERS_SHA512, "tsa-c", T2031_06, false, 0, c1late);
    bool differs[3];
    for (size_t i = 0; i < 3; i++) {
        struct tsb_buf tmp[3];
        differs[i] = rehash(bags, 3, a0, a1, TSB_ERS_SHA512, "tsa-c", T2030_09, true, i, tmp);
        if (i == 0)
            memcpy(c1sorted, tmp, sizeof(tmp));
        else
            free_bufs(tmp, 3);
    }
    struct tsb_ers_verify_result res;
    size_t counts[2] = {2, 1};
    for (size_t i = 0; i < 3; i++) {
        struct tsb_buf ch0[2] = {a0[i], a1[i]};
        const struct tsb_buf *chains[2] = {ch0, &c1[i]};
        record_of(chains, counts, 2, &er);
        assert_int_equal(verify_at(&er, bags[i].obj, 3, T2040_01, &res), TSB_ERS_OK);
        assert_int_equal(res.n_chains, 2);
        assert_int_equal(res.n_ats, 3);
        assert_int_equal(res.current_alg, TSB_ERS_SHA512);
        assert_false(res.rehash_sorted);
        assert_int_equal(res.first_gen_time_ms, T2020_06 * 1000);
        /* two digestAlgorithms, in order of use */
        struct tsb_ers_record *rec = NULL;
        assert_int_equal(tsb_ers_record_decode(er.p, er.len, NULL, &rec), 0);
        assert_int_equal(rec->n_digest_algs, 2);
        assert_int_equal(rec->digest_algs[0], TSB_ERS_SHA256);
        assert_int_equal(rec->digest_algs[1], TSB_ERS_SHA512);
        tsb_ers_record_free(rec);
        /* the second token does not belong to the group: a missing member */
        assert_int_equal(verify_at(&er, bags[i].obj, 2, T2040_01, &res), TSB_ERS_FAIL_GROUP);
        if (i == 1) {
            write_file("rehash.ers", er.p, er.len);
            for (size_t j = 0; j < 3; j++) {
                char name[16];
                snprintf(name, sizeof(name), "m%zu", j);
                write_file(name, bags[1].m[j], strlen(bags[1].m[j]));
            }
            assert_int_equal(tsb_test_sh("cd '%s' && python3 '%s/tests/unit/ers_check.py' record "
                                         "rehash.ers m2 m0 m1 >py.txt && grep -qx 'ok 2 3' py.txt",
                                         dir, tsb_test_source_dir()),
                             0);
        }
        tsb_buf_cleanup(&er);

        const struct tsb_buf *lchains[2] = {ch0, &c1late[i]};
        record_of(lchains, counts, 2, &er);
        assert_int_equal(verify_at(&er, bags[i].obj, 3, T2040_01, &res), TSB_ERS_FAIL_LATE);
        assert_int_equal(res.chain, 1);
        assert_int_equal(res.ats, 0);
        tsb_buf_cleanup(&er);

        const struct tsb_buf *schains[2] = {ch0, &c1sorted[i]};
        record_of(schains, counts, 2, &er);
        assert_int_equal(verify_at(&er, bags[i].obj, 3, T2040_01, &res), TSB_ERS_OK);
        assert_int_equal(res.rehash_sorted, differs[i]);
        tsb_buf_cleanup(&er);

        const struct tsb_buf *wchains[2] = {ch0, &c1[(i + 1) % 3]};
        record_of(wchains, counts, 2, &er);
        assert_int_equal(verify_at(&er, bags[i].obj, 3, T2040_01, &res), TSB_ERS_FAIL_OBJECT);
        assert_int_equal(res.chain, 1);
        tsb_buf_cleanup(&er);

        struct tsb_buf mixed[2] = {a0[i], c1[i]};
        const struct tsb_buf *mchains[1] = {mixed};
        size_t mcount[1] = {2};
        record_of(mchains, mcount, 1, &er);
        assert_int_equal(verify_at(&er, bags[i].obj, 3, T2040_01, &res), TSB_ERS_FAIL_ALGORITHM);
        assert_int_equal(res.ats, 1);
        tsb_buf_cleanup(&er);
    }
    free_bufs(a0, 3);
    free_bufs(a1, 3);
    free_bufs(c1, 3);
    free_bufs(c1late, 3);
    free_bufs(c1sorted, 3);
}

/* A token that does not chain to the anchor is "token"; a token over another root is "root". */
static void test_token_failures(void **state)
{
    (void)state;
    struct bag bags[2];
    for (size_t i = 0; i < 2; i++)
        bag_init(&bags[i], i, 2, TSB_ERS_SHA256);
    struct tsb_buf ats[2], er;
    stamp_bags(bags, 2, TSB_ERS_SHA256, "rogue", T2026_01, ats);
    const struct tsb_buf *chains[1] = {&ats[0]};
    size_t counts[1] = {1};
    record_of(chains, counts, 1, &er);
    struct tsb_ers_verify_result res;
    assert_int_equal(verify_at(&er, bags[0].obj, 2, T2026_01, &res), TSB_ERS_FAIL_TOKEN);
    assert_non_null(strstr(res.msg, "token check"));
    tsb_buf_cleanup(&er);
    free_bufs(ats, 2);

    /* a real token, by the trusted TSA, over something else than this tree's root */
    uint8_t other[32] = {1, 2, 3};
    struct tsb_buf tok, rht, a;
    tsb_buf_init(&tok, 1 << 16);
    tsb_buf_init(&rht, 1 << 16);
    tsb_buf_init(&a, 1 << 20);
    make_token("tsa-b", TSB_ERS_SHA256, other, T2026_01, &tok);
    uint8_t leaves[64];
    memcpy(leaves, bags[0].leaf, 32);
    memcpy(leaves + 32, bags[1].leaf, 32);
    struct tsb_ers_tree *t = NULL;
    assert_int_equal(tsb_ers_tree_new(TSB_ERS_SHA256, leaves, 2, &t), 0);
    assert_int_equal(tsb_ers_tree_reduced(t, 0, bags[0].h, 2, &rht), 0);
    assert_int_equal(tsb_ers_ats_encode(TSB_ERS_SHA256, rht.p, rht.len, tok.p, tok.len, &a), 0);
    const struct tsb_buf *c2[1] = {&a};
    record_of(c2, counts, 1, &er);
    assert_int_equal(verify_at(&er, bags[0].obj, 2, T2026_01, &res), TSB_ERS_FAIL_ROOT);
    assert_non_null(strstr(res.msg, "differs from the token's messageImprint"));
    tsb_buf_cleanup(&er);
    tsb_buf_cleanup(&tok);
    tsb_buf_cleanup(&rht);
    tsb_buf_cleanup(&a);
    tsb_ers_tree_free(t);
}

/* A token made by stock `openssl ts -reply` for `-digest <root>` verifies in a record built on
 * the same root: openssl's reading of "timestamp the root" is ours. */
static void test_openssl_ts_token(void **state)
{
    (void)state;
    struct bag bags[3];
    for (size_t i = 0; i < 3; i++)
        bag_init(&bags[i], i, 2, TSB_ERS_SHA256);
    uint8_t leaves[96];
    for (size_t i = 0; i < 3; i++)
        memcpy(leaves + 32 * i, bags[i].leaf, 32);
    struct tsb_ers_tree *t = NULL;
    assert_int_equal(tsb_ers_tree_new(TSB_ERS_SHA256, leaves, 3, &t), 0);
    char rh[65];
    hex(tsb_ers_tree_root(t), 32, rh);
    assert_int_equal(tsb_test_sh("cd '%s' && openssl ts -query -digest %s -sha256 -cert -out q.tsq "
                                 "&& openssl ts -reply -config ts.cnf -queryfile q.tsq -signer "
                                 "tsa-now.pem -inkey tsa-now.key -token_out -out t.der 2>/dev/null",
                                 dir, rh),
                     0);
    char *tp = in_dir("t.der");
    size_t tlen = 0;
    uint8_t *tok = tsb_test_read_file(tp, &tlen);
    free(tp);
    assert_non_null(tok);
    struct tsb_buf rht, a, er;
    tsb_buf_init(&rht, 1 << 16);
    tsb_buf_init(&a, 1 << 20);
    assert_int_equal(tsb_ers_tree_reduced(t, 2, bags[2].h, 2, &rht), 0);
    assert_int_equal(tsb_ers_ats_encode(TSB_ERS_SHA256, rht.p, rht.len, tok, tlen, &a), 0);
    const struct tsb_buf *chains[1] = {&a};
    size_t counts[1] = {1};
    record_of(chains, counts, 1, &er);
    struct tsb_ers_verify_result res;
    time_t now = time(NULL);
    assert_int_equal(verify_at(&er, bags[2].obj, 2, (int64_t)now + 3600, &res), TSB_ERS_OK);
    free(tok);
    tsb_buf_cleanup(&rht);
    tsb_buf_cleanup(&a);
    tsb_buf_cleanup(&er);
    tsb_ers_tree_free(t);
}

/* Decode(encode) gives back the same fields and, re-encoded from its slices, the same bytes. */
static void test_der_round_trip(void **state)
{
    (void)state;
    struct bag bags[2];
    for (size_t i = 0; i < 2; i++)
        bag_init(&bags[i], i, 3, TSB_ERS_SHA256);
    struct tsb_buf a0[2], a1[2], er, again;
    stamp_bags(bags, 2, TSB_ERS_SHA256, "tsa-a", T2020_06, a0);
    renew(a0, 2, TSB_ERS_SHA256, "tsa-b", T2021_09, a1);
    struct tsb_buf ch[2] = {a0[0], a1[0]};
    const struct tsb_buf *chains[1] = {ch};
    size_t counts[1] = {2};
    record_of(chains, counts, 1, &er);
    struct tsb_ers_record *rec = NULL;
    assert_int_equal(tsb_ers_record_decode(er.p, er.len, NULL, &rec), 0);
    assert_int_equal(rec->version, 1);
    assert_int_equal(rec->n_digest_algs, 1);
    assert_int_equal(rec->digest_algs[0], TSB_ERS_SHA256);
    assert_false(rec->has_crypto_infos);
    assert_int_equal(rec->n_chains, 1);
    assert_int_equal(rec->chain[0].n, 2);
    const struct tsb_ers_ats *x = &rec->chain[0].ats[0];
    assert_int_equal(x->alg, TSB_ERS_SHA256);
    assert_string_equal(x->alg_oid, "2.16.840.1.101.3.4.2.1");
    assert_int_equal(x->n_lists, 2); /* the group, then bag 1's leaf */
    assert_int_equal(x->list[0].n, 3);
    assert_int_equal(x->der.len, a0[0].len);
    assert_memory_equal(x->der.p, a0[0].p, a0[0].len);
    assert_int_equal(rec->chain[0].ats[1].der.len, a1[0].len);
    struct tsb_slice s[2] = {rec->chain[0].ats[0].der, rec->chain[0].ats[1].der};
    struct tsb_ers_chain_in in = {s, 2};
    tsb_buf_init(&again, 1 << 22);
    assert_int_equal(tsb_ers_record_encode(&in, 1, &again), 0);
    assert_int_equal(again.len, er.len);
    assert_memory_equal(again.p, er.p, er.len);
    tsb_ers_record_free(rec);
    tsb_buf_cleanup(&er);
    tsb_buf_cleanup(&again);
    free_bufs(a0, 2);
    free_bufs(a1, 2);
}

/* Malformed and oversized records: each refused as "format" or "limit" with the offset named. */
static void test_decoder_refuses(void **state)
{
    (void)state;
    struct tsb_ers_record *rec = NULL;
    static const uint8_t indefinite[] = {0x30, 0x80, 0x00, 0x00};
    static const uint8_t nonminimal[] = {0x30, 0x81, 0x03, 0x02, 0x01, 0x01};
    static const uint8_t version2[] = {0x30, 0x07, 0x02, 0x01, 0x02, 0x30, 0x00, 0x30, 0x00};
    static const uint8_t no_chain[] = {0x30, 0x07, 0x02, 0x01, 0x01, 0x30, 0x00, 0x30, 0x00};
    static const uint8_t trailing[] = {0x30, 0x00, 0x00};
    static const uint8_t overlong[] = {0x30, 0x05, 0x02, 0x01};
    struct {
        const uint8_t *p;
        size_t len;
        int code;
        const char *says;
    } cases[] = {
        {indefinite, sizeof(indefinite), TSB_EFORMAT, "indefinite length"},
        {nonminimal, sizeof(nonminimal), TSB_EFORMAT, "minimal form"},
        {version2, sizeof(version2), TSB_EFORMAT, "not v1(1)"},
        {no_chain, sizeof(no_chain), TSB_EFORMAT, "holds no chain"},
        {trailing, sizeof(trailing), TSB_EFORMAT, "unexpected bytes at byte offset 2"},
        {overlong, sizeof(overlong), TSB_EFORMAT, "5 content bytes announced at byte offset 0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(tsb_ers_record_decode(cases[i].p, cases[i].len, NULL, &rec),
                         cases[i].code);
        if (strstr(tsb_err_detail(), cases[i].says) == NULL)
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, tsb_err_detail(), cases[i].says);
    }
    /* a real record with more chains than allowed, and over the size cap */
    struct bag b;
    bag_init(&b, 0, 2, TSB_ERS_SHA256);
    struct tsb_buf ats[1], er;
    stamp_bags(&b, 1, TSB_ERS_SHA256, "tsa-b", T2026_01, ats);
    const struct tsb_buf *chains[3] = {ats, ats, ats};
    size_t counts[3] = {1, 1, 1};
    record_of(chains, counts, 3, &er);
    struct tsb_ers_limits lim = {.max_chains = 2};
    assert_int_equal(tsb_ers_record_decode(er.p, er.len, &lim, &rec), TSB_ETOOBIG);
    assert_non_null(strstr(tsb_err_detail(), "3 chains, over the limit of 2"));
    struct tsb_ers_limits small = {.max_der = 100};
    assert_int_equal(tsb_ers_record_decode(er.p, er.len, &small, &rec), TSB_ETOOBIG);
    struct tsb_ers_limits few = {.max_total_hashes = 1};
    assert_int_equal(tsb_ers_record_decode(er.p, er.len, &few, &rec), TSB_ETOOBIG);
    struct tsb_ers_verify_result res;
    struct tsb_ers_verify_opts o = {.tv = tv, .at_ms = T2026_01 * 1000, .limits = &lim};
    assert_int_equal(tsb_ers_verify(er.p, er.len, b.obj, 2, &o, &res), TSB_ETOOBIG);
    assert_int_equal(res.fail, TSB_ERS_FAIL_LIMIT);
    /* truncated anywhere: format */
    for (size_t cut = 0; cut < er.len; cut += 97) {
        assert_int_equal(tsb_ers_record_decode(er.p, cut, NULL, &rec), TSB_EFORMAT);
        assert_non_null(strstr(tsb_err_detail(), "offset"));
    }
    assert_int_equal(tsb_ers_record_decode(er.p, er.len, NULL, &rec), 0);
    tsb_ers_record_free(rec);
    tsb_buf_cleanup(&er);
    free_bufs(ats, 1);
}

static void test_alg_names(void **state)
{
    (void)state;
    enum tsb_ers_alg a;
    assert_int_equal(tsb_ers_alg_parse("sha512", &a), 0);
    assert_int_equal(a, TSB_ERS_SHA512);
    assert_int_equal(tsb_ers_alg_parse("SHA-384", &a), 0);
    assert_int_equal(a, TSB_ERS_SHA384);
    assert_int_equal(tsb_ers_alg_parse("md5", &a), TSB_EALGORITHM);
    assert_non_null(strstr(tsb_err_detail(), "\"md5\" is not one of sha256, sha384, sha512"));
    assert_int_equal(tsb_ers_alg_len(TSB_ERS_SHA256), 32);
    assert_int_equal(tsb_ers_alg_len(TSB_ERS_SHA384), 48);
    assert_int_equal(tsb_ers_alg_len(TSB_ERS_SHA512), 64);
    assert_int_equal(tsb_ers_alg_len(TSB_ERS_ALG_NONE), 0);
    assert_string_equal(tsb_ers_alg_oid(TSB_ERS_SHA512), "2.16.840.1.101.3.4.2.3");
    assert_string_equal(tsb_ers_fail_name(TSB_ERS_FAIL_LATE), "late");
    assert_string_equal(tsb_ers_fail_name((enum tsb_ers_fail)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_tree_roots_and_paths),
        cmocka_unit_test(test_tree_hand_vectors),
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_reduced_refuses_wrong_group),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_any_changed_byte_fails),
        cmocka_unit_test(test_timestamp_renewal),
        cmocka_unit_test(test_rehash_chain),
        cmocka_unit_test(test_token_failures),
        cmocka_unit_test(test_openssl_ts_token),
        cmocka_unit_test(test_der_round_trip),
        cmocka_unit_test(test_decoder_refuses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
