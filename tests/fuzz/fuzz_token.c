/*
 * fuzz_token: tsb_token_verify on arbitrary bytes as a DER TimeStampToken, with the stamped data,
 * a policy list and a throw-away anchor (fuzz_anchor.h). Every check must report without
 * crashing, leaking or reading out of bounds, whatever the token's structure, algorithms or
 * certificates.
 */
#include "fuzz_anchor.h"
#include "token.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tsb_token_verifier *v;
    if (v == NULL)
        v = tsb_fuzz_anchor_verifier("1.2.3.4.1, 2.999.7355.1.1"); /* lives for the process */
    static const uint8_t bag[] = "<TimeStampBag SequenceNumber=\"1\"/>";
    struct tsb_token_verify_opts o = {.data = bag, .data_len = sizeof(bag) - 1};
    struct tsb_token_result res;
    (void)tsb_token_verify(v, data, size, NULL, &o, &res);
    (void)tsb_token_result_reason(&res);
    return 0;
}
