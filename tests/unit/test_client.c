/*
 * unit.client: the ingest client's contract around HELLO (src/io/client.h), against a raw server
 * on a thread that speaks frames over a Unix socket in a temporary folder. A request is refused
 * with TSB_ESTATE until the ready callback, even once HELLO has been written and read by the
 * server; a server refusing HELLO gives the ready callback TSB_EPROTO with its NACK in the
 * detail. The server thread never asserts (cmocka is not thread-safe): it records what it saw
 * and the test thread checks it after joining.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "client.h"
#include "err.h"
#include "frame.h"
#include "testlib.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

struct fx {
    char *dir;
    char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int listen_fd;
    pthread_t server;
    uv_async_t hello_seen; /* the server has read the client's whole HELLO frame */
    sem_t answer;          /* the test has probed the client: the server may refuse HELLO */
    /* what the server saw */
    int server_hello_type;
    bool server_saw_eof;
    /* what the client saw */
    int probe; /* tsb_client_submit between HELLO sent and HELLO answered */
    int ready_calls, ready_status;
    char ready_detail[512];
    int closed;
    struct tsb_client *c;
};

static int read_frame(int fd, struct tsb_frame_decoder *d, uint8_t *buf, size_t cap, size_t *have,
                      struct tsb_frame *f)
{
    for (;;) {
        struct tsb_slice in = {buf, *have};
        int r = tsb_frame_decode(d, &in, f);
        if (r != 0)
            return r;
        *have = 0; /* the decoder keeps a partial frame itself */
        ssize_t n = read(fd, buf, cap);
        if (n <= 0)
            return -1;
        *have = (size_t)n;
    }
}

static void *server_main(void *arg)
{
    struct fx *x = arg;
    x->server_hello_type = -1;
    int fd = accept(x->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    struct tsb_frame_decoder d;
    tsb_frame_decoder_init(&d, 1 << 16);
    uint8_t buf[4096];
    size_t have = 0;
    struct tsb_frame f;
    if (read_frame(fd, &d, buf, sizeof(buf), &have, &f) == 1)
        x->server_hello_type = f.type;
    uv_async_send(&x->hello_seen);
    sem_wait(&x->answer);
    struct tsb_buf nack;
    tsb_buf_init(&nack, 1 << 16);
    if (tsb_frame_put_nack(&nack, TSB_NACK_SOURCE_REFUSED, true, "source not allowed here") == 0) {
        ssize_t w = write(fd, nack.p, nack.len);
        (void)w;
    }
    tsb_buf_cleanup(&nack);
    /* the client closes after its ready callback: read to the end */
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    x->server_saw_eof = true;
    tsb_frame_decoder_cleanup(&d);
    close(fd);
    return NULL;
}

static void on_reply(struct tsb_client *c, void *arg, int status, const struct tsb_frame *reply)
{
    (void)c, (void)arg, (void)status, (void)reply;
}

static void on_hello_seen(uv_async_t *a)
{
    struct fx *x = a->data;
    static const uint8_t entry[] = "prescription";
    x->probe = tsb_client_submit(x->c, (struct tsb_slice){0}, (struct tsb_slice){0},
                                 (struct tsb_slice){entry, sizeof(entry) - 1}, on_reply, x);
    sem_post(&x->answer);
}

static void on_closed(void *data)
{
    ((struct fx *)data)->closed++;
}

static void on_ready(struct tsb_client *c, int status, const struct tsb_hello_ok *hello)
{
    (void)hello;
    struct fx *x = tsb_client_data(c);
    x->ready_calls++;
    x->ready_status = status;
    snprintf(x->ready_detail, sizeof(x->ready_detail), "%s", tsb_err_detail());
    uv_close((uv_handle_t *)&x->hello_seen, NULL);
    tsb_client_close(c, on_closed);
}

static void test_no_request_before_ready_and_hello_refused(void **state)
{
    (void)state;
    struct fx x = {0};
    x.dir = tsb_test_tmpdir();
    assert_non_null(x.dir);
    assert_true(strlen(x.dir) + sizeof("/ingest.sock") <= sizeof(x.sock));
    snprintf(x.sock, sizeof(x.sock), "%s/ingest.sock", x.dir);
    x.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(x.listen_fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, x.sock, sizeof(sa.sun_path));
    assert_int_equal(bind(x.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(x.listen_fd, 4), 0);
    assert_int_equal(sem_init(&x.answer, 0, 0), 0);

    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_async_init(&loop, &x.hello_seen, on_hello_seen), 0);
    x.hello_seen.data = &x;
    assert_int_equal(pthread_create(&x.server, NULL, server_main, &x), 0);

    struct tsb_client_opts o = {.unix_path = x.sock, .source = "pharmacy"};
    assert_int_equal(tsb_client_connect(&loop, &o, on_ready, &x, &x.c), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(pthread_join(x.server, NULL), 0);

    assert_int_equal(x.server_hello_type, TSB_FT_HELLO);
    /* HELLO written and read by the server, not yet answered: no request may be queued (it
     * would wait on a connection that may yet be refused) */
    assert_int_equal(x.probe, TSB_ESTATE);
    assert_int_equal(x.ready_calls, 1);
    assert_int_equal(x.ready_status, TSB_EPROTO);
    assert_non_null(strstr(x.ready_detail, "HELLO refused"));
    assert_non_null(strstr(x.ready_detail, "source not allowed here"));
    assert_int_equal(x.closed, 1);
    assert_true(x.server_saw_eof);
    assert_int_equal(uv_loop_close(&loop), 0);

    sem_destroy(&x.answer);
    close(x.listen_fd);
    tsb_test_rmtree(x.dir);
    free(x.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_request_before_ready_and_hello_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
