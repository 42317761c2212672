/*
 * renew: the passes of tsbag renew over the archive. A pass collects at most max_leaves bags from
 * one snapshot into a leaf set (per bag: its ArchiveTimeStamp number, group and the hashes the
 * tree needs, never the bag bytes), ends the snapshot, has the tree's root stamped, and commits
 * the tree with every bag's reduced hash tree in one transaction. The next collection starts after
 * the last bag of the previous one, so a pass ends even when a tree was refused as a conflict.
 */
#include "renew.h"

#include "err.h"
#include "store_ers.h"
#include "timefmt.h"

#include <stdlib.h>
#include <string.h>

#define MEMBERS_MAX  3          /* bag, token, second token */
#define PATHS_MAX    (1u << 30) /* reduced hash trees of one tree: far above 4 Mi leaves' */
#define SEQ_DER_MAX  (16u << 20)
#define BAG_OBJ_STOP 1 /* a collection callback's "enough for one tree" */

struct leafset {
    enum tsb_ers_kind kind;
    enum tsb_ers_alg alg;
    size_t hlen, n, cap, max;
    int64_t *seq, *chain, *position;
    unsigned *members;
    size_t *nm;            /* hashes in each bag's first PartialHashtree (0: a lone leaf) */
    uint8_t *member_h;     /* MEMBERS_MAX * hlen per bag */
    uint8_t *leaves;       /* hlen per bag */
    int64_t old_not_after; /* renewal: the latest notAfter of the certificates renewed */
    int64_t late;          /* renewal: bags whose old certificate had already expired */
    int64_t after;         /* the last seq looked at */
    const struct tsb_renew_opts *o;
    struct tsb_store *s;
};

static void leafset_init(struct leafset *l, struct tsb_store *s, const struct tsb_renew_opts *o,
                         enum tsb_ers_kind kind, enum tsb_ers_alg alg)
{
    memset(l, 0, sizeof(*l));
    l->s = s;
    l->o = o;
    l->kind = kind;
    l->alg = alg;
    l->hlen = tsb_ers_alg_len(alg);
    l->max = o->max_leaves ? o->max_leaves : 65536;
}

static void leafset_cleanup(struct leafset *l)
{
    free(l->seq);
    free(l->chain);
    free(l->position);
    free(l->members);
    free(l->nm);
    free(l->member_h);
    free(l->leaves);
}

static void leafset_clear(struct leafset *l)
{
    l->n = 0;
    l->old_not_after = 0;
    l->late = 0;
}

/* Room for one more bag; returns its index. */
static size_t leafset_add(struct leafset *l, int64_t seq, int64_t chain, int64_t position,
                          unsigned members)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->seq = tsb_realloc(l->seq, l->cap * sizeof(*l->seq));
        l->chain = tsb_realloc(l->chain, l->cap * sizeof(*l->chain));
        l->position = tsb_realloc(l->position, l->cap * sizeof(*l->position));
        l->members = tsb_realloc(l->members, l->cap * sizeof(*l->members));
        l->nm = tsb_realloc(l->nm, l->cap * sizeof(*l->nm));
        l->member_h = tsb_realloc(l->member_h, l->cap * MEMBERS_MAX * l->hlen);
        l->leaves = tsb_realloc(l->leaves, l->cap * l->hlen);
    }
    size_t i = l->n++;
    l->seq[i] = seq;
    l->chain[i] = chain;
    l->position[i] = position;
    l->members[i] = members;
    l->nm[i] = 0;
    l->after = seq;
    return i;
}

/* The group's member hashes of bag i with the set's algorithm, in group order: bag, token, second
 * token (members says which). For a rehash each is then combined with the hash of the bag's
 * ArchiveTimeStampSequence. The group leaf follows from them. */
static int group_hashes(struct leafset *l, size_t i, const struct tsb_bag_rec *b)
{
    int r = TSB_EINTERNAL;
    struct tsb_tsa2_rec t2 = {0};
    struct tsb_buf seq_der;
    struct tsb_slice objs[MEMBERS_MAX];
    size_t n = 0;
    uint8_t *h = l->member_h + i * MEMBERS_MAX * l->hlen;
    tsb_buf_init(&seq_der, SEQ_DER_MAX);
    objs[n++] = (struct tsb_slice){b->bytes, b->bytes_len};
    objs[n++] = (struct tsb_slice){b->token, b->token_len};
    if (l->members[i] & TSB_ERS_OBJ_TSA2) {
        if ((r = tsb_store_tsa2_get(l->s, b->seq, &t2)) != 0)
            goto out;
        objs[n++] = (struct tsb_slice){t2.token, t2.token_len};
    }
    if ((r = tsb_ers_hash_objects(l->alg, objs, n, h)) != 0)
        goto out;
    if (l->kind == TSB_ERS_REHASH &&
        ((r = tsb_store_ers_sequence(l->s, b->seq, &seq_der)) != 0 ||
         (r = tsb_ers_rehash_members(l->alg, seq_der.p, seq_der.len, h, n, h)) != 0))
        goto out;
    l->nm[i] = n;
    r = tsb_ers_group_leaf(l->alg, h, n, l->leaves + i * l->hlen);
out:
    tsb_tsa2_rec_cleanup(&t2);
    tsb_buf_cleanup(&seq_der);
    return r;
}

/* ---- collection ----------------------------------------------------------------------------- */

static int on_uncovered(void *arg, const struct tsb_bag_rec *b)
{
    struct leafset *l = arg;
    struct tsb_tsa2_rec t2 = {0};
    unsigned members = TSB_ERS_OBJ_BAG | TSB_ERS_OBJ_TOKEN;
    if (b->token == NULL || b->token_len == 0)
        return tsb_err(TSB_ESTORE, "bag %lld is %s but has no token", (long long)b->seq,
                       tsb_bag_state_name(b->state));
    int r = tsb_store_tsa2_get(l->s, b->seq, &t2);
    if (r == 0)
        members |= TSB_ERS_OBJ_TSA2;
    else if (r != TSB_ENOTFOUND)
        return r;
    tsb_tsa2_rec_cleanup(&t2);
    size_t i = leafset_add(l, b->seq, 1, 1, members);
    if (l->o->dry_run)
        return l->n == l->max ? BAG_OBJ_STOP : 0;
    if ((r = group_hashes(l, i, b)) != 0)
        return r;
    return l->n == l->max ? BAG_OBJ_STOP : 0;
}

static int on_head(void *arg, const struct tsb_ers_link_rec *h)
{
    struct leafset *l = arg;
    struct tsb_bag_rec b = {0};
    enum tsb_ers_alg alg;
    int r = tsb_ers_alg_parse(h->alg, &alg);
    l->after = h->seq;
    if (r != 0)
        return tsb_err(TSB_ESTORE, "bag %lld: archive timestamp %lld.%lld has algorithm \"%s\"",
                       (long long)h->seq, (long long)h->chain, (long long)h->position, h->alg);
    if (l->kind == TSB_ERS_RENEWAL) {
        if (alg != l->alg || h->not_after_ms > l->o->now_ms + l->o->margin_ms)
            return 0;
        size_t i = leafset_add(l, h->seq, h->chain, h->position + 1, h->members);
        if (h->not_after_ms > l->old_not_after)
            l->old_not_after = h->not_after_ms;
        if (h->not_after_ms <= l->o->now_ms)
            l->late++;
        if (!l->o->dry_run &&
            (r = tsb_ers_renewal_leaf(alg, h->token, h->token_len, l->leaves + i * l->hlen)) != 0)
            return r;
        return l->n == l->max ? BAG_OBJ_STOP : 0;
    }
    /* rehash: a new chain for each bag whose latest chain uses another algorithm */
    if (alg == l->alg)
        return 0;
    size_t i = leafset_add(l, h->seq, h->chain + 1, 1, h->members);
    if (!l->o->dry_run) {
        if ((r = tsb_store_bag_get(l->s, h->seq, &b)) == 0)
            r = group_hashes(l, i, &b);
        tsb_bag_rec_cleanup(&b);
        if (r != 0)
            return r;
    }
    return l->n == l->max ? BAG_OBJ_STOP : 0;
}

/* Fills l with the next tree's bags (none: the pass is over), from one snapshot. */
static int collect(struct leafset *l)
{
    leafset_clear(l);
    int r = tsb_store_snapshot_begin(l->s);
    if (r != 0)
        return r;
    if (l->kind == TSB_ERS_INITIAL)
        r = tsb_store_ers_uncovered(l->s, l->after, 0, on_uncovered, l);
    else
        r = tsb_store_ers_heads(l->s, l->after, 0, on_head, l);
    tsb_store_snapshot_end(l->s);
    return r == BAG_OBJ_STOP ? 0 : r;
}

/* ---- one tree ------------------------------------------------------------------------------- */

static int commit_tree(struct leafset *l, struct tsb_renew_result *res)
{
    const struct tsb_renew_opts *o = l->o;
    int r = TSB_EINTERNAL;
    struct tsb_ers_tree *t = NULL;
    struct tsb_renew_token tok = {0};
    struct tsb_buf paths;
    size_t *off = NULL;
    struct tsb_ers_link_in *links = NULL;
    tsb_buf_init(&paths, PATHS_MAX);
    tsb_buf_init(&tok.der, 16u << 20);
    struct tsb_renew_tree_done done = {.kind = l->kind,
                                       .alg = l->alg,
                                       .leaves = l->n,
                                       .first_seq = l->seq[0],
                                       .last_seq = l->seq[l->n - 1],
                                       .late = l->late};
    if (o->dry_run) {
        r = 0;
        goto counted;
    }
    if ((r = tsb_ers_tree_new(l->alg, l->leaves, l->n, &t)) != 0 ||
        (r = o->stamp(o->stamp_arg, l->alg, tsb_ers_tree_root(t), l->hlen, &tok)) != 0)
        goto out;
    if (l->kind == TSB_ERS_RENEWAL && tok.not_after_ms <= l->old_not_after) {
        char now_na[TSB_TIME_STR_MAX], old_na[TSB_TIME_STR_MAX];
        tsb_time_utc_s(tok.not_after_ms, now_na);
        tsb_time_utc_s(l->old_not_after, old_na);
        r = tsb_err(TSB_ETOKEN,
                    "renewal of bags %lld..%lld refused, nothing written: the TSA's certificate "
                    "(%s, valid until %s) would not outlive the one it renews (valid until %s); "
                    "have the TSA use a newer certificate, or name another TSA in renew.url",
                    (long long)l->seq[0], (long long)l->seq[l->n - 1], tok.subject, now_na, old_na);
        goto out;
    }
    off = tsb_calloc(l->n + 1, sizeof(*off));
    for (size_t i = 0; i < l->n; i++) {
        off[i] = paths.len;
        const uint8_t *mh = l->nm[i] ? l->member_h + i * MEMBERS_MAX * l->hlen : NULL;
        if ((r = tsb_ers_tree_reduced(t, i, mh, l->nm[i], &paths)) != 0)
            goto out;
    }
    off[l->n] = paths.len;
    links = tsb_calloc(l->n, sizeof(*links));
    for (size_t i = 0; i < l->n; i++)
        links[i] = (struct tsb_ers_link_in){.seq = l->seq[i],
                                            .chain = l->chain[i],
                                            .position = l->position[i],
                                            .members = l->members[i],
                                            .path = paths.p + off[i],
                                            .path_len = off[i + 1] - off[i]};
    struct tsb_ers_tree_in in = {.kind = l->kind,
                                 .alg = tsb_ers_alg_name(l->alg),
                                 .leaves = l->n,
                                 .url = o->url,
                                 .tsa_serial = tok.serial,
                                 .tsa_subject = tok.subject,
                                 .gen_time_ms = tok.gen_time_ms,
                                 .not_after_ms = tok.not_after_ms,
                                 .root = tsb_ers_tree_root(t),
                                 .root_len = l->hlen,
                                 .token = tok.der.p,
                                 .token_len = tok.der.len};
    r = tsb_store_ers_add_tree(l->s, &in, links, l->n, o->now_ms, &done.tree_id);
    if (r == TSB_ECONFLICT) {
        /* another run covered one of these bags first: nothing of this tree was written, and
         * the next collection no longer sees the bags it covered */
        res->conflicts++;
        r = 0;
        goto out;
    }
    if (r != 0)
        goto out;
    done.tok = &tok;
counted:
    res->trees[l->kind]++;
    res->bags[l->kind] += l->n;
    if (o->report != NULL)
        o->report(o->report_arg, &done);
out:
    free(links);
    free(off);
    tsb_buf_cleanup(&paths);
    tsb_buf_cleanup(&tok.der);
    tsb_ers_tree_free(t);
    return r;
}

static int pass(struct tsb_store *s, const struct tsb_renew_opts *o, enum tsb_ers_kind kind,
                enum tsb_ers_alg alg, struct tsb_renew_result *res)
{
    struct leafset l;
    int r = 0;
    leafset_init(&l, s, o, kind, alg);
    while ((r = collect(&l)) == 0 && l.n > 0)
        if ((r = commit_tree(&l, res)) != 0)
            break;
    leafset_cleanup(&l);
    return r;
}

int tsb_renew_run(struct tsb_store *s, const struct tsb_renew_opts *o, struct tsb_renew_result *res)
{
    static const enum tsb_ers_alg algs[] = {TSB_ERS_SHA256, TSB_ERS_SHA384, TSB_ERS_SHA512};
    int r = 0;
    memset(res, 0, sizeof(*res));
    if (tsb_ers_alg_len(o->alg) == 0 || (!o->dry_run && o->stamp == NULL))
        return tsb_err(TSB_EINVAL, "renew: no algorithm or no TSA to stamp with");
    if ((r = pass(s, o, TSB_ERS_INITIAL, o->alg, res)) != 0)
        return r;
    if (o->rehash != TSB_ERS_ALG_NONE && (r = pass(s, o, TSB_ERS_REHASH, o->rehash, res)) != 0)
        return r;
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if ((r = pass(s, o, TSB_ERS_RENEWAL, algs[i], res)) != 0)
            return r;
    return 0;
}
