/*
 * tsbag reconcile: the nightly reconciliation with eHealth's TimeStampConsult and the local
 * archive check (docs/reconcile.md). Splits the period into local days (consult.timezone), runs
 * reconcile.c for each over a blocking HTTPS transport (fetch_sync.c: the TSA client's fetch.c on a
 * private loop, since the CLI has no event loop), then checks the whole archive (check.c), prints
 * the report (text, or --json) and records the run in the archive. Exit: 0 clean, 1 discrepancies,
 * 2 could not run (or usage), 3 the archive file is damaged.
 */
#include "cli.h"

#include "check.h"
#include "clock.h"
#include "err.h"
#include "fetch_sync.h"
#include "keystore.h"
#include "period.h"
#include "reconcile.h"
#include "store.h"
#include "token.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
    const char *from, *to;
    bool since_last, local_only, json, progress;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tsbag reconcile [--from DAY|MS] [--to DAY|MS] [--since-last] [--json]\n"
            "       tsbag reconcile --local-only [--json]\n\n"
            "Compares the archive with eHealth's TimeStampConsult for a period (default: the\n"
            "previous day, midnight to midnight in consult.timezone), recovers the bags eHealth\n"
            "holds and the archive lacks, names the ones eHealth lacks, then checks the whole\n"
            "archive. DAY is YYYY-MM-DD (a local day); MS is milliseconds since the epoch.\n"
            "  --from, --to     period bounds (inclusive); several days are checked day by day\n"
            "  --since-last     from the end of the last completed reconciliation to yesterday\n"
            "  --local-only     only the local archive check (no network)\n"
            "  --json           the report as one JSON object on stdout\n"
            "  --no-progress    no progress line on a terminal\n"
            "Exit: 0 clean, 1 discrepancies, 2 could not run, 3 archive damaged.\n"
            "See docs/reconcile.md.\n");
}

/* ---- progress line ------------------------------------------------------------------------ */

static void on_progress(void *arg, const char *phase, int64_t done, int64_t total)
{
    const struct opts *o = arg;
    if (o->progress)
        tsb_cli_progress("reconcile", phase, done, total);
}

static void progress_done(const struct opts *o)
{
    if (o->progress)
        tsb_cli_progress_clear();
}

/* ---- period ------------------------------------------------------------------------------- */

/* Parses a bound: a local day (its first or last ms) or a number of ms. */
static int parse_bound(const char *tz, const char *s, bool end, int64_t *out)
{
    struct tsb_date d;
    int64_t a, b;
    char *e = NULL;
    if (strlen(s) == 10 && s[4] == '-') {
        int r = tsb_date_parse(s, &d);
        if (r == 0)
            r = tsb_period_day(tz, d, &a, &b);
        if (r == 0)
            *out = end ? b : a;
        return r;
    }
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno != 0 || e == s || *e != '\0' || v < 0)
        return tsb_err(TSB_EINVAL, "\"%s\" is neither a day YYYY-MM-DD nor milliseconds", s);
    *out = v;
    return 0;
}

/* The previous local day's bounds. */
static int yesterday(const char *tz, int64_t *from, int64_t *to)
{
    struct tsb_date today, prev;
    int64_t a, b;
    int r = tsb_period_date_of(tz, tsb_now_ms(), &today);
    if (r == 0)
        r = tsb_period_day(tz, today, &a, &b);
    if (r == 0)
        r = tsb_period_date_of(tz, a - 1, &prev);
    if (r == 0)
        r = tsb_period_day(tz, prev, from, to);
    return r;
}

static int choose_period(struct tsb_cli *cli, const struct opts *o, struct tsb_store *s,
                         int64_t *from, int64_t *to)
{
    const char *tz = cli->cfg.consult.timezone;
    int64_t yf, yt;
    int r = yesterday(tz, &yf, &yt);
    if (r != 0)
        return r;
    *from = yf;
    *to = yt;
    if (o->since_last) {
        int64_t done = 0, oldest = 0;
        struct tsb_date d;
        r = tsb_store_run_last_done(s, &done);
        if (r == 0) {
            *from = done + 1;
        } else if (r == TSB_ENOTFOUND) {
            /* never reconciled: from the day of the oldest stamp (or just yesterday) */
            r = tsb_store_oldest_gen_time(s, &oldest);
            if (r == 0 && (r = tsb_period_date_of(tz, oldest, &d)) == 0)
                r = tsb_period_day(tz, d, from, &yt);
            if (r == TSB_ENOTFOUND)
                r = 0;
        }
        return r;
    }
    if (o->from && (r = parse_bound(tz, o->from, false, from)) != 0)
        return r;
    if (o->to && (r = parse_bound(tz, o->to, true, to)) != 0)
        return r;
    if (*from > *to)
        return tsb_err(TSB_EINVAL, "the period starts (%" PRId64 ") after it ends (%" PRId64 ")",
                       *from, *to);
    return 0;
}

/* ---- transport ---------------------------------------------------------------------------- */

int tsb_cli_consult_post(void *arg, const uint8_t *req, size_t len, struct tsb_buf *resp)
{
    struct tsb_cli_post *p = arg;
    long status = 0;
    int r = tsb_fetch_sync_post(&p->fo, p->url, NULL, req, len, resp, &status);
    /* SOAP 1.1 faults travel with 500; anything else but 200 is not a SOAP answer */
    if (r == 0 && status != 200 && status != 500)
        r = tsb_err(TSB_EPROTO, "HTTP status %ld from %s", status, p->url);
    return r;
}

/* ---- text report -------------------------------------------------------------------------- */

static void print_list(FILE *f, const char *title, const struct tsb_rep_list *l)
{
    fprintf(f, "%-22s %zu\n", title, l->n);
    for (size_t i = 0; i < l->n; i++) {
        const struct tsb_rep_bag *b = &l->v[i];
        fprintf(f, "  ");
        if (b->seq > 0)
            fprintf(f, "bag %" PRId64 " ", b->seq);
        if (b->serial[0])
            fprintf(f, "serial %s genTime %" PRId64 " ", b->serial, b->gen_time_ms);
        fprintf(f, "%s%s\n", b->seq > 0 || b->serial[0] ? "- " : "", b->detail);
    }
}

static void print_damage_advice(FILE *f)
{
    fprintf(f,
            "  SQLite finds the archive file damaged. Stop tsbagd, keep a copy of the damaged\n"
            "  file (with its -wal), put the latest backup in its place, run `tsbag reconcile\n"
            "  --from DAY` (the backup's day) before starting tsbagd to recover from\n"
            "  TimeStampConsult what was stamped since (docs/reconcile.md, \"Archive damage\").\n");
}

static void print_text(FILE *f, const char *tz, const struct tsb_report *rep)
{
    char a[64] = "", b[64] = "";
    int64_t local = 0, remote = 0;
    int code = tsb_report_exit_code(rep);
    fprintf(f, "tsbag reconcile: %s (exit %d)\n",
            code == 0   ? "CLEAN"
            : code == 1 ? "DISCREPANCIES"
            : code == 2 ? "COULD NOT RUN"
                        : "ARCHIVE DAMAGED",
            code);
    if (code == 3)
        print_damage_advice(f);
    if (!rep->local_only) {
        tsb_period_format_local(tz, rep->from_ms, a);
        tsb_period_format_local(tz, rep->to_ms, b);
        fprintf(f, "%-22s %s .. %s (%s), %zu day(s)\n", "period", a, b, tz, rep->n_days);
        for (size_t i = 0; i < rep->n_days; i++) {
            const struct tsb_rep_day *d = &rep->days[i];
            local += d->local;
            remote += d->remote_missing;
            tsb_period_format_local(tz, d->from_ms, a);
            fprintf(f, "  day %.10s: %s, %" PRId64 " local, %" PRId64 " missing here%s", a,
                    d->status[0] ? d->status : "no answer", d->local, d->remote_missing,
                    d->completed ? "" : ", NOT COMPLETED");
            if (d->error.present)
                fprintf(f, ", eHealth Error Type \"%s\" Number %s", d->error.type, d->error.number);
            if (d->resolved[0])
                fprintf(f, "; without the timestamps eHealth does not know: %s", d->resolved);
            fprintf(f, "\n");
        }
        fprintf(f, "%-22s %" PRId64 " checkCompleteness, %" PRId64 " getTimestamp\n",
                "eHealth calls", rep->check_calls, rep->get_calls);
        fprintf(f, "%-22s %" PRId64 " local, %" PRId64 " reported missing here by eHealth\n",
                "bags", local, remote);
        print_list(f, "recovered", &rep->recovered);
        if (rep->present.n)
            print_list(f, "already present", &rep->present);
        print_list(f, "not recovered", &rep->unrecovered);
        print_list(f, "missing at eHealth", &rep->missing_at_ehealth);
        print_list(f, "CONFLICTS", &rep->conflicts);
    }
    print_list(f, "errors", &rep->errors);
    if (rep->local_checked) {
        fprintf(f,
                "%-22s %" PRId64 " bags (%" PRId64 " stamped, %" PRId64 " recovered, %" PRId64
                " unstamped), %" PRId64 " journal rows (%" PRId64 " with content)\n",
                "local check", rep->local.bags, rep->local.stamped, rep->local.recovered,
                rep->local.unstamped, rep->local.entries, rep->local.contents);
        fprintf(f,
                "%-22s %" PRId64 " links verified, %" PRId64 " genesis, %" PRId64
                " bags without a link\n",
                "bag chain", rep->local.links, rep->local.genesis, rep->local.unlinked);
        if (rep->local.evidence > 0)
            fprintf(f, "%-22s %" PRId64 " verified (RFC 4998, renew.trust_anchors)\n",
                    "evidence records", rep->local.evidence);
        fprintf(f, "%-22s %zu\n", "violations", rep->violations.n);
        for (size_t i = 0; i < rep->violations.n; i++)
            fprintf(f, "  [%s] %s\n", tsb_violation_kind_name(rep->violations.v[i].kind),
                    rep->violations.v[i].message);
    }
}

/* ---- the verb ----------------------------------------------------------------------------- */

struct tsb_cli_post tsb_cli_post_for(const struct tsb_cli *cli, const char *url)
{
    struct tsb_cli_post p = {.url = url,
                             .fo = {.ca_file = cli->cfg.tsa.ca_file,
                                    .connect_timeout_ms = cli->cfg.tsa.connect_timeout_ms,
                                    .timeout_ms = cli->cfg.tsa.timeout_ms,
                                    .max_response = (size_t)cli->cfg.tsa.max_response}};
    return p;
}

static bool fatal_transport(int r)
{
    return r == TSB_ENET || r == TSB_ETIMEOUT || r == TSB_ESTORE || r == TSB_EDAMAGED ||
           r == TSB_EDURABLE || r == TSB_EBUSY || r == TSB_ECONFIG || r == TSB_ESECURITY ||
           r == TSB_ECRYPTO;
}

/* Records the run. The check's verdict is already known; a tsbagd busy with a long write (a
 * seal of a full bag, WAL recovery after a crash) holding the write lock past
 * store.busy_timeout_ms must not turn a clean run into "could not run": the one-row insert is
 * tried again for up to RECORD_PATIENCE_MS, then the error stands. */
#define RECORD_PATIENCE_MS 60000

static int record_run(struct tsb_store *s, struct tsb_report *rep)
{
    int r, waited = 0, pause = 100;
    while ((r = tsb_report_record(s, rep, NULL)) == TSB_EBUSY && waited < RECORD_PATIENCE_MS) {
        struct timespec ts = {.tv_sec = pause / 1000, .tv_nsec = (long)(pause % 1000) * 1000000};
        nanosleep(&ts, NULL);
        waited += pause;
        pause = pause * 2 > 2000 ? 2000 : pause * 2;
    }
    return r;
}

int tsb_cmd_reconcile(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"from", required_argument, NULL, 'f'}, {"to", required_argument, NULL, 't'},
        {"since-last", no_argument, NULL, 'S'}, {"local-only", no_argument, NULL, 'L'},
        {"json", no_argument, NULL, 'j'},       {"no-progress", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    struct opts o = {.progress = isatty(STDERR_FILENO) == 1};
    struct tsb_report rep;
    struct tsb_store *s = NULL;
    struct tsb_token_verifier *v = NULL, *ev = NULL;
    struct tsb_keystore *ks = NULL;
    const char *tz = cli->cfg.consult.timezone;
    int ch, r, rc = TSB_EXIT_USAGE;

    tsb_report_init(&rep);
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            o.from = optarg;
            break;
        case 't':
            o.to = optarg;
            break;
        case 'S':
            o.since_last = true;
            break;
        case 'L':
            o.local_only = true;
            break;
        case 'j':
            o.json = true;
            break;
        case 'P':
            o.progress = false;
            break;
        case 'h':
            usage(stdout);
            return TSB_EXIT_OK;
        default:
            usage(stderr);
            return TSB_EXIT_USAGE;
        }
    }
    if (optind < argc || (o.since_last && (o.from || o.to)) ||
        (o.local_only && (o.from || o.to || o.since_last))) {
        fprintf(stderr, "tsbag reconcile: --since-last and --local-only take no period\n");
        usage(stderr);
        return TSB_EXIT_USAGE;
    }
    if (!o.local_only && tsb_config_check_endpoint(&cli->cfg) != 0) {
        fprintf(stderr, "tsbag reconcile: %s\n", tsb_err_detail());
        goto out; /* before anything is asked of eHealth or recorded */
    }
    rep.started_ms = tsb_now_ms();
    rep.local_only = o.local_only;
    snprintf(rep.timezone, sizeof(rep.timezone), "%s", tz);
    if ((r = tsb_period_check_tz(tz)) != 0) {
        fprintf(stderr, "tsbag reconcile: consult.timezone: %s\n", tsb_err_detail());
        goto out;
    }
    if ((r = tsb_cli_open_archive(cli, "reconcile", false, &s)) != 0) {
        if (r == TSB_EDAMAGED) {
            printf("tsbag reconcile: ARCHIVE DAMAGED (exit 3)\n");
            print_damage_advice(stdout);
            rc = 3;
        }
        goto out; /* nowhere to record the run */
    }
    if (!o.local_only && (r = choose_period(cli, &o, s, &rep.from_ms, &rep.to_ms)) != 0) {
        fprintf(stderr, "tsbag reconcile: %s\n", tsb_err_detail());
        goto out;
    }
    /* from here on, every outcome is reported and recorded */
    if ((r = tsb_token_verifier_from_files(cli->cfg.tsa.trust_anchors, cli->cfg.tsa.tsa_certs,
                                           cli->cfg.tsa.policy_oids, &v)) != 0) {
        tsb_report_error(&rep,
                         "TSA verification settings (tsa.trust_anchors, tsa.tsa_certs, "
                         "tsa.policy_oids): %s",
                         tsb_err_detail());
        goto report;
    }
    /* the evidence records of tsbag renew, checked with the [renew] TSA's anchors when set */
    if (cli->cfg.renew.trust_anchors[0] != '\0' &&
        (r = tsb_token_verifier_from_files(cli->cfg.renew.trust_anchors, cli->cfg.renew.tsa_certs,
                                           cli->cfg.renew.policy_oids, &ev)) != 0) {
        tsb_report_error(&rep,
                         "renewal TSA verification settings (renew.trust_anchors, "
                         "renew.tsa_certs, renew.policy_oids): %s",
                         tsb_err_detail());
        goto report;
    }
    if (!o.local_only) {
        struct tsb_keystore_source src = {.path = cli->cfg.tsa.keystore,
                                          .password_file = cli->cfg.tsa.keystore_password_file,
                                          .password_env = cli->cfg.tsa.keystore_password_env};
        if ((r = tsb_keystore_load(&src, tsb_now_ms(), &ks)) != 0) {
            tsb_report_error(&rep, "hospital keystore (tsa.keystore): %s", tsb_err_detail());
            goto check;
        }
        struct tsb_cli_post pc = tsb_cli_post_for(cli, cli->cfg.consult.url);
        struct tsb_reconcile_opts ro = {
            .store = s,
            .keystore = ks,
            .verifier = v,
            .id_hospital = cli->cfg.general.id_hospital,
            .ns = cli->cfg.sealer.bag_namespace,
            .wss_ttl_s = cli->cfg.tsa.wss_ttl_s,
            .limits = {.max_response = (size_t)cli->cfg.tsa.max_response},
            .post = tsb_cli_consult_post,
            .post_arg = &pc,
            .on_progress = on_progress,
            .progress_arg = &o,
            .first_seq = cli->cfg.sealer.first_sequence};
        /* one checkCompleteness per local day, in order */
        for (int64_t cur = rep.from_ms; cur <= rep.to_ms;) {
            struct tsb_date d;
            int64_t ds, de;
            if ((r = tsb_period_date_of(tz, cur, &d)) != 0 ||
                (r = tsb_period_day(tz, d, &ds, &de)) != 0) {
                tsb_report_error(&rep, "%s", tsb_err_detail());
                break;
            }
            int64_t end = de < rep.to_ms ? de : rep.to_ms;
            on_progress(&o, "checking day", (int64_t)rep.n_days + 1, 0);
            r = tsb_reconcile_period(&ro, cur, end, &rep);
            if (r != 0 && fatal_transport(r))
                break; /* eHealth or the archive is unreachable: do not hammer it day after day */
            cur = end + 1;
        }
    }
check:
    if (s != NULL && v != NULL) {
        struct tsb_check_opts co = {.verifier = v,
                                    .on_violation = tsb_report_violation,
                                    .arg = &rep,
                                    .on_progress = on_progress,
                                    .progress_arg = &o,
                                    .first_seq = cli->cfg.sealer.first_sequence,
                                    .ers_verifier = ev,
                                    .now_ms = tsb_now_ms()};
        if ((r = tsb_check_archive(s, &co, &rep.local)) != 0)
            tsb_report_error(&rep, "local archive check: %s", tsb_err_detail());
        else
            rep.local_checked = true;
    }
report:
    progress_done(&o);
    rep.finished_ms = tsb_now_ms();
    if (s != NULL && (r = record_run(s, &rep)) != 0)
        tsb_report_error(&rep, "recording this run in the archive: %s", tsb_err_detail());
    if (o.json) {
        struct tsb_buf json;
        tsb_buf_init(&json, (size_t)256 * 1024 * 1024);
        if (tsb_report_json(&rep, &json) == 0)
            printf("%s\n", (const char *)json.p);
        tsb_buf_cleanup(&json);
    } else {
        print_text(stdout, tz, &rep);
    }
    rc = tsb_report_exit_code(&rep);
out:
    tsb_keystore_free(ks);
    tsb_token_verifier_free(v);
    tsb_token_verifier_free(ev);
    tsb_store_close(s);
    tsb_report_cleanup(&rep);
    return rc;
}
