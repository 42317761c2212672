/*
 * sim: shared declarations of the eHealth simulator (TimeStampAuthority v2 + TimeStampConsult v2).
 * The simulator is a separate program; its modules are a static library (tsbsim) so that the
 * request parser can be driven by a fuzz target without a server:
 *   soap.c    envelope and payload parsing, response building (pure, no I/O)
 *   wss.c     WS-Security verification (xmlsec1, X.509 chain, IDHospital map)
 *   tsa.c     RFC 3161 token issuance (OpenSSL TS_RESP_CTX)
 *   archive.c the simulator's own SQLite archive (serials, bags, stamps)
 *   fault.c   fault injection knobs
 *   service.c request handling: security, stamp, consult
 */
#ifndef TSB_SIM_H
#define TSB_SIM_H

#include "hash.h"
#include "mem.h"

#include <libxml/tree.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define SIM_NS_WSSE                                                                                \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define SIM_NS_WSU                                                                                 \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
#define SIM_NS_DS      "http://www.w3.org/2000/09/xmldsig#"
#define SIM_NS_DSS     "urn:oasis:names:tc:dss:1.0:core:schema"
#define SIM_NS_TS      "urn:be:fgov:ehealth:timestamping:protocol:v2"
#define SIM_PROFILE_21 "urn:ehealth:profiles:timestamping:2.1-cert"
#define SIM_PROFILE_20 "urn:ehealth:profiles:timestamping:2.0"
#define SIM_PROFILE_10 "urn:ehealth:profiles:timestamping:1.0"
#define SIM_RESULT     "urn:oasis:names:tc:dss:1.0:resultmajor:"
#define SIM_MINOR      "urn:oasis:names:tc:dss:1.0:resultminor:"
#define SIM_GET_MAX    10 /* TSList items per getTimestamp (maxOccurs="10") */

/* ---- soap.c: parsing ---- */

enum sim_op { SIM_OP_STAMP, SIM_OP_CHECK, SIM_OP_GET };
enum sim_carrier { SIM_CARRIER_B64XML, SIM_CARRIER_B64DATA, SIM_CARRIER_HASH };

struct sim_tsid {
    int64_t serial; /* -1 when the sequenceNumber is not a decimal we could have issued */
    char serial_text[41];
    int64_t date_ms;
};

struct sim_req {
    xmlDocPtr doc;
    xmlNodePtr body, payload; /* soap:Body and its single element child */
    xmlNodePtr security, bst, timestamp, signature;
    enum sim_op op;

    /* SignRequest (filled by sim_stamp_parse) */
    char *request_id; /* NULL when absent */
    char *profile;    /* NULL when absent */
    enum sim_carrier carrier;
    char *bag_b64; /* the carrier's text exactly as received (not for DocumentHash) */
    struct tsb_buf bag;
    uint8_t digest[TSB_SHA256_LEN];

    /* TSConsult (filled by sim_consult_parse) */
    char *id_hospital;
    int64_t start, end;
    size_t n_ids;
    struct sim_tsid *ids;
};

/* Parses a SOAP 1.1 envelope: exactly one Body element child that is a dss:SignRequest,
 * TSConsultRequest or TSConsultTSBagRequest, and the wsse:Security parts (BST, Timestamp,
 * Signature; each may be NULL here, sim_wss_verify insists). 0 or TSB_EFORMAT / TSB_ETOOBIG /
 * TSB_ENAMESPACE with a detail fit for a SOAP Client fault. Free with sim_req_cleanup. */
int sim_request_parse(const uint8_t *p, size_t len, size_t max_len, struct sim_req *req);
/* Reads the SignRequest fields: RequestID, Profile, one Document (Base64XML, Base64Data) or one
 * DocumentHash; decodes the bag and computes its SHA-256. Errors are DSS RequesterErrors:
 * TSB_EFORMAT (malformed), TSB_EALGORITHM (unsupported digest or carrier). */
int sim_stamp_parse(struct sim_req *req, size_t max_bag);
/* Reads IDHospital, Period (checkCompleteness) and TSList. TSB_EFORMAT names what is wrong;
 * it becomes a Status ERROR answer. More than SIM_GET_MAX ids in getTimestamp is not an error
 * here (the caller answers it with its own Error). */
int sim_consult_parse(struct sim_req *req);
void sim_req_cleanup(struct sim_req *req);

/* ---- soap.c: building ---- */

/* Appends s with &, <, >, " escaped. */
int sim_xml_escape(struct tsb_buf *b, const char *s);
/* Appends an xs:dateTime in UTC with milliseconds ("2024-05-02T10:20:00.123Z"). */
int sim_xml_datetime(struct tsb_buf *b, int64_t ms);
/* Parses xs:dateTime with a Z or +hh:mm zone and optional fraction; milliseconds since the epoch.
 */
int sim_parse_datetime(const char *s, int64_t *ms);
/* Wraps body (one element) in a SOAP envelope whose header carries wsse:Security/wsu:Timestamp
 * valid from now_ms for ttl_s. */
int sim_envelope(struct tsb_buf *out, int64_t now_ms, int ttl_s, const char *body, size_t body_len);
/* A SOAP 1.1 Fault body element; code is a QName such as "wsse:InvalidSecurity" or
 * "soapenv:Client" (wsse and soapenv are declared on the Fault). */
int sim_fault_body(struct tsb_buf *out, const char *code, const char *reason);

/* ---- wss.c ---- */

enum sim_fault_code { SIM_FAULT_NONE, SIM_FAULT_INVALID, SIM_FAULT_AUTH, SIM_FAULT_CLIENT };

struct sim_map_entry {
    char fp[65]; /* lowercase hex SHA-256 of the certificate DER */
    char **ids;
    size_t n_ids;
};

struct sim_trust {
    X509_STORE *store; /* hospital CA */
    struct sim_map_entry *map;
    size_t n_map;
    int skew_s;
};

struct sim_auth {
    char fp[65];
    char subject[256];
    const struct sim_map_entry *entry; /* NULL when the certificate is mapped to nothing */
};

/* Loads the CA bundle and the fingerprint map file (lines "FP ID[,ID...]", # comments). */
int sim_trust_load(struct sim_trust *t, const char *ca_file, const char *map_file, int skew_s);
/* Adds "FP ID[,ID...]" (one map line). */
int sim_trust_add_map_line(struct sim_trust *t, const char *line);
void sim_trust_cleanup(struct sim_trust *t);
/* True when the authenticated certificate may use id_hospital. */
bool sim_auth_allows(const struct sim_auth *a, const char *id_hospital);

/* Verifies the request's WS-Security header against now_ms: BST chains to the hospital CA,
 * Timestamp fresh within the skew, ds:Signature valid with exc-c14n, rsa-sha256 or
 * ecdsa-sha256, sha256 digests, and references covering exactly the Body, the Timestamp and the
 * BST. On failure *fault says which SOAP fault to answer and the error detail says why. */
int sim_wss_verify(struct sim_req *req, const struct sim_trust *t, int64_t now_ms,
                   struct sim_auth *auth, enum sim_fault_code *fault);

/* ---- tsa.c ---- */

enum {
    SIM_STAMP_WRONG_IMPRINT = 1,
    SIM_STAMP_ROGUE = 2,
    SIM_STAMP_NO_CERTS = 4,
    SIM_STAMP_PSS = 8
};

struct sim_tsa {
    X509 *cert, *rogue_cert;
    EVP_PKEY *key, *rogue_key;
    STACK_OF(X509) * chain; /* extra certificates put in the token (the CA) */
    char policy[64];
};

/* Loads signer.pem/.key, rogue-tsa.pem/.key and the chain file (certificates put in tokens) of
 * pki_dir, with the policy OID. */
int sim_tsa_load(struct sim_tsa *t, const char *pki_dir, const char *signer, const char *chain,
                 const char *policy);
void sim_tsa_cleanup(struct sim_tsa *t);
/* A TS_RESP_CTX signing as t (or its rogue signer): SHA-256 signature, t's default policy,
 * ESSCertIDv2 over SHA-256, t's chain unless rogue. The caller adds the imprint algorithms it
 * accepts. NULL if OpenSSL fails. */
TS_RESP_CTX *sim_tsa_ctx_new(struct sim_tsa *t, bool rogue);
/* Issues a granted TimeStampResp whose messageImprint is (md, digest) with serial and genTime
 * time_ms. *resp gets the DER TimeStampResp and *token the DER TimeStampToken (both appended;
 * with SIM_STAMP_PSS the token is the re-signed one, resp keeps the PKCS#1 v1.5 original). */
int sim_tsa_stamp(struct sim_tsa *t, const uint8_t *digest, size_t digest_len, const EVP_MD *md,
                  int64_t serial, int64_t time_ms, unsigned flags, struct tsb_buf *resp,
                  struct tsb_buf *token);

/* ---- archive.c ---- */

struct sim_archive;

struct sim_stamp_row {
    int64_t serial;
    int64_t gen_ms;
    int64_t bag_id;
};

int sim_archive_open(const char *path, struct sim_archive **out);
void sim_archive_close(struct sim_archive *a);
/* The next TSA serial number (persisted; starts at 1). */
int sim_archive_next_serial(struct sim_archive *a, int64_t *serial);
/* Records a stamp of a bag (same bag = same IDHospital and digest: linked to the same bag). */
int sim_archive_add(struct sim_archive *a, const char *id_hospital,
                    const uint8_t digest[TSB_SHA256_LEN], const char *bag_b64, int64_t serial,
                    int64_t gen_ms, const char *sign_response);
/* Finds a live stamp by (serial, date_ms) for id_hospital: TSB_ENOTFOUND if absent. bag_b64 and
 * sign_response (may be NULL) are new strings. */
int sim_archive_find(struct sim_archive *a, const char *id_hospital, int64_t serial,
                     int64_t date_ms, int64_t *bag_id, char **bag_b64, char **sign_response);
/* Live stamps of id_hospital with start <= gen_ms <= end, ordered by gen_ms then serial. */
int sim_archive_period(struct sim_archive *a, const char *id_hospital, int64_t start, int64_t end,
                       struct sim_stamp_row **rows, size_t *n);
/* Forgets the bag stamped with serial (serial 0: the last stamped bag) with all its stamps. */
int sim_archive_forget(struct sim_archive *a, int64_t serial, int64_t *forgotten_bag);

/* ---- fault.c ---- */

enum sim_fault_kind {
    SIM_K_LATENCY,
    SIM_K_HTTP500,
    SIM_K_HTTP503,
    SIM_K_HTTP403,
    SIM_K_RESET,
    SIM_K_TIMEOUT,
    SIM_K_DROP,
    SIM_K_MALFORMED,
    SIM_K_WRONG_IMPRINT,
    SIM_K_UNTRUSTED_TSA,
    SIM_K_LEGACY,
    SIM_K_IMPRINT_BASE64,
    SIM_K_IMPRINT_C14N,
    SIM_K_SHA384,
    SIM_K_NO_CERTS,
    SIM_K_PSS,
    SIM_K_NO_REQUEST_ID,
    SIM_K_WRONG_REQUEST_ID,
    SIM_K_REQUESTER_ERROR,
    SIM_K_RESPONDER_ERROR,
    /* the RFC 3161 endpoint's own knobs (rfc3161.c): never consumed by the eHealth endpoints */
    SIM_K_TSA2_DOWN,
    SIM_K_TSA2_NONCE,
    SIM_K_TSA2_IMPRINT,
    SIM_K_TSA2_UNTRUSTED,
    SIM_K_TSA2_NEXT,
    SIM_K__COUNT,
};

struct sim_faults {
    pthread_mutex_t mu;
    int64_t arg[SIM_K__COUNT];
    int64_t left[SIM_K__COUNT]; /* 0: off; -1: every request; n: the next n requests */
    int64_t clock_offset_ms;
};

/* What one request gets: a snapshot taken (and counts consumed) when it arrives. */
struct sim_fault_set {
    bool on[SIM_K__COUNT];
    int64_t arg[SIM_K__COUNT];
};

void sim_faults_init(struct sim_faults *f);
void sim_faults_cleanup(struct sim_faults *f);
/* Applies one knob "NAME[=ARG][@N]" or "clear". forget-bag needs the archive (may be NULL when
 * parsing only). TSB_EINVAL names the bad part. */
int sim_faults_apply(struct sim_faults *f, struct sim_archive *a, const char *spec);
/* Takes this request's faults; counted knobs are consumed. tsa is true for the TSA endpoint
 * (stamp knobs are only consumed there). */
void sim_faults_take(struct sim_faults *f, bool tsa, struct sim_fault_set *out);
/* The same for the RFC 3161 endpoint: only its tsa2-* knobs. */
void sim_faults_take_rfc3161(struct sim_faults *f, struct sim_fault_set *out);
/* Lists the active knobs, one per line. */
int sim_faults_list(struct sim_faults *f, struct tsb_buf *out);
/* The simulator's clock: wall time plus the clock-offset knob, in ms. */
int64_t sim_now_ms(struct sim_faults *f);

/* ---- rfc3161.c ---- */

/* The second, independent TSA ([tsa2] in tsbag): its own root, signer and policy from the
 * dev-pki (tsa2-ca.pem, tsa2.pem/.key, tsa2-policy.txt); rogue-tsa for the untrusted fault. */
struct sim_tsa2 {
    struct sim_tsa tsa; /* signer tsa2, chain tsa2-ca.pem, policy of tsa2-policy.txt */
    X509 *next_cert;    /* tsa2-next.pem/.key, the signer of the tsa2-next knob; NULL when the */
    EVP_PKEY *next_key; /* PKI predates it */
    bool loaded;
    int64_t serial; /* last serial issued (under sim_service.mu) */
};

/* Loads it from pki_dir; TSB_ECONFIG names a missing file. */
int sim_tsa2_load(struct sim_tsa2 *t, const char *pki_dir);
void sim_tsa2_cleanup(struct sim_tsa2 *t);

/* ---- service.c ---- */

struct sim_service {
    struct sim_trust trust;
    struct sim_tsa tsa;
    struct sim_tsa2 tsa2;
    struct sim_archive *archive;
    struct sim_faults faults;
    pthread_mutex_t mu; /* serialises archive and stamping */
    size_t max_request;
    int response_ttl_s;
    bool idhospital_error; /* consult with a forbidden IDHospital: Status ERROR instead of fault */
};

struct sim_answer {
    int http_status;
    struct tsb_buf body; /* text/xml */
};

/* Answers one RFC 3161 TimeStampReq (RFC 3161 §3.4) with a DER TimeStampResp from the second
 * TSA; fs (sim_faults_take_rfc3161) modifies it. Always produces an answer (HTTP 400 with a text
 * for a body that is no TimeStampReq). */
void sim_rfc3161_handle(struct sim_service *s, const struct sim_fault_set *fs, const uint8_t *p,
                        size_t len, struct sim_answer *ans, const char **content_type);

/* Handles one SOAP request for the TSA (tsa true) or TSConsult endpoint; fs modifies the stamp.
 * Always produces an answer (a fault for anything wrong); returns 0. */
int sim_service_handle(struct sim_service *s, bool tsa, const struct sim_fault_set *fs,
                       const uint8_t *p, size_t len, struct sim_answer *ans);

#endif
