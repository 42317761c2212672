/*
 * tsbag doctor: the pre-flight check an operator runs before going live and after every change
 * (docs/operations.md, "Before going live: tsbag doctor"). Each check is one named line, OK, WARN
 * or FAIL, whose text says what to do. Nothing is written to the archive and no stamp is used:
 * the archive is opened read-only, and the end-to-end probe is a signed TimeStampConsult
 * checkCompleteness for an empty past period, sent by reconcile.c over the same blocking HTTPS
 * transport as `tsbag reconcile`, which proves keystore, WS-Security, TLS and IDHospital together.
 * The certificate files are read with OpenSSL's PEM reader only to show what they hold and when
 * it expires; verification itself stays in token.c and fetch.c. Exit: 0 every line OK or WARN,
 * 1 any FAIL, 2 could not run (usage; a configuration that does not parse fails in main.c).
 */
#include "cli.h"

#include "err.h"
#include "fetch_sync.h"
#include "json.h"
#include "keystore.h"
#include "reconcile.h"
#include "store.h"
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXPIRY_WARN_DAYS 60
#define PROBE_AGE_MS     ((int64_t)2 * 24 * 3600 * 1000) /* the probed second lies two days back */
#define MAX_LINES        16

enum verdict { V_OK, V_WARN, V_FAIL };

static const char *const verdict_names[] = {"OK", "WARN", "FAIL"};

struct line {
    const char *name;
    enum verdict v;
    char text[1024];
};

struct doctor {
    struct tsb_cli *cli;
    struct line lines[MAX_LINES];
    size_t n;
    struct tsb_keystore *ks; /* loaded by check_keystore, used by the probe */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tsbag doctor [--json]\n\n"
               "Checks the configuration, state folder, archive, keystore, trust anchors, TLS and\n"
               "eHealth end to end (a TimeStampConsult checkCompleteness for an empty past\n"
               "period: no stamp is used, nothing is written). One line per check: OK, WARN or\n"
               "FAIL with what to do.\n"
               "  --json   the checks as one JSON object on stdout\n"
               "Exit: 0 all OK (WARN allowed), 1 any FAIL, 2 could not run. See "
               "docs/operations.md.\n");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add(struct doctor *d, const char *name, enum verdict v, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(struct doctor *d, const char *name, enum verdict v, const char *fmt, ...)
{
    if (d->n == MAX_LINES)
        abort(); /* a check was added without raising MAX_LINES */
    struct line *l = &d->lines[d->n++];
    va_list ap;
    l->name = name;
    l->v = v;
    va_start(ap, fmt);
    vsnprintf(l->text, sizeof(l->text), fmt, ap);
    va_end(ap);
}

/* ---- certificates ------------------------------------------------------------------------- */

/* Days from now until t (negative once past). */
static int days_until(const ASN1_TIME *t)
{
    int days = 0, secs = 0;
    if (!ASN1_TIME_diff(&days, &secs, NULL, t))
        return 0;
    return days;
}

static void subject_of(X509 *c, char *out, size_t n)
{
    X509_NAME_oneline(X509_get_subject_name(c), out, (int)n);
}

struct pem_summary {
    int count, expired, not_yet;
    int min_days;      /* days until the first notAfter among the valid ones */
    char bad[300];     /* subject of the first expired or not yet valid one */
    char soonest[300]; /* subject of the one that expires first */
};

/* Reads every certificate of a PEM file. 0, or TSB_ECONFIG (unreadable, no certificate). */
static int read_pem(const char *path, struct pem_summary *s)
{
    memset(s, 0, sizeof(*s));
    s->min_days = -1;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return tsb_err(TSB_ECONFIG, "cannot read %s: %s", path, strerror(errno));
    X509 *c;
    while ((c = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        s->count++;
        if (X509_cmp_current_time(X509_get0_notBefore(c)) > 0) {
            if (s->not_yet++ == 0 && s->expired == 0)
                subject_of(c, s->bad, sizeof(s->bad));
        } else if (X509_cmp_current_time(X509_get0_notAfter(c)) < 0) {
            if (s->expired++ == 0 && s->not_yet == 0)
                subject_of(c, s->bad, sizeof(s->bad));
        } else {
            int days = days_until(X509_get0_notAfter(c));
            if (s->min_days < 0 || days < s->min_days) {
                s->min_days = days;
                subject_of(c, s->soonest, sizeof(s->soonest));
            }
        }
        X509_free(c);
    }
    ERR_clear_error(); /* the loop ends on "no start line" */
    fclose(f);
    if (s->count == 0)
        return tsb_err(TSB_ECONFIG, "%s holds no PEM certificate", path);
    return 0;
}

/* Trust anchors and tsa_certs: at least one certificate valid now. Expired ones beside it are
 * fine: tokens are checked at their own genTime, so the anchors of a TSA certificate eHealth has
 * since replaced keep the tokens it signed verifiable (docs/operations.md, "Certificate renewal");
 * not-yet-valid ones are successors installed ahead of time. */
static void check_cert_file(struct doctor *d, const char *name, const char *option,
                            const char *path)
{
    struct pem_summary s;
    if (read_pem(path, &s) != 0) {
        add(d, name, V_FAIL, "%s: %s: point it at the PEM file eHealth publishes", option,
            tsb_err_detail());
        return;
    }
    int valid = s.count - s.expired - s.not_yet;
    if (valid == 0) {
        add(d, name, V_FAIL,
            "%s %s: none of its %d certificate(s) is valid now (first: %s %s): new tokens would "
            "not verify; add the current certificates (keep the old ones for older tokens)",
            option, path, s.count, s.bad, s.expired ? "has expired" : "is not valid yet");
        return;
    }
    char others[128] = "";
    if (s.expired || s.not_yet)
        snprintf(others, sizeof(others),
                 " (besides %d expired, kept for older tokens, and %d not valid yet)", s.expired,
                 s.not_yet);
    if (s.min_days < EXPIRY_WARN_DAYS)
        add(d, name, V_WARN,
            "%s %s: %d valid certificate(s)%s; %s expires in %d days: add its successor", option,
            path, valid, others, s.soonest, s.min_days);
    else
        add(d, name, V_OK, "%s %s: %d valid certificate(s)%s, valid for %d more days at least",
            option, path, valid, others, s.min_days);
}

/* ---- the checks --------------------------------------------------------------------------- */

static void check_config(struct doctor *d)
{
    const struct tsb_config *c = &d->cli->cfg;
    if (d->cli->config_path)
        add(d, "config", V_OK, "%s parses (general.environment=%s)", d->cli->config_path,
            tsb_environment_name(c->general.environment));
    else
        add(d, "config", V_OK,
            "no -c FILE: the embedded defaults apply (general.environment=%s); pass the file "
            "tsbagd runs with",
            tsb_environment_name(c->general.environment));
}

static void check_environment(struct doctor *d)
{
    const struct tsb_config *c = &d->cli->cfg;
    if (tsb_config_check_endpoint(c) != 0)
        add(d, "environment", V_FAIL, "%s", tsb_err_detail());
    else
        add(d, "environment", V_OK, "general.environment=%s with general.id_hospital=%s",
            tsb_environment_name(c->general.environment), c->general.id_hospital);
}

static void check_state_dir(struct doctor *d)
{
    const char *dir = d->cli->cfg.general.state_dir;
    struct stat st;
    char path[4096];
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        add(d, "state_dir", V_FAIL,
            "general.state_dir %s %s: create it, owned by the user running "
            "tsbagd",
            dir, errno == ENOENT ? "does not exist" : "is not a folder");
        return;
    }
    snprintf(path, sizeof(path), "%s/.tsbag-doctor.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        add(d, "state_dir", V_FAIL,
            "general.state_dir %s is not writable (%s): give the user running tsbagd write access",
            dir, strerror(errno));
        return;
    }
    bool ok = write(fd, "x", 1) == 1 && fsync(fd) == 0;
    int err = errno;
    close(fd);
    unlink(path);
    if (!ok)
        add(d, "state_dir", V_FAIL,
            "general.state_dir %s: a file written there cannot be synced "
            "(%s): check the file system",
            dir, strerror(err));
    else
        add(d, "state_dir", V_OK, "general.state_dir %s is writable", dir);
}

/* Keeps the first finding of the integrity check, without SQLite's heading line. */
static void first_problem(void *arg, const char *problem)
{
    static const char heading[] = "*** in database main ***\n";
    char *first = arg;
    if (strncmp(problem, heading, sizeof(heading) - 1) == 0)
        problem += sizeof(heading) - 1;
    if (first[0] == '\0')
        snprintf(first, 300, "%.*s", (int)strcspn(problem, "\n"), problem);
}

static void check_archive(struct doctor *d)
{
    const struct tsb_config *c = &d->cli->cfg;
    const char *path = c->store.path;
    struct tsb_store *s = NULL;
    struct tsb_store_open_opts so = {.readonly = true,
                                     .accept_older = true, /* reported below, not migrated */
                                     .busy_timeout_ms = (int)c->store.busy_timeout_ms};
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        add(d, "archive", V_WARN,
            "store.path %s does not exist yet: tsbagd creates it at its "
            "first start",
            path);
        return;
    }
    if (tsb_store_open(path, &so, &s) != 0) {
        add(d, "archive", V_FAIL, "store.path: %s", tsb_err_detail());
        return;
    }
    int version = tsb_store_schema_version(s), latest = tsb_store_schema_latest();
    char first[300] = "";
    int64_t problems = 0;
    if (tsb_store_integrity(s, true, first_problem, first, &problems) != 0)
        add(d, "archive", V_FAIL, "store.path %s: quick_check could not run: %s", path,
            tsb_err_detail());
    else if (problems > 0)
        add(d, "archive", V_FAIL,
            "store.path %s is damaged: quick_check finds %lld problem(s), the first: %s; restore "
            "the latest backup (docs/reconcile.md, \"Archive damage\")",
            path, (long long)problems, first);
    else if (access(path, W_OK) != 0)
        add(d, "archive", V_FAIL,
            "store.path %s is not writable (%s): give the user running "
            "tsbagd write access to it",
            path, strerror(errno));
    else if (version < latest)
        add(d, "archive", V_WARN,
            "store.path %s: schema %d, quick_check ok; tsbagd migrates it "
            "to schema %d at its next start (take a backup first)",
            path, version, latest);
    else
        add(d, "archive", V_OK, "store.path %s opens, schema %d is current, quick_check ok", path,
            version);
    tsb_store_close(s);
}

static void check_keystore(struct doctor *d)
{
    const struct tsb_config *c = &d->cli->cfg;
    struct tsb_keystore_source src = {.path = c->tsa.keystore,
                                      .password_file = c->tsa.keystore_password_file,
                                      .password_env = c->tsa.keystore_password_env};
    if (tsb_keystore_load(&src, now_ms(), &d->ks) != 0) {
        add(d, "keystore", V_FAIL, "tsa.keystore: %s", tsb_err_detail());
        return;
    }
    int days = (int)((tsb_keystore_not_after_ms(d->ks) - now_ms()) / 86400000);
    if (days < EXPIRY_WARN_DAYS)
        add(d, "keystore", V_WARN,
            "%s: key matches certificate; it expires in %d days: renew it "
            "with eHealth now",
            tsb_keystore_describe(d->ks), days);
    else
        add(d, "keystore", V_OK,
            "%s: opens with the password, key matches certificate, %d days "
            "until expiry",
            tsb_keystore_describe(d->ks), days);
}

/* The hospital certificate must chain to the CA certificates the keystore carries. */
static void check_chain(struct doctor *d)
{
    if (d->ks == NULL) {
        add(d, "keystore_chain", V_FAIL, "not checked: the keystore did not load (see keystore)");
        return;
    }
    int n = tsb_keystore_ca_count(d->ks);
    int r = tsb_keystore_check_chain(d->ks);
    if (r == TSB_ENOTFOUND)
        add(d, "keystore_chain", V_WARN,
            "the keystore holds no CA certificate: eHealth must know "
            "the issuer of the hospital certificate; export the keystore with its chain");
    else if (r == 0)
        add(d, "keystore_chain", V_OK,
            "the hospital certificate chains to the %d CA "
            "certificate(s) in the keystore",
            n);
    else
        add(d, "keystore_chain", V_FAIL,
            "the hospital certificate does not chain to the keystore's "
            "%d CA certificate(s): %s; export the keystore again with its chain",
            n, tsb_err_detail());
}

static void check_tsa_certs(struct doctor *d)
{
    const struct tsb_config *c = &d->cli->cfg;
    struct tsb_token_verifier *v = NULL;
    check_cert_file(d, "trust_anchors", "tsa.trust_anchors", c->tsa.trust_anchors);
    if (c->tsa.tsa_certs[0] == '\0')
        add(d, "tsa_certs", V_OK, "tsa.tsa_certs not set: tokens must carry the TSA certificate");
    else
        check_cert_file(d, "tsa_certs", "tsa.tsa_certs", c->tsa.tsa_certs);
    /* the verifier exactly as tsbagd builds it (also checks tsa.policy_oids) */
    if (tsb_token_verifier_from_files(c->tsa.trust_anchors, c->tsa.tsa_certs, c->tsa.policy_oids,
                                      &v) != 0)
        add(d, "token_verifier", V_FAIL, "tsa.trust_anchors, tsa.tsa_certs, tsa.policy_oids: %s",
            tsb_err_detail());
    else
        add(d, "token_verifier", V_OK, "the TSA token verifier loads as tsbagd builds it");
    tsb_token_verifier_free(v);
}

static void check_tls_ca(struct doctor *d)
{
    const char *path = d->cli->cfg.tsa.ca_file;
    struct pem_summary s;
    if (read_pem(path, &s) != 0)
        add(d, "tls_ca", V_FAIL,
            "tsa.ca_file: %s: point it at the CA bundle of eHealth's TLS "
            "certificates",
            tsb_err_detail());
    else if (s.expired == s.count)
        add(d, "tls_ca", V_FAIL, "tsa.ca_file %s: all %d certificates have expired", path, s.count);
    else if (s.expired)
        add(d, "tls_ca", V_WARN, "tsa.ca_file %s: %d of %d certificates have expired (first: %s)",
            path, s.expired, s.count, s.bad);
    else
        add(d, "tls_ca", V_OK, "tsa.ca_file %s: %d certificate(s)", path, s.count);
}

/* The host and port of an http(s) URL; "" when it has none. */
static void split_url(const char *url, char *host, size_t hn, char *port, size_t pn)
{
    const char *p = strstr(url, "://"), *e;
    host[0] = '\0';
    snprintf(port, pn, "%s", strncmp(url, "http://", 7) == 0 ? "80" : "443");
    if (p == NULL)
        return;
    p += 3;
    if (*p == '[') {
        e = strchr(++p, ']');
        if (e == NULL)
            return;
        snprintf(host, hn, "%.*s", (int)(e - p), p);
        e++;
    } else {
        e = p + strcspn(p, ":/?#");
        snprintf(host, hn, "%.*s", (int)(e - p), p);
    }
    if (*e == ':')
        snprintf(port, pn, "%.*s", (int)strcspn(e + 1, "/?#"), e + 1);
}

/* The host resolves and an HTTPS POST with an empty body gets any HTTP answer: DNS, TCP, the TLS
 * handshake and the server certificate against tsa.ca_file all passed. Such a request is refused
 * by the service and uses no stamp. */
static void check_host(struct doctor *d, const char *name, const char *option, const char *url)
{
    char host[256], port[16], addr[NI_MAXHOST] = "?";
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    split_url(url, host, sizeof(host), port, sizeof(port));
    if (host[0] == '\0') {
        add(d, name, V_FAIL, "%s \"%s\" names no host", option, url);
        return;
    }
    int gr = getaddrinfo(host, port, &hints, &ai);
    if (gr != 0) {
        add(d, name, V_FAIL, "%s: %s does not resolve (%s): check DNS and the URL", option, host,
            gai_strerror(gr));
        return;
    }
    getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(ai);
    struct tsb_cli_post p = tsb_cli_post_for(d->cli, url);
    struct tsb_buf resp;
    long status = 0;
    tsb_buf_init(&resp, p.fo.max_response);
    int r = tsb_fetch_sync_post(&p.fo, url, NULL, (const uint8_t *)"", 0, &resp, &status);
    tsb_buf_cleanup(&resp);
    if (r != 0)
        add(d, name, V_FAIL,
            "%s: %s resolves to %s, but HTTPS fails: %s: check the firewall, "
            "the URL and tsa.ca_file",
            option, host, addr, tsb_err_detail());
    else
        add(d, name, V_OK,
            "%s: %s resolves to %s, TLS handshake verified with tsa.ca_file (HTTP "
            "%ld)",
            option, host, addr, status);
}

static void check_probe(struct doctor *d)
{
    const struct tsb_config *c = &d->cli->cfg;
    struct tsb_consult_answer a;
    if (d->ks == NULL) {
        add(d, "consult_probe", V_FAIL, "not run: the keystore did not load (see keystore)");
        return;
    }
    struct tsb_cli_post pc = tsb_cli_post_for(d->cli, c->consult.url);
    struct tsb_reconcile_opts ro = {.keystore = d->ks,
                                    .id_hospital = c->general.id_hospital,
                                    .ns = c->sealer.bag_namespace,
                                    .wss_ttl_s = c->tsa.wss_ttl_s,
                                    .limits = {.max_response = (size_t)c->tsa.max_response},
                                    .post = tsb_cli_consult_post,
                                    .post_arg = &pc};
    int64_t from = (now_ms() - PROBE_AGE_MS) / 1000 * 1000;
    int r = tsb_reconcile_probe(&ro, from, from + 999, &a);
    if (r != 0)
        add(d, "consult_probe", V_FAIL, "checkCompleteness to %s: %s: %s", c->consult.url,
            tsb_strerror(r), tsb_err_detail());
    else if (a.fault)
        add(d, "consult_probe", V_FAIL,
            "checkCompleteness as %s refused with SOAP fault %s: %s: the keystore certificate "
            "must be the one eHealth registered for general.id_hospital",
            c->general.id_hospital, a.fault_code, a.fault_string);
    else if (a.status == TSB_CONSULT_ERROR)
        add(d, "consult_probe", V_FAIL,
            "checkCompleteness as %s answered Status ERROR, Error Type \"%s\" Number %s: check "
            "general.id_hospital and the keystore with eHealth",
            c->general.id_hospital, a.error.type, a.error.number);
    else
        add(d, "consult_probe", V_OK,
            "checkCompleteness as %s for an empty past period answered Status %s: keystore, "
            "WS-Security, TLS and IDHospital accepted",
            c->general.id_hospital, tsb_consult_status_name(a.status));
    tsb_consult_answer_cleanup(&a);
}

/* ---- output ------------------------------------------------------------------------------- */

static int exit_code(const struct doctor *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->lines[i].v == V_FAIL)
            return TSB_EXIT_FAIL;
    return TSB_EXIT_OK;
}

static const char *result_name(const struct doctor *d)
{
    enum verdict worst = V_OK;
    for (size_t i = 0; i < d->n; i++)
        if (d->lines[i].v > worst)
            worst = d->lines[i].v;
    return worst == V_OK ? "ok" : worst == V_WARN ? "warn" : "fail";
}

static void print_text(const struct doctor *d)
{
    for (size_t i = 0; i < d->n; i++)
        printf("%-4s  %-14s  %s\n", verdict_names[d->lines[i].v], d->lines[i].name,
               d->lines[i].text);
    printf("tsbag doctor: %s (exit %d)\n", result_name(d), exit_code(d));
}

static int print_json(const struct doctor *d)
{
    struct json_t *root = tsb_json_object(), *checks = tsb_json_array();
    struct tsb_buf out;
    tsb_buf_init(&out, (size_t)1 << 20);
    tsb_json_set_str(root, "result", result_name(d));
    tsb_json_set_int(root, "exit_code", exit_code(d));
    for (size_t i = 0; i < d->n; i++) {
        struct json_t *o = tsb_json_object();
        tsb_json_set_str(o, "name", d->lines[i].name);
        tsb_json_set_str(o, "verdict", verdict_names[d->lines[i].v]);
        tsb_json_set_str(o, "detail", d->lines[i].text);
        tsb_json_append(checks, o);
    }
    tsb_json_set(root, "checks", checks);
    int r = tsb_json_dump(root, &out);
    if (r == 0)
        printf("%s\n", (const char *)out.p);
    else
        fprintf(stderr, "tsbag doctor: %s\n", tsb_err_detail());
    tsb_buf_cleanup(&out);
    tsb_json_free(root);
    return r;
}

/* ---- the verb ----------------------------------------------------------------------------- */

int tsb_cmd_doctor(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct doctor d = {.cli = cli};
    bool json = false;
    int ch;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return TSB_EXIT_OK;
        default:
            usage(stderr);
            return TSB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tsbag doctor: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return TSB_EXIT_USAGE;
    }
    check_config(&d);
    check_environment(&d);
    check_state_dir(&d);
    check_archive(&d);
    check_keystore(&d);
    check_chain(&d);
    check_tsa_certs(&d);
    check_tls_ca(&d);
    check_host(&d, "tsa_host", "tsa.url", cli->cfg.tsa.url);
    check_host(&d, "consult_host", "consult.url", cli->cfg.consult.url);
    check_probe(&d);
    tsb_keystore_free(d.ks);
    if (json ? print_json(&d) != 0 : (print_text(&d), false))
        return TSB_EXIT_USAGE;
    return exit_code(&d);
}
