/* Unit tests for xml: hardened parsing refuses DOCTYPEs (entity expansion), oversized and
 * malformed documents with a clear detail, and the element helpers walk namespaces correctly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "xml.h"

#include <string.h>

static int parse(const char *s, size_t max, xmlDocPtr *d)
{
    return tsb_xml_parse((const uint8_t *)s, strlen(s), max, d);
}

static void test_good_document_and_helpers(void **state)
{
    xmlDocPtr d = NULL;
    const char *s =
        "<?xml version=\"1.0\"?>\n<a xmlns=\"urn:x\"><!-- c --> <b/><c xmlns=\"\"/></a>";
    assert_int_equal(parse(s, 1024, &d), 0);
    xmlNodePtr root = xmlDocGetRootElement(d);
    assert_true(tsb_xml_is(root, "urn:x", "a"));
    assert_false(tsb_xml_is(root, "urn:y", "a"));
    xmlNodePtr b = tsb_xml_first_elem(root);
    assert_true(tsb_xml_is(b, "urn:x", "b"));
    xmlNodePtr c = tsb_xml_next_elem(b);
    assert_true(tsb_xml_is(c, NULL, "c"));
    assert_null(tsb_xml_next_elem(c));
    xmlFreeDoc(d);
}

static void test_refusals(void **state)
{
    static const struct {
        const char *doc;
        size_t max;
        int code;
        const char *detail;
    } bad[] = {
        {"<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", 1024, TSB_EFORMAT, "DOCTYPE"},
        {"<!DOCTYPE a SYSTEM \"http://127.0.0.1:1/x.dtd\"><a/>", 1024, TSB_EFORMAT, "DOCTYPE"},
        {"<a><b></a>", 1024, TSB_EFORMAT, "line 1"},
        {"", 1024, TSB_EFORMAT, "not well-formed"},
        {"<a>0123456789</a>", 8, TSB_ETOOBIG, "exceeds the limit of 8 bytes"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        xmlDocPtr d = NULL;
        assert_int_equal(parse(bad[i].doc, bad[i].max, &d), bad[i].code);
        assert_null(d);
        if (strstr(tsb_err_detail(), bad[i].detail) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, tsb_err_detail(), bad[i].detail);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_document_and_helpers),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
