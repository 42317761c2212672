/*
 * tsbag status: what an operator needs to know at a glance, read from the archive (read-only, so it
 * works whether tsbagd runs or not): entries staged, bags by state, the oldest entry without a
 * verified stamp and whether that is past the alarm age, and the bag the sender is working on with
 * its attempts and last error, the WAL's size, and the verdict of the last archive check. Exit
 * status 0 when healthy, 1 when the alarm is raised, a bag is held (the reason and the action are
 * printed) or the last check found the archive damaged (so monitoring can call it), 2 when the
 * archive cannot be read.
 *
 * What the daemon decides (alarm threshold, whether a sealer runs, the next seal) comes from the
 * running tsbagd's STATUS reply on its Unix socket, never from this program's own configuration;
 * only when no tsbagd answers does it fall back to the configuration it was given, and says so.
 */
#include "cli.h"

#include "client.h"
#include "err.h"
#include "store.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <uv.h>

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void fmt_time(int64_t ms, char out[64])
{
    if (ms == 0) {
        snprintf(out, 64, "never");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, 64, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_age(int64_t ms, char out[64])
{
    int64_t s = ms / 1000;
    if (s < 120)
        snprintf(out, 64, "%" PRId64 " s", s);
    else if (s < 7200)
        snprintf(out, 64, "%" PRId64 " min %" PRId64 " s", s / 60, s % 60);
    else
        snprintf(out, 64, "%" PRId64 " h %" PRId64 " min", s / 3600, (s % 3600) / 60);
}

#define DAEMON_STATUS_TIMEOUT_MS 5000 /* a hung daemon must not hang its monitoring */

/* The running daemon's STATUS reply, if one answers on the Unix socket. */
struct daemon_status {
    bool answered, done;
    struct tsb_status st;
    char why[512]; /* why not, when it did not answer */
    uv_timer_t timer;
    struct tsb_client *client;
};

static void ds_closed(void *data)
{
    (void)data;
}

/* Ends the exchange once: the timer and the client are closed, the loop then runs dry. */
static void ds_finish(struct daemon_status *ds, struct tsb_client *c)
{
    if (ds->done)
        return;
    ds->done = true;
    uv_close((uv_handle_t *)&ds->timer, NULL);
    tsb_client_close(c, ds_closed);
}

static void ds_timeout(uv_timer_t *t)
{
    struct daemon_status *ds = t->data;
    snprintf(ds->why, sizeof(ds->why), "no STATUS reply within %d ms", DAEMON_STATUS_TIMEOUT_MS);
    ds_finish(ds, ds->client);
}

static void ds_reply(struct tsb_client *c, void *arg, int status, const struct tsb_frame *reply)
{
    struct daemon_status *ds = arg;
    if (ds->done) /* closed after the timeout: the reason is already set */
        return;
    if (status != 0 || reply == NULL)
        snprintf(ds->why, sizeof(ds->why), "connection lost (%s)", tsb_strerror(status));
    else if (reply->type != TSB_FT_STATUS_OK)
        tsb_client_describe(reply, ds->why, sizeof(ds->why));
    else if (tsb_frame_parse_status(reply->body, &ds->st) != 0)
        snprintf(ds->why, sizeof(ds->why), "%s", tsb_err_detail());
    else if (!ds->st.has_ext)
        snprintf(ds->why, sizeof(ds->why), "tsbagd is too old to report its settings");
    else
        ds->answered = true;
    ds_finish(ds, c);
}

static void ds_ready(struct tsb_client *c, int status, const struct tsb_hello_ok *hello)
{
    struct daemon_status *ds = tsb_client_data(c);
    (void)hello;
    if (ds->done) /* closed after the timeout: the reason is already set */
        return;
    if (status != 0 ||
        tsb_client_request(c, TSB_FT_STATUS, (struct tsb_slice){NULL, 0}, ds_reply, ds) != 0) {
        snprintf(ds->why, sizeof(ds->why), "%s", tsb_err_detail());
        ds_finish(ds, c);
    }
}

static void daemon_status(const char *sock, struct daemon_status *ds)
{
    uv_loop_t loop;
    memset(ds, 0, sizeof(*ds));
    if (uv_loop_init(&loop) != 0) {
        snprintf(ds->why, sizeof(ds->why), "cannot start an event loop");
        return;
    }
    struct tsb_client_opts o = {.unix_path = sock, .source = "tsbag-status"};
    uv_timer_init(&loop, &ds->timer);
    ds->timer.data = ds;
    if (tsb_client_connect(&loop, &o, ds_ready, ds, &ds->client) != 0) {
        snprintf(ds->why, sizeof(ds->why), "%s", tsb_err_detail());
        uv_close((uv_handle_t *)&ds->timer, NULL);
    } else if (!ds->done) {
        uv_timer_start(&ds->timer, ds_timeout, DAEMON_STATUS_TIMEOUT_MS, 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
}

/* The WAL's size, and what the last archive check (tsbag reconcile) said of the file. status
 * runs no integrity check itself (linear in the archive): tsbagd runs one at start and refuses a
 * damaged archive, the nightly reconcile runs the full one. Returns non-zero when damaged. */
static int wal_and_damage(struct tsb_store *s)
{
    int64_t wal = 0;
    struct tsb_run_last run;
    char t[64];
    if (tsb_store_wal_size(s, &wal) == 0)
        printf("WAL:               %.1f MiB%s\n", (double)wal / (1024 * 1024),
               wal > 4 * (int64_t)TSB_STORE_WAL_LIMIT ? " (readers hold back its checkpoint)" : "");
    else
        printf("WAL:               unknown (%s)\n", tsb_err_detail());
    int r = tsb_store_run_last(s, &run);
    if (r != 0) {
        printf("last check:        %s\n",
               r == TSB_ENOTFOUND ? "never (tsbag reconcile)" : tsb_err_detail());
        return 0;
    }
    fmt_time(run.finished_ms, t);
    printf("last check:        %s (reconcile run %" PRId64 ", %s)\n", run.result, run.id, t);
    if (strcmp(run.result, "damaged") != 0)
        return 0;
    printf("DAMAGED:           the last archive check found the archive file damaged; restore "
           "the latest backup (docs/reconcile.md, \"Archive damage\")\n");
    return 1;
}

/* The second TSA's line ([tsa2]): the bags without a second token, and its alarm. Informational:
 * the eHealth token is the legal evidence, so this never changes the exit status. */
static int second_tsa(struct tsb_store *s, const struct tsb_config *cfg, int64_t now)
{
    struct tsb_tsa2_backlog b;
    struct tsb_store_stats st;
    char age[64], lim[64];
    int r = tsb_store_tsa2_backlog(s, &b);
    if (r == 0)
        r = tsb_store_stats(s, &st);
    if (r != 0) {
        printf("second TSA:        unknown (%s)\n", tsb_err_detail());
        return r;
    }
    int64_t total = 0;
    for (int i = 0; i < TSB_BAG_NSTATES; i++)
        total += st.bags[i];
    if (cfg->tsa2.url[0] == '\0' && b.bags == total) {
        printf("second TSA:        off (tsa2.url is empty)\n");
        return 0;
    }
    if (b.bags == 0) {
        printf("second TSA:        every bag has a second token%s\n",
               cfg->tsa2.url[0] ? "" : " (tsa2.url is empty: new bags will not)");
        return 0;
    }
    fmt_age(now - b.oldest_sealed_ms, age);
    printf("second TSA:        %" PRId64 " bag(s) without a second token, oldest SequenceNumber "
           "%" PRId64 " (sealed %s ago)%s\n",
           b.bags, b.oldest_seq, age, cfg->tsa2.url[0] ? "" : "; tsa2.url is empty");
    if (cfg->tsa2.url[0] != '\0' && now - b.oldest_sealed_ms > cfg->tsa2.alarm_s * 1000) {
        fmt_age(cfg->tsa2.alarm_s * 1000, lim);
        printf("TSA2 ALARM:        a bag sealed more than %s ago (tsa2.alarm_s) has no second "
               "token: the second TSA is failing (tsbagd's log names why); eHealth stamping is "
               "not affected\n",
               lim);
    }
    return 0;
}

int tsb_cmd_status(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            printf("usage: tsbag status\n\nReads the archive (read-only) and prints entries, bags "
                   "by state, the oldest\nunstamped entry, the sender's current bag, the WAL "
                   "size and the last archive\ncheck; the alarm threshold and the sealer's state "
                   "come from the running\ntsbagd (its Unix socket). Exit 0 healthy, 1 alarm, "
                   "held bag or damaged\narchive, 2 archive unreadable.\n");
            return TSB_EXIT_OK;
        }
        return TSB_EXIT_USAGE;
    }
    const struct tsb_config *cfg = &cli->cfg;
    struct tsb_store *s = NULL;
    struct tsb_store_open_opts oo = {.readonly = true,
                                     .busy_timeout_ms = (int)cfg->store.busy_timeout_ms};
    int r = tsb_store_open(cfg->store.path, &oo, &s);
    if (r != 0) {
        fprintf(stderr, "tsbag status: %s\n", tsb_err_detail());
        return TSB_EXIT_USAGE;
    }
    struct tsb_store_stats st;
    if ((r = tsb_store_stats(s, &st)) != 0) {
        fprintf(stderr, "tsbag status: %s\n", tsb_err_detail());
        tsb_store_close(s);
        return TSB_EXIT_USAGE;
    }
    int rc = TSB_EXIT_OK;
    char t[64], age[64], lim[64];
    struct daemon_status ds;
    daemon_status(cfg->ingest.unix_socket, &ds);
    /* the daemon's clock and threshold decide the alarm when it answers */
    int64_t now = ds.answered ? ds.st.now_ms : now_ms();
    int64_t alarm_ms = ds.answered ? ds.st.alarm_ms : cfg->sealer.unstamped_alarm_s * 1000;
    const char *alarm_from = ds.answered ? "tsbagd's" : "this configuration's";

    printf("archive:           %s\n", cfg->store.path);
    printf("entries:           %" PRId64 " (staged, not yet in a bag: %" PRId64 ")\n", st.entries,
           st.staged);
    printf("bags:             ");
    for (int i = 0; i < TSB_BAG_NSTATES; i++)
        printf(" %s %" PRId64 "%s", tsb_bag_state_name(i), st.bags[i],
               i + 1 < TSB_BAG_NSTATES ? "," : "\n");
    printf("last bag:          %" PRId64 "\n", st.last_seq);
    fmt_time(st.last_stamped_ms, t);
    printf("last stamp:        %s\n", t);
    if (!ds.answered) {
        printf("tsbagd:            not answering on %s (%s); settings below are this "
               "configuration's\n",
               cfg->ingest.unix_socket, ds.why);
    } else if ((ds.st.flags & TSB_STATUS_SEALER_RUNNING) == 0) {
        printf("tsbagd:            running, no sealer (sealer.enabled=false): nothing is sealed\n");
    } else {
        fmt_time(ds.st.next_seal_ms, t);
        fmt_age(ds.st.seal_interval_ms, age);
        printf("tsbagd:            running, sealing every %s, next seal %s\n", age, t);
    }
    fmt_age(alarm_ms, lim);
    if (st.oldest_unstamped_ms == 0) {
        printf("oldest unstamped:  none\n");
    } else {
        fmt_age(now - st.oldest_unstamped_ms, age);
        fmt_time(st.oldest_unstamped_ms, t);
        printf("oldest unstamped:  %s old (received %s; alarm at %s)\n", age, t, lim);
    }

    struct tsb_bag_rec b;
    r = tsb_store_bag_next_unstamped(s, &b);
    if (r == 0) {
        printf("sender's bag:      %" PRId64 " (%s, %" PRId64 " entries, %" PRId64 " attempts)\n",
               b.seq, tsb_bag_state_name(b.state), b.entry_count, b.attempts);
        if (b.last_error != NULL)
            printf("last error:        %s\n", b.last_error);
        if (b.state == TSB_BAG_FAILED) {
            printf("HELD:              bag %" PRId64 " is held: the TSA refused it or its token "
                   "failed verification (last error above); later bags wait behind it\n",
                   b.seq);
            printf("action:            fix that cause, then run `tsbag retry %" PRId64 "` (no "
                   "restart needed); docs/operations.md, held bags\n",
                   b.seq);
            rc = TSB_EXIT_FAIL;
        }
        tsb_bag_rec_cleanup(&b);
    } else if (r == TSB_ENOTFOUND) {
        printf("sender's bag:      none (every bag is stamped)\n");
    } else {
        fprintf(stderr, "tsbag status: %s\n", tsb_err_detail());
        tsb_store_close(s);
        return TSB_EXIT_USAGE;
    }
    if (st.oldest_unstamped_ms != 0 && now - st.oldest_unstamped_ms > alarm_ms) {
        fmt_age(now - st.oldest_unstamped_ms, age);
        printf("ALARM:             the oldest unstamped entry is %s old, more than %s "
               "(%s sealer.unstamped_alarm_s)\n",
               age, lim, alarm_from);
        rc = TSB_EXIT_FAIL;
    } else {
        printf("alarm:             none\n");
    }
    if (second_tsa(s, cfg, now) != 0)
        rc = TSB_EXIT_FAIL;
    if (wal_and_damage(s) != 0)
        rc = TSB_EXIT_FAIL;
    tsb_store_close(s);
    return rc;
}
