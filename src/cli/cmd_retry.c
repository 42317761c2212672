/*
 * tsbag retry [SEQ]: after the operator fixed what made the TSA refuse a bag (or what made its
 * token fail verification), asks the tsbagd running on this state folder (its Unix socket) to
 * send the held bag again, without a restart. While the sender only waits after a transient
 * failure, it retries at once instead. SEQ, when given, must name that bag (a guard against
 * releasing the wrong one). Exit: 0 released, 1 nothing was held or waiting or SEQ is not the held
 * bag (the reason on stderr), 2 usage or could not connect.
 */
#include "cli.h"

#include "client.h"
#include "err.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static int on_reply(void *arg, const struct tsb_frame *reply)
{
    int64_t seq = 0;
    (void)arg;
    if (reply->type == TSB_FT_RETRY_OK && tsb_frame_parse_retry(reply->body, &seq) == 0) {
        if (seq == 0) {
            fprintf(stderr, "tsbag retry: no bag is held or waiting for a retry (tsbag status)\n");
            return TSB_EXIT_FAIL;
        }
        printf("bag %" PRId64 " released: tsbagd sends it again now; tsbag status shows the "
               "outcome\n",
               seq);
        return TSB_EXIT_OK;
    }
    char why[600];
    tsb_client_describe(reply, why, sizeof(why));
    fprintf(stderr, "tsbag retry: %s\n", why);
    return TSB_EXIT_FAIL;
}

int tsb_cmd_retry(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            printf("usage: tsbag retry [SEQ]\n\nAsks the running tsbagd (Unix socket %s) to send "
                   "the held bag again\n(SEQ, if given, must be that bag's SequenceNumber), once "
                   "the cause shown by\n`tsbag status` is fixed. No restart needed.\n",
                   cli->cfg.ingest.unix_socket);
            return TSB_EXIT_OK;
        }
        return TSB_EXIT_USAGE;
    }
    int64_t seq = 0;
    if (optind + 1 < argc) {
        fprintf(stderr, "tsbag retry: at most one SEQ\n");
        return TSB_EXIT_USAGE;
    }
    if (optind < argc) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(argv[optind], &end, 10);
        if (errno != 0 || end == argv[optind] || *end != '\0' || v < 1) {
            fprintf(stderr, "tsbag retry: SEQ '%s' is not a SequenceNumber (1, 2, ...)\n",
                    argv[optind]);
            return TSB_EXIT_USAGE;
        }
        seq = v;
    }
    uint8_t p[TSB_RETRY_BODY_LEN]; /* the SequenceNumber, big-endian (docs/protocol.md) */
    for (int i = 0; i < TSB_RETRY_BODY_LEN; i++)
        p[i] = (uint8_t)((uint64_t)seq >> (56 - 8 * i));
    return tsb_cli_daemon_request(cli, "retry", TSB_FT_RETRY, (struct tsb_slice){p, sizeof(p)},
                                  on_reply, NULL);
}
