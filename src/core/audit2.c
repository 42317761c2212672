/*
 * audit2: see audit2.h. A thin layer over token.c: the same verifier type, fed with the second
 * TSA's files, so that a second token is held to exactly the rules of an eHealth token.
 */
#include "audit2.h"

#include "err.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tsb_audit2 {
    struct tsb_token_verifier *v; /* NULL: no anchors, nothing checked */
};

const char *tsb_second_verdict_name(enum tsb_second_verdict v)
{
    static const char *const names[] = {"VALID", "INVALID", "MISSING", "NOT CHECKED"};
    return (unsigned)v < 4 ? names[v] : "unknown";
}

const char *tsb_second_verdict_id(enum tsb_second_verdict v)
{
    static const char *const ids[] = {"valid", "invalid", "missing", "not_checked"};
    return (unsigned)v < 4 ? ids[v] : "unknown";
}

int tsb_audit2_new(const char *anchors_pem, const char *tsa_certs, const char *policy_oids,
                   struct tsb_audit2 **out)
{
    struct tsb_audit2 *a = tsb_calloc(1, sizeof(*a));
    if (anchors_pem != NULL && anchors_pem[0] != '\0') {
        int r = tsb_token_verifier_from_files(anchors_pem, tsa_certs, policy_oids, &a->v);
        if (r != 0) {
            free(a);
            return tsb_err(r, "second TSA: %s", tsb_err_detail());
        }
    }
    *out = a;
    return 0;
}

bool tsb_audit2_enabled(const struct tsb_audit2 *a)
{
    return a->v != NULL;
}

void tsb_audit2_free(struct tsb_audit2 *a)
{
    if (a == NULL)
        return;
    tsb_token_verifier_free(a->v);
    free(a);
}

void tsb_audit2_check(const struct tsb_audit2 *a, int64_t seq, const uint8_t *bytes, size_t len,
                      const uint8_t *token, size_t token_len, const uint8_t *extra_pem,
                      size_t extra_len, struct tsb_buf *chain_pem, struct tsb_second_result *out)
{
    struct tsb_token_result res;
    memset(out, 0, sizeof(*out));
    if (token == NULL || token_len == 0) {
        out->verdict = TSB_SECOND_MISSING;
        snprintf(out->reason, sizeof(out->reason), "bag %lld has no second token", (long long)seq);
        return;
    }
    if (a->v == NULL) {
        out->verdict = TSB_SECOND_UNCHECKED;
        snprintf(out->reason, sizeof(out->reason),
                 "no second-TSA anchors (tsa2.trust_anchors or --tsa2-anchors): not checked");
        return;
    }
    struct tsb_token_verify_opts vo = {.check_skew = false,
                                       .data = bytes,
                                       .data_len = len,
                                       .extra_pem = extra_pem,
                                       .extra_pem_len = extra_len,
                                       .chain_pem = chain_pem};
    int r = tsb_token_verify(a->v, token, token_len, NULL, &vo, &res);
    snprintf(out->serial, sizeof(out->serial), "%s", res.serial);
    out->gen_time_ms = res.gen_time_ms;
    snprintf(out->tsa_subject, sizeof(out->tsa_subject), "%s", res.tsa_subject);
    snprintf(out->policy, sizeof(out->policy), "%s", res.policy);
    if (r == 0) {
        out->verdict = TSB_SECOND_VALID;
        snprintf(out->reason, sizeof(out->reason), "every token check passed");
        return;
    }
    int c = 0;
    while (c < TSB_TCHK_N && res.outcome[c] != TSB_CHECK_FAIL)
        c++;
    out->verdict = TSB_SECOND_INVALID;
    snprintf(out->reason, sizeof(out->reason), "%s: %s",
             c < TSB_TCHK_N ? tsb_token_check_name(c) : "verifier", tsb_token_result_reason(&res));
}
