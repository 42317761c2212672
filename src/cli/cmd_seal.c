/*
 * tsbag seal: asks the tsbagd running on this state folder (its Unix socket) to seal every staged
 * entry into bags now, instead of at the next interval boundary, and prints what was sealed.
 * Exit: 0 sealed (or nothing was staged), 1 the daemon refused or failed (its reason on stderr),
 * 2 usage or could not connect.
 */
#include "cli.h"

#include "client.h"
#include "err.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <uv.h>

struct seal {
    int rc;
};

static void on_closed(void *data)
{
    (void)data;
}

static void on_reply(struct tsb_client *c, void *arg, int status, const struct tsb_frame *reply)
{
    struct seal *s = arg;
    struct tsb_seal_ok ok;
    if (status != 0 || reply == NULL) {
        fprintf(stderr, "tsbag seal: connection lost before the answer (%s)\n",
                tsb_strerror(status));
        s->rc = TSB_EXIT_FAIL;
    } else if (reply->type == TSB_FT_SEAL_OK && tsb_frame_parse_seal_ok(reply->body, &ok) == 0) {
        if (ok.bags == 0)
            printf("nothing staged: no bag made\n");
        else
            printf("sealed %" PRId64 " entries into %u bag(s) from SequenceNumber %" PRId64 "\n",
                   ok.entries, ok.bags, ok.first_seq);
        s->rc = TSB_EXIT_OK;
    } else {
        char why[512];
        tsb_client_describe(reply, why, sizeof(why));
        fprintf(stderr, "tsbag seal: %s\n", why);
        s->rc = TSB_EXIT_FAIL;
    }
    tsb_client_close(c, on_closed);
}

static void on_ready(struct tsb_client *c, int status, const struct tsb_hello_ok *hello)
{
    struct seal *s = tsb_client_data(c);
    (void)hello;
    if (status != 0) {
        fprintf(stderr, "tsbag seal: cannot talk to tsbagd: %s\n", tsb_err_detail());
        s->rc = TSB_EXIT_USAGE;
        tsb_client_close(c, on_closed);
        return;
    }
    if (tsb_client_request(c, TSB_FT_SEAL, (struct tsb_slice){NULL, 0}, on_reply, s) != 0) {
        fprintf(stderr, "tsbag seal: %s\n", tsb_err_detail());
        s->rc = TSB_EXIT_USAGE;
        tsb_client_close(c, on_closed);
    }
}

int tsb_cmd_seal(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            printf("usage: tsbag seal\n\nAsks the running tsbagd (Unix socket %s) to seal every "
                   "staged entry now.\n",
                   cli->cfg.ingest.unix_socket);
            return TSB_EXIT_OK;
        }
        return TSB_EXIT_USAGE;
    }
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return TSB_EXIT_USAGE;
    struct seal s = {.rc = TSB_EXIT_USAGE};
    struct tsb_client_opts o = {.unix_path = cli->cfg.ingest.unix_socket, .source = "tsbag-seal"};
    struct tsb_client *c = NULL;
    if (tsb_client_connect(&loop, &o, on_ready, &s, &c) != 0) {
        fprintf(stderr, "tsbag seal: %s\n", tsb_err_detail());
        uv_loop_close(&loop);
        return TSB_EXIT_USAGE;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "tsbag seal: event loop closed with handles open\n");
    return s.rc;
}
