/* Unit tests for bag: the protocol reference §3.1 golden bytes and digest, the writer's exact
 * format for every option, writer misuse and buffer caps, schema validity of what the writer
 * produces (libxml2's XSD validator and xmllint as an independent witness), the parser's
 * refusals (code and detail), its limits, and parse(build(x)) == x round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bag.h"
#include "codec.h"
#include "err.h"
#include "hash.h"
#include "testlib.h"
#include "xml.h"

#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlschemas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECL   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define NS_V2  "urn:be:fgov:ehealth:timestamping:protocol:v2"
#define NS_V1  "http://www.behealth.be/webservices/tsa"
#define H1_HEX "8de44a19c21dc062ad9d00ebea990cec737e3b4da467e8cac7f6a3b068d23e95"
#define H1_B64 "jeRKGcIdwGKtnQDr6pkM7HN+O02kZ+jKx/ajsGjSPpU="

/* protocol reference §3.1, byte for byte */
static const char golden[] =
    DECL "<TimeStampBag xmlns=\"" NS_V2 "\" Hash=\"SHA-256\" SequenceNumber=\"42\"><JournalEntry>"
         "<Hash>" H1_HEX "</Hash><Ref>1001</Ref></JournalEntry></TimeStampBag>";
static const char golden_sha256_hex[] =
    "0ec5b2bd9e7d31ff09c7f55dfcc5faaa09f700b34184146a767337e79ffc2300";
static const char golden_sha256_b64[] = "DsWyvZ59Mf8Jx/Vd/MX6qgn3ALNBhBRqdnM355/8IwA=";
static const char golden_b64[] =
    "PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRGLTgiPz4KPFRpbWVTdGFtcEJhZyB4bWxucz0idXJuOmJlOmZnb3"
    "Y6ZWhlYWx0aDp0aW1lc3RhbXBpbmc6cHJvdG9jb2w6djIiIEhhc2g9IlNIQS0yNTYiIFNlcXVlbmNlTnVtYmVyPSI0MiI+"
    "PEpvdXJuYWxFbnRyeT48SGFzaD44ZGU0NGExOWMyMWRjMDYyYWQ5ZDAwZWJlYTk5MGNlYzczN2UzYjRkYTQ2N2U4Y2FjN2"
    "Y2YTNiMDY4ZDIzZTk1PC9IYXNoPjxSZWY+MTAwMTwvUmVmPjwvSm91cm5hbEVudHJ5PjwvVGltZVN0YW1wQmFnPg==";

static void digest_of(const char *hex, uint8_t d[TSB_SHA256_LEN])
{
    assert_int_equal(tsb_hex_decode(hex, strlen(hex), d, TSB_SHA256_LEN), 0);
}

static void expect_detail(const char *what, const char *needle)
{
    if (strstr(tsb_err_detail(), needle) == NULL)
        fail_msg("%s: detail '%s' lacks '%s'", what, tsb_err_detail(), needle);
}

/* splitmix64: deterministic pseudo-random entries, so a failure is reproducible */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* n entries with strictly increasing refs starting near first, random digests */
static struct tsb_bag_entry *make_entries(size_t n, int64_t first, uint64_t seed)
{
    struct tsb_bag_entry *e = calloc(n ? n : 1, sizeof(*e));
    assert_non_null(e);
    int64_t ref = first;
    for (size_t i = 0; i < n; i++) {
        e[i].ref = ref;
        for (size_t k = 0; k < TSB_SHA256_LEN; k += 8) {
            uint64_t v = rnd(&seed);
            memcpy(e[i].digest + k, &v, 8);
        }
        int64_t step = 1 + (int64_t)(rnd(&seed) % 1000);
        if (i + 1 < n) {
            assert_true(ref <= INT64_MAX - step);
            ref += step;
        }
    }
    return e;
}

/* ---- builder ------------------------------------------------------------------------------- */

static void test_golden_bytes_and_digest(void **state)
{
    (void)state;
    struct tsb_bag_entry e = {.ref = 1001};
    digest_of(H1_HEX, e.digest);
    struct tsb_bag_opts o = {TSB_BAG_NS_V2, TSB_HASH_HEX, NULL};
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    assert_int_equal(tsb_bag_build(&o, 42, &e, 1, &b), 0);
    assert_int_equal(b.len, strlen(golden));
    assert_memory_equal(b.p, golden, b.len);
    assert_int_equal(tsb_bag_size(&o, 42, &e, 1), b.len);
    /* no trailing newline, exactly one newline (after the declaration) */
    assert_int_not_equal(b.p[b.len - 1], '\n');
    assert_ptr_equal(memchr(b.p, '\n', b.len), b.p + strlen(DECL) - 1);

    uint8_t d[TSB_SHA256_LEN];
    char s[TSB_HASH_STR_MAX];
    tsb_sha256(b.p, b.len, d);
    tsb_hash_encode(d, TSB_HASH_HEX, s);
    assert_string_equal(s, golden_sha256_hex);
    tsb_hash_encode(d, TSB_HASH_BASE64, s);
    assert_string_equal(s, golden_sha256_b64);
    char *b64 = malloc(tsb_b64_encoded_len(b.len) + 1);
    tsb_b64_encode(b.p, b.len, b64);
    assert_string_equal(b64, golden_b64);
    free(b64);

    /* the streaming writer (defaults: o NULL) gives the same bytes after existing content */
    struct tsb_buf s2;
    tsb_buf_init(&s2, 1 << 20);
    assert_int_equal(tsb_buf_append_str(&s2, "prefix"), 0);
    struct tsb_bag_writer w;
    assert_int_equal(tsb_bag_writer_begin(&w, NULL, 42, &s2), 0);
    assert_int_equal(tsb_bag_writer_add(&w, 1001, e.digest), 0);
    assert_int_equal(tsb_bag_writer_end(&w), 0);
    assert_int_equal(s2.len, 6 + b.len);
    assert_memory_equal(s2.p, "prefix", 6);
    assert_memory_equal(s2.p + 6, b.p, b.len);
    assert_int_equal(s2.p[s2.len], '\0');
    tsb_buf_cleanup(&s2);
    tsb_buf_cleanup(&b);
}

static void test_format_of_every_option(void **state)
{
    (void)state;
    uint8_t d[TSB_SHA256_LEN];
    digest_of(H1_HEX, d);
    struct tsb_bag_entry e[2] = {{.ref = 1}, {.ref = INT64_MAX}};
    memcpy(e[0].digest, d, sizeof(d));
    memcpy(e[1].digest, d, sizeof(d));
    static const struct {
        struct tsb_bag_opts o;
        int64_t seq;
        const char *want;
    } cases[] = {
        {{TSB_BAG_NS_V1, TSB_HASH_HEX, NULL},
         7,
         DECL "<TimeStampBag xmlns=\"" NS_V1 "\" Hash=\"SHA-256\" SequenceNumber=\"7\">"
              "<JournalEntry><Hash>" H1_HEX "</Hash><Ref>1</Ref></JournalEntry>"
              "<JournalEntry><Hash>" H1_HEX "</Hash><Ref>9223372036854775807</Ref></JournalEntry>"
              "</TimeStampBag>"},
        {{TSB_BAG_NS_V2, TSB_HASH_BASE64, "Bag"},
         0,
         DECL "<Bag xmlns=\"" NS_V2 "\" Hash=\"SHA-256\" SequenceNumber=\"0\">"
              "<JournalEntry><Hash>" H1_B64 "</Hash><Ref>1</Ref></JournalEntry>"
              "<JournalEntry><Hash>" H1_B64 "</Hash><Ref>9223372036854775807</Ref></JournalEntry>"
              "</Bag>"},
        {{TSB_BAG_NS_V1, TSB_HASH_BASE64, "_t.S-b9"},
         INT64_MIN,
         DECL "<_t.S-b9 xmlns=\"" NS_V1
              "\" Hash=\"SHA-256\" SequenceNumber=\"-9223372036854775808\">"
              "<JournalEntry><Hash>" H1_B64 "</Hash><Ref>1</Ref></JournalEntry>"
              "<JournalEntry><Hash>" H1_B64 "</Hash><Ref>9223372036854775807</Ref></JournalEntry>"
              "</_t.S-b9>"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tsb_buf b;
        tsb_buf_init(&b, 1 << 20);
        assert_int_equal(tsb_bag_build(&cases[i].o, cases[i].seq, e, 2, &b), 0);
        if (strcmp((const char *)b.p, cases[i].want) != 0)
            fail_msg("case %zu:\n got  %s\n want %s", i, (const char *)b.p, cases[i].want);
        assert_int_equal(tsb_bag_size(&cases[i].o, cases[i].seq, e, 2), b.len);
        tsb_buf_cleanup(&b);
    }
}

/* The hand-rolled integer formatter against printf, on the values around each digit count. */
static void test_integer_formatting(void **state)
{
    (void)state;
    int64_t vals[64];
    size_t nv = 0;
    vals[nv++] = 0;
    vals[nv++] = INT64_MAX;
    vals[nv++] = INT64_MIN;
    vals[nv++] = INT64_MIN + 1;
    for (int64_t p = 1; p <= INT64_MAX / 10; p *= 10) {
        vals[nv++] = p;
        vals[nv++] = p * 10 - 1;
        vals[nv++] = -p;
    }
    uint8_t d[TSB_SHA256_LEN] = {0};
    for (size_t i = 0; i < nv; i++) {
        struct tsb_bag_entry e = {.ref = vals[i] > 0 ? vals[i] : 1};
        memcpy(e.digest, d, sizeof(d));
        struct tsb_buf b;
        tsb_buf_init(&b, 4096);
        assert_int_equal(tsb_bag_build(NULL, vals[i], &e, 1, &b), 0);
        char want[128];
        snprintf(want, sizeof(want), "SequenceNumber=\"%" PRId64 "\"><JournalEntry>", vals[i]);
        if (strstr((const char *)b.p, want) == NULL)
            fail_msg("seq %" PRId64 ": %s", vals[i], (const char *)b.p);
        snprintf(want, sizeof(want), "<Ref>%" PRId64 "</Ref>", e.ref);
        if (strstr((const char *)b.p, want) == NULL)
            fail_msg("ref %" PRId64 ": %s", e.ref, (const char *)b.p);
        assert_int_equal(tsb_bag_size(NULL, vals[i], &e, 1), b.len);
        tsb_buf_cleanup(&b);
    }
}

static void test_root_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *detail; /* NULL: accepted */
    } cases[] = {
        {"TimeStampBag", NULL},
        {"_x", NULL},
        {"a.b-c_9", NULL},
        {"Tijdstempelzak\xc3\xa9", NULL}, /* U+00E9: a non-ASCII NCName */
        {"\xc3\xa9t\xc3\xa9", NULL},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL}, /* 64 */
        {"", "empty"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "65 bytes"},
        {"1bag", "bad first character"},
        {"-bag", "bad first character"},
        {".bag", "bad first character"},
        {"ts:Bag", "character 3"},
        {"a b", "character 2"},
        {"a>b", "character 2"},
        {"a\"", "character 2"},
        {"bag\xff", "not valid UTF-8"},
        {"\xc3\x97x", "not an XML NCName"}, /* U+00D7 (multiplication sign) is not a name char */
    };
    uint8_t d[TSB_SHA256_LEN] = {1};
    struct tsb_bag_entry e = {.ref = 5};
    memcpy(e.digest, d, sizeof(d));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tsb_bag_opts o = {TSB_BAG_NS_V2, TSB_HASH_HEX, cases[i].name};
        struct tsb_buf b;
        tsb_buf_init(&b, 4096);
        int r = tsb_bag_build(&o, 1, &e, 1, &b);
        struct tsb_bag_writer w;
        if (cases[i].detail == NULL) {
            if (r != 0)
                fail_msg("case %zu refused: %s", i, tsb_err_detail());
            assert_int_equal(tsb_bag_check_root(cases[i].name), 0);
            /* the name is well-formed XML to a real parser */
            xmlDocPtr doc = NULL;
            assert_int_equal(tsb_xml_parse(b.p, b.len, b.len, &doc), 0);
            assert_string_equal((const char *)xmlDocGetRootElement(doc)->name, cases[i].name);
            xmlFreeDoc(doc);
            assert_int_equal(tsb_bag_writer_begin(&w, &o, 1, &b), 0);
        } else {
            assert_int_equal(r, TSB_EINVAL);
            expect_detail(cases[i].name, cases[i].detail);
            assert_int_equal(b.len, 0);
            assert_int_equal(tsb_bag_writer_begin(&w, &o, 1, &b), TSB_EINVAL);
            assert_int_equal(b.len, 0);
            assert_int_equal(tsb_bag_check_root(cases[i].name), TSB_EINVAL);
        }
        tsb_buf_cleanup(&b);
    }
    assert_int_equal(tsb_bag_check_root(NULL), TSB_EINVAL);
}

static void test_writer_misuse(void **state)
{
    (void)state;
    uint8_t d[TSB_SHA256_LEN] = {0};
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    assert_int_equal(tsb_buf_append_str(&b, "keep"), 0);
    struct tsb_bag_writer w;

    /* zero entries */
    assert_int_equal(tsb_bag_build(NULL, 1, NULL, 0, &b), TSB_EINVAL);
    expect_detail("build n=0", "at least one JournalEntry");
    assert_int_equal(tsb_bag_writer_begin(&w, NULL, 1, &b), 0);
    assert_true(b.len > 4);
    assert_int_equal(tsb_bag_writer_end(&w), TSB_EINVAL);
    expect_detail("end without entries", "at least one JournalEntry");
    assert_int_equal(b.len, 4);
    assert_string_equal((const char *)b.p, "keep");
    assert_int_equal(tsb_bag_writer_add(&w, 1, d), TSB_ESTATE);
    expect_detail("add after failure", "abandoned");

    /* refs: not positive, equal, decreasing */
    static const struct {
        int64_t refs[3];
        size_t n;
        const char *detail;
    } refs[] = {
        {{0}, 1, "entry 1: Ref 0 is not positive"},
        {{-7}, 1, "entry 1: Ref -7 is not positive"},
        {{INT64_MIN}, 1, "is not positive"},
        {{5, 5}, 2, "entry 2: Ref 5 does not follow Ref 5"},
        {{5, 6, 4}, 3, "entry 3: Ref 4 does not follow Ref 6"},
    };
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        struct tsb_bag_entry e[3];
        memset(e, 0, sizeof(e));
        for (size_t k = 0; k < refs[i].n; k++)
            e[k].ref = refs[i].refs[k];
        assert_int_equal(tsb_bag_build(NULL, 1, e, refs[i].n, &b), TSB_EINVAL);
        expect_detail("build refs", refs[i].detail);
        assert_int_equal(b.len, 4);

        assert_int_equal(tsb_bag_writer_begin(&w, NULL, 1, &b), 0);
        int r = 0;
        for (size_t k = 0; k < refs[i].n && r == 0; k++)
            r = tsb_bag_writer_add(&w, refs[i].refs[k], d);
        assert_int_equal(r, TSB_EINVAL);
        expect_detail("writer refs", refs[i].detail);
        assert_int_equal(b.len, 4);
        assert_int_equal(tsb_bag_writer_end(&w), TSB_ESTATE);
        assert_int_equal(b.len, 4);
    }

    /* calls out of order */
    memset(&w, 0, sizeof(w));
    assert_int_equal(tsb_bag_writer_add(&w, 1, d), TSB_ESTATE);
    expect_detail("add before begin", "not begun");
    assert_int_equal(tsb_bag_writer_end(&w), TSB_ESTATE);
    assert_int_equal(tsb_bag_writer_expect(&w, 1, 1), TSB_ESTATE);
    assert_int_equal(tsb_bag_writer_begin(&w, NULL, 1, &b), 0);
    assert_int_equal(tsb_bag_writer_add(&w, 1, d), 0);
    assert_int_equal(tsb_bag_writer_end(&w), 0);
    size_t done = b.len;
    assert_int_equal(tsb_bag_writer_add(&w, 2, d), TSB_ESTATE);
    expect_detail("add after end", "already ended");
    assert_int_equal(tsb_bag_writer_end(&w), TSB_ESTATE);
    assert_int_equal(b.len, done); /* a finished bag is not touched by misuse */

    /* bad enum values */
    struct tsb_bag_opts o = {(enum tsb_bag_ns)7, TSB_HASH_HEX, NULL};
    assert_int_equal(tsb_bag_writer_begin(&w, &o, 1, &b), TSB_EINVAL);
    o.ns = TSB_BAG_NS_V2;
    o.enc = (enum tsb_hash_enc)9;
    assert_int_equal(tsb_bag_writer_begin(&w, &o, 1, &b), TSB_EINVAL);
    assert_int_equal(b.len, done);
    tsb_buf_cleanup(&b);
}

/* A buffer whose max is too small refuses with TSB_ETOOBIG and keeps what it had. */
static void test_buffer_cap(void **state)
{
    (void)state;
    struct tsb_bag_entry *e = make_entries(10, 1, 7);
    size_t size = tsb_bag_size(NULL, 3, e, 10);
    size_t head = tsb_bag_size(NULL, 3, e, 0) - strlen("</TimeStampBag>");
    size_t maxes[] = {0, 1, head - 1, head, head + 10, size - 1};
    for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        struct tsb_buf b;
        tsb_buf_init(&b, maxes[i]);
        assert_int_equal(tsb_bag_build(NULL, 3, e, 10, &b), TSB_ETOOBIG);
        assert_int_equal(b.len, 0);

        /* the streaming writer fails at whichever step crosses the cap and cuts back */
        struct tsb_bag_writer w;
        int r = tsb_bag_writer_begin(&w, NULL, 3, &b);
        for (size_t k = 0; k < 10 && r == 0; k++)
            r = tsb_bag_writer_add(&w, e[k].ref, e[k].digest);
        if (r == 0)
            r = tsb_bag_writer_end(&w);
        assert_int_equal(r, TSB_ETOOBIG);
        expect_detail("cap", "buffer limit");
        assert_int_equal(b.len, 0);
        assert_int_equal(tsb_bag_writer_add(&w, 1000000, e[0].digest), TSB_ESTATE);
        tsb_buf_cleanup(&b);
    }
    /* exactly the bag's size fits, and build allocates it exactly once (cap = size + NUL) */
    struct tsb_buf b;
    tsb_buf_init(&b, size);
    assert_int_equal(tsb_bag_build(NULL, 3, e, 10, &b), 0);
    assert_int_equal(b.len, size);
    assert_int_equal(b.cap, size + 1);
    tsb_buf_cleanup(&b);
    tsb_buf_init(&b, 1 << 30);
    assert_int_equal(tsb_bag_build(NULL, 3, e, 10, &b), 0);
    assert_int_equal(b.cap, size + 1); /* exact even with a generous max */
    tsb_buf_cleanup(&b);

    /* writer_expect: reserves up front (an upper bound clamped to the cap); adds then fit */
    tsb_buf_init(&b, size);
    struct tsb_bag_writer w;
    assert_int_equal(tsb_bag_writer_begin(&w, NULL, 3, &b), 0);
    assert_int_equal(tsb_bag_writer_expect(&w, 10, e[9].ref), 0);
    size_t cap = b.cap;
    for (size_t k = 0; k < 10; k++)
        assert_int_equal(tsb_bag_writer_add(&w, e[k].ref, e[k].digest), 0);
    assert_int_equal(tsb_bag_writer_end(&w), 0);
    assert_int_equal(b.cap, cap); /* no growth after the reserve */
    assert_int_equal(b.len, size);
    tsb_buf_cleanup(&b);
    /* with room to spare, the reserve is the bound and never more */
    tsb_buf_init(&b, 1 << 20);
    assert_int_equal(tsb_bag_writer_begin(&w, NULL, 3, &b), 0);
    size_t before = b.len;
    assert_int_equal(tsb_bag_writer_expect(&w, 10, e[9].ref), 0);
    assert_true(b.cap >= size + 1);
    char dig[32];
    size_t nd = (size_t)snprintf(dig, sizeof(dig), "%" PRId64, e[9].ref);
    /* per entry: 53 bytes of markup, 64 hex chars, the digits of the largest ref */
    assert_int_equal(b.cap, before + 10 * (53 + 64 + nd) + strlen("</TimeStampBag>") + 1);
    tsb_buf_cleanup(&b);
    free(e);
}

/* ---- schema validation ----------------------------------------------------------------------
 */

struct schema {
    xmlSchemaParserCtxtPtr pctx;
    xmlSchemaPtr schema;
    char *path;
};

static void schema_load(struct schema *s)
{
    tsb_xml_init();
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
    s->path = tsb_test_path(tsb_test_shared_dir(), "reference/xsd/tsbag-root.xsd");
    s->pctx = xmlSchemaNewParserCtxt(s->path);
    assert_non_null(s->pctx);
    s->schema = xmlSchemaParse(s->pctx);
    if (s->schema == NULL)
        fail_msg("cannot load %s", s->path);
}

static void schema_free(struct schema *s)
{
    xmlSchemaFree(s->schema);
    xmlSchemaFreeParserCtxt(s->pctx);
    free(s->path);
}

/* 0 when the bytes validate against tsbag-root.xsd */
static int schema_validate(struct schema *s, const uint8_t *p, size_t len)
{
    xmlDocPtr doc = xmlReadMemory((const char *)p, (int)len, "bag.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(s->schema);
    assert_non_null(v);
    xmlSchemaSetValidErrors(v, NULL, NULL, NULL);
    int r = xmlSchemaValidateDoc(v, doc);
    xmlSchemaFreeValidCtxt(v);
    xmlFreeDoc(doc);
    return r;
}

struct witness_bag {
    const char *file;
    enum tsb_hash_enc enc;
    size_t n;
    int64_t seq;
    int64_t first_ref;
};

static const struct witness_bag witness_bags[] = {
    {"one-hex.xml", TSB_HASH_HEX, 1, 1, 1},
    {"many-hex.xml", TSB_HASH_HEX, 2000, 42, 1001},
    {"one-b64.xml", TSB_HASH_BASE64, 1, INT64_MAX, INT64_MAX},
    {"many-b64.xml", TSB_HASH_BASE64, 500, 9000000000, 123456789012},
    {"neg-seq.xml", TSB_HASH_HEX, 3, -5, 7},
};

static void build_witness(const struct witness_bag *wb, struct tsb_buf *b)
{
    struct tsb_bag_entry *e = make_entries(wb->n, wb->first_ref, (uint64_t)wb->seq);
    struct tsb_bag_opts o = {TSB_BAG_NS_V2, wb->enc, NULL};
    tsb_buf_init(b, 1 << 24);
    assert_int_equal(tsb_bag_build(&o, wb->seq, e, wb->n, b), 0);
    free(e);
}

static void test_schema_libxml2(void **state)
{
    (void)state;
    struct schema s;
    schema_load(&s);
    for (size_t i = 0; i < sizeof(witness_bags) / sizeof(witness_bags[0]); i++) {
        struct tsb_buf b;
        build_witness(&witness_bags[i], &b);
        if (schema_validate(&s, b.p, b.len) != 0)
            fail_msg("%s does not validate", witness_bags[i].file);
        tsb_buf_cleanup(&b);
    }
    assert_int_equal(schema_validate(&s, (const uint8_t *)golden, strlen(golden)), 0);

    /* the validator is not a yes-machine: schema-invalid bags are refused */
    static const char *invalid[] = {
        DECL "<TimeStampBag xmlns=\"" NS_V2 "\" Hash=\"SHA-1\" SequenceNumber=\"1\"><JournalEntry>"
             "<Hash>x</Hash><Ref>1</Ref></JournalEntry></TimeStampBag>",
        DECL "<TimeStampBag xmlns=\"" NS_V2 "\" Hash=\"SHA-256\" SequenceNumber=\"1\">"
             "</TimeStampBag>",
        DECL "<TimeStampBag xmlns=\"" NS_V2
             "\" Hash=\"SHA-256\" SequenceNumber=\"1\"><JournalEntry>"
             "<Ref>1</Ref><Hash>x</Hash></JournalEntry></TimeStampBag>",
        DECL "<TimeStampBag xmlns=\"" NS_V2
             "\" Hash=\"SHA-256\" SequenceNumber=\"x\"><JournalEntry>"
             "<Hash>x</Hash><Ref>1</Ref></JournalEntry></TimeStampBag>",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        if (schema_validate(&s, (const uint8_t *)invalid[i], strlen(invalid[i])) == 0)
            fail_msg("invalid bag %zu validated", i);
    schema_free(&s);
}

static void test_schema_xmllint(void **state)
{
    (void)state;
    char *dir = tsb_test_tmpdir();
    char *xsd = tsb_test_path(tsb_test_shared_dir(), "reference/xsd/tsbag-root.xsd");
    for (size_t i = 0; i < sizeof(witness_bags) / sizeof(witness_bags[0]); i++) {
        struct tsb_buf b;
        build_witness(&witness_bags[i], &b);
        char *path = tsb_test_path(dir, witness_bags[i].file);
        assert_int_equal(tsb_test_write_file(path, b.p, b.len), 0);
        int st = tsb_test_sh("xmllint --noout --nonet --schema '%s' '%s'", xsd, path);
        if (st != 0)
            fail_msg("xmllint refused %s (exit %d)", path, st);
        free(path);
        tsb_buf_cleanup(&b);
    }
    /* negative control: xmllint refuses a bag whose Ref is not an xs:long */
    const char *bad = DECL "<TimeStampBag xmlns=\"" NS_V2
                           "\" Hash=\"SHA-256\" SequenceNumber=\"1\"><JournalEntry>"
                           "<Hash>" H1_HEX "</Hash><Ref>one</Ref></JournalEntry></TimeStampBag>";
    char *path = tsb_test_path(dir, "bad.xml");
    assert_int_equal(tsb_test_write_file(path, bad, strlen(bad)), 0);
    assert_int_not_equal(
        tsb_test_sh("xmllint --noout --nonet --schema '%s' '%s' 2>/dev/null", xsd, path), 0);
    free(path);
    free(xsd);
    tsb_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_bytes_and_digest),
        cmocka_unit_test(test_format_of_every_option),
        cmocka_unit_test(test_integer_formatting),
        cmocka_unit_test(test_root_names),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_buffer_cap),
        cmocka_unit_test(test_schema_libxml2),
        cmocka_unit_test(test_schema_xmllint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
