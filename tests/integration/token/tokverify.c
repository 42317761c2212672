/*
 * tokverify: the token table test's window on tsb_token_verify. Verifies one DER token over the
 * bytes of a data file, as the sender, the check and the auditor do, and prints the verdict:
 *   VALID | INVALID, then "gen_time <seconds>", "imprint_alg <name>", and for INVALID
 *   "failed <check>: <message>" for the first failed check.
 * usage: tokverify ANCHORS DATA TOKEN [TSA_CERTS|- [POLICY_OIDS]]
 * Exit 0 VALID, 1 INVALID, 2 when the verifier cannot be set up (the error is printed).
 */
#include "err.h"
#include "testlib.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: tokverify ANCHORS DATA TOKEN [TSA_CERTS|- [POLICY_OIDS]]\n");
        return 2;
    }
    const char *certs = argc > 4 && strcmp(argv[4], "-") != 0 ? argv[4] : NULL;
    const char *policies = argc > 5 ? argv[5] : NULL;
    struct tsb_token_verifier *v = NULL;
    if (tsb_token_verifier_from_files(argv[1], certs, policies, &v) != 0) {
        fprintf(stderr, "tokverify: %s\n", tsb_err_detail());
        return 2;
    }
    size_t dlen = 0, tlen = 0;
    uint8_t *data = tsb_test_read_file(argv[2], &dlen);
    uint8_t *tok = tsb_test_read_file(argv[3], &tlen);
    if (data == NULL || tok == NULL) {
        fprintf(stderr, "tokverify: cannot read %s or %s\n", argv[2], argv[3]);
        return 2;
    }
    struct tsb_token_verify_opts o = {.check_skew = false, .data = data, .data_len = dlen};
    struct tsb_token_result res;
    int r = tsb_token_verify(v, tok, tlen, NULL, &o, &res);
    printf("%s\ngen_time %lld\nimprint_alg %s\n", r == 0 ? "VALID" : "INVALID",
           (long long)(res.gen_time_ms / 1000), res.imprint_alg);
    for (int c = 0; r != 0 && c < TSB_TCHK_N; c++)
        if (res.outcome[c] == TSB_CHECK_FAIL) {
            printf("failed %s: %s\n", tsb_token_check_name(c), res.message[c]);
            break;
        }
    free(data);
    free(tok);
    tsb_token_verifier_free(v);
    return r == 0 ? 0 : 1;
}
