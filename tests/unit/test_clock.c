/* Unit tests for clock: the seal boundary (the first multiple of the interval strictly after now,
 * for intervals that do and do not divide a day, at, just before and just after a boundary, and
 * before 1970) and the wall clock bracketed by CLOCK_REALTIME readings across a second boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"

#include <time.h>

static const struct {
    int64_t now, interval, want;
} boundary_kat[] = {
    {0, 300000, 300000},                          /* on a boundary: the next one */
    {1, 300000, 300000},                          /* just after */
    {299999, 300000, 300000},                     /* just before */
    {300000, 300000, 600000},                     /* on the next */
    {1782900000000LL, 300000, 1782900300000LL},   /* 2026-07-01T10:00:00Z on a 5-min mark */
    {1782900000001LL, 300000, 1782900300000LL},   /* and 1 ms later */
    {1782900299999LL, 300000, 1782900300000LL},   /* 1 ms before the next mark */
    {1782900123456LL, 7000, 1782900126000LL},     /* 7 s does not divide a day: epoch aligned */
    {1782900000000LL, 86400000, 1782950400000LL}, /* a day: the next UTC midnight */
    {1, 1, 2},
    {-1, 300000, 0},      /* before 1970: floor, not truncation towards zero */
    {-300000, 300000, 0}, /* on a negative boundary */
    {-300001, 300000, -300000},
};

static void test_next_boundary(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(boundary_kat) / sizeof(boundary_kat[0]); i++) {
        int64_t got = tsb_next_boundary_ms(boundary_kat[i].now, boundary_kat[i].interval);
        if (got != boundary_kat[i].want)
            fail_msg("now %lld interval %lld: got %lld, want %lld", (long long)boundary_kat[i].now,
                     (long long)boundary_kat[i].interval, (long long)got,
                     (long long)boundary_kat[i].want);
        /* the contract itself: strictly after now, a multiple, and no boundary in between */
        assert_true(got > boundary_kat[i].now);
        assert_int_equal(got % boundary_kat[i].interval, 0);
        assert_true(got - boundary_kat[i].interval <= boundary_kat[i].now);
    }
}

/* CLOCK_REALTIME in ms, read directly. Not time(2): glibc's time() reads the coarse realtime
 * clock, which lags CLOCK_REALTIME by up to a scheduler tick, so a tsb_now_ms() just past a
 * second boundary fell after time()'s "after" second and the old bracket failed now and then. */
static int64_t realtime_ms(void)
{
    struct timespec ts;
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_now_is_the_wall_clock(void **state)
{
    (void)state;
    /* bracketed by the wall clock on every call until a second boundary has been crossed, the
     * moment where a coarse bracket went wrong */
    int64_t first_second = realtime_ms() / 1000;
    long calls = 0;
    for (;;) {
        int64_t before = realtime_ms();
        int64_t now = tsb_now_ms();
        int64_t after = realtime_ms();
        assert_true(before <= now);
        assert_true(now <= after);
        calls++;
        if (after / 1000 > first_second)
            break;
    }
    assert_true(calls > 0);
    /* milliseconds since the epoch, not seconds or microseconds: after 2020, before 2100 */
    int64_t now = tsb_now_ms();
    assert_true(now > 1577836800000LL && now < 4102444800000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_boundary),
        cmocka_unit_test(test_now_is_the_wall_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
