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

#include <dirent.h>
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
    struct tsb_bag_opts o = {TSB_BAG_NS_V2, TSB_HASH_HEX, NULL, NULL};
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

/* The chain link: the previous bag's digest (here the §3.1 bag's) as the first JournalEntry with
 * Ref 0, in the bag's Hash encoding; the streaming writer and tsb_bag_size agree. */
static void test_link_bytes(void **state)
{
    (void)state;
    static const char want_hex[] = DECL
        "<TimeStampBag xmlns=\"" NS_V2 "\" Hash=\"SHA-256\" SequenceNumber=\"43\"><JournalEntry>"
        "<Hash>0ec5b2bd9e7d31ff09c7f55dfcc5faaa09f700b34184146a767337e79ffc2300</Hash><Ref>0"
        "</Ref></JournalEntry><JournalEntry><Hash>" H1_HEX "</Hash><Ref>1002</Ref>"
        "</JournalEntry></TimeStampBag>";
    static const char want_b64[] = DECL
        "<TimeStampBag xmlns=\"" NS_V2 "\" Hash=\"SHA-256\" SequenceNumber=\"43\"><JournalEntry>"
        "<Hash>DsWyvZ59Mf8Jx/Vd/MX6qgn3ALNBhBRqdnM355/8IwA=</Hash><Ref>0</Ref></JournalEntry>"
        "<JournalEntry><Hash>" H1_B64 "</Hash><Ref>1002</Ref></JournalEntry></TimeStampBag>";
    struct tsb_bag_entry e = {.ref = 1002};
    uint8_t prev[TSB_SHA256_LEN];
    digest_of(H1_HEX, e.digest);
    digest_of(golden_sha256_hex, prev);
    for (int enc = 0; enc < 2; enc++) {
        const char *want = enc ? want_b64 : want_hex;
        struct tsb_bag_opts o = {TSB_BAG_NS_V2, enc ? TSB_HASH_BASE64 : TSB_HASH_HEX, NULL, prev};
        struct tsb_buf b, w2;
        struct tsb_bag_writer w;
        tsb_buf_init(&b, 1 << 20);
        tsb_buf_init(&w2, 1 << 20);
        assert_int_equal(tsb_bag_build(&o, 43, &e, 1, &b), 0);
        assert_int_equal(b.len, strlen(want));
        assert_memory_equal(b.p, want, b.len);
        assert_int_equal(tsb_bag_size(&o, 43, &e, 1), b.len);
        assert_int_equal(tsb_bag_writer_begin(&w, &o, 43, &w2), 0);
        assert_int_equal(tsb_bag_writer_add(&w, 1002, e.digest), 0);
        assert_int_equal(tsb_bag_writer_end(&w), 0);
        assert_int_equal(w2.len, b.len);
        assert_memory_equal(w2.p, b.p, b.len);
        /* the link is not an entry: a bag of only the link is refused */
        tsb_buf_reset(&w2);
        assert_int_equal(tsb_bag_writer_begin(&w, &o, 43, &w2), 0);
        assert_int_equal(tsb_bag_writer_end(&w), TSB_EINVAL);
        assert_int_equal(w2.len, 0);
        /* a prescription Ref cannot be 0 even after the link */
        assert_int_equal(tsb_bag_writer_begin(&w, &o, 43, &w2), 0);
        assert_int_equal(tsb_bag_writer_add(&w, 0, e.digest), TSB_EINVAL);
        tsb_buf_cleanup(&w2);
        tsb_buf_cleanup(&b);
    }
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
        {{TSB_BAG_NS_V1, TSB_HASH_HEX, NULL, NULL},
         7,
         DECL "<TimeStampBag xmlns=\"" NS_V1 "\" Hash=\"SHA-256\" SequenceNumber=\"7\">"
              "<JournalEntry><Hash>" H1_HEX "</Hash><Ref>1</Ref></JournalEntry>"
              "<JournalEntry><Hash>" H1_HEX "</Hash><Ref>9223372036854775807</Ref></JournalEntry>"
              "</TimeStampBag>"},
        {{TSB_BAG_NS_V2, TSB_HASH_BASE64, "Bag", NULL},
         0,
         DECL "<Bag xmlns=\"" NS_V2 "\" Hash=\"SHA-256\" SequenceNumber=\"0\">"
              "<JournalEntry><Hash>" H1_B64 "</Hash><Ref>1</Ref></JournalEntry>"
              "<JournalEntry><Hash>" H1_B64 "</Hash><Ref>9223372036854775807</Ref></JournalEntry>"
              "</Bag>"},
        {{TSB_BAG_NS_V1, TSB_HASH_BASE64, "_t.S-b9", NULL},
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
        struct tsb_bag_opts o = {TSB_BAG_NS_V2, TSB_HASH_HEX, cases[i].name, NULL};
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
    struct tsb_bag_opts o = {(enum tsb_bag_ns)7, TSB_HASH_HEX, NULL, NULL};
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
    int linked; /* starts with the chain link (Ref 0) */
};

static const struct witness_bag witness_bags[] = {
    {"one-hex.xml", TSB_HASH_HEX, 1, 1, 1, 0},
    {"many-hex.xml", TSB_HASH_HEX, 2000, 42, 1001, 0},
    {"one-b64.xml", TSB_HASH_BASE64, 1, INT64_MAX, INT64_MAX, 0},
    {"many-b64.xml", TSB_HASH_BASE64, 500, 9000000000, 123456789012, 0},
    {"neg-seq.xml", TSB_HASH_HEX, 3, -5, 7, 0},
    {"linked-hex.xml", TSB_HASH_HEX, 1, 2, 1, 1},
    {"linked-many-b64.xml", TSB_HASH_BASE64, 300, 43, 3001, 1},
};

static void build_witness(const struct witness_bag *wb, struct tsb_buf *b)
{
    struct tsb_bag_entry *e = make_entries(wb->n, wb->first_ref, (uint64_t)wb->seq);
    uint8_t prev[TSB_SHA256_LEN];
    digest_of(golden_sha256_hex, prev);
    struct tsb_bag_opts o = {TSB_BAG_NS_V2, wb->enc, NULL, wb->linked ? prev : NULL};
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

/* ---- parser ------------------------------------------------------------------------------- */

#define ATTRS             "Hash=\"SHA-256\" SequenceNumber=\"42\""
#define ROOT(ns)          "<TimeStampBag xmlns=\"" ns "\" "
#define E(h, r)           "<JournalEntry><Hash>" h "</Hash><Ref>" r "</Ref></JournalEntry>"
#define BAGA(attrs, body) DECL ROOT(NS_V2) attrs ">" body "</TimeStampBag>"
#define BAG(body)         BAGA(ATTRS, body)
#define E1                E(H1_HEX, "1001")

static const struct {
    const char *doc;
    int code;
    const char *detail;
} parse_bad[] = {
    /* not XML */
    {"", TSB_EFORMAT, "not well-formed"},
    {"TimeStampBag", TSB_EFORMAT, "not well-formed"},
    {DECL ROOT(NS_V2) ATTRS ">" E1, TSB_EFORMAT, "not well-formed"}, /* truncated */
    {BAG(E1) "<x/>", TSB_EFORMAT, "not well-formed"},                /* two roots */
    {DECL "<!DOCTYPE TimeStampBag [<!ENTITY h \"" H1_HEX "\">]>" ROOT(NS_V2) ATTRS
     ">" E("&h;", "1") "</TimeStampBag>",
     TSB_EFORMAT, "DOCTYPE"},
    {DECL ROOT(NS_V2) ATTRS ">" E("\xff", "1") "</TimeStampBag>", TSB_EFORMAT, "not well-formed"},
    /* namespace of the root */
    {DECL "<TimeStampBag " ATTRS ">" E1 "</TimeStampBag>", TSB_ENAMESPACE, "in no namespace"},
    {DECL ROOT("urn:x") ATTRS ">" E1 "</TimeStampBag>", TSB_ENAMESPACE, "namespace 'urn:x'"},
    {DECL ROOT(NS_V2 ":v3") ATTRS ">" E1 "</TimeStampBag>", TSB_ENAMESPACE, "not the v2 or v1"},
    {DECL "<b:TimeStampBag xmlns:b=\"urn:b\" xmlns=\"" NS_V2 "\" " ATTRS ">" E1 "</b:TimeStampBag>",
     TSB_ENAMESPACE, "root element 'TimeStampBag' is in namespace 'urn:b'"},
    /* root attributes */
    {BAGA("SequenceNumber=\"42\"", E1), TSB_EALGORITHM, "Hash attribute"},
    {BAGA("Hash=\"SHA-1\" SequenceNumber=\"42\"", E1), TSB_EALGORITHM, "@Hash is 'SHA-1'"},
    {BAGA("Hash=\"sha-256\" SequenceNumber=\"42\"", E1), TSB_EALGORITHM, "@Hash is 'sha-256'"},
    {BAGA("Hash=\"\" SequenceNumber=\"42\"", E1), TSB_EALGORITHM, "@Hash is ''"},
    {BAGA("Hash=\"SHA-256\"", E1), TSB_EFORMAT, "SequenceNumber attribute is missing"},
    {BAGA("Hash=\"SHA-256\" SequenceNumber=\"\"", E1), TSB_EFORMAT,
     "@SequenceNumber '' is not an xs:long"},
    {BAGA("Hash=\"SHA-256\" SequenceNumber=\"4x2\"", E1), TSB_EFORMAT, "'4x2' is not an xs:long"},
    {BAGA("Hash=\"SHA-256\" SequenceNumber=\"9223372036854775808\"", E1), TSB_EFORMAT,
     "is not an xs:long"},
    {BAGA("Hash=\"SHA-256\" SequenceNumber=\"-9223372036854775809\"", E1), TSB_EFORMAT,
     "is not an xs:long"},
    {BAGA("Hash=\"SHA-256\" SequenceNumber=\"1.0\"", E1), TSB_EFORMAT, "is not an xs:long"},
    {BAGA("Hash=\"SHA-256\" SequenceNumber=\"- 1\"", E1), TSB_EFORMAT, "is not an xs:long"},
    {BAGA("Hash=\"SHA-256\" SequenceNumber=\"+\"", E1), TSB_EFORMAT, "is not an xs:long"},
    {BAGA("Hash=\"SHA-256\" SequenceNumber=\"0x10\"", E1), TSB_EFORMAT, "is not an xs:long"},
    {BAGA("Hash=\"SHA-256\" SequenceNumber=\"1 2\"", E1), TSB_EFORMAT, "is not an xs:long"},
    {BAGA(ATTRS " Extra=\"1\"", E1), TSB_EFORMAT, "unexpected attribute 'Extra'"},
    {BAGA(ATTRS " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                "xsi:schemaLocation=\"x\"",
          E1),
     TSB_EFORMAT, "unexpected attribute 'xsi:schemaLocation'"},
    /* root content */
    {BAG(""), TSB_EFORMAT, "has no JournalEntry (an empty bag)"},
    {BAG(" \n<!-- nothing --> "), TSB_EFORMAT, "has no JournalEntry"},
    {BAG("x" E1), TSB_EFORMAT, "unexpected text in TimeStampBag"},
    {BAG(E1 "<Extra/>"), TSB_EFORMAT, "unexpected element 'Extra' where JournalEntry"},
    {BAG(E1 "<JournalEntry xmlns=\"urn:x\"><Hash>" H1_HEX "</Hash><Ref>2</Ref></JournalEntry>"),
     TSB_ENAMESPACE, "JournalEntry is in namespace 'urn:x'"},
    {BAG("<JournalEntry xmlns=\"\"><Hash>" H1_HEX "</Hash><Ref>2</Ref></JournalEntry>"),
     TSB_ENAMESPACE, "JournalEntry is in namespace ''"},
    {BAGA(ATTRS " xmlns:v1=\"" NS_V1 "\"",
          "<v1:JournalEntry><Hash>" H1_HEX "</Hash><Ref>2</Ref></v1:JournalEntry>"),
     TSB_ENAMESPACE, "JournalEntry is in namespace '" NS_V1 "'"},
    /* JournalEntry structure */
    {BAG("<JournalEntry><Hash>" H1_HEX "</Hash></JournalEntry>"), TSB_EFORMAT,
     "JournalEntry 1: missing Ref"},
    {BAG("<JournalEntry></JournalEntry>"), TSB_EFORMAT, "JournalEntry 1: missing Hash"},
    {BAG("<JournalEntry><Ref>1</Ref></JournalEntry>"), TSB_EFORMAT,
     "JournalEntry 1: unexpected element 'Ref' where Hash was expected"},
    {BAG(E1 "<JournalEntry><Ref>2</Ref><Hash>" H1_HEX "</Hash></JournalEntry>"), TSB_EFORMAT,
     "JournalEntry 2: unexpected element 'Ref' where Hash was expected"},
    {BAG("<JournalEntry><Hash>" H1_HEX "</Hash><Ref>1</Ref><Ref>2</Ref></JournalEntry>"),
     TSB_EFORMAT, "JournalEntry 1: unexpected element 'Ref' after Ref"},
    {BAG("<JournalEntry><Hash>" H1_HEX "</Hash><Hash>" H1_HEX "</Hash><Ref>1</Ref></JournalEntry>"),
     TSB_EFORMAT, "JournalEntry 1: unexpected element 'Hash' where Ref was expected"},
    {BAG("<JournalEntry><Hash xmlns=\"urn:x\">" H1_HEX "</Hash><Ref>1</Ref></JournalEntry>"),
     TSB_ENAMESPACE, "JournalEntry 1: Hash is in namespace 'urn:x'"},
    {BAG("<JournalEntry><Hash>" H1_HEX "</Hash><Ref xmlns=\"\">1</Ref></JournalEntry>"),
     TSB_ENAMESPACE, "JournalEntry 1: Ref is in namespace ''"},
    {BAG("<JournalEntry a=\"1\"><Hash>" H1_HEX "</Hash><Ref>1</Ref></JournalEntry>"), TSB_EFORMAT,
     "JournalEntry 1: unexpected attribute 'a' on JournalEntry"},
    {BAG("<JournalEntry><Hash a=\"1\">" H1_HEX "</Hash><Ref>1</Ref></JournalEntry>"), TSB_EFORMAT,
     "JournalEntry 1: unexpected attribute 'a' on Hash"},
    {BAG("<JournalEntry><Hash>" H1_HEX "</Hash><Ref b=\"\">1</Ref></JournalEntry>"), TSB_EFORMAT,
     "unexpected attribute 'b' on Ref"},
    {BAG("<JournalEntry><Hash><b/>" H1_HEX "</Hash><Ref>1</Ref></JournalEntry>"), TSB_EFORMAT,
     "JournalEntry 1: Hash may contain only text"},
    {BAG("<JournalEntry><Hash>" H1_HEX "</Hash><Ref>1<!-- c --></Ref></JournalEntry>"), TSB_EFORMAT,
     "JournalEntry 1: Ref may contain only text"},
    {BAG("<JournalEntry>x<Hash>" H1_HEX "</Hash><Ref>1</Ref></JournalEntry>"), TSB_EFORMAT,
     "unexpected text in JournalEntry 1"},
    {BAG("<JournalEntry><Hash>" H1_HEX "</Hash><Ref>1</Ref>x</JournalEntry>"), TSB_EFORMAT,
     "unexpected text in JournalEntry 1"},
    /* Hash text */
    {BAG(E("", "1")), TSB_EFORMAT, "JournalEntry 1: Hash: hash of 0 characters"},
    {BAG(E("8de44a19c21dc062ad9d00ebea990cec737e3b4da467e8cac7f6a3b068d23e9", "1")), TSB_EFORMAT,
     "JournalEntry 1: Hash: hash of 63 characters"},
    {BAG(E(" " H1_HEX " ", "1")), TSB_EFORMAT, "hash of 66 characters"},
    {BAG(E1 E("8de44a19c21dc062ad9d00ebea990cec737e3b4da467e8cac7f6a3b068d23e9g", "1002")),
     TSB_EFORMAT, "JournalEntry 2: Hash: invalid hex character at offset 63"},
    {BAG(E("jeRKGcIdwGKtnQDr6pkM7HN+O02kZ+jKx/ajsGjSPp==", "1")), TSB_EFORMAT,
     "JournalEntry 1: Hash: non-canonical base64"},
    {BAG(E("jeRKGcIdwGKtnQDr6pkM7HN+O02kZ+jKx/ajsGjSP!U=", "1")), TSB_EFORMAT,
     "JournalEntry 1: Hash: invalid base64 at offset 41"},
    {BAG(E("jeRKGcIdwGKtnQDr6pkM7HN-O02kZ+jKx_ajsGjSPpU=", "1")), TSB_EFORMAT, "invalid base64"},
    {BAG(E1 E(H1_B64, "1002")), TSB_EFORMAT,
     "JournalEntry 2: Hash is base64 but the first entry's is hex (mixed encodings"},
    {BAG(E(H1_B64, "1") E(H1_B64, "2") E(H1_HEX, "3")), TSB_EFORMAT,
     "JournalEntry 3: Hash is hex but the first entry's is base64"},
    /* Ref */
    /* Ref 0 is the chain link: first, and followed by at least one entry */
    {BAG(E(H1_HEX, "0")), TSB_EFORMAT,
     "holds only the link to the previous bag (Ref 0) and no JournalEntry after it"},
    {BAG(E(H1_HEX, "-0")), TSB_EFORMAT, "holds only the link to the previous bag"},
    {BAG(E1 E(H1_HEX, "0")), TSB_EFORMAT,
     "JournalEntry 2: Ref '0' is the link to the previous bag, which may only be the first"},
    {BAG(E(H1_HEX, "0") E1 E(H1_HEX, "00")), TSB_EFORMAT, "JournalEntry 3: Ref '00' is the link"},
    {BAG(E(H1_HEX, "0") E(H1_B64, "5")), TSB_EFORMAT,
     "JournalEntry 2: Hash is base64 but the first"},
    {BAG(E(H1_HEX, "-5")), TSB_EFORMAT, "Ref '-5' is not a positive"},
    {BAG(E(H1_HEX, "")), TSB_EFORMAT, "Ref '' is not a positive"},
    {BAG(E(H1_HEX, "abc")), TSB_EFORMAT, "Ref 'abc' is not a positive"},
    {BAG(E(H1_HEX, "1e3")), TSB_EFORMAT, "Ref '1e3' is not a positive"},
    {BAG(E(H1_HEX, "9223372036854775808")), TSB_EFORMAT, "is not a positive xs:long"},
    {BAG(E(H1_HEX, "9999999999"
                   "9999999999"
                   "9999999999"
                   "9999999999"
                   "9999999999"
                   "9999999999"
                   "9999999999")),
     TSB_EFORMAT,
     "Ref '9999999999999999999999999999999999999999999999999999999999999999...' is not"},
    {BAG(E1 E(H1_HEX, "1 2")), TSB_EFORMAT, "JournalEntry 2: Ref '1 2'"},
    {BAG(E(H1_HEX, "1\n\t2")), TSB_EFORMAT, "Ref '1??2'"}, /* no control bytes in details */
    {BAG(E(H1_HEX, "1") E(H1_HEX, "2") E(H1_HEX, "1")), TSB_EFORMAT, "Ref 1 occurs more than once"},
    {BAG(E(H1_HEX, "7") E(H1_HEX, "007")), TSB_EFORMAT, "Ref 7 occurs more than once"},
    {BAG(E(H1_HEX, "9") E(H1_HEX, "3") E(H1_HEX, "5") E(H1_HEX, "3")), TSB_EFORMAT,
     "Ref 3 occurs more than once"},
};

static void test_parse_refusals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_bad) / sizeof(parse_bad[0]); i++) {
        struct tsb_bag *b = (struct tsb_bag *)&b; /* must stay untouched on failure */
        struct tsb_bag *const sentinel = b;
        tsb_err_clear();
        int r =
            tsb_bag_parse((const uint8_t *)parse_bad[i].doc, strlen(parse_bad[i].doc), NULL, &b);
        if (r != parse_bad[i].code)
            fail_msg("case %zu: got %d (%s), want %d", i, r, tsb_err_detail(), parse_bad[i].code);
        assert_ptr_equal(b, sentinel);
        char what[32];
        snprintf(what, sizeof(what), "case %zu", i);
        expect_detail(what, parse_bad[i].detail);
    }
}

static void test_parse_accepts_schema_variants(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        int64_t seq;
        enum tsb_bag_ns ns;
        enum tsb_hash_enc enc;
        const char *root;
        size_t n;
        int64_t refs[3];
    } good[] = {
        {golden, 42, TSB_BAG_NS_V2, TSB_HASH_HEX, "TimeStampBag", 1, {1001}},
        /* prefixes, whitespace, comments, PIs, extra namespace declarations, v1, other root */
        {"<ts:Bag xmlns:ts=\"" NS_V1 "\" xmlns:o=\"urn:other\" SequenceNumber=\" +0042 \" "
         "Hash=\" SHA-256\n\">\n  <!-- c -->\n  <ts:JournalEntry>\n    <ts:Hash>" H1_HEX
         "</ts:Hash>\n    <?pi x?><ts:Ref>\n 0017 </ts:Ref>\n  </ts:JournalEntry>\n</ts:Bag>\n",
         42,
         TSB_BAG_NS_V1,
         TSB_HASH_HEX,
         "Bag",
         1,
         {17}},
        /* uppercase hex; refs out of order but unique; negative and extreme seq */
        {BAGA("Hash=\"SHA-256\" SequenceNumber=\"-9223372036854775808\"",
              E("8DE44A19C21DC062AD9D00EBEA990CEC737E3B4DA467E8CAC7F6A3B068D23E95",
                "9223372036854775807") E(H1_HEX, "3") E(H1_HEX, "+5")),
         INT64_MIN,
         TSB_BAG_NS_V2,
         TSB_HASH_HEX,
         "TimeStampBag",
         3,
         {INT64_MAX, 3, 5}},
        /* base64, character references and a CDATA section in the text */
        {BAG(E("jeRKGcIdwGKtnQDr6pkM7HN&#43;O02kZ+jKx/ajsGjSPpU=", "<![CDATA[1]]>") E(H1_B64, "2")),
         42,
         TSB_BAG_NS_V2,
         TSB_HASH_BASE64,
         "TimeStampBag",
         2,
         {1, 2}},
    };
    uint8_t d[TSB_SHA256_LEN];
    digest_of(H1_HEX, d);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct tsb_bag *b = NULL;
        int r = tsb_bag_parse((const uint8_t *)good[i].doc, strlen(good[i].doc), NULL, &b);
        if (r != 0)
            fail_msg("case %zu refused: %s", i, tsb_err_detail());
        assert_int_equal(b->seq, good[i].seq);
        assert_int_equal(b->ns, good[i].ns);
        assert_int_equal(b->enc, good[i].enc);
        assert_string_equal(b->root, good[i].root);
        assert_int_equal(b->n, good[i].n);
        for (size_t k = 0; k < b->n; k++) {
            assert_int_equal(b->entries[k].ref, good[i].refs[k]);
            assert_memory_equal(b->entries[k].digest, d, TSB_SHA256_LEN);
        }
        tsb_bag_free(b);
    }
    tsb_bag_free(NULL);
}

static void test_parse_limits(void **state)
{
    (void)state;
    struct tsb_bag_entry *e = make_entries(50, 1, 3);
    struct tsb_buf buf;
    tsb_buf_init(&buf, 1 << 20);
    assert_int_equal(tsb_bag_build(NULL, 1, e, 50, &buf), 0);
    struct tsb_bag *b = NULL;

    struct tsb_bag_limits lim = {.max_bytes = buf.len, .max_entries = 50};
    assert_int_equal(tsb_bag_parse(buf.p, buf.len, &lim, &b), 0);
    assert_int_equal(b->n, 50);
    tsb_bag_free(b);
    b = NULL;

    lim.max_bytes = buf.len - 1;
    assert_int_equal(tsb_bag_parse(buf.p, buf.len, &lim, &b), TSB_ETOOBIG);
    expect_detail("bytes", "exceeds the limit of");
    assert_null(b);

    lim.max_bytes = 0; /* default */
    lim.max_entries = 49;
    assert_int_equal(tsb_bag_parse(buf.p, buf.len, &lim, &b), TSB_ETOOBIG);
    expect_detail("entries", "more than 49 JournalEntry");
    assert_null(b);

    /* the entry limit is checked before any entry is decoded: a bad entry past the limit is not
     * what gets reported */
    buf.p[buf.len - strlen("</Ref></JournalEntry></TimeStampBag>") - 1] = 'x';
    assert_int_equal(tsb_bag_parse(buf.p, buf.len, &lim, &b), TSB_ETOOBIG);
    lim.max_entries = 0;
    assert_int_equal(tsb_bag_parse(buf.p, buf.len, &lim, &b), TSB_EFORMAT);
    expect_detail("bad last ref", "JournalEntry 50: Ref");

    /* defaults: 64 MiB */
    assert_int_equal(tsb_bag_parse(buf.p, TSB_BAG_DEFAULT_MAX_BYTES + 1, NULL, &b), TSB_ETOOBIG);
    expect_detail("default bytes", "67108864");
    tsb_buf_cleanup(&buf);
    free(e);
}

static void check_round_trip(const struct tsb_bag_opts *o, int64_t seq,
                             const struct tsb_bag_entry *e, size_t n)
{
    struct tsb_buf buf, again;
    tsb_buf_init(&buf, 1 << 26);
    tsb_buf_init(&again, 1 << 26);
    assert_int_equal(tsb_bag_build(o, seq, e, n, &buf), 0);
    struct tsb_bag *b = NULL;
    if (tsb_bag_parse(buf.p, buf.len, NULL, &b) != 0)
        fail_msg("own bag refused: %s", tsb_err_detail());
    assert_int_equal(b->seq, seq);
    assert_int_equal(b->ns, o->ns);
    assert_int_equal(b->enc, o->enc);
    assert_string_equal(b->root, o->root ? o->root : "TimeStampBag");
    assert_int_equal(b->n, n);
    assert_memory_equal(b->entries, e, n * sizeof(*e));
    assert_int_equal(b->linked, o->prev != NULL);
    if (o->prev != NULL)
        assert_memory_equal(b->prev, o->prev, TSB_SHA256_LEN);
    /* and the parsed bag rebuilds to the same bytes */
    struct tsb_bag_opts o2 = {b->ns, b->enc, b->root, b->linked ? b->prev : NULL};
    assert_int_equal(tsb_bag_build(&o2, b->seq, b->entries, b->n, &again), 0);
    assert_int_equal(again.len, buf.len);
    assert_memory_equal(again.p, buf.p, buf.len);
    tsb_bag_free(b);
    tsb_buf_cleanup(&again);
    tsb_buf_cleanup(&buf);
}

static void test_round_trips(void **state)
{
    (void)state;
    static const char *roots[] = {NULL, "Bag", "_x-1.y"};
    static const size_t sizes[] = {1, 2, 17, 3000};
    static const int64_t seqs[] = {1, 0, -3, INT64_MAX, INT64_MIN};
    uint64_t seed = 1;
    for (int ns = 0; ns < 2; ns++)
        for (int enc = 0; enc < 2; enc++)
            for (size_t r = 0; r < sizeof(roots) / sizeof(roots[0]); r++)
                for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
                    uint8_t prev[TSB_SHA256_LEN];
                    digest_of(golden_sha256_hex, prev);
                    prev[k] ^= (uint8_t)r; /* a different link for each size and root */
                    struct tsb_bag_opts o = {ns ? TSB_BAG_NS_V1 : TSB_BAG_NS_V2,
                                             enc ? TSB_HASH_BASE64 : TSB_HASH_HEX, roots[r],
                                             (k + r) % 2 ? prev : NULL};
                    int64_t first = 1 + (int64_t)(rnd(&seed) % 1000000000000);
                    struct tsb_bag_entry *e = make_entries(sizes[k], first, seed);
                    check_round_trip(&o, seqs[(k + r) % 5], e, sizes[k]);
                    free(e);
                }
    /* the largest refs */
    struct tsb_bag_entry e[2] = {{.ref = INT64_MAX - 1}, {.ref = INT64_MAX}};
    struct tsb_bag_opts o = {TSB_BAG_NS_V1, TSB_HASH_BASE64, NULL, NULL};
    check_round_trip(&o, 5, e, 2);
}

/* The fuzz seed corpus keeps its meaning: ok-* files parse, bad-* files are refused. */
static void test_fuzz_corpus_verdicts(void **state)
{
    (void)state;
    char *dir = tsb_test_path(tsb_test_source_dir(), "tests/fuzz/corpus/bag");
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int ok = 0, bad = 0;
    while ((de = readdir(d)) != NULL) {
        int want_ok = strncmp(de->d_name, "ok-", 3) == 0;
        if (!want_ok && strncmp(de->d_name, "bad-", 4) != 0)
            continue;
        char *path = tsb_test_path(dir, de->d_name);
        size_t len = 0;
        uint8_t *p = tsb_test_read_file(path, &len);
        assert_non_null(p);
        struct tsb_bag *b = NULL;
        int r = tsb_bag_parse(p, len, NULL, &b);
        if (want_ok && r != 0)
            fail_msg("%s refused: %s", de->d_name, tsb_err_detail());
        if (!want_ok && r == 0)
            fail_msg("%s accepted", de->d_name);
        want_ok ? ok++ : bad++;
        tsb_bag_free(b);
        free(p);
        free(path);
    }
    closedir(d);
    free(dir);
    assert_true(ok >= 4);
    assert_true(bad >= 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_bytes_and_digest),
        cmocka_unit_test(test_link_bytes),
        cmocka_unit_test(test_format_of_every_option),
        cmocka_unit_test(test_integer_formatting),
        cmocka_unit_test(test_root_names),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_buffer_cap),
        cmocka_unit_test(test_schema_libxml2),
        cmocka_unit_test(test_schema_xmllint),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_parse_accepts_schema_variants),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_fuzz_corpus_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
