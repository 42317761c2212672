/*
 * finding: the token is read with OpenSSL's PKCS7/TS decoders only as far as needed (imprint,
 * certificate list, signer algorithms); nothing here decides whether a token is good, token.c
 * does. Candidates are built lazily, cheapest first, and the first match wins.
 */
#include "finding.h"

#include "dss.h"
#include "err.h"
#include "mem.h"
#include "xml.h"

#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum candidate {
    C_BAG_BYTES,
    C_BASE64_TEXT,
    C_BAG_C14N,
    C_SIGN_REQUEST_C14N,
    C_SOAP_BODY_C14N,
    C_REQUEST_BYTES,
    C_N
};

static const struct {
    const char *key;
    const char *text;
} candidates[C_N] = {
    [C_BAG_BYTES] = {"bag-bytes", "the bag bytes"},
    [C_BASE64_TEXT] = {"base64-text", "the base64 text of the bag as sent (the content of the "
                                      "carrier element), not the bag bytes"},
    [C_BAG_C14N] = {"bag-c14n", "the exclusive canonical form (exc-c14n) of the bag document, not "
                                "the bag bytes"},
    [C_SIGN_REQUEST_C14N] = {"sign-request-c14n",
                             "the exclusive canonical form of the whole dss:SignRequest element, "
                             "not the bag bytes"},
    [C_SOAP_BODY_C14N] = {"soap-body-c14n", "the exclusive canonical form of the whole SOAP Body "
                                            "of the request, not the bag bytes"},
    [C_REQUEST_BYTES] = {"request-bytes", "the whole SOAP request as sent, not the bag bytes"},
};

/* The parts of the request that candidates are made of. */
struct parts {
    xmlDocPtr req, bag;
    xmlNodePtr body, sign_request, carrier;
    bool req_parsed, bag_parsed;
};

static xmlNodePtr child(xmlNodePtr n, const char *ns, const char *local)
{
    for (xmlNodePtr c = tsb_xml_first_elem(n); c; c = tsb_xml_next_elem(c))
        if (tsb_xml_is(c, ns, local))
            return c;
    return NULL;
}

static void parse_request(const struct tsb_finding_request *rq, struct parts *p)
{
    if (p->req_parsed)
        return;
    p->req_parsed = true;
    if (rq->msg == NULL || tsb_xml_parse(rq->msg, rq->msg_len, rq->max_len, &p->req) != 0)
        return;
    p->body = child(xmlDocGetRootElement(p->req), TSB_NS_SOAP11, "Body");
    p->sign_request = child(p->body, TSB_NS_DSS, "SignRequest");
    xmlNodePtr doc =
        child(child(p->sign_request, TSB_NS_DSS, "InputDocuments"), TSB_NS_DSS, "Document");
    p->carrier = child(doc, TSB_NS_DSS, "Base64XML");
    if (p->carrier == NULL)
        p->carrier = child(doc, TSB_NS_DSS, "Base64Data");
}

/* Appends candidate c to out; non-zero when the request does not offer it. */
static int build(enum candidate c, const struct tsb_finding_request *rq, struct parts *p,
                 struct tsb_buf *out)
{
    switch (c) {
    case C_BAG_BYTES:
        return tsb_buf_append(out, rq->bag, rq->bag_len);
    case C_BAG_C14N:
        if (!p->bag_parsed) {
            p->bag_parsed = true;
            if (tsb_xml_parse(rq->bag, rq->bag_len, rq->max_len, &p->bag) != 0)
                p->bag = NULL;
        }
        return p->bag ? tsb_xml_exc_c14n(p->bag, NULL, out) : TSB_ENOTFOUND;
    case C_REQUEST_BYTES:
        return rq->msg ? tsb_buf_append(out, rq->msg, rq->msg_len) : TSB_ENOTFOUND;
    case C_BASE64_TEXT:
    case C_SIGN_REQUEST_C14N:
    case C_SOAP_BODY_C14N:
    case C_N:
        break;
    }
    parse_request(rq, p);
    if (c == C_SIGN_REQUEST_C14N)
        return p->sign_request ? tsb_xml_exc_c14n(p->req, p->sign_request, out) : TSB_ENOTFOUND;
    if (c == C_SOAP_BODY_C14N)
        return p->body ? tsb_xml_exc_c14n(p->req, p->body, out) : TSB_ENOTFOUND;
    if (p->carrier == NULL)
        return TSB_ENOTFOUND;
    xmlChar *t = xmlNodeGetContent(p->carrier);
    int r = t ? tsb_buf_append(out, t, strlen((const char *)t)) : TSB_ENOTFOUND;
    xmlFree(t);
    return r;
}

static TS_TST_INFO *read_tst(const uint8_t *der, size_t len, PKCS7 **p7)
{
    const unsigned char *q = der;
    *p7 = len <= LONG_MAX ? d2i_PKCS7(NULL, &q, (long)len) : NULL;
    return *p7 ? PKCS7_to_TS_TST_INFO(*p7) : NULL;
}

int tsb_finding_imprint(const uint8_t *der, size_t len, const struct tsb_finding_request *rq,
                        struct tsb_finding *out)
{
    int r = TSB_EFORMAT;
    PKCS7 *p7 = NULL;
    TS_TST_INFO *tst = read_tst(der, len, &p7);
    struct parts p = {0};
    struct tsb_buf b;
    tsb_buf_init(&b, 2 * rq->max_len + 65536); /* c14n may grow a little */
    if (tst == NULL) {
        r = tsb_err(TSB_EFORMAT, "the token holds no readable TSTInfo");
        goto out;
    }
    TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
    const ASN1_OBJECT *obj = NULL;
    X509_ALGOR_get0(&obj, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
    const ASN1_OCTET_STRING *want = TS_MSG_IMPRINT_get_msg(mi);
    char alg[40];
    int nid = OBJ_obj2nid(obj);
    if (nid != NID_undef)
        snprintf(alg, sizeof(alg), "%s", OBJ_nid2ln(nid));
    else
        OBJ_obj2txt(alg, sizeof(alg), obj, 1);
    const EVP_MD *md = nid != NID_undef ? EVP_get_digestbynid(nid) : NULL;
    r = 0;
    if (md == NULL) {
        snprintf(out->key, sizeof(out->key), "imprint:%s:unknown-algorithm", alg);
        snprintf(out->text, sizeof(out->text),
                 "the token's messageImprint uses %s, an algorithm tsbag cannot compute", alg);
        goto out;
    }
    for (int c = 0; c < C_N; c++) {
        uint8_t d[EVP_MAX_MD_SIZE];
        unsigned dn = 0;
        tsb_buf_reset(&b);
        if (build((enum candidate)c, rq, &p, &b) != 0 ||
            EVP_Digest(b.p, b.len, d, &dn, md, NULL) != 1)
            continue;
        if ((int)dn == ASN1_STRING_length(want) &&
            memcmp(d, ASN1_STRING_get0_data(want), dn) == 0) {
            snprintf(out->key, sizeof(out->key), "imprint:%s:%s", alg, candidates[c].key);
            snprintf(out->text, sizeof(out->text), "the token's %s messageImprint covers %s", alg,
                     candidates[c].text);
            goto out;
        }
    }
    snprintf(out->key, sizeof(out->key), "imprint:%s:none", alg);
    snprintf(out->text, sizeof(out->text),
             "the token's %s messageImprint matches none of the bag bytes, the base64 text sent, "
             "the exc-c14n of the bag, of the SignRequest or of the SOAP Body, or the whole "
             "request: it stamps other data",
             alg);
out:
    tsb_buf_cleanup(&b);
    xmlFreeDoc(p.req);
    xmlFreeDoc(p.bag);
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
    return r;
}

void tsb_finding_token_shape(const uint8_t *der, size_t len, struct tsb_finding *out)
{
    PKCS7 *p7 = NULL;
    TS_TST_INFO *tst = read_tst(der, len, &p7);
    out->key[0] = out->text[0] = '\0';
    if (tst == NULL || !PKCS7_type_is_signed(p7))
        goto out;
    STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
    PKCS7_SIGNER_INFO *si =
        sk_PKCS7_SIGNER_INFO_num(sis) == 1 ? sk_PKCS7_SIGNER_INFO_value(sis, 0) : NULL;
    X509_ALGOR *sig = NULL;
    if (si != NULL)
        PKCS7_SIGNER_INFO_get0_algs(si, NULL, NULL, &sig);
    const ASN1_OBJECT *obj = NULL;
    if (sig != NULL)
        X509_ALGOR_get0(&obj, NULL, NULL, sig);
    if (sk_X509_num(p7->d.sign->cert) <= 0) {
        snprintf(out->key, sizeof(out->key), "token:no-certificates");
        snprintf(out->text, sizeof(out->text),
                 "the TSA sent a token without certificates: the TSA certificate must come from "
                 "the configuration (tsa.tsa_certs or tsa.trust_anchors)");
    } else if (obj != NULL && OBJ_obj2nid(obj) == NID_rsassaPss) {
        snprintf(out->key, sizeof(out->key), "signature:rsassa-pss");
        snprintf(out->text, sizeof(out->text), "the TSA signed the token with RSASSA-PSS");
    }
out:
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
}
