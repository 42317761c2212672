/*
 * soap: the simulator's request parser and response builder. Every request is parsed with
 * tsb_xml_parse (hardened libxml2, size cap) and walked strictly: a SOAP 1.1 Envelope, at most one
 * Header and one wsse:Security in it, exactly one Body with exactly one payload element. Nothing
 * here does I/O or cryptography beyond SHA-256, so fuzz_sim_soap drives it directly.
 * Responses are built as text so that the archived SignResponse is byte-for-byte what was sent.
 */
#include "sim.h"

#include "codec.h"
#include "err.h"
#include "xml.h"

#include <errno.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TEXT 256 /* longest accepted IDHospital, RequestID, Profile, number text */

void sim_req_cleanup(struct sim_req *req)
{
    if (req->doc)
        xmlFreeDoc(req->doc);
    free(req->request_id);
    free(req->profile);
    free(req->bag_b64);
    tsb_buf_cleanup(&req->bag);
    free(req->id_hospital);
    free(req->ids);
    memset(req, 0, sizeof(*req));
}

/* The text content of an element that must hold text only (no child elements). */
static int elem_text(xmlNodePtr n, size_t max, char **out)
{
    if (tsb_xml_first_elem(n) != NULL)
        return tsb_err(TSB_EFORMAT, "element %s must not have child elements", n->name);
    xmlChar *c = xmlNodeGetContent(n);
    if (c == NULL)
        c = xmlStrdup((const xmlChar *)"");
    size_t len = strlen((const char *)c);
    if (len > max) {
        xmlFree(c);
        return tsb_err(TSB_ETOOBIG, "element %s holds %zu bytes, more than %zu", n->name, len, max);
    }
    *out = tsb_strdup((const char *)c);
    xmlFree(c);
    return 0;
}

static void trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    while (s[i] && strchr(" \t\r\n", s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

/* An xs:long in decimal (optional sign, surrounding whitespace allowed as xs:long collapses). */
static int parse_long(xmlNodePtr n, int64_t *out)
{
    char *s = NULL;
    int r = elem_text(n, MAX_TEXT, &s);
    if (r != 0)
        return r;
    trim(s);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 ||
        !(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9'))) {
        r = tsb_err(TSB_EFORMAT, "%s is not an xs:long: \"%.40s\"", n->name, s);
        free(s);
        return r;
    }
    free(s);
    *out = v;
    return 0;
}

static char *attr_dup(xmlNodePtr n, const char *name, size_t max, int *r)
{
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (v == NULL)
        return NULL;
    if (strlen((const char *)v) > max) {
        *r = tsb_err(TSB_ETOOBIG, "attribute %s is longer than %zu bytes", name, max);
        xmlFree(v);
        return NULL;
    }
    char *s = tsb_strdup((const char *)v);
    xmlFree(v);
    return s;
}

static int only_one(xmlNodePtr *slot, xmlNodePtr n, const char *what)
{
    if (*slot != NULL)
        return tsb_err(TSB_EFORMAT, "more than one %s in the request", what);
    *slot = n;
    return 0;
}

int sim_request_parse(const uint8_t *p, size_t len, size_t max_len, struct sim_req *req)
{
    int r = TSB_EINTERNAL;
    memset(req, 0, sizeof(*req));
    tsb_buf_init(&req->bag, 0);
    if ((r = tsb_xml_parse(p, len, max_len, &req->doc)) != 0)
        return r;
    xmlNodePtr env = xmlDocGetRootElement(req->doc);
    if (!tsb_xml_is(env, SIM_NS_SOAP, "Envelope")) {
        if (env->ns && env->ns->href &&
            strcmp((const char *)env->ns->href, "http://www.w3.org/2003/05/soap-envelope") == 0)
            return tsb_err(TSB_ENAMESPACE, "SOAP 1.2 envelope; this service speaks SOAP 1.1");
        return tsb_err(TSB_ENAMESPACE, "root element is not a SOAP 1.1 Envelope");
    }
    xmlNodePtr header = NULL;
    for (xmlNodePtr c = tsb_xml_first_elem(env); c; c = tsb_xml_next_elem(c)) {
        if (tsb_xml_is(c, SIM_NS_SOAP, "Header") && header == NULL && req->body == NULL)
            header = c;
        else if (tsb_xml_is(c, SIM_NS_SOAP, "Body") && req->body == NULL)
            req->body = c;
        else
            return tsb_err(TSB_EFORMAT, "unexpected element %s in the Envelope", c->name);
    }
    if (req->body == NULL)
        return tsb_err(TSB_EFORMAT, "the Envelope has no Body");
    for (xmlNodePtr c = header ? tsb_xml_first_elem(header) : NULL; c; c = tsb_xml_next_elem(c)) {
        if (!tsb_xml_is(c, SIM_NS_WSSE, "Security"))
            continue; /* other headers (WS-Addressing ...) are ignored, as eHealth does */
        if ((r = only_one(&req->security, c, "wsse:Security header")) != 0)
            return r;
        for (xmlNodePtr s = tsb_xml_first_elem(c); s; s = tsb_xml_next_elem(s)) {
            if (tsb_xml_is(s, SIM_NS_WSSE, "BinarySecurityToken"))
                r = only_one(&req->bst, s, "BinarySecurityToken");
            else if (tsb_xml_is(s, SIM_NS_WSU, "Timestamp"))
                r = only_one(&req->timestamp, s, "wsu:Timestamp");
            else if (tsb_xml_is(s, SIM_NS_DS, "Signature"))
                r = only_one(&req->signature, s, "ds:Signature");
            else
                r = tsb_err(TSB_EFORMAT, "unsupported element %s in wsse:Security", s->name);
            if (r != 0)
                return r;
        }
    }
    req->payload = tsb_xml_first_elem(req->body);
    if (req->payload == NULL)
        return tsb_err(TSB_EFORMAT, "the Body is empty");
    if (tsb_xml_next_elem(req->payload) != NULL)
        return tsb_err(TSB_EFORMAT, "the Body holds more than one element");
    if (tsb_xml_is(req->payload, SIM_NS_DSS, "SignRequest"))
        req->op = SIM_OP_STAMP;
    else if (tsb_xml_is(req->payload, SIM_NS_TS, "TSConsultRequest"))
        req->op = SIM_OP_CHECK;
    else if (tsb_xml_is(req->payload, SIM_NS_TS, "TSConsultTSBagRequest"))
        req->op = SIM_OP_GET;
    else
        return tsb_err(
            TSB_ENAMESPACE, "unknown operation {%s}%s",
            req->payload->ns && req->payload->ns->href ? (const char *)req->payload->ns->href : "",
            req->payload->name);
    return 0;
}

static int parse_document_hash(struct sim_req *req, xmlNodePtr dh)
{
    int r = TSB_EINTERNAL;
    char *alg = NULL, *val = NULL;
    xmlNodePtr dm = tsb_xml_first_elem(dh);
    if (tsb_xml_is(dm, SIM_NS_DSS, "Transforms") || tsb_xml_is(dm, SIM_NS_DS, "Transforms"))
        dm = tsb_xml_next_elem(dm);
    xmlNodePtr dv = tsb_xml_next_elem(dm);
    if (!tsb_xml_is(dm, SIM_NS_DS, "DigestMethod") || !tsb_xml_is(dv, SIM_NS_DS, "DigestValue") ||
        tsb_xml_next_elem(dv) != NULL) {
        r = tsb_err(TSB_EFORMAT, "DocumentHash must hold ds:DigestMethod and ds:DigestValue");
        goto out;
    }
    alg = attr_dup(dm, "Algorithm", MAX_TEXT, &r);
    if (alg == NULL) {
        r = tsb_err(TSB_EFORMAT, "ds:DigestMethod has no Algorithm");
        goto out;
    }
    /* profile 2.0 clients sent the algorithm name instead of the URI */
    if (strcmp(alg, "http://www.w3.org/2001/04/xmlenc#sha256") != 0 &&
        strcmp(alg, "SHA-256") != 0) {
        r = tsb_err(TSB_EALGORITHM, "digest algorithm %.80s is not supported (SHA-256 only)", alg);
        goto out;
    }
    if ((r = elem_text(dv, 1024, &val)) != 0)
        goto out;
    struct tsb_buf d;
    tsb_buf_init(&d, 64);
    r = tsb_b64_decode_buf(val, strlen(val), true, &d);
    if (r == 0 && d.len != TSB_SHA256_LEN)
        r = tsb_err(TSB_EFORMAT, "DigestValue holds %zu bytes, a SHA-256 has 32", d.len);
    if (r == 0)
        memcpy(req->digest, d.p, TSB_SHA256_LEN);
    else if (r == TSB_ETOOBIG)
        r = tsb_err(TSB_EFORMAT, "DigestValue is longer than a SHA-256");
    tsb_buf_cleanup(&d);
    req->carrier = SIM_CARRIER_HASH;
out:
    free(alg);
    free(val);
    return r;
}

int sim_stamp_parse(struct sim_req *req, size_t max_bag)
{
    int r = 0;
    xmlNodePtr sr = req->payload;
    req->request_id = attr_dup(sr, "RequestID", MAX_TEXT, &r);
    if (r != 0)
        return r;
    req->profile = attr_dup(sr, "Profile", MAX_TEXT, &r);
    if (r != 0)
        return r;
    xmlNodePtr c = tsb_xml_first_elem(sr);
    if (tsb_xml_is(c, SIM_NS_DSS, "OptionalInputs"))
        c = tsb_xml_next_elem(c);
    if (!tsb_xml_is(c, SIM_NS_DSS, "InputDocuments"))
        return tsb_err(TSB_EFORMAT, "SignRequest has no dss:InputDocuments");
    if (tsb_xml_next_elem(c) != NULL)
        return tsb_err(TSB_EFORMAT, "unexpected element after dss:InputDocuments");
    xmlNodePtr doc = tsb_xml_first_elem(c);
    if (doc == NULL)
        return tsb_err(TSB_EFORMAT, "dss:InputDocuments is empty");
    if (tsb_xml_next_elem(doc) != NULL)
        return tsb_err(TSB_EFORMAT, "dss:InputDocuments must hold exactly one input");
    if (tsb_xml_is(doc, SIM_NS_DSS, "DocumentHash"))
        return parse_document_hash(req, doc);
    if (!tsb_xml_is(doc, SIM_NS_DSS, "Document"))
        return tsb_err(TSB_EALGORITHM, "input %s is not supported (Document or DocumentHash)",
                       doc->name);
    xmlNodePtr carrier = tsb_xml_first_elem(doc);
    if (carrier == NULL || tsb_xml_next_elem(carrier) != NULL)
        return tsb_err(TSB_EFORMAT, "dss:Document must hold exactly one element");
    if (tsb_xml_is(carrier, SIM_NS_DSS, "Base64XML"))
        req->carrier = SIM_CARRIER_B64XML;
    else if (tsb_xml_is(carrier, SIM_NS_DSS, "Base64Data"))
        req->carrier = SIM_CARRIER_B64DATA;
    else
        return tsb_err(TSB_EALGORITHM,
                       "carrier dss:%s is not supported (Base64XML, Base64Data, DocumentHash)",
                       carrier->name);
    size_t max_b64 = max_bag / 3 * 4 + 4 + max_bag / 16; /* room for line wrapping */
    if ((r = elem_text(carrier, max_b64, &req->bag_b64)) != 0)
        return r;
    tsb_buf_cleanup(&req->bag);
    tsb_buf_init(&req->bag, max_bag);
    if ((r = tsb_b64_decode_buf(req->bag_b64, strlen(req->bag_b64), true, &req->bag)) != 0)
        return r == TSB_ETOOBIG ? r
                                : tsb_err(TSB_EFORMAT, "dss:%s is not base64: %s", carrier->name,
                                          tsb_err_detail());
    if (req->bag.len == 0)
        return tsb_err(TSB_EFORMAT, "dss:%s is empty", carrier->name);
    if (req->carrier == SIM_CARRIER_B64XML) {
        xmlDocPtr bag = NULL;
        if ((r = tsb_xml_parse(req->bag.p, req->bag.len, max_bag, &bag)) != 0)
            return tsb_err(TSB_EFORMAT, "dss:Base64XML does not hold well-formed XML: %s",
                           tsb_err_detail());
        xmlFreeDoc(bag);
    }
    tsb_sha256(req->bag.p, req->bag.len, req->digest);
    return 0;
}

static int parse_tsid(xmlNodePtr l, struct sim_tsid *id)
{
    int r = TSB_EINTERNAL;
    char *s = NULL;
    xmlNodePtr sn = tsb_xml_first_elem(l);
    xmlNodePtr dt = tsb_xml_next_elem(sn);
    if (!tsb_xml_is(sn, SIM_NS_TS, "sequenceNumber") || !tsb_xml_is(dt, SIM_NS_TS, "dateTime") ||
        tsb_xml_next_elem(dt) != NULL)
        return tsb_err(TSB_EFORMAT, "TSList must hold sequenceNumber then dateTime");
    if ((r = elem_text(sn, 40, &s)) != 0)
        return r;
    trim(s);
    snprintf(id->serial_text, sizeof(id->serial_text), "%s", s);
    id->serial = -1;
    if (s[0] >= '1' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s) && strlen(s) <= 18)
        id->serial = strtoll(s, NULL, 10);
    free(s);
    return parse_long(dt, &id->date_ms);
}

int sim_consult_parse(struct sim_req *req)
{
    int r = TSB_EINTERNAL;
    xmlNodePtr c = tsb_xml_first_elem(req->payload);
    if (!tsb_xml_is(c, SIM_NS_TS, "IDHospital"))
        return tsb_err(TSB_EFORMAT, "IDHospital is missing");
    if ((r = elem_text(c, MAX_TEXT, &req->id_hospital)) != 0)
        return r;
    trim(req->id_hospital);
    c = tsb_xml_next_elem(c);
    if (req->op == SIM_OP_CHECK) {
        if (!tsb_xml_is(c, SIM_NS_TS, "Period"))
            return tsb_err(TSB_EFORMAT, "Period is missing");
        xmlNodePtr s = tsb_xml_first_elem(c), e = tsb_xml_next_elem(s);
        if (!tsb_xml_is(s, SIM_NS_TS, "Start") || !tsb_xml_is(e, SIM_NS_TS, "End") ||
            tsb_xml_next_elem(e) != NULL)
            return tsb_err(TSB_EFORMAT, "Period must hold Start then End");
        if ((r = parse_long(s, &req->start)) != 0 || (r = parse_long(e, &req->end)) != 0)
            return r;
        c = tsb_xml_next_elem(c);
    }
    size_t cap = 0;
    for (; c; c = tsb_xml_next_elem(c)) {
        if (!tsb_xml_is(c, SIM_NS_TS, "TSList"))
            return tsb_err(TSB_EFORMAT, "unexpected element %s", c->name);
        if (req->n_ids == 100000)
            return tsb_err(TSB_ETOOBIG, "more than 100000 TSList items");
        if (req->n_ids == cap) {
            cap = cap ? cap * 2 : 16;
            req->ids = tsb_realloc(req->ids, cap * sizeof(*req->ids));
        }
        if ((r = parse_tsid(c, &req->ids[req->n_ids])) != 0)
            return r;
        req->n_ids++;
    }
    return 0;
}

int sim_xml_escape(struct tsb_buf *b, const char *s)
{
    int r = 0;
    for (; *s && r == 0; s++) {
        switch (*s) {
        case '&':
            r = tsb_buf_append_str(b, "&amp;");
            break;
        case '<':
            r = tsb_buf_append_str(b, "&lt;");
            break;
        case '>':
            r = tsb_buf_append_str(b, "&gt;");
            break;
        case '"':
            r = tsb_buf_append_str(b, "&quot;");
            break;
        default:
            /* control characters are not allowed in XML 1.0; peers' text is shown, not trusted */
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
                r = tsb_buf_append_str(b, "?");
            else
                r = tsb_buf_append(b, s, 1);
        }
    }
    return r;
}

int sim_xml_datetime(struct tsb_buf *b, int64_t ms)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)t * 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return tsb_buf_appendf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

int sim_parse_datetime(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return tsb_err(TSB_EFORMAT, "not an xs:dateTime: \"%.40s\"", s);
    const char *p = s + n;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return tsb_err(TSB_EFORMAT, "empty fraction in xs:dateTime \"%.40s\"", s);
        for (; digits < 3; digits++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = atoi(p + 1), om = atoi(p + 4);
        off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return tsb_err(TSB_EFORMAT, "xs:dateTime \"%.40s\" has no time zone", s);
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return tsb_err(TSB_EFORMAT, "not an xs:dateTime: \"%.40s\"", s);
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - off) * 1000 + frac;
    return 0;
}

int sim_envelope(struct tsb_buf *out, int64_t now_ms, int ttl_s, const char *body, size_t body_len)
{
    int r = tsb_buf_append_str(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                    "<soapenv:Envelope xmlns:soapenv=\"" SIM_NS_SOAP "\">"
                                    "<soapenv:Header><wsse:Security xmlns:wsse=\"" SIM_NS_WSSE
                                    "\" xmlns:wsu=\"" SIM_NS_WSU "\">"
                                    "<wsu:Timestamp wsu:Id=\"TS-response\"><wsu:Created>");
    if (r == 0)
        r = sim_xml_datetime(out, now_ms);
    if (r == 0)
        r = tsb_buf_append_str(out, "</wsu:Created><wsu:Expires>");
    if (r == 0)
        r = sim_xml_datetime(out, now_ms + (int64_t)ttl_s * 1000);
    if (r == 0)
        r = tsb_buf_append_str(out, "</wsu:Expires></wsu:Timestamp></wsse:Security>"
                                    "</soapenv:Header><soapenv:Body>");
    if (r == 0)
        r = tsb_buf_append(out, body, body_len);
    if (r == 0)
        r = tsb_buf_append_str(out, "</soapenv:Body></soapenv:Envelope>\n");
    return r;
}

int sim_fault_body(struct tsb_buf *out, const char *code, const char *reason)
{
    int r = tsb_buf_append_str(out, "<soapenv:Fault xmlns:soapenv=\"" SIM_NS_SOAP
                                    "\" xmlns:wsse=\"" SIM_NS_WSSE "\"><faultcode>");
    if (r == 0)
        r = tsb_buf_append_str(out, code);
    if (r == 0)
        r = tsb_buf_append_str(out, "</faultcode><faultstring xml:lang=\"en\">");
    if (r == 0)
        r = sim_xml_escape(out, reason);
    if (r == 0)
        r = tsb_buf_append_str(out, "</faultstring></soapenv:Fault>");
    return r;
}
