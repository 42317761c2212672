/*
 * fuzz_ers: the EvidenceRecord decoder and verifier on arbitrary bytes. The record is decoded,
 * every reduced hash tree walked, and verified for a fixed group of data objects against a
 * throw-away anchor (fuzz_anchor.h). Any input must end in a verdict with a sentence, without
 * crashing, leaking or reading out of bounds, and the decoder and the verifier must agree on what
 * is malformed.
 */
#include "ers.h"
#include "fuzz_anchor.h"
#include "token.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tsb_token_verifier *v;
    if (v == NULL)
        v = tsb_fuzz_anchor_verifier(NULL);
    /* the members of the corpus records' group (tests/fuzz/corpus/ers) */
    static const char bag[] = "<TimeStampBag seq=\"1\"/>", tok[] = "token 1";
    const struct tsb_slice objs[2] = {{(const uint8_t *)bag, sizeof(bag) - 1},
                                      {(const uint8_t *)tok, sizeof(tok) - 1}};
    struct tsb_ers_record *rec = NULL;
    int dr = tsb_ers_record_decode(data, size, NULL, &rec);
    if (dr == 0) {
        uint8_t root[TSB_ERS_HASH_MAX];
        for (size_t k = 0; k < rec->n_chains; k++)
            for (size_t j = 0; j < rec->chain[k].n; j++) {
                const struct tsb_ers_ats *a = &rec->chain[k].ats[j];
                if (a->token.p < data || a->token.p + a->token.len > data + size)
                    abort(); /* slices stay inside the input */
                if (a->alg != TSB_ERS_ALG_NONE && a->n_lists > 0)
                    (void)tsb_ers_ats_root(a->alg, a, root);
            }
        tsb_ers_record_free(rec);
    }
    struct tsb_ers_verify_opts o = {.tv = v, .at_ms = 1767225600000LL};
    struct tsb_ers_verify_result res;
    int r = tsb_ers_verify(data, size, objs, 2, &o, &res);
    if ((r == 0) != (res.fail == TSB_ERS_OK) || res.msg[0] == '\0')
        abort(); /* every outcome says what it is */
    if (dr != 0 && res.fail != TSB_ERS_FAIL_FORMAT && res.fail != TSB_ERS_FAIL_LIMIT)
        abort(); /* what the decoder refuses, the verifier refuses as malformed */
    return 0;
}
