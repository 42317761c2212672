/*
 * config: a table of options (section, key, type, field offset, default, doc). Defaults are
 * applied by parsing the default strings through the same setters as the file, so the documented
 * default is by construction the real one. inih reports line numbers; the handler turns the first
 * bad line into a precise error.
 */
#include "config.h"

#include "err.h"
#include "frame.h"
#include "mem.h"

#include <ini.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_type {
    T_STR,
    T_BOOL,
    T_INT,
    T_MODE,
    T_LOGLEVEL,
    T_HASHENC,
    T_BAGNS,
    T_CARRIER,
    T_ENV,
    T_IDHOSP,
    T_KEYPERMS
};

struct opt {
    const char *section;
    const char *key;
    enum opt_type type;
    size_t off;
    int64_t min, max; /* T_INT only */
    const char *def;
    const char *doc;
};

#define F(field) offsetof(struct tsb_config, field)

/* Service roots per general.environment (the eHealth ones as published in the reference client's
 * service lists). */
#define SIM_BASE  "https://localhost:8443"
#define ACPT_BASE "https://services-acpt.ehealth.fgov.be"
#define PROD_BASE "https://services.ehealth.fgov.be"

static const char *const env_names[] = {"simulator", "acceptance", "production"};
static const char *const env_bases[] = {SIM_BASE, ACPT_BASE, PROD_BASE};

/* clang-format off */
static const struct opt opts[] = {
    {"general", "state_dir", T_STR, F(general.state_dir), 0, 0, "state",
     "Folder for the archive, the socket and other state; relative paths are relative to the working directory."},
    {"general", "log_level", T_LOGLEVEL, F(general.log_level), 0, 0, "info",
     "Minimum log level: error, warn, info or debug."},
    {"general", "environment", T_ENV, F(general.environment), 0, 0, "simulator",
     "eHealth platform: simulator (the local ehealth-sim), acceptance or production. Sets the default tsa.url and consult.url; outside simulator tsbagd and tsbag reconcile refuse to start without an explicit general.id_hospital."},
    {"general", "id_hospital", T_IDHOSP, F(general.id_hospital), 0, 0, "",
     "IDHospital assigned by eHealth: tsa_<KBO>_<NN> (the 10-digit enterprise number and a 2-digit instance). Empty means the simulator's demo hospital tsa_0406798006_01, which is refused outside general.environment=simulator."},

    {"store", "path", T_STR, F(store.path), 0, 0, "",
     "SQLite archive file; empty means <state_dir>/archive.db."},
    {"store", "store_content", T_BOOL, F(store.store_content), 0, 0, "false",
     "Also archive the submitted entry bytes (off: only the hash leaves the clinical system's care)."},
    {"store", "busy_timeout_ms", T_INT, F(store.busy_timeout_ms), 0, 600000, "5000",
     "How long a connection waits for a lock held by another process before failing."},

    {"ingest", "unix_socket", T_STR, F(ingest.unix_socket), 0, 0, "",
     "Unix socket path for clinical systems; empty means <state_dir>/tsbagd.sock."},
    {"ingest", "unix_mode", T_MODE, F(ingest.unix_mode), 0, 0777, "0660",
     "Permissions of the Unix socket (octal)."},
    {"ingest", "tcp_listen", T_STR, F(ingest.tcp_listen), 0, 0, "",
     "host:port to accept TCP connections on; empty disables TCP."},
    {"ingest", "tls", T_BOOL, F(ingest.tls), 0, 0, "true",
     "Require TLS with a client certificate on the TCP listener."},
    {"ingest", "tls_cert", T_STR, F(ingest.tls_cert), 0, 0, "",
     "PEM server certificate (chain) for the TCP listener."},
    {"ingest", "tls_key", T_STR, F(ingest.tls_key), 0, 0, "",
     "PEM private key of tls_cert."},
    {"ingest", "tls_client_ca", T_STR, F(ingest.tls_client_ca), 0, 0, "",
     "PEM CA bundle that client certificates must chain to."},
    {"ingest", "tls_allowlist", T_STR, F(ingest.tls_allowlist), 0, 0, "",
     "File mapping client certificate subjects to source system names (one 'subject = source' per line)."},
    {"ingest", "tls_ciphers", T_STR, F(ingest.tls_ciphers), 0, 0,
     "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!PSK:!DSS",
     "TLS 1.2 cipher suites the TCP listener accepts (OpenSSL cipher list); the default is forward-secret AEAD suites only."},
    {"ingest", "tls_ciphersuites", T_STR, F(ingest.tls_ciphersuites), 0, 0, "",
     "TLS 1.3 cipher suites (OpenSSL ciphersuites syntax); empty keeps OpenSSL's defaults, all forward-secret AEAD."},
    {"ingest", "max_frame", T_INT, F(ingest.max_frame), TSB_FRAME_MIN_MAX, TSB_FRAME_MAX_LIMIT, "1048576",
     "Largest accepted frame in bytes; a larger frame is refused and the connection closed."},
    {"ingest", "idle_timeout_ms", T_INT, F(ingest.idle_timeout_ms), 100, 86400000, "60000",
     "After HELLO: a connection with no complete frame for this long while nothing is in flight is closed."},
    {"ingest", "handshake_timeout_ms", T_INT, F(ingest.handshake_timeout_ms), 100, 600000, "5000",
     "A connection that has not completed the TLS handshake and HELLO this long after it was accepted is closed."},
    {"ingest", "max_connections", T_INT, F(ingest.max_connections), 1, 100000, "1024",
     "Connections past HELLO at once, per listener (Unix and TCP each); a further HELLO gets TOO_MANY_CONNS."},
    {"ingest", "max_pending", T_INT, F(ingest.max_pending), 1, 100000, "64",
     "Connections still in the TLS handshake or before HELLO at once, per listener; further ones are closed at accept."},
    {"ingest", "max_connections_per_source", T_INT, F(ingest.max_connections_per_source), 1, 100000, "32",
     "TCP connections from one peer address at once, counted separately before and after HELLO."},
    {"ingest", "max_inflight", T_INT, F(ingest.max_inflight), 1, 65536, "256",
     "Unacknowledged requests per connection; reading stops until replies catch up."},
    {"ingest", "buffer_bytes", T_INT, F(ingest.buffer_bytes), 65536, 4LL * 1024 * 1024 * 1024, "8388608",
     "Bytes all connections together may buffer (unread input, requests waiting for the archive, replies not yet sent); each connection gets an equal share, so a client that does not read its replies cannot take the others' room."},
    {"ingest", "max_client_ref", T_INT, F(ingest.max_client_ref), 0, 4096, "256",
     "Longest client reference in bytes."},
    {"ingest", "max_source_len", T_INT, F(ingest.max_source_len), 1, 256, "64",
     "Longest source system name in bytes."},

    {"writer", "batch_max", T_INT, F(writer.batch_max), 1, 1000000, "4096",
     "Most entries committed in one transaction."},
    {"writer", "batch_delay_ms", T_INT, F(writer.batch_delay_ms), 0, 1000, "0",
     "How long the writer waits for more entries before committing a non-full batch."},
    {"writer", "queue_bytes", T_INT, F(writer.queue_bytes), 65536, 1024 * 1024 * 1024, "8388608",
     "Bytes of entries waiting for the writer (content, format id, client ref and 512 bytes of bookkeeping each); above it ingest stops reading sockets (backpressure) until commits make room."},
    {"writer", "queue_max", T_INT, F(writer.queue_max), 1, 10000000, "65536",
     "Secondary bound: entries waiting for the writer, whatever their size; above it ingest stops reading sockets too."},
    {"writer", "own_cpu", T_BOOL, F(writer.own_cpu), 0, 0, "true",
     "Gives the writer thread a CPU of its own when tsbagd may run on 2 CPUs or more: the last one of its affinity mask, every other thread the others. The event loop and the writer then never wait for each other's CPU; false leaves every thread free to run anywhere."},
    {"writer", "sync_thread", T_BOOL, F(writer.sync_thread), 0, 0, "true",
     "Makes the writer's commits durable with an fsync of the WAL on a thread of its own, while the writer runs the next batch; entries are still acknowledged only after the fsync that covers their commit. false: each commit fsyncs the WAL itself before the writer goes on."},

    {"sealer", "enabled", T_BOOL, F(sealer.enabled), 0, 0, "true",
     "Run the sealer and the TSA sender; false makes an ingest-only tsbagd (entries are acknowledged and stay staged)."},
    {"sealer", "interval_s", T_INT, F(sealer.interval_s), 1, 86400, "300",
     "Seal period in seconds, aligned to wall-clock multiples of it."},
    {"sealer", "max_entries", T_INT, F(sealer.max_entries), 1, 1000000, "100000",
     "Most journal entries in one bag; a larger backlog becomes consecutive bags."},
    {"sealer", "hash_encoding", T_HASHENC, F(sealer.hash_encoding), 0, 0, "hex",
     "Encoding of JournalEntry/Hash: hex (lowercase, 64 chars) or base64 (44 chars)."},
    {"sealer", "bag_namespace", T_BAGNS, F(sealer.bag_namespace), 0, 0, "v2",
     "Bag namespace: v2 (urn:be:fgov:ehealth:timestamping:protocol:v2) or v1 (http://www.behealth.be/webservices/tsa)."},
    {"sealer", "bag_root", T_STR, F(sealer.bag_root), 0, 0, "TimeStampBag",
     "Root element name of a bag: an XML NCName of at most 64 bytes."},
    {"sealer", "unstamped_alarm_s", T_INT, F(sealer.unstamped_alarm_s), 1, 86400 * 30, "900",
     "Warn when the oldest entry without a verified stamp is older than this."},
    {"sealer", "first_sequence", T_INT, F(sealer.first_sequence), 1, 999999999999999999LL, "1",
     "SequenceNumber of the first bag while the archive holds no bag (a hospital moving from another client under the same IDHospital continues its numbering); ignored once a bag exists (tsbagd warns when it is set above the next SequenceNumber). The archive check and tsbag reconcile look for gaps from here."},
    {"sealer", "chain", T_BOOL, F(sealer.chain), 0, 0, "true",
     "Chain the bags: each bag's first JournalEntry is the SHA-256 of the previous bag's exact bytes with Ref 0 (the archive's first bag has none); the archive check and tsbag verify follow the links. A point to confirm at eHealth acceptance."},
    {"sealer", "max_bag_bytes", T_INT, F(sealer.max_bag_bytes), 4096, 64 * 1024 * 1024, "4194304",
     "Largest bag in bytes (the bag XML before base64); a larger backlog becomes consecutive bags."},
    {"sealer", "refuse_after_unstamped_s", T_INT, F(sealer.refuse_after_unstamped_s), 0, 86400 * 30, "0",
     "Fail-closed mode: refuse new entries (NACK STAMP_STALLED) while the oldest entry without a verified stamp is older than this; 0 (default) never refuses. Must exceed interval_s."},

    {"tsa", "url", T_STR, F(tsa.url), 0, 0, "",
     "TimeStampAuthority endpoint; empty means general.environment's: " SIM_BASE "/TimestampAuthority/v2 (simulator), " ACPT_BASE "/TimestampAuthority/v2 (acceptance), " PROD_BASE "/TimestampAuthority/v2 (production)."},
    {"tsa", "ca_file", T_STR, F(tsa.ca_file), 0, 0, "",
     "PEM CA bundle for the HTTPS server certificate; empty means <state_dir>/pki/tls-ca.pem."},
    {"tsa", "keystore", T_STR, F(tsa.keystore), 0, 0, "",
     "Hospital eHealth PKCS#12 keystore; empty means <state_dir>/pki/hospital.p12."},
    {"tsa", "keystore_password_file", T_STR, F(tsa.keystore_password_file), 0, 0, "",
     "File holding the keystore password (first line); empty means <state_dir>/pki/hospital.pass unless keystore_password_env is set."},
    {"tsa", "keystore_password_env", T_STR, F(tsa.keystore_password_env), 0, 0, "",
     "Name of an environment variable holding the keystore password (used instead of the file); tsbagd wipes it from its environment once started."},
    {"tsa", "keystore_permissions", T_KEYPERMS, F(tsa.keystore_permissions), 0, 0, "warn",
     "What tsbagd does at start when the keystore or its password file is accessible by group or others: warn (log it and start) or refuse (exit 1)."},
    {"tsa", "trust_anchors", T_STR, F(tsa.trust_anchors), 0, 0, "",
     "PEM certificates of the TSA roots tokens must chain to; empty means <state_dir>/pki/tsa-ca.pem."},
    {"tsa", "tsa_certs", T_STR, F(tsa.tsa_certs), 0, 0, "",
     "PEM file of untrusted intermediates and TSA signer certificates, for tokens that carry none; never trusted, empty means none."},
    {"tsa", "policy_oids", T_STR, F(tsa.policy_oids), 0, 0, "",
     "Comma-separated TSA policy OIDs a token's TSTInfo.policy must be one of; empty accepts any."},
    {"tsa", "profile", T_STR, F(tsa.profile), 0, 0, "urn:ehealth:profiles:timestamping:2.1-cert",
     "DSS Profile attribute of the SignRequest."},
    {"tsa", "carrier", T_CARRIER, F(tsa.carrier), 0, 0, "base64xml",
     "How the bag travels: base64xml (Document/Base64XML) or base64data (Document/Base64Data)."},
    {"tsa", "soap_action", T_STR, F(tsa.soap_action), 0, 0, "urn:be:fgov:ehealth:timestamping:protocol:v2:stamp",
     "SOAPAction header value (sent quoted); empty sends none."},
    {"tsa", "connect_timeout_ms", T_INT, F(tsa.connect_timeout_ms), 100, 600000, "10000",
     "TCP+TLS connect timeout."},
    {"tsa", "timeout_ms", T_INT, F(tsa.timeout_ms), 100, 3600000, "60000",
     "Whole-request timeout."},
    {"tsa", "retry_min_ms", T_INT, F(tsa.retry_min_ms), 10, 3600000, "1000",
     "First retry delay after a failed send; doubles (with jitter) up to retry_max_ms."},
    {"tsa", "retry_max_ms", T_INT, F(tsa.retry_max_ms), 10, 86400000, "300000",
     "Longest retry delay."},
    {"tsa", "retry_rejected", T_BOOL, F(tsa.retry_rejected), 0, 0, "true",
     "Obsolete and ignored (kept so that older files load): a definitive failure always holds the bag until `tsbag retry`."},
    {"tsa", "wss_ttl_s", T_INT, F(tsa.wss_ttl_s), 1, 3600, "60",
     "Lifetime of the WS-Security Timestamp in requests."},
    {"tsa", "gen_time_skew_s", T_INT, F(tsa.gen_time_skew_s), 0, 86400, "300",
     "Largest accepted difference between a token's genTime and the local clock."},
    {"tsa", "max_response", T_INT, F(tsa.max_response), 4096, 256 * 1024 * 1024, "16777216",
     "Largest accepted TimeStampConsult response body in bytes (tsbag reconcile, tsbag doctor); stamp answers have tsa.max_answer."},
    {"tsa", "max_answer", T_INT, F(tsa.max_answer), 4096, 64 * 1024 * 1024, "1048576",
     "Largest accepted TSA answer to a stamp request (SignResponse or SOAP fault) in bytes: tsbagd's answer buffer. A larger answer is refused (transient failure, retried; nothing archived)."},
    {"tsa", "capture_dir", T_STR, F(tsa.capture_dir), 0, 0, "",
     "Acceptance evidence and tests: when set, each attempt leaves in this folder bag-<seq>-attempt-<n>-<RequestID>.request.xml (the request exactly as sent), .answer.txt (HTTP status, content type, transport outcome and the sender's verdict; answer=none when no answer came) and .answer.xml, .html or .bin (the body as received, at most tsa.max_answer bytes); each file is written to a temporary name and renamed. Holds no secret (docs/acceptance.md)."},

    {"tsa2", "url", T_STR, F(tsa2.url), 0, 0, "",
     "Second, independent RFC 3161 TSA (RFC 3161 section 3.4, HTTP POST of application/timestamp-query): every bag is also stamped there, independently of the eHealth send; http:// or https://; empty (default) turns the second TSA off."},
    {"tsa2", "ca_file", T_STR, F(tsa2.ca_file), 0, 0, "",
     "PEM CA bundle for the second TSA's HTTPS server certificate; empty means tsa.ca_file."},
    {"tsa2", "trust_anchors", T_STR, F(tsa2.trust_anchors), 0, 0, "",
     "PEM certificates of the roots the second TSA's tokens must chain to; required when tsa2.url is set."},
    {"tsa2", "tsa_certs", T_STR, F(tsa2.tsa_certs), 0, 0, "",
     "PEM file of untrusted intermediates and signer certificates of the second TSA, for tokens that carry none; empty means none."},
    {"tsa2", "policy_oids", T_STR, F(tsa2.policy_oids), 0, 0, "",
     "Comma-separated policy OIDs the second TSA's TSTInfo.policy must be one of; empty accepts any."},
    {"tsa2", "credentials_file", T_STR, F(tsa2.credentials_file), 0, 0, "",
     "File whose first line is user:password for HTTP basic authentication at the second TSA; empty sends none. Checked like the keystore password file (tsa.keystore_permissions); refused with an http:// URL."},
    {"tsa2", "connect_timeout_ms", T_INT, F(tsa2.connect_timeout_ms), 100, 600000, "10000",
     "Connect (TCP and TLS) timeout of a second-TSA request."},
    {"tsa2", "timeout_ms", T_INT, F(tsa2.timeout_ms), 100, 3600000, "30000",
     "Whole-request timeout of a second-TSA request."},
    {"tsa2", "retry_min_ms", T_INT, F(tsa2.retry_min_ms), 10, 3600000, "1000",
     "First retry delay after a failed second-TSA request; doubles per failure (with jitter) up to retry_max_ms."},
    {"tsa2", "retry_max_ms", T_INT, F(tsa2.retry_max_ms), 10, 86400000, "300000",
     "Longest retry delay of the second TSA."},
    {"tsa2", "min_interval_ms", T_INT, F(tsa2.min_interval_ms), 0, 3600000, "1000",
     "Shortest time between two second-TSA requests: the rate at which a backlog (bags sealed before tsa2.url was set, or during an outage) is stamped, oldest first."},
    {"tsa2", "alarm_s", T_INT, F(tsa2.alarm_s), 1, 86400 * 30, "3600",
     "Alarm (log line, /healthz degraded) while a bag sealed more than this many seconds ago has no second token."},
    {"tsa2", "max_response", T_INT, F(tsa2.max_response), 4096, 16 * 1024 * 1024, "1048576",
     "Largest accepted second-TSA response in bytes."},

    {"renew", "url", T_STR, F(renew.url), 0, 0, "",
     "RFC 3161 TSA that stamps the RFC 4998 hash trees of tsbag renew (archive timestamps and their renewals); http:// or https://; empty means tsa2.url."},
    {"renew", "ca_file", T_STR, F(renew.ca_file), 0, 0, "",
     "PEM CA bundle for the renewal TSA's HTTPS server certificate; empty means tsa2.ca_file."},
    {"renew", "trust_anchors", T_STR, F(renew.trust_anchors), 0, 0, "",
     "PEM roots the renewal TSA's tokens must chain to (at their genTime); empty means tsa2.trust_anchors."},
    {"renew", "tsa_certs", T_STR, F(renew.tsa_certs), 0, 0, "",
     "PEM file of untrusted intermediates and signer certificates of the renewal TSA; empty means tsa2.tsa_certs."},
    {"renew", "policy_oids", T_STR, F(renew.policy_oids), 0, 0, "",
     "Comma-separated policy OIDs the renewal TSA's TSTInfo.policy must be one of; empty means tsa2.policy_oids (and accepts any when that is empty too)."},
    {"renew", "credentials_file", T_STR, F(renew.credentials_file), 0, 0, "",
     "File whose first line is user:password for HTTP basic authentication at the renewal TSA; empty means tsa2.credentials_file. Refused with an http:// URL."},
    {"renew", "connect_timeout_ms", T_INT, F(renew.connect_timeout_ms), 100, 600000, "10000",
     "Connect (TCP and TLS) timeout of a renewal TSA request."},
    {"renew", "timeout_ms", T_INT, F(renew.timeout_ms), 100, 3600000, "30000",
     "Whole-request timeout of a renewal TSA request."},
    {"renew", "max_response", T_INT, F(renew.max_response), 4096, 16 * 1024 * 1024, "1048576",
     "Largest accepted renewal TSA response in bytes."},
    {"renew", "margin_days", T_INT, F(renew.margin_days), 1, 3650, "180",
     "An ArchiveTimeStamp is renewed (RFC 4998 section 5.2) once its TSA certificate expires within this many days; the TSA's current certificate must outlive the one renewed."},
    {"renew", "max_tree_leaves", T_INT, F(renew.max_tree_leaves), 1, 4194304, "65536",
     "Most bags in one hash tree (one RFC 3161 timestamp each): bounds tsbag renew's memory and what a crash loses."},
    {"renew", "alg", T_STR, F(renew.alg), 0, 0, "sha256",
     "Hash algorithm of the first ArchiveTimeStampChain (sha256, sha384, sha512); tsbag renew --rehash ALG starts a chain with another."},

    {"consult", "url", T_STR, F(consult.url), 0, 0, "",
     "TimeStampConsult endpoint; empty means general.environment's: " SIM_BASE "/TimestampConsult/v2 (simulator), " ACPT_BASE "/TimestampConsult/v2 (acceptance), " PROD_BASE "/TimestampConsult/v2 (production)."},
    {"consult", "timezone", T_STR, F(consult.timezone), 0, 0, "Europe/Brussels",
     "Time zone whose midnights bound a reconciliation day."},

    {"metrics", "listen", T_STR, F(metrics.listen), 0, 0, "127.0.0.1:9180",
     "host:port of the HTTP endpoint serving /metrics (Prometheus text format) and /healthz; empty disables it; port 0 picks a free port, written to <state_dir>/tsbagd.metrics.port. A port in use stops tsbagd at start (exit 1)."},
};
/* clang-format on */

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const struct opt *find(const char *section, const char *key)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].section, section) == 0 && strcmp(opts[i].key, key) == 0)
            return &opts[i];
    return NULL;
}

static bool section_known(const char *section)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].section, section) == 0)
            return true;
    return false;
}

static int parse_int(const char *v, int base, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, base);
    if (errno != 0 || end == v || *end != '\0')
        return TSB_ECONFIG;
    *out = n;
    return 0;
}

const char *tsb_environment_name(enum tsb_environment env)
{
    return (unsigned)env < sizeof(env_names) / sizeof(env_names[0]) ? env_names[env] : "?";
}

static bool all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

bool tsb_config_id_hospital_valid(const char *id)
{
    /* tsa_ + KBO/BCE enterprise number (10 digits) + _ + instance (2 digits) */
    return id != NULL && strlen(id) == 17 && strncmp(id, "tsa_", 4) == 0 &&
           all_digits(id + 4, 10) && id[14] == '_' && all_digits(id + 15, 2);
}

static int set_opt(struct tsb_config *cfg, const struct opt *o, const char *v)
{
    void *field = (char *)cfg + o->off;
    int64_t n;

    switch (o->type) {
    case T_IDHOSP:
        if (v[0] != '\0' && !tsb_config_id_hospital_valid(v))
            return tsb_err(TSB_ECONFIG,
                           "expected tsa_<KBO>_<NN> (tsa_, the 10-digit enterprise number, _, a "
                           "2-digit instance, like " TSB_DEMO_ID_HOSPITAL "), got '%s'",
                           v);
        __attribute__((fallthrough)); /* kept as a string */
    case T_STR: {
        char **s = field;
        free(*s);
        *s = tsb_strdup(v);
        return 0;
    }
    case T_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
            *(bool *)field = true;
        else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
            *(bool *)field = false;
        else
            return tsb_err(TSB_ECONFIG, "expected true or false, got '%s'", v);
        return 0;
    case T_INT:
        if (parse_int(v, 10, &n) != 0)
            return tsb_err(TSB_ECONFIG, "expected an integer, got '%s'", v);
        if (n < o->min || n > o->max)
            return tsb_err(TSB_ECONFIG, "%" PRId64 " is outside [%" PRId64 ", %" PRId64 "]", n,
                           o->min, o->max);
        *(int64_t *)field = n;
        return 0;
    case T_MODE:
        if (parse_int(v, 8, &n) != 0 || n < 0 || n > 0777)
            return tsb_err(TSB_ECONFIG, "expected an octal mode like 0660, got '%s'", v);
        *(int64_t *)field = n;
        return 0;
    case T_LOGLEVEL:
        if (tsb_log_level_parse(v, field) != 0)
            return tsb_err(TSB_ECONFIG, "expected error, warn, info or debug, got '%s'", v);
        return 0;
    case T_HASHENC:
        if (tsb_hash_enc_parse(v, field) != 0)
            return tsb_err(TSB_ECONFIG, "expected hex or base64, got '%s'", v);
        return 0;
    case T_BAGNS:
        if (strcmp(v, "v2") == 0)
            *(enum tsb_bag_ns *)field = TSB_BAG_NS_V2;
        else if (strcmp(v, "v1") == 0)
            *(enum tsb_bag_ns *)field = TSB_BAG_NS_V1;
        else
            return tsb_err(TSB_ECONFIG, "expected v2 or v1, got '%s'", v);
        return 0;
    case T_ENV:
        for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
            if (strcmp(v, env_names[i]) == 0) {
                *(enum tsb_environment *)field = (enum tsb_environment)i;
                return 0;
            }
        return tsb_err(TSB_ECONFIG, "expected simulator, acceptance or production, got '%s'", v);
    case T_CARRIER:
        if (strcmp(v, "base64xml") == 0)
            *(enum tsb_carrier *)field = TSB_CARRIER_BASE64XML;
        else if (strcmp(v, "base64data") == 0)
            *(enum tsb_carrier *)field = TSB_CARRIER_BASE64DATA;
        else
            return tsb_err(TSB_ECONFIG, "expected base64xml or base64data, got '%s'", v);
        return 0;
    case T_KEYPERMS:
        if (strcmp(v, "warn") == 0)
            *(enum tsb_key_perms *)field = TSB_KEY_PERMS_WARN;
        else if (strcmp(v, "refuse") == 0)
            *(enum tsb_key_perms *)field = TSB_KEY_PERMS_REFUSE;
        else
            return tsb_err(TSB_ECONFIG, "expected warn or refuse, got '%s'", v);
        return 0;
    }
    return tsb_err(TSB_EINTERNAL, "bad option type");
}

void tsb_config_defaults(struct tsb_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NOPTS; i++)
        if (set_opt(cfg, &opts[i], opts[i].def) != 0)
            tsb_fatal("config: default of %s.%s does not parse: %s", opts[i].section, opts[i].key,
                      tsb_err_detail());
}

int tsb_config_set(struct tsb_config *cfg, const char *section, const char *key, const char *value)
{
    const struct opt *o = find(section, key);
    if (o == NULL) {
        if (!section_known(section))
            return tsb_err(TSB_ECONFIG, "unknown section [%s]", section);
        return tsb_err(TSB_ECONFIG, "unknown key '%s' in section [%s]", key, section);
    }
    int r = set_opt(cfg, o, value);
    if (r != 0)
        return tsb_err(r, "%s.%s: %s", section, key, tsb_err_detail());
    return 0;
}

struct load_ctx {
    struct tsb_config *cfg;
    FILE *f;
    int lineno; /* the line inih is looking at: Debian's inih does not pass line numbers */
    bool too_long;
    int r;
    char why[400];
};

/* inih's line reader: counts lines and refuses one that does not fit instead of splitting it. */
static char *read_line(char *str, int num, void *stream)
{
    struct load_ctx *c = stream;
    if (fgets(str, num, c->f) == NULL)
        return NULL;
    c->lineno++;
    size_t n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && !feof(c->f)) {
        c->too_long = true;
        return NULL;
    }
    return str;
}

static int on_value(void *user, const char *section, const char *key, const char *value)
{
    struct load_ctx *c = user;
    if (c->r != 0)
        return 0;
    if (key == NULL) /* a section header on its own */
        return 1;
    c->r = tsb_config_set(c->cfg, section, key, value);
    if (c->r != 0) {
        snprintf(c->why, sizeof(c->why), "%s", tsb_err_detail());
        return 0;
    }
    return 1;
}

int tsb_config_load_file(struct tsb_config *cfg, const char *path)
{
    struct load_ctx c = {.cfg = cfg};
    c.f = fopen(path, "r");
    if (c.f == NULL)
        return tsb_err(TSB_ECONFIG, "%s: cannot open: %s", path, strerror(errno));
    int line = ini_parse_stream(read_line, &c, on_value, &c);
    fclose(c.f);
    if (c.too_long)
        return tsb_err(TSB_ECONFIG, "%s:%d: line too long", path, c.lineno);
    if (c.r != 0)
        return tsb_err(TSB_ECONFIG, "%s:%d: %s", path, c.lineno, c.why);
    if (line != 0)
        return tsb_err(TSB_ECONFIG, "%s:%d: syntax error (expected [section] or key = value)", path,
                       line);
    return 0;
}

int tsb_config_set_override(struct tsb_config *cfg, const char *assignment)
{
    const char *dot = strchr(assignment, '.');
    const char *eq = strchr(assignment, '=');
    if (dot == NULL || eq == NULL || dot > eq || dot == assignment || eq == dot + 1)
        return tsb_err(TSB_ECONFIG, "override '%s' is not section.key=value", assignment);
    char section[64], key[64];
    size_t sl = (size_t)(dot - assignment), kl = (size_t)(eq - dot - 1);
    if (sl >= sizeof(section) || kl >= sizeof(key))
        return tsb_err(TSB_ECONFIG, "override '%s': name too long", assignment);
    memcpy(section, assignment, sl);
    section[sl] = '\0';
    memcpy(key, dot + 1, kl);
    key[kl] = '\0';
    int r = tsb_config_set(cfg, section, key, eq + 1);
    if (r != 0)
        return tsb_err(r, "command line: %s", tsb_err_detail());
    return 0;
}

/* An empty path becomes base/name. */
static void derive(char **field, const char *base, const char *name)
{
    if (**field != '\0')
        return;
    size_t n = strlen(base) + strlen(name) + 2;
    char *p = tsb_malloc(n);
    snprintf(p, n, "%s/%s", base, name);
    free(*field);
    *field = p;
}

/* [tsa2]: off unless url is set; then it needs its own trust anchors (trusting eHealth's TSA
 * roots for the second TSA would defeat its independence). */
static int finish_tsa2(struct tsb_config *cfg)
{
    const char *url = cfg->tsa2.url;
    if (url[0] == '\0')
        return 0;
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return tsb_err(TSB_ECONFIG, "tsa2.url %s: must start with http:// or https://", url);
    if (cfg->tsa2.trust_anchors[0] == '\0')
        return tsb_err(TSB_ECONFIG, "tsa2.url is set but tsa2.trust_anchors is empty: name the "
                                    "PEM roots of the second TSA");
    if (cfg->tsa2.credentials_file[0] != '\0' && strncmp(url, "http://", 7) == 0)
        return tsb_err(TSB_ECONFIG, "tsa2.credentials_file with an http:// tsa2.url would send "
                                    "the password in clear: use https://");
    if (cfg->tsa2.retry_min_ms > cfg->tsa2.retry_max_ms)
        return tsb_err(TSB_ECONFIG,
                       "tsa2.retry_min_ms (%" PRId64 ") exceeds tsa2.retry_max_ms (%" PRId64 ")",
                       cfg->tsa2.retry_min_ms, cfg->tsa2.retry_max_ms);
    if (cfg->tsa2.ca_file[0] == '\0') {
        free(cfg->tsa2.ca_file);
        cfg->tsa2.ca_file = tsb_strdup(cfg->tsa.ca_file);
    }
    return 0;
}

/* [renew]: each empty string takes the [tsa2] value (after finish_tsa2); the algorithm must be
 * one of the three. A missing TSA is not an error here: tsbag renew says so when it runs. */
static int finish_renew(struct tsb_config *cfg)
{
    struct {
        char **field;
        const char *from;
    } inherit[] = {
        {&cfg->renew.url, cfg->tsa2.url},
        {&cfg->renew.ca_file, cfg->tsa2.ca_file},
        {&cfg->renew.trust_anchors, cfg->tsa2.trust_anchors},
        {&cfg->renew.tsa_certs, cfg->tsa2.tsa_certs},
        {&cfg->renew.policy_oids, cfg->tsa2.policy_oids},
        {&cfg->renew.credentials_file, cfg->tsa2.credentials_file},
    };
    for (size_t i = 0; i < sizeof(inherit) / sizeof(inherit[0]); i++)
        if ((*inherit[i].field)[0] == '\0') {
            free(*inherit[i].field);
            *inherit[i].field = tsb_strdup(inherit[i].from);
        }
    if (cfg->renew.ca_file[0] == '\0') {
        free(cfg->renew.ca_file);
        cfg->renew.ca_file = tsb_strdup(cfg->tsa.ca_file);
    }
    const char *url = cfg->renew.url;
    if (url[0] != '\0' && strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return tsb_err(TSB_ECONFIG, "renew.url %s: must start with http:// or https://", url);
    if (cfg->renew.credentials_file[0] != '\0' && strncmp(url, "http://", 7) == 0)
        return tsb_err(TSB_ECONFIG, "renew.credentials_file with an http:// renew.url would send "
                                    "the password in clear: use https://");
    const char *alg = cfg->renew.alg;
    if (strcmp(alg, "sha256") != 0 && strcmp(alg, "sha384") != 0 && strcmp(alg, "sha512") != 0)
        return tsb_err(TSB_ECONFIG, "renew.alg \"%s\": use sha256, sha384 or sha512", alg);
    return 0;
}

int tsb_config_finish(struct tsb_config *cfg)
{
    if (cfg->general.state_dir[0] == '\0')
        return tsb_err(TSB_ECONFIG, "general.state_dir must not be empty");
    const char *sd = cfg->general.state_dir;
    derive(&cfg->store.path, sd, "archive.db");
    derive(&cfg->ingest.unix_socket, sd, "tsbagd.sock");
    derive(&cfg->tsa.ca_file, sd, "pki/tls-ca.pem");
    derive(&cfg->tsa.keystore, sd, "pki/hospital.p12");
    derive(&cfg->tsa.trust_anchors, sd, "pki/tsa-ca.pem");
    if (cfg->tsa.keystore_password_env[0] == '\0')
        derive(&cfg->tsa.keystore_password_file, sd, "pki/hospital.pass");
    derive(&cfg->tsa.url, env_bases[cfg->general.environment], "TimestampAuthority/v2");
    derive(&cfg->consult.url, env_bases[cfg->general.environment], "TimestampConsult/v2");
    int r = finish_tsa2(cfg);
    if (r == 0)
        r = finish_renew(cfg);
    if (r != 0)
        return r;
    if (cfg->general.environment == TSB_ENV_SIMULATOR && cfg->general.id_hospital[0] == '\0') {
        free(cfg->general.id_hospital);
        cfg->general.id_hospital = tsb_strdup(TSB_DEMO_ID_HOSPITAL);
    }
    if (cfg->tsa.retry_min_ms > cfg->tsa.retry_max_ms)
        return tsb_err(TSB_ECONFIG,
                       "tsa.retry_min_ms (%" PRId64 ") exceeds tsa.retry_max_ms (%" PRId64 ")",
                       cfg->tsa.retry_min_ms, cfg->tsa.retry_max_ms);
    if (cfg->sealer.refuse_after_unstamped_s != 0 &&
        cfg->sealer.refuse_after_unstamped_s <= cfg->sealer.interval_s)
        return tsb_err(TSB_ECONFIG,
                       "sealer.refuse_after_unstamped_s (%" PRId64 ") must be 0 or exceed "
                       "sealer.interval_s (%" PRId64 "): entries wait that long for their seal",
                       cfg->sealer.refuse_after_unstamped_s, cfg->sealer.interval_s);
    if (tsb_bag_check_root(cfg->sealer.bag_root) != 0) {
        char why[160];
        snprintf(why, sizeof(why), "%s", tsb_err_detail());
        return tsb_err(TSB_ECONFIG, "sealer.bag_root: %s", why);
    }
    if (cfg->ingest.tcp_listen[0] != '\0' && cfg->ingest.tls &&
        (cfg->ingest.tls_cert[0] == '\0' || cfg->ingest.tls_key[0] == '\0' ||
         cfg->ingest.tls_client_ca[0] == '\0'))
        return tsb_err(TSB_ECONFIG, "ingest.tcp_listen with ingest.tls=true needs ingest.tls_cert, "
                                    "ingest.tls_key and ingest.tls_client_ca");
    return 0;
}

int tsb_config_check_endpoint(const struct tsb_config *cfg)
{
    const char *env = tsb_environment_name(cfg->general.environment);
    if (cfg->general.environment == TSB_ENV_SIMULATOR)
        return 0;
    if (cfg->general.id_hospital[0] == '\0')
        return tsb_err(TSB_ECONFIG,
                       "general.environment=%s needs general.id_hospital: set it to the IDHospital "
                       "eHealth assigned to this installation (tsa_<KBO>_<NN>)",
                       env);
    if (strcmp(cfg->general.id_hospital, TSB_DEMO_ID_HOSPITAL) == 0)
        return tsb_err(TSB_ECONFIG,
                       "general.id_hospital=%s is the simulator's demo hospital and must not reach "
                       "eHealth %s: set the IDHospital eHealth assigned to this installation",
                       TSB_DEMO_ID_HOSPITAL, env);
    return 0;
}

static void dump_value(const struct tsb_config *cfg, const struct opt *o, FILE *f)
{
    const void *field = (const char *)cfg + o->off;
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    switch (o->type) {
    case T_STR:
    case T_IDHOSP:
        fprintf(f, "%s", *(char *const *)field);
        break;
    case T_ENV:
        fprintf(f, "%s", tsb_environment_name(*(const enum tsb_environment *)field));
        break;
    case T_BOOL:
        fprintf(f, "%s", *(const bool *)field ? "true" : "false");
        break;
    case T_INT:
        fprintf(f, "%" PRId64, *(const int64_t *)field);
        break;
    case T_MODE:
        fprintf(f, "0%03" PRIo64, *(const int64_t *)field);
        break;
    case T_LOGLEVEL:
        fprintf(f, "%s", levels[*(const enum tsb_log_level *)field]);
        break;
    case T_HASHENC:
        fprintf(f, "%s", *(const enum tsb_hash_enc *)field == TSB_HASH_HEX ? "hex" : "base64");
        break;
    case T_BAGNS:
        fprintf(f, "%s", *(const enum tsb_bag_ns *)field == TSB_BAG_NS_V2 ? "v2" : "v1");
        break;
    case T_CARRIER:
        fprintf(f, "%s",
                *(const enum tsb_carrier *)field == TSB_CARRIER_BASE64XML ? "base64xml"
                                                                          : "base64data");
        break;
    case T_KEYPERMS:
        fprintf(f, "%s",
                *(const enum tsb_key_perms *)field == TSB_KEY_PERMS_WARN ? "warn" : "refuse");
        break;
    }
}

void tsb_config_dump(const struct tsb_config *cfg, FILE *f)
{
    const char *section = "";
    for (size_t i = 0; i < NOPTS; i++) {
        if (strcmp(section, opts[i].section) != 0) {
            section = opts[i].section;
            fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
        }
        fprintf(f, "%s = ", opts[i].key);
        dump_value(cfg, &opts[i], f);
        fputc('\n', f);
    }
}

void tsb_config_cleanup(struct tsb_config *cfg)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type == T_STR || opts[i].type == T_IDHOSP) {
            char **s = (char **)((char *)cfg + opts[i].off);
            free(*s);
            *s = NULL;
        }
}

bool tsb_config_option_at(size_t i, struct tsb_config_option_info *out)
{
    if (i >= NOPTS)
        return false;
    out->section = opts[i].section;
    out->key = opts[i].key;
    out->default_value = opts[i].def;
    out->doc = opts[i].doc;
    return true;
}

static size_t opt_size(enum opt_type t)
{
    switch (t) {
    case T_STR:
    case T_IDHOSP:
        return sizeof(char *);
    case T_BOOL:
        return sizeof(bool);
    case T_INT:
    case T_MODE:
        return sizeof(int64_t);
    case T_LOGLEVEL:
        return sizeof(enum tsb_log_level);
    case T_HASHENC:
        return sizeof(enum tsb_hash_enc);
    case T_BAGNS:
        return sizeof(enum tsb_bag_ns);
    case T_CARRIER:
        return sizeof(enum tsb_carrier);
    case T_ENV:
        return sizeof(enum tsb_environment);
    case T_KEYPERMS:
        return sizeof(enum tsb_key_perms);
    }
    return 0;
}

bool tsb_config_option_equal(const struct tsb_config *a, const struct tsb_config *b, size_t i)
{
    if (i >= NOPTS)
        return true;
    const void *fa = (const char *)a + opts[i].off, *fb = (const char *)b + opts[i].off;
    if (opts[i].type == T_STR || opts[i].type == T_IDHOSP)
        return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
    return memcmp(fa, fb, opt_size(opts[i].type)) == 0;
}

void tsb_config_option_take(struct tsb_config *dst, struct tsb_config *src, size_t i)
{
    if (i >= NOPTS)
        return;
    void *fd = (char *)dst + opts[i].off, *fs = (char *)src + opts[i].off;
    if (opts[i].type == T_STR || opts[i].type == T_IDHOSP) {
        char **d = fd, **s = fs;
        free(*d);
        *d = *s;
        *s = tsb_strdup("");
        return;
    }
    memcpy(fd, fs, opt_size(opts[i].type));
}
