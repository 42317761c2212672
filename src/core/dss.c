/*
 * dss: SignRequest envelopes are built as libxml2 trees (so that wss.c can sign them in place) and
 * serialised once, without reformatting, into the bytes that are sent. Responses go through
 * tsb_xml_parse; only the elements the protocol defines are read, anything else is ignored.
 */
#include "dss.h"

#include "codec.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "xml.h"

#include <inttypes.h>
#include <libxml/xmlsave.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tsb_dss_request_id(const char *id_hospital, int64_t seq, char out[TSB_DSS_REQUEST_ID_MAX])
{
    uint8_t rnd[8];
    char hex[17];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        tsb_fatal("the random generator failed");
    tsb_hex_encode(rnd, sizeof(rnd), hex);
    int n = snprintf(out, TSB_DSS_REQUEST_ID_MAX, "TSB-%s-%" PRId64 "-%s", id_hospital, seq, hex);
    if (n < 0 || n >= TSB_DSS_REQUEST_ID_MAX)
        return tsb_err(TSB_EINVAL, "IDHospital '%s' makes the RequestID too long", id_hospital);
    return 0;
}

size_t tsb_dss_request_max(size_t bag_len)
{
    return tsb_b64_encoded_len(bag_len) + TSB_DSS_ENVELOPE_MAX;
}

/* Builds the unsigned envelope; *carrier gets the text node holding the bag's base64. The text
 * is encoded straight into memory the node owns (libxml2 frees it with the tree): the one copy of
 * the bag in base64 form while the tree lives. */
static int build_tree(const struct tsb_dss_request *rq, xmlDocPtr *out, xmlNodePtr *carrier_text)
{
    tsb_xml_init();
    if (rq->bag_len == 0 || rq->request_id == NULL || rq->profile == NULL)
        return tsb_err(TSB_EINVAL, "a SignRequest needs a bag, a RequestID and a Profile");
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr env = xmlNewDocNode(doc, NULL, BAD_CAST "Envelope", NULL);
    xmlDocSetRootElement(doc, env);
    xmlNsPtr soap = xmlNewNs(env, BAD_CAST TSB_NS_SOAP11, BAD_CAST "soapenv");
    xmlSetNs(env, soap);
    xmlNewChild(env, soap, BAD_CAST "Header", NULL);
    xmlNodePtr body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
    xmlNodePtr sr = xmlNewChild(body, NULL, BAD_CAST "SignRequest", NULL);
    xmlNsPtr dss = xmlNewNs(sr, BAD_CAST TSB_NS_DSS, BAD_CAST "dss");
    xmlSetNs(sr, dss);
    xmlNewProp(sr, BAD_CAST "RequestID", BAD_CAST rq->request_id);
    xmlNewProp(sr, BAD_CAST "Profile", BAD_CAST rq->profile);
    xmlNodePtr docs = xmlNewChild(sr, dss, BAD_CAST "InputDocuments", NULL);
    xmlNodePtr d = xmlNewChild(docs, dss, BAD_CAST "Document", NULL);
    xmlNodePtr carrier;
    if (rq->carrier == TSB_CARRIER_BASE64DATA) {
        carrier = xmlNewChild(d, dss, BAD_CAST "Base64Data", NULL);
        xmlNewProp(carrier, BAD_CAST "MimeType", BAD_CAST "text/xml");
    } else {
        carrier = xmlNewChild(d, dss, BAD_CAST "Base64XML", NULL);
    }
    /* base64 needs no escaping, so the text node's content is exactly what is serialised */
    size_t n = tsb_b64_encoded_len(rq->bag_len);
    xmlChar *text = xmlMallocAtomic(n + 1);
    if (text == NULL)
        tsb_fatal("out of memory allocating %zu bytes", n + 1);
    tsb_b64_encode(rq->bag, rq->bag_len, (char *)text);
    xmlNodePtr t = xmlNewDocText(doc, NULL);
    t->content = text; /* owned by the node from here on (the tree has no dictionary) */
    xmlAddChild(carrier, t);
    *carrier_text = t;
    *out = doc;
    return 0;
}

int tsb_dss_build(const struct tsb_dss_request *rq, xmlDocPtr *out)
{
    xmlNodePtr text;
    return build_tree(rq, out, &text);
}

/* Stands for the carrier's base64 in the serialised envelope: '@' is neither base64 nor in
 * anything else the envelope holds (ids, times, URIs, the certificate's base64). */
#define CARRIER_MARK     "@tsb-carrier@"
#define CARRIER_MARK_LEN (sizeof(CARRIER_MARK) - 1)

int tsb_dss_build_signed(const struct tsb_dss_request *rq, const struct tsb_keystore *ks,
                         const struct tsb_wss_opts *wo, struct tsb_buf *out)
{
    int r = TSB_EINTERNAL;
    xmlDocPtr doc = NULL;
    xmlNodePtr text = NULL;
    struct tsb_buf env;
    tsb_buf_init(&env, TSB_DSS_ENVELOPE_MAX);
    size_t start = out->len;

    if ((r = build_tree(rq, &doc, &text)) != 0 || (r = tsb_wss_sign(doc, ks, wo)) != 0)
        goto out;
    /* The signature covers the base64 as it stands in the tree. Serialising that tree would hold
     * the base64 three times (tree, libxml2's output buffer, out); instead the text is swapped
     * for a mark (freeing it), the small envelope is serialised, and out is written once, exactly
     * sized: the envelope around the mark, with the bag encoded again in its place. */
    xmlNodeSetContent(text, BAD_CAST CARRIER_MARK);
    if ((r = tsb_xml_serialise(doc, &env)) != 0)
        goto out;
    xmlFreeDoc(doc);
    doc = NULL;
    const uint8_t *mark = memmem(env.p, env.len, CARRIER_MARK, CARRIER_MARK_LEN);
    if (mark == NULL ||
        memmem(mark + 1, env.len - (size_t)(mark + 1 - env.p), CARRIER_MARK, CARRIER_MARK_LEN)) {
        r = tsb_err(TSB_EINTERNAL, "the serialised SignRequest does not hold its carrier once");
        goto out;
    }
    size_t head = (size_t)(mark - env.p), tail = env.len - head - CARRIER_MARK_LEN;
    size_t b64 = tsb_b64_encoded_len(rq->bag_len);
    uint8_t *where;
    if ((r = tsb_buf_reserve_exact(out, head + b64 + tail)) != 0 ||
        (r = tsb_buf_append(out, env.p, head)) != 0 || (r = tsb_buf_extend(out, b64, &where)) != 0)
        goto out;
    tsb_b64_encode(rq->bag, rq->bag_len, (char *)where); /* its NUL lands in the reserve */
    if ((r = tsb_buf_append(out, mark + CARRIER_MARK_LEN, tail)) != 0)
        goto out;
    r = 0;
out:
    if (r != 0 && out->len > start)
        tsb_buf_truncate(out, start);
    xmlFreeDoc(doc);
    tsb_buf_cleanup(&env);
    return r;
}

static xmlNodePtr find_child(xmlNodePtr n, const char *ns, const char *local)
{
    for (xmlNodePtr c = tsb_xml_first_elem(n); c; c = tsb_xml_next_elem(c))
        if (tsb_xml_is(c, ns, local))
            return c;
    return NULL;
}

static int envelope_body(xmlDocPtr doc, xmlNodePtr *body)
{
    xmlNodePtr env = xmlDocGetRootElement(doc);
    if (!tsb_xml_is(env, TSB_NS_SOAP11, "Envelope"))
        return tsb_err(TSB_EFORMAT, "response root is <%s>, not a SOAP 1.1 Envelope",
                       env ? (const char *)env->name : "");
    if ((*body = find_child(env, TSB_NS_SOAP11, "Body")) == NULL)
        return tsb_err(TSB_EFORMAT, "SOAP Envelope has no Body");
    return 0;
}

/* Serialises el and its subtree into out as a standalone document (namespaces reconciled). */
static int copy_element(xmlNodePtr el, struct tsb_buf *out)
{
    xmlDocPtr copy = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr c = xmlDocCopyNode(el, copy, 1);
    xmlDocSetRootElement(copy, c);
    xmlReconciliateNs(copy, c);
    int r = tsb_xml_serialise(copy, out);
    xmlFreeDoc(copy);
    return r;
}

/* Copies the first Body child named (TSB_NS_DSS, local) into out as a standalone document. */
static int extract_body_child(const uint8_t *p, size_t len, size_t max_len, const char *local,
                              struct tsb_buf *out)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr body;
    int r = tsb_xml_parse(p, len, max_len, &doc);
    if (r != 0 || (r = envelope_body(doc, &body)) != 0)
        goto out;
    xmlNodePtr el = find_child(body, TSB_NS_DSS, local);
    if (el == NULL) {
        r = tsb_err(TSB_EFORMAT, "Body holds no dss:%s", local);
        goto out;
    }
    r = copy_element(el, out);
out:
    xmlFreeDoc(doc);
    return r;
}

int tsb_dss_extract_sign_request(const uint8_t *p, size_t len, size_t max_len, struct tsb_buf *out)
{
    return extract_body_child(p, len, max_len, "SignRequest", out);
}

int tsb_dss_extract_sign_response(const uint8_t *p, size_t len, size_t max_len, struct tsb_buf *out)
{
    return extract_body_child(p, len, max_len, "SignResponse", out);
}

void tsb_dss_response_init(struct tsb_dss_response *r)
{
    memset(r, 0, sizeof(*r));
    /* the token is decoded from the answer's text, so the parse gives it the answer's cap */
    tsb_buf_init(&r->token, 0);
}

/* The token decoded from an answer of at most max_len bytes is shorter than the answer. */
static void token_cap(struct tsb_dss_response *r, size_t max_len)
{
    tsb_buf_cleanup(&r->token);
    tsb_buf_init(&r->token, max_len);
}

void tsb_dss_response_cleanup(struct tsb_dss_response *r)
{
    free(r->result_major);
    free(r->result_minor);
    free(r->result_message);
    free(r->fault_code);
    free(r->fault_string);
    free(r->request_id);
    free(r->profile);
    tsb_buf_cleanup(&r->token);
    memset(r, 0, sizeof(*r));
}

/* The trimmed text of n (NULL n: NULL). Capped so that a hostile message cannot fill logs. */
static char *text_of(xmlNodePtr n)
{
    if (n == NULL)
        return NULL;
    xmlChar *c = xmlNodeGetContent(n);
    const char *s = c ? (const char *)c : "";
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t len = strnlen(s, 1024);
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    char *out = tsb_strndup(s, len);
    for (char *q = out; *q; q++)
        if ((unsigned char)*q < 0x20)
            *q = ' ';
    xmlFree(c);
    return out;
}

static char *attr_of(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
    if (v == NULL)
        return NULL;
    char *out = tsb_strndup((const char *)v, strnlen((const char *)v, 512));
    xmlFree(v);
    return out;
}

static int parse_fault(xmlNodePtr fault, struct tsb_dss_response *out)
{
    out->kind = TSB_DSS_FAULT;
    /* SOAP 1.1 faultcode/faultstring are unqualified */
    out->fault_code = text_of(find_child(fault, NULL, "faultcode"));
    out->fault_string = text_of(find_child(fault, NULL, "faultstring"));
    if (out->fault_code == NULL)
        out->fault_code = tsb_strdup("(no faultcode)");
    return 0;
}

static int parse_sign_response(xmlNodePtr sr, const char *expect_id, struct tsb_dss_response *out)
{
    out->request_id = attr_of(sr, "RequestID");
    out->profile = attr_of(sr, "Profile");
    xmlNodePtr result = find_child(sr, TSB_NS_DSS, "Result");
    if (result == NULL)
        return tsb_err(TSB_EFORMAT, "SignResponse has no dss:Result");
    out->result_major = text_of(find_child(result, TSB_NS_DSS, "ResultMajor"));
    out->result_minor = text_of(find_child(result, TSB_NS_DSS, "ResultMinor"));
    out->result_message = text_of(find_child(result, TSB_NS_DSS, "ResultMessage"));
    if (out->result_major == NULL)
        return tsb_err(TSB_EFORMAT, "SignResponse has no dss:ResultMajor");
    /* an absent RequestID is accepted (eHealth's echo is not documented; the caller notes it),
     * a different one is an answer to another request */
    if (expect_id != NULL && out->request_id != NULL && strcmp(out->request_id, expect_id) != 0)
        return tsb_err(TSB_EPROTO, "SignResponse RequestID '%s' does not echo the request's '%s'",
                       out->request_id, expect_id);
    if (strcmp(out->result_major, TSB_DSS_SUCCESS_URI) != 0) {
        out->kind = TSB_DSS_ERROR;
        return 0;
    }
    xmlNodePtr so = find_child(sr, TSB_NS_DSS, "SignatureObject");
    xmlNodePtr ts = so ? find_child(so, TSB_NS_DSS, "Timestamp") : NULL;
    xmlNodePtr tok = ts ? find_child(ts, TSB_NS_DSS, "RFC3161TimeStampToken") : NULL;
    if (tok == NULL)
        return tsb_err(TSB_EFORMAT, "SignResponse reports Success but holds no "
                                    "SignatureObject/Timestamp/RFC3161TimeStampToken");
    xmlChar *c = xmlNodeGetContent(tok);
    int r = c ? tsb_token_decode(c, strlen((const char *)c), &out->token, &out->form)
              : tsb_err(TSB_EFORMAT, "empty RFC3161TimeStampToken");
    xmlFree(c);
    if (r != 0)
        return r;
    out->kind = TSB_DSS_OK;
    return 0;
}

int tsb_dss_parse_response_keep(const uint8_t *p, size_t len, size_t max_len, const char *expect_id,
                                struct tsb_dss_response *out, struct tsb_buf *sign_response,
                                bool *kept)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr body;
    token_cap(out, max_len);
    if (kept != NULL)
        *kept = false;
    int r = tsb_xml_parse(p, len, max_len, &doc);
    if (r != 0 || (r = envelope_body(doc, &body)) != 0)
        goto out;
    xmlNodePtr first = tsb_xml_first_elem(body);
    if (tsb_xml_is(first, TSB_NS_SOAP11, "Fault")) {
        r = parse_fault(first, out);
    } else if (tsb_xml_is(first, TSB_NS_DSS, "SignResponse")) {
        r = parse_sign_response(first, expect_id, out);
        /* from the tree the token was just decoded from: what is verified is what is archived */
        if (r == 0 && out->kind == TSB_DSS_OK && sign_response != NULL) {
            tsb_buf_reset(sign_response);
            if (copy_element(first, sign_response) == 0)
                *kept = true;
            else
                tsb_buf_reset(sign_response);
        }
    } else {
        r = tsb_err(TSB_EFORMAT, "SOAP Body holds <%s>, neither a SignResponse nor a Fault",
                    first ? (const char *)first->name : "nothing");
    }
out:
    xmlFreeDoc(doc);
    return r;
}

int tsb_dss_parse_response(const uint8_t *p, size_t len, size_t max_len, const char *expect_id,
                           struct tsb_dss_response *out)
{
    return tsb_dss_parse_response_keep(p, len, max_len, expect_id, out, NULL, NULL);
}

int tsb_dss_parse_sign_response(const uint8_t *p, size_t len, size_t max_len, const char *expect_id,
                                struct tsb_dss_response *out)
{
    xmlDocPtr doc = NULL;
    token_cap(out, max_len);
    int r = tsb_xml_parse(p, len, max_len, &doc);
    if (r != 0)
        goto out;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (tsb_xml_is(root, TSB_NS_DSS, "SignResponse"))
        r = parse_sign_response(root, expect_id, out);
    else
        r = tsb_err(TSB_EFORMAT, "document root is <%s>, not a dss:SignResponse",
                    root ? (const char *)root->name : "nothing");
out:
    xmlFreeDoc(doc);
    return r;
}

void tsb_dss_response_reason(const struct tsb_dss_response *r, char *out, size_t n)
{
    switch (r->kind) {
    case TSB_DSS_FAULT:
        snprintf(out, n, "SOAP fault %s: %s", r->fault_code ? r->fault_code : "",
                 r->fault_string ? r->fault_string : "");
        break;
    case TSB_DSS_ERROR:
    case TSB_DSS_OK:
        snprintf(out, n, "%s%s%s%s%s", r->result_major ? r->result_major : "",
                 r->result_minor ? " / " : "", r->result_minor ? r->result_minor : "",
                 r->result_message ? ": " : "", r->result_message ? r->result_message : "");
        break;
    }
}

/* The local part of a QName ("soapenv:Server" -> "Server"). */
static const char *local_part(const char *qname)
{
    const char *c = qname ? strrchr(qname, ':') : NULL;
    return c ? c + 1 : (qname ? qname : "");
}

enum tsb_dss_class tsb_dss_response_class(const struct tsb_dss_response *r)
{
    static const char major[] = "urn:oasis:names:tc:dss:1.0:resultmajor:";
    switch (r->kind) {
    case TSB_DSS_OK:
        return TSB_DSS_SUSPECT; /* only asked about when its token failed a check */
    case TSB_DSS_FAULT:
        return strcmp(local_part(r->fault_code), "Server") == 0 ? TSB_DSS_TRANSIENT
                                                                : TSB_DSS_DEFINITIVE;
    case TSB_DSS_ERROR:
        break;
    }
    const char *m = r->result_major ? r->result_major : "";
    if (strncmp(m, major, sizeof(major) - 1) == 0)
        m += sizeof(major) - 1;
    if (strcmp(m, "ResponderError") == 0)
        return TSB_DSS_TRANSIENT;
    if (strcmp(m, "RequesterError") == 0)
        return TSB_DSS_DEFINITIVE;
    return TSB_DSS_SUSPECT;
}

enum tsb_dss_class tsb_dss_http_class(long status)
{
    if (status >= 500 || status == 408 || status == 429)
        return TSB_DSS_TRANSIENT;
    if (status >= 400)
        return TSB_DSS_DEFINITIVE;
    return TSB_DSS_SUSPECT;
}

const char *tsb_dss_class_name(enum tsb_dss_class c)
{
    switch (c) {
    case TSB_DSS_TRANSIENT:
        return "transient";
    case TSB_DSS_SUSPECT:
        return "rejected";
    case TSB_DSS_DEFINITIVE:
        return "definitive";
    }
    return "unknown";
}
