/*
 * tsbag status: what an operator needs to know at a glance, read from the archive (read-only, so it
 * works whether tsbagd runs or not): entries staged, bags by state, the oldest entry without a
 * verified stamp and whether that is past the alarm age, and the bag the sender is working on with
 * its attempts and last error, the WAL's size, and the verdict of the last archive check. Exit
 * status 0 when healthy, 1 when the alarm is raised, a bag is failed or the last check found the
 * archive damaged (so monitoring can call it), 2 when the archive cannot be read.
 */
#include "cli.h"

#include "err.h"
#include "store.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

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

int tsb_cmd_status(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            printf("usage: tsbag status\n\nReads the archive (read-only) and prints entries, bags "
                   "by state, the oldest\nunstamped entry, the sender's current bag, the WAL "
                   "size and the last archive\ncheck. Exit 0 healthy, 1 alarm, failed bag or "
                   "damaged archive, 2 archive\nunreadable.\n");
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
    int64_t now = now_ms();
    char t[64], age[64], lim[64];

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
    fmt_age(cfg->sealer.unstamped_alarm_s * 1000, lim);
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
            printf("FAILED:            bag %" PRId64
                   " was rejected or its token failed verification; see docs/operations.md\n",
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
    if (st.oldest_unstamped_ms != 0 &&
        now - st.oldest_unstamped_ms > cfg->sealer.unstamped_alarm_s * 1000) {
        fmt_age(now - st.oldest_unstamped_ms, age);
        printf("ALARM:             the oldest unstamped entry is %s old, more than %s "
               "(sealer.unstamped_alarm_s)\n",
               age, lim);
        rc = TSB_EXIT_FAIL;
    } else {
        printf("alarm:             none\n");
    }
    if (wal_and_damage(s) != 0)
        rc = TSB_EXIT_FAIL;
    tsb_store_close(s);
    return rc;
}
