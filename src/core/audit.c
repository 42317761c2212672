/*
 * audit: verdicts for auditors. Checks run in report order and each records pass, fail or
 * skipped with a sentence; token checks come from token.c untouched (one verifier in tsbag), run
 * in audit mode with the bag's bytes re-hashed here (never the archived digest). The cache holds
 * one bag (parsed, indexed by Ref, token verified): archived bags are immutable once stamped, and
 * a package's bags live as long as the package.
 */
#include "audit.h"

#include "bag.h"
#include "codec.h"
#include "err.h"
#include "timefmt.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ref_ix {
    int64_t ref;
    size_t i;
};

struct bag_cache {
    bool valid;
    struct tsb_audit_bag key; /* the bag these results are for (pointers compared, not owned) */
    uint8_t digest[TSB_SHA256_LEN];
    struct tsb_bag *bag; /* NULL if the bytes did not parse */
    char parse_error[TSB_TOKEN_MSG_MAX];
    struct ref_ix *ix; /* bag->n entries sorted by Ref */
    bool have_token;
    struct tsb_token_result tres;
    struct tsb_buf chain; /* verified chain, PEM */
    enum tsb_check_outcome chain_file;
    char chain_file_msg[TSB_TOKEN_MSG_MAX];
};

struct tsb_audit {
    struct tsb_token_verifier *tv;
    struct bag_cache c;
    bool have_rec; /* archive mode: rec is the cached bag */
    struct tsb_bag_rec rec;
    bool prev_absent; /* archive mode: rec's previous bag, for the link */
    uint8_t prev_digest[TSB_SHA256_LEN];
};

static const char *const check_ids[TSB_ACHK_N] = {
    "document_hash",           "stored_content",       "entry_in_bag",
    "token_structure",         "imprint_algorithm",    "imprint",
    "signer_certificate",      "cms_signature",        "certificate_chain",
    "ess_signing_certificate", "timestamping_usage",   "tsa_policy",
    "gen_time_clock",          "package_certificates",
};

const char *tsb_verdict_name(enum tsb_verdict v)
{
    switch (v) {
    case TSB_VERDICT_VALID:
        return "VALID";
    case TSB_VERDICT_INVALID:
        return "INVALID";
    case TSB_VERDICT_NOT_FOUND:
        return "NOT FOUND";
    case TSB_VERDICT_NOT_STAMPED:
        return "NOT YET STAMPED";
    }
    return "?";
}

const char *tsb_audit_check_name(int c)
{
    switch (c) {
    case TSB_ACHK_DOCUMENT:
        return "document hash";
    case TSB_ACHK_CONTENT:
        return "stored content";
    case TSB_ACHK_IN_BAG:
        return "entry in bag";
    case TSB_ACHK_CHAIN_FILE:
        return "package certificate file";
    default:
        if (c > TSB_ACHK_IN_BAG && c < TSB_ACHK_CHAIN_FILE)
            return tsb_token_check_name(c - TSB_ACHK_TOKEN);
        return "unknown check";
    }
}

const char *tsb_audit_check_id(int c)
{
    return c >= 0 && c < TSB_ACHK_N ? check_ids[c] : "unknown";
}

const char *tsb_audit_check_meaning(int c)
{
    switch (c) {
    case TSB_ACHK_DOCUMENT:
        return "The document you gave is not the one that was stamped: it differs by at least one "
               "byte (altered, re-saved or re-encoded), or it is a different document.";
    case TSB_ACHK_CONTENT:
        return "The copy of the prescription kept in the archive no longer matches its hash: the "
               "archive was altered or damaged.";
    case TSB_ACHK_IN_BAG:
        return "The stamped bag does not list this prescription under this Ref: the bag or the "
               "archive was altered or damaged.";
    case TSB_ACHK_TOKEN + TSB_TCHK_PARSE:
        return "The timestamp token is missing or damaged: there is no usable proof of time.";
    case TSB_ACHK_TOKEN + TSB_TCHK_IMPRINT_ALG:
    case TSB_ACHK_TOKEN + TSB_TCHK_IMPRINT:
        return "The bag was altered after it was stamped, or the token belongs to another bag.";
    case TSB_ACHK_TOKEN + TSB_TCHK_SIGNER:
        return "The token cannot be tied to a timestamp authority certificate: it is not "
               "evidence from the eHealth timestamp authority.";
    case TSB_ACHK_TOKEN + TSB_TCHK_SIGNATURE:
        return "The timestamp token was altered or forged after it was signed.";
    case TSB_ACHK_TOKEN + TSB_TCHK_CHAIN:
        return "The token was not issued by a timestamp authority you trust (not eHealth's, or "
               "the wrong trust anchor is configured), or the authority's certificate was "
               "expired or not yet valid when it stamped.";
    case TSB_ACHK_TOKEN + TSB_TCHK_ESS:
    case TSB_ACHK_TOKEN + TSB_TCHK_EKU:
        return "The certificate that signed the token is not a proper timestamping certificate: "
               "the token is not valid eHealth evidence.";
    case TSB_ACHK_TOKEN + TSB_TCHK_POLICY:
        return "The token was issued under a timestamping policy this installation does not "
               "accept (tsa.policy_oids): it is not from the expected eHealth service.";
    case TSB_ACHK_TOKEN + TSB_TCHK_GEN_TIME:
        return "The token's time is far from this computer's clock.";
    case TSB_ACHK_CHAIN_FILE:
        return "The certificate file in the evidence package was altered: it is not the chain "
               "the token verifies with.";
    }
    return "";
}

int tsb_audit_new(const char *anchors_pem, const char *tsa_certs, const char *policy_oids,
                  struct tsb_audit **out)
{
    struct tsb_audit *a = tsb_calloc(1, sizeof(*a));
    int r = tsb_token_verifier_from_files(anchors_pem, tsa_certs, policy_oids, &a->tv);
    if (r != 0) {
        free(a);
        return r;
    }
    tsb_buf_init(&a->c.chain, 1 << 20);
    *out = a;
    return 0;
}

static void cache_reset(struct tsb_audit *a)
{
    struct bag_cache *c = &a->c;
    tsb_bag_free(c->bag);
    free(c->ix);
    tsb_buf_reset(&c->chain);
    struct tsb_buf keep = c->chain;
    memset(c, 0, sizeof(*c));
    c->chain = keep;
    if (a->have_rec)
        tsb_bag_rec_cleanup(&a->rec);
    a->have_rec = false;
}

void tsb_audit_free(struct tsb_audit *a)
{
    if (a == NULL)
        return;
    cache_reset(a);
    tsb_buf_cleanup(&a->c.chain);
    tsb_token_verifier_free(a->tv);
    free(a);
}

const struct tsb_buf *tsb_audit_last_chain(const struct tsb_audit *a)
{
    return &a->c.chain;
}

__attribute__((format(printf, 4, 5))) static void
set(struct tsb_audit_result *res, int c, enum tsb_check_outcome o, const char *fmt, ...)
{
    res->outcome[c] = o;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message[c], TSB_TOKEN_MSG_MAX, fmt, ap);
    va_end(ap);
}

static int cmp_ix(const void *x, const void *y)
{
    const struct ref_ix *a = x, *b = y;
    return (a->ref > b->ref) - (a->ref < b->ref);
}

/* Next "-----BEGIN CERTIFICATE-----...-----END CERTIFICATE-----" block of p[0..n) at or after
 * *pos; returns false when there is none. */
static bool next_pem(const uint8_t *p, size_t n, size_t *pos, size_t *start, size_t *len)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    const char *s = (const char *)p;
    size_t i = *pos;
    for (; i + sizeof(begin) - 1 <= n; i++)
        if (memcmp(s + i, begin, sizeof(begin) - 1) == 0)
            break;
    if (i + sizeof(begin) - 1 > n)
        return false;
    for (size_t j = i; j + sizeof(end) - 1 <= n; j++)
        if (memcmp(s + j, end, sizeof(end) - 1) == 0) {
            *start = i;
            *len = j + sizeof(end) - 1 - i;
            *pos = i + *len;
            return true;
        }
    return false;
}

/* The certificate of the PEM block p[0..len), or NULL when it does not decode. */
static X509 *pem_cert(const uint8_t *p, size_t len)
{
    BIO *b = BIO_new_mem_buf(p, (int)len);
    X509 *c = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return c;
}

/* Whether two PEM blocks hold the same certificate: compared decoded (X509_cmp: the DER
 * encoding), so that line wrapping, line ends and trailing blanks of either rendering do not
 * matter. A block that does not decode equals nothing. */
static bool same_cert(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    X509 *x = pem_cert(a, alen), *y = pem_cert(b, blen);
    bool same = x != NULL && y != NULL && X509_cmp(x, y) == 0;
    X509_free(x);
    X509_free(y);
    return same;
}

/* The package's certificate file must hold the verified chain certificate by certificate (one may
 * stop earlier when the auditor's anchor is an intermediate) and nothing else. */
static void check_chain_file(struct bag_cache *c, const uint8_t *file, size_t flen)
{
    const struct tsb_buf *v = &c->chain;
    size_t fp = 0, vp = 0, fs = 0, fl = 0, vs = 0, vl = 0;
    int k = 0;
    bool fmore, vmore;
    if (v->len == 0) {
        c->chain_file = TSB_CHECK_SKIPPED;
        snprintf(c->chain_file_msg, sizeof(c->chain_file_msg),
                 "not checked: the token's certificate chain did not verify");
        return;
    }
    for (;;) {
        fmore = next_pem(file, flen, &fp, &fs, &fl);
        vmore = next_pem(v->p, v->len, &vp, &vs, &vl);
        if (!fmore || !vmore)
            break;
        k++;
        if (!same_cert(file + fs, fl, v->p + vs, vl)) {
            c->chain_file = TSB_CHECK_FAIL;
            snprintf(c->chain_file_msg, sizeof(c->chain_file_msg),
                     "certificate %d of the package's certificate file is not the certificate "
                     "the token verifies with: the file was altered",
                     k);
            return;
        }
    }
    if (k == 0 || (fmore && !vmore)) {
        c->chain_file = TSB_CHECK_FAIL;
        snprintf(c->chain_file_msg, sizeof(c->chain_file_msg),
                 k == 0 ? "the package's certificate file holds no readable certificate"
                        : "the package's certificate file holds certificates beyond the "
                          "verified chain");
        return;
    }
    c->chain_file = TSB_CHECK_PASS;
    snprintf(c->chain_file_msg, sizeof(c->chain_file_msg),
             "holds the verified chain (%d certificate%s)", k, k == 1 ? "" : "s");
}

static void prepare(struct tsb_audit *a, const struct tsb_audit_bag *b)
{
    struct bag_cache *c = &a->c;
    const struct tsb_audit_bag *k = &c->key;
    if (c->valid && k->seq == b->seq && k->bytes == b->bytes && k->bytes_len == b->bytes_len &&
        k->token == b->token && k->token_len == b->token_len && k->chain_file == b->chain_file &&
        k->chain_file_len == b->chain_file_len)
        return;
    /* keep an archive record that is the source of these bytes */
    bool keep_rec = a->have_rec && a->rec.bytes == b->bytes;
    struct tsb_bag_rec rec = a->rec;
    a->have_rec = false;
    cache_reset(a);
    if (keep_rec) {
        a->rec = rec;
        a->have_rec = true;
    }
    c->valid = true;
    c->key = *b;
    tsb_sha256(b->bytes, b->bytes_len, c->digest);
    if (tsb_bag_parse(b->bytes, b->bytes_len, NULL, &c->bag) != 0) {
        snprintf(c->parse_error, sizeof(c->parse_error), "%s", tsb_err_detail());
        c->bag = NULL;
    } else {
        c->ix = tsb_calloc(c->bag->n ? c->bag->n : 1, sizeof(*c->ix));
        for (size_t i = 0; i < c->bag->n; i++)
            c->ix[i] = (struct ref_ix){c->bag->entries[i].ref, i};
        qsort(c->ix, c->bag->n, sizeof(*c->ix), cmp_ix);
    }
    if (b->token != NULL && b->token_len > 0) {
        struct tsb_token_verify_opts o = {.check_skew = false,
                                          .data = b->bytes,
                                          .data_len = b->bytes_len,
                                          .extra_pem = b->chain_file,
                                          .extra_pem_len = b->chain_file_len,
                                          .chain_pem = &c->chain};
        c->have_token = true;
        tsb_token_verify(a->tv, b->token, b->token_len, c->digest, &o, &c->tres);
        tsb_err_clear();
    }
    if (b->chain_file != NULL)
        check_chain_file(c, b->chain_file, b->chain_file_len);
}

static void decide(struct tsb_audit_result *res)
{
    res->failed = -1;
    for (int i = 0; i < TSB_ACHK_N; i++)
        if (res->outcome[i] == TSB_CHECK_FAIL) {
            res->failed = i;
            res->verdict = TSB_VERDICT_INVALID;
            return;
        }
}

static void start(struct tsb_audit_result *res, const uint8_t digest[TSB_SHA256_LEN], int64_t ref,
                  const uint8_t *doc_digest)
{
    memset(res, 0, sizeof(*res));
    res->failed = -1;
    res->link = TSB_AUDIT_LINK_UNKNOWN;
    res->have_entry = true;
    memcpy(res->digest, digest, TSB_SHA256_LEN);
    res->ref = ref;
    if (doc_digest != NULL) {
        char d[TSB_HASH_STR_MAX], e[TSB_HASH_STR_MAX];
        tsb_hex_encode(doc_digest, TSB_SHA256_LEN, d);
        tsb_hex_encode(digest, TSB_SHA256_LEN, e);
        if (memcmp(doc_digest, digest, TSB_SHA256_LEN) == 0)
            set(res, TSB_ACHK_DOCUMENT, TSB_CHECK_PASS,
                "SHA-256 of the document equals the entry's hash");
        else
            set(res, TSB_ACHK_DOCUMENT, TSB_CHECK_FAIL,
                "SHA-256 of the document is %s, not the stamped hash %s", d, e);
    }
}

/* The bag's link to the previous SequenceNumber's bag, in words. */
static void link_of(const struct tsb_bag *bag, const struct tsb_audit_bag *b,
                    struct tsb_audit_result *res)
{
    char hex[TSB_HASH_STR_MAX];
    long long s = (long long)b->seq;
    tsb_hex_encode(bag->prev, TSB_SHA256_LEN, hex);
    if (b->prev_digest == NULL && !b->prev_absent) {
        res->link = TSB_AUDIT_LINK_UNKNOWN;
        if (bag->linked)
            snprintf(res->link_msg, sizeof(res->link_msg),
                     "chained to a bag %lld of SHA-256 %s, which is not at hand to compare", s - 1,
                     hex);
        else
            snprintf(res->link_msg, sizeof(res->link_msg), "carries no link to a bag before it");
        return;
    }
    enum tsb_link l = tsb_link_judge(bag, b->prev_digest, b->prev_absent);
    res->link = (int)l;
    switch (l) {
    case TSB_LINK_OK:
        snprintf(res->link_msg, sizeof(res->link_msg),
                 "linked: its first JournalEntry (Ref 0) is the SHA-256 of bag %lld's bytes, %s",
                 s - 1, hex);
        break;
    case TSB_LINK_GENESIS:
        if (s > 1)
            snprintf(res->link_msg, sizeof(res->link_msg),
                     "genesis: no bag %lld in the archive and no link (the chain starts here)",
                     s - 1);
        else
            snprintf(res->link_msg, sizeof(res->link_msg),
                     "genesis: the first bag, without a link (the chain starts here)");
        break;
    case TSB_LINK_NONE:
        snprintf(res->link_msg, sizeof(res->link_msg),
                 "unchained: no link to bag %lld (sealed with sealer.chain off)", s - 1);
        break;
    default: {
        char why[TSB_TOKEN_MSG_MAX - 16];
        tsb_link_describe(l, b->seq, bag, b->prev_digest, why, sizeof(why));
        snprintf(res->link_msg, sizeof(res->link_msg), "BROKEN: %s", why);
    }
    }
}

static void bag_checks(struct tsb_audit *a, const struct tsb_audit_bag *b,
                       struct tsb_audit_result *res)
{
    prepare(a, b);
    struct bag_cache *c = &a->c;
    char h[TSB_HASH_STR_MAX];
    res->bag_seq = b->seq;
    res->have_bag = true;
    memcpy(res->bag_digest, c->digest, TSB_SHA256_LEN);
    tsb_hex_encode(res->digest, TSB_SHA256_LEN, h);

    if (c->bag == NULL) {
        set(res, TSB_ACHK_IN_BAG, TSB_CHECK_FAIL,
            "bag %lld's bytes are not a readable TimeStampBag (%s)", (long long)b->seq,
            c->parse_error);
    } else if (c->bag->seq != b->seq) {
        set(res, TSB_ACHK_IN_BAG, TSB_CHECK_FAIL,
            "the bag's bytes say SequenceNumber %lld but it is filed as bag %lld",
            (long long)c->bag->seq, (long long)b->seq);
    } else {
        struct ref_ix key = {res->ref, 0};
        const struct ref_ix *hit = bsearch(&key, c->ix, c->bag->n, sizeof(*c->ix), cmp_ix);
        if (hit == NULL) {
            set(res, TSB_ACHK_IN_BAG, TSB_CHECK_FAIL, "bag %lld does not list Ref %lld",
                (long long)b->seq, (long long)res->ref);
        } else if (memcmp(c->bag->entries[hit->i].digest, res->digest, TSB_SHA256_LEN) != 0) {
            char got[TSB_HASH_STR_MAX];
            tsb_hex_encode(c->bag->entries[hit->i].digest, TSB_SHA256_LEN, got);
            set(res, TSB_ACHK_IN_BAG, TSB_CHECK_FAIL,
                "bag %lld lists Ref %lld with hash %s, not %s", (long long)b->seq,
                (long long)res->ref, got, h);
        } else {
            set(res, TSB_ACHK_IN_BAG, TSB_CHECK_PASS,
                "bag %lld's exact bytes list this hash with Ref %lld", (long long)b->seq,
                (long long)res->ref);
        }
    }
    if (c->bag != NULL)
        link_of(c->bag, b, res);

    if (!c->have_token) {
        set(res, TSB_ACHK_TOKEN + TSB_TCHK_PARSE, TSB_CHECK_FAIL,
            "no timestamp token is kept for bag %lld", (long long)b->seq);
        for (int i = TSB_TCHK_PARSE + 1; i < TSB_TCHK_GEN_TIME; i++)
            set(res, TSB_ACHK_TOKEN + i, TSB_CHECK_SKIPPED, "not checked: no token");
    } else {
        for (int i = 0; i < TSB_TCHK_N; i++) {
            if (i == TSB_TCHK_GEN_TIME && c->tres.outcome[i] == TSB_CHECK_SKIPPED)
                continue; /* audit mode: a stamp is not compared with today's clock */
            res->outcome[TSB_ACHK_TOKEN + i] = c->tres.outcome[i];
            memcpy(res->message[TSB_ACHK_TOKEN + i], c->tres.message[i], TSB_TOKEN_MSG_MAX);
        }
        snprintf(res->tsa_serial, sizeof(res->tsa_serial), "%s", c->tres.serial);
        res->gen_time_ms = c->tres.gen_time_ms;
        snprintf(res->tsa_subject, sizeof(res->tsa_subject), "%s", c->tres.tsa_subject);
        res->tsa_not_after_ms = c->tres.signer_not_after_ms;
        snprintf(res->tsa_policy, sizeof(res->tsa_policy), "%s", c->tres.policy);
        snprintf(res->imprint_alg, sizeof(res->imprint_alg), "%s", c->tres.imprint_alg);
        res->pss_rsa_key = c->tres.pss_rsa_key;
    }
    if (b->chain_file != NULL) {
        res->outcome[TSB_ACHK_CHAIN_FILE] = c->chain_file;
        memcpy(res->message[TSB_ACHK_CHAIN_FILE], c->chain_file_msg, TSB_TOKEN_MSG_MAX);
    }
}

int tsb_audit_bag_entry(struct tsb_audit *a, const struct tsb_audit_bag *b,
                        const uint8_t digest[TSB_SHA256_LEN], int64_t ref,
                        const uint8_t *doc_digest, struct tsb_audit_result *res)
{
    start(res, digest, ref, doc_digest);
    bag_checks(a, b, res);
    res->verdict = TSB_VERDICT_VALID;
    decide(res);
    return 0;
}

void tsb_audit_not_found(struct tsb_audit_result *res, const char *note)
{
    memset(res, 0, sizeof(*res));
    res->failed = -1;
    res->link = TSB_AUDIT_LINK_UNKNOWN;
    res->verdict = TSB_VERDICT_NOT_FOUND;
    snprintf(res->note, sizeof(res->note), "%s", note);
}

/* Archive mode: the SHA-256 of the bytes of bag seq - 1 (re-hashed, not the stored digest: the
 * link names bytes), or prev_absent. */
static int prev_of(struct tsb_audit *a, struct tsb_store *s, int64_t seq)
{
    struct tsb_bag_rec p;
    int r = seq > 1 ? tsb_store_bag_get(s, seq - 1, &p) : TSB_ENOTFOUND;
    a->prev_absent = r == TSB_ENOTFOUND;
    if (r == TSB_ENOTFOUND) {
        tsb_err_clear();
        return 0;
    }
    if (r != 0)
        return r;
    tsb_sha256(p.bytes, p.bytes_len, a->prev_digest);
    tsb_bag_rec_cleanup(&p);
    return 0;
}

int tsb_audit_archive_entry(struct tsb_audit *a, struct tsb_store *s, const struct tsb_entry_rec *e,
                            const uint8_t *doc_digest, struct tsb_audit_result *res)
{
    int r = TSB_EINTERNAL;
    char when[TSB_TIME_STR_MAX];

    start(res, e->digest, e->ref, doc_digest);
    if (e->content != NULL) {
        uint8_t d[TSB_SHA256_LEN];
        tsb_sha256(e->content, e->content_len, d);
        if (memcmp(d, e->digest, TSB_SHA256_LEN) == 0)
            set(res, TSB_ACHK_CONTENT, TSB_CHECK_PASS,
                "the stored copy (%zu bytes) re-hashes to the entry's hash", e->content_len);
        else
            set(res, TSB_ACHK_CONTENT, TSB_CHECK_FAIL,
                "the stored copy (%zu bytes) no longer hashes to the entry's hash", e->content_len);
    } else {
        set(res, TSB_ACHK_CONTENT, TSB_CHECK_SKIPPED,
            "no copy of the document is stored (store.store_content is off)");
    }
    res->verdict = TSB_VERDICT_VALID;
    if (e->bag_seq <= 0) {
        tsb_time_utc(e->received_ms, when);
        snprintf(res->note, sizeof(res->note),
                 "received %s and not yet sealed into a bag; tsbagd seals and stamps every "
                 "sealer.interval_s: check again later",
                 when);
        res->verdict = TSB_VERDICT_NOT_STAMPED;
        goto done;
    }
    if (!a->have_rec || a->rec.seq != e->bag_seq) {
        struct tsb_bag_rec rec;
        if ((r = tsb_store_bag_get(s, e->bag_seq, &rec)) != 0)
            return r;
        cache_reset(a);
        a->rec = rec;
        a->have_rec = true;
        if ((r = prev_of(a, s, rec.seq)) != 0)
            return r;
    }
    const struct tsb_bag_rec *b = &a->rec;
    res->bag_seq = b->seq;
    if (b->state != TSB_BAG_STAMPED && b->state != TSB_BAG_RECOVERED) {
        snprintf(res->note, sizeof(res->note),
                 "in bag %lld, which is %s (%lld attempt%s%s%s) and not yet stamped by the TSA: "
                 "check again later, or ask the operator (tsbag status)",
                 (long long)b->seq, tsb_bag_state_name(b->state), (long long)b->attempts,
                 b->attempts == 1 ? "" : "s", b->last_error ? ", last error: " : "",
                 b->last_error ? b->last_error : "");
        res->verdict = TSB_VERDICT_NOT_STAMPED;
        goto done;
    }
    struct tsb_audit_bag ab = {.seq = b->seq,
                               .bytes = b->bytes,
                               .bytes_len = b->bytes_len,
                               .token = b->token,
                               .token_len = b->token_len,
                               .prev_digest = a->prev_absent ? NULL : a->prev_digest,
                               .prev_absent = a->prev_absent};
    bag_checks(a, &ab, res);
done:
    decide(res);
    return 0;
}
