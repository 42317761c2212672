/*
 * fuzz_dss_response: the TSA answer parser on arbitrary bytes, as the sender calls it (1 MiB cap,
 * an expected RequestID), then the token decoder on the same bytes as if they were the text of an
 * RFC3161TimeStampToken element. Neither may crash, leak or read out of bounds.
 */
#include "dss.h"
#include "token.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tsb_dss_response r;
    tsb_dss_response_init(&r);
    if (tsb_dss_parse_response(data, size, 1 << 20, "RID-1", &r) == 0) {
        char why[256];
        tsb_dss_response_reason(&r, why, sizeof(why));
    }
    tsb_dss_response_cleanup(&r);

    struct tsb_buf der;
    struct tsb_token_form form;
    tsb_buf_init(&der, 1 << 20);
    (void)tsb_token_decode(data, size, &der, &form);
    tsb_buf_cleanup(&der);
    return 0;
}
