/*
 * tsbagd: the appliance daemon. Runs in the foreground (systemd-friendly), logs to stderr.
 *   tsbagd [-c FILE] [-s section.key=value]... [--print-config]
 * Start: configuration, state folder, archive (migrated at open), writer thread, listeners, then
 * READY=1 to systemd when NOTIFY_SOCKET is set. Stop on SIGTERM/SIGINT: ingest answers what is in
 * flight, the writer commits what is queued, everything closes, exit 0.
 * Exit codes (docs/operations.md): 0 clean stop, 1 could not start, 2 usage, 3 the archive could
 * not be written (durability lost: nothing more was acknowledged).
 */
#include "config.h"
#include "err.h"
#include "ingest.h"
#include "sealer.h"
#include "sender.h"
#include "log.h"
#include "store.h"
#include "writer.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#define EXIT_USAGE   2
#define EXIT_ARCHIVE 3

struct daemon {
    uv_loop_t loop;
    struct tsb_config cfg;
    struct tsb_writer *writer;
    struct tsb_ingest *ingest;
    struct tsb_sealer *sealer;
    struct tsb_sender *sender;
    uv_signal_t sigterm, sigint;
    bool stopping;
    int exit_code;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tsbagd [-c FILE] [-s section.key=value]... [--print-config]\n"
               "       tsbagd --help | --version\n"
               "  -c FILE         configuration file (default: the embedded defaults)\n"
               "  -s S.K=V        override one option (applied after the file)\n"
               "  --print-config  print the effective configuration and exit\n");
}

/* Tells systemd (Type=notify) that the sockets are bound; a no-op outside systemd. */
static void notify_ready(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || (path[0] != '/' && path[0] != '@') || strlen(path) >= 108)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path));
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    static const char msg[] = "READY=1";
    if (sendto(fd, msg, sizeof(msg) - 1, 0, (struct sockaddr *)&sa, len) < 0)
        tsb_warn("tsbagd: cannot notify systemd: %s", strerror(errno));
    close(fd);
}

static void close_signals(struct daemon *d)
{
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void writer_stopped(void *arg)
{
    struct daemon *d = arg;
    d->writer = NULL;
    tsb_info("tsbagd: writer stopped, archive closed");
    close_signals(d);
}

/* Stop order: ingest, sealer, sender (their queued writer jobs complete), then the writer. */
static void sender_stopped(void *arg)
{
    struct daemon *d = arg;
    d->sender = NULL;
    tsb_writer_stop(d->writer, writer_stopped, d);
}

static void sealer_stopped(void *arg)
{
    struct daemon *d = arg;
    d->sealer = NULL;
    if (d->sender != NULL)
        tsb_sender_stop(d->sender, sender_stopped, d);
    else
        sender_stopped(d);
}

static void ingest_stopped(void *arg)
{
    struct daemon *d = arg;
    d->ingest = NULL;
    if (d->sealer != NULL)
        tsb_sealer_stop(d->sealer, sealer_stopped, d);
    else
        sealer_stopped(d);
}

static void begin_stop(struct daemon *d, int code, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    d->exit_code = code;
    tsb_info("tsbagd: stopping (%s)", why);
    tsb_ingest_stop(d->ingest, code == EXIT_ARCHIVE, ingest_stopped, d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (d->stopping) {
        tsb_warn("tsbagd: %s again while stopping; still finishing requests in flight",
                 strsignal(signum));
        return;
    }
    begin_stop(d, 0, strsignal(signum));
}

static void on_writer_fatal(void *arg, int status)
{
    struct daemon *d = arg;
    tsb_error("tsbagd: the archive can no longer be written (%s); no further entry will be "
              "acknowledged; exiting with status %d",
              tsb_strerror(status), EXIT_ARCHIVE);
    begin_stop(d, EXIT_ARCHIVE, "archive write failure");
    d->exit_code = EXIT_ARCHIVE;
}

static void on_writer_progress(void *arg)
{
    struct daemon *d = arg;
    if (d->ingest != NULL)
        tsb_ingest_writer_progress(d->ingest);
}

static int make_state_dir(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return tsb_err(TSB_ECONFIG, "general.state_dir %s is not a folder", path);
        return 0;
    }
    if (mkdir(path, 0750) != 0 && errno != EEXIST)
        return tsb_err(TSB_EIO, "cannot create general.state_dir %s: %s", path, strerror(errno));
    tsb_info("tsbagd: created state folder %s", path);
    return 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"print-config", no_argument, NULL, 'P'}, {NULL, 0, NULL, 0},
    };
    struct daemon d = {0};
    struct tsb_store *store = NULL;
    bool print = false, loop_ok = false;
    int ch, rc = EXIT_USAGE;

    tsb_log_setup(TSB_LOG_INFO, isatty(STDERR_FILENO));
    tsb_config_defaults(&d.cfg);
    while ((ch = getopt_long(argc, argv, "hVc:s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        case 'V':
            printf("tsbagd %s\n", TSB_VERSION);
            rc = 0;
            goto out;
        case 'c':
            if (tsb_config_load_file(&d.cfg, optarg) != 0) {
                fprintf(stderr, "tsbagd: %s\n", tsb_err_detail());
                goto out;
            }
            break;
        case 's':
            if (tsb_config_set_override(&d.cfg, optarg) != 0) {
                fprintf(stderr, "tsbagd: %s\n", tsb_err_detail());
                goto out;
            }
            break;
        case 'P':
            print = true;
            break;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind != argc) {
        usage(stderr);
        goto out;
    }
    rc = EXIT_FAILURE;
    if (tsb_config_finish(&d.cfg) != 0) {
        fprintf(stderr, "tsbagd: %s\n", tsb_err_detail());
        goto out;
    }
    if (print) {
        tsb_config_dump(&d.cfg, stdout);
        rc = 0;
        goto out;
    }
    tsb_log_setup(d.cfg.general.log_level, isatty(STDERR_FILENO));
    signal(SIGPIPE, SIG_IGN);
    tsb_info("tsbagd %s starting (state %s)", TSB_VERSION, d.cfg.general.state_dir);

    if (make_state_dir(d.cfg.general.state_dir) != 0) {
        tsb_error("tsbagd: %s", tsb_err_detail());
        goto out;
    }
    /* quick_check: a damaged archive is refused before anything is written to it */
    struct tsb_store_open_opts so = {.busy_timeout_ms = (int)d.cfg.store.busy_timeout_ms,
                                     .quick_check = true};
    if (tsb_store_open(d.cfg.store.path, &so, &store) != 0) {
        tsb_error("tsbagd: archive %s: %s", d.cfg.store.path, tsb_err_detail());
        goto out;
    }
    struct tsb_store_stats st;
    if (tsb_store_stats(store, &st) != 0) {
        tsb_error("tsbagd: archive %s: %s", d.cfg.store.path, tsb_err_detail());
        goto out;
    }
    tsb_info("tsbagd: archive %s: %" PRId64 " entries, %" PRId64 " staged, last Ref %" PRId64
             ", last bag %" PRId64,
             d.cfg.store.path, st.entries, st.staged, st.last_ref, st.last_seq);

    if (uv_loop_init(&d.loop) != 0) {
        tsb_error("tsbagd: cannot create the event loop");
        goto out;
    }
    loop_ok = true;
    struct tsb_writer_opts wo = {
        .batch_max = (size_t)d.cfg.writer.batch_max,
        .batch_delay_ms = (int)d.cfg.writer.batch_delay_ms,
        .on_fatal = on_writer_fatal,
        .on_progress = on_writer_progress,
        .arg = &d,
    };
    if (tsb_writer_start(&d.loop, store, &wo, &d.writer) != 0) {
        tsb_error("tsbagd: %s", tsb_err_detail());
        goto out;
    }
    store = NULL; /* the writer thread owns it now */
    if (tsb_ingest_start(&d.loop, &d.cfg, d.writer, &d.ingest) != 0) {
        tsb_error("tsbagd: %s", tsb_err_detail());
        d.ingest = NULL;
        tsb_writer_stop(d.writer, NULL, NULL);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        goto out;
    }
    uv_signal_init(&d.loop, &d.sigterm);
    uv_signal_init(&d.loop, &d.sigint);
    d.sigterm.data = d.sigint.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    if (!d.cfg.sealer.enabled) {
        tsb_info("tsbagd: sealer.enabled=false: ingest only, entries stay staged");
    } else if (tsb_sender_start(&d.loop, &d.cfg, d.writer, &d.sender) != 0 ||
               tsb_sealer_start(&d.loop, &d.cfg, d.writer, d.sender, &d.sealer) != 0) {
        tsb_error("tsbagd: %s", tsb_err_detail());
        d.exit_code = EXIT_FAILURE;
        d.stopping = true;
        tsb_ingest_stop(d.ingest, false, ingest_stopped, &d);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        goto out;
    }
    if (d.sealer != NULL)
        tsb_ingest_set_seal_hook(d.ingest, tsb_sealer_seal_hook, d.sealer);
    notify_ready();
    tsb_info("tsbagd: ready");

    uv_run(&d.loop, UV_RUN_DEFAULT);
    rc = d.exit_code;
    tsb_info("tsbagd: stopped, exit status %d", rc);
out:
    tsb_store_close(store);
    if (loop_ok) {
        uv_walk(&d.loop, walk_close, NULL);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&d.loop) != 0)
            tsb_warn("tsbagd: event loop closed with handles still open");
    }
    tsb_config_cleanup(&d.cfg);
    return rc;
}
