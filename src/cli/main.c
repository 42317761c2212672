/*
 * tsbag: the operator and auditor command line. Global options come before the verb:
 *   tsbag [-c FILE] [-s section.key=value]... VERB [ARGS]
 * Without -c the embedded defaults apply (the same ones tsbagd uses), so `tsbag hash` and the
 * verbs that read the archive work from the quick-start folder with no file at all.
 */
#include "cli.h"

#include "err.h"
#include "log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct tsb_cli_verb tsb_cli_verbs[] = {
    {"hash", "print the journal hash of files exactly as tsbagd computes it", tsb_cmd_hash},
    {"status", "entries, bags by state, oldest unstamped entry, alarm", tsb_cmd_status},
    {"seal", "ask the running tsbagd to seal staged entries now", tsb_cmd_seal},
    {"retry", "ask the running tsbagd to send a held bag again", tsb_cmd_retry},
    {"reconcile", "reconcile the archive with eHealth and check it (nightly)", tsb_cmd_reconcile},
    {"verify", "prove that prescriptions existed unchanged at their stamp time", tsb_cmd_verify},
    {"backup", "copy the archive while tsbagd runs, then check the copy", tsb_cmd_backup},
    {"renew", "RFC 4998 archive timestamps over the bags, renewed before expiry (daily)",
     tsb_cmd_renew},
    {"export", "write a self-contained evidence package for auditors", tsb_cmd_export},
    {"push", "submit files to a running tsbagd and print their Refs", tsb_cmd_push},
    {"doctor", "pre-flight check of configuration, keystore, TLS and eHealth", tsb_cmd_doctor},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tsbag [-c FILE] [-s section.key=value]... VERB [ARGS]\n"
               "       tsbag --help | --version\n\n"
               "verbs:\n");
    for (const struct tsb_cli_verb *v = tsb_cli_verbs; v->name; v++)
        fprintf(f, "  %-10s %s\n", v->name, v->summary);
    fprintf(f, "\nRun 'tsbag VERB --help' for a verb's options.\n"
               "  -c FILE    configuration file (default: the embedded defaults)\n"
               "  -s S.K=V   override one option, e.g. -s general.state_dir=/var/lib/tsbag\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    struct tsb_cli cli = {0};
    int ch, rc = TSB_EXIT_USAGE;

    /* a peer that goes away (tsbagd stopped, a pipe's reader gone) is an error each verb reports
     * and exits on, never a signal that kills it silently with its output unflushed */
    signal(SIGPIPE, SIG_IGN);
    tsb_log_setup(TSB_LOG_WARN, false);
    tsb_config_defaults(&cli.cfg);
    /* '+' stops at the verb so that its options are left for it */
    while ((ch = getopt_long(argc, argv, "+hVc:s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            usage(stdout);
            rc = TSB_EXIT_OK;
            goto out;
        case 'V':
            printf("tsbag %s\n", TSB_VERSION);
            rc = TSB_EXIT_OK;
            goto out;
        case 'c':
            cli.config_path = optarg;
            if (tsb_config_load_file(&cli.cfg, optarg) != 0) {
                fprintf(stderr, "tsbag: %s\n", tsb_err_detail());
                goto out;
            }
            break;
        case 's':
            if (tsb_config_set_override(&cli.cfg, optarg) != 0) {
                fprintf(stderr, "tsbag: %s\n", tsb_err_detail());
                goto out;
            }
            break;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        goto out;
    }
    if (tsb_config_finish(&cli.cfg) != 0) {
        fprintf(stderr, "tsbag: %s\n", tsb_err_detail());
        goto out;
    }
    tsb_log_setup(
        cli.cfg.general.log_level < TSB_LOG_WARN ? cli.cfg.general.log_level : TSB_LOG_WARN, false);
    for (const struct tsb_cli_verb *v = tsb_cli_verbs; v->name; v++) {
        if (strcmp(v->name, argv[optind]) == 0) {
            int vargc = argc - optind;
            char **vargv = argv + optind;
            optind = 0; /* reset getopt for the verb */
            rc = v->run(&cli, vargc, vargv);
            goto out;
        }
    }
    fprintf(stderr, "tsbag: unknown verb '%s' (see tsbag --help)\n", argv[optind]);
out:
    tsb_config_cleanup(&cli.cfg);
    return rc;
}
