/* Unit tests for finding: tokens made at test time by stock `openssl ts -reply` over each
 * candidate (the bag bytes with SHA-256 and SHA-384, the base64 text of the request's carrier as
 * xmllint reads it, the exc-c14n of the bag, of the SignRequest and of the SOAP Body as
 * `xmllint --exc-c14n` writes them, the whole request with SHA-512, unrelated data) are traced
 * back to the data their imprint covers; a token made without certReq is reported as carrying no
 * certificates, one re-signed by `openssl cms` with RSASSA-PSS as a PSS token, an ordinary one as
 * nothing unusual. The witnesses are openssl and xmllint, not tsbag's own hashing or
 * canonicalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dss.h"
#include "err.h"
#include "finding.h"
#include "testlib.h"
#include "xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static struct tsb_buf request;

static const char bag[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TimeStampBag "
                          "xmlns=\"urn:be:fgov:ehealth:timestamping:protocol:v2\" "
                          "Hash=\"SHA-256\" SequenceNumber=\"7\"><JournalEntry><Hash>"
                          "8de44a19c21dc062ad9d00ebea990cec737e3b4da467e8cac7f6a3b068d23e95"
                          "</Hash><Ref>1001</Ref></JournalEntry></TimeStampBag>";

static int setup(void **state)
{
    (void)state;
    dir = tsb_test_tmpdir();
    struct tsb_dss_request rq = {.bag = (const uint8_t *)bag,
                                 .bag_len = strlen(bag),
                                 .request_id = "TSB-test-7-00",
                                 .profile = "urn:ehealth:profiles:timestamping:2.1-cert",
                                 .carrier = TSB_CARRIER_BASE64XML};
    xmlDocPtr doc = NULL;
    tsb_buf_init(&request, 1 << 20);
    if (tsb_dss_build(&rq, &doc) != 0 || tsb_xml_serialise(doc, &request) != 0)
        return -1;
    xmlFreeDoc(doc);
    char path[4200];
    snprintf(path, sizeof(path), "%s/req.xml", dir);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(request.p, 1, request.len, f) != request.len)
        return -1;
    fclose(f);
    /* token NAME DATA ALG [-cert]: a TimeStampToken over DATA made by openssl ts -reply */
    return tsb_test_sh(
        "'%s/tests/lib/test-pki.sh' '%s' rsa && cd '%s' && printf '%%s' '%s' >bag.xml && "
        "sed 's/^digests = .*/digests = sha256, sha384, sha512/' ts.cnf >ts2.cnf && "
        "printf '%%s' \"$(xmllint --xpath 'string(//*[local-name()=\"Base64XML\"])' req.xml)\" "
        ">b64.txt && xmllint --exc-c14n bag.xml >c14n.xml && printf 'other data' >other.bin && "
        "token() { openssl ts -query -data \"$2\" -\"$3\" $4 -no_nonce -out \"$1.tsq\" && "
        "openssl ts -reply -config ts2.cnf -queryfile \"$1.tsq\" -signer tsa.pem -inkey tsa.key "
        "-token_out -out \"$1.tst\"; } 2>/dev/null && "
        "token bag256 bag.xml sha256 -cert && token bag384 bag.xml sha384 -cert && "
        "token b64 b64.txt sha256 -cert && token c14n c14n.xml sha256 -cert && "
        "token req req.xml sha512 -cert && token other other.bin sha256 -cert && "
        "token nocerts bag.xml sha256 '' && "
        "sed -n 's:.*\\(<dss\\:SignRequest .*</dss\\:SignRequest>\\).*:\\1:p' req.xml >sr.xml && "
        "sed -n 's:.*<soapenv\\:Body>\\(.*\\)</soapenv\\:Body>.*:<soapenv\\:Body xmlns\\:soapenv="
        "\"http\\://schemas.xmlsoap.org/soap/envelope/\">\\1</soapenv\\:Body>:p' req.xml >body.xml "
        "&& "
        "xmllint --exc-c14n sr.xml >sr-c14n.xml && xmllint --exc-c14n body.xml >body-c14n.xml && "
        "token sr sr-c14n.xml sha256 -cert && token body body-c14n.xml sha256 -cert && "
        "openssl cms -verify -noverify -inform DER -in bag256.tst -out tstinfo.der 2>/dev/null && "
        "openssl cms -sign -binary -nodetach -nosmimecap -md sha256 "
        "-econtent_type id-smime-ct-TSTInfo -signer tsa.pem -inkey tsa.key -keyopt "
        "rsa_padding_mode:pss -in tstinfo.der -outform DER -out pss.tst 2>/dev/null && "
        "! cmp -s b64.txt /dev/null && ! cmp -s c14n.xml bag.xml",
        tsb_test_source_dir(), dir, dir, bag);
}

static int teardown(void **state)
{
    (void)state;
    tsb_buf_cleanup(&request);
    tsb_test_sh("rm -rf '%s'", dir);
    free(dir);
    return 0;
}

/* A token file of the setup, what finding must say about it (key, words of the sentence). */
struct expect {
    const char *token;
    const char *key;
    const char *words;
};

static uint8_t *token(const char *name, size_t *len)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s.tst", dir, name);
    uint8_t *t = tsb_test_read_file(p, len);
    if (t == NULL)
        fail_msg("no token %s", p);
    return t;
}

static void test_imprint_candidates(void **state)
{
    (void)state;
    static const struct expect cases[] = {
        {"bag256", "imprint:sha256:bag-bytes", "sha256 messageImprint covers the bag bytes"},
        {"bag384", "imprint:sha384:bag-bytes", "sha384 messageImprint covers the bag bytes"},
        {"b64", "imprint:sha256:base64-text", "covers the base64 text of the bag as sent"},
        {"c14n", "imprint:sha256:bag-c14n", "exclusive canonical form (exc-c14n) of the bag"},
        {"sr", "imprint:sha256:sign-request-c14n", "canonical form of the whole dss:SignRequest"},
        {"body", "imprint:sha256:soap-body-c14n", "canonical form of the whole SOAP Body"},
        {"req", "imprint:sha512:request-bytes", "the whole SOAP request as sent"},
        {"other", "imprint:sha256:none", "matches none of"},
    };
    struct tsb_finding_request fr = {.bag = (const uint8_t *)bag,
                                     .bag_len = strlen(bag),
                                     .msg = request.p,
                                     .msg_len = request.len,
                                     .max_len = 1 << 20};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = 0;
        uint8_t *t = token(cases[i].token, &len);
        struct tsb_finding f;
        memset(&f, 0, sizeof(f));
        assert_int_equal(tsb_finding_imprint(t, len, &fr, &f), 0);
        if (strcmp(f.key, cases[i].key) != 0 || strstr(f.text, cases[i].words) == NULL)
            fail_msg("%s: key %s, text '%s'; expected %s, '%s'", cases[i].token, f.key, f.text,
                     cases[i].key, cases[i].words);
        free(t);
    }
    /* without the request only the bag candidates are tried */
    size_t len = 0;
    uint8_t *t = token("b64", &len);
    struct tsb_finding f;
    memset(&f, 0, sizeof(f));
    fr.msg = NULL;
    assert_int_equal(tsb_finding_imprint(t, len, &fr, &f), 0);
    assert_string_equal(f.key, "imprint:sha256:none");
    /* not a token: an error, the finding untouched */
    snprintf(f.key, sizeof(f.key), "untouched");
    assert_int_equal(tsb_finding_imprint((const uint8_t *)"\x30\x03\x02\x01\x01", 5, &fr, &f),
                     TSB_EFORMAT);
    assert_string_equal(f.key, "untouched");
    free(t);
}

static void test_token_shape(void **state)
{
    (void)state;
    static const struct expect cases[] = {
        {"bag256", "", ""},
        {"nocerts", "token:no-certificates", "tsa.tsa_certs"},
        {"pss", "signature:rsassa-pss", "RSASSA-PSS"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = 0;
        uint8_t *t = token(cases[i].token, &len);
        struct tsb_finding f;
        tsb_finding_token_shape(t, len, &f);
        if (strcmp(f.key, cases[i].key) != 0 || strstr(f.text, cases[i].words) == NULL)
            fail_msg("%s: key '%s', text '%s'", cases[i].token, f.key, f.text);
        free(t);
    }
    struct tsb_finding f;
    tsb_finding_token_shape((const uint8_t *)"junk", 4, &f);
    assert_string_equal(f.key, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_imprint_candidates),
        cmocka_unit_test(test_token_shape),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
