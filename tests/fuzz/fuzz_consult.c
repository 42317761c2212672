/*
 * fuzz_consult: the TimeStampConsult answer parsers (checkCompleteness and getTimestamp) on
 * arbitrary bytes, as reconciliation receives them from the network. Both parsers see every
 * input, with small caps so the size limits are explored too; each recovered bag then goes
 * through the strict bag parser, as reconcile does before trusting it.
 */
#include "bag.h"
#include "consult.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct tsb_consult_limits lim = {.max_response = 1 << 20, .max_bag = 1 << 16};
    static const struct tsb_bag_limits blim = {.max_bytes = 1 << 16, .max_entries = 1000};
    struct tsb_consult_answer a;

    tsb_consult_answer_init(&a);
    (void)tsb_consult_parse_check(data, size, TSB_BAG_NS_V2, &lim, &a);
    tsb_consult_answer_cleanup(&a);

    tsb_consult_answer_init(&a);
    if (tsb_consult_parse_get(data, size, TSB_BAG_NS_V2, &lim, &a) == 0) {
        for (size_t i = 0; i < a.n_bags; i++) {
            struct tsb_bag *b = NULL;
            if (tsb_bag_parse(a.bags[i].bag.p, a.bags[i].bag.len, &blim, &b) == 0)
                tsb_bag_free(b);
        }
    }
    tsb_consult_answer_cleanup(&a);
    return 0;
}
