/*
 * fuzz_bag: tsb_bag_parse on arbitrary bytes. Beyond "no crash, no leak", it checks the codec's
 * properties on every input the parser accepts: the parsed bag is internally sane, rebuilding it
 * gives a bag that parses back to the same content, and building that again gives the same bytes
 * (the writer is deterministic). A refusal must come with a detail.
 */
#include "bag.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_bag: property violated: %s (detail: %s)\n", what, tsb_err_detail());
        abort();
    }
}

static int same_content(const struct tsb_bag *a, const struct tsb_bag *b)
{
    return a->seq == b->seq && a->ns == b->ns && a->enc == b->enc && a->n == b->n &&
           memcmp(a->entries, b->entries, a->n * sizeof(*a->entries)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct tsb_bag_limits lim = {.max_bytes = 1 << 20, .max_entries = 20000};
    struct tsb_bag *b = NULL, *again = NULL;
    struct tsb_buf out, out2;
    tsb_buf_init(&out, 1 << 24);
    tsb_buf_init(&out2, 1 << 24);

    tsb_err_clear();
    int r = tsb_bag_parse(data, size, &lim, &b);
    if (r != 0) {
        check(r < 0 && r > TSB_E_LAST, "parse error code in range");
        check(b == NULL, "no bag on failure");
        check(tsb_err_detail()[0] != '\0', "a refusal carries a detail");
        goto out;
    }
    check(b->n >= 1 && b->n <= lim.max_entries, "entry count within 1..max");
    check(b->root != NULL && b->root[0] != '\0', "root name recorded");
    int increasing = 1;
    for (size_t i = 0; i < b->n; i++) {
        check(b->entries[i].ref > 0, "refs are positive");
        if (i > 0 && b->entries[i].ref <= b->entries[i - 1].ref)
            increasing = 0;
    }

    struct tsb_bag_opts o = {b->ns, b->enc, tsb_bag_check_root(b->root) == 0 ? b->root : NULL,
                             b->linked ? b->prev : NULL};
    r = tsb_bag_build(&o, b->seq, b->entries, b->n, &out);
    if (!increasing) {
        /* the writer only writes Ref order; the parser accepts any order of unique refs */
        check(r == TSB_EINVAL && out.len == 0, "writer refuses refs out of order");
        goto out;
    }
    check(r == 0, "a parsed bag can be rebuilt");
    check(out.len == tsb_bag_size(&o, b->seq, b->entries, b->n), "tsb_bag_size is exact");
    check(tsb_bag_parse(out.p, out.len, NULL, &again) == 0, "a rebuilt bag parses");
    check(same_content(b, again), "parse(build(parse(x))) == parse(x)");
    check(strcmp(again->root, o.root ? o.root : TSB_BAG_ROOT_DEFAULT) == 0, "root name kept");
    check(again->linked == b->linked &&
              (!b->linked || memcmp(again->prev, b->prev, sizeof(b->prev)) == 0),
          "the chain link is kept");
    struct tsb_bag_opts o2 = {again->ns, again->enc, again->root,
                              again->linked ? again->prev : NULL};
    check(tsb_bag_build(&o2, again->seq, again->entries, again->n, &out2) == 0, "rebuild again");
    check(out2.len == out.len && memcmp(out2.p, out.p, out.len) == 0,
          "the writer is deterministic");
out:
    tsb_bag_free(again);
    tsb_bag_free(b);
    tsb_buf_cleanup(&out2);
    tsb_buf_cleanup(&out);
    return 0;
}
