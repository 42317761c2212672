/*
 * consult: TimeStampConsult v2 messages. Requests are built as libxml2 trees (the WS-Security
 * signer needs a tree); answers are parsed with tsb_xml_parse and walked strictly: the payload is
 * the Body's only element, every child is in the expected namespace and order of the XSD, counts
 * and sizes are capped before anything is copied, and peer text is cut and made printable before
 * it can reach a log or a report.
 */
#include "consult.h"

#include "codec.h"
#include "err.h"
#include "xml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_SOAP11        "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_DSS           "urn:oasis:names:tc:dss:1.0:core:schema"
#define DEFAULT_MAX_RESP ((size_t)256 * 1024 * 1024)
#define LONG_TEXT_MAX    24 /* "-9223372036854775808" plus slack for whitespace */
#define INTEGER_TEXT_MAX 31

static bool is_decimal(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int tsb_tsid_set(struct tsb_tsid *id, const char *serial, int64_t date_ms)
{
    size_t n = serial ? strnlen(serial, TSB_CONSULT_SERIAL_MAX) : 0;
    if (n == 0 || n >= TSB_CONSULT_SERIAL_MAX || !is_decimal(serial, n))
        return tsb_err(TSB_EINVAL, "a timestamp serial must be 1 to %d decimal digits",
                       TSB_CONSULT_SERIAL_MAX - 1);
    memcpy(id->serial, serial, n + 1);
    id->date_ms = date_ms;
    return 0;
}

const char *tsb_consult_status_name(enum tsb_consult_status st)
{
    switch (st) {
    case TSB_CONSULT_OK:
        return "OK";
    case TSB_CONSULT_INCOMPLETE:
        return "INCOMPLETE";
    case TSB_CONSULT_ERROR:
        return "ERROR";
    }
    return "?";
}

/* ---- requests ----------------------------------------------------------------------------- */

/* A new envelope with an empty Header; *payload is the Body's child element `name` in ns. */
static xmlDocPtr new_envelope(enum tsb_bag_ns ns, const char *name, xmlNodePtr *payload,
                              xmlNsPtr *pns)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr env = xmlNewDocNode(doc, NULL, BAD_CAST "Envelope", NULL);
    xmlDocSetRootElement(doc, env);
    xmlNsPtr soap = xmlNewNs(env, BAD_CAST NS_SOAP11, BAD_CAST "soapenv");
    xmlSetNs(env, soap);
    xmlNewChild(env, soap, BAD_CAST "Header", NULL);
    xmlNodePtr body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
    xmlNodePtr p = xmlNewChild(body, NULL, BAD_CAST name, NULL);
    *pns = xmlNewNs(p, BAD_CAST tsb_bag_ns_uri(ns), NULL);
    xmlSetNs(p, *pns);
    *payload = p;
    return doc;
}

static void add_long(xmlNodePtr parent, xmlNsPtr ns, const char *name, int64_t v)
{
    char text[32];
    snprintf(text, sizeof(text), "%" PRId64, v);
    xmlNewChild(parent, ns, BAD_CAST name, BAD_CAST text);
}

static int add_ids(xmlNodePtr p, xmlNsPtr ns, const struct tsb_tsid *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strnlen(ids[i].serial, TSB_CONSULT_SERIAL_MAX);
        if (len >= TSB_CONSULT_SERIAL_MAX || !is_decimal(ids[i].serial, len))
            return tsb_err(TSB_EINVAL, "TSList item %zu has no decimal serial", i);
        xmlNodePtr t = xmlNewChild(p, ns, BAD_CAST "TSList", NULL);
        xmlNewChild(t, ns, BAD_CAST "sequenceNumber", BAD_CAST ids[i].serial);
        add_long(t, ns, "dateTime", ids[i].date_ms);
    }
    return 0;
}

static int check_id_hospital(const char *id)
{
    size_t n = id ? strnlen(id, 257) : 0;
    if (n == 0 || n > 256)
        return tsb_err(TSB_EINVAL, "IDHospital is empty or longer than 256 bytes "
                                   "(general.id_hospital)");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20)
            return tsb_err(TSB_EINVAL, "IDHospital holds a control character");
    return 0;
}

int tsb_consult_build_check(enum tsb_bag_ns ns, const char *id_hospital, int64_t from_ms,
                            int64_t to_ms, const struct tsb_tsid *ids, size_t n, xmlDocPtr *out)
{
    int r = TSB_EINTERNAL;
    xmlNodePtr p;
    xmlNsPtr pns;
    tsb_xml_init();
    if ((r = check_id_hospital(id_hospital)) != 0)
        return r;
    if (from_ms > to_ms)
        return tsb_err(TSB_EINVAL, "period start %" PRId64 " is after its end %" PRId64, from_ms,
                       to_ms);
    if (n > 0 && ids == NULL)
        return tsb_err(TSB_EINVAL, "TSList of %zu items without items", n);
    xmlDocPtr doc = new_envelope(ns, "TSConsultRequest", &p, &pns);
    xmlNewTextChild(p, pns, BAD_CAST "IDHospital", BAD_CAST id_hospital);
    xmlNodePtr period = xmlNewChild(p, pns, BAD_CAST "Period", NULL);
    add_long(period, pns, "Start", from_ms);
    add_long(period, pns, "End", to_ms);
    if ((r = add_ids(p, pns, ids, n)) != 0) {
        xmlFreeDoc(doc);
        return r;
    }
    *out = doc;
    return 0;
}

int tsb_consult_build_get(enum tsb_bag_ns ns, const char *id_hospital, const struct tsb_tsid *ids,
                          size_t n, xmlDocPtr *out)
{
    int r = TSB_EINTERNAL;
    xmlNodePtr p;
    xmlNsPtr pns;
    tsb_xml_init();
    if ((r = check_id_hospital(id_hospital)) != 0)
        return r;
    if (n == 0 || n > TSB_CONSULT_GET_MAX || ids == NULL)
        return tsb_err(TSB_EINVAL, "getTimestamp asks for 1 to %d timestamps, not %zu",
                       TSB_CONSULT_GET_MAX, n);
    xmlDocPtr doc = new_envelope(ns, "TSConsultTSBagRequest", &p, &pns);
    xmlNewTextChild(p, pns, BAD_CAST "IDHospital", BAD_CAST id_hospital);
    if ((r = add_ids(p, pns, ids, n)) != 0) {
        xmlFreeDoc(doc);
        return r;
    }
    *out = doc;
    return 0;
}

/* ---- answers ------------------------------------------------------------------------------ */

void tsb_consult_answer_init(struct tsb_consult_answer *a)
{
    memset(a, 0, sizeof(*a));
    for (size_t i = 0; i < TSB_CONSULT_GET_MAX; i++) {
        tsb_buf_init(&a->bags[i].bag, TSB_BAG_DEFAULT_MAX_BYTES);
        tsb_buf_init(&a->bags[i].sign_response, DEFAULT_MAX_RESP);
    }
}

void tsb_consult_answer_cleanup(struct tsb_consult_answer *a)
{
    if (a == NULL)
        return;
    free(a->ids);
    for (size_t i = 0; i < TSB_CONSULT_GET_MAX; i++) {
        tsb_buf_cleanup(&a->bags[i].bag);
        tsb_buf_cleanup(&a->bags[i].sign_response);
    }
    memset(a, 0, sizeof(*a));
}

/* Copies n's text, trimmed, control characters replaced, cut to fit out[cap]. */
static void text_copy(xmlNodePtr n, char *out, size_t cap)
{
    xmlChar *c = n ? xmlNodeGetContent(n) : NULL;
    const char *s = c ? (const char *)c : "";
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t len = strnlen(s, cap - 1);
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    out[len] = '\0';
    xmlFree(c);
}

/* The trimmed text of element n if it has only text children and at most max chars; copied to
 * out[cap] (cap > max). */
static int leaf_text(xmlNodePtr n, const char *what, size_t max, char *out, size_t cap)
{
    size_t total = 0;
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            return tsb_err(TSB_EFORMAT, "%s holds an element", what);
        if (c->type == XML_TEXT_NODE && c->content)
            total += strnlen((const char *)c->content, max + 1);
        if (total > max)
            return tsb_err(TSB_EFORMAT, "%s is longer than %zu characters", what, max);
    }
    text_copy(n, out, cap);
    return 0;
}

static int parse_long(xmlNodePtr n, const char *what, int64_t *out)
{
    char t[LONG_TEXT_MAX + 2], *end = NULL;
    int r = leaf_text(n, what, LONG_TEXT_MAX, t, sizeof(t));
    if (r != 0)
        return r;
    const char *digits = t[0] == '-' || t[0] == '+' ? t + 1 : t;
    if (!is_decimal(digits, strlen(digits)))
        return tsb_err(TSB_EFORMAT, "%s \"%.24s\" is not an xs:long", what, t);
    errno = 0;
    long long v = strtoll(t, &end, 10);
    if (errno != 0 || *end != '\0')
        return tsb_err(TSB_EFORMAT, "%s \"%.24s\" does not fit an xs:long", what, t);
    *out = v;
    return 0;
}

/* Expects element n to be ns:local; names what was found instead. */
static int expect(xmlNodePtr n, const char *ns, const char *local, const char *where)
{
    if (n == NULL)
        return tsb_err(TSB_EFORMAT, "%s: missing <%s>", where, local);
    if (tsb_xml_is(n, ns, local))
        return 0;
    if (n->ns == NULL || n->ns->href == NULL || strcmp((const char *)n->ns->href, ns) != 0)
        if (xmlStrcmp(n->name, BAD_CAST local) == 0)
            return tsb_err(TSB_ENAMESPACE, "%s: <%s> is not in namespace %s", where, local, ns);
    return tsb_err(TSB_EFORMAT, "%s: expected <%s>, found <%.64s>", where, local,
                   (const char *)n->name);
}

static int parse_tsid(xmlNodePtr t, const char *nsu, struct tsb_tsid *id)
{
    int r = TSB_EINTERNAL;
    xmlNodePtr sn = tsb_xml_first_elem(t);
    if ((r = expect(sn, nsu, "sequenceNumber", "TSList")) != 0)
        return r;
    xmlNodePtr dt = tsb_xml_next_elem(sn);
    if ((r = expect(dt, nsu, "dateTime", "TSList")) != 0)
        return r;
    if (tsb_xml_next_elem(dt) != NULL)
        return tsb_err(TSB_EFORMAT, "TSList: unexpected element after dateTime");
    if ((r = leaf_text(sn, "TSList/sequenceNumber", TSB_CONSULT_SERIAL_MAX - 1, id->serial,
                       sizeof(id->serial))) != 0)
        return r;
    if (!is_decimal(id->serial, strlen(id->serial)))
        return tsb_err(TSB_EFORMAT, "TSList/sequenceNumber \"%s\" is not a decimal serial",
                       id->serial);
    return parse_long(dt, "TSList/dateTime", &id->date_ms);
}

static int parse_error(xmlNodePtr e, const char *nsu, struct tsb_consult_error *out)
{
    int r = TSB_EINTERNAL;
    char num[INTEGER_TEXT_MAX + 2];
    xmlNodePtr type = tsb_xml_first_elem(e);
    if ((r = expect(type, nsu, "Type", "Error")) != 0)
        return r;
    xmlNodePtr number = tsb_xml_next_elem(type);
    if ((r = expect(number, nsu, "Number", "Error")) != 0)
        return r;
    if (tsb_xml_next_elem(number) != NULL)
        return tsb_err(TSB_EFORMAT, "Error: unexpected element after Number");
    if ((r = leaf_text(number, "Error/Number", INTEGER_TEXT_MAX, num, sizeof(num))) != 0)
        return r;
    const char *digits = num[0] == '-' || num[0] == '+' ? num + 1 : num;
    if (!is_decimal(digits, strlen(digits)))
        return tsb_err(TSB_EFORMAT, "Error/Number \"%s\" is not an xs:integer", num);
    text_copy(type, out->type, sizeof(out->type));
    snprintf(out->number, sizeof(out->number), "%s", num);
    out->present = true;
    return 0;
}

/* Parses the envelope and finds its single payload element (or a Fault, filled into a). */
static int open_answer(const uint8_t *p, size_t len, const struct tsb_consult_limits *lim,
                       xmlDocPtr *doc, xmlNodePtr *payload, struct tsb_consult_answer *a)
{
    int r = TSB_EINTERNAL;
    size_t max = lim && lim->max_response ? lim->max_response : DEFAULT_MAX_RESP;
    *payload = NULL;
    if ((r = tsb_xml_parse(p, len, max, doc)) != 0)
        return r;
    xmlNodePtr env = xmlDocGetRootElement(*doc);
    if (!tsb_xml_is(env, NS_SOAP11, "Envelope"))
        return tsb_err(TSB_EFORMAT, "answer root is <%.64s>, not a SOAP 1.1 Envelope",
                       env ? (const char *)env->name : "");
    xmlNodePtr body = NULL;
    for (xmlNodePtr c = tsb_xml_first_elem(env); c; c = tsb_xml_next_elem(c))
        if (tsb_xml_is(c, NS_SOAP11, "Body"))
            body = c;
    if (body == NULL)
        return tsb_err(TSB_EFORMAT, "SOAP Envelope has no Body");
    xmlNodePtr first = tsb_xml_first_elem(body);
    if (first == NULL)
        return tsb_err(TSB_EFORMAT, "SOAP Body is empty");
    if (tsb_xml_next_elem(first) != NULL)
        return tsb_err(TSB_EFORMAT, "SOAP Body holds more than one element");
    if (tsb_xml_is(first, NS_SOAP11, "Fault")) {
        a->fault = true;
        xmlNodePtr code = NULL, str = NULL;
        for (xmlNodePtr c = tsb_xml_first_elem(first); c; c = tsb_xml_next_elem(c)) {
            if (tsb_xml_is(c, NULL, "faultcode"))
                code = c;
            else if (tsb_xml_is(c, NULL, "faultstring"))
                str = c;
        }
        text_copy(code, a->fault_code, sizeof(a->fault_code));
        text_copy(str, a->fault_string, sizeof(a->fault_string));
        if (a->fault_code[0] == '\0')
            snprintf(a->fault_code, sizeof(a->fault_code), "(no faultcode)");
        return 0;
    }
    *payload = first;
    return 0;
}

int tsb_consult_parse_check(const uint8_t *p, size_t len, enum tsb_bag_ns ns,
                            const struct tsb_consult_limits *lim, struct tsb_consult_answer *a)
{
    int r = TSB_EINTERNAL;
    xmlDocPtr doc = NULL;
    xmlNodePtr pl = NULL;
    const char *nsu = tsb_bag_ns_uri(ns);
    char status[16];
    size_t cap = 0;
    if ((r = open_answer(p, len, lim, &doc, &pl, a)) != 0 || pl == NULL)
        goto out;
    if ((r = expect(pl, nsu, "TSConsultResponse", "SOAP Body")) != 0)
        goto out;
    xmlNodePtr c = tsb_xml_first_elem(pl);
    if ((r = expect(c, nsu, "Status", "TSConsultResponse")) != 0 ||
        (r = leaf_text(c, "Status", sizeof(status) - 1, status, sizeof(status))) != 0)
        goto out;
    if (strcmp(status, "OK") == 0)
        a->status = TSB_CONSULT_OK;
    else if (strcmp(status, "INCOMPLETE") == 0)
        a->status = TSB_CONSULT_INCOMPLETE;
    else if (strcmp(status, "ERROR") == 0)
        a->status = TSB_CONSULT_ERROR;
    else {
        r = tsb_err(TSB_EFORMAT, "Status \"%s\" is none of OK, INCOMPLETE, ERROR", status);
        goto out;
    }
    c = tsb_xml_next_elem(c);
    if (tsb_xml_is(c, nsu, "Error")) {
        if ((r = parse_error(c, nsu, &a->error)) != 0)
            goto out;
        c = tsb_xml_next_elem(c);
    }
    for (; c != NULL; c = tsb_xml_next_elem(c)) {
        if ((r = expect(c, nsu, "TSList", "TSConsultResponse")) != 0)
            goto out;
        if (a->n_ids >= TSB_CONSULT_LIST_MAX) {
            r = tsb_err(TSB_ETOOBIG, "TSConsultResponse lists more than %d timestamps",
                        TSB_CONSULT_LIST_MAX);
            goto out;
        }
        if (a->n_ids == cap) {
            cap = cap ? cap * 2 : 16;
            a->ids = tsb_realloc(a->ids, cap * sizeof(*a->ids));
        }
        if ((r = parse_tsid(c, nsu, &a->ids[a->n_ids])) != 0)
            goto out;
        a->n_ids++;
    }
    if (a->status == TSB_CONSULT_ERROR && !a->error.present) {
        r = tsb_err(TSB_EFORMAT, "Status ERROR without an Error element");
        goto out;
    }
    if (a->status == TSB_CONSULT_OK && a->n_ids > 0) {
        r = tsb_err(TSB_EFORMAT, "Status OK but %zu timestamps listed as missing", a->n_ids);
        goto out;
    }
    r = 0;
out:
    xmlFreeDoc(doc);
    return r;
}

/* Copies the dss:SignResponse element sr into out as a standalone document. */
static int copy_sign_response(xmlNodePtr sr, struct tsb_buf *out)
{
    xmlDocPtr copy = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr c = xmlDocCopyNode(sr, copy, 1);
    if (c == NULL) {
        xmlFreeDoc(copy);
        return tsb_err(TSB_EFORMAT, "cannot copy the dss:SignResponse");
    }
    xmlDocSetRootElement(copy, c);
    xmlReconciliateNs(copy, c);
    int r = tsb_xml_serialise(copy, out);
    xmlFreeDoc(copy);
    return r;
}

static int parse_tsbag(xmlNodePtr t, const char *nsu, size_t max_bag, size_t i,
                       struct tsb_consult_answer *a)
{
    int r = TSB_EINTERNAL;
    xmlNodePtr v = tsb_xml_first_elem(t);
    if ((r = expect(v, nsu, "TSBagValue", "TSBag")) != 0)
        return r;
    xmlNodePtr sr = tsb_xml_next_elem(v);
    if ((r = expect(sr, NS_DSS, "SignResponse", "TSBag")) != 0)
        return r;
    if (tsb_xml_next_elem(sr) != NULL)
        return tsb_err(TSB_EFORMAT, "TSBag %zu: unexpected element after dss:SignResponse", i);
    if (tsb_xml_first_elem(v) != NULL)
        return tsb_err(TSB_EFORMAT, "TSBag %zu: TSBagValue holds an element", i);
    xmlChar *b64 = xmlNodeGetContent(v);
    size_t blen = b64 ? strlen((const char *)b64) : 0;
    tsb_buf_cleanup(&a->bags[i].bag); /* still empty: only its cap changes */
    tsb_buf_init(&a->bags[i].bag, max_bag);
    if (blen == 0)
        r = tsb_err(TSB_EFORMAT, "TSBag %zu: empty TSBagValue", i);
    else
        r = tsb_b64_decode_buf((const char *)b64, blen, true, &a->bags[i].bag);
    xmlFree(b64);
    if (r == TSB_ETOOBIG)
        return tsb_err(TSB_ETOOBIG, "TSBag %zu: TSBagValue larger than %zu bytes", i, max_bag);
    if (r != 0)
        return tsb_err(r, "TSBag %zu: TSBagValue: %s", i, tsb_err_detail());
    if (a->bags[i].bag.len == 0)
        return tsb_err(TSB_EFORMAT, "TSBag %zu: TSBagValue decodes to nothing", i);
    return copy_sign_response(sr, &a->bags[i].sign_response);
}

int tsb_consult_parse_get(const uint8_t *p, size_t len, enum tsb_bag_ns ns,
                          const struct tsb_consult_limits *lim, struct tsb_consult_answer *a)
{
    int r = TSB_EINTERNAL;
    xmlDocPtr doc = NULL;
    xmlNodePtr pl = NULL;
    const char *nsu = tsb_bag_ns_uri(ns);
    size_t max_bag = lim && lim->max_bag ? lim->max_bag : TSB_BAG_DEFAULT_MAX_BYTES;
    if ((r = open_answer(p, len, lim, &doc, &pl, a)) != 0 || pl == NULL)
        goto out;
    if ((r = expect(pl, nsu, "TSConsultTSBagResponse", "SOAP Body")) != 0)
        goto out;
    xmlNodePtr c = tsb_xml_first_elem(pl);
    if (tsb_xml_is(c, nsu, "Error")) {
        if ((r = parse_error(c, nsu, &a->error)) != 0)
            goto out;
        c = tsb_xml_next_elem(c);
    }
    for (; c != NULL; c = tsb_xml_next_elem(c)) {
        if ((r = expect(c, nsu, "TSBag", "TSConsultTSBagResponse")) != 0)
            goto out;
        if (a->n_bags >= TSB_CONSULT_GET_MAX) {
            r = tsb_err(TSB_ETOOBIG, "TSConsultTSBagResponse holds more than %d TSBag",
                        TSB_CONSULT_GET_MAX);
            goto out;
        }
        if ((r = parse_tsbag(c, nsu, max_bag, a->n_bags, a)) != 0)
            goto out;
        a->n_bags++;
    }
    r = 0;
out:
    xmlFreeDoc(doc);
    return r;
}
