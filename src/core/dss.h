/*
 * dss: the OASIS DSS SignRequest/SignResponse codec of the TimeStampAuthority (protocol reference
 * §4). Builds the SOAP 1.1 envelope that carries a bag (Base64XML or Base64Data), signed with
 * WS-Security by wss.c; parses the answer (SignResponse or SOAP 1.1 Fault) with the hardened
 * parser, checks the RequestID echo and decodes the token robustly (token.h). Called by the sender
 * and by tests; pure (no network).
 */
#ifndef TSB_DSS_H
#define TSB_DSS_H

#include "bag.h"
#include "keystore.h"
#include "mem.h"
#include "token.h"
#include "wss.h"

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSB_NS_DSS             "urn:oasis:names:tc:dss:1.0:core:schema"
#define TSB_DSS_SUCCESS_URI    "urn:oasis:names:tc:dss:1.0:resultmajor:Success"
#define TSB_DSS_REQUEST_ID_MAX 128 /* buffer size for a RequestID */

/* Writes "TSB-<id_hospital>-<seq>-<16 random hex>" into out[TSB_DSS_REQUEST_ID_MAX]: unique per
 * send, and it names the bag for anyone reading the TSA's logs. TSB_EINVAL if it does not fit. */
int tsb_dss_request_id(const char *id_hospital, int64_t seq, char out[TSB_DSS_REQUEST_ID_MAX]);

struct tsb_dss_request {
    const uint8_t *bag; /* exact bag bytes */
    size_t bag_len;
    const char *request_id;
    const char *profile;
    enum tsb_carrier carrier;
};

/* Everything a signed SignRequest holds besides the bag's base64: the SOAP and DSS elements and
 * the WS-Security header, whose certificate token is at most TSB_WSS_CERT_B64_MAX. */
#define TSB_DSS_ENVELOPE_MAX (TSB_WSS_CERT_B64_MAX + 64 * 1024)
/* The largest signed request a bag of bag_len bytes makes: the cap of tsb_dss_build_signed's out.
 */
size_t tsb_dss_request_max(size_t bag_len);

/* The unsigned SOAP envelope (empty Header, Body with the SignRequest). *out: xmlFreeDoc. */
int tsb_dss_build(const struct tsb_dss_request *rq, xmlDocPtr *out);

/* Builds, signs (WS-Security) and serialises the request into out (appended; its cap bounds the
 * message). These are the bytes to POST. Memory: the bag's base64 is held once at a time (in the
 * tree while signing, then in out, which grows once to the exact size), never twice. On failure
 * out is left as it was. */
int tsb_dss_build_signed(const struct tsb_dss_request *rq, const struct tsb_keystore *ks,
                         const struct tsb_wss_opts *wo, struct tsb_buf *out);

/* Copies the dss:SignRequest element of a serialised envelope into out as a standalone document
 * (namespaces reconciled), for schema validation and request capture. */
int tsb_dss_extract_sign_request(const uint8_t *p, size_t len, size_t max_len, struct tsb_buf *out);
/* The same for the dss:SignResponse of an answer: what the archive keeps next to the token (it
 * carries every namespace it uses, so tsb_dss_parse_sign_response reads it back). */
int tsb_dss_extract_sign_response(const uint8_t *p, size_t len, size_t max_len,
                                  struct tsb_buf *out);

enum tsb_dss_kind {
    TSB_DSS_OK,    /* ResultMajor Success and a decoded token */
    TSB_DSS_ERROR, /* a SignResponse with another ResultMajor (RequesterError, ResponderError...) */
    TSB_DSS_FAULT, /* a SOAP 1.1 Fault */
};

struct tsb_dss_response {
    enum tsb_dss_kind kind;
    char *result_major, *result_minor, *result_message; /* NULL when absent */
    char *fault_code, *fault_string;                    /* FAULT only */
    char *request_id;                                   /* as echoed */
    char *profile;
    struct tsb_buf token; /* DER TimeStampToken (OK only) */
    struct tsb_token_form form;
};
void tsb_dss_response_init(struct tsb_dss_response *r);
void tsb_dss_response_cleanup(struct tsb_dss_response *r);

/* Parses a response body of at most max_len bytes. Returns 0 when it is a SignResponse or a SOAP
 * Fault (out->kind says which); TSB_ETOOBIG, TSB_EFORMAT (not XML, no SignResponse or Fault,
 * Success without a decodable token), TSB_EPROTO when the RequestID is present and differs from
 * expect_id (absent is accepted: out->request_id stays NULL). The detail says which. out must be
 * initialised; it is filled as far as parsing got. */
int tsb_dss_parse_response(const uint8_t *p, size_t len, size_t max_len, const char *expect_id,
                           struct tsb_dss_response *out);

/* tsb_dss_parse_response that also keeps what the archive stores beside the token: when the answer
 * is a SignResponse with a decoded token (out->kind TSB_DSS_OK), its dss:SignResponse element is
 * serialised into sign_response (reset first) as a standalone document, exactly as
 * tsb_dss_extract_sign_response would, from the same parsed tree the token was decoded from: what
 * is verified is what is archived, and the answer is parsed once. *kept says whether that copy was
 * made; a copy that does not fit sign_response's cap leaves it empty, *kept false and the detail
 * saying why, and still returns 0. Other results as tsb_dss_parse_response. */
int tsb_dss_parse_response_keep(const uint8_t *p, size_t len, size_t max_len, const char *expect_id,
                                struct tsb_dss_response *out, struct tsb_buf *sign_response,
                                bool *kept);

/* Parses a standalone dss:SignResponse document (as archived in bags.sign_response, or as
 * TimeStampConsult returns it inside TSBag) exactly like the SignResponse of a stamp answer, token
 * decoding included. expect_id NULL skips the RequestID check. Errors as tsb_dss_parse_response. */
int tsb_dss_parse_sign_response(const uint8_t *p, size_t len, size_t max_len, const char *expect_id,
                                struct tsb_dss_response *out);

/* One line for logs and the archive: "ResultMajor ... / ResultMinor ... : message" or the fault. */
void tsb_dss_response_reason(const struct tsb_dss_response *r, char *out, size_t n);

/* How the sender treats a failed attempt (docs/internals/SENDER.md): transient failures are
 * retried with backoff, definitive ones hold the bag at once, suspect ones (an answer tsbag cannot
 * use, a token that fails a check) are retried once and hold the bag when the next answer fails
 * the same way. */
enum tsb_dss_class { TSB_DSS_TRANSIENT, TSB_DSS_SUSPECT, TSB_DSS_DEFINITIVE };

/* A SOAP fault is transient when its code is Server, definitive otherwise (Client, wsse:...); a
 * DSS ResponderError is transient, a RequesterError definitive, any other ResultMajor suspect. */
enum tsb_dss_class tsb_dss_response_class(const struct tsb_dss_response *r);
/* An HTTP status without a usable SOAP answer: 5xx, 408 and 429 transient, other 4xx definitive,
 * anything else (a 200 that is not a SignResponse) suspect. */
enum tsb_dss_class tsb_dss_http_class(long status);
/* "transient", "rejected", "definitive". */
const char *tsb_dss_class_name(enum tsb_dss_class c);

#endif
