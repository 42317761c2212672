/* Unit tests for prom: the exact text of a counter with escaped label values, of gauges with
 * integer and real values, of a histogram (cumulative buckets, +Inf, _sum, _count); refusals of
 * a bad metric name, a counter without _total, a bad label name and decreasing bounds; and the
 * whole output accepted by the strict text-format checker the integration tests use
 * (tests/lib/promcheck.py), run as a separate witness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "mem.h"
#include "prom.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void assert_text(struct tsb_buf *b, const char *want)
{
    assert_int_equal(tsb_buf_append(b, "", 1), 0); /* NUL for the comparison */
    assert_string_equal((const char *)b->p, want);
    b->len--;
}

static void test_counter_escaping(void **state)
{
    (void)state;
    struct tsb_buf b;
    tsb_buf_init(&b, 4096);
    const char *labels[] = {"source", "a\\b\"c\nd", "code", "BUSY", NULL};
    assert_int_equal(tsb_prom_family(&b, "tsbag_x_total", "counter", "Help with \\ and\nnewline."),
                     0);
    assert_int_equal(tsb_prom_int(&b, "tsbag_x_total", labels, 42), 0);
    assert_text(&b, "# HELP tsbag_x_total Help with \\\\ and\\nnewline.\n"
                    "# TYPE tsbag_x_total counter\n"
                    "tsbag_x_total{source=\"a\\\\b\\\"c\\nd\",code=\"BUSY\"} 42\n");
    tsb_buf_cleanup(&b);
}

static void test_values(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *text;
    } table[] = {
        {0, "0"},           {1.5, "1.5"},
        {0.1, "0.1"},       {1796157554.474, "1796157554.474"},
        {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
        {1e-9, "1e-09"},    {0.30000000000000004, "0.30000000000000004"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        struct tsb_buf b;
        char want[128];
        tsb_buf_init(&b, 4096);
        assert_int_equal(tsb_prom_real(&b, "g", NULL, table[i].v), 0);
        snprintf(want, sizeof(want), "g %s\n", table[i].text);
        assert_text(&b, want);
        tsb_buf_cleanup(&b);
    }
    struct tsb_buf b;
    tsb_buf_init(&b, 4096);
    assert_int_equal(tsb_prom_int(&b, "g", NULL, INT64_MIN), 0);
    assert_text(&b, "g -9223372036854775808\n");
    tsb_buf_cleanup(&b);
}

static void test_histogram(void **state)
{
    (void)state;
    struct tsb_buf b;
    tsb_buf_init(&b, 4096);
    const double bounds[] = {0.005, 0.1, 1};
    const uint64_t counts[] = {2, 0, 3, 1};
    const char *labels[] = {"kind", "tsa", NULL};
    assert_int_equal(tsb_prom_family(&b, "h_seconds", "histogram", "A histogram."), 0);
    assert_int_equal(tsb_prom_histogram(&b, "h_seconds", labels, bounds, counts, 3, 2.25), 0);
    assert_text(&b, "# HELP h_seconds A histogram.\n"
                    "# TYPE h_seconds histogram\n"
                    "h_seconds_bucket{kind=\"tsa\",le=\"0.005\"} 2\n"
                    "h_seconds_bucket{kind=\"tsa\",le=\"0.1\"} 2\n"
                    "h_seconds_bucket{kind=\"tsa\",le=\"1\"} 5\n"
                    "h_seconds_bucket{kind=\"tsa\",le=\"+Inf\"} 6\n"
                    "h_seconds_sum{kind=\"tsa\"} 2.25\n"
                    "h_seconds_count{kind=\"tsa\"} 6\n");
    /* the witness: the strict checker accepts it, and a broken copy is refused */
    char *dir = tsb_test_tmpdir();
    char *ok = tsb_test_path(dir, "ok.txt"), *bad = tsb_test_path(dir, "bad.txt");
    assert_int_equal(tsb_test_write_file(ok, b.p, b.len), 0);
    assert_int_equal(tsb_test_write_file(bad, b.p, b.len - 2), 0); /* no final newline */
    char *checker = tsb_test_path(tsb_test_source_dir(), "tests/lib/promcheck.py");
    assert_int_equal(tsb_test_sh("python3 '%s' '%s' >/dev/null", checker, ok), 0);
    assert_int_not_equal(tsb_test_sh("python3 '%s' '%s' 2>/dev/null", checker, bad), 0);
    tsb_test_rmtree(dir);
    free(checker);
    free(ok);
    free(bad);
    free(dir);
    tsb_buf_cleanup(&b);
}

static void test_refusals(void **state)
{
    (void)state;
    struct tsb_buf b;
    tsb_buf_init(&b, 4096);
    assert_int_equal(tsb_prom_family(&b, "9lives", "gauge", ""), TSB_EINVAL);
    assert_int_equal(tsb_prom_family(&b, "bad-name", "gauge", ""), TSB_EINVAL);
    assert_int_equal(tsb_prom_family(&b, "requests", "counter", ""), TSB_EINVAL);
    assert_non_null(strstr(tsb_err_detail(), "does not end in _total"));
    assert_int_equal(tsb_prom_family(&b, "x", "summary", ""), TSB_EINVAL);
    const char *bad_label[] = {"le-x", "1", NULL};
    assert_int_equal(tsb_prom_int(&b, "x", bad_label, 1), TSB_EINVAL);
    const char *reserved[] = {"__name__", "1", NULL};
    assert_int_equal(tsb_prom_int(&b, "x", reserved, 1), TSB_EINVAL);
    const double bounds[] = {1, 0.5};
    const uint64_t counts[] = {1, 1, 1};
    assert_int_equal(tsb_prom_histogram(&b, "h", NULL, bounds, counts, 2, 0), TSB_EINVAL);
    tsb_buf_cleanup(&b);
    /* a full buffer keeps whole lines only */
    tsb_buf_init(&b, 16);
    assert_int_equal(tsb_prom_int(&b, "short", NULL, 1), 0);
    assert_int_not_equal(tsb_prom_int(&b, "a_longer_name", NULL, 1), 0);
    assert_int_equal(b.len, strlen("short 1\n"));
    tsb_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_escaping),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
