/*
 * ers: RFC 4998 evidence records (see ers.h for the contract, docs/internals/ERS.md for the bytes).
 * Hand-written DER: the structures are a handful of SEQUENCEs, OCTET STRINGs and context tags, and
 * a strict reader of our own (definite, minimal lengths, low tag numbers only) is what lets every
 * failure name its byte offset. Digests are OpenSSL EVP; tokens are verified by token.c.
 */
#include "ers.h"

#include "err.h"
#include "mem.h"
#include "token.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- algorithms ---- */

struct alg_info {
    enum tsb_ers_alg alg;
    const char *name, *spelled, *oid;
    size_t len;
    const uint8_t *oid_der; /* contents octets of the OBJECT IDENTIFIER */
    size_t oid_der_len;
    const EVP_MD *(*md)(void);
};

static const uint8_t oid_sha256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
static const uint8_t oid_sha384[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};
static const uint8_t oid_sha512[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03};

static const struct alg_info algs[] = {
    {TSB_ERS_SHA256, "sha256", "SHA-256", "2.16.840.1.101.3.4.2.1", 32, oid_sha256,
     sizeof(oid_sha256), EVP_sha256},
    {TSB_ERS_SHA384, "sha384", "SHA-384", "2.16.840.1.101.3.4.2.2", 48, oid_sha384,
     sizeof(oid_sha384), EVP_sha384},
    {TSB_ERS_SHA512, "sha512", "SHA-512", "2.16.840.1.101.3.4.2.3", 64, oid_sha512,
     sizeof(oid_sha512), EVP_sha512},
};
#define N_ALGS (sizeof(algs) / sizeof(algs[0]))

static const struct alg_info *alg_get(enum tsb_ers_alg a)
{
    for (size_t i = 0; i < N_ALGS; i++)
        if (algs[i].alg == a)
            return &algs[i];
    return NULL;
}

static const struct alg_info *alg_by_oid(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < N_ALGS; i++)
        if (algs[i].oid_der_len == len && memcmp(algs[i].oid_der, p, len) == 0)
            return &algs[i];
    return NULL;
}

size_t tsb_ers_alg_len(enum tsb_ers_alg alg)
{
    const struct alg_info *a = alg_get(alg);
    return a ? a->len : 0;
}

const char *tsb_ers_alg_name(enum tsb_ers_alg alg)
{
    const struct alg_info *a = alg_get(alg);
    return a ? a->name : "none";
}

const char *tsb_ers_alg_oid(enum tsb_ers_alg alg)
{
    const struct alg_info *a = alg_get(alg);
    return a ? a->oid : "";
}

int tsb_ers_alg_parse(const char *s, enum tsb_ers_alg *out)
{
    for (size_t i = 0; s != NULL && i < N_ALGS; i++)
        if (strcmp(s, algs[i].name) == 0 || strcmp(s, algs[i].spelled) == 0) {
            *out = algs[i].alg;
            return 0;
        }
    return tsb_err(TSB_EALGORITHM,
                   "hash algorithm \"%s\" is not one of sha256, sha384, sha512: name one of them",
                   s ? s : "");
}

/* Names an algorithm as token.c's imprint_alg does ("SHA-256"), for comparisons with a token. */
static const char *alg_spelled(enum tsb_ers_alg alg)
{
    const struct alg_info *a = alg_get(alg);
    return a ? a->spelled : "none";
}

/* H(concatenation of the n parts) into out. */
static int digest_parts(const struct alg_info *a, const uint8_t *const *part, const size_t *plen,
                        size_t n, uint8_t *out)
{
    int r = TSB_ECRYPTO;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL || EVP_DigestInit_ex(c, a->md(), NULL) != 1)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (plen[i] != 0 && EVP_DigestUpdate(c, part[i], plen[i]) != 1)
            goto out;
    if (EVP_DigestFinal_ex(c, out, NULL) != 1)
        goto out;
    r = 0;
out:
    EVP_MD_CTX_free(c);
    if (r != 0)
        return tsb_err(r, "%s digest failed in OpenSSL", a->spelled);
    return 0;
}

int tsb_ers_digest(enum tsb_ers_alg alg, const uint8_t *p, size_t len, uint8_t *out)
{
    const struct alg_info *a = alg_get(alg);
    if (a == NULL)
        return tsb_err(TSB_EALGORITHM, "hash algorithm %d is not sha256, sha384 or sha512", alg);
    return digest_parts(a, &p, &len, 1, out);
}

/* ---- sorted concatenation (§4.2 step 4, §4.3 step 3) ---- */

/* Sorts the n hashes v[i] (len bytes each) in binary ascending order, in place. n is small (a
 * pair, a group) everywhere but in a hostile record's list, which the decoder caps at max_hashes,
 * so an insertion sort (no shared state, unlike a qsort comparator needing the length) will do. */
static void sort_hashes(const uint8_t **v, size_t n, size_t len)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && memcmp(v[j - 1], v[j], len) > 0; j--) {
            const uint8_t *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

/* H(binary ascending concatenation of the n hashes v[i], each a->len bytes); sorts v. */
static int hash_sorted(const struct alg_info *a, const uint8_t **v, size_t n, uint8_t *out)
{
    size_t stack_len[8] = {0}, *lens = n <= 8 ? stack_len : tsb_calloc(n, sizeof(*lens));
    sort_hashes(v, n, a->len);
    for (size_t i = 0; i < n; i++)
        lens[i] = a->len;
    int r = digest_parts(a, v, lens, n, out);
    if (lens != stack_len)
        free(lens);
    return r;
}

/* ---- data objects and groups ---- */

int tsb_ers_hash_objects(enum tsb_ers_alg alg, const struct tsb_slice *objs, size_t n, uint8_t *out)
{
    const struct alg_info *a = alg_get(alg);
    if (a == NULL)
        return tsb_err(TSB_EALGORITHM, "hash algorithm %d is not sha256, sha384 or sha512", alg);
    for (size_t i = 0; i < n; i++) {
        int r = digest_parts(a, &objs[i].p, &objs[i].len, 1, out + i * a->len);
        if (r != 0)
            return r;
    }
    return 0;
}

int tsb_ers_group_leaf(enum tsb_ers_alg alg, const uint8_t *member_hashes, size_t n, uint8_t *leaf)
{
    const struct alg_info *a = alg_get(alg);
    if (a == NULL)
        return tsb_err(TSB_EALGORITHM, "hash algorithm %d is not sha256, sha384 or sha512", alg);
    if (n == 0)
        return tsb_err(TSB_EINVAL, "a data object group needs at least one member");
    if (n == 1) {
        memmove(leaf, member_hashes, a->len);
        return 0;
    }
    const uint8_t *stack_v[8], **v = n <= 8 ? stack_v : tsb_calloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = member_hashes + i * a->len;
    int r = hash_sorted(a, v, n, leaf);
    if (v != stack_v)
        free(v);
    return r;
}

/* ---- hash trees ---- */

#define MAX_LEVELS 64

struct tsb_ers_tree {
    const struct alg_info *a;
    size_t n_levels;
    size_t count[MAX_LEVELS];  /* nodes on each level; the last level has 1 */
    size_t offset[MAX_LEVELS]; /* first node of each level in nodes, in nodes */
    uint8_t *nodes;            /* every level, leaves first, a->len bytes per node */
};

static const uint8_t *node(const struct tsb_ers_tree *t, size_t level, size_t j)
{
    return t->nodes + (t->offset[level] + j) * t->a->len;
}

int tsb_ers_tree_new(enum tsb_ers_alg alg, const uint8_t *leaves, size_t n,
                     struct tsb_ers_tree **out)
{
    const struct alg_info *a = alg_get(alg);
    if (a == NULL)
        return tsb_err(TSB_EALGORITHM, "hash algorithm %d is not sha256, sha384 or sha512", alg);
    if (n == 0)
        return tsb_err(TSB_EINVAL, "a hash tree needs at least one leaf");
    if (n > TSB_ERS_TREE_MAX_LEAVES)
        return tsb_err(TSB_ETOOBIG, "a hash tree of %zu leaves is over the cap of %u: split it", n,
                       TSB_ERS_TREE_MAX_LEAVES);
    struct tsb_ers_tree *t = tsb_calloc(1, sizeof(*t));
    t->a = a;
    size_t total = 0;
    for (size_t m = n;; m = (m + 1) / 2) {
        t->offset[t->n_levels] = total;
        t->count[t->n_levels++] = m;
        total += m;
        if (m == 1)
            break;
    }
    t->nodes = tsb_malloc(total * a->len);
    memcpy(t->nodes, leaves, n * a->len);
    int r = 0;
    for (size_t l = 0; l + 1 < t->n_levels && r == 0; l++) {
        size_t m = t->count[l];
        for (size_t j = 0; j + 1 < m && r == 0; j += 2) {
            const uint8_t *pair[2] = {node(t, l, j), node(t, l, j + 1)};
            r = hash_sorted(a, pair, 2, t->nodes + (t->offset[l + 1] + j / 2) * a->len);
        }
        if (m % 2 == 1) /* the odd last node is carried up unchanged */
            memcpy(t->nodes + (t->offset[l + 1] + m / 2) * a->len, node(t, l, m - 1), a->len);
    }
    if (r != 0) {
        tsb_ers_tree_free(t);
        return r;
    }
    *out = t;
    return 0;
}

void tsb_ers_tree_free(struct tsb_ers_tree *t)
{
    if (t == NULL)
        return;
    free(t->nodes);
    free(t);
}

size_t tsb_ers_tree_leaves(const struct tsb_ers_tree *t)
{
    return t->count[0];
}

enum tsb_ers_alg tsb_ers_tree_alg(const struct tsb_ers_tree *t)
{
    return t->a->alg;
}

const uint8_t *tsb_ers_tree_root(const struct tsb_ers_tree *t)
{
    return node(t, t->n_levels - 1, 0);
}

/* ---- DER writing ---- */

#define TAG_INTEGER     0x02
#define TAG_OCTETSTRING 0x04
#define TAG_NULL        0x05
#define TAG_OID         0x06
#define TAG_SEQUENCE    0x30
#define TAG_CTX0        0xa0 /* [0] constructed */
#define TAG_CTX1        0xa1
#define TAG_CTX2        0xa2

static int put_hdr(struct tsb_buf *b, uint8_t tag, size_t len)
{
    uint8_t h[10];
    size_t n = 0;
    h[n++] = tag;
    if (len < 0x80) {
        h[n++] = (uint8_t)len;
    } else {
        size_t bytes = 0;
        for (size_t v = len; v != 0; v >>= 8)
            bytes++;
        h[n++] = (uint8_t)(0x80 | bytes);
        for (size_t i = bytes; i > 0; i--)
            h[n++] = (uint8_t)(len >> (8 * (i - 1)));
    }
    return tsb_buf_append(b, h, n);
}

static int put_tlv(struct tsb_buf *b, uint8_t tag, const void *p, size_t len)
{
    int r = put_hdr(b, tag, len);
    return r != 0 ? r : tsb_buf_append(b, p, len);
}

/* Appends content (whatever it holds) wrapped as tag, for writers that build content first. */
static int put_wrapped(struct tsb_buf *out, uint8_t tag, const struct tsb_buf *content)
{
    return put_tlv(out, tag, content->p, content->len);
}

/* AlgorithmIdentifier contents: the OID, parameters absent (RFC 5754 §2 for SHA-2). */
static int put_alg_content(struct tsb_buf *b, const struct alg_info *a)
{
    return put_tlv(b, TAG_OID, a->oid_der, a->oid_der_len);
}

/* Scratch buffers for nested encodings: as big as an evidence record may be. */
#define ENC_MAX ((size_t)64 << 20)

/* ---- DER reading ---- */

/* A strict reader: low tag numbers only, definite minimal lengths, contents within the input.
 * base is the start of the whole input so offsets name bytes of what the caller holds. */
struct rd {
    const uint8_t *base;
    const uint8_t *p, *end;
};

struct tlv {
    uint8_t tag;
    const uint8_t *start; /* the tag byte */
    const uint8_t *c;     /* contents */
    size_t len;           /* contents length */
    size_t total;         /* header + contents */
};

static size_t off(const struct rd *r, const uint8_t *p)
{
    return (size_t)(p - r->base);
}

static int rd_next(struct rd *r, const char *what, struct tlv *t)
{
    memset(t, 0, sizeof(*t)); /* set on every path: tsb_err's code is not known to be nonzero */
    const uint8_t *p = r->p;
    size_t avail = (size_t)(r->end - p);
    if (avail < 2)
        return tsb_err(TSB_EFORMAT, "%s: %s at byte offset %zu", what,
                       avail == 0 ? "missing" : "truncated header", off(r, p));
    if ((p[0] & 0x1f) == 0x1f)
        return tsb_err(TSB_EFORMAT, "%s: high tag number form at byte offset %zu", what, off(r, p));
    size_t hl = 2, len = p[1];
    if (len == 0x80)
        return tsb_err(TSB_EFORMAT, "%s: indefinite length (not DER) at byte offset %zu", what,
                       off(r, p));
    if (len > 0x80) {
        size_t k = len & 0x7f;
        if (k > sizeof(size_t) || k > avail - 2)
            return tsb_err(TSB_EFORMAT, "%s: length of %zu bytes at byte offset %zu", what, k,
                           off(r, p));
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = (len << 8) | p[2 + i];
        if (p[2] == 0 || len < 0x80)
            return tsb_err(TSB_EFORMAT,
                           "%s: length not in minimal form (not DER) at byte offset %zu", what,
                           off(r, p));
        hl += k;
    }
    if (len > avail - hl)
        return tsb_err(TSB_EFORMAT, "%s: %zu content bytes announced at byte offset %zu, %zu left",
                       what, len, off(r, p), avail - hl);
    t->tag = p[0];
    t->start = p;
    t->c = p + hl;
    t->len = len;
    t->total = hl + len;
    r->p = p + hl + len;
    return 0;
}

static int rd_expect(struct rd *r, uint8_t tag, const char *what, struct tlv *t)
{
    const uint8_t *at = r->p;
    int rc = rd_next(r, what, t);
    if (rc != 0)
        return rc;
    if (t->tag != tag)
        return tsb_err(TSB_EFORMAT, "%s: tag 0x%02x where 0x%02x belongs, at byte offset %zu", what,
                       t->tag, tag, off(r, at));
    return 0;
}

static bool rd_peek(const struct rd *r, uint8_t tag)
{
    return r->p < r->end && r->p[0] == tag;
}

/* Reads the next element if it has tag (an OPTIONAL field): *present tells. */
static int rd_optional(struct rd *r, uint8_t tag, const char *what, struct tlv *t, bool *present)
{
    *present = rd_peek(r, tag);
    return *present ? rd_next(r, what, t) : 0;
}

/* A reader over the contents of t. */
static struct rd rd_in(const struct rd *outer, const struct tlv *t)
{
    return (struct rd){outer->base, t->c, t->c + t->len};
}

static int rd_done(const struct rd *r, const char *what)
{
    if (r->p != r->end)
        return tsb_err(TSB_EFORMAT, "%s: %zu unexpected bytes at byte offset %zu", what,
                       (size_t)(r->end - r->p), off(r, r->p));
    return 0;
}

/* AlgorithmIdentifier contents: OID, then absent or NULL parameters. */
static int rd_alg(struct rd *r, const char *what, enum tsb_ers_alg *alg, char *oid_txt,
                  size_t oid_size)
{
    struct tlv o;
    int rc = rd_expect(r, TAG_OID, what, &o);
    if (rc != 0)
        return rc;
    if (o.len == 0 || (o.c[o.len - 1] & 0x80) != 0)
        return tsb_err(TSB_EFORMAT, "%s: malformed OBJECT IDENTIFIER at byte offset %zu", what,
                       off(r, o.start));
    const struct alg_info *a = alg_by_oid(o.c, o.len);
    *alg = a ? a->alg : TSB_ERS_ALG_NONE;
    if (oid_txt != NULL) {
        if (a != NULL) {
            snprintf(oid_txt, oid_size, "%s", a->oid);
        } else {
            /* dotted text of an OID not ours, for the message naming it */
            size_t n = 0;
            uint64_t v = 0;
            oid_txt[0] = '\0';
            for (size_t i = 0; i < o.len && n + 24 < oid_size; i++) {
                v = (v << 7) | (o.c[i] & 0x7f);
                if (o.c[i] & 0x80)
                    continue;
                if (n == 0) {
                    unsigned first = v < 80 ? (unsigned)(v / 40) : 2;
                    n += (size_t)snprintf(oid_txt + n, oid_size - n, "%u.%" PRIu64, first,
                                          v - 40u * first);
                } else {
                    n += (size_t)snprintf(oid_txt + n, oid_size - n, ".%" PRIu64, v);
                }
                v = 0;
            }
        }
    }
    if (r->p < r->end) {
        struct tlv prm;
        if ((rc = rd_expect(r, TAG_NULL, what, &prm)) != 0)
            return rc;
        if (prm.len != 0)
            return tsb_err(TSB_EFORMAT, "%s: NULL parameters with contents at byte offset %zu",
                           what, off(r, prm.start));
    }
    return rd_done(r, what);
}

/* ---- decoding ---- */

static const struct tsb_ers_limits default_limits = {
    .max_der = (size_t)8 << 20,
    .max_chains = 64,
    .max_ats = 1024,
    .max_lists = 64,
    .max_hashes = 256,
    .max_total_ats = 4096,
    .max_total_hashes = 262144,
};

static struct tsb_ers_limits limits_of(const struct tsb_ers_limits *l)
{
    struct tsb_ers_limits x = default_limits;
    if (l == NULL)
        return x;
#define TAKE(f)                                                                                    \
    if (l->f != 0)                                                                                 \
    x.f = l->f
    TAKE(max_der);
    TAKE(max_chains);
    TAKE(max_ats);
    TAKE(max_lists);
    TAKE(max_hashes);
    TAKE(max_total_ats);
    TAKE(max_total_hashes);
#undef TAKE
    return x;
}

/* What a whole-record decode has used so far, against the limits. */
struct budget {
    struct tsb_ers_limits lim;
    size_t ats, hashes;
};

/* Counts the elements of a SEQUENCE OF (contents in r) without descending. */
static int count_elems(struct rd r, const char *what, size_t *n)
{
    size_t k = 0;
    struct tlv t;
    while (r.p < r.end) {
        int rc = rd_next(&r, what, &t);
        if (rc != 0)
            return rc;
        k++;
    }
    *n = k;
    return 0;
}

static void ats_cleanup(struct tsb_ers_ats *a)
{
    for (size_t i = 0; a->list != NULL && i < a->n_lists; i++)
        free((void *)a->list[i].hash);
    free(a->list);
    a->list = NULL;
    a->n_lists = 0;
}

/* The reducedHashtree's contents (a sequence of PartialHashtree) into a->list. */
static int decode_rht(struct rd r, struct budget *b, struct tsb_ers_ats *a)
{
    size_t n;
    int rc = count_elems(r, "reducedHashtree", &n);
    if (rc != 0)
        return rc;
    if (n > b->lim.max_lists)
        return tsb_err(
            TSB_ETOOBIG,
            "reducedHashtree at byte offset %zu: %zu partial hash trees, over the limit of %zu",
            off(&r, r.p), n, b->lim.max_lists);
    a->list = tsb_calloc(n ? n : 1, sizeof(*a->list));
    a->n_lists = n;
    for (size_t i = 0; i < n; i++) {
        struct tlv ph;
        if ((rc = rd_expect(&r, TAG_SEQUENCE, "PartialHashtree", &ph)) != 0)
            return rc;
        struct rd in = rd_in(&r, &ph);
        size_t m;
        if ((rc = count_elems(in, "PartialHashtree", &m)) != 0)
            return rc;
        if (m == 0)
            return tsb_err(TSB_EFORMAT, "PartialHashtree at byte offset %zu is empty",
                           off(&r, ph.start));
        if (m > b->lim.max_hashes)
            return tsb_err(
                TSB_ETOOBIG,
                "PartialHashtree at byte offset %zu: %zu hash values, over the limit of %zu",
                off(&r, ph.start), m, b->lim.max_hashes);
        if (m > b->lim.max_total_hashes - b->hashes)
            return tsb_err(
                TSB_ETOOBIG,
                "PartialHashtree at byte offset %zu: the record holds more than %zu hash values",
                off(&r, ph.start), b->lim.max_total_hashes);
        b->hashes += m;
        struct tsb_slice *h = tsb_calloc(m, sizeof(*h));
        a->list[i].hash = h;
        a->list[i].n = m;
        for (size_t j = 0; j < m; j++) {
            struct tlv o;
            if ((rc = rd_expect(&in, TAG_OCTETSTRING, "hash value", &o)) != 0)
                return rc;
            if (o.len == 0 || o.len > TSB_ERS_HASH_MAX)
                return tsb_err(TSB_EFORMAT,
                               "hash value at byte offset %zu is %zu bytes long, not a digest",
                               off(&r, o.start), o.len);
            h[j] = (struct tsb_slice){o.c, o.len};
        }
    }
    return 0;
}

/* One ArchiveTimeStamp element (tag read by the caller: t) into a. */
static int decode_ats(const struct rd *outer, const struct tlv *t, struct budget *b,
                      struct tsb_ers_ats *a)
{
    memset(a, 0, sizeof(*a));
    a->der = (struct tsb_slice){t->start, t->total};
    a->offset = off(outer, t->start);
    struct rd r = rd_in(outer, t);
    struct tlv f;
    int rc;
    bool has;
    if ((rc = rd_optional(&r, TAG_CTX0, "ArchiveTimeStamp.digestAlgorithm", &f, &has)) != 0)
        return rc;
    if (has) {
        struct rd in = rd_in(&r, &f);
        if ((rc = rd_alg(&in, "ArchiveTimeStamp.digestAlgorithm", &a->alg, a->alg_oid,
                         sizeof(a->alg_oid))) != 0)
            return rc;
    }
    if ((rc = rd_optional(&r, TAG_CTX1, "ArchiveTimeStamp.attributes", &f, &a->has_attributes)) !=
            0 ||
        (rc = rd_optional(&r, TAG_CTX2, "ArchiveTimeStamp.reducedHashtree", &f, &has)) != 0)
        return rc;
    if (has && (rc = decode_rht(rd_in(&r, &f), b, a)) != 0)
        return rc;
    if ((rc = rd_expect(&r, TAG_SEQUENCE, "ArchiveTimeStamp.timeStamp", &f)) != 0)
        return rc;
    a->token = (struct tsb_slice){f.start, f.total};
    return rd_done(&r, "ArchiveTimeStamp");
}

int tsb_ers_ats_decode(const uint8_t *der, size_t len, const struct tsb_ers_limits *lim,
                       struct tsb_ers_ats *out)
{
    struct budget b = {limits_of(lim), 0, 0};
    memset(out, 0, sizeof(*out));
    if (len > b.lim.max_der)
        return tsb_err(TSB_ETOOBIG, "an ArchiveTimeStamp of %zu bytes is over the limit of %zu",
                       len, b.lim.max_der);
    struct rd r = {der, der, der + len};
    struct tlv t;
    int rc = rd_expect(&r, TAG_SEQUENCE, "ArchiveTimeStamp", &t);
    if (rc == 0)
        rc = rd_done(&r, "ArchiveTimeStamp");
    if (rc == 0)
        rc = decode_ats(&r, &t, &b, out);
    if (rc != 0)
        ats_cleanup(out);
    return rc;
}

void tsb_ers_ats_cleanup(struct tsb_ers_ats *a)
{
    if (a != NULL)
        ats_cleanup(a);
}

void tsb_ers_record_free(struct tsb_ers_record *rec)
{
    if (rec == NULL)
        return;
    for (size_t i = 0; rec->chain != NULL && i < rec->n_chains; i++) {
        for (size_t j = 0; j < rec->chain[i].n; j++)
            ats_cleanup(&rec->chain[i].ats[j]);
        free(rec->chain[i].ats);
    }
    free(rec->chain);
    free(rec->digest_algs);
    free(rec);
}

static int decode_record(struct rd *r, struct budget *b, struct tsb_ers_record *rec)
{
    struct tlv t, f;
    int rc;
    if ((rc = rd_expect(r, TAG_SEQUENCE, "EvidenceRecord", &t)) != 0 ||
        (rc = rd_done(r, "EvidenceRecord")) != 0)
        return rc;
    struct rd in = rd_in(r, &t);
    if ((rc = rd_expect(&in, TAG_INTEGER, "EvidenceRecord.version", &f)) != 0)
        return rc;
    if (f.len != 1 || f.c[0] != 1)
        return tsb_err(TSB_EFORMAT, "EvidenceRecord.version at byte offset %zu is not v1(1)",
                       off(r, f.start));
    rec->version = 1;
    if ((rc = rd_expect(&in, TAG_SEQUENCE, "EvidenceRecord.digestAlgorithms", &f)) != 0)
        return rc;
    struct rd da = rd_in(r, &f);
    size_t n;
    if ((rc = count_elems(da, "digestAlgorithms", &n)) != 0)
        return rc;
    if (n > N_ALGS * 8)
        return tsb_err(TSB_ETOOBIG, "digestAlgorithms at byte offset %zu: %zu entries",
                       off(r, f.start), n);
    rec->digest_algs = tsb_calloc(n ? n : 1, sizeof(*rec->digest_algs));
    rec->n_digest_algs = n;
    for (size_t i = 0; i < n; i++) {
        struct tlv ai;
        if ((rc = rd_expect(&da, TAG_SEQUENCE, "digestAlgorithms entry", &ai)) != 0)
            return rc;
        struct rd ain = rd_in(r, &ai);
        if ((rc = rd_alg(&ain, "digestAlgorithms entry", &rec->digest_algs[i], NULL, 0)) != 0)
            return rc;
    }
    if ((rc = rd_optional(&in, TAG_CTX0, "EvidenceRecord.cryptoInfos", &f,
                          &rec->has_crypto_infos)) != 0 ||
        (rc = rd_optional(&in, TAG_CTX1, "EvidenceRecord.encryptionInfo", &f,
                          &rec->has_encryption_info)) != 0)
        return rc;
    if ((rc = rd_expect(&in, TAG_SEQUENCE, "ArchiveTimeStampSequence", &f)) != 0)
        return rc;
    if ((rc = rd_done(&in, "EvidenceRecord")) != 0)
        return rc;
    rec->seq_der = (struct tsb_slice){f.start, f.total};
    struct rd seq = rd_in(r, &f);
    if ((rc = count_elems(seq, "ArchiveTimeStampSequence", &n)) != 0)
        return rc;
    if (n == 0)
        return tsb_err(TSB_EFORMAT, "ArchiveTimeStampSequence at byte offset %zu holds no chain",
                       off(r, f.start));
    if (n > b->lim.max_chains)
        return tsb_err(TSB_ETOOBIG, "ArchiveTimeStampSequence: %zu chains, over the limit of %zu",
                       n, b->lim.max_chains);
    rec->chain = tsb_calloc(n, sizeof(*rec->chain));
    rec->n_chains = n;
    for (size_t i = 0; i < n; i++) {
        struct tsb_ers_chain *c = &rec->chain[i];
        struct tlv ct;
        if ((rc = rd_expect(&seq, TAG_SEQUENCE, "ArchiveTimeStampChain", &ct)) != 0)
            return rc;
        c->der = (struct tsb_slice){ct.start, ct.total};
        struct rd cin = rd_in(r, &ct);
        size_t m;
        if ((rc = count_elems(cin, "ArchiveTimeStampChain", &m)) != 0)
            return rc;
        if (m == 0)
            return tsb_err(TSB_EFORMAT, "ArchiveTimeStampChain %zu at byte offset %zu is empty", i,
                           off(r, ct.start));
        if (m > b->lim.max_ats || m > b->lim.max_total_ats - b->ats)
            return tsb_err(TSB_ETOOBIG,
                           "ArchiveTimeStampChain %zu: %zu archive timestamps, over the limit of "
                           "%zu per chain and %zu per record",
                           i, m, b->lim.max_ats, b->lim.max_total_ats);
        b->ats += m;
        c->ats = tsb_calloc(m, sizeof(*c->ats));
        for (size_t j = 0; j < m; j++) {
            struct tlv at;
            if ((rc = rd_expect(&cin, TAG_SEQUENCE, "ArchiveTimeStamp", &at)) != 0)
                return rc;
            c->n = j + 1; /* so a failure below frees what this one allocated */
            if ((rc = decode_ats(r, &at, b, &c->ats[j])) != 0)
                return rc;
        }
    }
    return 0;
}

int tsb_ers_record_decode(const uint8_t *der, size_t len, const struct tsb_ers_limits *lim,
                          struct tsb_ers_record **out)
{
    struct budget b = {limits_of(lim), 0, 0};
    if (len > b.lim.max_der)
        return tsb_err(TSB_ETOOBIG, "an EvidenceRecord of %zu bytes is over the limit of %zu", len,
                       b.lim.max_der);
    struct tsb_ers_record *rec = tsb_calloc(1, sizeof(*rec));
    struct rd r = {der, der, der + len};
    int rc = decode_record(&r, &b, rec);
    if (rc != 0) {
        tsb_ers_record_free(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

/* ---- reduced hash trees ---- */

/* Walks a reduced hash tree's lists from the first to the root (§4.3 step 3). */
static int walk(const struct alg_info *a, const struct tsb_ers_list *list, size_t n_lists,
                uint8_t *root)
{
    int r = 0;
    uint8_t h[TSB_ERS_HASH_MAX];
    for (size_t k = 0; k < n_lists && r == 0; k++) {
        size_t m = list[k].n + (k > 0);
        const uint8_t *stack_v[9], **v = m <= 9 ? stack_v : tsb_calloc(m, sizeof(*v));
        for (size_t j = 0; j < list[k].n; j++) {
            if (list[k].hash[j].len != a->len) {
                r = tsb_err(
                    TSB_EALGORITHM,
                    "partial hash tree %zu holds a %zu-byte value where %s hashes are %zu bytes", k,
                    list[k].hash[j].len, a->spelled, a->len);
                break;
            }
            v[j] = list[k].hash[j].p;
        }
        if (r == 0) {
            if (k > 0)
                v[m - 1] = h;
            r = hash_sorted(a, v, m, h);
        }
        if (v != stack_v)
            free(v);
    }
    if (r == 0)
        memcpy(root, h, a->len);
    return r;
}

int tsb_ers_ats_root(enum tsb_ers_alg alg, const struct tsb_ers_ats *a, uint8_t *root)
{
    const struct alg_info *ai = alg_get(alg);
    if (ai == NULL)
        return tsb_err(TSB_EALGORITHM, "hash algorithm %d is not sha256, sha384 or sha512", alg);
    if (a->n_lists == 0)
        return tsb_err(
            TSB_EINVAL,
            "the archive timestamp has no reduced hash tree: its object's hash is the root");
    return walk(ai, a->list, a->n_lists, root);
}

/* Appends a PartialHashtree of the n hashes v[i], sorted (the RFC needs no order in the encoding:
 * the verifier sorts; sorted, every writer of the same tree writes the same bytes). Sorts v. */
static int put_list(struct tsb_buf *out, const uint8_t **v, size_t n, size_t len)
{
    sort_hashes(v, n, len);
    struct tsb_buf c;
    tsb_buf_init(&c, ENC_MAX);
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = put_tlv(&c, TAG_OCTETSTRING, v[i], len);
    if (r == 0)
        r = put_wrapped(out, TAG_SEQUENCE, &c);
    tsb_buf_cleanup(&c);
    return r;
}

int tsb_ers_tree_reduced(const struct tsb_ers_tree *t, size_t i, const uint8_t *member_hashes,
                         size_t n_members, struct tsb_buf *der)
{
    const struct alg_info *a = t->a;
    if (i >= t->count[0])
        return tsb_err(TSB_EINVAL, "leaf %zu of a %zu-leaf tree", i, t->count[0]);
    bool group = n_members >= 2;
    int r = 0;
    struct tsb_buf c;
    tsb_buf_init(&c, ENC_MAX);
    const uint8_t *stack_v[8], **v = NULL;
    if (group) {
        uint8_t leaf[TSB_ERS_HASH_MAX];
        if ((r = tsb_ers_group_leaf(a->alg, member_hashes, n_members, leaf)) != 0)
            goto out;
        if (memcmp(leaf, node(t, 0, i), a->len) != 0) {
            r = tsb_err(TSB_EINVAL, "the group's members do not hash to leaf %zu", i);
            goto out;
        }
        v = n_members <= 8 ? stack_v : tsb_calloc(n_members, sizeof(*v));
        for (size_t j = 0; j < n_members; j++)
            v[j] = member_hashes + j * a->len;
        if ((r = put_list(&c, v, n_members, a->len)) != 0)
            goto out;
    }
    bool first = !group;
    size_t idx = i;
    for (size_t l = 0; l + 1 < t->n_levels && r == 0; l++, idx /= 2) {
        size_t sib = idx ^ 1;
        if (sib >= t->count[l])
            continue; /* carried up: no list on this level */
        const uint8_t *pair[2] = {node(t, l, idx), node(t, l, sib)};
        if (first) {
            r = put_list(&c, pair, 2, a->len);
            first = false;
        } else {
            r = put_list(&c, &pair[1], 1, a->len);
        }
    }
    if (r == 0)
        r = put_wrapped(der, TAG_SEQUENCE, &c);
out:
    if (v != NULL && v != stack_v)
        free(v);
    tsb_buf_cleanup(&c);
    return r;
}

/* ---- renewal leaves ---- */

int tsb_ers_renewal_leaf(enum tsb_ers_alg alg, const uint8_t *prev_token, size_t len, uint8_t *leaf)
{
    return tsb_ers_digest(alg, prev_token, len, leaf);
}

/* h' = H(h || ha), or H(sorted(h, ha)) when sorted (the reading of RFC 4998 Figure 4). */
static int rehash_one(const struct alg_info *a, const uint8_t *h, const uint8_t *ha, bool sorted,
                      uint8_t *out)
{
    const uint8_t *v[2] = {h, ha};
    if (sorted)
        return hash_sorted(a, v, 2, out);
    size_t lens[2] = {a->len, a->len};
    return digest_parts(a, v, lens, 2, out);
}

int tsb_ers_rehash_members(enum tsb_ers_alg alg, const uint8_t *seq_der, size_t seq_len,
                           const uint8_t *member_hashes, size_t n, uint8_t *out)
{
    const struct alg_info *a = alg_get(alg);
    if (a == NULL)
        return tsb_err(TSB_EALGORITHM, "hash algorithm %d is not sha256, sha384 or sha512", alg);
    uint8_t ha[TSB_ERS_HASH_MAX], h[TSB_ERS_HASH_MAX];
    int r = digest_parts(a, &seq_der, &seq_len, 1, ha);
    for (size_t i = 0; i < n && r == 0; i++) {
        memcpy(h, member_hashes + i * a->len, a->len);
        r = rehash_one(a, h, ha, false, out + i * a->len);
    }
    return r;
}

/* ---- encoding ---- */

/* Checks that p[0..len) is exactly one DER element with the given tag. */
static int one_element(const uint8_t *p, size_t len, uint8_t tag, const char *what)
{
    struct rd r = {p, p, p + len};
    struct tlv t;
    int rc = rd_expect(&r, tag, what, &t);
    return rc != 0 ? rc : rd_done(&r, what);
}

int tsb_ers_ats_encode(enum tsb_ers_alg alg, const uint8_t *rht_der, size_t rht_len,
                       const uint8_t *token, size_t token_len, struct tsb_buf *out)
{
    const struct alg_info *a = alg_get(alg);
    if (a == NULL)
        return tsb_err(TSB_EALGORITHM, "hash algorithm %d is not sha256, sha384 or sha512", alg);
    int r;
    if ((r = one_element(token, token_len, TAG_SEQUENCE, "timestamp token")) != 0)
        return r;
    bool has_rht = rht_der != NULL && rht_len > 2;
    if (rht_der != NULL &&
        (r = one_element(rht_der, rht_len, TAG_SEQUENCE, "reduced hash tree")) != 0)
        return r;
    struct tsb_buf c, ai;
    tsb_buf_init(&c, ENC_MAX);
    tsb_buf_init(&ai, 256);
    if ((r = put_alg_content(&ai, a)) != 0 || (r = put_wrapped(&c, TAG_CTX0, &ai)) != 0)
        goto out;
    if (has_rht) {
        /* [2] IMPLICIT SEQUENCE OF PartialHashtree: the universal SEQUENCE re-tagged */
        struct rd rr = {rht_der, rht_der, rht_der + rht_len};
        struct tlv t;
        if ((r = rd_next(&rr, "reduced hash tree", &t)) != 0 ||
            (r = put_tlv(&c, TAG_CTX2, t.c, t.len)) != 0)
            goto out;
    }
    if ((r = tsb_buf_append(&c, token, token_len)) != 0)
        goto out;
    r = put_wrapped(out, TAG_SEQUENCE, &c);
out:
    tsb_buf_cleanup(&ai);
    tsb_buf_cleanup(&c);
    return r;
}

/* The contents of an ArchiveTimeStampSequence of n chains. */
static int put_sequence_content(struct tsb_buf *b, const struct tsb_ers_chain_in *chains, size_t n)
{
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct tsb_buf c;
        tsb_buf_init(&c, ENC_MAX);
        for (size_t j = 0; j < chains[i].n && r == 0; j++)
            r = tsb_buf_append(&c, chains[i].ats[j].p, chains[i].ats[j].len);
        if (r == 0)
            r = put_wrapped(b, TAG_SEQUENCE, &c);
        tsb_buf_cleanup(&c);
    }
    return r;
}

int tsb_ers_sequence_encode(const struct tsb_ers_chain_in *chains, size_t n, struct tsb_buf *out)
{
    struct tsb_buf c;
    tsb_buf_init(&c, ENC_MAX);
    int r = put_sequence_content(&c, chains, n);
    if (r == 0)
        r = put_wrapped(out, TAG_SEQUENCE, &c);
    tsb_buf_cleanup(&c);
    return r;
}

int tsb_ers_record_encode(const struct tsb_ers_chain_in *chains, size_t n, struct tsb_buf *out)
{
    if (n == 0)
        return tsb_err(TSB_EINVAL, "an evidence record needs at least one chain");
    enum tsb_ers_alg used[N_ALGS];
    size_t n_used = 0;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (chains[i].n == 0)
            return tsb_err(TSB_EINVAL, "chain %zu of the evidence record is empty", i);
        for (size_t j = 0; j < chains[i].n && r == 0; j++) {
            struct tsb_ers_ats a;
            if ((r = tsb_ers_ats_decode(chains[i].ats[j].p, chains[i].ats[j].len, NULL, &a)) != 0)
                return tsb_err(r, "chain %zu, archive timestamp %zu: %s", i, j, tsb_err_detail());
            enum tsb_ers_alg g = a.alg;
            tsb_ers_ats_cleanup(&a);
            if (g == TSB_ERS_ALG_NONE)
                return tsb_err(
                    TSB_EALGORITHM,
                    "chain %zu, archive timestamp %zu names no hash algorithm tsbag knows", i, j);
            bool seen = false;
            for (size_t k = 0; k < n_used; k++)
                seen = seen || used[k] == g;
            if (!seen)
                used[n_used++] = g;
        }
    }
    struct tsb_buf c, algs_c, one;
    tsb_buf_init(&c, ENC_MAX);
    tsb_buf_init(&algs_c, 1024);
    tsb_buf_init(&one, 256);
    static const uint8_t v1[] = {1};
    if ((r = put_tlv(&c, TAG_INTEGER, v1, 1)) != 0)
        goto out;
    for (size_t k = 0; k < n_used && r == 0; k++) {
        tsb_buf_reset(&one);
        if ((r = put_alg_content(&one, alg_get(used[k]))) == 0)
            r = put_wrapped(&algs_c, TAG_SEQUENCE, &one);
    }
    if (r != 0 || (r = put_wrapped(&c, TAG_SEQUENCE, &algs_c)) != 0)
        goto out;
    if ((r = tsb_ers_sequence_encode(chains, n, &c)) != 0)
        goto out;
    r = put_wrapped(out, TAG_SEQUENCE, &c);
out:
    tsb_buf_cleanup(&one);
    tsb_buf_cleanup(&algs_c);
    tsb_buf_cleanup(&c);
    return r;
}

/* ---- verification ---- */

const char *tsb_ers_fail_name(enum tsb_ers_fail f)
{
    static const char *const names[] = {
        [TSB_ERS_OK] = "ok",
        [TSB_ERS_FAIL_FORMAT] = "format",
        [TSB_ERS_FAIL_LIMIT] = "limit",
        [TSB_ERS_FAIL_ALGORITHM] = "algorithm",
        [TSB_ERS_FAIL_OBJECT] = "object",
        [TSB_ERS_FAIL_GROUP] = "group",
        [TSB_ERS_FAIL_ROOT] = "root",
        [TSB_ERS_FAIL_TOKEN] = "token",
        [TSB_ERS_FAIL_RENEWAL] = "renewal",
        [TSB_ERS_FAIL_ORDER] = "order",
        [TSB_ERS_FAIL_LATE] = "late",
        [TSB_ERS_FAIL_EXPIRED] = "expired",
        [TSB_ERS_FAIL_FUTURE] = "future",
        [TSB_ERS_FAIL_INTERNAL] = "internal",
    };
    if ((unsigned)f < sizeof(names) / sizeof(names[0]) && names[f] != NULL)
        return names[f];
    return "unknown";
}

static void hex_short(const uint8_t *p, size_t len, char out[20])
{
    size_t n = len < 8 ? len : 8;
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    if (len > 8)
        memcpy(out + 16, "..", 3);
}

static void fmt_time(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%" PRId64 " ms", ms);
}

/* Records the verdict in res and returns its code, with the sentence as the thread's detail. The
 * sentence counts chains, archive timestamps and objects from 1, as people (and RFC 4998's
 * figures) do; res's fields count from 0. */
static int fail(struct tsb_ers_verify_result *res, enum tsb_ers_fail f, long chain, long ats,
                long object, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static int fail(struct tsb_ers_verify_result *res, enum tsb_ers_fail f, long chain, long ats,
                long object, size_t offset, const char *fmt, ...)
{
    char what[TSB_ERS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    res->fail = f;
    res->chain = chain;
    res->ats = ats;
    res->object = object;
    res->offset = offset;
    if (chain >= 0 && ats >= 0)
        snprintf(res->msg, sizeof(res->msg),
                 "chain %ld, archive timestamp %ld (byte offset %zu): %.400s", chain + 1, ats + 1,
                 offset, what);
    else
        snprintf(res->msg, sizeof(res->msg), "%s", what);
    int code = TSB_ETOKEN;
    switch (f) {
    case TSB_ERS_FAIL_FORMAT:
        code = TSB_EFORMAT;
        break;
    case TSB_ERS_FAIL_LIMIT:
        code = TSB_ETOOBIG;
        break;
    case TSB_ERS_FAIL_ALGORITHM:
        code = TSB_EALGORITHM;
        break;
    case TSB_ERS_FAIL_INTERNAL:
        code = TSB_ECRYPTO;
        break;
    default:
        break;
    }
    return tsb_err(code, "%s", res->msg);
}

/* The TSA signer's notAfter from the first certificate of a verified chain (PEM). */
static int chain_not_after(const struct tsb_buf *pem, int64_t *ms)
{
    int r = TSB_ECRYPTO;
    BIO *bio = BIO_new_mem_buf(pem->p, (int)pem->len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    struct tm tm;
    if (x != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
        *ms = (int64_t)timegm(&tm) * 1000;
        r = 0;
    }
    X509_free(x);
    BIO_free(bio);
    return r;
}

/* The algorithms a token's envelope may name: OpenSSL verifies by the key's type and the digest,
 * so an OID changed to anything else would otherwise still verify. */
static const uint8_t env_digest_oids[][10] = {
    {9, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}, /* SHA-256 */
    {9, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02}, /* SHA-384 */
    {9, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03}, /* SHA-512 */
    {5, 0x2b, 0x0e, 0x03, 0x02, 0x1a},                         /* SHA-1 (old TSAs) */
};
/* for each signature OID, the index in env_digest_oids of the digest it names, -1 for none */
static const int env_signature_digest[] = {-1, -1, 0, 1, 2, 0, 1, 2, -1};
static const uint8_t env_signature_oids[][10] = {
    {9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01}, /* rsaEncryption */
    {9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a}, /* RSASSA-PSS */
    {9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}, /* sha256WithRSAEncryption */
    {9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c}, /* sha384WithRSAEncryption */
    {9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d}, /* sha512WithRSAEncryption */
    {8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02},       /* ecdsa-with-SHA256 */
    {8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03},       /* ecdsa-with-SHA384 */
    {8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04},       /* ecdsa-with-SHA512 */
    {7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01},             /* id-ecPublicKey */
};

/* The index of o in list, -1 when not there. */
static int oid_index(const struct tlv *o, const uint8_t (*list)[10], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i][0] == o->len && memcmp(list[i] + 1, o->c, o->len) == 0)
            return (int)i;
    return -1;
}

/* An AlgorithmIdentifier of a token's envelope: a listed OID (its index into *which) and
 * parameters absent, NULL or a SEQUENCE (RSASSA-PSS), nothing else. */
static int envelope_alg(struct rd *r, const char *what, bool signature, int *which)
{
    struct tlv t, o, prm;
    int rc = rd_expect(r, TAG_SEQUENCE, what, &t);
    if (rc != 0)
        return rc;
    struct rd in = rd_in(r, &t);
    if ((rc = rd_expect(&in, TAG_OID, what, &o)) != 0)
        return rc;
    *which = signature ? oid_index(&o, env_signature_oids,
                                   sizeof(env_signature_oids) / sizeof(env_signature_oids[0]))
                       : oid_index(&o, env_digest_oids,
                                   sizeof(env_digest_oids) / sizeof(env_digest_oids[0]));
    if (*which < 0)
        return tsb_err(TSB_EFORMAT, "%s at byte offset %zu is no %s algorithm tsbag accepts", what,
                       off(r, o.start), signature ? "signature" : "digest");
    if (in.p < in.end) {
        const uint8_t *at = in.p;
        if ((rc = rd_next(&in, what, &prm)) != 0)
            return rc;
        if (!(prm.tag == TAG_NULL && prm.len == 0) && prm.tag != TAG_SEQUENCE)
            return tsb_err(TSB_EFORMAT,
                           "%s: parameters with tag 0x%02x at byte offset %zu are "
                           "neither NULL nor a SEQUENCE",
                           what, prm.tag, off(r, at));
    }
    return rd_done(&in, what);
}

static int envelope_version(struct rd *r, const char *what, unsigned a, unsigned b)
{
    struct tlv v;
    int rc = rd_expect(r, TAG_INTEGER, what, &v);
    if (rc != 0)
        return rc;
    if (v.len == 1 && (v.c[0] == a || v.c[0] == b))
        return 0;
    if (a == b)
        return tsb_err(TSB_EFORMAT, "%s at byte offset %zu is not %u (RFC 5652, RFC 3161)", what,
                       off(r, v.start), a);
    return tsb_err(TSB_EFORMAT, "%s at byte offset %zu is neither %u nor %u (RFC 5652)", what,
                   off(r, v.start), a, b);
}

/* The fields of a token's CMS envelope that no signature covers and OpenSSL does not check
 * (ContentInfo type, SignedData and SignerInfo versions, algorithm parameters), held to RFC 5652
 * and RFC 3161, so that the last token of a record, which no renewal hashes, cannot be changed
 * in any byte without the verification failing. */
static int check_envelope(const struct rd *outer, const struct tsb_slice *token)
{
    static const uint8_t signed_data[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};
    struct rd r = {outer->base, token->p, token->p + token->len};
    struct tlv ci, f, sd, sis;
    int rc, dig, sig;
    if ((rc = rd_expect(&r, TAG_SEQUENCE, "token ContentInfo", &ci)) != 0)
        return rc;
    struct rd in = rd_in(&r, &ci);
    if ((rc = rd_expect(&in, TAG_OID, "token contentType", &f)) != 0)
        return rc;
    if (f.len != sizeof(signed_data) || memcmp(f.c, signed_data, f.len) != 0)
        return tsb_err(TSB_EFORMAT, "token contentType at byte offset %zu is not signedData",
                       off(&r, f.start));
    if ((rc = rd_expect(&in, TAG_CTX0, "token content", &f)) != 0 ||
        (rc = rd_done(&in, "token ContentInfo")) != 0)
        return rc;
    struct rd c = rd_in(&r, &f);
    if ((rc = rd_expect(&c, TAG_SEQUENCE, "token SignedData", &sd)) != 0 ||
        (rc = rd_done(&c, "token content")) != 0)
        return rc;
    struct rd s = rd_in(&r, &sd);
    if ((rc = envelope_version(&s, "SignedData version", 3, 3)) != 0)
        return rc;
    if ((rc = rd_expect(&s, 0x31, "SignedData digestAlgorithms", &f)) != 0)
        return rc;
    struct rd da = rd_in(&r, &f);
    while (da.p < da.end)
        if ((rc = envelope_alg(&da, "SignedData digestAlgorithm", false, &dig)) != 0)
            return rc;
    if ((rc = rd_expect(&s, TAG_SEQUENCE, "SignedData encapContentInfo", &f)) != 0)
        return rc;
    bool has;
    if ((rc = rd_optional(&s, TAG_CTX0, "SignedData certificates", &f, &has)) != 0 ||
        (rc = rd_optional(&s, TAG_CTX1, "SignedData crls", &f, &has)) != 0 ||
        (rc = rd_expect(&s, 0x31, "SignedData signerInfos", &sis)) != 0 ||
        (rc = rd_done(&s, "token SignedData")) != 0)
        return rc;
    struct rd si_set = rd_in(&r, &sis);
    while (si_set.p < si_set.end) {
        struct tlv si;
        if ((rc = rd_expect(&si_set, TAG_SEQUENCE, "SignerInfo", &si)) != 0)
            return rc;
        struct rd x = rd_in(&r, &si);
        if ((rc = envelope_version(&x, "SignerInfo version", 1, 3)) != 0 ||
            (rc = rd_next(&x, "SignerInfo sid", &f)) != 0 ||
            (rc = envelope_alg(&x, "SignerInfo digestAlgorithm", false, &dig)) != 0 ||
            (rc = rd_optional(&x, TAG_CTX0, "SignerInfo signedAttrs", &f, &has)) != 0)
            return rc;
        const uint8_t *at = x.p;
        if ((rc = envelope_alg(&x, "SignerInfo signatureAlgorithm", true, &sig)) != 0)
            return rc;
        if (env_signature_digest[sig] >= 0 && env_signature_digest[sig] != dig)
            return tsb_err(TSB_EFORMAT,
                           "SignerInfo signatureAlgorithm at byte offset %zu names "
                           "another digest than the SignerInfo digestAlgorithm",
                           off(&r, at));
        if ((rc = rd_expect(&x, TAG_OCTETSTRING, "SignerInfo signature", &f)) != 0 ||
            (rc = rd_optional(&x, TAG_CTX1, "SignerInfo unsignedAttrs", &f, &has)) != 0 ||
            (rc = rd_done(&x, "SignerInfo")) != 0)
            return rc;
    }
    return 0;
}

/* What one ATS's token proved. */
struct ats_seen {
    int64_t gen_ms, not_after_ms;
};

/* Verifies the token of ATS a (chain k, index j) whose computed root is root (alg a_info):
 * imprint, signature and chain at genTime (token.c), and learns genTime and the signer's
 * notAfter. */
static int check_token(const struct rd *base, const struct tsb_ers_verify_opts *o,
                       const struct alg_info *ai, const struct tsb_ers_ats *a, long k, long j,
                       const uint8_t *root, struct tsb_ers_verify_result *res,
                       struct ats_seen *seen)
{
    struct tsb_token_result tr;
    struct tsb_buf chain;
    tsb_buf_init(&chain, 1 << 20);
    int r;
    if ((r = check_envelope(base, &a->token)) != 0) {
        r = fail(res, TSB_ERS_FAIL_TOKEN, k, j, -1, a->offset,
                 "the token's CMS envelope is not "
                 "as RFC 5652 writes it: %s",
                 tsb_err_detail());
        goto out;
    }
    struct tsb_token_verify_opts to = {
        .check_skew = false,
        .extra_pem = o->extra_pem,
        .extra_pem_len = o->extra_pem_len,
        .chain_pem = &chain,
    };
    /* The imprint is the root itself (not a digest of data), which token.c cannot compute: its
     * imprint check is left to fail "cannot compare" and is made here instead. */
    r = tsb_token_verify(o->tv, a->token.p, a->token.len, NULL, &to, &tr);
    if (r == TSB_ECRYPTO) {
        r = fail(res, TSB_ERS_FAIL_INTERNAL, k, j, -1, a->offset,
                 "the token could not be checked: %s", tsb_err_detail());
        goto out;
    }
    for (int c = 0; c < TSB_TCHK_N; c++) {
        if (c == TSB_TCHK_IMPRINT)
            continue;
        if (tr.outcome[c] == TSB_CHECK_FAIL || tr.outcome[c] == TSB_CHECK_NOT_RUN) {
            r = fail(res, TSB_ERS_FAIL_TOKEN, k, j, -1, a->offset, "token check \"%s\" failed: %s",
                     tsb_token_check_name((enum tsb_token_check)c), tr.message[c]);
            goto out;
        }
    }
    if (strcmp(tr.imprint_alg, ai->spelled) != 0 || tr.imprint_len != ai->len ||
        memcmp(tr.imprint, root, ai->len) != 0) {
        char want[20], got[20] = "";
        hex_short(root, ai->len, want);
        hex_short(tr.imprint, tr.imprint_len, got);
        r = fail(res, TSB_ERS_FAIL_ROOT, k, j, -1, a->offset,
                 "the computed %s root %s differs from the token's messageImprint (%s %s): the "
                 "reduced hash tree, the data or the token was altered",
                 ai->spelled, want, tr.imprint_alg, got);
        goto out;
    }
    if (chain.len == 0 || chain_not_after(&chain, &seen->not_after_ms) != 0) {
        r = fail(res, TSB_ERS_FAIL_INTERNAL, k, j, -1, a->offset,
                 "the TSA certificate's notAfter could not be read from the verified chain");
        goto out;
    }
    seen->gen_ms = tr.gen_time_ms;
    if (o->chain_pem != NULL && (r = tsb_buf_append(o->chain_pem, chain.p, chain.len)) != 0) {
        r = fail(res, TSB_ERS_FAIL_INTERNAL, k, j, -1, a->offset,
                 "the TSA chains are over the output buffer's cap");
        goto out;
    }
    r = 0;
out:
    tsb_buf_cleanup(&chain);
    return r;
}

/* Is h (ai->len bytes) in list? */
static bool in_list(const struct alg_info *ai, const struct tsb_ers_list *l, const uint8_t *h)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->hash[i].len == ai->len && memcmp(l->hash[i].p, h, ai->len) == 0)
            return true;
    return false;
}

/* Checks the object hashes (n, ai->len each) against ATS a's first list, as one object or as the
 * whole group; without a reduced tree, their leaf is the root. Sets *why to the failure kind and
 * *which to the object (or -1) when they do not fit; start gets the root when no lists. */
static void fit_objects(const struct alg_info *ai, const struct tsb_ers_ats *a,
                        const uint8_t *hashes, size_t n, enum tsb_ers_fail *why, long *which,
                        uint8_t *start)
{
    *why = TSB_ERS_OK;
    *which = -1;
    if (a->n_lists == 0) {
        if (tsb_ers_group_leaf(ai->alg, hashes, n, start) != 0)
            *why = TSB_ERS_FAIL_INTERNAL;
        return;
    }
    const struct tsb_ers_list *l = &a->list[0];
    for (size_t i = 0; i < n; i++)
        if (!in_list(ai, l, hashes + i * ai->len)) {
            *why = TSB_ERS_FAIL_OBJECT;
            *which = (long)i;
            return;
        }
    if (n >= 2) {
        /* the group is the whole first list: as many values, each one of the objects */
        for (size_t j = 0; j < l->n; j++) {
            bool found = false;
            for (size_t i = 0; i < n && !found; i++)
                found = l->hash[j].len == ai->len &&
                        memcmp(l->hash[j].p, hashes + i * ai->len, ai->len) == 0;
            if (!found || l->n != n) {
                *why = TSB_ERS_FAIL_GROUP;
                *which = (long)j;
                return;
            }
        }
    }
}

/* The DER ArchiveTimeStampSequence of the first k chains of rec. */
static int sequence_before(const struct tsb_ers_record *rec, size_t k, struct tsb_buf *out)
{
    struct tsb_buf c;
    tsb_buf_init(&c, ENC_MAX);
    int r = 0;
    for (size_t i = 0; i < k && r == 0; i++)
        r = tsb_buf_append(&c, rec->chain[i].der.p, rec->chain[i].der.len);
    if (r == 0)
        r = put_wrapped(out, TAG_SEQUENCE, &c);
    tsb_buf_cleanup(&c);
    return r;
}

/* The algorithm of chain k: its ATSs' digestAlgorithm, all the same and known. */
static int chain_alg(const struct tsb_ers_record *rec, size_t k, struct tsb_ers_verify_result *res,
                     const struct alg_info **out)
{
    const struct tsb_ers_chain *c = &rec->chain[k];
    const struct alg_info *ai = NULL;
    for (size_t j = 0; j < c->n; j++) {
        const struct tsb_ers_ats *a = &c->ats[j];
        if (a->alg_oid[0] == '\0')
            return fail(res, TSB_ERS_FAIL_ALGORITHM, (long)k, (long)j, -1, a->offset,
                        "no digestAlgorithm: tsbag needs it written in every archive timestamp");
        if (a->alg == TSB_ERS_ALG_NONE)
            return fail(res, TSB_ERS_FAIL_ALGORITHM, (long)k, (long)j, -1, a->offset,
                        "digestAlgorithm %s is not SHA-256, SHA-384 or SHA-512", a->alg_oid);
        if (ai != NULL && ai->alg != a->alg)
            return fail(res, TSB_ERS_FAIL_ALGORITHM, (long)k, (long)j, -1, a->offset,
                        "digestAlgorithm %s differs from the chain's %s (RFC 4998 §5.3: one "
                        "algorithm per chain)",
                        alg_spelled(a->alg), ai->spelled);
        ai = alg_get(a->alg);
    }
    *out = ai;
    return 0;
}

int tsb_ers_verify(const uint8_t *er, size_t len, const struct tsb_slice *objs, size_t n,
                   const struct tsb_ers_verify_opts *o, struct tsb_ers_verify_result *res)
{
    memset(res, 0, sizeof(*res));
    res->chain = res->ats = res->object = -1;
    struct tsb_ers_record *rec = NULL;
    uint8_t *h = NULL, *hs = NULL;
    struct tsb_buf seq;
    tsb_buf_init(&seq, ENC_MAX);
    int r;
    if (n == 0 || o == NULL || o->tv == NULL) {
        r = fail(res, TSB_ERS_FAIL_INTERNAL, -1, -1, -1, 0,
                 "verification needs the data objects and a token verifier");
        r = tsb_err(TSB_EINVAL, "%s", res->msg);
        goto out;
    }
    struct rd base = {er, er, er + len};
    if ((r = tsb_ers_record_decode(er, len, o->limits, &rec)) != 0) {
        r = fail(res, r == TSB_ETOOBIG ? TSB_ERS_FAIL_LIMIT : TSB_ERS_FAIL_FORMAT, -1, -1, -1, 0,
                 "the evidence record cannot be decoded: %s", tsb_err_detail());
        goto out;
    }
    h = tsb_malloc(n * TSB_ERS_HASH_MAX);
    hs = tsb_malloc(n * TSB_ERS_HASH_MAX);
    struct ats_seen prev = {0, 0};
    bool have_prev = false;
    for (size_t k = 0; k < rec->n_chains; k++) {
        const struct tsb_ers_chain *c = &rec->chain[k];
        const struct alg_info *ai = NULL;
        if ((r = chain_alg(rec, k, res, &ai)) != 0)
            goto out;
        bool listed = false;
        for (size_t d = 0; d < rec->n_digest_algs; d++)
            listed = listed || rec->digest_algs[d] == ai->alg;
        if (!listed) {
            r = fail(res, TSB_ERS_FAIL_ALGORITHM, (long)k, 0, -1, c->ats[0].offset,
                     "the record's digestAlgorithms does not list %s, the chain's algorithm "
                     "(RFC 4998 §3: it lists every algorithm the record uses)",
                     ai->spelled);
            goto out;
        }
        for (size_t j = 0; j < c->n; j++) {
            const struct tsb_ers_ats *a = &c->ats[j];
            uint8_t start[TSB_ERS_HASH_MAX], root[TSB_ERS_HASH_MAX];
            enum tsb_ers_fail why = TSB_ERS_OK;
            long which = -1;
            if (j == 0) {
                /* the objects, rehashed with the sequence before this chain from the second */
                if ((r = tsb_ers_hash_objects(ai->alg, objs, n, h)) != 0) {
                    r = fail(res, TSB_ERS_FAIL_INTERNAL, (long)k, 0, -1, a->offset, "%s",
                             tsb_err_detail());
                    goto out;
                }
                if (k > 0) {
                    uint8_t ha[TSB_ERS_HASH_MAX];
                    tsb_buf_reset(&seq);
                    const uint8_t *sp = NULL;
                    if ((r = sequence_before(rec, k, &seq)) == 0) {
                        sp = seq.p;
                        r = digest_parts(ai, &sp, &seq.len, 1, ha);
                    }
                    if (r != 0) {
                        r = fail(res, TSB_ERS_FAIL_INTERNAL, (long)k, 0, -1, a->offset, "%s",
                                 tsb_err_detail());
                        goto out;
                    }
                    for (size_t i = 0; i < n && r == 0; i++) {
                        r = rehash_one(ai, h + i * ai->len, ha, false, hs + i * ai->len);
                        if (r == 0)
                            r = rehash_one(ai, h + i * ai->len, ha, true, h + i * ai->len);
                    }
                    if (r != 0) {
                        r = fail(res, TSB_ERS_FAIL_INTERNAL, (long)k, 0, -1, a->offset, "%s",
                                 tsb_err_detail());
                        goto out;
                    }
                    /* h holds the sorted reading, hs the formula: try the formula first */
                    fit_objects(ai, a, hs, n, &why, &which, start);
                    if (why == TSB_ERS_OK) {
                        memcpy(h, hs, n * ai->len);
                    } else {
                        enum tsb_ers_fail why2;
                        long which2;
                        fit_objects(ai, a, h, n, &why2, &which2, start);
                        if (why2 == TSB_ERS_OK) {
                            why = why2;
                            res->rehash_sorted = true;
                        } else {
                            memcpy(h, hs, n * ai->len); /* report the formula's values */
                        }
                    }
                } else {
                    fit_objects(ai, a, h, n, &why, &which, start);
                }
                if (why == TSB_ERS_FAIL_OBJECT) {
                    char hx[20];
                    hex_short(h + (size_t)which * ai->len, ai->len, hx);
                    r = fail(res, why, (long)k, 0, which, a->offset,
                             "data object %ld (%s %s%s) is not in the first partial hash tree: the "
                             "object was altered or belongs to another record",
                             which + 1, ai->spelled, hx,
                             k > 0 ? ", rehashed with the sequence before this chain" : "");
                    goto out;
                }
                if (why == TSB_ERS_FAIL_GROUP) {
                    r = fail(
                        res, why, (long)k, 0, which, a->offset,
                        "the first partial hash tree holds %zu values for the %zu data objects "
                        "given (value %ld is none of them): the group has another member",
                        a->list[0].n, n, which + 1);
                    goto out;
                }
                if (why != TSB_ERS_OK) {
                    r = fail(res, why, (long)k, 0, -1, a->offset, "%s", tsb_err_detail());
                    goto out;
                }
            } else {
                /* timestamp renewal: covers the previous ATS's timeStamp field */
                const struct tsb_ers_ats *p = &c->ats[j - 1];
                if ((r = digest_parts(ai, &p->token.p, &p->token.len, 1, start)) != 0) {
                    r = fail(res, TSB_ERS_FAIL_INTERNAL, (long)k, (long)j, -1, a->offset, "%s",
                             tsb_err_detail());
                    goto out;
                }
                if (a->n_lists > 0 && !in_list(ai, &a->list[0], start)) {
                    char hx[20];
                    hex_short(start, ai->len, hx);
                    r = fail(res, TSB_ERS_FAIL_RENEWAL, (long)k, (long)j, -1, a->offset,
                             "the hash of the previous archive timestamp's timeStamp (%s %s) is "
                             "not in the first partial hash tree: the renewal does not cover it",
                             ai->spelled, hx);
                    goto out;
                }
            }
            if (a->n_lists > 0) {
                if ((r = walk(ai, a->list, a->n_lists, root)) != 0) {
                    r = fail(res,
                             r == TSB_EALGORITHM ? TSB_ERS_FAIL_ALGORITHM : TSB_ERS_FAIL_INTERNAL,
                             (long)k, (long)j, -1, a->offset, "%s", tsb_err_detail());
                    goto out;
                }
            } else {
                memcpy(root, start, ai->len);
            }
            struct ats_seen seen = {0, 0};
            if ((r = check_token(&base, o, ai, a, (long)k, (long)j, root, res, &seen)) != 0)
                goto out;
            char t1[32], t2[32];
            if (have_prev && seen.gen_ms < prev.gen_ms) {
                fmt_time(seen.gen_ms, t1);
                fmt_time(prev.gen_ms, t2);
                r = fail(res, TSB_ERS_FAIL_ORDER, (long)k, (long)j, -1, a->offset,
                         "genTime %s is before the previous archive timestamp's %s", t1, t2);
                goto out;
            }
            if (have_prev && seen.gen_ms > prev.not_after_ms) {
                fmt_time(seen.gen_ms, t1);
                fmt_time(prev.not_after_ms, t2);
                r = fail(res, TSB_ERS_FAIL_LATE, (long)k, (long)j, -1, a->offset,
                         "renewed at %s, after the previous archive timestamp's TSA certificate "
                         "expired (%s): the evidence lapsed in between",
                         t1, t2);
                goto out;
            }
            if (seen.gen_ms > o->at_ms) {
                fmt_time(seen.gen_ms, t1);
                fmt_time(o->at_ms, t2);
                r = fail(res, TSB_ERS_FAIL_FUTURE, (long)k, (long)j, -1, a->offset,
                         "genTime %s is after the verification time %s", t1, t2);
                goto out;
            }
            if (!have_prev)
                res->first_gen_time_ms = seen.gen_ms;
            prev = seen;
            have_prev = true;
            res->n_ats++;
            res->last_gen_time_ms = seen.gen_ms;
            res->last_not_after_ms = seen.not_after_ms;
        }
        res->n_chains++;
        res->current_alg = ai->alg;
    }
    if (prev.not_after_ms < o->at_ms) {
        const struct tsb_ers_chain *c = &rec->chain[rec->n_chains - 1];
        char t1[32], t2[32];
        fmt_time(prev.not_after_ms, t1);
        fmt_time(o->at_ms, t2);
        r = fail(res, TSB_ERS_FAIL_EXPIRED, (long)rec->n_chains - 1, (long)c->n - 1, -1,
                 c->ats[c->n - 1].offset,
                 "the latest archive timestamp's TSA certificate expired %s, before the "
                 "verification time %s: the record needed a renewal (tsbag renew)",
                 t1, t2);
        goto out;
    }
    res->fail = TSB_ERS_OK;
    snprintf(res->msg, sizeof(res->msg),
             "evidence record verified: %zu chain(s), %zu archive timestamp(s)", res->n_chains,
             res->n_ats);
    r = 0;
out:
    free(h);
    free(hs);
    tsb_buf_cleanup(&seq);
    tsb_ers_record_free(rec);
    return r;
}
