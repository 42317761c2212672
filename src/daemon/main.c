/*
 * tsbagd: the appliance daemon. Runs in the foreground (systemd-friendly), logs to stderr.
 *   tsbagd [-c FILE] [-s section.key=value]... [--print-config]
 * Start: configuration, umask, state folder (writable, locked: one tsbagd per state folder),
 * keystore permissions, archive (migrated at open, writable), writer thread, listeners, sender,
 * then READY=1 to systemd when NOTIFY_SOCKET is set. SIGHUP re-reads the configuration (reload.c).
 * Stop on SIGTERM/SIGINT: ingest answers what is
 * in flight, the writer commits what is queued, everything closes, exit 0. Exit codes
 * (docs/operations.md): 0 clean stop, 1 could not start, 2 usage, 3 the archive could not be
 * written (durability lost: nothing more was acknowledged).
 */
#include "config.h"
#include "cpus.h"
#include "err.h"
#include "ingest.h"
#include "keystore.h"
#include "metrics.h"
#include "sealer.h"
#include "sender.h"
#include "tsa2.h"
#include "log.h"
#include "mem.h"
#include "reload.h"
#include "store.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
    struct tsb_tsa2 *tsa2; /* the second TSA, NULL when tsa2.url is empty */
    uv_signal_t sigterm, sigint, sighup;
    struct tsb_reload_arg *args; /* -c and -s in command-line order, replayed by SIGHUP */
    size_t nargs;
    bool stopping;
    int exit_code;
    int lock_fd; /* <state_dir>/tsbagd.lock, flock'ed for the life of the process */
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
    uv_close((uv_handle_t *)&d->sighup, NULL);
}

static void writer_stopped(void *arg)
{
    struct daemon *d = arg;
    d->writer = NULL;
    tsb_info("tsbagd: writer stopped, archive closed");
    close_signals(d);
}

/* Stop order: ingest, sealer, sender, second TSA (their queued writer jobs complete), then the
 * writer. */
static void tsa2_stopped(void *arg)
{
    struct daemon *d = arg;
    d->tsa2 = NULL;
    tsb_writer_stop(d->writer, writer_stopped, d);
}

static void sender_stopped(void *arg)
{
    struct daemon *d = arg;
    d->sender = NULL;
    if (d->tsa2 != NULL)
        tsb_tsa2_stop(d->tsa2, tsa2_stopped, d);
    else
        tsa2_stopped(d);
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
    tsb_metrics_stop();
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

static void on_sighup(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    (void)signum;
    if (d->stopping) {
        tsb_warn("tsbagd: SIGHUP while stopping: configuration not reloaded");
        return;
    }
    tsb_reload(&d->cfg, d->args, d->nargs, d->ingest, d->sender);
}

static void on_writer_fatal(void *arg, int status)
{
    struct daemon *d = arg;
    tsb_error("tsbagd: the archive can no longer be written (%s); no further entry will be "
              "acknowledged; exiting with status %d",
              tsb_strerror(status), EXIT_ARCHIVE);
    tsb_metrics_archive_failed();
    begin_stop(d, EXIT_ARCHIVE, "archive write failure");
    d->exit_code = EXIT_ARCHIVE;
}

static void on_writer_progress(void *arg)
{
    struct daemon *d = arg;
    tsb_metrics_writer_queue(tsb_writer_queued_bytes(d->writer),
                             tsb_writer_queued_bytes_peak(d->writer));
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

/* The folder of path (its parent, "." for a bare name) in buf. */
static void parent_dir(const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "%s", path);
    char *slash = strrchr(buf, '/');
    if (slash == NULL)
        snprintf(buf, size, ".");
    else if (slash == buf)
        buf[1] = '\0';
    else
        *slash = '\0';
}

/* tsbagd creates its lock, socket, port file and the archive's -wal and -shm in these folders:
 * a read-only one must stop the start, not the first write. */
static int check_writable_dir(const char *what, const char *path)
{
    if (access(path, W_OK | X_OK) != 0)
        return tsb_err(TSB_ECONFIG,
                       "%s %s is not writable (%s): tsbagd creates its lock, socket and the "
                       "archive's -wal and -shm files there; give the user it runs as write access",
                       what, path, strerror(errno));
    return 0;
}

/* One tsbagd per state folder: a second one would replace the first one's socket and race its
 * sender. The lock is taken before anything in the folder is touched and held until exit (the
 * kernel drops it even after SIGKILL); the file keeps the holder's PID for the message. */
static int take_lock(struct daemon *d)
{
    char path[4200], pid[32] = "";
    if ((size_t)snprintf(path, sizeof(path), "%s/tsbagd.lock", d->cfg.general.state_dir) >=
        sizeof(path))
        return tsb_err(TSB_ECONFIG, "general.state_dir is too long");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return tsb_err(TSB_EIO, "cannot open the lock file %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ssize_t n = e == EWOULDBLOCK ? pread(fd, pid, sizeof(pid) - 1, 0) : -1;
        close(fd);
        if (e != EWOULDBLOCK)
            return tsb_err(TSB_EIO, "cannot lock %s: %s", path, strerror(e));
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        return tsb_err(TSB_EBUSY,
                       "another tsbagd (PID %s) is running on state folder %s (it holds %s); "
                       "stop it first, or give this one its own general.state_dir",
                       pid[0] ? pid : "not yet written", d->cfg.general.state_dir, path);
    }
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int e = errno;
        close(fd);
        return tsb_err(TSB_EIO, "cannot write the lock file %s: %s", path, strerror(e));
    }
    d->lock_fd = fd;
    return 0;
}

/* Everything that must hold before the archive is opened, in this order: files created from here
 * on are never open to others (umask, kept stricter if inherited), the state folder exists and is
 * writable, this process holds its lock, the keystore is private. */
static int start_checks(struct daemon *d)
{
    int r = TSB_EINTERNAL;
    char dir[4200];
    umask(umask(0) | 0027);
    if ((r = make_state_dir(d->cfg.general.state_dir)) != 0 ||
        (r = check_writable_dir("state folder", d->cfg.general.state_dir)) != 0 ||
        (r = take_lock(d)) != 0)
        return r;
    if (strlen(d->cfg.store.path) >= sizeof(dir))
        return tsb_err(TSB_ECONFIG, "store.path is too long");
    parent_dir(d->cfg.store.path, dir, sizeof(dir));
    if ((r = check_writable_dir("archive folder", dir)) != 0)
        return r;
    if (d->cfg.sealer.enabled) {
        struct tsb_keystore_source src = {.path = d->cfg.tsa.keystore,
                                          .password_file = d->cfg.tsa.keystore_password_file,
                                          .password_env = d->cfg.tsa.keystore_password_env};
        bool refuse = d->cfg.tsa.keystore_permissions == TSB_KEY_PERMS_REFUSE;
        if ((r = tsb_keystore_check_private(&src, refuse)) != 0)
            return r;
    }
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
    struct daemon d = {.lock_fd = -1};
    struct tsb_store *store = NULL;
    bool print = false, loop_ok = false;
    int ch, rc = EXIT_USAGE;

    /* A fixed mmap threshold: every buffer of 1 MiB or more (a bag, its request, SQLite's copy of
     * a bag row) is mapped on its own and returned when freed. glibc's default raises the
     * threshold after the first large free, after which such buffers come from the arena of
     * whichever thread (writer, thread pool) allocated them and stay resident there: about 20 MiB
     * more peak per full-size bag (docs/operations.md, "Memory"). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    tsb_log_setup(TSB_LOG_INFO, isatty(STDERR_FILENO));
    tsb_config_defaults(&d.cfg);
    d.args = tsb_calloc((size_t)argc, sizeof(*d.args));
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
            d.args[d.nargs++] = (struct tsb_reload_arg){'c', optarg};
            if (tsb_config_load_file(&d.cfg, optarg) != 0) {
                fprintf(stderr, "tsbagd: %s\n", tsb_err_detail());
                goto out;
            }
            break;
        case 's':
            d.args[d.nargs++] = (struct tsb_reload_arg){'s', optarg};
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
    if (tsb_config_check_endpoint(&d.cfg) != 0) {
        fprintf(stderr, "tsbagd: %s\n", tsb_err_detail());
        goto out;
    }
    tsb_log_setup(d.cfg.general.log_level, isatty(STDERR_FILENO));
    signal(SIGPIPE, SIG_IGN);
    tsb_info("tsbagd %s starting (state %s)", TSB_VERSION, d.cfg.general.state_dir);
    /* before any other thread starts: each inherits the mask of the thread that creates it */
    int writer_cpu = tsb_cpus_reserve(d.cfg.writer.own_cpu);

    /* before the first archive is opened: SQLite reads its process-wide settings at initialise */
    if (tsb_store_setup_process() != 0) {
        tsb_error("tsbagd: %s", tsb_err_detail());
        goto out;
    }
    if (start_checks(&d) != 0) {
        tsb_error("tsbagd: %s", tsb_err_detail());
        goto out;
    }
    /* quick_check: a damaged archive is refused before anything is written to it */
    /* no_checkpoint: the writer's commits never checkpoint; its checkpointer thread does, on a
     * connection of its own (docs/internals/WRITER.md, "Checkpoints: the WAL stays bounded");
     * sync_apart: its syncer thread fsyncs the WAL ("The WAL's fsync on a thread of its own") */
    struct tsb_store_open_opts so = {.busy_timeout_ms = (int)d.cfg.store.busy_timeout_ms,
                                     .quick_check = true,
                                     .no_checkpoint = true,
                                     .sync_apart = d.cfg.writer.sync_thread};
    if (tsb_store_open(d.cfg.store.path, &so, &store) != 0) {
        tsb_error("tsbagd: archive %s: %s", d.cfg.store.path, tsb_err_detail());
        goto out;
    }
    if (tsb_store_check_writable(store) != 0) {
        tsb_error("tsbagd: %s", tsb_err_detail());
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
    if (st.last_seq > 0 && d.cfg.sealer.first_sequence > st.last_seq + 1)
        tsb_warn("tsbagd: sealer.first_sequence=%" PRId64 " is ignored: the archive already holds "
                 "bags up to %" PRId64 " and continues from there",
                 d.cfg.sealer.first_sequence, st.last_seq);

    if (uv_loop_init(&d.loop) != 0) {
        tsb_error("tsbagd: cannot create the event loop");
        goto out;
    }
    loop_ok = true;
    if (tsb_metrics_serve(&d.cfg) != 0) {
        tsb_error("tsbagd: %s", tsb_err_detail());
        goto out;
    }
    struct tsb_writer_opts wo = {
        .batch_max = (size_t)d.cfg.writer.batch_max,
        .batch_delay_ms = (int)d.cfg.writer.batch_delay_ms,
        .queue_bytes = (size_t)d.cfg.writer.queue_bytes,
        .queue_max = (size_t)d.cfg.writer.queue_max,
        .on_fatal = on_writer_fatal,
        .on_progress = on_writer_progress,
        .arg = &d,
        .pin_cpu = writer_cpu >= 0,
        .cpu = writer_cpu,
    };
    so.quick_check = false; /* done by the first open */
    if (tsb_store_open(d.cfg.store.path, &so, &wo.ckpt_store) != 0) {
        tsb_error("tsbagd: archive %s: %s", d.cfg.store.path, tsb_err_detail());
        goto out;
    }
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
    uv_signal_init(&d.loop, &d.sighup);
    d.sigterm.data = d.sigint.data = d.sighup.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sighup, on_sighup, SIGHUP);
    if (!d.cfg.sealer.enabled) {
        tsb_info("tsbagd: sealer.enabled=false: ingest only, entries stay staged");
        tsb_metrics_refresh_start(&d.loop, d.writer); /* no sender publishes the snapshot */
    }
    if ((d.cfg.sealer.enabled &&
         (tsb_sender_start(&d.loop, &d.cfg, d.writer, &d.sender) != 0 ||
          tsb_sealer_start(&d.loop, &d.cfg, d.writer, d.sender, &d.sealer) != 0)) ||
        (d.cfg.tsa2.url[0] != '\0' && tsb_tsa2_start(&d.loop, &d.cfg, d.writer, &d.tsa2) != 0)) {
        tsb_error("tsbagd: %s", tsb_err_detail());
        d.exit_code = EXIT_FAILURE;
        d.stopping = true;
        tsb_ingest_stop(d.ingest, false, ingest_stopped, &d);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        goto out;
    }
    /* the sender has read the keystore password (or never will): no copy stays behind */
    tsb_keystore_forget_env(d.cfg.tsa.keystore_password_env);
    if (d.sealer != NULL)
        tsb_ingest_set_seal_hook(d.ingest, tsb_sealer_seal_hook, d.sealer);
    if (d.sealer != NULL && d.tsa2 != NULL)
        tsb_sealer_set_tsa2(d.sealer, d.tsa2);
    if (d.sender != NULL)
        tsb_ingest_set_sender_hooks(d.ingest, tsb_sender_retry, tsb_sender_refusing, d.sender);
    notify_ready();
    tsb_info("tsbagd: ready");

    uv_run(&d.loop, UV_RUN_DEFAULT);
    rc = d.exit_code;
    tsb_info("tsbagd: stopped, exit status %d", rc);
out:
    tsb_metrics_stop();
    tsb_store_close(store);
    if (loop_ok) {
        uv_walk(&d.loop, walk_close, NULL);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&d.loop) != 0)
            tsb_warn("tsbagd: event loop closed with handles still open");
    }
    tsb_config_cleanup(&d.cfg);
    free(d.args);
    if (d.lock_fd >= 0)
        close(d.lock_fd);
    return rc;
}
