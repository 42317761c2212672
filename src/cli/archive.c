/*
 * archive: how the verbs that read or write the archive open it: store.path with the
 * configured busy timeout, and one wording for the failure. Called by backup, export, reconcile,
 * renew and verify; status and doctor report a failed open in their own formats.
 */
#include "cli.h"

#include "err.h"
#include "store.h"

#include <stdio.h>

int tsb_cli_open_archive(const struct tsb_cli *cli, const char *verb, bool readonly,
                         struct tsb_store **out)
{
    struct tsb_store_open_opts so = {.readonly = readonly,
                                     .busy_timeout_ms = (int)cli->cfg.store.busy_timeout_ms};
    int r = tsb_store_open(cli->cfg.store.path, &so, out);
    if (r != 0)
        fprintf(stderr, "tsbag %s: cannot open the archive: %s\n", verb, tsb_err_detail());
    return r;
}
