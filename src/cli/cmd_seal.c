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

static int on_reply(void *arg, const struct tsb_frame *reply)
{
    struct tsb_seal_ok ok;
    (void)arg;
    if (reply->type == TSB_FT_SEAL_OK && tsb_frame_parse_seal_ok(reply->body, &ok) == 0) {
        if (ok.bags == 0)
            printf("nothing staged: no bag made\n");
        else
            printf("sealed %" PRId64 " entries into %u bag(s) from SequenceNumber %" PRId64 "\n",
                   ok.entries, ok.bags, ok.first_seq);
        return TSB_EXIT_OK;
    }
    char why[512];
    tsb_client_describe(reply, why, sizeof(why));
    fprintf(stderr, "tsbag seal: %s\n", why);
    return TSB_EXIT_FAIL;
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
    return tsb_cli_daemon_request(cli, "seal", TSB_FT_SEAL, (struct tsb_slice){NULL, 0}, on_reply,
                                  NULL);
}
