/*
 * fetch_sync: a private uv loop per call (the CLI makes a handful of calls per run). The loop runs
 * until the request's callback has fired and fetch has closed every handle; uv_loop_close must
 * then succeed, which is checked rather than assumed.
 */
#include "fetch_sync.h"

#include "err.h"

#include <stdbool.h>
#include <string.h>

struct sync {
    bool done, closed;
    int r;
    long status;
    struct tsb_buf *resp;
};

static void on_done(void *arg, const struct tsb_fetch_result *res)
{
    struct sync *s = arg;
    s->done = true;
    s->status = res->http_status;
    switch (res->cls) {
    case TSB_FETCH_OK:
    case TSB_FETCH_HTTP:
        s->r = tsb_buf_append(s->resp, res->body, res->body_len);
        if (s->r != 0)
            s->r = tsb_err(TSB_ETOOBIG, "answer larger than %zu bytes", s->resp->max);
        break;
    case TSB_FETCH_TIMEOUT:
        s->r = tsb_err(TSB_ETIMEOUT, "%s", res->error);
        break;
    case TSB_FETCH_TOOBIG:
        s->r = tsb_err(TSB_ETOOBIG, "%s", res->error);
        break;
    case TSB_FETCH_NETWORK:
    case TSB_FETCH_TLS:
        s->r = tsb_err(TSB_ENET, "%s: %s", tsb_fetch_class_name(res->cls), res->error);
        break;
    case TSB_FETCH_CANCELLED:
        s->r = tsb_err(TSB_EINTERNAL, "request cancelled: %s", res->error);
        break;
    }
}

static void on_closed(void *arg)
{
    ((struct sync *)arg)->closed = true;
}

int tsb_fetch_sync_post(const struct tsb_fetch_opts *o, const char *url, const char *soap_action,
                        const uint8_t *body, size_t len, struct tsb_buf *resp, long *status)
{
    struct tsb_fetch_request rq = {
        .url = url, .soap_action = soap_action, .body = body, .body_len = len};
    return tsb_fetch_sync_request(o, &rq, resp, status);
}

int tsb_fetch_sync_request(const struct tsb_fetch_opts *o, const struct tsb_fetch_request *rq,
                           struct tsb_buf *resp, long *status)
{
    int r = TSB_EINTERNAL;
    uv_loop_t loop;
    struct tsb_fetch *f = NULL;
    struct sync s = {.resp = resp};
    int uv = uv_loop_init(&loop);
    if (uv != 0)
        return tsb_err(TSB_EINTERNAL, "uv_loop_init: %s", uv_strerror(uv));
    if ((r = tsb_fetch_new(&loop, o, &f)) != 0)
        goto out;
    if ((r = tsb_fetch_post(f, rq, on_done, &s)) != 0)
        goto out;
    while (!s.done && uv_run(&loop, UV_RUN_ONCE) != 0)
        ;
    if (!s.done)
        r = tsb_err(TSB_EINTERNAL, "the fetch loop stopped before the answer");
    else
        r = s.r;
out:
    if (f != NULL) {
        tsb_fetch_close(f, on_closed, &s);
        while (!s.closed && uv_run(&loop, UV_RUN_ONCE) != 0)
            ;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv = uv_loop_close(&loop);
    if (uv != 0 && r == 0)
        r = tsb_err(TSB_EINTERNAL, "uv_loop_close: %s", uv_strerror(uv));
    if (r == 0)
        *status = s.status;
    return r;
}
