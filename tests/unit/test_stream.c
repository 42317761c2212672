/*
 * unit.stream: the write side of src/io/stream.c over a real socket pair (two plain streams on
 * one loop). A write the socket takes whole leaves nothing queued on return and calls no drain
 * callback (no uv_write was needed); a write larger than the socket buffer keeps the rest queued,
 * calls the drain callback exactly once when the kernel has taken it, and the peer reads every
 * byte in order. Writes made from inside the data callback are held until it returns (or 64 KiB
 * wait) and then leave together, in order. Every test ends with both streams closed and
 * uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "stream.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* more than a Unix socket pair buffers (about 200 KiB each way by default) */
#define BIG (1024 * 1024)

struct fx {
    uv_loop_t loop;
    struct tsb_stream a, b; /* a writes, b reads */
    uint8_t *sent;
    uint8_t *got;
    size_t got_len, want;
    int drains;
    int closed;
    /* answering: b answers a's request with `pieces` writes of `piece` bytes from its data
     * callback; a collects them */
    size_t piece, pieces, most_held, held_after[4];
    bool answered;
};

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 131 + i / 251);
}

static void on_close(struct tsb_stream *s)
{
    struct fx *f = s->data;
    f->closed++;
}

/* Both sides are done once the reader has everything and neither side holds anything more. */
static void maybe_done(struct fx *f)
{
    if (f->got_len == f->want && tsb_stream_queued(&f->a) == 0 && tsb_stream_queued(&f->b) == 0 &&
        !f->a.closing) {
        tsb_stream_close(&f->a, on_close);
        tsb_stream_close(&f->b, on_close);
    }
}

static void on_drain(struct tsb_stream *s)
{
    struct fx *f = s->data;
    f->drains++;
    maybe_done(f);
}

static void on_end(struct tsb_stream *s, int status)
{
    (void)s;
    (void)status;
}

static void on_data(struct tsb_stream *s)
{
    struct fx *f = s->data;
    struct tsb_slice in = tsb_stream_input(s);
    size_t n = in.len;
    if (n > f->want - f->got_len)
        n = f->want - f->got_len;
    memcpy(f->got + f->got_len, in.p, n);
    f->got_len += n;
    tsb_stream_consume(s, in.len);
    maybe_done(f);
}

static void open_pair(struct fx *f)
{
    int sv[2];
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(tsb_stream_init(&f->loop, &f->a, false), 0);
    assert_int_equal(tsb_stream_init(&f->loop, &f->b, false), 0);
    assert_int_equal(uv_pipe_open(&f->a.h.pipe, sv[0]), 0);
    assert_int_equal(uv_pipe_open(&f->b.h.pipe, sv[1]), 0);
    f->a.data = f;
    f->b.data = f;
    assert_int_equal(tsb_stream_start(&f->a, NULL, NULL, on_end), 0);
    tsb_stream_want_read(&f->a, false);
    tsb_stream_on_drain(&f->a, on_drain);
    assert_int_equal(tsb_stream_start(&f->b, NULL, on_data, on_end), 0);
}

/* A pair with n bytes of pattern ready to send from a to b. */
static void setup_pair(struct fx *f, size_t n)
{
    open_pair(f);
    f->want = n;
    f->sent = malloc(n);
    f->got = malloc(n);
    assert_non_null(f->sent);
    assert_non_null(f->got);
    for (size_t i = 0; i < n; i++)
        f->sent[i] = pattern(i);
}

/* Runs the loop until both streams closed, checks b got every byte in order; returns the number
 * of drain callbacks a saw. */
static int run_to_end(struct fx *f)
{
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->closed, 2);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(f->got_len, f->want);
    assert_memory_equal(f->got, f->sent, f->want);
    free(f->sent);
    free(f->got);
    return f->drains;
}

/* b's data callback when answering: the request is consumed, the answer written piece by piece;
 * what each write left queued is recorded (held_after: the first pieces; most_held: the most) */
static void on_request(struct tsb_stream *s)
{
    struct fx *f = s->data;
    tsb_stream_consume(s, tsb_stream_input(s).len);
    if (f->answered)
        return;
    f->answered = true;
    for (size_t i = 0; i < f->pieces; i++) {
        assert_int_equal(tsb_stream_write(s, f->sent + i * f->piece, f->piece), 0);
        size_t q = tsb_stream_queued(s);
        if (i < 4)
            f->held_after[i] = q;
        if (q > f->most_held)
            f->most_held = q;
    }
}

/* A pair where a sends one byte and b answers with pieces x piece bytes of pattern. */
static void setup_answering(struct fx *f, size_t piece, size_t pieces)
{
    setup_pair(f, piece * pieces);
    f->piece = piece;
    f->pieces = pieces;
    f->a.on_data = on_data;
    tsb_stream_want_read(&f->a, true);
    f->b.on_data = on_request;
    assert_int_equal(tsb_stream_write(&f->a, (const uint8_t *)"?", 1), 0);
}

static void test_small_write_taken_at_once(void **state)
{
    (void)state;
    struct fx f;
    setup_pair(&f, 100);
    assert_int_equal(tsb_stream_write(&f.a, f.sent, f.want), 0);
    /* the socket took it during the call: nothing left for a uv_write */
    assert_int_equal(tsb_stream_queued(&f.a), 0);
    assert_int_equal(run_to_end(&f), 0);
}

static void test_large_write_queued_then_drained_once(void **state)
{
    (void)state;
    struct fx f;
    setup_pair(&f, BIG);
    assert_int_equal(tsb_stream_write(&f.a, f.sent, f.want), 0);
    /* the peer has read nothing yet: the kernel took a part, the rest waits */
    size_t q = tsb_stream_queued(&f.a);
    assert_true(q > 0 && q < (size_t)BIG);
    assert_int_equal(run_to_end(&f), 1);
}

static void test_writes_behind_a_pending_one_keep_their_order(void **state)
{
    (void)state;
    struct fx f;
    setup_pair(&f, BIG + 100);
    /* the second write finds a uv_write in flight and must wait behind it, not overtake it */
    assert_int_equal(tsb_stream_write(&f.a, f.sent, BIG), 0);
    assert_int_equal(tsb_stream_write(&f.a, f.sent + BIG, 100), 0);
    assert_true(tsb_stream_queued(&f.a) > 100);
    assert_true(run_to_end(&f) >= 1);
}

static void test_writes_from_the_data_callback_leave_together(void **state)
{
    (void)state;
    struct fx f;
    setup_answering(&f, 100, 40);
    run_to_end(&f);
    /* each small write waited for the callback's return instead of a system call of its own */
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(f.held_after[i], (i + 1) * 100);
    assert_int_equal(f.most_held, 4000);
}

static void test_held_writes_leave_at_64_kib(void **state)
{
    (void)state;
    struct fx f;
    /* 100 KiB answered from one callback: held up to 64 KiB at a time, never more */
    setup_answering(&f, 1024, 100);
    run_to_end(&f);
    assert_int_equal(f.held_after[0], 1024);
    assert_true(f.most_held >= 63 * 1024);
    assert_true(f.most_held < 64 * 1024 + 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_write_taken_at_once),
        cmocka_unit_test(test_large_write_queued_then_drained_once),
        cmocka_unit_test(test_writes_behind_a_pending_one_keep_their_order),
        cmocka_unit_test(test_writes_from_the_data_callback_leave_together),
        cmocka_unit_test(test_held_writes_leave_at_64_kib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
