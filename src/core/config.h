/*
 * config: tsbag's INI configuration (inih). Every option has a documented default in the option
 * table in config.c; docs/configuration.md lists the same table (a unit test checks they agree).
 * Loading applies the defaults, then the file, then command-line overrides ("section.key=value").
 * An unknown section or key, or a bad value, is an error naming the file, line and key.
 *
 * Paths left empty are derived from general.state_dir by tsb_config_finish().
 */
#ifndef TSB_CONFIG_H
#define TSB_CONFIG_H

#include "bag.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

/* tsa.keystore_permissions: a keystore or password file open to group or others */
enum tsb_key_perms { TSB_KEY_PERMS_WARN, TSB_KEY_PERMS_REFUSE };

/* Which eHealth platform tsbag talks to: sets the default TSA and TSConsult URLs and whether the
 * demo IDHospital may be used. */
enum tsb_environment { TSB_ENV_SIMULATOR, TSB_ENV_ACCEPTANCE, TSB_ENV_PRODUCTION };

#define TSB_DEMO_ID_HOSPITAL "tsa_0406798006_01" /* the simulator's demo hospital */

struct tsb_config {
    struct {
        char *state_dir;
        enum tsb_log_level log_level;
        char *id_hospital; /* "" until tsb_config_finish (simulator: the demo hospital) */
        enum tsb_environment environment;
    } general;
    struct {
        char *path;
        bool store_content;
        int64_t busy_timeout_ms;
    } store;
    struct {
        char *unix_socket;
        int64_t unix_mode;
        char *tcp_listen; /* "host:port", empty = off */
        bool tls;
        char *tls_cert;
        char *tls_key;
        char *tls_client_ca;
        char *tls_allowlist;
        char *tls_ciphers;      /* TLS 1.2 cipher list (OpenSSL syntax) */
        char *tls_ciphersuites; /* TLS 1.3 suites; empty = OpenSSL's defaults */
        int64_t max_frame;
        int64_t idle_timeout_ms;
        int64_t handshake_timeout_ms;
        int64_t max_connections;
        int64_t max_pending;
        int64_t max_connections_per_source;
        int64_t max_inflight;
        int64_t buffer_bytes; /* ingest's byte budget across connections */
        int64_t max_client_ref;
        int64_t max_source_len;
    } ingest;
    struct {
        int64_t batch_max;
        int64_t batch_delay_ms;
        int64_t queue_bytes;
        int64_t queue_max;
        bool own_cpu;
        bool sync_thread;
    } writer;
    struct {
        bool enabled;
        int64_t interval_s;
        int64_t max_entries;
        enum tsb_hash_enc hash_encoding;
        enum tsb_bag_ns bag_namespace;
        char *bag_root;
        int64_t unstamped_alarm_s;
        int64_t first_sequence; /* SequenceNumber of the first bag of an empty archive */
        bool chain;             /* each bag links to the previous bag (JournalEntry Ref 0) */
        int64_t max_bag_bytes;
        int64_t refuse_after_unstamped_s; /* 0: off */
    } sealer;
    struct {
        char *url;
        char *ca_file;
        char *keystore;
        char *keystore_password_file;
        char *keystore_password_env;
        enum tsb_key_perms keystore_permissions;
        char *trust_anchors;
        char *tsa_certs;   /* "" = none */
        char *policy_oids; /* comma-separated, "" = any */
        char *profile;
        enum tsb_carrier carrier;
        char *soap_action;
        int64_t connect_timeout_ms;
        int64_t timeout_ms;
        int64_t retry_min_ms;
        int64_t retry_max_ms;
        bool retry_rejected; /* obsolete, ignored */
        int64_t wss_ttl_s;
        int64_t gen_time_skew_s;
        int64_t max_response;
        int64_t max_answer;
        char *capture_dir;
    } tsa;
    struct {
        char *url; /* "" = off */
        char *ca_file;
        char *trust_anchors;
        char *tsa_certs;
        char *policy_oids;
        char *credentials_file; /* "user:password" on its first line, "" = none */
        int64_t connect_timeout_ms;
        int64_t timeout_ms;
        int64_t retry_min_ms;
        int64_t retry_max_ms;
        int64_t min_interval_ms; /* between two requests: bounds the backlog's rate */
        int64_t alarm_s;
        int64_t max_response;
    } tsa2;
    struct {
        /* the RFC 3161 TSA of tsbag renew; each "" string is the [tsa2] value once finished */
        char *url;
        char *ca_file;
        char *trust_anchors;
        char *tsa_certs;
        char *policy_oids;
        char *credentials_file;
        int64_t connect_timeout_ms;
        int64_t timeout_ms;
        int64_t max_response;
        int64_t margin_days;     /* renew an ArchiveTimeStamp this long before its notAfter */
        int64_t max_tree_leaves; /* bags per hash tree: bounded memory and loss on a crash */
        char *alg;               /* hash algorithm of the first chain: sha256, sha384, sha512 */
    } renew;
    struct {
        char *url;
        char *timezone;
    } consult;
    struct {
        char *listen; /* "host:port", empty = off */
    } metrics;
};

/* Fills cfg with every default. Free with tsb_config_cleanup. */
void tsb_config_defaults(struct tsb_config *cfg);
/* Reads path into cfg (defaults must already be set). TSB_ECONFIG with "file:line: key: why". */
int tsb_config_load_file(struct tsb_config *cfg, const char *path);
/* Applies one "section.key=value" override (from the command line). */
int tsb_config_set_override(struct tsb_config *cfg, const char *assignment);
/* Sets one option by section and key (shared by file and override parsing). */
int tsb_config_set(struct tsb_config *cfg, const char *section, const char *key, const char *value);
/* Derives empty paths from general.state_dir and checks cross-option rules. */
int tsb_config_finish(struct tsb_config *cfg);
/* For programs that talk to eHealth (tsbagd, tsbag reconcile), after tsb_config_finish: outside
 * general.environment=simulator, general.id_hospital must be set explicitly and must not be the
 * demo hospital. TSB_ECONFIG naming the option otherwise. */
int tsb_config_check_endpoint(const struct tsb_config *cfg);
/* Whether id is of the form tsa_<KBO: 10 digits>_<NN: 2 digits>. */
bool tsb_config_id_hospital_valid(const char *id);
/* "simulator", "acceptance" or "production". */
const char *tsb_environment_name(enum tsb_environment env);
/* Writes the effective configuration as an INI file (secrets never appear: only file/env names). */
void tsb_config_dump(const struct tsb_config *cfg, FILE *f);
void tsb_config_cleanup(struct tsb_config *cfg);

/* Iterates the option table (for documentation and tests): returns false past the end. */
struct tsb_config_option_info {
    const char *section;
    const char *key;
    const char *default_value;
    const char *doc;
};
bool tsb_config_option_at(size_t i, struct tsb_config_option_info *out);
/* Whether option i (the order of tsb_config_option_at) has the same value in a and b. */
bool tsb_config_option_equal(const struct tsb_config *a, const struct tsb_config *b, size_t i);
/* Moves option i's value from src into dst (a string's ownership moves; src keeps an empty
 * string). For a reload: dst is the running configuration, src the one just read. */
void tsb_config_option_take(struct tsb_config *dst, struct tsb_config *src, size_t i);

#endif
