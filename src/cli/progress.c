/*
 * progress: the one-line progress display of the long verbs (reconcile, backup) on stderr,
 * rewritten in place ("\r", erase line); callers decide whether it is shown (a terminal, no
 * --no-progress) and clear it before printing their report.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>

void tsb_cli_progress(const char *who, const char *phase, int64_t done, int64_t total)
{
    if (total > 0)
        fprintf(stderr, "\r\033[K%s: %s %" PRId64 "/%" PRId64, who, phase, done, total);
    else
        fprintf(stderr, "\r\033[K%s: %s %" PRId64, who, phase, done);
    fflush(stderr);
}

void tsb_cli_progress_clear(void)
{
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}
