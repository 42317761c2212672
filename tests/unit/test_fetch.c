/* Unit tests for fetch: real HTTPS POSTs over loopback to a small TLS server run by this test (a
 * thread with OpenSSL and blocking sockets), covering success, the headers the TSA needs, HTTP
 * errors with their body, the response cap, timeouts, resets, refused connections, an untrusted
 * server certificate, concurrency and cancellation. Every test ends with all handles closed and
 * uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "fetch.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the test server ----------------------------------------------------------------------- */

#define MAX_CONN 64

static char *dir;
static char ca_file[4200], rogue_ca[4200];
static SSL_CTX *sctx;
static int lfd = -1, port;
static pthread_t acceptor;
static pthread_t conns[MAX_CONN];
static int nconns;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void ssl_write_all(SSL *s, const char *p, size_t n)
{
    while (n > 0) {
        int w = SSL_write(s, p, (int)n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void reply(SSL *s, int status, const char *body, size_t len, bool with_length)
{
    char head[256];
    int n;
    if (with_length)
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, len);
    else
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n",
                     status);
    ssl_write_all(s, head, (size_t)n);
    ssl_write_all(s, body, len);
}

static const char *header(const char *req, const char *name, char *out, size_t n)
{
    const char *h = strcasestr(req, name);
    out[0] = '\0';
    if (h == NULL)
        return out;
    h += strlen(name);
    while (*h == ' ')
        h++;
    size_t l = strcspn(h, "\r\n");
    snprintf(out, n, "%.*s", (int)(l < n - 1 ? l : n - 1), h);
    return out;
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    SSL *s = SSL_new(sctx);
    SSL_set_fd(s, fd);
    char *buf = malloc(1 << 20);
    size_t got = 0;
    if (SSL_accept(s) != 1)
        goto out;
    char *end = NULL;
    while (got < (1 << 20) - 1 && (end = strstr(buf, "\r\n\r\n")) == NULL) {
        int r = SSL_read(s, buf + got, (int)((1 << 20) - 1 - got));
        if (r <= 0)
            goto out;
        got += (size_t)r;
        buf[got] = '\0';
    }
    if (end == NULL)
        goto out;
    char cl[32], ct[128], sa[256], ua[128];
    size_t hl = (size_t)(end - buf) + 4;
    size_t want = (size_t)atol(header(buf, "Content-Length:", cl, sizeof(cl)));
    while (got - hl < want) {
        int r = SSL_read(s, buf + got, (int)((1 << 20) - 1 - got));
        if (r <= 0)
            goto out;
        got += (size_t)r;
        buf[got] = '\0';
    }
    char path[64];
    sscanf(buf, "POST %63s", path);
    if (strcmp(path, "/echo") == 0) {
        char *out = malloc(want + 1024);
        int n = snprintf(out, 1024, "ct=%s\nsa=%s\nua=%s\n", header(buf, "Content-Type:", ct, 128),
                         header(buf, "SOAPAction:", sa, 256), header(buf, "User-Agent:", ua, 128));
        memcpy(out + n, buf + hl, want);
        reply(s, 200, out, (size_t)n + want, true);
        free(out);
    } else if (strcmp(path, "/fault") == 0) {
        const char *f = "<fault>busy</fault>";
        reply(s, 500, f, strlen(f), true);
    } else if (strcmp(path, "/503") == 0) {
        reply(s, 503, "down", 4, true);
    } else if (strcmp(path, "/big") == 0 || strcmp(path, "/bigstream") == 0) {
        size_t n = 64 * 1024;
        char *big = malloc(n);
        memset(big, 'x', n);
        reply(s, 200, big, n, strcmp(path, "/big") == 0);
        free(big);
    } else if (strcmp(path, "/slow") == 0) {
        /* never answer; wait (at most 10 s) until the client gives up and closes */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 10000);
    } else if (strcmp(path, "/reset") == 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
        fd = -1;
        SSL_free(s);
        free(buf);
        return NULL;
    } else {
        reply(s, 404, "no", 2, true);
    }
    SSL_shutdown(s);
out:
    SSL_free(s);
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            return NULL; /* shutdown() at teardown */
        pthread_mutex_lock(&mu);
        if (nconns < MAX_CONN)
            pthread_create(&conns[nconns++], NULL, serve, (void *)(intptr_t)fd);
        else
            close(fd);
        pthread_mutex_unlock(&mu);
    }
}

static int setup(void **state)
{
    signal(SIGPIPE, SIG_IGN); /* the server writes to clients that gave up */
    dir = tsb_test_tmpdir();
    if (tsb_test_sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                    "-nodes -keyout ca.key -out ca.pem -subj /CN=fetch-test-ca -days 2 "
                    "-addext basicConstraints=critical,CA:true 2>/dev/null && "
                    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                    "-keyout srv.key -out srv.csr -subj /CN=localhost 2>/dev/null && "
                    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' >srv.ext && "
                    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                    "-days 2 -extfile srv.ext -out srv.pem 2>/dev/null && "
                    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                    "-keyout rogue.key -out rogue.pem -subj /CN=rogue -days 2 2>/dev/null",
                    dir) != 0)
        return -1;
    snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", dir);
    snprintf(rogue_ca, sizeof(rogue_ca), "%s/rogue.pem", dir);
    char cert[4200], key[4200];
    snprintf(cert, sizeof(cert), "%s/srv.pem", dir);
    snprintf(key, sizeof(key), "%s/srv.key", dir);
    sctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_file(sctx, cert, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1)
        return -1;
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    port = ntohs(a.sin_port);
    pthread_create(&acceptor, NULL, accept_loop, NULL);
    return 0;
}

static int teardown(void **state)
{
    shutdown(lfd, SHUT_RDWR);
    pthread_join(acceptor, NULL);
    close(lfd);
    for (int i = 0; i < nconns; i++)
        pthread_join(conns[i], NULL);
    SSL_CTX_free(sctx);
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

/* ---- client side --------------------------------------------------------------------------- */

struct outcome {
    bool done;
    enum tsb_fetch_class cls;
    long status;
    char *body;
    size_t body_len;
    char error[512];
};

struct run {
    struct tsb_fetch *f;
    int pending;
    bool closed;
    struct outcome out[8];
};

struct slot {
    struct run *run;
    int i;
};

static void on_closed(void *arg)
{
    ((struct run *)arg)->closed = true;
}

static void on_done(void *arg, const struct tsb_fetch_result *res)
{
    struct slot *s = arg;
    struct outcome *o = &s->run->out[s->i];
    assert_false(o->done); /* exactly once */
    o->done = true;
    o->cls = res->cls;
    o->status = res->http_status;
    o->body = malloc(res->body_len + 1);
    memcpy(o->body, res->body ? (const char *)res->body : "", res->body_len);
    o->body[res->body_len] = '\0';
    o->body_len = res->body_len;
    snprintf(o->error, sizeof(o->error), "%s", res->error);
    if (--s->run->pending == 0)
        tsb_fetch_close(s->run->f, on_closed, s->run);
}

static char url_buf[8][256];

static const char *url(int i, const char *path)
{
    snprintf(url_buf[i], sizeof(url_buf[i]), "https://127.0.0.1:%d%s", port, path);
    return url_buf[i];
}

/* Posts each path concurrently, runs the loop until everything is closed. */
static void run_paths(struct run *run, const char *ca, int64_t timeout_ms, const char **paths,
                      const char **bodies, int n)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct tsb_fetch_opts o = {.ca_file = ca,
                               .connect_timeout_ms = 5000,
                               .timeout_ms = timeout_ms,
                               .max_response = 16 * 1024};
    memset(run, 0, sizeof(*run));
    assert_int_equal(tsb_fetch_new(&loop, &o, &run->f), 0);
    struct slot slots[8];
    run->pending = n;
    for (int i = 0; i < n; i++) {
        slots[i] = (struct slot){run, i};
        struct tsb_fetch_request rq = {.url = paths[i][0] == '/' ? url(i, paths[i]) : paths[i],
                                       .soap_action =
                                           "urn:be:fgov:ehealth:timestamping:protocol:v2:stamp",
                                       .body = (const uint8_t *)bodies[i],
                                       .body_len = strlen(bodies[i])};
        assert_int_equal(tsb_fetch_post(run->f, &rq, on_done, &slots[i]), 0);
        assert_false(run->out[i].done); /* never from inside post */
    }
    assert_int_equal(tsb_fetch_inflight(run->f), (size_t)n);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(run->closed);
    assert_int_equal(uv_loop_close(&loop), 0);
    for (int i = 0; i < n; i++)
        assert_true(run->out[i].done);
}

static void run_cleanup(struct run *run)
{
    for (int i = 0; i < 8; i++)
        free(run->out[i].body);
}

static void one(const char *ca, int64_t timeout_ms, const char *path, struct run *run)
{
    const char *paths[] = {path};
    const char *bodies[] = {"<x/>"};
    run_paths(run, ca, timeout_ms, paths, bodies, 1);
}

static void test_post_and_headers(void **state)
{
    struct run run;
    const char *paths[] = {"/echo", "/echo", "/echo", "/echo"};
    const char *bodies[] = {"<a>1</a>", "<b>2</b>", "<c>3</c>", "<d>4</d>"};
    run_paths(&run, ca_file, 5000, paths, bodies, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(run.out[i].cls, TSB_FETCH_OK);
        assert_int_equal(run.out[i].status, 200);
        assert_non_null(strstr(run.out[i].body, "ct=text/xml; charset=utf-8\n"));
        assert_non_null(
            strstr(run.out[i].body, "sa=\"urn:be:fgov:ehealth:timestamping:protocol:v2:stamp\"\n"));
        assert_non_null(strstr(run.out[i].body, "ua=tsbag/"));
        /* each answer carries its own request body: no mix-up between concurrent requests */
        size_t bl = strlen(bodies[i]);
        assert_memory_equal(run.out[i].body + run.out[i].body_len - bl, bodies[i], bl);
        assert_string_equal(run.out[i].error, "");
    }
    run_cleanup(&run);
}

static void test_http_errors_keep_body(void **state)
{
    struct run run;
    const char *paths[] = {"/fault", "/503"};
    const char *bodies[] = {"<x/>", "<x/>"};
    run_paths(&run, ca_file, 5000, paths, bodies, 2);
    assert_int_equal(run.out[0].cls, TSB_FETCH_HTTP);
    assert_int_equal(run.out[0].status, 500);
    assert_string_equal(run.out[0].body, "<fault>busy</fault>");
    assert_int_equal(run.out[1].cls, TSB_FETCH_HTTP);
    assert_int_equal(run.out[1].status, 503);
    assert_string_equal(run.out[1].error, "HTTP status 503");
    run_cleanup(&run);
}

static void test_response_cap(void **state)
{
    struct run run;
    const char *paths[] = {"/big", "/bigstream"};
    const char *bodies[] = {"<x/>", "<x/>"};
    run_paths(&run, ca_file, 5000, paths, bodies, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run.out[i].cls, TSB_FETCH_TOOBIG);
        assert_true(run.out[i].body_len <= 16 * 1024);
    }
    run_cleanup(&run);
}

static void test_timeout(void **state)
{
    struct run run;
    one(ca_file, 300, "/slow", &run);
    assert_int_equal(run.out[0].cls, TSB_FETCH_TIMEOUT);
    assert_int_equal(run.out[0].status, 0);
    run_cleanup(&run);
}

static void test_reset_and_refused(void **state)
{
    struct run run;
    one(ca_file, 5000, "/reset", &run);
    assert_int_equal(run.out[0].cls, TSB_FETCH_NETWORK);
    run_cleanup(&run);

    /* a port nobody listens on */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s);
    char u[128];
    snprintf(u, sizeof(u), "https://127.0.0.1:%d/echo", ntohs(a.sin_port));
    one(ca_file, 5000, u, &run);
    assert_int_equal(run.out[0].cls, TSB_FETCH_NETWORK);
    assert_true(strlen(run.out[0].error) > 0);
    run_cleanup(&run);
}

static void test_untrusted_server(void **state)
{
    struct run run;
    one(rogue_ca, 5000, "/echo", &run);
    assert_int_equal(run.out[0].cls, TSB_FETCH_TLS);
    run_cleanup(&run);
}

static void test_plain_http_refused(void **state)
{
    struct run run;
    char u[128];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/echo", port);
    one(ca_file, 5000, u, &run);
    assert_int_equal(run.out[0].cls, TSB_FETCH_NETWORK);
    assert_int_equal(run.out[0].status, 0);
    run_cleanup(&run);
}

static void cancel_cb(void *arg, const struct tsb_fetch_result *res)
{
    struct outcome *o = arg;
    o->done = true;
    o->cls = res->cls;
}

static void test_close_cancels(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct tsb_fetch_opts o = {
        .ca_file = ca_file, .connect_timeout_ms = 5000, .timeout_ms = 5000, .max_response = 1024};
    struct tsb_fetch *f;
    assert_int_equal(tsb_fetch_new(&loop, &o, &f), 0);
    struct outcome out = {0};
    struct tsb_fetch_request rq = {
        .url = url(0, "/slow"), .soap_action = NULL, .body = (const uint8_t *)"x", .body_len = 1};
    assert_int_equal(tsb_fetch_post(f, &rq, cancel_cb, &out), 0);
    /* let it connect, then close with the request in flight */
    uv_run(&loop, UV_RUN_NOWAIT);
    bool closed = false;
    struct run r = {0};
    tsb_fetch_close(f, on_closed, &r);
    assert_true(out.done);
    assert_int_equal(out.cls, TSB_FETCH_CANCELLED);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    closed = r.closed;
    assert_true(closed);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_missing_ca(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct tsb_fetch_opts o = {.ca_file = "", .timeout_ms = 1000, .max_response = 10};
    struct tsb_fetch *f = NULL;
    assert_int_equal(tsb_fetch_new(&loop, &o, &f), TSB_EINVAL);
    assert_null(f);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_and_headers),   cmocka_unit_test(test_http_errors_keep_body),
        cmocka_unit_test(test_response_cap),       cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_reset_and_refused),  cmocka_unit_test(test_untrusted_server),
        cmocka_unit_test(test_plain_http_refused), cmocka_unit_test(test_close_cancels),
        cmocka_unit_test(test_missing_ca),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
