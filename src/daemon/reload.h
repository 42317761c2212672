/*
 * reload: SIGHUP re-reads the configuration the way tsbagd read it at start (the -c files and -s
 * overrides, in command-line order) and applies what can change while running; any other changed
 * option is logged as "<section.key> changed: needs a restart" and keeps its running value. A file
 * that does not parse, or a keystore, trust anchor or allow-list that does not load, changes
 * nothing of its part and is logged naming the file (and line). Loop thread only.
 */
#ifndef TSB_RELOAD_H
#define TSB_RELOAD_H

#include "config.h"
#include "ingest.h"
#include "sender.h"

#include <stddef.h>

/* One configuration source from the command line: 'c' (a file) or 's' (section.key=value). */
struct tsb_reload_arg {
    char kind;
    const char *value;
};

/* Re-reads args into a new configuration and moves what may change into running (the
 * configuration every module points to), hands ingest the allow-list and sender (NULL when the
 * sealer is off) the keystore and trust anchors. Returns 0, or the error that kept everything. */
int tsb_reload(struct tsb_config *running, const struct tsb_reload_arg *args, size_t nargs,
               struct tsb_ingest *ingest, struct tsb_sender *sender);

#endif
