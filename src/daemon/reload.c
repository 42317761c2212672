/*
 * reload: which options are live is decided here, by what reads them. The options below are
 * read on the loop thread at the moment they are used (or re-loaded by their module's reload
 * hook), so moving a new value into the running configuration between two loop callbacks is
 * safe; the others are copied into module state at start (listeners, limits, the archive, the
 * fetch client, the sealer's timer) or read by work items on other threads, and need a restart.
 */
#include "reload.h"

#include "metrics.h"

#include "err.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum group { G_PLAIN, G_SENDER, G_ALLOWLIST };

static const struct live {
    const char *name;
    enum group group;
} live[] = {
    {"general.log_level", G_PLAIN},
    {"sealer.unstamped_alarm_s", G_PLAIN},
    {"sealer.refuse_after_unstamped_s", G_PLAIN},
    {"sealer.chain", G_PLAIN},
    {"tsa.url", G_PLAIN},
    {"tsa.retry_min_ms", G_PLAIN},
    {"tsa.retry_max_ms", G_PLAIN},
    {"tsa.capture_dir", G_PLAIN},
    {"tsa.keystore", G_SENDER},
    {"tsa.keystore_password_file", G_SENDER},
    {"tsa.trust_anchors", G_SENDER},
    {"tsa.tsa_certs", G_SENDER},
    {"tsa.policy_oids", G_SENDER},
    {"ingest.tls_allowlist", G_ALLOWLIST},
};

static const struct live *find_live(const char *name)
{
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        if (strcmp(live[i].name, name) == 0)
            return &live[i];
    return NULL;
}

static int read_config(const struct tsb_reload_arg *args, size_t nargs, struct tsb_config *out)
{
    for (size_t i = 0; i < nargs; i++) {
        int r = args[i].kind == 'c' ? tsb_config_load_file(out, args[i].value)
                                    : tsb_config_set_override(out, args[i].value);
        if (r != 0)
            return r;
    }
    return 0;
}

/* The options other paths and URLs derive from: a change needs a restart and must not move the
 * derived ones either, so the running value is put back before tsb_config_finish. */
static int keep_base(const struct tsb_config *running, struct tsb_config *next, int *restart)
{
    int r = 0;
    if (strcmp(running->general.state_dir, next->general.state_dir) != 0) {
        tsb_warn("tsbagd: reload: general.state_dir changed: needs a restart");
        (*restart)++;
        r = tsb_config_set(next, "general", "state_dir", running->general.state_dir);
    }
    if (r == 0 && running->general.environment != next->general.environment) {
        tsb_warn("tsbagd: reload: general.environment changed: needs a restart");
        (*restart)++;
        r = tsb_config_set(next, "general", "environment",
                           tsb_environment_name(running->general.environment));
    }
    return r;
}

int tsb_reload(struct tsb_config *running, const struct tsb_reload_arg *args, size_t nargs,
               struct tsb_ingest *ingest, struct tsb_sender *sender)
{
    int r = TSB_EINTERNAL, changed = 0, restart = 0;
    bool sender_ok = true, allow_ok = true;
    struct tsb_config next;

    tsb_info("tsbagd: SIGHUP: reloading the configuration");
    tsb_config_defaults(&next);
    if ((r = read_config(args, nargs, &next)) != 0 ||
        (r = keep_base(running, &next, &restart)) != 0 || (r = tsb_config_finish(&next)) != 0 ||
        (r = tsb_config_check_endpoint(&next)) != 0) {
        tsb_error("tsbagd: reload: %s; keeping the running configuration", tsb_err_detail());
        goto out;
    }
    /* a renewed keystore or allow-list usually keeps its path: load them on every reload */
    if (sender != NULL && tsb_sender_reload(sender, &next) != 0) {
        tsb_error("tsbagd: reload: %s; keeping the running keystore and TSA trust settings",
                  tsb_err_detail());
        sender_ok = false;
    }
    if (ingest != NULL && tsb_ingest_reload_allowlist(ingest, next.ingest.tls_allowlist) != 0) {
        tsb_error("tsbagd: reload: %s; keeping the running allow-list", tsb_err_detail());
        allow_ok = false;
    }
    struct tsb_config_option_info info;
    for (size_t i = 0; tsb_config_option_at(i, &info); i++) {
        if (tsb_config_option_equal(running, &next, i))
            continue;
        char name[128];
        snprintf(name, sizeof(name), "%s.%s", info.section, info.key);
        const struct live *l = find_live(name);
        if (l == NULL) {
            tsb_warn("tsbagd: reload: %s changed: needs a restart; keeping the running value",
                     name);
            restart++;
        } else if ((l->group == G_SENDER && !sender_ok) || (l->group == G_ALLOWLIST && !allow_ok)) {
            restart++; /* its error was logged above */
        } else {
            tsb_info("tsbagd: reload: %s changed", name);
            tsb_config_option_take(running, &next, i);
            changed++;
        }
    }
    tsb_log_setup(running->general.log_level, isatty(STDERR_FILENO));
    tsb_metrics_alarm(running->sealer.unstamped_alarm_s);
    if (sender != NULL)
        tsb_sender_reconfigured(sender);
    tsb_info("tsbagd: configuration reloaded: %d option(s) changed, %d kept until a restart",
             changed, restart);
    r = sender_ok && allow_ok ? 0 : TSB_ECONFIG;
out:
    tsb_config_cleanup(&next);
    return r;
}
