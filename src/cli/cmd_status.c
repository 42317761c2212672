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
 *
 * Everything is read once into a struct status_view, then written either as text or, with
 * --json, as one JSON object (same fields, same exit status; docs/operations.md lists them).
 */
#include "cli.h"

#include "client.h"
#include "clock.h"
#include "err.h"
#include "json.h"
#include "store.h"
#include "timefmt.h"

#include <getopt.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

static void fmt_time(int64_t ms, char out[64])
{
    if (ms == 0) {
        snprintf(out, 64, "never");
        return;
    }
    tsb_time_utc_s(ms, out);
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

/* Everything status reports, read once; rendered as text or JSON. */
struct status_view {
    const char *archive, *ds_socket;
    struct tsb_store_stats st;
    struct daemon_status ds;
    int64_t now_ms, alarm_ms;
    bool alarm;    /* the oldest unstamped entry is older than alarm_ms */
    bool have_bag; /* the sender's bag (the oldest unstamped one) */
    struct tsb_bag_rec bag;
    bool have_wal;
    int64_t wal_bytes;
    char wal_why[256];
    int run_r; /* tsb_store_run_last's result: 0, TSB_ENOTFOUND or an error */
    struct tsb_run_last run;
    char run_why[256];
    /* [tsa2]: the bags without a second token (informational: never changes the exit status,
     * the eHealth token being the legal evidence) */
    bool tsa2_on;     /* tsa2.url is set in this configuration */
    bool tsa2_tokens; /* the archive holds second tokens (or tsa2_on) */
    int64_t tsa2_alarm_ms;
    struct tsb_tsa2_backlog tsa2;
    /* RFC 4998 archive timestamps (tsbag renew): informational like [tsa2] */
    struct tsb_ers_stats ers;
    int64_t ers_margin_ms;
};

static bool view_held(const struct status_view *v)
{
    return v->have_bag && v->bag.state == TSB_BAG_FAILED;
}

static bool view_damaged(const struct status_view *v)
{
    return v->run_r == 0 && strcmp(v->run.result, "damaged") == 0;
}

/* Reads the archive and asks the daemon. Returns non-zero (detail set) when the archive cannot
 * be read. */
static int view_read(const struct tsb_config *cfg, struct tsb_store *s, struct status_view *v)
{
    memset(v, 0, sizeof(*v));
    v->archive = cfg->store.path;
    v->ds_socket = cfg->ingest.unix_socket;
    if (tsb_store_stats(s, &v->st) != 0)
        return -1;
    daemon_status(cfg->ingest.unix_socket, &v->ds);
    /* the daemon's clock and threshold decide the alarm when it answers */
    v->now_ms = v->ds.answered ? v->ds.st.now_ms : tsb_now_ms();
    v->alarm_ms = v->ds.answered ? v->ds.st.alarm_ms : cfg->sealer.unstamped_alarm_s * 1000;
    v->alarm =
        v->st.oldest_unstamped_ms != 0 && v->now_ms - v->st.oldest_unstamped_ms > v->alarm_ms;
    int r = tsb_store_bag_next_unstamped(s, &v->bag);
    if (r == 0)
        v->have_bag = true;
    else if (r != TSB_ENOTFOUND)
        return -1;
    v->have_wal = tsb_store_wal_size(s, &v->wal_bytes) == 0;
    if (!v->have_wal)
        snprintf(v->wal_why, sizeof(v->wal_why), "%s", tsb_err_detail());
    v->run_r = tsb_store_run_last(s, &v->run);
    if (v->run_r != 0 && v->run_r != TSB_ENOTFOUND)
        snprintf(v->run_why, sizeof(v->run_why), "%s", tsb_err_detail());
    if (tsb_store_tsa2_backlog(s, &v->tsa2) != 0)
        return -1;
    int64_t total = 0;
    for (int i = 0; i < TSB_BAG_NSTATES; i++)
        total += v->st.bags[i];
    v->tsa2_on = cfg->tsa2.url[0] != '\0';
    v->tsa2_tokens = v->tsa2_on || v->tsa2.bags < total;
    v->tsa2_alarm_ms = cfg->tsa2.alarm_s * 1000;
    if (tsb_store_ers_stats(s, &v->ers) != 0)
        return -1;
    v->ers_margin_ms = cfg->renew.margin_days * 86400 * 1000;
    return 0;
}

/* An ArchiveTimeStamp's TSA certificate expires within renew.margin_days: tsbag renew is due. */
static bool view_renewal_due(const struct status_view *v)
{
    return v->ers.earliest_not_after_ms != 0 &&
           v->ers.earliest_not_after_ms - v->now_ms <= v->ers_margin_ms;
}

static void print_evidence(const struct status_view *v)
{
    char when[64];
    if (v->ers.trees == 0) {
        printf("evidence:          no archive timestamps yet: %" PRId64 " stamped bag(s) to cover "
               "(tsbag renew)\n",
               v->ers.uncovered);
        return;
    }
    fmt_time(v->ers.earliest_not_after_ms, when);
    printf("evidence:          %" PRId64 " bag(s) covered by archive timestamps, %" PRId64
           " not yet%s; earliest TSA certificate expiry %s (bag %" PRId64 ")%s\n",
           v->ers.covered, v->ers.uncovered, v->ers.uncovered ? " (tsbag renew)" : "", when,
           v->ers.earliest_seq,
           view_renewal_due(v) ? "; RENEWAL DUE (within renew.margin_days): run tsbag renew" : "");
}

static struct json_t *evidence_json(const struct status_view *v)
{
    struct json_t *x = tsb_json_object();
    tsb_json_set_int(x, "bags_covered", v->ers.covered);
    tsb_json_set_int(x, "bags_uncovered", v->ers.uncovered);
    tsb_json_set_int(x, "trees", v->ers.trees);
    if (v->ers.earliest_not_after_ms != 0) {
        char when[64];
        fmt_time(v->ers.earliest_not_after_ms, when);
        tsb_json_set_str(x, "earliest_expiry", when);
        tsb_json_set_int(x, "earliest_expiry_ms", v->ers.earliest_not_after_ms);
        tsb_json_set_int(x, "earliest_sequence", v->ers.earliest_seq);
    }
    tsb_json_set_bool(x, "renewal_due", view_renewal_due(v));
    return x;
}

/* A bag sealed more than tsa2.alarm_s ago has no second token (with [tsa2] configured). */
static bool view_tsa2_alarm(const struct status_view *v)
{
    return v->tsa2_on && v->tsa2.bags > 0 &&
           v->now_ms - v->tsa2.oldest_sealed_ms > v->tsa2_alarm_ms;
}

static void print_tsa2(const struct status_view *v)
{
    char age[64], lim[64];
    if (!v->tsa2_tokens) {
        printf("second TSA:        off (tsa2.url is empty)\n");
        return;
    }
    if (v->tsa2.bags == 0) {
        printf("second TSA:        every bag has a second token%s\n",
               v->tsa2_on ? "" : " (tsa2.url is empty here: new bags will not)");
        return;
    }
    fmt_age(v->now_ms - v->tsa2.oldest_sealed_ms, age);
    printf("second TSA:        %" PRId64 " bag(s) without a second token, oldest SequenceNumber "
           "%" PRId64 " (sealed %s ago)%s\n",
           v->tsa2.bags, v->tsa2.oldest_seq, age, v->tsa2_on ? "" : "; tsa2.url is empty here");
    if (view_tsa2_alarm(v)) {
        fmt_age(v->tsa2_alarm_ms, lim);
        printf("TSA2 ALARM:        a bag sealed more than %s ago (tsa2.alarm_s) has no second "
               "token: the second TSA is failing (tsbagd's log names why); eHealth stamping is "
               "not affected\n",
               lim);
    }
}

static struct json_t *tsa2_json(const struct status_view *v)
{
    struct json_t *x = tsb_json_object();
    tsb_json_set_bool(x, "configured", v->tsa2_on);
    tsb_json_set_int(x, "bags_without_token", v->tsa2.bags);
    if (v->tsa2.bags > 0) {
        tsb_json_set_int(x, "oldest_sequence", v->tsa2.oldest_seq);
        tsb_json_set_int(x, "oldest_sealed_age_s", (v->now_ms - v->tsa2.oldest_sealed_ms) / 1000);
    }
    tsb_json_set_bool(x, "alarm", view_tsa2_alarm(v));
    return x;
}

static int view_exit(const struct status_view *v)
{
    return v->alarm || view_held(v) || view_damaged(v) ? TSB_EXIT_FAIL : TSB_EXIT_OK;
}

static void print_text(const struct status_view *v)
{
    const struct tsb_store_stats *st = &v->st;
    const struct daemon_status *ds = &v->ds;
    char t[64], age[64], lim[64];
    printf("archive:           %s\n", v->archive);
    printf("entries:           %" PRId64 " (staged, not yet in a bag: %" PRId64 ")\n", st->entries,
           st->staged);
    printf("digest index:      every Ref up to %" PRId64 " (not yet indexed: %" PRId64 ")\n",
           st->hashed_ref, st->hash_lag);
    printf("bags:             ");
    for (int i = 0; i < TSB_BAG_NSTATES; i++)
        printf(" %s %" PRId64 "%s", tsb_bag_state_name(i), st->bags[i],
               i + 1 < TSB_BAG_NSTATES ? "," : "\n");
    printf("last bag:          %" PRId64 "\n", st->last_seq);
    fmt_time(st->last_stamped_ms, t);
    printf("last stamp:        %s\n", t);
    if (!ds->answered) {
        printf("tsbagd:            not answering on %s (%s); settings below are this "
               "configuration's\n",
               v->ds_socket, ds->why);
    } else if ((ds->st.flags & TSB_STATUS_SEALER_RUNNING) == 0) {
        printf("tsbagd:            running, no sealer (sealer.enabled=false): nothing is sealed\n");
    } else {
        fmt_time(ds->st.next_seal_ms, t);
        fmt_age(ds->st.seal_interval_ms, age);
        printf("tsbagd:            running, sealing every %s, next seal %s\n", age, t);
    }
    fmt_age(v->alarm_ms, lim);
    if (st->oldest_unstamped_ms == 0) {
        printf("oldest unstamped:  none\n");
    } else {
        fmt_age(v->now_ms - st->oldest_unstamped_ms, age);
        fmt_time(st->oldest_unstamped_ms, t);
        printf("oldest unstamped:  %s old (received %s; alarm at %s)\n", age, t, lim);
    }
    if (v->have_bag) {
        const struct tsb_bag_rec *b = &v->bag;
        printf("sender's bag:      %" PRId64 " (%s, %" PRId64 " entries, %" PRId64 " attempts)\n",
               b->seq, tsb_bag_state_name(b->state), b->entry_count, b->attempts);
        if (b->last_error != NULL)
            printf("last error:        %s\n", b->last_error);
        if (view_held(v)) {
            printf("HELD:              bag %" PRId64 " is held: the TSA refused it or its token "
                   "failed verification (last error above); later bags wait behind it\n",
                   b->seq);
            printf("action:            fix that cause, then run `tsbag retry %" PRId64 "` (no "
                   "restart needed); docs/operations.md, held bags\n",
                   b->seq);
        }
    } else {
        printf("sender's bag:      none (every bag is stamped)\n");
    }
    if (v->alarm) {
        fmt_age(v->now_ms - st->oldest_unstamped_ms, age);
        printf("ALARM:             the oldest unstamped entry is %s old, more than %s "
               "(%s sealer.unstamped_alarm_s)\n",
               age, lim, ds->answered ? "tsbagd's" : "this configuration's");
    } else {
        printf("alarm:             none\n");
    }
    /* status runs no integrity check itself (linear in the archive): tsbagd runs one at start
     * and refuses a damaged archive, the nightly reconcile runs the full one */
    print_tsa2(v);
    print_evidence(v);
    if (v->have_wal)
        printf("WAL:               %.1f MiB%s\n", (double)v->wal_bytes / (1024 * 1024),
               v->wal_bytes > 4 * (int64_t)TSB_STORE_WAL_LIMIT
                   ? " (readers hold back its checkpoint)"
                   : "");
    else
        printf("WAL:               unknown (%s)\n", v->wal_why);
    if (v->run_r != 0) {
        printf("last check:        %s\n",
               v->run_r == TSB_ENOTFOUND ? "never (tsbag reconcile)" : v->run_why);
        return;
    }
    fmt_time(v->run.finished_ms, t);
    printf("last check:        %s (reconcile run %" PRId64 ", %s)\n", v->run.result, v->run.id, t);
    if (view_damaged(v))
        printf("DAMAGED:           the last archive check found the archive file damaged; restore "
               "the latest backup (docs/reconcile.md, \"Archive damage\")\n");
}

/* A UTC instant as a JSON string, or null for "never" (0). */
static struct json_t *json_time(int64_t ms)
{
    char t[64];
    if (ms == 0)
        return tsb_json_null();
    fmt_time(ms, t);
    return tsb_json_str(t);
}

static struct json_t *view_json(const struct status_view *v)
{
    const struct tsb_store_stats *st = &v->st;
    struct json_t *o = tsb_json_object(), *x;
    tsb_json_set_str(o, "status",
                     v->alarm          ? "alarm"
                     : view_held(v)    ? "held"
                     : view_damaged(v) ? "damaged"
                                       : "ok");
    tsb_json_set_int(o, "exit_code", view_exit(v));
    tsb_json_set_str(o, "archive", v->archive);
    x = tsb_json_object();
    tsb_json_set_int(x, "total", st->entries);
    tsb_json_set_int(x, "staged", st->staged);
    tsb_json_set_int(x, "last_ref", st->last_ref);
    tsb_json_set_int(x, "hashed_ref", st->hashed_ref);
    tsb_json_set_int(x, "unindexed", st->hash_lag);
    tsb_json_set(o, "entries", x);
    x = tsb_json_object();
    for (int i = 0; i < TSB_BAG_NSTATES; i++)
        tsb_json_set_int(x, tsb_bag_state_name(i), st->bags[i]);
    tsb_json_set(o, "bags", x);
    tsb_json_set_int(o, "last_sequence", st->last_seq);
    tsb_json_set(o, "last_stamp", json_time(st->last_stamped_ms));

    x = tsb_json_object();
    tsb_json_set_bool(x, "answering", v->ds.answered);
    tsb_json_set_str(x, "socket", v->ds_socket);
    if (!v->ds.answered) {
        tsb_json_set_str(x, "why", v->ds.why);
    } else {
        bool sealing = (v->ds.st.flags & TSB_STATUS_SEALER_RUNNING) != 0;
        tsb_json_set_bool(x, "sealer_running", sealing);
        if (sealing) {
            tsb_json_set_int(x, "seal_interval_s", v->ds.st.seal_interval_ms / 1000);
            tsb_json_set(x, "next_seal", json_time(v->ds.st.next_seal_ms));
        }
    }
    tsb_json_set(o, "tsbagd", x);

    x = tsb_json_object();
    tsb_json_set_bool(x, "raised", v->alarm);
    tsb_json_set_int(x, "threshold_s", v->alarm_ms / 1000);
    tsb_json_set_str(x, "threshold_from", v->ds.answered ? "tsbagd" : "configuration");
    if (st->oldest_unstamped_ms != 0) {
        tsb_json_set(x, "oldest_unstamped_received", json_time(st->oldest_unstamped_ms));
        tsb_json_set_int(x, "oldest_unstamped_age_s", (v->now_ms - st->oldest_unstamped_ms) / 1000);
    } else {
        tsb_json_set(x, "oldest_unstamped_received", tsb_json_null());
        tsb_json_set(x, "oldest_unstamped_age_s", tsb_json_null());
    }
    tsb_json_set(o, "alarm", x);

    if (v->have_bag) {
        const struct tsb_bag_rec *b = &v->bag;
        x = tsb_json_object();
        tsb_json_set_int(x, "sequence", b->seq);
        tsb_json_set_str(x, "state", tsb_bag_state_name(b->state));
        tsb_json_set_int(x, "entries", b->entry_count);
        tsb_json_set_int(x, "attempts", b->attempts);
        tsb_json_set_str(x, "last_error", b->last_error);
        tsb_json_set_bool(x, "held", view_held(v));
        if (view_held(v)) {
            char action[64];
            snprintf(action, sizeof(action), "tsbag retry %" PRId64, b->seq);
            tsb_json_set_str(x, "action", action);
        }
        tsb_json_set(o, "sender_bag", x);
    } else {
        tsb_json_set(o, "sender_bag", tsb_json_null());
    }
    tsb_json_set(o, "wal_bytes", v->have_wal ? tsb_json_int(v->wal_bytes) : tsb_json_null());
    if (v->run_r == 0) {
        x = tsb_json_object();
        tsb_json_set_int(x, "run", v->run.id);
        tsb_json_set_str(x, "result", v->run.result);
        tsb_json_set(x, "finished", json_time(v->run.finished_ms));
        tsb_json_set(o, "last_check", x);
    } else {
        tsb_json_set(o, "last_check", tsb_json_null());
    }
    tsb_json_set_bool(o, "damaged", view_damaged(v));
    tsb_json_set(o, "second_tsa", tsa2_json(v));
    tsb_json_set(o, "evidence", evidence_json(v));
    return o;
}

/* One JSON object and a newline on stdout; non-zero if it could not be written. */
static int print_json(struct json_t *doc)
{
    struct tsb_buf out;
    tsb_buf_init(&out, 16 * 1024 * 1024);
    int r = tsb_json_dump(doc, &out);
    if (r == 0 && (fwrite(out.p, 1, out.len, stdout) != out.len || fputc('\n', stdout) == EOF ||
                   fflush(stdout) != 0))
        r = TSB_EIO;
    tsb_buf_cleanup(&out);
    tsb_json_free(doc);
    return r;
}

/* The "archive cannot be read" answer: on stderr, and with --json also as {"status":"error"}. */
static int fail_unreadable(bool json, struct tsb_store *s)
{
    const char *why = tsb_err_detail();
    fprintf(stderr, "tsbag status: %s\n", why);
    if (json) {
        struct json_t *o = tsb_json_object();
        tsb_json_set_str(o, "status", "error");
        tsb_json_set_int(o, "exit_code", TSB_EXIT_USAGE);
        tsb_json_set_str(o, "error", why);
        (void)print_json(o);
    }
    if (s != NULL)
        tsb_store_close(s);
    return TSB_EXIT_USAGE;
}

int tsb_cmd_status(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'j') {
            json = true;
            continue;
        }
        if (ch == 'h') {
            printf("usage: tsbag status [--json]\n\nReads the archive (read-only) and prints "
                   "entries, bags by state, the oldest\nunstamped entry, the sender's current "
                   "bag, the WAL size and the last archive\ncheck; the alarm threshold and the "
                   "sealer's state come from the running\ntsbagd (its Unix socket). --json "
                   "prints the same as one JSON object.\nExit 0 healthy, 1 alarm, held bag or "
                   "damaged archive, 2 archive unreadable.\n");
            return TSB_EXIT_OK;
        }
        return TSB_EXIT_USAGE;
    }
    const struct tsb_config *cfg = &cli->cfg;
    struct tsb_store *s = NULL;
    struct tsb_store_open_opts oo = {.readonly = true,
                                     .busy_timeout_ms = (int)cfg->store.busy_timeout_ms};
    if (tsb_store_open(cfg->store.path, &oo, &s) != 0)
        return fail_unreadable(json, NULL);
    struct status_view v;
    if (view_read(cfg, s, &v) != 0) {
        if (v.have_bag)
            tsb_bag_rec_cleanup(&v.bag);
        return fail_unreadable(json, s);
    }
    int rc = view_exit(&v);
    if (json) {
        if (print_json(view_json(&v)) != 0) {
            fprintf(stderr, "tsbag status: cannot write the JSON report: %s\n", strerror(errno));
            rc = TSB_EXIT_USAGE;
        }
    } else {
        print_text(&v);
    }
    if (v.have_bag)
        tsb_bag_rec_cleanup(&v.bag);
    tsb_store_close(s);
    return rc;
}
