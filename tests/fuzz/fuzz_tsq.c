/*
 * fuzz_tsq: tsb_tsq_check_reply on arbitrary bytes as a second TSA's TimeStampResp, against a
 * fixed request (digest and nonce). Whatever the status, token or TSTInfo holds, the check must
 * answer with a reason and hand out a token only when it accepted the reply.
 */
#include "hash.h"
#include "mem.h"
#include "tsq.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t nonce[TSB_TSQ_NONCE_LEN] = {0x81, 2, 3, 4, 5, 6, 7, 8};
    uint8_t digest[TSB_SHA256_LEN] = {0};
    char why[TSB_TSQ_REASON_MAX];
    struct tsb_buf token;
    tsb_buf_init(&token, 1 << 20);
    enum tsb_tsq_fail f = tsb_tsq_check_reply(data, size, digest, nonce, &token, why);
    if (f != TSB_TSQ_OK && token.len != 0)
        abort(); /* a refused reply never yields a token */
    if (f != TSB_TSQ_OK && why[0] == '\0')
        abort(); /* every refusal says why */
    tsb_buf_cleanup(&token);
    return 0;
}
