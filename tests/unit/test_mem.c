/* Unit tests for mem: tsb_buf's cap (growth stops at max, a refused append keeps the contents,
 * reserve_exact allocates exactly), the accessors that replace direct len/p writes (extend,
 * added, truncate, consume, room) and the NUL they keep after len; and TSB_ASSERT: a violated
 * invariant (tsb_buf_added past the reserve, a truncate that would grow, a consume past the end)
 * aborts the process in builds with TSB_ASSERTS, checked in a forked child. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "mem.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_growth_stops_at_the_cap(void **state)
{
    (void)state;
    struct tsb_buf b;
    tsb_buf_init(&b, 1000);
    uint8_t chunk[300];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 3; i++)
        assert_int_equal(tsb_buf_append(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.len, 900);
    /* doubling from 256 would reach 1024: clamped to the cap plus the NUL */
    assert_true(b.cap <= 1001);
    assert_int_equal(tsb_buf_append(&b, chunk, 101), TSB_ETOOBIG);
    assert_non_null(strstr(tsb_err_detail(), "1000 bytes"));
    assert_int_equal(b.len, 900); /* refused: contents kept */
    assert_int_equal(tsb_buf_append(&b, chunk, 100), 0);
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.p[1000], '\0');
    assert_int_equal(tsb_buf_max(&b), 1000);
    assert_int_equal(tsb_buf_room(&b), 0);
    tsb_buf_cleanup(&b);
}

static void test_reserve_exact_allocates_exactly(void **state)
{
    (void)state;
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    assert_int_equal(tsb_buf_append_str(&b, "head"), 0);
    assert_int_equal(tsb_buf_reserve_exact(&b, 5000), 0);
    assert_int_equal(b.cap, 4 + 5000 + 1);
    assert_int_equal(tsb_buf_room(&b), 5000);
    assert_int_equal(tsb_buf_reserve_exact(&b, 1 << 20), TSB_ETOOBIG);
    assert_int_equal(b.cap, 4 + 5000 + 1);
    tsb_buf_cleanup(&b);
}

static void test_extend_added_truncate_consume(void **state)
{
    (void)state;
    struct tsb_buf b;
    tsb_buf_init(&b, 64);
    uint8_t *w;
    assert_int_equal(tsb_buf_extend(&b, 5, &w), 0);
    memcpy(w, "hello", 5);
    assert_int_equal(b.len, 5);
    assert_string_equal((char *)b.p, "hello");

    /* a writer that learns its length while writing: reserve, write, count */
    assert_int_equal(tsb_buf_reserve(&b, 10), 0);
    assert_true(tsb_buf_room(&b) >= 10);
    int n = snprintf((char *)b.p + b.len, tsb_buf_room(&b) + 1, ", %s", "world");
    tsb_buf_added(&b, (size_t)n);
    assert_string_equal((char *)b.p, "hello, world");
    tsb_buf_added(&b, 0);
    assert_int_equal(b.len, 12);

    tsb_buf_truncate(&b, 5);
    assert_int_equal(b.len, 5);
    assert_string_equal((char *)b.p, "hello");
    tsb_buf_truncate(&b, 5); /* same length: nothing changes */
    assert_string_equal((char *)b.p, "hello");

    tsb_buf_consume(&b, 2);
    assert_int_equal(b.len, 3);
    assert_string_equal((char *)b.p, "llo");
    tsb_buf_consume(&b, 0);
    assert_string_equal((char *)b.p, "llo");
    tsb_buf_consume(&b, 3);
    assert_int_equal(b.len, 0);
    assert_string_equal((char *)b.p, "");

    /* extend past the cap refuses and keeps what is there */
    assert_int_equal(tsb_buf_append_str(&b, "abc"), 0);
    assert_int_equal(tsb_buf_extend(&b, 62, &w), TSB_ETOOBIG);
    assert_string_equal((char *)b.p, "abc");
    tsb_buf_cleanup(&b);

    /* an empty buffer that never allocated: added(0) and truncate(0) are no-ops */
    tsb_buf_init(&b, 16);
    tsb_buf_added(&b, 0);
    tsb_buf_truncate(&b, 0);
    assert_null(b.p);
    assert_int_equal(tsb_buf_room(&b), 0);
    tsb_buf_cleanup(&b);
}

#ifdef TSB_ASSERTS
/* Violations of the accessors' contracts, one per child. */
static void added_past_reserve(void)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 1024);
    (void)tsb_buf_reserve(&b, 8);
    tsb_buf_added(&b, tsb_buf_room(&b) + 1);
}

static void truncate_that_grows(void)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 1024);
    (void)tsb_buf_append_str(&b, "abc");
    tsb_buf_truncate(&b, 4);
}

static void consume_past_end(void)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 1024);
    (void)tsb_buf_append_str(&b, "abc");
    tsb_buf_consume(&b, 4);
}

/* Runs fn in a child with stderr captured; returns its wait status. */
static int run_child(void (*fn)(void), char *err, size_t errlen)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0); /* the invariant was not checked */
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t k;
    while (got + 1 < errlen && (k = read(fds[0], err + got, errlen - 1 - got)) > 0)
        got += (size_t)k;
    err[got] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void test_violated_invariant_aborts(void **state)
{
    (void)state;
    static const struct {
        void (*fn)(void);
        const char *cond;
    } cases[] = {
        {added_past_reserve, "n <= tsb_buf_room(b)"},
        {truncate_that_grows, "len <= b->len"},
        {consume_past_end, "n <= b->len"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[1024];
        int status = run_child(cases[i].fn, err, sizeof(err));
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
        assert_non_null(strstr(err, "invariant violated"));
        assert_non_null(strstr(err, cases[i].cond));
        assert_non_null(strstr(err, "mem.c"));
    }
}
#else
static void test_violated_invariant_aborts(void **state)
{
    (void)state;
    skip(); /* Release: TSB_ASSERT is compiled out */
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_stops_at_the_cap),
        cmocka_unit_test(test_reserve_exact_allocates_exactly),
        cmocka_unit_test(test_extend_added_truncate_consume),
        cmocka_unit_test(test_violated_invariant_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
