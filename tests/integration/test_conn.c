/*
 * integration.conn: the ingest's connection state machine, in process: a real ingest, writer and
 * SQLite archive on one libuv loop in this thread, and clients on threads speaking raw frames
 * over the ingest's Unix socket in a temporary folder. Covers request order across completion
 * kinds, half-close (answered, then the end; mid-frame: TRUNCATED), a first frame that is not
 * HELLO, a reset with requests in flight, a stop with requests in flight, and the byte budget (a
 * client that never reads its replies against a normal one). Every test ends with all handles
 * closed and uv_loop_close() == 0. Clients never assert (cmocka is not thread-safe): they record
 * what they saw, and the test thread checks it after joining them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "daemon_util.h"
#include "err.h"
#include "frame.h"
#include "ingest.h"
#include "store.h"
#include "testlib.h"
#include "writer.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REPLIES 40000

struct fx {
    uv_loop_t loop;
    struct tsb_config cfg;
    struct tsb_writer *w;
    struct tsb_ingest *in;
    uv_async_t stop; /* a client asks for tsb_ingest_stop */
    uv_check_t watch;
    size_t watch_bytes; /* post `full` once the ingest buffers this much (0: never) */
    sem_t full;
    bool posted;
    size_t peak;
    char *dir;
    int64_t entries; /* in the archive after the stop */
};

/* What a client saw: the reply types and NACK codes in order, the ACK refs, then whether the
 * connection ended (EOF or reset). */
struct seen {
    size_t n;
    uint8_t type[MAX_REPLIES];
    unsigned nack[MAX_REPLIES];
    bool closing[MAX_REPLIES];
    int64_t ref[MAX_REPLIES];
    bool ended;
};

static void on_progress(void *arg)
{
    struct fx *f = arg;
    if (f->in != NULL)
        tsb_ingest_writer_progress(f->in);
}

static void writer_stopped(void *arg)
{
    struct fx *f = arg;
    f->w = NULL;
}

static void ingest_stopped(void *arg)
{
    struct fx *f = arg;
    f->in = NULL;
    uv_close((uv_handle_t *)&f->stop, NULL);
    uv_close((uv_handle_t *)&f->watch, NULL);
    tsb_writer_stop(f->w, writer_stopped, f);
}

static void on_stop(uv_async_t *a)
{
    struct fx *f = a->data;
    if (f->in != NULL && !uv_is_closing((uv_handle_t *)&f->watch)) {
        tsb_ingest_buffered(f->in, &f->peak);
        tsb_ingest_stop(f->in, false, ingest_stopped, f);
    }
}

static void on_watch(uv_check_t *h)
{
    struct fx *f = h->data;
    if (f->in == NULL || f->posted || f->watch_bytes == 0)
        return;
    if (tsb_ingest_buffered(f->in, NULL) >= f->watch_bytes) {
        f->posted = true;
        sem_post(&f->full);
    }
}

static void fx_start(struct fx *f, const char *const *overrides)
{
    memset(f, 0, sizeof(*f));
    f->dir = tsb_test_tmpdir();
    tsb_config_defaults(&f->cfg);
    assert_int_equal(tsb_config_set(&f->cfg, "general", "state_dir", f->dir), 0);
    assert_int_equal(tsb_config_set(&f->cfg, "sealer", "enabled", "false"), 0);
    for (size_t i = 0; overrides != NULL && overrides[i] != NULL; i++)
        assert_int_equal(tsb_config_set_override(&f->cfg, overrides[i]), 0);
    assert_int_equal(tsb_config_finish(&f->cfg), 0);
    struct tsb_store *store = NULL;
    struct tsb_store_open_opts so = {0};
    assert_int_equal(tsb_store_open(f->cfg.store.path, &so, &store), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    struct tsb_writer_opts wo = {
        .batch_max = (size_t)f->cfg.writer.batch_max, .on_progress = on_progress, .arg = f};
    assert_int_equal(tsb_writer_start(&f->loop, store, &wo, &f->w), 0);
    assert_int_equal(tsb_ingest_start(&f->loop, &f->cfg, f->w, &f->in), 0);
    assert_int_equal(uv_async_init(&f->loop, &f->stop, on_stop), 0);
    f->stop.data = f;
    sem_init(&f->full, 0, 0);
    uv_check_init(&f->loop, &f->watch);
    f->watch.data = f;
    uv_check_start(&f->watch, on_watch);
}

/* Runs the loop until the ingest and the writer stopped (a client sends f->stop), joins the
 * clients, and checks that every handle closed. */
static void fx_run(struct fx *f, pthread_t *clients, size_t n)
{
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    for (size_t i = 0; i < n; i++)
        pthread_join(clients[i], NULL);
    assert_null(f->in);
    assert_null(f->w);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    struct tsb_store *store = NULL;
    struct tsb_store_open_opts so = {.readonly = true};
    struct tsb_store_stats st;
    assert_int_equal(tsb_store_open(f->cfg.store.path, &so, &store), 0);
    assert_int_equal(tsb_store_stats(store, &st), 0);
    tsb_store_close(store);
    f->entries = st.entries;
    sem_destroy(&f->full);
    tsb_config_cleanup(&f->cfg);
    tsb_test_rmtree(f->dir);
    free(f->dir);
}

/* ---- client side (threads) ----------------------------------------------------------------- */

static void put_hello(struct tsb_buf *b, const char *source)
{
    tsb_frame_put_hello(b, TSB_PROTO_VERSION,
                        (struct tsb_slice){(const uint8_t *)source, strlen(source)});
}

static void put_submit(struct tsb_buf *b, unsigned i)
{
    char entry[64];
    int n = snprintf(entry, sizeof(entry), "entry %u", i);
    tsb_frame_put_submit(b, (struct tsb_slice){NULL, 0}, (struct tsb_slice){NULL, 0},
                         (struct tsb_slice){(const uint8_t *)entry, (size_t)n});
}

static void put_submit_hash(struct tsb_buf *b, unsigned i)
{
    uint8_t d[TSB_SHA256_LEN] = {0};
    memcpy(d, &i, sizeof(i));
    tsb_frame_put_submit_hash(b, (struct tsb_slice){NULL, 0}, (struct tsb_slice){NULL, 0}, d);
}

/* Reads replies until want of them came or the connection ended. */
static void read_replies(int fd, struct seen *s, size_t want)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    while (s->n < want && s->n < MAX_REPLIES) {
        uint8_t type;
        struct tsb_slice body;
        if (raw_read_frame(fd, &b, &type, &body) != 1) {
            s->ended = true;
            break;
        }
        s->type[s->n] = type;
        if (type == TSB_FT_ACK) {
            struct tsb_ack a;
            s->ref[s->n] = tsb_frame_parse_ack(body, &a) == 0 ? a.ref : -1;
        } else if (type == TSB_FT_NACK) {
            struct tsb_nack_reply n;
            if (tsb_frame_parse_nack(body, &n) == 0) {
                s->nack[s->n] = n.code;
                s->closing[s->n] = n.closing;
            }
        }
        s->n++;
    }
    tsb_buf_cleanup(&b);
}

/* After the replies: true when the server ended the connection (EOF or reset). */
static bool read_end(int fd)
{
    uint8_t junk[256];
    return recv(fd, junk, sizeof(junk), 0) <= 0;
}

struct client {
    struct fx *f;
    struct seen s;
    int mode;
    sem_t *wait;  /* posted before the client starts (may be NULL) */
    sem_t *ready; /* posted once HELLO is answered (may be NULL) */
    bool stop_at_end;
    int64_t entries; /* in the archive after the stop */
};

static char *sock_path(struct fx *f)
{
    return tsb_test_path(f->dir, "tsbagd.sock");
}

/* ---- the tests ----------------------------------------------------------------------------- */

enum { MIXED, HALF_CLOSE, MIDFRAME, NO_HELLO, RESET, STOP, NON_READER, NORMAL };

#define MIXED_N 200

struct sender {
    int fd;
    const uint8_t *p;
    size_t len;
};

static void *sender_main(void *arg)
{
    struct sender *snd = arg;
    raw_send(snd->fd, snd->p, snd->len);
    return NULL;
}

static void *client_main(void *arg)
{
    struct client *cl = arg;
    struct tsb_buf b;
    tsb_buf_init(&b, 64 << 20);
    if (cl->wait != NULL)
        sem_wait(cl->wait);
    char *path = sock_path(cl->f);
    int fd = raw_connect_unix(path);
    free(path);
    if (fd < 0)
        goto out;
    if (cl->mode == NO_HELLO) {
        tsb_frame_put_simple(&b, TSB_FT_PING, (struct tsb_slice){(const uint8_t *)"x", 1});
        raw_send(fd, b.p, b.len);
        read_replies(fd, &cl->s, 2);
        cl->s.ended = cl->s.ended || read_end(fd);
        goto out;
    }
    put_hello(&b, "conn-test");
    switch (cl->mode) {
    case MIXED:
    case HALF_CLOSE:
        /* replies that complete in different places (writer entries, writer jobs, at once) */
        for (unsigned i = 0; i < MIXED_N; i++) {
            if (i % 5 == 1)
                tsb_frame_put_simple(&b, TSB_FT_STATUS, (struct tsb_slice){NULL, 0});
            else if (i % 5 == 3)
                tsb_frame_put_simple(&b, TSB_FT_PING, (struct tsb_slice){(const uint8_t *)"p", 1});
            else
                put_submit(&b, i);
        }
        raw_send(fd, b.p, b.len);
        if (cl->mode == HALF_CLOSE)
            shutdown(fd, SHUT_WR);
        read_replies(fd, &cl->s, MIXED_N + 1);
        if (cl->mode == HALF_CLOSE)
            cl->s.ended = read_end(fd);
        break;
    case MIDFRAME:
        put_submit(&b, 1);
        raw_send(fd, b.p, b.len - 3); /* HELLO, and a SUBMIT without its last bytes */
        shutdown(fd, SHUT_WR);
        read_replies(fd, &cl->s, 3);
        cl->s.ended = cl->s.ended || read_end(fd);
        break;
    case RESET: {
        for (unsigned i = 0; i < 500; i++)
            put_submit(&b, i);
        raw_send(fd, b.p, b.len);
        read_replies(fd, &cl->s, 2); /* HELLO_OK and one ACK: requests are in flight */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        break;
    }
    case STOP:
        for (unsigned i = 0; i < 2000; i++)
            put_submit(&b, i);
        raw_send(fd, b.p, b.len);
        read_replies(fd, &cl->s, 2);
        uv_async_send(&cl->f->stop); /* with most of the 2000 still in flight */
        read_replies(fd, &cl->s, 2001);
        cl->s.ended = cl->s.ended || read_end(fd);
        break;
    case NORMAL:
        raw_send(fd, b.p, b.len);
        read_replies(fd, &cl->s, 1);
        sem_post(cl->ready);
        sem_wait(&cl->f->full); /* the non-reader holds its share */
        tsb_buf_reset(&b);
        for (unsigned i = 0; i < 100; i++)
            put_submit(&b, 1000000 + i);
        raw_send(fd, b.p, b.len);
        read_replies(fd, &cl->s, 101);
        sem_post(cl->ready); /* served: the non-reader may read now */
        break;
    case NON_READER: {
        for (unsigned i = 0; i < 30000; i++)
            put_submit_hash(&b, i);
        /* the sending blocks once tsbagd stops reading, until the replies are read: on its own
         * thread; they are read only after the normal client was served */
        struct sender snd = {fd, b.p, b.len};
        pthread_t t;
        pthread_create(&t, NULL, sender_main, &snd);
        sem_wait(cl->ready);
        read_replies(fd, &cl->s, 30001);
        pthread_join(t, NULL);
        break;
    }
    }
out:
    if (fd >= 0)
        close(fd);
    tsb_buf_cleanup(&b);
    if (cl->stop_at_end)
        uv_async_send(&cl->f->stop);
    return NULL;
}

static void run_one(int mode, struct client *cl, const char *const *overrides)
{
    struct fx f;
    fx_start(&f, overrides);
    memset(cl, 0, sizeof(*cl));
    cl->f = &f;
    cl->mode = mode;
    cl->stop_at_end = mode != STOP;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, client_main, cl), 0);
    fx_run(&f, &t, 1);
    cl->f = NULL;
    cl->entries = f.entries;
}

/* Replies in request order whatever completes them (writer entry, writer job, at once). */
static void test_replies_in_request_order(void **state)
{
    (void)state;
    static struct client cl;
    run_one(MIXED, &cl, NULL);
    assert_int_equal(cl.s.n, MIXED_N + 1);
    assert_int_equal(cl.s.type[0], TSB_FT_HELLO_OK);
    int64_t last = 0;
    for (unsigned i = 0; i < MIXED_N; i++) {
        uint8_t want = i % 5 == 1 ? TSB_FT_STATUS_OK : i % 5 == 3 ? TSB_FT_PONG : TSB_FT_ACK;
        assert_int_equal(cl.s.type[i + 1], want);
        if (want == TSB_FT_ACK) {
            assert_true(cl.s.ref[i + 1] > last);
            last = cl.s.ref[i + 1];
        }
    }
    assert_int_equal(cl.entries, MIXED_N - 2 * (MIXED_N / 5)); /* SUBMITs archived */
}

/* A half-closed client gets every reply, then the end of the connection. */
static void test_half_close_answers_then_ends(void **state)
{
    (void)state;
    static struct client cl;
    run_one(HALF_CLOSE, &cl, NULL);
    assert_int_equal(cl.s.n, MIXED_N + 1);
    assert_true(cl.s.ended);
    for (unsigned i = 0; i <= MIXED_N; i++)
        assert_int_not_equal(cl.s.type[i], TSB_FT_NACK);
}

static void test_half_close_mid_frame_is_truncated(void **state)
{
    (void)state;
    static struct client cl;
    run_one(MIDFRAME, &cl, NULL);
    assert_int_equal(cl.s.n, 2);
    assert_int_equal(cl.s.type[0], TSB_FT_HELLO_OK);
    assert_int_equal(cl.s.type[1], TSB_FT_NACK);
    assert_int_equal(cl.s.nack[1], TSB_NACK_TRUNCATED);
    assert_true(cl.s.closing[1]);
    assert_true(cl.s.ended);
    assert_int_equal(cl.entries, 0);
}

static void test_first_frame_must_be_hello(void **state)
{
    (void)state;
    static struct client cl;
    run_one(NO_HELLO, &cl, NULL);
    assert_int_equal(cl.s.n, 1);
    assert_int_equal(cl.s.type[0], TSB_FT_NACK);
    assert_int_equal(cl.s.nack[0], TSB_NACK_HELLO_REQUIRED);
    assert_true(cl.s.closing[0]);
    assert_true(cl.s.ended);
}

/* A reset with requests in flight: the connection waits for the writer's completions, then goes;
 * the stop still completes and the loop closes clean. */
static void test_reset_with_requests_in_flight(void **state)
{
    (void)state;
    static struct client cl;
    run_one(RESET, &cl, NULL);
    assert_int_equal(cl.s.n, 2);
    assert_int_equal(cl.s.type[1], TSB_FT_ACK);
    assert_true(cl.entries >= 1 && cl.entries <= 500);
}

/* A stop with requests in flight: a run of ACKs, exactly one closing SHUTTING_DOWN, the end; the
 * archive holds exactly the acknowledged entries. */
static void test_stop_answers_what_was_taken_in(void **state)
{
    (void)state;
    static struct client cl;
    run_one(STOP, &cl, NULL);
    assert_true(cl.s.n >= 3);
    size_t acks = 0;
    for (size_t i = 1; i + 1 < cl.s.n; i++) {
        assert_int_equal(cl.s.type[i], TSB_FT_ACK);
        acks++;
    }
    assert_int_equal(cl.s.type[cl.s.n - 1], TSB_FT_NACK);
    assert_int_equal(cl.s.nack[cl.s.n - 1], TSB_NACK_SHUTTING_DOWN);
    assert_true(cl.s.closing[cl.s.n - 1]);
    assert_true(cl.s.ended);
    assert_int_equal(cl.entries, (int64_t)acks);
}

/* A client that pipelines 30 000 requests and reads nothing holds at most its share of
 * ingest.buffer_bytes; a normal client is served meanwhile; once the first reads, it gets every
 * reply and the archive holds every acknowledged entry. */
static void test_budget_non_reader_and_normal_client(void **state)
{
    (void)state;
    static struct client normal, flood;
    const char *const ov[] = {"ingest.buffer_bytes=262144", NULL};
    struct fx f;
    fx_start(&f, ov);
    f.watch_bytes = 262144 / 2; /* the non-reader's share with two connections */
    sem_t ready;
    sem_init(&ready, 0, 0);
    memset(&normal, 0, sizeof(normal));
    memset(&flood, 0, sizeof(flood));
    normal = (struct client){.f = &f, .mode = NORMAL, .ready = &ready};
    flood = (struct client){
        .f = &f, .mode = NON_READER, .wait = &ready, .ready = &ready, .stop_at_end = true};
    pthread_t t[2];
    assert_int_equal(pthread_create(&t[0], NULL, client_main, &normal), 0);
    assert_int_equal(pthread_create(&t[1], NULL, client_main, &flood), 0);
    fx_run(&f, t, 2);
    sem_destroy(&ready);

    assert_int_equal(normal.s.n, 101);
    for (size_t i = 0; i < normal.s.n; i++)
        assert_int_equal(normal.s.type[i], i == 0 ? TSB_FT_HELLO_OK : TSB_FT_ACK);
    assert_int_equal(flood.s.n, 30001);
    for (size_t i = 1; i < flood.s.n; i++)
        assert_int_equal(flood.s.type[i], TSB_FT_ACK);
    assert_int_equal(f.entries, 30000 + 100);
    /* the budget, plus what each of the two connections may hold past its share: its input
     * buffer (the stream reads up to 64 KiB before it pauses) and one request */
    size_t slack = 2 * (2 * 64 * 1024 + 4096);
    print_message("ingest peak: %zu bytes buffered (budget 262144)\n", f.peak);
    if (f.peak > 262144 + slack)
        fail_msg("the ingest buffered %zu bytes at its peak, over 262144 + %zu", f.peak, slack);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as tsbagd: a peer gone is a write error, not a signal */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replies_in_request_order),
        cmocka_unit_test(test_half_close_answers_then_ends),
        cmocka_unit_test(test_half_close_mid_frame_is_truncated),
        cmocka_unit_test(test_first_frame_must_be_hello),
        cmocka_unit_test(test_reset_with_requests_in_flight),
        cmocka_unit_test(test_stop_answers_what_was_taken_in),
        cmocka_unit_test(test_budget_non_reader_and_normal_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
