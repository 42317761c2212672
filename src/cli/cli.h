/*
 * cli: what every tsbag verb shares. main.c parses the global options (config file and
 * overrides), then calls the verb with its own argv (argv[0] is the verb name).
 * Exit codes: 0 success, 1 the verb's negative answer (documented per verb), 2 usage or could
 * not run.
 */
#ifndef TSB_CLI_H
#define TSB_CLI_H

#include "config.h"

#include <stdbool.h>

#define TSB_EXIT_OK    0
#define TSB_EXIT_FAIL  1
#define TSB_EXIT_USAGE 2

struct tsb_cli {
    struct tsb_config cfg;   /* defaults, the config file if any, then overrides; finished */
    const char *config_path; /* NULL when running on the embedded defaults */
};

struct tsb_cli_verb {
    const char *name;
    const char *summary;
    int (*run)(struct tsb_cli *cli, int argc, char **argv);
};

/* The verb table, terminated by a {NULL} entry (main.c). */
extern const struct tsb_cli_verb tsb_cli_verbs[];

int tsb_cmd_hash(struct tsb_cli *cli, int argc, char **argv);
int tsb_cmd_status(struct tsb_cli *cli, int argc, char **argv);
int tsb_cmd_seal(struct tsb_cli *cli, int argc, char **argv);
int tsb_cmd_reconcile(struct tsb_cli *cli, int argc, char **argv);
int tsb_cmd_push(struct tsb_cli *cli, int argc, char **argv);

#endif
