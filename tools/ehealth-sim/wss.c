/*
 * wss: WS-Security X.509 verification as the eHealth TSA and TSConsult do it (protocol reference
 * §5.1): a BinarySecurityToken holding the hospital certificate, a fresh wsu:Timestamp, and a
 * ds:Signature (exc-c14n, rsa-sha256 or ecdsa-sha256, sha256 digests) whose references cover the
 * Body, the Timestamp and the BST. The signature is verified by xmlsec1 with the BST's public key;
 * the references are then resolved by ID and must land on exactly those three nodes, so a
 * signature over something else (signature wrapping) is refused even when it verifies.
 */
#include "sim.h"

#include "codec.h"
#include "err.h"
#include "hash.h"
#include "xml.h"

#include <ctype.h>
#include <libxml/valid.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/keys.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>

#define X509V3_TYPE                                                                                \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
#define B64_ENC                                                                                    \
    "http://docs.oasis-open.org/wss/2004/01/"                                                      \
    "oasis-200401-wss-soap-message-security-1.0#Base64Binary"

static _Thread_local char xmlsec_last[200];

static void xmlsec_cb(const char *file, int line, const char *func, const char *obj,
                      const char *subj, int reason, const char *msg)
{
    snprintf(xmlsec_last, sizeof(xmlsec_last), "%s%s%s", subj ? subj : "", subj ? ": " : "",
             msg ? msg : "error");
}

static void free_map(struct sim_trust *t)
{
    for (size_t i = 0; i < t->n_map; i++) {
        for (size_t j = 0; j < t->map[i].n_ids; j++)
            free(t->map[i].ids[j]);
        free(t->map[i].ids);
    }
    free(t->map);
    t->map = NULL;
    t->n_map = 0;
}

void sim_trust_cleanup(struct sim_trust *t)
{
    X509_STORE_free(t->store);
    free_map(t);
    memset(t, 0, sizeof(*t));
}

int sim_trust_add_map_line(struct sim_trust *t, const char *line)
{
    char fp[65 + 64 * 3];
    char ids[1024];
    const char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '#' || *p == '\0')
        return 0;
    if (sscanf(p, "%255s %1023s", fp, ids) != 2)
        return tsb_err(TSB_ECONFIG, "map line \"%.60s\" is not \"FINGERPRINT ID[,ID...]\"", line);
    /* accept "AB:CD:..." as openssl prints it */
    size_t k = 0;
    for (size_t i = 0; fp[i]; i++)
        if (fp[i] != ':')
            fp[k++] = (char)tolower((unsigned char)fp[i]);
    fp[k] = '\0';
    if (k != 64 || strspn(fp, "0123456789abcdef") != 64)
        return tsb_err(TSB_ECONFIG, "map line \"%.60s\": not a SHA-256 fingerprint", line);
    t->map = tsb_realloc(t->map, (t->n_map + 1) * sizeof(*t->map));
    struct sim_map_entry *e = &t->map[t->n_map++];
    memset(e, 0, sizeof(*e));
    memcpy(e->fp, fp, 65);
    for (char *save = NULL, *id = strtok_r(ids, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
        e->ids = tsb_realloc(e->ids, (e->n_ids + 1) * sizeof(*e->ids));
        e->ids[e->n_ids++] = tsb_strdup(id);
    }
    return 0;
}

int sim_trust_load(struct sim_trust *t, const char *ca_file, const char *map_file, int skew_s)
{
    int r = TSB_EINTERNAL;
    FILE *f = NULL;
    memset(t, 0, sizeof(*t));
    t->skew_s = skew_s;
    xmlSecErrorsSetCallback(xmlsec_cb);
    t->store = X509_STORE_new();
    if (t->store == NULL || X509_STORE_load_file(t->store, ca_file) != 1) {
        r = tsb_err(TSB_ECONFIG, "cannot load the hospital CA bundle %s", ca_file);
        goto out;
    }
    if (map_file == NULL) {
        r = 0;
        goto out;
    }
    if ((f = fopen(map_file, "r")) == NULL) {
        r = tsb_err(TSB_ECONFIG, "cannot open the IDHospital map %s", map_file);
        goto out;
    }
    char line[2048];
    while (fgets(line, sizeof(line), f))
        if ((r = sim_trust_add_map_line(t, line)) != 0)
            goto out;
    r = 0;
out:
    if (f)
        fclose(f);
    if (r != 0)
        sim_trust_cleanup(t);
    return r;
}

bool sim_auth_allows(const struct sim_auth *a, const char *id_hospital)
{
    if (a->entry == NULL)
        return false;
    for (size_t i = 0; i < a->entry->n_ids; i++)
        if (strcmp(a->entry->ids[i], id_hospital) == 0)
            return true;
    return false;
}

static int fail(enum sim_fault_code *fault, enum sim_fault_code code, int err)
{
    *fault = code;
    return err;
}

/* Registers every wsu:Id as an XML ID; a value used twice makes the message ambiguous. */
static int register_ids(xmlDocPtr doc, xmlNodePtr n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        for (xmlAttrPtr a = n->properties; a; a = a->next) {
            if (a->ns == NULL || a->ns->href == NULL ||
                strcmp((const char *)a->ns->href, SIM_NS_WSU) != 0 ||
                strcmp((const char *)a->name, "Id") != 0)
                continue;
            xmlChar *v = xmlNodeListGetString(doc, a->children, 1);
            if (v == NULL)
                return tsb_err(TSB_ESECURITY, "empty wsu:Id on %s", n->name);
            xmlIDPtr id = xmlGetID(doc, v) == NULL ? xmlAddID(NULL, doc, v, a) : NULL;
            if (id == NULL) {
                int r = tsb_err(TSB_ESECURITY, "wsu:Id \"%.60s\" is used more than once", v);
                xmlFree(v);
                return r;
            }
            xmlFree(v);
        }
        int r = register_ids(doc, n->children);
        if (r != 0)
            return r;
    }
    return 0;
}

static int check_timestamp(xmlNodePtr ts, int64_t now_ms, int skew_s)
{
    xmlNodePtr c = tsb_xml_first_elem(ts), e = tsb_xml_next_elem(c);
    if (!tsb_xml_is(c, SIM_NS_WSU, "Created"))
        return tsb_err(TSB_ESECURITY, "wsu:Timestamp has no wsu:Created");
    if (!tsb_xml_is(e, SIM_NS_WSU, "Expires") || tsb_xml_next_elem(e) != NULL)
        return tsb_err(TSB_ESECURITY, "wsu:Timestamp must hold wsu:Created then wsu:Expires");
    int64_t created, expires;
    xmlChar *cs = xmlNodeGetContent(c), *es = xmlNodeGetContent(e);
    int r = sim_parse_datetime(cs ? (const char *)cs : "", &created);
    if (r == 0)
        r = sim_parse_datetime(es ? (const char *)es : "", &expires);
    xmlFree(cs);
    xmlFree(es);
    if (r != 0)
        return tsb_err(TSB_ESECURITY, "wsu:Timestamp: %s", tsb_err_detail());
    int64_t skew = (int64_t)skew_s * 1000;
    if (expires < created)
        return tsb_err(TSB_ESECURITY, "wsu:Timestamp expires before it was created");
    if (created - skew > now_ms)
        return tsb_err(TSB_ESECURITY,
                       "wsu:Timestamp Created is %lld ms in the future (allowed skew %d s)",
                       (long long)(created - now_ms), skew_s);
    if (expires + skew <= now_ms)
        return tsb_err(TSB_ESECURITY,
                       "the message has expired: wsu:Expires is %lld ms in the past (allowed "
                       "skew %d s)",
                       (long long)(now_ms - expires), skew_s);
    return 0;
}

static int load_bst(xmlNodePtr bst, X509 **out)
{
    xmlChar *vt = xmlGetNoNsProp(bst, (const xmlChar *)"ValueType");
    xmlChar *et = xmlGetNoNsProp(bst, (const xmlChar *)"EncodingType");
    int ok_vt = vt && strcmp((const char *)vt, X509V3_TYPE) == 0;
    int ok_et = et == NULL || strcmp((const char *)et, B64_ENC) == 0;
    xmlFree(vt);
    xmlFree(et);
    if (!ok_vt)
        return tsb_err(TSB_ESECURITY, "BinarySecurityToken ValueType is not X509v3");
    if (!ok_et)
        return tsb_err(TSB_ESECURITY, "BinarySecurityToken EncodingType is not Base64Binary");
    xmlChar *txt = xmlNodeGetContent(bst);
    struct tsb_buf der;
    tsb_buf_init(&der, 64 * 1024);
    int r = tsb_b64_decode_buf(txt ? (const char *)txt : "", txt ? strlen((const char *)txt) : 0,
                               true, &der);
    xmlFree(txt);
    if (r != 0) {
        r = tsb_err(TSB_ESECURITY, "BinarySecurityToken is not base64: %s", tsb_err_detail());
        goto out;
    }
    const unsigned char *q = der.p;
    X509 *x = der.len ? d2i_X509(NULL, &q, (long)der.len) : NULL;
    if (x == NULL || q != der.p + der.len) {
        X509_free(x);
        ERR_clear_error();
        r = tsb_err(TSB_ESECURITY, "BinarySecurityToken is not a DER X.509 certificate");
        goto out;
    }
    *out = x;
    r = 0;
out:
    tsb_buf_cleanup(&der);
    return r;
}

static int verify_chain(const struct sim_trust *t, X509 *cert, int64_t now_ms)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (ctx == NULL || X509_STORE_CTX_init(ctx, t->store, cert, NULL) != 1) {
        X509_STORE_CTX_free(ctx);
        return tsb_err(TSB_ECRYPTO, "cannot set up certificate verification");
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)(now_ms / 1000));
    int ok = X509_verify_cert(ctx);
    int e = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    if (ok != 1)
        return tsb_err(TSB_ESECURITY, "the certificate does not chain to a trusted hospital CA: %s",
                       X509_verify_cert_error_string(e));
    return 0;
}

/* The KeyInfo, when it names a token, must name our BST. */
static int check_keyinfo(xmlNodePtr sig, xmlNodePtr bst)
{
    xmlNodePtr ki = NULL;
    for (xmlNodePtr c = tsb_xml_first_elem(sig); c; c = tsb_xml_next_elem(c))
        if (tsb_xml_is(c, SIM_NS_DS, "KeyInfo"))
            ki = c;
    xmlNodePtr str = ki ? tsb_xml_first_elem(ki) : NULL;
    if (!tsb_xml_is(str, SIM_NS_WSSE, "SecurityTokenReference"))
        return 0;
    xmlNodePtr ref = tsb_xml_first_elem(str);
    if (!tsb_xml_is(ref, SIM_NS_WSSE, "Reference"))
        return 0;
    xmlChar *uri = xmlGetNoNsProp(ref, (const xmlChar *)"URI");
    xmlChar *id = xmlGetNsProp(bst, (const xmlChar *)"Id", (const xmlChar *)SIM_NS_WSU);
    int ok = uri && id && uri[0] == '#' && strcmp((const char *)uri + 1, (const char *)id) == 0;
    int r = ok ? 0
               : tsb_err(TSB_ESECURITY, "KeyInfo refers to \"%.60s\", not the BinarySecurityToken",
                         uri ? (const char *)uri : "");
    xmlFree(uri);
    xmlFree(id);
    return r;
}

/* Each Reference must name exc-c14n explicitly: without Transforms xmlsec would fall back to
 * inclusive c14n, which the eHealth policy does not allow. */
static int check_reference_transforms(xmlNodePtr sig)
{
    xmlNodePtr si = tsb_xml_first_elem(sig);
    if (!tsb_xml_is(si, SIM_NS_DS, "SignedInfo"))
        return tsb_err(TSB_ESECURITY, "ds:Signature does not start with ds:SignedInfo");
    for (xmlNodePtr ref = tsb_xml_first_elem(si); ref; ref = tsb_xml_next_elem(ref)) {
        if (!tsb_xml_is(ref, SIM_NS_DS, "Reference"))
            continue;
        xmlNodePtr tr = tsb_xml_first_elem(ref);
        xmlNodePtr t = tsb_xml_is(tr, SIM_NS_DS, "Transforms") ? tsb_xml_first_elem(tr) : NULL;
        xmlChar *alg = t ? xmlGetNoNsProp(t, (const xmlChar *)"Algorithm") : NULL;
        int ok = alg && strcmp((const char *)alg, "http://www.w3.org/2001/10/xml-exc-c14n#") == 0 &&
                 tsb_xml_next_elem(t) == NULL;
        xmlFree(alg);
        if (!ok) {
            xmlChar *uri = xmlGetNoNsProp(ref, (const xmlChar *)"URI");
            int r = tsb_err(TSB_ESECURITY,
                            "reference \"%.60s\" must have exactly one exc-c14n Transform",
                            uri ? (const char *)uri : "");
            xmlFree(uri);
            return r;
        }
    }
    return 0;
}

static int verify_signature(struct sim_req *req, X509 *cert, enum sim_fault_code *fault)
{
    int r = TSB_EINTERNAL;
    xmlSecDSigCtxPtr ctx = NULL;
    xmlSecKeyPtr key = NULL;
    EVP_PKEY *pk = X509_get_pubkey(cert);
    xmlSecKeyDataPtr data = pk ? xmlSecOpenSSLEvpKeyAdopt(pk) : NULL;
    if (data == NULL) {
        EVP_PKEY_free(pk);
        r = fail(fault, SIM_FAULT_INVALID,
                 tsb_err(TSB_ESECURITY, "the certificate's key type is not supported"));
        goto out;
    }
    key = xmlSecKeyCreate();
    if (key == NULL || xmlSecKeySetValue(key, data) < 0) {
        xmlSecKeyDataDestroy(data);
        r = tsb_err(TSB_ECRYPTO, "cannot build the verification key");
        goto out;
    }
    ctx = xmlSecDSigCtxCreate(NULL);
    if (ctx == NULL) {
        r = tsb_err(TSB_ECRYPTO, "cannot create the xmlsec signature context");
        goto out;
    }
    ctx->signKey = key;
    key = NULL;
    ctx->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
    if (xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformExclC14NId) < 0 ||
        xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformRsaSha256Id) < 0 ||
        xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha256Id) < 0 ||
        xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformExclC14NId) < 0 ||
        xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha256Id) < 0) {
        r = tsb_err(TSB_ECRYPTO, "cannot restrict the xmlsec transforms");
        goto out;
    }
    xmlsec_last[0] = '\0';
    if (xmlSecDSigCtxVerify(ctx, req->signature) < 0) {
        r = fail(fault, SIM_FAULT_INVALID,
                 tsb_err(TSB_ESECURITY,
                         "the signature cannot be processed (only exc-c14n, rsa-sha256, "
                         "ecdsa-sha256 and sha256 same-document references are accepted): %s",
                         xmlsec_last[0] ? xmlsec_last : "xmlsec error"));
        goto out;
    }
    /* which references digest correctly, and what they cover */
    bool body = false, ts = false, bst = false;
    xmlSecSize n = xmlSecPtrListGetSize(&ctx->signedInfoReferences);
    for (xmlSecSize i = 0; i < n; i++) {
        xmlSecDSigReferenceCtxPtr ref = xmlSecPtrListGetItem(&ctx->signedInfoReferences, i);
        const char *uri = ref && ref->uri ? (const char *)ref->uri : "";
        if (ref == NULL || ref->status != xmlSecDSigStatusSucceeded) {
            r = fail(fault, SIM_FAULT_AUTH,
                     tsb_err(TSB_ESECURITY,
                             "the signature does not verify: the digest of reference \"%.60s\" "
                             "does not match (the signed content was changed)",
                             uri));
            goto out;
        }
        if (uri[0] != '#')
            continue;
        xmlAttrPtr a = xmlGetID(req->doc, (const xmlChar *)uri + 1);
        xmlNodePtr target = a ? a->parent : NULL;
        body |= target == req->body;
        ts |= target == req->timestamp;
        bst |= target == req->bst;
    }
    if (ctx->status != xmlSecDSigStatusSucceeded) {
        r = fail(fault, SIM_FAULT_AUTH,
                 tsb_err(TSB_ESECURITY, "the signature value does not verify with the key of the "
                                        "BinarySecurityToken"));
        goto out;
    }
    if (ctx->c14nMethod == NULL || ctx->c14nMethod->id != xmlSecTransformExclC14NId) {
        r = fail(fault, SIM_FAULT_INVALID,
                 tsb_err(TSB_ESECURITY, "CanonicalizationMethod is not exc-c14n"));
        goto out;
    }
    if (!body || !ts || !bst) {
        r = fail(fault, SIM_FAULT_INVALID,
                 tsb_err(TSB_ESECURITY, "the signature does not cover the %s",
                         !body ? "soap:Body"
                         : !ts ? "wsu:Timestamp"
                               : "BinarySecurityToken"));
        goto out;
    }
    r = 0;
out:
    if (key)
        xmlSecKeyDestroy(key);
    if (ctx)
        xmlSecDSigCtxDestroy(ctx);
    ERR_clear_error();
    return r;
}

int sim_wss_verify(struct sim_req *req, const struct sim_trust *t, int64_t now_ms,
                   struct sim_auth *auth, enum sim_fault_code *fault)
{
    int r = TSB_EINTERNAL;
    X509 *cert = NULL;
    memset(auth, 0, sizeof(*auth));
    *fault = SIM_FAULT_INVALID;
    if (req->security == NULL)
        return tsb_err(TSB_ESECURITY, "the request has no wsse:Security header");
    if (req->bst == NULL)
        return tsb_err(TSB_ESECURITY, "wsse:Security has no BinarySecurityToken");
    if (req->timestamp == NULL)
        return tsb_err(TSB_ESECURITY, "wsse:Security has no wsu:Timestamp");
    if (req->signature == NULL)
        return tsb_err(TSB_ESECURITY, "wsse:Security has no ds:Signature");
    if ((r = check_timestamp(req->timestamp, now_ms, t->skew_s)) != 0)
        return r;
    if ((r = load_bst(req->bst, &cert)) != 0)
        return r;
    uint8_t d[TSB_SHA256_LEN];
    unsigned char *der = NULL;
    int dlen = i2d_X509(cert, &der);
    if (dlen <= 0) {
        r = tsb_err(TSB_ECRYPTO, "cannot encode the certificate");
        goto out;
    }
    tsb_sha256(der, (size_t)dlen, d);
    OPENSSL_free(der);
    tsb_hex_encode(d, sizeof(d), auth->fp);
    X509_NAME_oneline(X509_get_subject_name(cert), auth->subject, sizeof(auth->subject));
    for (size_t i = 0; i < t->n_map; i++)
        if (strcmp(t->map[i].fp, auth->fp) == 0)
            auth->entry = &t->map[i];
    if ((r = register_ids(req->doc, xmlDocGetRootElement(req->doc))) != 0)
        goto out;
    if ((r = check_keyinfo(req->signature, req->bst)) != 0 ||
        (r = check_reference_transforms(req->signature)) != 0)
        goto out;
    if ((r = verify_chain(t, cert, now_ms)) != 0) {
        *fault = SIM_FAULT_AUTH;
        goto out;
    }
    r = verify_signature(req, cert, fault);
out:
    X509_free(cert);
    return r;
}
