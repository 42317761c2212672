/*
 * fuzz_sim_soap: drives the simulator's request parser (tools/ehealth-sim/soap.c) with arbitrary
 * bytes: envelope walk, then the SignRequest or TSConsult payload parsing. It must never crash,
 * leak or read out of bounds, whatever the input.
 */
#include "err.h"
#include "sim.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sim_req req;
    if (sim_request_parse(data, size, 1 << 20, &req) == 0) {
        if (req.op == SIM_OP_STAMP)
            (void)sim_stamp_parse(&req, 1 << 20);
        else
            (void)sim_consult_parse(&req);
    }
    sim_req_cleanup(&req);
    int64_t ms;
    char text[64];
    size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    for (size_t i = 0; i < n; i++)
        text[i] = data[i] ? (char)data[i] : ' ';
    text[n] = '\0';
    (void)sim_parse_datetime(text, &ms);
    tsb_err_clear();
    return 0;
}
