/*
 * daemon_request: the one-request conversation of the operator verbs that talk to the running
 * tsbagd (`tsbag seal`, `tsbag retry`): connect to its Unix socket, HELLO, one request, one
 * reply, close, on a private libuv loop that is closed before returning.
 */
#include "cli.h"

#include "client.h"
#include "err.h"

#include <stdio.h>
#include <uv.h>

struct conversation {
    const char *verb;
    const char *socket;
    uint8_t type;
    struct tsb_slice body;
    tsb_cli_reply_fn fn;
    void *arg;
    int rc;
};

static void on_closed(void *data)
{
    (void)data;
}

static void on_reply(struct tsb_client *c, void *arg, int status, const struct tsb_frame *reply)
{
    struct conversation *cv = arg;
    if (status != 0 || reply == NULL) {
        fprintf(stderr, "tsbag %s: connection lost before the answer (%s)\n", cv->verb,
                tsb_strerror(status));
        cv->rc = TSB_EXIT_FAIL;
    } else {
        cv->rc = cv->fn(cv->arg, reply);
    }
    tsb_client_close(c, on_closed);
}

static void on_ready(struct tsb_client *c, int status, const struct tsb_hello_ok *hello)
{
    struct conversation *cv = tsb_client_data(c);
    (void)hello;
    if (status != 0) {
        fprintf(stderr, "tsbag %s: cannot talk to tsbagd on %s: %s\n", cv->verb, cv->socket,
                tsb_err_detail());
        tsb_client_close(c, on_closed);
        return;
    }
    if (tsb_client_request(c, cv->type, cv->body, on_reply, cv) != 0) {
        fprintf(stderr, "tsbag %s: %s\n", cv->verb, tsb_err_detail());
        tsb_client_close(c, on_closed);
    }
}

int tsb_cli_daemon_request(struct tsb_cli *cli, const char *verb, uint8_t type,
                           struct tsb_slice body, tsb_cli_reply_fn fn, void *arg)
{
    char source[64];
    snprintf(source, sizeof(source), "tsbag-%s", verb);
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return TSB_EXIT_USAGE;
    struct conversation cv = {.verb = verb,
                              .socket = cli->cfg.ingest.unix_socket,
                              .type = type,
                              .body = body,
                              .fn = fn,
                              .arg = arg,
                              .rc = TSB_EXIT_USAGE};
    struct tsb_client_opts o = {.unix_path = cli->cfg.ingest.unix_socket, .source = source};
    struct tsb_client *c = NULL;
    if (tsb_client_connect(&loop, &o, on_ready, &cv, &c) != 0) {
        fprintf(stderr, "tsbag %s: %s\n", verb, tsb_err_detail());
        uv_loop_close(&loop);
        return TSB_EXIT_USAGE;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "tsbag %s: event loop closed with handles open\n", verb);
    return cv.rc;
}
