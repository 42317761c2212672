/*
 * wss: builds the wsse:Security header with libxml2 and signs it with xmlsec1 using a template.
 * Each wsu:Id gets a random suffix so that ids never collide with anything in the body, and is
 * registered with xmlAddID so that xmlsec resolves the "#id" references without a schema.
 */
#include "wss.h"

#include "codec.h"
#include "err.h"
#include "log.h"
#include "keystore_signer.h"
#include "mem.h"
#include "xml.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xmlsec/crypto.h>
#include <xmlsec/templates.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>

#define X509V3_TYPE                                                                                \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
#define B64_ENCODING                                                                               \
    "http://docs.oasis-open.org/wss/2004/01/"                                                      \
    "oasis-200401-wss-soap-message-security-1.0#Base64Binary"

void tsb_wss_format_time(int64_t ms, char out[64])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void new_id(const char *prefix, char out[48])
{
    uint8_t rnd[8];
    char hex[17];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        tsb_fatal("the random generator failed");
    tsb_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(out, 48, "%s-%s", prefix, hex);
}

/* Sets wsu:Id on n and registers it as an ID. */
static int set_id(xmlDocPtr doc, xmlNodePtr n, xmlNsPtr wsu, const char *id)
{
    xmlAttrPtr a = xmlNewNsProp(n, wsu, BAD_CAST "Id", BAD_CAST id);
    if (a == NULL || xmlAddID(NULL, doc, BAD_CAST id, a) == NULL)
        return tsb_err(TSB_EINTERNAL, "cannot register wsu:Id %s", id);
    return 0;
}

static int add_cert_token(xmlNodePtr sec, xmlNsPtr wsse, xmlNsPtr wsu, X509 *cert, const char *id)
{
    int r = TSB_EINTERNAL;
    uint8_t *der = NULL;
    struct tsb_buf b64;
    tsb_buf_init(&b64, TSB_WSS_CERT_B64_MAX);

    int n = i2d_X509(cert, &der);
    if (n <= 0) {
        r = tsb_err(TSB_ECRYPTO, "cannot encode the hospital certificate");
        goto out;
    }
    if ((r = tsb_b64_encode_buf(der, (size_t)n, &b64)) != 0)
        goto out;
    xmlNodePtr bst = xmlNewChild(sec, wsse, BAD_CAST "BinarySecurityToken", b64.p);
    if (bst == NULL) {
        r = tsb_err(TSB_EINTERNAL, "cannot add BinarySecurityToken");
        goto out;
    }
    if ((r = set_id(sec->doc, bst, wsu, id)) != 0)
        goto out;
    xmlNewProp(bst, BAD_CAST "EncodingType", BAD_CAST B64_ENCODING);
    xmlNewProp(bst, BAD_CAST "ValueType", BAD_CAST X509V3_TYPE);
    r = 0;
out:
    OPENSSL_free(der);
    tsb_buf_cleanup(&b64);
    return r;
}

static int add_timestamp(xmlNodePtr sec, xmlNsPtr wsu, const struct tsb_wss_opts *o, const char *id)
{
    char created[64], expires[64];
    tsb_wss_format_time(o->now_ms, created);
    tsb_wss_format_time(o->now_ms + o->ttl_s * 1000, expires);
    xmlNodePtr ts = xmlNewChild(sec, wsu, BAD_CAST "Timestamp", NULL);
    if (ts == NULL)
        return tsb_err(TSB_EINTERNAL, "cannot add wsu:Timestamp");
    int r = set_id(sec->doc, ts, wsu, id);
    if (r != 0)
        return r;
    if (xmlNewChild(ts, wsu, BAD_CAST "Created", BAD_CAST created) == NULL ||
        xmlNewChild(ts, wsu, BAD_CAST "Expires", BAD_CAST expires) == NULL)
        return tsb_err(TSB_EINTERNAL, "cannot fill wsu:Timestamp");
    return 0;
}

static int add_reference(xmlNodePtr sig, const char *id)
{
    char uri[64];
    snprintf(uri, sizeof(uri), "#%s", id);
    xmlNodePtr ref =
        xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL, BAD_CAST uri, NULL);
    if (ref == NULL || xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId) == NULL)
        return tsb_err(TSB_ESECURITY, "cannot add the signature reference to %s", id);
    return 0;
}

int tsb_wss_sign(xmlDocPtr env, const struct tsb_keystore *ks, const struct tsb_wss_opts *o)
{
    int r = TSB_EINTERNAL;
    xmlSecKeyPtr key = NULL;
    xmlSecDSigCtxPtr ctx = NULL;
    char body_id[48], ts_id[48], bst_id[48], uri[64];

    tsb_xml_init();
    xmlNodePtr root = xmlDocGetRootElement(env);
    if (!tsb_xml_is(root, TSB_NS_SOAP11, "Envelope"))
        return tsb_err(TSB_EFORMAT, "not a SOAP 1.1 Envelope");
    xmlNodePtr header = NULL, body = NULL;
    for (xmlNodePtr c = tsb_xml_first_elem(root); c; c = tsb_xml_next_elem(c)) {
        if (tsb_xml_is(c, TSB_NS_SOAP11, "Header"))
            header = c;
        else if (tsb_xml_is(c, TSB_NS_SOAP11, "Body"))
            body = c;
    }
    if (body == NULL)
        return tsb_err(TSB_EFORMAT, "SOAP Envelope has no Body");
    if (header == NULL) {
        header = xmlNewDocNode(env, root->ns, BAD_CAST "Header", NULL);
        if (header == NULL || xmlAddPrevSibling(tsb_xml_first_elem(root), header) == NULL)
            return tsb_err(TSB_EINTERNAL, "cannot add the SOAP Header");
    }
    new_id("id", body_id);
    new_id("TS", ts_id);
    new_id("X509", bst_id);

    /* Body carries its own wsu declaration (it is canonicalised on its own) */
    xmlNsPtr body_wsu = xmlNewNs(body, BAD_CAST TSB_NS_WSU, BAD_CAST "wsu");
    if (body_wsu == NULL || (r = set_id(env, body, body_wsu, body_id)) != 0)
        return r ? r : tsb_err(TSB_EINTERNAL, "cannot declare wsu on Body");

    xmlNodePtr sec = xmlNewChild(header, NULL, BAD_CAST "Security", NULL);
    if (sec == NULL)
        return tsb_err(TSB_EINTERNAL, "cannot add wsse:Security");
    xmlNsPtr wsse = xmlNewNs(sec, BAD_CAST TSB_NS_WSSE, BAD_CAST "wsse");
    xmlNsPtr wsu = xmlNewNs(sec, BAD_CAST TSB_NS_WSU, BAD_CAST "wsu");
    xmlSetNs(sec, wsse);
    xmlNewNsProp(sec, root->ns, BAD_CAST "mustUnderstand", BAD_CAST "1");

    if ((r = add_cert_token(sec, wsse, wsu, tsb_keystore_cert(ks), bst_id)) != 0)
        return r;
    if ((r = add_timestamp(sec, wsu, o, ts_id)) != 0)
        return r;

    xmlSecTransformId alg = tsb_keystore_key_type(ks) == TSB_KEY_EC ? xmlSecTransformEcdsaSha256Id
                                                                    : xmlSecTransformRsaSha256Id;
    xmlNodePtr sig =
        xmlSecTmplSignatureCreateNsPref(env, xmlSecTransformExclC14NId, alg, NULL, BAD_CAST "ds");
    if (sig == NULL)
        return tsb_err(TSB_ESECURITY, "cannot create the signature template");
    xmlAddChild(sec, sig);
    if ((r = add_reference(sig, body_id)) != 0 || (r = add_reference(sig, ts_id)) != 0 ||
        (r = add_reference(sig, bst_id)) != 0)
        return r;
    xmlNodePtr ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL);
    xmlNodePtr str = ki ? xmlNewChild(ki, wsse, BAD_CAST "SecurityTokenReference", NULL) : NULL;
    xmlNodePtr ref = str ? xmlNewChild(str, wsse, BAD_CAST "Reference", NULL) : NULL;
    if (ref == NULL)
        return tsb_err(TSB_EINTERNAL, "cannot add the SecurityTokenReference");
    snprintf(uri, sizeof(uri), "#%s", bst_id);
    xmlNewProp(ref, BAD_CAST "URI", BAD_CAST uri);
    xmlNewProp(ref, BAD_CAST "ValueType", BAD_CAST X509V3_TYPE);

    if ((r = tsb_keystore_xmlsec_key(ks, &key)) != 0)
        goto out;
    if ((ctx = xmlSecDSigCtxCreate(NULL)) == NULL) {
        r = tsb_err(TSB_ESECURITY, "cannot create an xmlsec signature context");
        goto out;
    }
    ctx->signKey = key;
    key = NULL; /* destroyed with ctx */
    if (xmlSecDSigCtxSign(ctx, sig) < 0) {
        r = tsb_err(TSB_ESECURITY, "xmlsec failed to sign the envelope");
        goto out;
    }
    r = 0;
out:
    if (ctx != NULL)
        xmlSecDSigCtxDestroy(ctx);
    if (key != NULL)
        xmlSecKeyDestroy(key);
    return r;
}
