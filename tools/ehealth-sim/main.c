/*
 * ehealth-sim: the HTTPS front of the eHealth simulator. libmicrohttpd (TLS by GnuTLS) with one
 * thread per connection, so a fault that holds a request (latency, timeout) blocks only that
 * connection. Routes: POST /TimestampAuthority/v2, POST /TimestampConsult/v2, POST /rfc3161 (a
 * second, independent RFC 3161 TSA for tsbag's [tsa2], rfc3161.c), and the admin endpoints
 * POST /admin/fault, GET /admin/faults, GET /admin/clock. The first line on stdout
 * names the bound address (machine-readable, also with --port 0).
 */
#include "sim.h"

#include "err.h"
#include "log.h"
#include "mem.h"
#include "xml.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_POLICY "2.999.7355.1.1"

static atomic_bool stopping;

struct conn {
    struct tsb_buf in;
    bool too_big;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ehealth-sim [options]\n"
            "Simulates the eHealth TimeStampAuthority v2 and TimeStampConsult v2 over HTTPS,\n"
            "and a second, independent RFC 3161 TSA at /rfc3161 (dev-pki's tsa2 files).\n"
            "  --pki DIR              tools/dev-pki folder (default state/pki)\n"
            "  --db FILE              the simulator's archive (default DIR/../ehealth-sim.db)\n"
            "  --listen ADDR          address to bind (default 127.0.0.1; ::1 for IPv6)\n"
            "  --port N               TCP port (default 8443; 0 picks a free one)\n"
            "  --port-file FILE       also write the bound port to FILE\n"
            "  --hospital-ca FILE     CA bundle for WS-Security certificates "
            "(default DIR/hospital-ca.pem)\n"
            "  --id-hospital-map FILE certificate fingerprint -> IDHospital map "
            "(default DIR/id-hospital.map)\n"
            "  --allow FP=ID[,ID...]  add one map entry (SHA-256 certificate fingerprint)\n"
            "  --skew SECONDS         allowed wsu:Timestamp clock skew (default 300)\n"
            "  --policy OID           TSA policy OID (default " DEFAULT_POLICY ")\n"
            "  --max-request BYTES    largest accepted request (default 67108864)\n"
            "  --response-ttl SECONDS lifetime of the response wsu:Timestamp (default 300)\n"
            "  --idhospital-error     consult with a forbidden IDHospital answers Status ERROR\n"
            "                         (NotAuthorized) instead of a FailedAuthentication fault\n"
            "  --fault NAME[=ARG][@N] enable a fault knob (repeatable; see docs/simulator.md)\n"
            "  --fault-file FILE      on SIGUSR1, replace the knobs by those in FILE (one a line)\n"
            "  --log-level LEVEL      error, warn, info (default) or debug\n"
            "  --version, --help\n");
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 const void *p, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)p, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_str(struct MHD_Connection *c, unsigned status, const char *s)
{
    return send_text(c, status, "text/plain; charset=utf-8", s, strlen(s));
}

/* Sleeps ms, waking early when the simulator stops. */
static void hold(int64_t ms)
{
    struct timespec step = {0, 50 * 1000 * 1000};
    for (int64_t left = ms; left > 0 && !atomic_load(&stopping); left -= 50)
        nanosleep(&step, NULL);
}

static enum MHD_Result admin(struct sim_service *s, struct MHD_Connection *c, const char *url,
                             const char *method, struct conn *cn)
{
    struct tsb_buf out;
    tsb_buf_init(&out, 1 << 16);
    enum MHD_Result ret;
    if (strcmp(url, "/admin/fault") == 0 && strcmp(method, "POST") == 0) {
        char *body = tsb_strndup(cn->in.p ? (const char *)cn->in.p : "", cn->in.len);
        int r = 0;
        for (char *save = NULL, *line = strtok_r(body, "\n", &save); line && r == 0;
             line = strtok_r(NULL, "\n", &save)) {
            if (strspn(line, " \t\r") == strlen(line))
                continue;
            if ((r = sim_faults_apply(&s->faults, s->archive, line)) == 0)
                tsb_info("admin: fault %s", line);
        }
        free(body);
        if (r != 0) {
            tsb_buf_appendf(&out, "error: %s\n", tsb_err_detail());
            ret = send_text(c, r == TSB_ENOTFOUND ? 404 : 400, "text/plain; charset=utf-8", out.p,
                            out.len);
            goto out;
        }
        tsb_buf_append_str(&out, "ok\n");
        sim_faults_list(&s->faults, &out);
        ret = send_text(c, 200, "text/plain; charset=utf-8", out.p, out.len);
    } else if (strcmp(url, "/admin/faults") == 0 && strcmp(method, "GET") == 0) {
        sim_faults_list(&s->faults, &out);
        ret =
            send_text(c, 200, "text/plain; charset=utf-8", out.p ? out.p : (uint8_t *)"", out.len);
    } else if (strcmp(url, "/admin/clock") == 0 && strcmp(method, "GET") == 0) {
        tsb_buf_appendf(&out, "%" PRId64 "\n", sim_now_ms(&s->faults));
        ret = send_text(c, 200, "text/plain; charset=utf-8", out.p, out.len);
    } else {
        ret = send_str(c, 404, "unknown admin endpoint\n");
    }
out:
    tsb_buf_cleanup(&out);
    return ret;
}

static enum MHD_Result soap(struct sim_service *s, struct MHD_Connection *c, bool tsa,
                            struct conn *cn)
{
    struct sim_fault_set fs;
    sim_faults_take(&s->faults, tsa, &fs);
    if (fs.on[SIM_K_LATENCY])
        hold(fs.arg[SIM_K_LATENCY]);
    if (fs.on[SIM_K_RESET]) {
        tsb_info("fault reset: closing the connection without an answer");
        return MHD_NO;
    }
    if (fs.on[SIM_K_TIMEOUT]) {
        tsb_info("fault timeout: holding the request for %" PRId64 " s", fs.arg[SIM_K_TIMEOUT]);
        hold(fs.arg[SIM_K_TIMEOUT] * 1000);
        return MHD_NO;
    }
    if (fs.on[SIM_K_HTTP503]) {
        static const char page[] = "<html><body><h1>503 Service Unavailable</h1></body></html>\n";
        return send_text(c, 503, "text/html", page, sizeof(page) - 1);
    }
    if (fs.on[SIM_K_HTTP403]) {
        static const char page[] = "<html><body><h1>403 Forbidden</h1></body></html>\n";
        return send_text(c, 403, "text/html", page, sizeof(page) - 1);
    }
    struct sim_answer ans;
    if (fs.on[SIM_K_HTTP500]) {
        tsb_buf_init(&ans.body, 1 << 16);
        struct tsb_buf f;
        tsb_buf_init(&f, 1 << 16);
        sim_fault_body(&f, "soapenv:Server", "internal server error (injected fault http-500)");
        sim_envelope(&ans.body, sim_now_ms(&s->faults), s->response_ttl_s, (const char *)f.p,
                     f.len);
        tsb_buf_cleanup(&f);
        ans.http_status = 500;
    } else if (cn->too_big) {
        tsb_buf_init(&ans.body, 1 << 16);
        struct tsb_buf f;
        char msg[200];
        snprintf(msg, sizeof(msg), "malformed request: the request exceeds %zu bytes",
                 s->max_request);
        tsb_buf_init(&f, 1 << 16);
        sim_fault_body(&f, "soapenv:Client", msg);
        sim_envelope(&ans.body, sim_now_ms(&s->faults), s->response_ttl_s, (const char *)f.p,
                     f.len);
        tsb_buf_cleanup(&f);
        ans.http_status = 500;
    } else {
        sim_service_handle(s, tsa, &fs, cn->in.p ? cn->in.p : (const uint8_t *)"", cn->in.len,
                           &ans);
    }
    enum MHD_Result ret;
    if (fs.on[SIM_K_DROP]) {
        tsb_info("fault drop-response: processed, closing without an answer");
        ret = MHD_NO;
    } else {
        size_t len = ans.body.len;
        if (fs.on[SIM_K_MALFORMED])
            len /= 2; /* cut in the middle: not well-formed */
        ret = send_text(c, (unsigned)ans.http_status, "text/xml; charset=utf-8",
                        ans.body.p ? ans.body.p : (uint8_t *)"", len);
    }
    tsb_buf_cleanup(&ans.body);
    return ret;
}

/* POST /rfc3161: the second TSA (its own knobs only: eHealth's faults never reach it). */
static enum MHD_Result rfc3161(struct sim_service *s, struct MHD_Connection *c, struct conn *cn)
{
    struct sim_fault_set fs;
    struct sim_answer ans;
    const char *type = NULL;
    if (!s->tsa2.loaded)
        return send_str(c, 404, "no second TSA: the PKI lacks tsa2.pem (tools/dev-pki --force)\n");
    if (cn->too_big)
        return send_str(c, 413, "the TimeStampReq is too large\n");
    sim_faults_take_rfc3161(&s->faults, &fs);
    sim_rfc3161_handle(s, &fs, cn->in.p ? cn->in.p : (const uint8_t *)"", cn->in.len, &ans, &type);
    enum MHD_Result ret = send_text(c, (unsigned)ans.http_status, type,
                                    ans.body.p ? ans.body.p : (uint8_t *)"", ans.body.len);
    tsb_buf_cleanup(&ans.body);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct sim_service *s = cls;
    struct conn *cn = *con_cls;
    if (cn == NULL) {
        cn = tsb_calloc(1, sizeof(*cn));
        tsb_buf_init(&cn->in, s->max_request);
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cn->too_big && tsb_buf_append(&cn->in, upload, *upload_size) != 0)
            cn->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    bool tsa = strcmp(url, "/TimestampAuthority/v2") == 0;
    bool consult = strcmp(url, "/TimestampConsult/v2") == 0;
    if (tsa || consult) {
        if (strcmp(method, "POST") != 0)
            return send_str(c, 405, "POST a SOAP 1.1 envelope here\n");
        return soap(s, c, tsa, cn);
    }
    if (strcmp(url, "/rfc3161") == 0) {
        if (strcmp(method, "POST") != 0)
            return send_str(c, 405, "POST an application/timestamp-query here\n");
        return rfc3161(s, c, cn);
    }
    if (strncmp(url, "/admin/", 7) == 0)
        return admin(s, c, url, method, cn);
    return send_str(c, 404, "not found\n");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *cn = *con_cls;
    if (cn == NULL)
        return;
    tsb_buf_cleanup(&cn->in);
    free(cn);
    *con_cls = NULL;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    char tmp[4096];
    size_t n;
    int r = 0;
    while (r == 0 && (n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        r = tsb_buf_append(&b, tmp, n);
    fclose(f);
    if (r != 0) {
        tsb_buf_cleanup(&b);
        return NULL;
    }
    if (b.p == NULL)
        return tsb_strdup(""); /* an empty file */
    size_t len;
    return (char *)tsb_buf_take(&b, &len);
}

/* SIGUSR1: the knobs become exactly those of the fault file (one per line, # comments). */
static void reload_faults(struct sim_service *s, const char *path)
{
    if (path == NULL) {
        tsb_warn("SIGUSR1 ignored: no --fault-file");
        return;
    }
    char *text = read_text(path);
    if (text == NULL) {
        tsb_warn("SIGUSR1: cannot read the fault file %s; knobs unchanged", path);
        return;
    }
    sim_faults_apply(&s->faults, NULL, "clear");
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t\r");
        if (*line == '\0' || *line == '#')
            continue;
        if (sim_faults_apply(&s->faults, s->archive, line) != 0)
            tsb_warn("fault file %s: %s", path, tsb_err_detail());
        else
            tsb_info("fault file: %s", line);
    }
    free(text);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = tsb_malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static long num_arg(const char *opt, const char *v, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || errno != 0 || n < min || n > max)
        tsb_fatal("%s: \"%s\" is not a number from %ld to %ld", opt, v, min, max);
    return n;
}

int main(int argc, char **argv)
{
    const char *pki = "state/pki", *db = NULL, *listen_addr = "127.0.0.1", *port_file = NULL;
    const char *ca = NULL, *map = NULL, *policy = DEFAULT_POLICY, *fault_file = NULL;
    long port = 8443, skew = 300, ttl = 300, max_request = 64L * 1024 * 1024;
    bool idhospital_error = false;
    const char *faults[64], *allows[64];
    size_t n_faults = 0, n_allows = 0;
    enum tsb_log_level level = TSB_LOG_INFO;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("ehealth-sim %s\n", TSB_VERSION);
            return 0;
        }
        if (strcmp(a, "--idhospital-error") == 0) {
            idhospital_error = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ehealth-sim: %s needs a value (or is unknown)\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--pki") == 0)
            pki = v;
        else if (strcmp(a, "--db") == 0)
            db = v;
        else if (strcmp(a, "--listen") == 0)
            listen_addr = v;
        else if (strcmp(a, "--port") == 0)
            port = num_arg(a, v, 0, 65535);
        else if (strcmp(a, "--port-file") == 0)
            port_file = v;
        else if (strcmp(a, "--hospital-ca") == 0)
            ca = v;
        else if (strcmp(a, "--id-hospital-map") == 0)
            map = v;
        else if (strcmp(a, "--allow") == 0 && n_allows < 64)
            allows[n_allows++] = v;
        else if (strcmp(a, "--skew") == 0)
            skew = num_arg(a, v, 0, 86400);
        else if (strcmp(a, "--policy") == 0)
            policy = v;
        else if (strcmp(a, "--max-request") == 0)
            max_request = num_arg(a, v, 4096, 1024L * 1024 * 1024);
        else if (strcmp(a, "--response-ttl") == 0)
            ttl = num_arg(a, v, 1, 86400);
        else if (strcmp(a, "--fault-file") == 0)
            fault_file = v;
        else if (strcmp(a, "--fault") == 0 && n_faults < 64)
            faults[n_faults++] = v;
        else if (strcmp(a, "--log-level") == 0) {
            if (tsb_log_level_parse(v, &level) != 0)
                tsb_fatal("--log-level: unknown level \"%s\"", v);
        } else {
            fprintf(stderr, "ehealth-sim: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    tsb_log_setup(level, isatty(2));
    tsb_xml_init();
    signal(SIGPIPE, SIG_IGN);

    static struct sim_service s;
    memset(&s, 0, sizeof(s));
    s.max_request = (size_t)max_request;
    s.response_ttl_s = (int)ttl;
    s.idhospital_error = idhospital_error;
    pthread_mutex_init(&s.mu, NULL);
    sim_faults_init(&s.faults);

    char *ca_path = ca ? tsb_strdup(ca) : join(pki, "hospital-ca.pem");
    char *map_path = map ? tsb_strdup(map) : join(pki, "id-hospital.map");
    char *db_path = db ? tsb_strdup(db) : join(pki, "../ehealth-sim.db");
    char *cert_path = join(pki, "tls-server.pem"), *key_path = join(pki, "tls-server.key");
    if (sim_trust_load(&s.trust, ca_path, map_path, (int)skew) != 0)
        tsb_fatal("%s", tsb_err_detail());
    for (size_t i = 0; i < n_allows; i++) {
        char line[1100];
        snprintf(line, sizeof(line), "%s", allows[i]);
        char *eq = strchr(line, '=');
        if (eq)
            *eq = ' ';
        if (eq == NULL || sim_trust_add_map_line(&s.trust, line) != 0)
            tsb_fatal("--allow \"%s\": expected FINGERPRINT=ID[,ID...]", allows[i]);
    }
    if (sim_tsa_load(&s.tsa, pki, "tsa", "tsa-ca.pem", policy) != 0)
        tsb_fatal("%s", tsb_err_detail());
    if (sim_tsa2_load(&s.tsa2, pki) != 0)
        tsb_warn("no second TSA at /rfc3161: %s (tools/dev-pki --force %s adds it)",
                 tsb_err_detail(), pki);
    if (sim_archive_open(db_path, &s.archive) != 0)
        tsb_fatal("%s", tsb_err_detail());
    for (size_t i = 0; i < n_faults; i++)
        if (sim_faults_apply(&s.faults, s.archive, faults[i]) != 0)
            tsb_fatal("--fault: %s", tsb_err_detail());
    char *tls_cert = read_text(cert_path), *tls_key = read_text(key_path);
    if (tls_cert == NULL || tls_key == NULL)
        tsb_fatal("cannot read %s and %s (run tools/dev-pki %s)", cert_path, key_path, pki);

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS |
                     MHD_USE_POLL;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    bool v6 = strchr(listen_addr, ':') != NULL;
    if (v6) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, listen_addr, &sin6->sin6_addr) != 1)
            tsb_fatal("--listen: \"%s\" is not an IPv6 address", listen_addr);
        flags |= MHD_USE_IPv6;
    } else {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, listen_addr, &sin->sin_addr) != 1)
            tsb_fatal("--listen: \"%s\" is not an IPv4 address", listen_addr);
    }

    /* the connection threads inherit this mask; only the main thread takes the signals */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    struct MHD_Daemon *d =
        MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, &s,
                         MHD_OPTION_HTTPS_MEM_KEY, tls_key, MHD_OPTION_HTTPS_MEM_CERT, tls_cert,
                         MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
                         MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (d == NULL)
        tsb_fatal("cannot listen on %s port %ld (in use? TLS files readable?)", listen_addr, port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : (unsigned)port;
    printf("ehealth-sim listening on https://%s%s%s:%u\n", v6 ? "[" : "", listen_addr,
           v6 ? "]" : "", bound);
    fflush(stdout);
    if (port_file) {
        size_t n = strlen(port_file) + 8;
        char *tmp = tsb_malloc(n);
        snprintf(tmp, n, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%u\n", bound) < 0 || fclose(f) != 0 ||
            rename(tmp, port_file) != 0)
            tsb_fatal("cannot write the port file %s", port_file);
        free(tmp);
    }
    tsb_info("ehealth-sim %s: pki %s, archive %s, %zu certificate mappings, skew %ld s",
             TSB_VERSION, pki, db_path, s.trust.n_map, skew);

    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && sig == SIGUSR1)
        reload_faults(&s, fault_file);
    tsb_info("signal %d: stopping", sig);
    atomic_store(&stopping, true);
    MHD_stop_daemon(d);
    sim_archive_close(s.archive);
    sim_tsa_cleanup(&s.tsa);
    sim_tsa2_cleanup(&s.tsa2);
    sim_trust_cleanup(&s.trust);
    sim_faults_cleanup(&s.faults);
    pthread_mutex_destroy(&s.mu);
    OPENSSL_cleanse(tls_key, strlen(tls_key));
    free(tls_key);
    free(tls_cert);
    free(ca_path);
    free(map_path);
    free(db_path);
    free(cert_path);
    free(key_path);
    return 0;
}
