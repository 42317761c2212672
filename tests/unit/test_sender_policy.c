/* Unit tests for sender_policy (src/daemon/sender_policy.c, compiled into this test) and the
 * backoff the TSA clients retry with (src/core/backoff.c): the backoff doubles from retry_min_ms
 * per failure up to retry_max_ms, its jitter stays within [d/2, d] and reaches both ends; which
 * failures hold a bag (definitive at once, suspect on the second equal failure, transient never).
 * Answer classification itself is tested in test_dss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"
#include "sender_policy.h"

static const struct {
    int64_t min, max;
    int streak;
    int64_t d; /* the delay before jitter */
} backoff_kat[] = {
    {100, 400, 1, 100},
    {100, 400, 2, 200},
    {100, 400, 3, 400},
    {100, 400, 4, 400},
    {100, 400, 60, 400}, /* capped, and no overflow */
    {1000, 300000, 1, 1000},
    {1000, 300000, 9, 256000},
    {1000, 300000, 10, 300000},
    {500, 500, 1, 500},
    {500, 300, 1, 300}, /* max below min: max wins */
    {0, 0, 5, 0},
};

static void test_backoff(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(backoff_kat) / sizeof(backoff_kat[0]); i++) {
        int64_t d = backoff_kat[i].d;
        int64_t lo =
            tsb_backoff_jitter_ms(backoff_kat[i].min, backoff_kat[i].max, backoff_kat[i].streak, 0);
        int64_t hi = tsb_backoff_jitter_ms(backoff_kat[i].min, backoff_kat[i].max,
                                           backoff_kat[i].streak, (uint32_t)(d / 2));
        if (lo != d / 2 || hi != d / 2 + d / 2)
            fail_msg("case %zu: jitter range [%lld, %lld], want [%lld, %lld]", i, (long long)lo,
                     (long long)hi, (long long)(d / 2), (long long)(d / 2 + d / 2));
        for (uint32_t rnd = 0; rnd < 100000; rnd += 7919) {
            int64_t v = tsb_backoff_jitter_ms(backoff_kat[i].min, backoff_kat[i].max,
                                              backoff_kat[i].streak, rnd * 2654435761u);
            assert_true(v >= d / 2 && v <= d);
        }
    }
}

static void test_holds(void **state)
{
    (void)state;
    assert_false(tsb_sender_holds(TSB_DSS_TRANSIENT, false));
    assert_false(tsb_sender_holds(TSB_DSS_TRANSIENT, true));
    assert_false(tsb_sender_holds(TSB_DSS_SUSPECT, false)); /* retried once */
    assert_true(tsb_sender_holds(TSB_DSS_SUSPECT, true));   /* the same failure again */
    assert_true(tsb_sender_holds(TSB_DSS_DEFINITIVE, false));
    assert_true(tsb_sender_holds(TSB_DSS_DEFINITIVE, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
