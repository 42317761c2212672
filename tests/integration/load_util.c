/*
 * load_util: one pipelined connection driven to completion on its own libuv loop.
 */
#include "load_util.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct load {
    const struct load_spec *spec;
    struct load_result *res;
    struct tsb_client *c;
    size_t next, answered, acks;
    int connect_status;
    char detail[600]; /* why the connection was refused */
    bool closed;
};

static void pump(struct load *l);

static void closed(void *data)
{
    struct load *l = data;
    l->closed = true;
}

static void on_reply(struct tsb_client *c, void *arg, int status, const struct tsb_frame *f)
{
    struct load *l = tsb_client_data(c);
    struct load_result *r = &l->res[(size_t)(uintptr_t)arg];
    l->answered++;
    r->status = status;
    if (status == 0) {
        r->type = f->type;
        if (f->type == TSB_FT_ACK) {
            struct tsb_ack a;
            if (tsb_frame_parse_ack(f->body, &a) == 0) {
                r->ref = a.ref;
                r->received_ms = a.received_ms;
                memcpy(r->hash, a.hash, sizeof(r->hash));
                l->acks++;
                if (l->spec->hook != NULL && l->acks == l->spec->hook_after_acks)
                    l->spec->hook(l->spec->hook_arg);
            }
        } else if (f->type == TSB_FT_NACK) {
            struct tsb_nack_reply n;
            if (tsb_frame_parse_nack(f->body, &n) == 0) {
                r->nack = n.code;
                r->nack_closing = n.closing;
            }
        }
        pump(l);
    }
    if ((l->answered == l->spec->n || tsb_client_ended(c)) && l->c != NULL) {
        tsb_client_close(l->c, closed);
        l->c = NULL;
    }
}

static void pump(struct load *l)
{
    const struct load_spec *s = l->spec;
    while (l->c != NULL && !tsb_client_ended(l->c) && l->next < s->n &&
           tsb_client_inflight(l->c) < s->depth) {
        size_t i = l->next++;
        struct tsb_slice fmt = {(const uint8_t *)(s->format ? s->format : ""),
                                s->format ? strlen(s->format) : 0};
        struct tsb_slice ref = {NULL, 0};
        if (s->client_refs != NULL)
            ref = (struct tsb_slice){(const uint8_t *)s->client_refs[i], strlen(s->client_refs[i])};
        int r =
            s->entries != NULL
                ? tsb_client_submit(l->c, fmt, ref, (struct tsb_slice){s->entries[i], s->lens[i]},
                                    on_reply, (void *)(uintptr_t)i)
                : tsb_client_submit_hash(l->c, fmt, ref, s->digests[i], on_reply,
                                         (void *)(uintptr_t)i);
        if (r != 0) {
            l->res[i].status = r;
            l->answered++;
        }
    }
}

static void on_ready(struct tsb_client *c, int status, const struct tsb_hello_ok *h)
{
    struct load *l = tsb_client_data(c);
    (void)h;
    l->connect_status = status;
    if (status != 0) {
        snprintf(l->detail, sizeof(l->detail), "%s", tsb_err_detail());
        for (size_t i = 0; i < l->spec->n; i++)
            l->res[i].status = status;
        tsb_client_close(c, closed);
        l->c = NULL;
        return;
    }
    pump(l);
    if (l->spec->n == 0) {
        tsb_client_close(c, closed);
        l->c = NULL;
    }
}

int load_run(const struct load_spec *spec, struct load_result *res)
{
    uv_loop_t loop;
    struct load l = {.spec = spec, .res = res};
    memset(res, 0, spec->n * sizeof(*res));
    for (size_t i = 0; i < spec->n; i++)
        res[i].status = TSB_ECLOSED; /* never sent */
    if (uv_loop_init(&loop) != 0)
        abort();
    if (tsb_client_connect(&loop, &spec->client, on_ready, &l, &l.c) != 0) {
        l.connect_status = TSB_ENET;
        l.c = NULL;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "load_run: handles left open\n");
        abort();
    }
    if (l.connect_status != 0) /* the detail of the refusal, not of the close that followed */
        tsb_err(l.connect_status, "%s", l.detail);
    return l.connect_status;
}
