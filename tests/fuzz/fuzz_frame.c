/*
 * fuzz_frame: the ingest frame decoder and every body parser on arbitrary bytes. The first input
 * byte picks the chunk size the stream is fed in, so splits across reads are explored too; every
 * decoded frame goes through the parser of its type, as the daemon and the client would.
 */
#include "frame.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_one(const struct tsb_frame *f)
{
    static const struct tsb_frame_limits lim = {.max_source = 64, .max_client_ref = 256};
    enum tsb_nack nack;
    struct tsb_hello h;
    struct tsb_submit s;
    struct tsb_hello_ok ho;
    struct tsb_ack a;
    struct tsb_nack_reply nr;
    struct tsb_status st;
    struct tsb_seal_ok so;

    switch (f->type) {
    case TSB_FT_HELLO:
        (void)tsb_frame_parse_hello(f->body, &lim, &h, &nack);
        break;
    case TSB_FT_SUBMIT:
    case TSB_FT_SUBMIT_HASH:
        (void)tsb_frame_parse_submit(f->type, f->body, &lim, &s, &nack);
        break;
    case TSB_FT_HELLO_OK:
        (void)tsb_frame_parse_hello_ok(f->body, &ho);
        break;
    case TSB_FT_ACK:
        (void)tsb_frame_parse_ack(f->body, &a);
        break;
    case TSB_FT_NACK:
        if (tsb_frame_parse_nack(f->body, &nr) == 0)
            (void)tsb_frame_ref_ok(nr.reason, TSB_NACK_REASON_MAX);
        break;
    case TSB_FT_STATUS_OK:
        (void)tsb_frame_parse_status(f->body, &st);
        break;
    case TSB_FT_SEAL_OK:
        (void)tsb_frame_parse_seal_ok(f->body, &so);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    data++;
    size--;
    struct tsb_frame_decoder dec;
    tsb_frame_decoder_init(&dec, 4096);
    for (size_t off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk;
        struct tsb_slice in = {data + off, n};
        struct tsb_frame f;
        int r;
        while ((r = tsb_frame_decode(&dec, &in, &f)) == 1)
            parse_one(&f);
        if (r < 0)
            break;
        off += n;
    }
    tsb_frame_decoder_cleanup(&dec);
    return 0;
}
