/* Unit tests for wss (and the DSS envelope it signs): the signed envelope verifies with the stock
 * xmlsec1 CLI against the hospital certificate, a changed byte in the Body breaks it, and the
 * header has the shape the protocol reference §5.1 describes, for RSA and EC keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dss.h"
#include "err.h"
#include "keystore.h"
#include "testlib.h"
#include "wss.h"
#include "xml.h"

#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *dir;

static int setup(void **state)
{
    dir = tsb_test_tmpdir();
    char *ec = tsb_test_path(dir, "ec");
    if (tsb_test_sh("'%s/tests/lib/test-pki.sh' '%s' rsa && '%s/tests/lib/test-pki.sh' '%s' ec",
                    tsb_test_source_dir(), dir, tsb_test_source_dir(), ec) != 0)
        return -1;
    free(ec);
    return 0;
}

static int teardown(void **state)
{
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

static struct tsb_keystore *load(const char *sub)
{
    char base[4096], p12[4200], pass[4200];
    snprintf(base, sizeof(base), "%s%s%s", dir, sub ? "/" : "", sub ? sub : "");
    snprintf(p12, sizeof(p12), "%s/hospital.p12", base);
    snprintf(pass, sizeof(pass), "%s/hospital.pass", base);
    struct tsb_keystore_source src = {.path = p12, .password_file = pass};
    struct tsb_keystore *ks = NULL;
    assert_int_equal(tsb_keystore_load(&src, (int64_t)time(NULL) * 1000, &ks), 0);
    return ks;
}

static const char bag[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TimeStampBag "
                          "xmlns=\"urn:be:fgov:ehealth:timestamping:protocol:v2\" "
                          "Hash=\"SHA-256\" SequenceNumber=\"42\"><JournalEntry><Hash>"
                          "8de44a19c21dc062ad9d00ebea990cec737e3b4da467e8cac7f6a3b068d23e95"
                          "</Hash><Ref>1001</Ref></JournalEntry></TimeStampBag>";

static void sign_to(struct tsb_keystore *ks, int64_t now_ms, struct tsb_buf *out)
{
    struct tsb_dss_request rq = {.bag = (const uint8_t *)bag,
                                 .bag_len = strlen(bag),
                                 .request_id = "TSB-test-42-0011223344556677",
                                 .profile = "urn:ehealth:profiles:timestamping:2.1-cert",
                                 .carrier = TSB_CARRIER_BASE64XML};
    struct tsb_wss_opts wo = {.now_ms = now_ms, .ttl_s = 60};
    assert_int_equal(tsb_dss_build_signed(&rq, ks, &wo, out), 0);
}

/* Runs xmlsec1 --verify on the message with the hospital certificate as the only key. */
static int xmlsec_verify(const char *msg_path, const char *cert)
{
    return tsb_test_sh(
        "xmlsec1 --verify --pubkey-cert-pem '%s' "
        "--id-attr:Id 'http://schemas.xmlsoap.org/soap/envelope/:Body' "
        "--id-attr:Id "
        "'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd:"
        "Timestamp' "
        "--id-attr:Id "
        "'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd:"
        "BinarySecurityToken' "
        "'%s' >/dev/null 2>&1",
        cert, msg_path);
}

static void verify_case(const char *sub)
{
    struct tsb_keystore *ks = load(sub);
    struct tsb_buf msg;
    tsb_buf_init(&msg, 1 << 20);
    sign_to(ks, (int64_t)time(NULL) * 1000, &msg);

    char path[4200], cert[4200];
    snprintf(path, sizeof(path), "%s/msg-%s.xml", dir, sub ? sub : "rsa");
    snprintf(cert, sizeof(cert), "%s%s%s/hospital.pem", dir, sub ? "/" : "", sub ? sub : "");
    assert_int_equal(tsb_test_write_file(path, msg.p, msg.len), 0);
    assert_int_equal(xmlsec_verify(path, cert), 0);

    /* one byte of the bag (inside the Body) changed: the Body digest no longer matches */
    char *b = strstr((char *)msg.p, "<dss:Base64XML>");
    assert_non_null(b);
    b += strlen("<dss:Base64XML>") + 10;
    *b = *b == 'A' ? 'B' : 'A';
    assert_int_equal(tsb_test_write_file(path, msg.p, msg.len), 0);
    assert_int_not_equal(xmlsec_verify(path, cert), 0);

    /* a certificate other than the signer's does not verify the untouched message either */
    *b = *b == 'A' ? 'B' : 'A';
    msg.len = 0;
    sign_to(ks, (int64_t)time(NULL) * 1000, &msg);
    assert_int_equal(tsb_test_write_file(path, msg.p, msg.len), 0);
    char other[4200];
    snprintf(other, sizeof(other), "%s/tsa.pem", dir);
    assert_int_not_equal(xmlsec_verify(path, other), 0);

    tsb_buf_cleanup(&msg);
    tsb_keystore_free(ks);
}

static void test_rsa_verifies_with_xmlsec1(void **state)
{
    verify_case(NULL);
}

static void test_ec_verifies_with_xmlsec1(void **state)
{
    verify_case("ec");
}

static char *xp_str(xmlXPathContextPtr x, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, x);
    assert_non_null(o);
    char *s = (char *)xmlXPathCastToString(o);
    xmlXPathFreeObject(o);
    return s;
}

static void expect(xmlXPathContextPtr x, const char *expr, const char *want)
{
    char *s = xp_str(x, expr);
    if (strcmp(s, want) != 0)
        fail_msg("%s = '%s', want '%s'", expr, s, want);
    xmlFree(s);
}

static void test_header_shape(void **state)
{
    struct tsb_keystore *ks = load(NULL);
    struct tsb_buf msg;
    tsb_buf_init(&msg, 1 << 20);
    int64_t now = 1714645200123; /* 2024-05-02T10:20:00.123Z */
    sign_to(ks, now, &msg);
    assert_null(strstr((char *)msg.p, "InclusiveNamespaces"));

    xmlDocPtr doc = NULL;
    assert_int_equal(tsb_xml_parse(msg.p, msg.len, msg.len, &doc), 0);
    xmlXPathContextPtr x = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(x, BAD_CAST "s", BAD_CAST TSB_NS_SOAP11);
    xmlXPathRegisterNs(x, BAD_CAST "wsse", BAD_CAST TSB_NS_WSSE);
    xmlXPathRegisterNs(x, BAD_CAST "wsu", BAD_CAST TSB_NS_WSU);
    xmlXPathRegisterNs(x, BAD_CAST "ds", BAD_CAST TSB_NS_DSIG);
    const char *sec = "/s:Envelope/s:Header/wsse:Security";
    char e[512];
    snprintf(e, sizeof(e), "string(%s/@s:mustUnderstand)", sec);
    expect(x, e, "1");
    snprintf(e, sizeof(e), "string(%s/wsu:Timestamp/wsu:Created)", sec);
    expect(x, e, "2024-05-02T10:20:00.123Z");
    snprintf(e, sizeof(e), "string(%s/wsu:Timestamp/wsu:Expires)", sec);
    expect(x, e, "2024-05-02T10:21:00.123Z");
    snprintf(e, sizeof(e), "string(%s/ds:Signature/ds:SignedInfo/ds:SignatureMethod/@Algorithm)",
             sec);
    expect(x, e, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
    snprintf(e, sizeof(e),
             "string(%s/ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod/@Algorithm)", sec);
    expect(x, e, "http://www.w3.org/2001/10/xml-exc-c14n#");
    snprintf(e, sizeof(e),
             "string(count(%s/ds:Signature/ds:SignedInfo/ds:Reference[ds:DigestMethod/@Algorithm="
             "'http://www.w3.org/2001/04/xmlenc#sha256' and ds:Transforms/ds:Transform/"
             "@Algorithm='http://www.w3.org/2001/10/xml-exc-c14n#']))",
             sec);
    expect(x, e, "3");
    /* the three references point at Body, Timestamp and BST, in that order */
    char *body_id = xp_str(x, "string(/s:Envelope/s:Body/@wsu:Id)");
    char *ts_id = xp_str(x, "string(//wsu:Timestamp/@wsu:Id)");
    char *bst_id = xp_str(x, "string(//wsse:BinarySecurityToken/@wsu:Id)");
    const char *ids[] = {body_id, ts_id, bst_id};
    for (int i = 0; i < 3; i++) {
        assert_true(strlen(ids[i]) > 3);
        char want[128];
        snprintf(want, sizeof(want), "#%s", ids[i]);
        snprintf(e, sizeof(e), "string(%s/ds:Signature/ds:SignedInfo/ds:Reference[%d]/@URI)", sec,
                 i + 1);
        expect(x, e, want);
    }
    char want[128];
    snprintf(want, sizeof(want), "#%s", bst_id);
    snprintf(e, sizeof(e),
             "string(%s/ds:Signature/ds:KeyInfo/wsse:SecurityTokenReference/wsse:Reference/@URI)",
             sec);
    expect(x, e, want);
    /* the BST is the hospital certificate */
    char *bst = xp_str(x, "string(//wsse:BinarySecurityToken)");
    char path[4200];
    snprintf(path, sizeof(path), "%s/bst.b64", dir);
    assert_int_equal(tsb_test_write_file(path, bst, strlen(bst)), 0);
    assert_int_equal(tsb_test_sh("base64 -d '%s' | openssl x509 -inform DER -noout -subject | "
                                 "grep -q tsa_0406798006_01",
                                 path),
                     0);
    xmlFree(bst);
    xmlFree(body_id);
    xmlFree(ts_id);
    xmlFree(bst_id);
    xmlXPathFreeContext(x);
    xmlFreeDoc(doc);
    tsb_buf_cleanup(&msg);
    tsb_keystore_free(ks);
}

static void test_not_an_envelope(void **state)
{
    struct tsb_keystore *ks = load(NULL);
    xmlDocPtr doc = NULL;
    assert_int_equal(tsb_xml_parse((const uint8_t *)"<a/>", 4, 100, &doc), 0);
    struct tsb_wss_opts wo = {.now_ms = 0, .ttl_s = 60};
    assert_int_equal(tsb_wss_sign(doc, ks, &wo), TSB_EFORMAT);
    xmlFreeDoc(doc);
    tsb_keystore_free(ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_verifies_with_xmlsec1),
        cmocka_unit_test(test_ec_verifies_with_xmlsec1),
        cmocka_unit_test(test_header_shape),
        cmocka_unit_test(test_not_an_envelope),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
