/*
 * service: what the simulated eHealth services do with one SOAP request, independent of HTTP.
 * Order: parse the envelope (SOAP Client fault), check WS-Security (wsse fault), then the
 * operation: stamp (DSS SignResponse, RequesterError for bad input), checkCompleteness and
 * getTimestamp (Status/Error answers). Archive and stamping run under one mutex so that serial
 * numbers and genTimes are issued in the same order.
 */
#include "sim.h"

#include "codec.h"
#include "err.h"
#include "log.h"
#include "xml.h"

#include <openssl/evp.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ANSWER_MAX (256u * 1024 * 1024)

/* Error numbers and types of TSConsult answers (the real vocabulary is not public). */
#define E_INVALID  1, "InvalidRequest"
#define E_UNKNOWN  2, "UnknownTimestamp"
#define E_NOTAUTH  3, "NotAuthorized"
#define E_TOO_MANY 4, "TooManyTimestamps"

static int answer_fault(struct sim_service *s, struct sim_answer *ans, int64_t now,
                        const char *code, const char *reason)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 64 * 1024);
    int r = sim_fault_body(&b, code, reason);
    if (r == 0)
        r = sim_envelope(&ans->body, now, s->response_ttl_s, (const char *)b.p, b.len);
    tsb_buf_cleanup(&b);
    ans->http_status = 500; /* SOAP 1.1 over HTTP: faults travel with 500 */
    tsb_info("fault %s: %s", code, reason);
    return r;
}

static int answer_body(struct sim_service *s, struct sim_answer *ans, int64_t now,
                       const struct tsb_buf *body)
{
    ans->http_status = 200;
    return sim_envelope(&ans->body, now, s->response_ttl_s, (const char *)body->p, body->len);
}

static int sign_response_head(struct tsb_buf *b, const char *request_id, const char *profile)
{
    int r = tsb_buf_append_str(b, "<dss:SignResponse xmlns:dss=\"" SIM_NS_DSS "\"");
    if (r == 0 && request_id) {
        r = tsb_buf_append_str(b, " RequestID=\"");
        if (r == 0)
            r = sim_xml_escape(b, request_id);
        if (r == 0)
            r = tsb_buf_append_str(b, "\"");
    }
    if (r == 0)
        r = tsb_buf_append_str(b, " Profile=\"");
    if (r == 0)
        r = sim_xml_escape(b, profile);
    if (r == 0)
        r = tsb_buf_append_str(b, "\">");
    return r;
}

static int dss_error(struct sim_service *s, struct sim_answer *ans, int64_t now,
                     const struct sim_req *req, const char *major, const char *minor,
                     const char *msg)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 64 * 1024);
    int r = sign_response_head(&b, req->request_id, req->profile ? req->profile : SIM_PROFILE_21);
    if (r == 0)
        r = tsb_buf_appendf(&b,
                            "<dss:Result><dss:ResultMajor>" SIM_RESULT
                            "%s</dss:ResultMajor><dss:ResultMinor>" SIM_MINOR
                            "%s</dss:ResultMinor><dss:ResultMessage xml:lang=\"en\">",
                            major, minor);
    if (r == 0)
        r = sim_xml_escape(&b, msg);
    if (r == 0)
        r = tsb_buf_append_str(&b, "</dss:ResultMessage></dss:Result></dss:SignResponse>");
    if (r == 0)
        r = answer_body(s, ans, now, &b);
    tsb_buf_cleanup(&b);
    tsb_info("stamp refused: %s %s: %s", major, minor, msg);
    return r;
}

/* What the token's messageImprint covers: SHA-256 of the decoded bag (or the DocumentHash), unless
 * a knob makes the TSA hash the base64 text, the exc-c14n of the bag document, or use SHA-384.
 * The imprint knobs need a bag: with a DocumentHash they change nothing. */
static int imprint_of(const struct sim_req *req, const struct sim_fault_set *fs, size_t max,
                      uint8_t *d, size_t *dn, const EVP_MD **md)
{
    int r = 0;
    bool bag = req->carrier != SIM_CARRIER_HASH;
    *md = EVP_sha256();
    *dn = TSB_SHA256_LEN;
    if (bag && fs->on[SIM_K_IMPRINT_BASE64]) {
        tsb_sha256((const uint8_t *)req->bag_b64, strlen(req->bag_b64), d);
    } else if (bag && fs->on[SIM_K_IMPRINT_C14N]) {
        xmlDocPtr doc = NULL;
        struct tsb_buf c;
        tsb_buf_init(&c, 2 * max + 65536);
        if ((r = tsb_xml_parse(req->bag.p, req->bag.len, max, &doc)) == 0 &&
            (r = tsb_xml_exc_c14n(doc, NULL, &c)) == 0)
            tsb_sha256(c.p, c.len, d);
        xmlFreeDoc(doc);
        tsb_buf_cleanup(&c);
    } else if (bag && fs->on[SIM_K_SHA384]) {
        unsigned n = 0;
        *md = EVP_sha384();
        r = EVP_Digest(req->bag.p, req->bag.len, d, &n, *md, NULL) == 1
                ? 0
                : tsb_err(TSB_ECRYPTO, "SHA-384 failed");
        *dn = n;
    } else {
        memcpy(d, req->digest, TSB_SHA256_LEN);
    }
    return r;
}

static int handle_stamp(struct sim_service *s, struct sim_req *req, const struct sim_auth *auth,
                        const struct sim_fault_set *fs, int64_t now, struct sim_answer *ans)
{
    int r = TSB_EINTERNAL;
    struct tsb_buf resp, token, b64, sr;
    tsb_buf_init(&resp, 1 << 20);
    tsb_buf_init(&token, 1 << 20);
    tsb_buf_init(&b64, 4 << 20);
    tsb_buf_init(&sr, 4 << 20);
    bool locked = false;

    if (auth->entry == NULL || auth->entry->n_ids == 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "the certificate %s is not mapped to any IDHospital",
                 auth->subject);
        r = dss_error(s, ans, now, req, "RequesterError", "NotAuthorized", msg);
        goto out;
    }
    if ((r = sim_stamp_parse(req, s->max_request)) != 0) {
        r = dss_error(s, ans, now, req, "RequesterError",
                      r == TSB_EALGORITHM ? "NotSupported" : "GeneralError", tsb_err_detail());
        goto out;
    }
    if (fs->on[SIM_K_REQUESTER_ERROR] || fs->on[SIM_K_RESPONDER_ERROR]) {
        bool requester = fs->on[SIM_K_REQUESTER_ERROR];
        r = dss_error(s, ans, now, req, requester ? "RequesterError" : "ResponderError",
                      "GeneralError",
                      requester ? "refused by the requester-error fault knob"
                                : "the responder-error fault knob makes the TSA fail");
        goto out;
    }
    const char *profile = req->profile ? req->profile : SIM_PROFILE_21;
    bool legacy = fs->on[SIM_K_LEGACY];
    if (strcmp(profile, SIM_PROFILE_20) == 0 || strcmp(profile, SIM_PROFILE_10) == 0) {
        legacy = true;
    } else if (strcmp(profile, SIM_PROFILE_21) != 0) {
        char msg[400];
        snprintf(msg, sizeof(msg), "Profile %.200s is not supported", profile);
        r = dss_error(s, ans, now, req, "RequesterError", "NotSupported", msg);
        goto out;
    }
    unsigned flags = (fs->on[SIM_K_WRONG_IMPRINT] ? SIM_STAMP_WRONG_IMPRINT : 0) |
                     (fs->on[SIM_K_UNTRUSTED_TSA] ? SIM_STAMP_ROGUE : 0) |
                     (fs->on[SIM_K_NO_CERTS] ? SIM_STAMP_NO_CERTS : 0) |
                     (fs->on[SIM_K_PSS] ? SIM_STAMP_PSS : 0);
    uint8_t imprint[EVP_MAX_MD_SIZE];
    size_t imprint_len = 0;
    const EVP_MD *md = NULL;
    if ((r = imprint_of(req, fs, s->max_request, imprint, &imprint_len, &md)) != 0) {
        r = dss_error(s, ans, now, req, "ResponderError", "GeneralError", tsb_err_detail());
        goto out;
    }
    bool imprint_knob =
        fs->on[SIM_K_IMPRINT_BASE64] || fs->on[SIM_K_IMPRINT_C14N] || fs->on[SIM_K_SHA384];
    pthread_mutex_lock(&s->mu);
    locked = true;
    int64_t serial;
    if ((r = sim_archive_next_serial(s->archive, &serial)) != 0 ||
        (r = sim_tsa_stamp(&s->tsa, imprint, imprint_len, md, serial, now, flags, &resp, &token)) !=
            0) {
        r = dss_error(s, ans, now, req, "ResponderError", "GeneralError", tsb_err_detail());
        goto out;
    }
    if (legacy) {
        /* v1 and profile 2.0: base64 of the base64 of a whole TimeStampResp */
        struct tsb_buf once;
        tsb_buf_init(&once, 4 << 20);
        r = tsb_b64_encode_buf(resp.p, resp.len, &once);
        if (r == 0)
            r = tsb_b64_encode_buf(once.p, once.len, &b64);
        tsb_buf_cleanup(&once);
    } else {
        r = tsb_b64_encode_buf(token.p, token.len, &b64);
    }
    char other_id[160];
    snprintf(other_id, sizeof(other_id), "SIM-OTHER-%.140s",
             req->request_id ? req->request_id : "");
    if (r == 0)
        r = sign_response_head(&sr,
                               fs->on[SIM_K_NO_REQUEST_ID]      ? NULL
                               : fs->on[SIM_K_WRONG_REQUEST_ID] ? other_id
                                                                : req->request_id,
                               profile);
    if (r == 0)
        r = tsb_buf_append_str(&sr, "<dss:Result><dss:ResultMajor>" SIM_RESULT
                                    "Success</dss:ResultMajor></dss:Result><dss:SignatureObject>"
                                    "<dss:Timestamp><dss:RFC3161TimeStampToken>");
    if (r == 0)
        r = tsb_buf_append(&sr, b64.p, b64.len);
    if (r == 0)
        r = tsb_buf_append_str(&sr, "</dss:RFC3161TimeStampToken></dss:Timestamp>"
                                    "</dss:SignatureObject></dss:SignResponse>");
    if (r != 0)
        goto out;
    if (req->carrier != SIM_CARRIER_HASH &&
        (r = sim_archive_add(s->archive, auth->entry->ids[0], req->digest, req->bag_b64, serial,
                             now, (const char *)sr.p)) != 0) {
        r = dss_error(s, ans, now, req, "ResponderError", "GeneralError", tsb_err_detail());
        goto out;
    }
    pthread_mutex_unlock(&s->mu);
    locked = false;
    char hex[TSB_SHA256_LEN * 2 + 1];
    tsb_hex_encode(req->digest, TSB_SHA256_LEN, hex);
    tsb_info("stamped serial %" PRId64 " genTime %" PRId64 " for %s: %s %s%s%s", serial, now,
             auth->entry->ids[0], req->carrier == SIM_CARRIER_HASH ? "hash" : "bag", hex,
             legacy ? " (legacy encoding)" : "",
             flags || imprint_knob ? " (token shaped by a fault knob)" : "");
    r = answer_body(s, ans, now, &sr);
out:
    if (locked)
        pthread_mutex_unlock(&s->mu);
    tsb_buf_cleanup(&resp);
    tsb_buf_cleanup(&token);
    tsb_buf_cleanup(&b64);
    tsb_buf_cleanup(&sr);
    return r;
}

static int consult_error(struct sim_service *s, struct sim_answer *ans, int64_t now, bool check,
                         int number, const char *type)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 4096);
    int r = tsb_buf_appendf(&b,
                            "<%s xmlns=\"" SIM_NS_TS "\">%s<Error><Type>%s</Type><Number>%d"
                            "</Number></Error></%s>",
                            check ? "TSConsultResponse" : "TSConsultTSBagResponse",
                            check ? "<Status>ERROR</Status>" : "", type, number,
                            check ? "TSConsultResponse" : "TSConsultTSBagResponse");
    if (r == 0)
        r = answer_body(s, ans, now, &b);
    tsb_buf_cleanup(&b);
    tsb_info("consult error %d %s: %s", number, type, tsb_err_detail());
    return r;
}

static bool contains(const int64_t *v, size_t n, int64_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static int handle_check(struct sim_service *s, struct sim_req *req, int64_t now,
                        struct sim_answer *ans)
{
    int r = TSB_EINTERNAL;
    int64_t *covered = tsb_calloc(req->n_ids + 1, sizeof(*covered));
    struct sim_stamp_row *rows = NULL;
    size_t n_rows = 0, missing = 0;
    struct tsb_buf b;
    tsb_buf_init(&b, ANSWER_MAX);
    if (req->start > req->end) {
        tsb_err(TSB_EINVAL, "Period Start %" PRId64 " is after End %" PRId64, req->start, req->end);
        r = consult_error(s, ans, now, true, E_INVALID);
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    r = 0;
    for (size_t i = 0; i < req->n_ids; i++) {
        r = req->ids[i].serial > 0
                ? sim_archive_find(s->archive, req->id_hospital, req->ids[i].serial,
                                   req->ids[i].date_ms, &covered[i], NULL, NULL)
                : TSB_ENOTFOUND;
        if (r != 0)
            break;
    }
    if (r == 0)
        r = sim_archive_period(s->archive, req->id_hospital, req->start, req->end, &rows, &n_rows);
    pthread_mutex_unlock(&s->mu);
    if (r == TSB_ENOTFOUND) {
        tsb_err(r, "a listed timestamp is not in the archive of %s", req->id_hospital);
        r = consult_error(s, ans, now, true, E_UNKNOWN);
        goto out;
    }
    if (r != 0)
        goto out;
    r = tsb_buf_append_str(&b, "<TSConsultResponse xmlns=\"" SIM_NS_TS "\"><Status>");
    /* the same-bag rule: any listed stamp of a bag accounts for all stamps of that bag */
    for (size_t i = 0; i < n_rows; i++)
        if (!contains(covered, req->n_ids, rows[i].bag_id))
            missing++;
    if (r == 0)
        r = tsb_buf_append_str(&b, missing ? "INCOMPLETE</Status>" : "OK</Status>");
    for (size_t i = 0; i < n_rows && r == 0; i++)
        if (!contains(covered, req->n_ids, rows[i].bag_id))
            r = tsb_buf_appendf(&b,
                                "<TSList><sequenceNumber>%" PRId64
                                "</sequenceNumber><dateTime>%" PRId64 "</dateTime></TSList>",
                                rows[i].serial, rows[i].gen_ms);
    if (r == 0)
        r = tsb_buf_append_str(&b, "</TSConsultResponse>");
    if (r == 0)
        r = answer_body(s, ans, now, &b);
    tsb_info("checkCompleteness %s [%" PRId64 ", %" PRId64 "]: %zu listed, %zu missing",
             req->id_hospital, req->start, req->end, req->n_ids, missing);
out:
    free(covered);
    free(rows);
    tsb_buf_cleanup(&b);
    return r;
}

static int handle_get(struct sim_service *s, struct sim_req *req, int64_t now,
                      struct sim_answer *ans)
{
    int r = TSB_EINTERNAL;
    struct tsb_buf b;
    tsb_buf_init(&b, ANSWER_MAX);
    if (req->n_ids > SIM_GET_MAX) {
        tsb_err(TSB_ETOOBIG, "getTimestamp lists %zu timestamps, at most %d are allowed",
                req->n_ids, SIM_GET_MAX);
        r = consult_error(s, ans, now, false, E_TOO_MANY);
        goto out;
    }
    r = tsb_buf_append_str(&b, "<TSConsultTSBagResponse xmlns=\"" SIM_NS_TS "\">");
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < req->n_ids && r == 0; i++) {
        int64_t bag_id;
        char *bag = NULL, *sr = NULL;
        r = req->ids[i].serial > 0
                ? sim_archive_find(s->archive, req->id_hospital, req->ids[i].serial,
                                   req->ids[i].date_ms, &bag_id, &bag, &sr)
                : TSB_ENOTFOUND;
        if (r == 0)
            r = tsb_buf_appendf(&b, "<TSBag><TSBagValue>%s</TSBagValue>%s</TSBag>", bag, sr);
        if (r == TSB_ENOTFOUND)
            tsb_err(r, "sequenceNumber %s dateTime %" PRId64 " is not in the archive of %s",
                    req->ids[i].serial_text, req->ids[i].date_ms, req->id_hospital);
        free(bag);
        free(sr);
    }
    pthread_mutex_unlock(&s->mu);
    if (r == TSB_ENOTFOUND) {
        r = consult_error(s, ans, now, false, E_UNKNOWN);
        goto out;
    }
    if (r == 0)
        r = tsb_buf_append_str(&b, "</TSConsultTSBagResponse>");
    if (r == 0)
        r = answer_body(s, ans, now, &b);
    tsb_info("getTimestamp %s: %zu bags returned", req->id_hospital, req->n_ids);
out:
    tsb_buf_cleanup(&b);
    return r;
}

static int handle_consult(struct sim_service *s, struct sim_req *req, const struct sim_auth *auth,
                          int64_t now, struct sim_answer *ans)
{
    bool check = req->op == SIM_OP_CHECK;
    int r = sim_consult_parse(req);
    if (r != 0)
        return consult_error(s, ans, now, check, E_INVALID);
    if (!sim_auth_allows(auth, req->id_hospital)) {
        char msg[600];
        snprintf(msg, sizeof(msg), "the certificate %s may not use IDHospital %.100s",
                 auth->subject, req->id_hospital);
        if (s->idhospital_error) {
            tsb_err(TSB_ESECURITY, "%s", msg);
            return consult_error(s, ans, now, check, E_NOTAUTH);
        }
        return answer_fault(s, ans, now, "wsse:FailedAuthentication", msg);
    }
    return check ? handle_check(s, req, now, ans) : handle_get(s, req, now, ans);
}

int sim_service_handle(struct sim_service *s, bool tsa, const struct sim_fault_set *fs,
                       const uint8_t *p, size_t len, struct sim_answer *ans)
{
    int r = TSB_EINTERNAL;
    struct sim_req req;
    struct sim_auth auth;
    enum sim_fault_code fc;
    char msg[600];
    tsb_buf_init(&ans->body, ANSWER_MAX);
    int64_t now = sim_now_ms(&s->faults);
    if ((r = sim_request_parse(p, len, s->max_request, &req)) != 0) {
        snprintf(msg, sizeof(msg), "malformed request: %s", tsb_err_detail());
        r = answer_fault(s, ans, now, "soapenv:Client", msg);
        goto out;
    }
    if (tsa != (req.op == SIM_OP_STAMP)) {
        snprintf(msg, sizeof(msg), "operation %s is not served at this endpoint",
                 (const char *)req.payload->name);
        r = answer_fault(s, ans, now, "soapenv:Client", msg);
        goto out;
    }
    if ((r = sim_wss_verify(&req, &s->trust, now, &auth, &fc)) != 0) {
        snprintf(msg, sizeof(msg), "%s", tsb_err_detail());
        r = answer_fault(
            s, ans, now,
            fc == SIM_FAULT_AUTH ? "wsse:FailedAuthentication" : "wsse:InvalidSecurity", msg);
        goto out;
    }
    r = tsa ? handle_stamp(s, &req, &auth, fs, now, ans) : handle_consult(s, &req, &auth, now, ans);
    if (r != 0) {
        snprintf(msg, sizeof(msg), "internal error: %s", tsb_err_detail());
        tsb_buf_reset(&ans->body);
        r = answer_fault(s, ans, now, "soapenv:Server", msg);
    }
out:
    sim_req_cleanup(&req);
    return r;
}
