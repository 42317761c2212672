/* Unit tests for dss: every SignRequest body validates against the OASIS DSS core schema (checked
 * by xmllint), carries the exact bag bytes and a fresh RequestID; SignResponses, DSS errors and
 * SOAP faults are told apart, a different RequestID is refused (an absent one accepted), tokens
 * come out in DER whatever wrapping the TSA used, and failures are classified as the sender
 * needs them (transient, suspect, definitive). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"
#include "dss.h"
#include "err.h"
#include "keystore.h"
#include "testlib.h"
#include "xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *dir;
static struct tsb_keystore *ks;
static uint8_t *token;
static size_t token_len;
static char *token_b64, *token_b64x2, *resp_b64;

static const char bag[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TimeStampBag "
                          "xmlns=\"urn:be:fgov:ehealth:timestamping:protocol:v2\" "
                          "Hash=\"SHA-256\" SequenceNumber=\"42\"><JournalEntry><Hash>"
                          "8de44a19c21dc062ad9d00ebea990cec737e3b4da467e8cac7f6a3b068d23e95"
                          "</Hash><Ref>1001</Ref></JournalEntry></TimeStampBag>";

static char *read_str(const char *name)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    size_t n;
    char *s = (char *)tsb_test_read_file(p, &n);
    if (s != NULL)
        s[strcspn(s, "\n")] = '\0';
    return s;
}

static int setup(void **state)
{
    dir = tsb_test_tmpdir();
    if (tsb_test_sh("'%s/tests/lib/test-pki.sh' '%s' rsa && cd '%s' && printf '%%s' '%s' >bag.xml "
                    "&& openssl ts -query -data bag.xml -sha256 -cert -no_nonce -out q.tsq "
                    "2>/dev/null && openssl ts -reply -config ts.cnf -queryfile q.tsq -signer "
                    "tsa.pem -inkey tsa.key -out r.tsr 2>/dev/null && openssl ts -reply -in r.tsr "
                    "-token_out -out t.tst 2>/dev/null && base64 -w 0 t.tst >t.b64 && base64 -w 0 "
                    "t.b64 >t.b64x2 && base64 -w 0 r.tsr >r.b64",
                    tsb_test_source_dir(), dir, dir, bag) != 0)
        return -1;
    char p12[4200], pass[4200], tst[4200];
    snprintf(p12, sizeof(p12), "%s/hospital.p12", dir);
    snprintf(pass, sizeof(pass), "%s/hospital.pass", dir);
    snprintf(tst, sizeof(tst), "%s/t.tst", dir);
    struct tsb_keystore_source src = {.path = p12, .password_file = pass};
    if (tsb_keystore_load(&src, (int64_t)time(NULL) * 1000, &ks) != 0)
        return -1;
    token = tsb_test_read_file(tst, &token_len);
    token_b64 = read_str("t.b64");
    token_b64x2 = read_str("t.b64x2");
    resp_b64 = read_str("r.b64");
    return token && token_b64 && token_b64x2 && resp_b64 ? 0 : -1;
}

static int teardown(void **state)
{
    tsb_keystore_free(ks);
    free(token);
    free(token_b64);
    free(token_b64x2);
    free(resp_b64);
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}

static void signed_request(enum tsb_carrier carrier, const char *rid, struct tsb_buf *out)
{
    struct tsb_dss_request rq = {.bag = (const uint8_t *)bag,
                                 .bag_len = strlen(bag),
                                 .request_id = rid,
                                 .profile = "urn:ehealth:profiles:timestamping:2.1-cert",
                                 .carrier = carrier};
    struct tsb_wss_opts wo = {.now_ms = (int64_t)time(NULL) * 1000, .ttl_s = 60};
    assert_int_equal(tsb_dss_build_signed(&rq, ks, &wo, out), 0);
}

/* The request buffer grows once, to exactly the request (the base64 is written into it once, no
 * doubling), within tsb_dss_request_max of the bag; a cap too small refuses and leaves what the
 * buffer held. */
static void test_signed_request_sized_exactly(void **state)
{
    (void)state;
    struct tsb_buf msg;
    tsb_buf_init(&msg, tsb_dss_request_max(strlen(bag)));
    signed_request(TSB_CARRIER_BASE64XML, "TSB-x-1-00", &msg);
    assert_int_equal(msg.cap, msg.len + 1);
    assert_true(msg.len <= tsb_dss_request_max(strlen(bag)));
    assert_true(msg.len > tsb_b64_encoded_len(strlen(bag)));
    assert_null(memchr(msg.p, '@', msg.len)); /* the carrier's mark never leaks */
    size_t full = msg.len;
    tsb_buf_cleanup(&msg);

    struct tsb_dss_request rq = {.bag = (const uint8_t *)bag,
                                 .bag_len = strlen(bag),
                                 .request_id = "TSB-x-1-00",
                                 .profile = "urn:ehealth:profiles:timestamping:2.1-cert",
                                 .carrier = TSB_CARRIER_BASE64XML};
    struct tsb_wss_opts wo = {.now_ms = (int64_t)time(NULL) * 1000, .ttl_s = 60};
    tsb_buf_init(&msg, full - 100 + 5);
    assert_int_equal(tsb_buf_append_str(&msg, "keep:"), 0);
    assert_int_equal(tsb_dss_build_signed(&rq, ks, &wo, &msg), TSB_ETOOBIG);
    assert_int_equal(msg.len, 5);
    assert_string_equal((char *)msg.p, "keep:");
    tsb_buf_cleanup(&msg);
}

static void test_request_id(void **state)
{
    char a[TSB_DSS_REQUEST_ID_MAX], b[TSB_DSS_REQUEST_ID_MAX];
    assert_int_equal(tsb_dss_request_id("tsa_0406798006_01", 42, a), 0);
    assert_int_equal(tsb_dss_request_id("tsa_0406798006_01", 42, b), 0);
    assert_int_equal(strncmp(a, "TSB-tsa_0406798006_01-42-", 25), 0);
    assert_int_equal(strlen(a), 25 + 16);
    assert_string_not_equal(a, b); /* unique per send, even for the same bag */
    char longid[200];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(tsb_dss_request_id(longid, 1, a), TSB_EINVAL);
}

static void schema_case(enum tsb_carrier carrier, const char *carrier_elem)
{
    struct tsb_buf msg, sr;
    tsb_buf_init(&msg, 1 << 20);
    tsb_buf_init(&sr, 1 << 20);
    signed_request(carrier, "TSB-x-1-00", &msg);
    assert_int_equal(tsb_dss_extract_sign_request(msg.p, msg.len, msg.len, &sr), 0);
    char path[4200];
    snprintf(path, sizeof(path), "%s/signrequest.xml", dir);
    assert_int_equal(tsb_test_write_file(path, sr.p, sr.len), 0);
    assert_int_equal(
        tsb_test_sh(
            "xmllint --noout --nonet --schema "
            "'%s/reference/xsd/external/oasis-dss-core-schema-v1.0-os.xsd' '%s' 2>/dev/null",
            tsb_test_shared_dir(), path),
        0);
    /* the carrier holds exactly the bag bytes */
    char open_tag[64];
    snprintf(open_tag, sizeof(open_tag), "<dss:%s", carrier_elem);
    char *p = strstr((char *)sr.p, open_tag);
    assert_non_null(p);
    p = strchr(p, '>') + 1;
    char *end = strstr(p, "</dss:");
    struct tsb_buf dec;
    tsb_buf_init(&dec, 1 << 20);
    assert_int_equal(tsb_b64_decode_buf(p, (size_t)(end - p), false, &dec), 0);
    assert_int_equal(dec.len, strlen(bag));
    assert_memory_equal(dec.p, bag, dec.len);
    assert_non_null(strstr((char *)sr.p, "RequestID=\"TSB-x-1-00\""));
    assert_non_null(strstr((char *)sr.p, "Profile=\"urn:ehealth:profiles:timestamping:2.1-cert\""));

    /* the schema check is a real witness: a SignRequest with a foreign child fails it */
    char *bad = strstr((char *)sr.p, "<dss:InputDocuments>");
    assert_non_null(bad);
    memcpy(bad, "<dss:InputDocumentz>", 20);
    char *bad2 = strstr((char *)sr.p, "</dss:InputDocuments>");
    memcpy(bad2, "</dss:InputDocumentz>", 21);
    assert_int_equal(tsb_test_write_file(path, sr.p, sr.len), 0);
    assert_int_not_equal(
        tsb_test_sh(
            "xmllint --noout --nonet --schema "
            "'%s/reference/xsd/external/oasis-dss-core-schema-v1.0-os.xsd' '%s' 2>/dev/null",
            tsb_test_shared_dir(), path),
        0);
    tsb_buf_cleanup(&dec);
    tsb_buf_cleanup(&sr);
    tsb_buf_cleanup(&msg);
}

static void test_request_validates_base64xml(void **state)
{
    schema_case(TSB_CARRIER_BASE64XML, "Base64XML");
}

static void test_request_validates_base64data(void **state)
{
    schema_case(TSB_CARRIER_BASE64DATA, "Base64Data");
}

static char *response(const char *rid_attr, const char *major, const char *extra_result,
                      const char *token_text)
{
    size_t n = 4096 + (token_text ? strlen(token_text) : 0);
    char *s = malloc(n);
    snprintf(s, n,
             "<?xml version=\"1.0\"?>\n<s:Envelope "
             "xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header/><s:Body>"
             "<dss:SignResponse xmlns:dss=\"urn:oasis:names:tc:dss:1.0:core:schema\" %s "
             "Profile=\"urn:ehealth:profiles:timestamping:2.1-cert\"><dss:Result><dss:ResultMajor>"
             "%s</dss:ResultMajor>%s</dss:Result>%s%s%s</dss:SignResponse></s:Body></s:Envelope>",
             rid_attr, major, extra_result,
             token_text ? "<dss:SignatureObject><dss:Timestamp><dss:RFC3161TimeStampToken>" : "",
             token_text ? token_text : "",
             token_text ? "</dss:RFC3161TimeStampToken></dss:Timestamp></dss:SignatureObject>"
                        : "");
    return s;
}

static int parse(const char *s, struct tsb_dss_response *r)
{
    tsb_dss_response_init(r);
    return tsb_dss_parse_response((const uint8_t *)s, strlen(s), 1 << 20, "RID-1", r);
}

static void test_success_forms(void **state)
{
    const struct {
        const char *text;
        int layers;
        bool full;
    } cases[] = {{token_b64, 1, false}, {token_b64x2, 2, false}, {resp_b64, 1, true}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = response("RequestID=\"RID-1\"", TSB_DSS_SUCCESS_URI, "", cases[i].text);
        struct tsb_dss_response r;
        assert_int_equal(parse(s, &r), 0);
        assert_int_equal(r.kind, TSB_DSS_OK);
        assert_string_equal(r.request_id, "RID-1");
        assert_string_equal(r.profile, "urn:ehealth:profiles:timestamping:2.1-cert");
        assert_int_equal(r.form.base64_layers, cases[i].layers);
        assert_int_equal(r.form.full_response, cases[i].full);
        assert_int_equal(r.token.len, token_len);
        assert_memory_equal(r.token.p, token, token_len);
        tsb_dss_response_cleanup(&r);
        free(s);
    }
}

/* A standalone SignResponse (archived, or embedded in a TimeStampConsult TSBag) decodes alike. */
static void test_standalone_sign_response(void **state)
{
    (void)state;
    char *s = response("RequestID=\"RID-1\"", TSB_DSS_SUCCESS_URI, "", token_b64x2);
    const char *sr = strstr(s, "<dss:SignResponse");
    char *end = strstr(s, "</s:Body>");
    assert_non_null(sr);
    assert_non_null(end);
    *end = '\0';
    struct tsb_dss_response r;
    tsb_dss_response_init(&r);
    assert_int_equal(
        tsb_dss_parse_sign_response((const uint8_t *)sr, strlen(sr), 1 << 20, NULL, &r), 0);
    assert_int_equal(r.kind, TSB_DSS_OK);
    assert_int_equal(r.form.base64_layers, 2);
    assert_int_equal(r.token.len, token_len);
    assert_memory_equal(r.token.p, token, token_len);
    tsb_dss_response_cleanup(&r);
    /* the RequestID check applies when asked; an envelope is not a standalone SignResponse */
    tsb_dss_response_init(&r);
    assert_int_equal(
        tsb_dss_parse_sign_response((const uint8_t *)sr, strlen(sr), 1 << 20, "RID-2", &r),
        TSB_EPROTO);
    tsb_dss_response_cleanup(&r);
    *end = '<';
    tsb_dss_response_init(&r);
    assert_int_equal(tsb_dss_parse_sign_response((const uint8_t *)s, strlen(s), 1 << 20, NULL, &r),
                     TSB_EFORMAT);
    tsb_dss_response_cleanup(&r);
    free(s);
}

/* What the sender archives: the SignResponse cut out of the answer, readable on its own. */
static void test_extract_sign_response(void **state)
{
    char *s = response("RequestID=\"RID-1\"", TSB_DSS_SUCCESS_URI, "", token_b64);
    struct tsb_buf sr;
    tsb_buf_init(&sr, 1 << 20);
    assert_int_equal(tsb_dss_extract_sign_response((const uint8_t *)s, strlen(s), 1 << 20, &sr), 0);
    assert_non_null(strstr((char *)sr.p, "<dss:SignResponse"));
    assert_null(strstr((char *)sr.p, "Envelope"));
    struct tsb_dss_response r;
    tsb_dss_response_init(&r);
    assert_int_equal(tsb_dss_parse_sign_response(sr.p, sr.len, 1 << 20, "RID-1", &r), 0);
    assert_int_equal(r.kind, TSB_DSS_OK);
    assert_int_equal(r.token.len, token_len);
    assert_memory_equal(r.token.p, token, token_len);
    tsb_dss_response_cleanup(&r);
    /* a fault holds no SignResponse */
    const char *fault = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
                        "<s:Fault><faultcode>s:Server</faultcode></s:Fault></s:Body></s:Envelope>";
    tsb_buf_reset(&sr);
    assert_int_equal(
        tsb_dss_extract_sign_response((const uint8_t *)fault, strlen(fault), 1 << 20, &sr),
        TSB_EFORMAT);
    tsb_buf_cleanup(&sr);
    free(s);
}

/* The sender's one parse: the SignResponse kept is byte for byte the one the extract cuts, from
 * the same tree as the token; nothing is kept from a refusal; a copy over the cap is reported
 * without failing the parse. */
static void test_parse_keep(void **state)
{
    (void)state;
    char *s = response("RequestID=\"RID-1\"", TSB_DSS_SUCCESS_URI, "", token_b64x2);
    struct tsb_buf cut, kept_sr;
    tsb_buf_init(&cut, 1 << 20);
    tsb_buf_init(&kept_sr, 1 << 20);
    assert_int_equal(tsb_dss_extract_sign_response((const uint8_t *)s, strlen(s), 1 << 20, &cut),
                     0);
    assert_int_equal(tsb_buf_append_str(&kept_sr, "left over from a previous attempt"), 0);
    struct tsb_dss_response r;
    bool kept = false;
    tsb_dss_response_init(&r);
    assert_int_equal(tsb_dss_parse_response_keep((const uint8_t *)s, strlen(s), 1 << 20, "RID-1",
                                                 &r, &kept_sr, &kept),
                     0);
    assert_true(kept);
    assert_int_equal(r.kind, TSB_DSS_OK);
    assert_int_equal(r.token.len, token_len);
    assert_memory_equal(r.token.p, token, token_len);
    assert_int_equal(kept_sr.len, cut.len);
    assert_memory_equal(kept_sr.p, cut.p, cut.len);
    tsb_dss_response_cleanup(&r);

    /* a DSS refusal and a SOAP fault: nothing to archive */
    char *refused = response("RequestID=\"RID-1\"",
                             "urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError", "", NULL);
    const char *fault = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
                        "<s:Fault><faultcode>s:Server</faultcode></s:Fault></s:Body></s:Envelope>";
    const char *answers[] = {refused, fault};
    for (size_t i = 0; i < 2; i++) {
        tsb_dss_response_init(&r);
        kept = true;
        assert_int_equal(tsb_dss_parse_response_keep((const uint8_t *)answers[i],
                                                     strlen(answers[i]), 1 << 20, "RID-1", &r,
                                                     &kept_sr, &kept),
                         0);
        assert_false(kept);
        assert_int_not_equal(r.kind, TSB_DSS_OK);
        tsb_dss_response_cleanup(&r);
    }

    /* the token decoded, the copy does not fit its buffer's cap: parsed, not kept, said why */
    struct tsb_buf tiny;
    tsb_buf_init(&tiny, 64);
    tsb_dss_response_init(&r);
    kept = true;
    assert_int_equal(tsb_dss_parse_response_keep((const uint8_t *)s, strlen(s), 1 << 20, "RID-1",
                                                 &r, &tiny, &kept),
                     0);
    assert_false(kept);
    assert_int_equal(r.kind, TSB_DSS_OK);
    assert_int_equal(tiny.len, 0);
    assert_true(tsb_err_detail()[0] != '\0');
    tsb_dss_response_cleanup(&r);
    tsb_buf_cleanup(&tiny);
    tsb_buf_cleanup(&kept_sr);
    tsb_buf_cleanup(&cut);
    free(refused);
    free(s);
}

static void test_dss_error_and_fault(void **state)
{
    char *s =
        response("RequestID=\"RID-1\"", "urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError",
                 "<dss:ResultMinor>urn:oasis:names:tc:dss:1.0:resultminor:NotAuthorized"
                 "</dss:ResultMinor><dss:ResultMessage xml:lang=\"en\">certificate not "
                 "allowed</dss:ResultMessage>",
                 NULL);
    struct tsb_dss_response r;
    assert_int_equal(parse(s, &r), 0);
    assert_int_equal(r.kind, TSB_DSS_ERROR);
    char why[512];
    tsb_dss_response_reason(&r, why, sizeof(why));
    assert_string_equal(why, "urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError / "
                             "urn:oasis:names:tc:dss:1.0:resultminor:NotAuthorized: certificate "
                             "not allowed");
    assert_int_equal(r.token.len, 0);
    tsb_dss_response_cleanup(&r);
    free(s);

    const char *fault = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
                        "<s:Fault><faultcode xmlns:wsse=\"x\">wsse:InvalidSecurity</faultcode>"
                        "<faultstring>signature does not verify</faultstring></s:Fault></s:Body>"
                        "</s:Envelope>";
    assert_int_equal(parse(fault, &r), 0);
    assert_int_equal(r.kind, TSB_DSS_FAULT);
    assert_string_equal(r.fault_code, "wsse:InvalidSecurity");
    tsb_dss_response_reason(&r, why, sizeof(why));
    assert_string_equal(why, "SOAP fault wsse:InvalidSecurity: signature does not verify");
    tsb_dss_response_cleanup(&r);
}

static void test_refusals(void **state)
{
    char *wrong_id = response("RequestID=\"RID-2\"", TSB_DSS_SUCCESS_URI, "", token_b64);
    char *no_id = response("", TSB_DSS_SUCCESS_URI, "", token_b64);
    char *no_token = response("RequestID=\"RID-1\"", TSB_DSS_SUCCESS_URI, "", NULL);
    char *bad_token = response("RequestID=\"RID-1\"", TSB_DSS_SUCCESS_URI, "", "aGVsbG8=");
    const struct {
        const char *doc;
        int code;
        const char *detail;
    } cases[] = {
        {wrong_id, TSB_EPROTO, "'RID-2' does not echo the request's 'RID-1'"},
        {no_token, TSB_EFORMAT, "holds no SignatureObject"},
        {bad_token, TSB_EFORMAT, "neither a TimeStampToken nor a TimeStampResp"},
        {"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><x/>"
         "</s:Body></s:Envelope>",
         TSB_EFORMAT, "neither a SignResponse nor a Fault"},
        {"<Envelope/>", TSB_EFORMAT, "not a SOAP 1.1 Envelope"},
        {"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">", TSB_EFORMAT,
         "not well-formed"},
        {"<!DOCTYPE s [<!ENTITY e \"x\">]><s/>", TSB_EFORMAT, "DOCTYPE"},
        {"<html>503 Service Unavailable</html>", TSB_EFORMAT, "not a SOAP 1.1 Envelope"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tsb_dss_response r;
        assert_int_equal(parse(cases[i].doc, &r), cases[i].code);
        assert_int_equal(r.token.len, 0);
        if (strstr(tsb_err_detail(), cases[i].detail) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, tsb_err_detail(), cases[i].detail);
        tsb_dss_response_cleanup(&r);
    }
    /* an absent RequestID is accepted (the sender notes it), with the token */
    struct tsb_dss_response r;
    assert_int_equal(parse(no_id, &r), 0);
    assert_int_equal(r.kind, TSB_DSS_OK);
    assert_null(r.request_id);
    assert_int_equal(r.token.len, token_len);
    tsb_dss_response_cleanup(&r);
    /* size cap */
    tsb_dss_response_init(&r);
    assert_int_equal(
        tsb_dss_parse_response((const uint8_t *)wrong_id, strlen(wrong_id), 100, "RID-1", &r),
        TSB_ETOOBIG);
    tsb_dss_response_cleanup(&r);
    free(wrong_id);
    free(no_id);
    free(no_token);
    free(bad_token);
}

static void test_classes(void **state)
{
    (void)state;
    const struct {
        enum tsb_dss_kind kind;
        const char *code; /* faultcode or ResultMajor */
        enum tsb_dss_class want;
    } answers[] = {
        {TSB_DSS_FAULT, "soapenv:Server", TSB_DSS_TRANSIENT},
        {TSB_DSS_FAULT, "Server", TSB_DSS_TRANSIENT},
        {TSB_DSS_FAULT, "soapenv:Client", TSB_DSS_DEFINITIVE},
        {TSB_DSS_FAULT, "wsse:InvalidSecurity", TSB_DSS_DEFINITIVE},
        {TSB_DSS_FAULT, "wsse:FailedAuthentication", TSB_DSS_DEFINITIVE},
        {TSB_DSS_ERROR, "urn:oasis:names:tc:dss:1.0:resultmajor:ResponderError", TSB_DSS_TRANSIENT},
        {TSB_DSS_ERROR, "urn:oasis:names:tc:dss:1.0:resultmajor:RequesterError",
         TSB_DSS_DEFINITIVE},
        {TSB_DSS_ERROR, "urn:oasis:names:tc:dss:1.0:resultmajor:InsufficientInformation",
         TSB_DSS_SUSPECT},
        {TSB_DSS_ERROR, "RequesterError", TSB_DSS_DEFINITIVE},
        {TSB_DSS_ERROR, "urn:example:other:RequesterError", TSB_DSS_SUSPECT},
    };
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        struct tsb_dss_response r;
        tsb_dss_response_init(&r);
        r.kind = answers[i].kind;
        if (r.kind == TSB_DSS_FAULT)
            r.fault_code = (char *)answers[i].code;
        else
            r.result_major = (char *)answers[i].code;
        if (tsb_dss_response_class(&r) != answers[i].want)
            fail_msg("answer %zu (%s): %s", i, answers[i].code,
                     tsb_dss_class_name(tsb_dss_response_class(&r)));
    }
    const struct {
        long status;
        enum tsb_dss_class want;
    } http[] = {
        {500, TSB_DSS_TRANSIENT},  {502, TSB_DSS_TRANSIENT},  {503, TSB_DSS_TRANSIENT},
        {408, TSB_DSS_TRANSIENT},  {429, TSB_DSS_TRANSIENT},  {400, TSB_DSS_DEFINITIVE},
        {403, TSB_DSS_DEFINITIVE}, {404, TSB_DSS_DEFINITIVE}, {200, TSB_DSS_SUSPECT},
    };
    for (size_t i = 0; i < sizeof(http) / sizeof(http[0]); i++)
        if (tsb_dss_http_class(http[i].status) != http[i].want)
            fail_msg("HTTP %ld: %s", http[i].status,
                     tsb_dss_class_name(tsb_dss_http_class(http[i].status)));
    assert_string_equal(tsb_dss_class_name(TSB_DSS_DEFINITIVE), "definitive");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_signed_request_sized_exactly),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_request_validates_base64xml),
        cmocka_unit_test(test_request_validates_base64data),
        cmocka_unit_test(test_success_forms),
        cmocka_unit_test(test_standalone_sign_response),
        cmocka_unit_test(test_extract_sign_response),
        cmocka_unit_test(test_parse_keep),
        cmocka_unit_test(test_dss_error_and_fault),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
