/*
 * cli: what every tsbag verb shares. main.c parses the global options (config file and
 * overrides), then calls the verb with its own argv (argv[0] is the verb name).
 * Exit codes: 0 success, 1 the verb's negative answer (documented per verb), 2 usage or could
 * not run.
 */
#ifndef TSB_CLI_H
#define TSB_CLI_H

#include "config.h"
#include "fetch.h"
#include "mem.h"

#include <stdbool.h>
#include <stdint.h>

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
int tsb_cmd_retry(struct tsb_cli *cli, int argc, char **argv);
int tsb_cmd_reconcile(struct tsb_cli *cli, int argc, char **argv);
int tsb_cmd_verify(struct tsb_cli *cli, int argc, char **argv);
int tsb_cmd_export(struct tsb_cli *cli, int argc, char **argv);
int tsb_cmd_backup(struct tsb_cli *cli, int argc, char **argv);
int tsb_cmd_renew(struct tsb_cli *cli, int argc, char **argv);

/* ---- the running tsbagd (daemon_request.c) ----------------------------------------------- */

struct tsb_frame;
/* Handles the reply to a daemon request (prints the outcome); returns the verb's exit code. */
typedef int (*tsb_cli_reply_fn)(void *arg, const struct tsb_frame *reply);
/* Sends one request of the given type and body to the tsbagd on cli's Unix socket and hands its
 * reply to fn. Returns fn's exit code, TSB_EXIT_FAIL when the connection broke before the reply,
 * TSB_EXIT_USAGE when tsbagd cannot be reached (each reason printed, prefixed "tsbag VERB:"). */
int tsb_cli_daemon_request(struct tsb_cli *cli, const char *verb, uint8_t type,
                           struct tsb_slice body, tsb_cli_reply_fn fn, void *arg);

/* ---- entry selection shared by verify and export (select.c) ------------------------------- */

struct tsb_audit;
struct tsb_audit_result;
struct tsb_entry_rec;
struct tsb_store;

enum tsb_sel_kind { TSB_SEL_FILE, TSB_SEL_HASH, TSB_SEL_REF, TSB_SEL_PERIOD };

struct tsb_sel_input {
    enum tsb_sel_kind kind;
    const char *text; /* as given: a path, a hash, a Ref */
    uint8_t digest[32];
    int64_t ref;
    int64_t from_ms, to_ms;
};

struct tsb_sel {
    struct tsb_sel_input *v;
    size_t n;
    const char *from, *to; /* --from / --to text, NULL if absent */
};

/* Adds a document (hashed now, exactly as at ingest), a --hash or a --ref; prints the problem
 * and returns TSB_EXIT_USAGE or TSB_EXIT_FAIL (unreadable file), 0 on success. */
int tsb_sel_add_file(struct tsb_sel *s, struct tsb_cli *cli, const char *path);
int tsb_sel_add_hash(struct tsb_sel *s, const char *verb, const char *text);
int tsb_sel_add_ref(struct tsb_sel *s, const char *verb, const char *text);
/* Turns --from/--to into a period input (day-only dates in consult.timezone; --to inclusive). */
int tsb_sel_finish(struct tsb_sel *s, struct tsb_cli *cli, const char *verb);
void tsb_sel_cleanup(struct tsb_sel *s);

/* Called once per result; e is the archived entry (NULL for NOT FOUND). Non-zero stops. */
typedef int (*tsb_sel_cb)(void *arg, const struct tsb_sel_input *in,
                          const struct tsb_audit_result *res, const struct tsb_entry_rec *e);
/* Verifies every selected entry of the archive, calling cb with each verdict (NOT FOUND for an
 * input that matches nothing). Returns 0, cb's non-zero value, or a negative TSB_E* when the
 * archive could not be read. */
int tsb_sel_run(struct tsb_sel *s, struct tsb_store *st, struct tsb_audit *a, tsb_sel_cb cb,
                void *arg);
int tsb_cmd_push(struct tsb_cli *cli, int argc, char **argv);
int tsb_cmd_doctor(struct tsb_cli *cli, int argc, char **argv);

/* The progress line on stderr (progress.c): "<who>: <phase> <done>[/<total>]" rewritten in place
 * (total <= 0: no total), and its erasure before a report is printed. */
void tsb_cli_progress(const char *who, const char *phase, int64_t done, int64_t total);
void tsb_cli_progress_clear(void);

/* ---- the archive (archive.c) ------------------------------------------------------------ */

/* Opens the archive at cli's store.path with its store.busy_timeout_ms, read-only if readonly
 * (then without migrating it), into *out. On failure prints "tsbag VERB: cannot open the
 * archive: DETAIL" on stderr and returns tsb_store_open's code (TSB_EDAMAGED for damage). */
int tsb_cli_open_archive(const struct tsb_cli *cli, const char *verb, bool readonly,
                         struct tsb_store **out);

/* ---- blocking HTTPS to eHealth (cmd_reconcile.c) ----------------------------------------- */

/* Where tsb_cli_consult_post sends, with the tsa section's TLS CA, timeouts and size cap. */
struct tsb_cli_post {
    const char *url;
    struct tsb_fetch_opts fo;
};
/* The post context for url (borrowed; cli must outlive it). */
struct tsb_cli_post tsb_cli_post_for(const struct tsb_cli *cli, const char *url);
/* A tsb_consult_post_fn (reconcile.h) over fetch_sync.c; arg is a struct tsb_cli_post. Statuses
 * other than 200 and 500 (SOAP 1.1 faults) are TSB_EPROTO naming the URL. */
int tsb_cli_consult_post(void *arg, const uint8_t *req, size_t len, struct tsb_buf *resp);

#endif
