/*
 * fetch: libcurl multi-socket on libuv. curl tells us which sockets to watch (socket callback) and
 * when to wake it (timer callback); uv_poll handles and one uv_timer do the watching, and every
 * wake-up ends by collecting finished transfers. Each watched socket gets its own heap context,
 * tied to curl's socket with curl_multi_assign and freed only from its uv close callback, so a
 * file descriptor number reused by curl never meets a half-closed handle. Completions are
 * delivered from uv callbacks, never from inside a curl callback.
 */
#include "fetch.h"

#include "err.h"
#include "log.h"
#include "mem.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct tsb_fetch *f;
    struct sock *prev, *next;
};

struct req {
    struct tsb_fetch *f;
    CURL *easy;
    struct curl_slist *headers;
    struct tsb_buf body;
    bool toobig;
    char errbuf[CURL_ERROR_SIZE];
    tsb_fetch_cb cb;
    void *arg;
    struct req *prev, *next;
};

struct tsb_fetch {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    char *ca_file;
    long connect_timeout_ms, timeout_ms;
    size_t max_response;
    bool allow_http;
    struct sock *socks;
    struct req *reqs;
    size_t inflight;
    int open_handles; /* uv handles not yet closed (timer + polls) */
    int dispatching;  /* inside check_done: a close requested now is deferred */
    bool closing, close_pending;
    void (*closed)(void *);
    void *closed_arg;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        tsb_fatal("libcurl failed to initialise");
}

const char *tsb_fetch_class_name(enum tsb_fetch_class c)
{
    static const char *const names[] = {"ok",      "http",    "network",  "tls",
                                        "timeout", "too big", "cancelled"};
    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "unknown";
}

/* ---- handle lifetime ----------------------------------------------------------------------- */

static void maybe_finish_close(struct tsb_fetch *f)
{
    if (!f->closing || f->open_handles > 0)
        return;
    void (*closed)(void *) = f->closed;
    void *arg = f->closed_arg;
    free(f->ca_file);
    free(f);
    if (closed)
        closed(arg);
}

static void on_sock_closed(uv_handle_t *h)
{
    struct sock *s = h->data;
    struct tsb_fetch *f = s->f;
    free(s);
    f->open_handles--;
    maybe_finish_close(f);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct tsb_fetch *f = h->data;
    f->open_handles--;
    maybe_finish_close(f);
}

static void sock_close(struct sock *s)
{
    struct tsb_fetch *f = s->f;
    if (s->prev)
        s->prev->next = s->next;
    else
        f->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* ---- completion ---------------------------------------------------------------------------- */

static enum tsb_fetch_class classify(CURLcode rc, const struct req *r, long status)
{
    switch (rc) {
    case CURLE_OK:
        return status >= 200 && status < 300 ? TSB_FETCH_OK : TSB_FETCH_HTTP;
    case CURLE_OPERATION_TIMEDOUT:
        return TSB_FETCH_TIMEOUT;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        return r->toobig || rc == CURLE_FILESIZE_EXCEEDED ? TSB_FETCH_TOOBIG : TSB_FETCH_NETWORK;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        return TSB_FETCH_TLS;
    default:
        return TSB_FETCH_NETWORK;
    }
}

static void req_unlink_free(struct req *r)
{
    struct tsb_fetch *f = r->f;
    if (r->prev)
        r->prev->next = r->next;
    else
        f->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    f->inflight--;
    curl_multi_remove_handle(f->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    tsb_buf_cleanup(&r->body);
    free(r);
}

static void deliver(struct req *r, enum tsb_fetch_class cls, long status, const char *error)
{
    /* curl owns the header's copy and frees it with the easy handle, before cb runs */
    char ctype[256] = "";
    const char *ct = NULL;
    if (curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
        snprintf(ctype, sizeof(ctype), "%s", ct);
    struct tsb_fetch_result res = {.cls = cls,
                                   .http_status = status,
                                   .body = r->body.p,
                                   .body_len = r->body.len,
                                   .content_type = ctype,
                                   .error = error};
    tsb_fetch_cb cb = r->cb;
    void *arg = r->arg;
    /* the callback may start new requests: take this one out of curl first, keep the body */
    struct tsb_buf body = r->body;
    tsb_buf_init(&r->body, 0);
    req_unlink_free(r);
    res.body = body.p;
    cb(arg, &res);
    tsb_buf_cleanup(&body);
}

static void do_close(struct tsb_fetch *f);

static void check_done(struct tsb_fetch *f)
{
    CURLMsg *m;
    int left;
    f->dispatching++;
    while (!f->close_pending && (m = curl_multi_info_read(f->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode rc = m->data.result;
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        enum tsb_fetch_class cls = classify(rc, r, status);
        char error[CURL_ERROR_SIZE + 64];
        if (cls == TSB_FETCH_OK)
            error[0] = '\0';
        else if (cls == TSB_FETCH_HTTP)
            snprintf(error, sizeof(error), "HTTP status %ld", status);
        else if (cls == TSB_FETCH_TOOBIG)
            snprintf(error, sizeof(error), "response larger than %zu bytes", f->max_response);
        else
            snprintf(error, sizeof(error), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        deliver(r, cls, status, error);
    }
    f->dispatching--;
    if (f->dispatching == 0 && f->close_pending)
        do_close(f);
}

/* ---- curl <-> libuv ------------------------------------------------------------------------ */

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock *s = h->data;
    struct tsb_fetch *f = s->f;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(f->multi, s->fd, flags, &running);
    check_done(f);
}

static void on_timer(uv_timer_t *t)
{
    struct tsb_fetch *f = t->data;
    int running;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(f);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct tsb_fetch *f = userp;
    struct sock *s = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            curl_multi_assign(f->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (s == NULL) {
        s = tsb_calloc(1, sizeof(*s));
        s->fd = fd;
        s->f = f;
        if (uv_poll_init_socket(f->loop, &s->poll, fd) != 0) {
            free(s);
            tsb_error("fetch: cannot watch socket %d", (int)fd);
            return -1;
        }
        s->poll.data = s;
        f->open_handles++;
        s->next = f->socks;
        if (f->socks)
            f->socks->prev = s;
        f->socks = s;
        curl_multi_assign(f->multi, fd, s);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct tsb_fetch *f = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&f->timer);
    else /* 0 means "as soon as possible": next loop iteration, never from inside curl */
        uv_timer_start(&f->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- public -------------------------------------------------------------------------------- */

int tsb_fetch_new(uv_loop_t *loop, const struct tsb_fetch_opts *o, struct tsb_fetch **out)
{
    pthread_once(&curl_once, curl_init_once);
    if (o->ca_file == NULL || o->ca_file[0] == '\0')
        return tsb_err(TSB_EINVAL, "fetch needs a CA bundle (tsa.ca_file)");
    struct tsb_fetch *f = tsb_calloc(1, sizeof(*f));
    f->loop = loop;
    f->ca_file = tsb_strdup(o->ca_file);
    f->connect_timeout_ms = (long)o->connect_timeout_ms;
    f->timeout_ms = (long)o->timeout_ms;
    f->max_response = o->max_response;
    f->allow_http = o->allow_http;
    if ((f->multi = curl_multi_init()) == NULL)
        tsb_fatal("curl_multi_init failed");
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    f->open_handles = 1;
    *out = f;
    return 0;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    struct req *r = arg;
    size_t len = size * n;
    if (tsb_buf_append(&r->body, p, len) != 0) {
        r->toobig = true;
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    return len;
}

/* Appends "name: value" (value in double quotes when quoted) to q's headers. */
static void append_header(struct req *q, const char *name, const char *value, bool quoted)
{
    size_t n = strlen(name) + strlen(value) + 8;
    char *h = tsb_malloc(n);
    snprintf(h, n, quoted ? "%s: \"%s\"" : "%s: %s", name, value);
    q->headers = curl_slist_append(q->headers, h);
    free(h);
}

int tsb_fetch_post(struct tsb_fetch *f, const struct tsb_fetch_request *rq, tsb_fetch_cb cb,
                   void *arg)
{
    int r = TSB_EINTERNAL;
    if (f->closing)
        return tsb_err(TSB_ECLOSED, "fetch client is closing");
    struct req *q = tsb_calloc(1, sizeof(*q));
    q->f = f;
    q->cb = cb;
    q->arg = arg;
    tsb_buf_init(&q->body, f->max_response);
    if ((q->easy = curl_easy_init()) == NULL) {
        r = tsb_err(TSB_ENOMEM, "curl_easy_init failed");
        goto fail;
    }
    const char *ct =
        rq->content_type && rq->content_type[0] ? rq->content_type : "text/xml; charset=utf-8";
    append_header(q, "Content-Type", ct, false);
    if (rq->accept != NULL && rq->accept[0] != '\0')
        append_header(q, "Accept", rq->accept, false);
    q->headers = curl_slist_append(q->headers, "Expect:"); /* no 100-continue round trip */
    if (rq->soap_action != NULL && rq->soap_action[0] != '\0')
        append_header(q, "SOAPAction", rq->soap_action, true);
    CURL *e = q->easy;
    CURLcode c = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (c == CURLE_OK)                                                                         \
            c = curl_easy_setopt(e, opt, val);                                                     \
    } while (0)
    SET(CURLOPT_URL, rq->url);
    SET(CURLOPT_PROTOCOLS_STR, f->allow_http ? "http,https" : "https");
    if (rq->userpwd != NULL) {
        SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SET(CURLOPT_USERPWD, rq->userpwd);
    }
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_POSTFIELDS, (const char *)rq->body);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    SET(CURLOPT_HTTPHEADER, q->headers);
    SET(CURLOPT_USERAGENT, "tsbag/" TSB_VERSION);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_CAINFO, f->ca_file);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    /* one call, one HTTP request: on a reused connection that the server closed, curl would
     * silently send the request again, hiding a lost answer from the caller's attempt count */
    SET(CURLOPT_FRESH_CONNECT, 1L);
    SET(CURLOPT_FORBID_REUSE, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, f->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, f->timeout_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->max_response);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, q);
    SET(CURLOPT_ERRORBUFFER, q->errbuf);
    SET(CURLOPT_PRIVATE, q);
#undef SET
    if (c != CURLE_OK) {
        r = tsb_err(TSB_EINVAL, "curl refused an option: %s", curl_easy_strerror(c));
        goto fail;
    }
    q->next = f->reqs;
    if (f->reqs)
        f->reqs->prev = q;
    f->reqs = q;
    f->inflight++;
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
        req_unlink_free(q);
        return tsb_err(TSB_EINTERNAL, "curl_multi_add_handle failed");
    }
    return 0;
fail:
    if (q->easy)
        curl_easy_cleanup(q->easy);
    curl_slist_free_all(q->headers);
    tsb_buf_cleanup(&q->body);
    free(q);
    return r;
}

size_t tsb_fetch_inflight(const struct tsb_fetch *f)
{
    return f->inflight;
}

static void do_close(struct tsb_fetch *f)
{
    f->close_pending = false;
    while (f->reqs != NULL)
        deliver(f->reqs, TSB_FETCH_CANCELLED, 0, "cancelled: the client is closing");
    curl_multi_cleanup(f->multi); /* may still report sockets to remove */
    f->multi = NULL;
    while (f->socks != NULL)
        sock_close(f->socks);
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
    maybe_finish_close(f);
}

void tsb_fetch_close(struct tsb_fetch *f, void (*closed)(void *arg), void *arg)
{
    if (f->closing)
        return;
    f->closing = true;
    f->closed = closed;
    f->closed_arg = arg;
    if (f->dispatching > 0)
        f->close_pending = true;
    else
        do_close(f);
}
