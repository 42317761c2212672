/*
 * store_ers: reads a bag's archive timestamp rows (store.c's tsb_store_ers_links, in chain then
 * position order) and re-encodes each ArchiveTimeStamp with ers.c, so that the record is a pure
 * function of the rows. Rows that do not make a record (a chain or position missing, a reduced
 * hash tree that is no DER) are TSB_ESTORE: the schema's trigger should have made that
 * impossible, so it means a damaged archive.
 */
#include "store_ers.h"

#include "err.h"
#include "ers.h"

#include <stdlib.h>
#include <string.h>

#define ERS_RECORD_MAX (16u << 20) /* the decoder's default cap on a whole EvidenceRecord */

/* Every ArchiveTimeStamp of one bag, encoded back to back in der; ats[i] is the i-th one's place
 * in der, chain_end[c] the number of ArchiveTimeStamps in chains 0..c. */
struct collect {
    struct tsb_buf der;
    size_t *off, *len;
    size_t n, cap;
    size_t *chain_end;
    size_t n_chains;
    int64_t position; /* of the last ArchiveTimeStamp read, in its chain */
    int64_t seq;
    unsigned members;
    int r;
};

static int on_link(void *arg, const struct tsb_ers_link_rec *l)
{
    struct collect *c = arg;
    enum tsb_ers_alg alg;
    int r = tsb_ers_alg_parse(l->alg, &alg);
    if (r != 0)
        return tsb_err(TSB_ESTORE, "bag %lld: archive timestamp %lld.%lld has algorithm \"%s\"",
                       (long long)l->seq, (long long)l->chain, (long long)l->position, l->alg);
    bool new_chain = l->position == 1;
    if (new_chain ? l->chain != (int64_t)c->n_chains + 1
                  : l->chain != (int64_t)c->n_chains || l->position != c->position + 1)
        return tsb_err(TSB_ESTORE,
                       "bag %lld: archive timestamp %lld.%lld does not follow the one before it "
                       "(a chain or a position is missing from the archive)",
                       (long long)l->seq, (long long)l->chain, (long long)l->position);
    if (c->n == 0)
        c->members = l->members;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->off = tsb_realloc(c->off, c->cap * sizeof(*c->off));
        c->len = tsb_realloc(c->len, c->cap * sizeof(*c->len));
        c->chain_end = tsb_realloc(c->chain_end, c->cap * sizeof(*c->chain_end));
    }
    size_t before = c->der.len;
    if ((r = tsb_ers_ats_encode(alg, l->path, l->path_len, l->token, l->token_len, &c->der)) != 0)
        return r == TSB_ETOOBIG ? r
                                : tsb_err(TSB_ESTORE,
                                          "bag %lld: archive timestamp %lld.%lld cannot be "
                                          "encoded: %s",
                                          (long long)l->seq, (long long)l->chain,
                                          (long long)l->position, tsb_err_detail());
    c->off[c->n] = before;
    c->len[c->n] = c->der.len - before;
    c->n++;
    if (new_chain)
        c->n_chains++;
    c->position = l->position;
    c->chain_end[c->n_chains - 1] = c->n;
    return 0;
}

static void collect_cleanup(struct collect *c)
{
    tsb_buf_cleanup(&c->der);
    free(c->off);
    free(c->len);
    free(c->chain_end);
}

/* Reads bag seq's ArchiveTimeStamps (in one snapshot unless the caller holds one) and hands the
 * chains to encode (the record, or the sequence alone). */
static int assemble(struct tsb_store *s, int64_t seq, bool record, struct tsb_buf *out,
                    unsigned *members)
{
    int r = TSB_EINTERNAL;
    struct collect c = {.seq = seq};
    struct tsb_slice *ats = NULL;
    struct tsb_ers_chain_in *chains = NULL;
    tsb_buf_init(&c.der, ERS_RECORD_MAX);
    bool own = tsb_store_snapshot_begin(s) == 0;
    r = tsb_store_ers_links(s, seq, on_link, &c);
    if (own)
        tsb_store_snapshot_end(s);
    if (r != 0)
        goto out;
    if (c.n == 0) {
        r = tsb_err(TSB_ENOTFOUND,
                    "bag %lld has no archive timestamp yet (absent, not stamped, or tsbag renew "
                    "has not run since it was stamped)",
                    (long long)seq);
        goto out;
    }
    if (members != NULL) {
        *members = c.members;
        r = 0;
        goto out;
    }
    ats = tsb_calloc(c.n, sizeof(*ats));
    chains = tsb_calloc(c.n_chains, sizeof(*chains));
    for (size_t i = 0; i < c.n; i++)
        ats[i] = (struct tsb_slice){c.der.p + c.off[i], c.len[i]};
    for (size_t k = 0, first = 0; k < c.n_chains; first = c.chain_end[k], k++)
        chains[k] = (struct tsb_ers_chain_in){ats + first, c.chain_end[k] - first};
    r = record ? tsb_ers_record_encode(chains, c.n_chains, out)
               : tsb_ers_sequence_encode(chains, c.n_chains, out);
out:
    free(ats);
    free(chains);
    collect_cleanup(&c);
    return r;
}

int tsb_store_ers_record(struct tsb_store *s, int64_t seq, struct tsb_buf *der)
{
    return assemble(s, seq, true, der, NULL);
}

int tsb_store_ers_sequence(struct tsb_store *s, int64_t seq, struct tsb_buf *der)
{
    return assemble(s, seq, false, der, NULL);
}

int tsb_store_ers_members(struct tsb_store *s, int64_t seq, unsigned *members)
{
    return assemble(s, seq, false, NULL, members);
}
