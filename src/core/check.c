/*
 * check: SQLite's integrity_check, then, inside one read snapshot, one pass over the bags in
 * SequenceNumber order (for each: digest, strict parse, token, order, and the journal rows of the
 * bag's Ref range against its JournalEntry list), then one pass over every journal row (orphans,
 * contents), then one pass over the digest index, epoch by epoch (each epoch's journal rows,
 * at most 65 536, copied and sorted in memory: 5 MiB, merged with the index's rows of that
 * epoch). Nothing is kept between the passes, a bag's parsed entries live only while that bag is
 * checked and one epoch's rows while that epoch is, so memory does not grow with the archive.
 * The snapshot is what makes the passes agree: a seal committed between them would otherwise
 * show its entries as orphans (docs/reconcile.md).
 */
#include "check.h"

#include "err.h"
#include "ers.h"
#include "hash.h"
#include "mem.h"
#include "store_ers.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[TSB_V_NKINDS] = {
    [TSB_V_GAP] = "gap",
    [TSB_V_BAG_DIGEST] = "bag-digest",
    [TSB_V_BAG_FORMAT] = "bag-format",
    [TSB_V_BAG_HEADER] = "bag-header",
    [TSB_V_TOKEN] = "token",
    [TSB_V_TOKEN_ID] = "token-id",
    [TSB_V_ORDER] = "order",
    [TSB_V_ENTRY_LINK] = "entry-link",
    [TSB_V_ENTRY_ORPHAN] = "entry-orphan",
    [TSB_V_ENTRY_CONTENT] = "entry-content",
    [TSB_V_DAMAGE] = "archive-damage",
    [TSB_V_CHAIN] = "chain",
    [TSB_V_EVIDENCE] = "evidence",
};

const char *tsb_violation_kind_name(enum tsb_violation_kind k)
{
    return (unsigned)k < TSB_V_NKINDS ? kind_names[k] : "unknown";
}

struct ctx {
    struct tsb_store *s;
    const struct tsb_check_opts *o;
    struct tsb_check_stats st;
    int64_t expected_seq;
    int64_t last_gen, last_gen_seq;
    int64_t total_bags, total_entries;
    int64_t sealed_ref; /* every entry up to this Ref must be in a bag */
    /* the previous bag visited: its SequenceNumber and the SHA-256 of its bytes */
    int64_t prev_seq;
    uint8_t prev_digest[TSB_SHA256_LEN];
    /* the bag being checked */
    const struct tsb_bag *bag;
    int64_t seq;
    size_t pos;
};

static void violation(struct ctx *c, enum tsb_violation_kind k, int64_t seq, int64_t ref,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void violation(struct ctx *c, enum tsb_violation_kind k, int64_t seq, int64_t ref,
                      const char *fmt, ...)
{
    struct tsb_violation v = {.kind = k, .seq = seq, .ref = ref};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v.message, sizeof(v.message), fmt, ap);
    va_end(ap);
    c->st.violations++;
    if (c->o->on_violation)
        c->o->on_violation(c->o->arg, &v);
}

static void progress(struct ctx *c, const char *phase, int64_t done, int64_t total)
{
    if (c->o->on_progress)
        c->o->on_progress(c->o->progress_arg, phase, done, total);
}

/* Compares each journal row of the bag with the JournalEntry at its position. */
static int on_bag_entry(void *arg, const struct tsb_entry_rec *e)
{
    struct ctx *c = arg;
    size_t i = c->pos++;
    char hex[TSB_HASH_STR_MAX];
    if (c->bag == NULL)
        return 0; /* the bytes did not parse: already reported */
    if (e->position != (int64_t)i) {
        /* positions are unique per bag (index), so a hole means a JournalEntry lost its row */
        while ((int64_t)i < e->position && i < c->bag->n) {
            violation(c, TSB_V_ENTRY_LINK, c->seq, c->bag->entries[i].ref,
                      "bag %" PRId64 " lists Ref %" PRId64 " at position %zu, but no journal row "
                      "is there",
                      c->seq, c->bag->entries[i].ref, i);
            i++;
        }
        c->pos = (size_t)e->position + 1;
        i = (size_t)e->position;
    }
    if (i >= c->bag->n) {
        violation(c, TSB_V_ENTRY_LINK, c->seq, e->ref,
                  "journal row Ref %" PRId64 " claims position %" PRId64 " of bag %" PRId64
                  ", which has only %zu entries",
                  e->ref, e->position, c->seq, c->bag->n);
        return 0;
    }
    const struct tsb_bag_entry *b = &c->bag->entries[i];
    if (b->ref != e->ref)
        violation(c, TSB_V_ENTRY_LINK, c->seq, e->ref,
                  "journal row Ref %" PRId64 " claims position %zu of bag %" PRId64
                  ", whose bytes list Ref %" PRId64 " there",
                  e->ref, i, c->seq, b->ref);
    else if (memcmp(b->digest, e->digest, TSB_SHA256_LEN) != 0) {
        tsb_hash_encode(e->digest, TSB_HASH_HEX, hex);
        violation(c, TSB_V_ENTRY_LINK, c->seq, e->ref,
                  "journal row Ref %" PRId64 " has hash %s, bag %" PRId64
                  " lists another hash for it",
                  e->ref, hex, c->seq);
    }
    return 0;
}

/* The chain: bag seq's link against the bytes of the bag visited just before it. A missing,
 * replaced or moved bag is named by the link of the bag after it. */
static void check_link(struct ctx *c, int64_t seq, const struct tsb_bag *parsed)
{
    const uint8_t *prev = c->prev_seq != 0 && c->prev_seq == seq - 1 ? c->prev_digest : NULL;
    enum tsb_link l = tsb_link_judge(parsed, prev, c->prev_seq == 0);
    char why[400];
    switch (l) {
    case TSB_LINK_OK:
        c->st.links++;
        break;
    case TSB_LINK_GENESIS:
        c->st.genesis++;
        break;
    case TSB_LINK_NONE:
        c->st.unlinked++;
        break;
    case TSB_LINK_BROKEN:
    case TSB_LINK_MISSING:
        tsb_link_describe(l, seq, parsed, prev, why, sizeof(why));
        violation(c, TSB_V_CHAIN, seq - 1, 0, "%s", why);
        break;
    }
}

static void check_token(struct ctx *c, const struct tsb_bag_rec *b, const uint8_t *digest)
{
    struct tsb_token_result res;
    struct tsb_token_verify_opts vo = {
        .check_skew = false, .data = b->bytes, .data_len = b->bytes_len};
    if (b->token == NULL || b->token_len == 0) {
        violation(c, TSB_V_TOKEN, b->seq, 0, "bag %" PRId64 " is %s but has no token", b->seq,
                  tsb_bag_state_name(b->state));
        return;
    }
    int r = tsb_token_verify(c->o->verifier, b->token, b->token_len, digest, &vo, &res);
    if (r != 0) {
        violation(c, TSB_V_TOKEN, b->seq, 0, "bag %" PRId64 ": token does not verify: %s", b->seq,
                  r == TSB_ETOKEN ? tsb_token_result_reason(&res) : tsb_err_detail());
        return;
    }
    if (b->tsa_serial == NULL || strcmp(res.serial, b->tsa_serial) != 0 ||
        res.gen_time_ms != b->gen_time_ms)
        violation(c, TSB_V_TOKEN_ID, b->seq, 0,
                  "bag %" PRId64 ": the token is serial %s genTime %" PRId64
                  ", the archive says serial %s genTime %" PRId64,
                  b->seq, res.serial, res.gen_time_ms, b->tsa_serial ? b->tsa_serial : "(none)",
                  b->gen_time_ms);
}

/* A covered bag's EvidenceRecord, assembled from its archive rows, verified for its data objects
 * (its bytes, its token, its second token when its group has one). A bag not covered yet is no
 * violation: tsbag status counts those. */
static void check_evidence(struct ctx *c, const struct tsb_bag_rec *b)
{
    unsigned members = 0;
    struct tsb_buf er;
    struct tsb_tsa2_rec t2 = {0};
    struct tsb_ers_verify_result res;
    int r = tsb_store_ers_members(c->s, b->seq, &members);
    if (r == TSB_ENOTFOUND)
        return;
    tsb_buf_init(&er, 64u << 20);
    if (r == 0)
        r = tsb_store_ers_record(c->s, b->seq, &er);
    if (r == 0 && (members & TSB_ERS_OBJ_TSA2))
        r = tsb_store_tsa2_get(c->s, b->seq, &t2);
    if (r != 0) {
        violation(c, TSB_V_EVIDENCE, b->seq, 0,
                  "bag %" PRId64 ": its evidence record cannot be assembled from the archive: %s",
                  b->seq, tsb_err_detail());
        goto out;
    }
    struct tsb_slice objs[3] = {{b->bytes, b->bytes_len}, {b->token, b->token_len}};
    size_t n = 2;
    if (members & TSB_ERS_OBJ_TSA2)
        objs[n++] = (struct tsb_slice){t2.token, t2.token_len};
    struct tsb_ers_verify_opts vo = {.tv = c->o->ers_verifier, .at_ms = c->o->now_ms};
    if (tsb_ers_verify(er.p, er.len, objs, n, &vo, &res) == 0)
        c->st.evidence++;
    else
        violation(c, TSB_V_EVIDENCE, b->seq, 0,
                  "bag %" PRId64 ": its evidence record does not verify (%s): %s", b->seq,
                  tsb_ers_fail_name(res.fail), res.msg);
out:
    tsb_tsa2_rec_cleanup(&t2);
    tsb_buf_cleanup(&er);
}

static int on_bag(void *arg, const struct tsb_bag_rec *b)
{
    struct ctx *c = arg;
    uint8_t digest[TSB_SHA256_LEN];
    struct tsb_bag *parsed = NULL;
    int r = 0;

    c->st.bags++;
    if (b->seq > c->expected_seq)
        violation(c, TSB_V_GAP, c->expected_seq, 0,
                  b->seq == c->expected_seq + 1 ? "SequenceNumber %" PRId64 " is missing"
                                                : "SequenceNumbers %" PRId64 " to %" PRId64
                                                  " are missing",
                  c->expected_seq, b->seq - 1);
    c->expected_seq = b->seq + 1;

    tsb_sha256(b->bytes, b->bytes_len, digest);
    if (memcmp(digest, b->digest, TSB_SHA256_LEN) != 0)
        violation(c, TSB_V_BAG_DIGEST, b->seq, 0,
                  "bag %" PRId64 ": its bytes no longer hash to the digest recorded at sealing",
                  b->seq);
    const struct tsb_bag_limits *lim = &c->o->limits;
    r = tsb_bag_parse(b->bytes, b->bytes_len, lim->max_bytes || lim->max_entries ? lim : NULL,
                      &parsed);
    if (r != 0) {
        violation(c, TSB_V_BAG_FORMAT, b->seq, 0, "bag %" PRId64 " is not a well-formed bag: %s",
                  b->seq, tsb_err_detail());
        parsed = NULL;
    } else {
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (size_t i = 0; i < parsed->n; i++) {
            lo = parsed->entries[i].ref < lo ? parsed->entries[i].ref : lo;
            hi = parsed->entries[i].ref > hi ? parsed->entries[i].ref : hi;
        }
        if (parsed->seq != b->seq)
            violation(c, TSB_V_BAG_HEADER, b->seq, 0,
                      "bag %" PRId64 "'s bytes carry SequenceNumber %" PRId64, b->seq, parsed->seq);
        if ((int64_t)parsed->n != b->entry_count || lo != b->first_ref || hi != b->last_ref)
            violation(c, TSB_V_BAG_HEADER, b->seq, 0,
                      "bag %" PRId64 ": its bytes hold %zu entries, Refs %" PRId64 "..%" PRId64
                      "; its row says %" PRId64 " entries, Refs %" PRId64 "..%" PRId64,
                      b->seq, parsed->n, lo, hi, b->entry_count, b->first_ref, b->last_ref);
        check_link(c, b->seq, parsed);
    }
    c->prev_seq = b->seq;
    memcpy(c->prev_digest, digest, TSB_SHA256_LEN);

    if (b->state == TSB_BAG_STAMPED || b->state == TSB_BAG_RECOVERED) {
        if (b->state == TSB_BAG_STAMPED)
            c->st.stamped++;
        else
            c->st.recovered++;
        check_token(c, b, digest);
        if (c->o->ers_verifier != NULL)
            check_evidence(c, b);
        if (c->last_gen_seq != 0 && b->gen_time_ms < c->last_gen)
            violation(c, TSB_V_ORDER, b->seq, 0,
                      "bag %" PRId64 " was stamped at %" PRId64 ", before bag %" PRId64
                      " (stamped at %" PRId64 ")",
                      b->seq, b->gen_time_ms, c->last_gen_seq, c->last_gen);
        c->last_gen = b->gen_time_ms;
        c->last_gen_seq = b->seq;
    } else {
        c->st.unstamped++;
    }

    c->bag = parsed;
    c->seq = b->seq;
    c->pos = 0;
    r = tsb_store_entries_by_bag(c->s, b->seq, on_bag_entry, c);
    if (r == 0 && parsed != NULL)
        for (size_t i = c->pos; i < parsed->n; i++)
            violation(c, TSB_V_ENTRY_LINK, b->seq, parsed->entries[i].ref,
                      "bag %" PRId64 " lists Ref %" PRId64 " at position %zu, but no journal row "
                      "is there",
                      b->seq, parsed->entries[i].ref, i);
    c->bag = NULL;
    tsb_bag_free(parsed);
    progress(c, "bags", c->st.bags, c->total_bags);
    return r;
}

static int on_entry(void *arg, const struct tsb_entry_rec *e)
{
    struct ctx *c = arg;
    c->st.entries++;
    /* a row's bag is the bag whose Ref range holds it (schema 0008): below the last sealed Ref,
     * a row in no range belonged to a bag that is gone, or was inserted behind the store */
    if (e->bag_seq == 0 && e->ref <= c->sealed_ref)
        violation(c, TSB_V_ENTRY_ORPHAN, 0, e->ref,
                  "journal row Ref %" PRId64 " is in no bag, although every entry up to Ref "
                  "%" PRId64 " was sealed",
                  e->ref, c->sealed_ref);
    if (e->content != NULL) {
        uint8_t d[TSB_SHA256_LEN];
        c->st.contents++;
        tsb_sha256(e->content, e->content_len, d);
        if (memcmp(d, e->digest, TSB_SHA256_LEN) != 0)
            violation(c, TSB_V_ENTRY_CONTENT, e->bag_seq, e->ref,
                      "journal row Ref %" PRId64 ": its stored content no longer hashes to its "
                      "hash",
                      e->ref);
    }
    if (c->st.entries % 4096 == 0)
        progress(c, "entries", c->st.entries, c->total_entries);
    return 0;
}

/* ---- the digest index (schemas 0012, 0015) ----------------------------------------------- */

struct hash_ref {
    int64_t ref;
    uint8_t hash[TSB_SHA256_LEN];
};

/* One epoch's journal rows: by Ref as read (rows), and a copy in the index's key order (sorted:
 * the hash's first TSB_HASH_KEY_BYTES bytes, then the Ref). */
struct epoch_rows {
    struct hash_ref *rows, *sorted;
    size_t n, next; /* next: the merge's position in sorted[] */
    int64_t hashed_ref;
    struct ctx *c;
};

/* A journal row against an index key (prefix, ref), in key order. */
static int cmp_key(const struct hash_ref *a, uint32_t prefix, int64_t ref)
{
    uint32_t p = tsb_hash_key_prefix(a->hash);
    if (p != prefix)
        return p < prefix ? -1 : 1;
    return (a->ref > ref) - (a->ref < ref);
}

static int cmp_hash_ref(const void *pa, const void *pb)
{
    const struct hash_ref *b = pb;
    return cmp_key(pa, tsb_hash_key_prefix(b->hash), b->ref);
}

static int on_epoch_entry(void *arg, int64_t ref, const uint8_t hash[TSB_SHA256_LEN])
{
    struct epoch_rows *er = arg;
    if (er->n >= ((size_t)1 << TSB_HASH_EPOCH_BITS))
        return tsb_err(TSB_EINTERNAL, "check: more journal rows in an epoch than Refs");
    er->rows[er->n].ref = ref;
    memcpy(er->rows[er->n].hash, hash, TSB_SHA256_LEN);
    er->n++;
    return 0;
}

static void index_damage(struct ctx *c, int64_t ref, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void index_damage(struct ctx *c, int64_t ref, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    c->st.damage++;
    violation(c, TSB_V_DAMAGE, 0, ref,
              "%s: the archive file is damaged (tsbag verify --hash answers from the journal rows "
              "when the index misses one, and says so); see docs/reconcile.md, Archive damage",
              what);
}

/* The journal row Ref ref of this epoch, or NULL (rows[] is in Ref order). */
static const struct hash_ref *epoch_row(const struct epoch_rows *er, int64_t ref)
{
    size_t lo = 0, hi = er->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (er->rows[mid].ref < ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < er->n && er->rows[lo].ref == ref ? &er->rows[lo] : NULL;
}

/* Journal rows up to the watermark that sort before the index key (prefix, ref) (all the rest
 * when last) are missing from the index. */
static void missing_before(struct epoch_rows *er, bool last, uint32_t prefix, int64_t ref)
{
    char hex[TSB_HASH_STR_MAX];
    for (; er->next < er->n; er->next++) {
        const struct hash_ref *e = &er->sorted[er->next];
        if (!last && cmp_key(e, prefix, ref) >= 0)
            return;
        if (e->ref < 1 || e->ref > er->hashed_ref)
            continue; /* not indexed yet (tsbagd's writer gets to it), or no Ref a step takes
                       * (Refs start at 1: a row inserted behind the store is an orphan) */
        tsb_hash_encode(e->hash, TSB_HASH_HEX, hex);
        index_damage(er->c, e->ref,
                     "journal row Ref %" PRId64 " (hash %s) is missing from the digest index "
                     "(digest_keys), which covers every Ref up to %" PRId64,
                     e->ref, hex, er->hashed_ref);
    }
}

static int on_index_row(void *arg, int64_t ref, uint32_t prefix)
{
    struct epoch_rows *er = arg;
    char hex[TSB_HASH_STR_MAX];
    missing_before(er, false, prefix, ref);
    if (er->next < er->n && cmp_key(&er->sorted[er->next], prefix, ref) == 0) {
        er->next++;
        return 0;
    }
    const struct hash_ref *e = epoch_row(er, ref);
    if (e == NULL) {
        index_damage(er->c, ref,
                     "the digest index (digest_keys) lists Ref %" PRId64 " under a hash starting "
                     "%06" PRIx32 ", but no journal row has that Ref",
                     ref, prefix);
    } else {
        tsb_hash_encode(e->hash, TSB_HASH_HEX, hex);
        index_damage(er->c, ref,
                     "the digest index (digest_keys) lists Ref %" PRId64 " under a hash starting "
                     "%06" PRIx32 ", but its journal row has hash %s",
                     ref, prefix, hex);
    }
    return 0;
}

/* Each epoch's journal rows against the index's rows of that epoch: every row up to the
 * watermark indexed under its hash, every index row (above the watermark too) a journal row's. */
static int check_hash_index(struct ctx *c, int64_t hashed_ref, int64_t last_ref)
{
    int r = 0;
    int64_t max_epoch = -1;
    size_t cap = (size_t)1 << TSB_HASH_EPOCH_BITS;
    struct epoch_rows er = {.hashed_ref = hashed_ref, .c = c};
    if ((r = tsb_store_hash_index_max_epoch(c->s, &max_epoch)) != 0)
        return r;
    if (last_ref >> TSB_HASH_EPOCH_BITS > max_epoch)
        max_epoch = last_ref >> TSB_HASH_EPOCH_BITS;
    er.rows = tsb_calloc(cap, sizeof(*er.rows));
    er.sorted = tsb_calloc(cap, sizeof(*er.sorted));
    for (int64_t e = 0; r == 0 && e <= max_epoch; e++) {
        int64_t lo = e << TSB_HASH_EPOCH_BITS;
        er.n = er.next = 0;
        if ((r = tsb_store_entry_hashes(c->s, lo, lo + (int64_t)cap - 1, on_epoch_entry, &er)) != 0)
            break;
        if (er.n > 0)
            memcpy(er.sorted, er.rows, er.n * sizeof(*er.rows));
        qsort(er.sorted, er.n, sizeof(*er.sorted), cmp_hash_ref);
        if ((r = tsb_store_hash_index_rows(c->s, e, on_index_row, &er)) != 0)
            break;
        missing_before(&er, true, 0, 0);
        progress(c, "digest index", e + 1, max_epoch + 1);
    }
    free(er.rows);
    free(er.sorted);
    return r;
}

static void on_integrity(void *arg, const char *problem)
{
    struct ctx *c = arg;
    c->st.damage++;
    violation(c, TSB_V_DAMAGE, 0, 0, "SQLite integrity_check: %s", problem);
}

int tsb_check_archive(struct tsb_store *s, const struct tsb_check_opts *o,
                      struct tsb_check_stats *out)
{
    int r = TSB_EINTERNAL;
    int64_t problems = 0;
    struct tsb_store_stats ss;
    struct ctx c = {.s = s, .o = o, .expected_seq = 1};
    if (o == NULL || o->verifier == NULL)
        return tsb_err(TSB_EINVAL, "the archive check needs the TSA trust anchors");
    if (o->first_seq > 1)
        c.expected_seq = o->first_seq; /* sealer.first_sequence: gaps are counted from there */
    /* the integrity check is one statement, hence one snapshot of its own: kept out of the
     * walks' snapshot, so that neither read holds back the WAL's checkpoint for the whole run */
    progress(&c, "integrity check", 0, 0);
    if ((r = tsb_store_integrity(s, false, on_integrity, &c, &problems)) != 0)
        goto out_free;
    if ((r = tsb_store_snapshot_begin(s)) != 0)
        goto out_free;
    if ((r = tsb_store_stats(s, &ss)) != 0)
        goto out;
    c.total_entries = ss.entries;
    c.sealed_ref = ss.sealed_ref;
    for (int i = 0; i < TSB_BAG_NSTATES; i++)
        c.total_bags += ss.bags[i];
    if ((r = tsb_store_bags_walk(s, on_bag, &c)) != 0)
        goto out;
    if ((r = tsb_store_entries_walk(s, on_entry, &c)) != 0)
        goto out;
    progress(&c, "entries", c.st.entries, c.total_entries);
    if ((r = check_hash_index(&c, ss.hashed_ref, ss.last_ref)) != 0)
        goto out;
out:
    tsb_store_snapshot_end(s);
out_free:
    if (r != 0 && (c.st.damage > 0 || r == TSB_EDAMAGED)) {
        /* reading a damaged file may fail: that is one more finding, not a check that could
         * not run */
        c.st.damage++;
        violation(&c, TSB_V_DAMAGE, 0, 0, "the archive check stopped reading: %s",
                  tsb_err_detail());
        r = 0;
    }
    if (r == 0)
        *out = c.st;
    return r;
}
