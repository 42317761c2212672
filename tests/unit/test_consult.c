/* Unit tests for consult: the two TSConsult requests (structure, namespace, caps) validated by
 * xmllint against the eHealth v2 schema as an independent witness; the answer parsers on a table
 * of well-formed and hostile answers (every Status, Error with Type and Number, Faults, wrong
 * namespace, bad serials and longs, too many TSBag, bad base64, a TSBag without its
 * SignResponse, size caps); and TSBagValue decoding to the exact bag bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"
#include "consult.h"
#include "err.h"
#include "mem.h"
#include "testlib.h"
#include "xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS "urn:be:fgov:ehealth:timestamping:protocol:v2"
#define ENV_A                                                                                      \
    "<?xml version=\"1.0\"?><s:Envelope "                                                          \
    "xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
#define ENV_B "</s:Body></s:Envelope>"
#define SR                                                                                         \
    "<dss:SignResponse xmlns:dss=\"urn:oasis:names:tc:dss:1.0:core:schema\" Profile=\"p\">"        \
    "<dss:Result><dss:ResultMajor>urn:oasis:names:tc:dss:1.0:resultmajor:Success"                  \
    "</dss:ResultMajor></dss:Result></dss:SignResponse>"

/* Extracts the Body's payload of a request envelope into a file and validates it with xmllint. */
static void xmllint_payload(xmlDocPtr env, const char *name)
{
    xmlNodePtr body = tsb_xml_first_elem(xmlDocGetRootElement(env));
    while (body && !tsb_xml_is(body, "http://schemas.xmlsoap.org/soap/envelope/", "Body"))
        body = tsb_xml_next_elem(body);
    assert_non_null(body);
    xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr c = xmlDocCopyNode(tsb_xml_first_elem(body), d, 1);
    xmlDocSetRootElement(d, c);
    xmlReconciliateNs(d, c);
    char *dir = tsb_test_tmpdir();
    char *path = tsb_test_path(dir, name);
    assert_true(xmlSaveFile(path, d) > 0);
    char *xsd =
        tsb_test_path(tsb_test_shared_dir(),
                      "reference/xsd/ehealth-timestamping/ehealth-profiles-timestamping-2_0.xsd");
    int st = tsb_test_sh("xmllint --noout --nonet --schema '%s' '%s' 2>/dev/null", xsd, path);
    if (st != 0)
        fail_msg("xmllint refused %s (exit %d)", name, st);
    xmlFreeDoc(d);
    tsb_test_rmtree(dir);
    free(dir);
    free(path);
    free(xsd);
}

static void test_build_check(void **state)
{
    (void)state;
    struct tsb_tsid ids[3];
    assert_int_equal(tsb_tsid_set(&ids[0], "80300231753732", 1226995312781LL), 0);
    assert_int_equal(tsb_tsid_set(&ids[1], "1", 1714608000000LL), 0);
    assert_int_equal(tsb_tsid_set(&ids[2], "123456789012345678901234567890", 5), 0);
    xmlDocPtr doc = NULL;
    assert_int_equal(tsb_consult_build_check(TSB_BAG_NS_V2, "tsa_0406798006_01", 1714608000000LL,
                                             1714694399999LL, ids, 3, &doc),
                     0);
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    assert_int_equal(tsb_xml_serialise(doc, &b), 0);
    const char *s = (const char *)b.p;
    assert_non_null(strstr(s, "<TSConsultRequest xmlns=\"" NS "\">"
                              "<IDHospital>tsa_0406798006_01</IDHospital>"
                              "<Period><Start>1714608000000</Start><End>1714694399999</End>"
                              "</Period><TSList><sequenceNumber>80300231753732</sequenceNumber>"
                              "<dateTime>1226995312781</dateTime></TSList>"));
    xmllint_payload(doc, "check.xml");
    xmlFreeDoc(doc);
    tsb_buf_cleanup(&b);

    /* an empty TSList is valid (asks for everything eHealth holds) */
    assert_int_equal(tsb_consult_build_check(TSB_BAG_NS_V2, "h", 1, 2, NULL, 0, &doc), 0);
    xmllint_payload(doc, "check-empty.xml");
    xmlFreeDoc(doc);
    /* IDHospital is escaped, never injected */
    assert_int_equal(tsb_consult_build_check(TSB_BAG_NS_V2, "a<b&c", 1, 2, NULL, 0, &doc), 0);
    tsb_buf_init(&b, 1 << 20);
    assert_int_equal(tsb_xml_serialise(doc, &b), 0);
    assert_non_null(strstr((const char *)b.p, "<IDHospital>a&lt;b&amp;c</IDHospital>"));
    tsb_buf_cleanup(&b);
    xmlFreeDoc(doc);

    assert_int_equal(tsb_consult_build_check(TSB_BAG_NS_V2, "h", 3, 2, NULL, 0, &doc), TSB_EINVAL);
    assert_int_equal(tsb_consult_build_check(TSB_BAG_NS_V2, "", 1, 2, NULL, 0, &doc), TSB_EINVAL);
    assert_int_equal(tsb_tsid_set(&ids[0], "12a", 1), TSB_EINVAL);
    assert_int_equal(tsb_tsid_set(&ids[0], "", 1), TSB_EINVAL);
    /* RFC 3161 serials are at most 160 bits: 2^160 - 1 has 49 digits, one more is refused */
    assert_int_equal(tsb_tsid_set(&ids[0], "1461501637330902918203684832716283019655932542975", 1),
                     0);
    assert_int_equal(tsb_tsid_set(&ids[0], "14615016373309029182036848327162830196559325429750", 1),
                     TSB_EINVAL);
}

static void test_build_get(void **state)
{
    (void)state;
    struct tsb_tsid ids[11];
    for (int i = 0; i < 11; i++) {
        char s[8];
        snprintf(s, sizeof(s), "%d", i + 1);
        assert_int_equal(tsb_tsid_set(&ids[i], s, 1000 + i), 0);
    }
    xmlDocPtr doc = NULL;
    assert_int_equal(tsb_consult_build_get(TSB_BAG_NS_V2, "tsa_0406798006_01", ids, 10, &doc), 0);
    xmllint_payload(doc, "get.xml");
    xmlFreeDoc(doc);
    assert_int_equal(tsb_consult_build_get(TSB_BAG_NS_V2, "h", ids, 11, &doc), TSB_EINVAL);
    assert_int_equal(tsb_consult_build_get(TSB_BAG_NS_V2, "h", ids, 0, &doc), TSB_EINVAL);
    /* v1 namespace selectable */
    assert_int_equal(tsb_consult_build_get(TSB_BAG_NS_V1, "h", ids, 1, &doc), 0);
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    assert_int_equal(tsb_xml_serialise(doc, &b), 0);
    assert_non_null(
        strstr((const char *)b.p,
               "<TSConsultTSBagRequest xmlns=\"http://www.behealth.be/webservices/tsa\">"));
    tsb_buf_cleanup(&b);
    xmlFreeDoc(doc);
}

static int parse_check(const char *body, struct tsb_consult_answer *a)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 24);
    tsb_buf_appendf(&b, ENV_A "%s" ENV_B, body);
    tsb_consult_answer_init(a);
    int r = tsb_consult_parse_check(b.p, b.len, TSB_BAG_NS_V2, NULL, a);
    tsb_buf_cleanup(&b);
    return r;
}

static void test_parse_check_good(void **state)
{
    (void)state;
    struct tsb_consult_answer a;
    assert_int_equal(parse_check("<TSConsultResponse xmlns=\"" NS "\"><Status>OK</Status>"
                                 "</TSConsultResponse>",
                                 &a),
                     0);
    assert_false(a.fault);
    assert_int_equal(a.status, TSB_CONSULT_OK);
    assert_int_equal(a.n_ids, 0);
    tsb_consult_answer_cleanup(&a);

    assert_int_equal(
        parse_check("<TSConsultResponse xmlns=\"" NS "\"><Status> INCOMPLETE </Status>"
                    "<TSList><sequenceNumber>17</sequenceNumber><dateTime>1714608000001"
                    "</dateTime></TSList><TSList><sequenceNumber>18</sequenceNumber>"
                    "<dateTime>-5</dateTime></TSList></TSConsultResponse>",
                    &a),
        0);
    assert_int_equal(a.status, TSB_CONSULT_INCOMPLETE);
    assert_int_equal(a.n_ids, 2);
    assert_string_equal(a.ids[0].serial, "17");
    assert_int_equal(a.ids[0].date_ms, 1714608000001LL);
    assert_string_equal(a.ids[1].serial, "18");
    assert_int_equal(a.ids[1].date_ms, -5);
    tsb_consult_answer_cleanup(&a);

    assert_int_equal(parse_check("<TSConsultResponse xmlns=\"" NS "\"><Status>ERROR</Status>"
                                 "<Error><Type>UnknownTimestamp</Type><Number>2</Number></Error>"
                                 "</TSConsultResponse>",
                                 &a),
                     0);
    assert_int_equal(a.status, TSB_CONSULT_ERROR);
    assert_true(a.error.present);
    assert_string_equal(a.error.type, "UnknownTimestamp");
    assert_string_equal(a.error.number, "2");
    tsb_consult_answer_cleanup(&a);

    assert_int_equal(parse_check("<s:Fault><faultcode>wsse:FailedAuthentication</faultcode>"
                                 "<faultstring>no\nway</faultstring></s:Fault>",
                                 &a),
                     0);
    assert_true(a.fault);
    assert_string_equal(a.fault_code, "wsse:FailedAuthentication");
    assert_string_equal(a.fault_string, "no way");
    tsb_consult_answer_cleanup(&a);
}

struct bad_case {
    const char *body;
    int code;
    const char *detail;
};

static void test_parse_check_bad(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"<TSConsultResponse xmlns=\"" NS "\"><Status>MAYBE</Status></TSConsultResponse>",
         TSB_EFORMAT, "MAYBE"},
        {"<TSConsultResponse xmlns=\"" NS "\"></TSConsultResponse>", TSB_EFORMAT, "Status"},
        {"<TSConsultResponse xmlns=\"urn:other\"><Status>OK</Status></TSConsultResponse>",
         TSB_ENAMESPACE, "namespace"},
        {"<TSConsultResponse xmlns=\"" NS "\"><Status>ERROR</Status></TSConsultResponse>",
         TSB_EFORMAT, "without an Error"},
        {"<TSConsultResponse xmlns=\"" NS "\"><Status>OK</Status><TSList><sequenceNumber>1"
         "</sequenceNumber><dateTime>1</dateTime></TSList></TSConsultResponse>",
         TSB_EFORMAT, "Status OK"},
        {"<TSConsultResponse xmlns=\"" NS "\"><Status>INCOMPLETE</Status><TSList><sequenceNumber>"
         "1x</sequenceNumber><dateTime>1</dateTime></TSList></TSConsultResponse>",
         TSB_EFORMAT, "decimal"},
        {"<TSConsultResponse xmlns=\"" NS "\"><Status>INCOMPLETE</Status><TSList><sequenceNumber>"
         "1</sequenceNumber><dateTime>99999999999999999999</dateTime></TSList>"
         "</TSConsultResponse>",
         TSB_EFORMAT, "xs:long"},
        {"<TSConsultResponse xmlns=\"" NS "\"><Status>INCOMPLETE</Status><TSList><dateTime>1"
         "</dateTime><sequenceNumber>1</sequenceNumber></TSList></TSConsultResponse>",
         TSB_EFORMAT, "sequenceNumber"},
        {"<TSConsultResponse xmlns=\"" NS "\"><Status>INCOMPLETE</Status><TSList><sequenceNumber>"
         "1<b/></sequenceNumber><dateTime>1</dateTime></TSList></TSConsultResponse>",
         TSB_EFORMAT, "holds an element"},
        {"<TSConsultResponse xmlns=\"" NS "\"><Status>ERROR</Status><Error><Type>x</Type>"
         "<Number>two</Number></Error></TSConsultResponse>",
         TSB_EFORMAT, "xs:integer"},
        {"<TSConsultTSBagResponse xmlns=\"" NS "\"/>", TSB_EFORMAT, "TSConsultResponse"},
        {"<TSConsultResponse xmlns=\"" NS "\"><Status>OK</Status></TSConsultResponse><x/>",
         TSB_EFORMAT, "more than one"},
        {"", TSB_EFORMAT, "empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tsb_consult_answer a;
        int r = parse_check(cases[i].body, &a);
        if (r != cases[i].code || strstr(tsb_err_detail(), cases[i].detail) == NULL)
            fail_msg("case %zu: got %s \"%s\", expected %s with \"%s\"", i, tsb_strerror(r),
                     tsb_err_detail(), tsb_strerror(cases[i].code), cases[i].detail);
        tsb_consult_answer_cleanup(&a);
    }
    /* not XML, a DOCTYPE, the size cap */
    struct tsb_consult_answer a;
    struct tsb_consult_limits lim = {.max_response = 100};
    const char *notxml = "<s:Envelope";
    tsb_consult_answer_init(&a);
    assert_int_equal(
        tsb_consult_parse_check((const uint8_t *)notxml, strlen(notxml), TSB_BAG_NS_V2, NULL, &a),
        TSB_EFORMAT);
    const char *dt = "<!DOCTYPE x [<!ENTITY e \"e\">]><x>&e;</x>";
    assert_int_equal(
        tsb_consult_parse_check((const uint8_t *)dt, strlen(dt), TSB_BAG_NS_V2, NULL, &a),
        TSB_EFORMAT);
    char big[200];
    memset(big, ' ', sizeof(big));
    assert_int_equal(
        tsb_consult_parse_check((const uint8_t *)big, sizeof(big), TSB_BAG_NS_V2, &lim, &a),
        TSB_ETOOBIG);
    tsb_consult_answer_cleanup(&a);
}

static int parse_get(const char *body, const struct tsb_consult_limits *lim,
                     struct tsb_consult_answer *a)
{
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 24);
    tsb_buf_appendf(&b, ENV_A "%s" ENV_B, body);
    tsb_consult_answer_init(a);
    int r = tsb_consult_parse_get(b.p, b.len, TSB_BAG_NS_V2, lim, a);
    tsb_buf_cleanup(&b);
    return r;
}

#define BAG42                                                                                      \
    "PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRGLTgiPz4KPFRpbWVTdGFtcEJhZyB4bWxucz0idXJuOmJlOmZn" \
    "b3Y6ZWhlYWx0aDp0aW1lc3RhbXBpbmc6cHJvdG9jb2w6djIiIEhhc2g9IlNIQS0yNTYiIFNlcXVlbmNlTnVtYmVyPSI0" \
    "MiI+PEpvdXJuYWxFbnRyeT48SGFzaD44ZGU0NGExOWMyMWRjMDYyYWQ5ZDAwZWJlYTk5MGNlYzczN2UzYjRkYTQ2N2U4" \
    "Y2FjN2Y2YTNiMDY4ZDIzZTk1PC9IYXNoPjxSZWY+MTAwMTwvUmVmPjwvSm91cm5hbEVudHJ5PjwvVGltZVN0YW1wQmFn" \
    "Pg=="

static void test_parse_get(void **state)
{
    (void)state;
    struct tsb_consult_answer a;
    struct tsb_buf body;
    tsb_buf_init(&body, 1 << 20);
    tsb_buf_append_str(&body, "<TSConsultTSBagResponse xmlns=\"" NS "\">");
    for (int i = 0; i < 10; i++)
        tsb_buf_append_str(&body, "<TSBag><TSBagValue>" BAG42 "\n</TSBagValue>" SR "</TSBag>");
    tsb_buf_append_str(&body, "</TSConsultTSBagResponse>");
    assert_int_equal(parse_get((const char *)body.p, NULL, &a), 0);
    assert_int_equal(a.n_bags, 10);
    assert_false(a.error.present);
    /* the bag bytes of protocol reference §3.1, whose SHA-256 is known */
    uint8_t d[32];
    char hex[65];
    tsb_sha256(a.bags[9].bag.p, a.bags[9].bag.len, d);
    tsb_hex_encode(d, 32, hex);
    assert_string_equal(hex, "0ec5b2bd9e7d31ff09c7f55dfcc5faaa09f700b34184146a767337e79ffc2300");
    /* the SignResponse comes out as a standalone document with its namespace */
    assert_non_null(
        strstr((const char *)a.bags[0].sign_response.p,
               "<dss:SignResponse xmlns:dss=\"urn:oasis:names:tc:dss:1.0:core:schema\""));
    tsb_consult_answer_cleanup(&a);

    /* eleven bags: refused */
    tsb_buf_reset(&body);
    tsb_buf_append_str(&body, "<TSConsultTSBagResponse xmlns=\"" NS "\">");
    for (int i = 0; i < 11; i++)
        tsb_buf_append_str(&body, "<TSBag><TSBagValue>" BAG42 "</TSBagValue>" SR "</TSBag>");
    tsb_buf_append_str(&body, "</TSConsultTSBagResponse>");
    assert_int_equal(parse_get((const char *)body.p, NULL, &a), TSB_ETOOBIG);
    tsb_consult_answer_cleanup(&a);
    tsb_buf_cleanup(&body);

    /* an Error alone, and an Error with bags */
    assert_int_equal(
        parse_get("<TSConsultTSBagResponse xmlns=\"" NS "\"><Error><Type>Unknown"
                  "Timestamp</Type><Number>2</Number></Error></TSConsultTSBagResponse>",
                  NULL, &a),
        0);
    assert_true(a.error.present);
    assert_string_equal(a.error.number, "2");
    assert_int_equal(a.n_bags, 0);
    tsb_consult_answer_cleanup(&a);

    static const struct bad_case bad[] = {
        {"<TSConsultTSBagResponse xmlns=\"" NS "\"><TSBag><TSBagValue>" BAG42
         "</TSBagValue></TSBag></TSConsultTSBagResponse>",
         TSB_EFORMAT, "SignResponse"},
        {"<TSConsultTSBagResponse xmlns=\"" NS "\"><TSBag><TSBagValue>@@@@</TSBagValue>" SR
         "</TSBag></TSConsultTSBagResponse>",
         TSB_EFORMAT, "TSBagValue"},
        {"<TSConsultTSBagResponse xmlns=\"" NS "\"><TSBag><TSBagValue></TSBagValue>" SR
         "</TSBag></TSConsultTSBagResponse>",
         TSB_EFORMAT, "empty TSBagValue"},
        {"<TSConsultTSBagResponse xmlns=\"" NS "\"><TSBag><TSBagValue>" BAG42 "</TSBagValue>" SR SR
         "</TSBag></TSConsultTSBagResponse>",
         TSB_EFORMAT, "after dss:SignResponse"},
        {"<TSConsultTSBagResponse xmlns=\"" NS "\"><TSBag><TSBagValue>" BAG42 "</TSBagValue>"
         "<SignResponse/></TSBag></TSConsultTSBagResponse>",
         TSB_ENAMESPACE, "SignResponse"},
        {"<TSConsultTSBagResponse xmlns=\"" NS "\"><Status>OK</Status></TSConsultTSBagResponse>",
         TSB_EFORMAT, "TSBag"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse_get(bad[i].body, NULL, &a);
        if (r != bad[i].code || strstr(tsb_err_detail(), bad[i].detail) == NULL)
            fail_msg("case %zu: got %s \"%s\", expected %s with \"%s\"", i, tsb_strerror(r),
                     tsb_err_detail(), tsb_strerror(bad[i].code), bad[i].detail);
        tsb_consult_answer_cleanup(&a);
    }
    /* a decoded bag over the cap */
    struct tsb_consult_limits lim = {.max_bag = 100};
    assert_int_equal(parse_get("<TSConsultTSBagResponse xmlns=\"" NS "\"><TSBag><TSBagValue>" BAG42
                               "</TSBagValue>" SR "</TSBag></TSConsultTSBagResponse>",
                               &lim, &a),
                     TSB_ETOOBIG);
    tsb_consult_answer_cleanup(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_check),      cmocka_unit_test(test_build_get),
        cmocka_unit_test(test_parse_check_good), cmocka_unit_test(test_parse_check_bad),
        cmocka_unit_test(test_parse_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
