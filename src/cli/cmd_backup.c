/*
 * tsbag backup: a consistent online copy of the archive while tsbagd runs (store.c's
 * tsb_store_backup: one snapshot, written beside DEST, fsynced and renamed, so DEST is either
 * absent or a whole copy), then the archive check (check.c) on the copy opened read-only, with
 * the TSA trust anchors as `tsbag reconcile --local-only` uses them. The source is opened
 * read-only: a backup never writes the archive. Exit: 0 copy written and CLEAN, 1 copy written
 * but the check found violations, 2 could not run (usage, DEST exists, copy or check failed).
 */
#include "cli.h"

#include "check.h"
#include "err.h"
#include "store.h"
#include "token.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct backup_run {
    bool progress;
    int64_t violations;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tsbag backup [--force] [--pages-per-step N] [--no-progress] DEST\n\n"
               "Copies the archive (store.path) to DEST as one consistent snapshot while tsbagd\n"
               "runs, then checks the copy (the archive check of tsbag reconcile --local-only).\n"
               "DEST is written under a temporary name, fsynced and renamed: it is never a\n"
               "partial copy. An existing DEST is refused unless --force.\n"
               "  --force             replace an existing DEST\n"
               "  --pages-per-step N  pages copied per step (default 1024); the snapshot is\n"
               "                      the same whatever N, smaller steps show progress more often\n"
               "  --no-progress       no progress line on a terminal\n"
               "Exit: 0 copied and CLEAN, 1 copied but the check found violations, 2 could not\n"
               "run. See docs/operations.md, \"Backups and restore\".\n");
}

static void on_step(void *arg, int64_t remaining, int64_t total)
{
    const struct backup_run *b = arg;
    if (b->progress && total > 0) {
        fprintf(stderr, "\r\033[Kbackup: copied %" PRId64 "/%" PRId64 " pages", total - remaining,
                total);
        fflush(stderr);
    }
}

static void on_progress(void *arg, const char *phase, int64_t done, int64_t total)
{
    const struct backup_run *b = arg;
    if (b->progress)
        tsb_cli_progress("backup check", phase, done, total);
}

static void clear_progress(const struct backup_run *b)
{
    if (b->progress)
        tsb_cli_progress_clear();
}

static void on_violation(void *arg, const struct tsb_violation *v)
{
    struct backup_run *b = arg;
    b->violations++;
    printf("  [%s] %s\n", tsb_violation_kind_name(v->kind), v->message);
}

int tsb_cmd_backup(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"force", no_argument, NULL, 'f'},
        {"no-progress", no_argument, NULL, 'P'},
        {"pages-per-step", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct backup_run run = {.progress = isatty(STDERR_FILENO) == 1};
    struct tsb_backup_opts bo = {.on_step = on_step, .arg = &run};
    struct tsb_store *src = NULL, *copy = NULL;
    struct tsb_token_verifier *v = NULL;
    struct tsb_check_stats st = {0};
    struct stat sb;
    int ch, rc = TSB_EXIT_USAGE;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            bo.force = true;
            break;
        case 'P':
            run.progress = false;
            break;
        case 'p': {
            char *e = NULL;
            errno = 0;
            long n = strtol(optarg, &e, 10);
            if (errno != 0 || e == optarg || *e != '\0' || n < 1 || n > INT_MAX) {
                fprintf(stderr,
                        "tsbag backup: --pages-per-step wants a positive number, not "
                        "\"%s\"\n",
                        optarg);
                return TSB_EXIT_USAGE;
            }
            bo.step_pages = (int)n;
            break;
        }
        case 'h':
            usage(stdout);
            return TSB_EXIT_OK;
        default:
            usage(stderr);
            return TSB_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "tsbag backup: one DEST is required\n");
        usage(stderr);
        return TSB_EXIT_USAGE;
    }
    const char *dest = argv[optind];
    if (!bo.force && lstat(dest, &sb) == 0) {
        fprintf(stderr, "tsbag backup: %s already exists (--force replaces it)\n", dest);
        return TSB_EXIT_USAGE;
    }
    /* the anchors first: a backup that cannot be checked is found out before the copy */
    if (tsb_token_verifier_from_files(cli->cfg.tsa.trust_anchors, cli->cfg.tsa.tsa_certs,
                                      cli->cfg.tsa.policy_oids, &v) != 0) {
        fprintf(stderr,
                "tsbag backup: TSA verification settings (tsa.trust_anchors, tsa.tsa_certs, "
                "tsa.policy_oids): %s\n",
                tsb_err_detail());
        goto out;
    }
    if (tsb_cli_open_archive(cli, "backup", true, &src) != 0)
        goto out;
    if (tsb_store_backup(src, dest, &bo) != 0) {
        clear_progress(&run);
        fprintf(stderr, "tsbag backup: %s\n", tsb_err_detail());
        goto out;
    }
    clear_progress(&run);
    tsb_store_close(src);
    src = NULL;
    printf("tsbag backup: %s copied to %s\n", cli->cfg.store.path, dest);

    struct tsb_check_opts co = {.verifier = v,
                                .on_violation = on_violation,
                                .arg = &run,
                                .on_progress = on_progress,
                                .progress_arg = &run,
                                .first_seq = cli->cfg.sealer.first_sequence};
    struct tsb_store_open_opts so = {.readonly = true,
                                     .busy_timeout_ms = (int)cli->cfg.store.busy_timeout_ms};
    if (tsb_store_open(dest, &so, &copy) != 0 || tsb_check_archive(copy, &co, &st) != 0) {
        clear_progress(&run);
        fprintf(stderr, "tsbag backup: checking the copy %s: %s\n", dest, tsb_err_detail());
        printf("tsbag backup: NOT CHECKED (exit 2)\n");
        goto out;
    }
    clear_progress(&run);
    printf("%-22s %" PRId64 " bags (%" PRId64 " stamped, %" PRId64 " recovered, %" PRId64
           " unstamped), %" PRId64 " journal rows (%" PRId64 " with content)\n",
           "copy", st.bags, st.stamped, st.recovered, st.unstamped, st.entries, st.contents);
    printf("%-22s %" PRId64 "\n", "violations", run.violations);
    rc = run.violations == 0 ? TSB_EXIT_OK : TSB_EXIT_FAIL;
    printf("tsbag backup: %s (exit %d)\n", rc == TSB_EXIT_OK ? "CLEAN" : "DISCREPANCIES", rc);
out:
    tsb_store_close(copy);
    tsb_store_close(src);
    tsb_token_verifier_free(v);
    return rc;
}
