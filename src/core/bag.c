/*
 * bag: TimeStampBag writer and parser. The writer is the sealer's hot path (up to 100 000 entries
 * per bag): it never builds an XML tree, computes each piece's exact size, reserves it and copies
 * constant markup, the encoded digest and hand-formatted integers straight into the buffer. The
 * invariant is that equal inputs give equal bytes, forever: the bytes are hashed by the TSA and
 * archived, so any change to the format below breaks every existing archive's re-verification.
 *
 * The parser goes through tsb_xml_parse (hardened libxml2) and walks the tree strictly: it refuses
 * anything the eHealth schema would refuse (and a few things it would allow, such as attributes
 * from other namespaces), never looks at the root element's name, and never re-serialises.
 */
#include "bag.h"

#include "err.h"
#include "xml.h"

#include <libxml/tree.h>
#include <libxml/xmlstring.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer ----------------------------------------------------------------------------------
 */

#define XML_DECL        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define ATTR_XMLNS      " xmlns=\""
#define ATTR_HASH_SEQ   "\" Hash=\"SHA-256\" SequenceNumber=\""
#define ROOT_TAG_END    "\">"
#define ENTRY_OPEN      "<JournalEntry><Hash>"
#define ENTRY_MID       "</Hash><Ref>"
#define ENTRY_CLOSE     "</Ref></JournalEntry>"
#define LIT_LEN(s)      (sizeof(s) - 1)
#define INT64_DIGITS    20 /* "-9223372036854775808" */
#define ENTRY_FIXED_LEN (LIT_LEN(ENTRY_OPEN) + LIT_LEN(ENTRY_MID) + LIT_LEN(ENTRY_CLOSE))
#define ENTRY_MIN_LEN   (ENTRY_FIXED_LEN + TSB_HASH_B64_LEN + 1)

enum { W_NONE = 0, W_OPEN, W_DONE, W_FAILED };

const char *tsb_bag_ns_uri(enum tsb_bag_ns ns)
{
    return ns == TSB_BAG_NS_V1 ? TSB_BAG_NS_V1_URI : TSB_BAG_NS_V2_URI;
}

/* Number of characters of v in decimal, sign included. */
static size_t i64_len(int64_t v)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n = v < 0 ? 2 : 1;
    while (u >= 10) {
        u /= 10;
        n++;
    }
    return n;
}

/* Writes v in decimal at out (exactly i64_len(v) chars, no NUL); returns the length. */
static size_t i64_put(int64_t v, char *out)
{
    char tmp[INT64_DIGITS];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = tmp[--n];
    return len;
}

static size_t hash_len(enum tsb_hash_enc enc)
{
    return enc == TSB_HASH_BASE64 ? TSB_HASH_B64_LEN : TSB_HASH_HEX_LEN;
}

static size_t entry_len(enum tsb_hash_enc enc, int64_t ref)
{
    return ENTRY_FIXED_LEN + hash_len(enc) + i64_len(ref);
}

static size_t head_len(enum tsb_bag_ns ns, size_t root_len, int64_t seq)
{
    return LIT_LEN(XML_DECL) + 1 + root_len + LIT_LEN(ATTR_XMLNS) + strlen(tsb_bag_ns_uri(ns)) +
           LIT_LEN(ATTR_HASH_SEQ) + i64_len(seq) + LIT_LEN(ROOT_TAG_END);
}

static size_t tail_len(size_t root_len)
{
    return 3 + root_len; /* "</" root ">" */
}

static int is_ascii_name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_ascii_name_char(unsigned char c)
{
    return is_ascii_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

int tsb_bag_check_root(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return tsb_err(TSB_EINVAL, "bag root element name is empty");
    size_t len = strlen(name);
    if (len > TSB_BAG_ROOT_MAX)
        return tsb_err(TSB_EINVAL, "bag root element name of %zu bytes exceeds %d bytes", len,
                       TSB_BAG_ROOT_MAX);
    int ascii = 1;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = (unsigned char)name[i] < 0x80;
    if (ascii) {
        if (!is_ascii_name_start((unsigned char)name[0]))
            return tsb_err(TSB_EINVAL,
                           "bag root element name '%s' is not an XML NCName (bad first character)",
                           name);
        for (size_t i = 1; i < len; i++)
            if (!is_ascii_name_char((unsigned char)name[i]))
                return tsb_err(TSB_EINVAL,
                               "bag root element name '%s' is not an XML NCName (character %zu)",
                               name, i + 1);
        return 0;
    }
    /* non-ASCII names are rare enough to hand to libxml2's full NCName production */
    if (xmlCheckUTF8((const xmlChar *)name) == 0)
        return tsb_err(TSB_EINVAL, "bag root element name is not valid UTF-8");
    if (xmlValidateNCName((const xmlChar *)name, 0) != 0)
        return tsb_err(TSB_EINVAL, "bag root element name '%s' is not an XML NCName", name);
    return 0;
}

static int writer_fail(struct tsb_bag_writer *w, int r)
{
    if (w->out != NULL && w->out->len > w->start)
        tsb_buf_truncate(w->out, w->start);
    w->state = W_FAILED;
    return r;
}

static int writer_check_open(const struct tsb_bag_writer *w, const char *op)
{
    if (w->state == W_OPEN)
        return 0;
    return tsb_err(TSB_ESTATE, "bag writer: %s on a writer that is %s", op,
                   w->state == W_NONE   ? "not begun"
                   : w->state == W_DONE ? "already ended"
                                        : "abandoned after an error");
}

/* Appends into room already reserved (the callers reserve a whole element first). */
static void put(struct tsb_buf *b, const void *p, size_t n)
{
    memcpy(b->p + b->len, p, n);
    tsb_buf_added(b, n);
}

int tsb_bag_writer_begin(struct tsb_bag_writer *w, const struct tsb_bag_opts *o, int64_t seq,
                         struct tsb_buf *out)
{
    static const struct tsb_bag_opts defaults = {TSB_BAG_NS_V2, TSB_HASH_HEX, NULL};
    int r = TSB_EINTERNAL;
    if (o == NULL)
        o = &defaults;
    const char *root = o->root ? o->root : TSB_BAG_ROOT_DEFAULT;

    memset(w, 0, sizeof(*w));
    w->state = W_FAILED;
    if (o->ns != TSB_BAG_NS_V2 && o->ns != TSB_BAG_NS_V1)
        return tsb_err(TSB_EINVAL, "unknown bag namespace %d", (int)o->ns);
    if (o->enc != TSB_HASH_HEX && o->enc != TSB_HASH_BASE64)
        return tsb_err(TSB_EINVAL, "unknown hash encoding %d", (int)o->enc);
    if ((r = tsb_bag_check_root(root)) != 0)
        return r;

    w->out = out;
    w->start = out->len;
    w->enc = o->enc;
    w->root_len = strlen(root);
    memcpy(w->root, root, w->root_len + 1);

    const char *ns = tsb_bag_ns_uri(o->ns);
    size_t need = head_len(o->ns, w->root_len, seq);
    if ((r = tsb_buf_reserve(out, need)) != 0)
        return writer_fail(w, r);
    put(out, XML_DECL "<", LIT_LEN(XML_DECL) + 1);
    put(out, w->root, w->root_len);
    put(out, ATTR_XMLNS, LIT_LEN(ATTR_XMLNS));
    put(out, ns, strlen(ns));
    put(out, ATTR_HASH_SEQ, LIT_LEN(ATTR_HASH_SEQ));
    tsb_buf_added(out, i64_put(seq, (char *)out->p + out->len));
    put(out, ROOT_TAG_END, LIT_LEN(ROOT_TAG_END));
    w->state = W_OPEN;
    return 0;
}

int tsb_bag_writer_expect(struct tsb_bag_writer *w, size_t n, int64_t max_ref)
{
    int r = TSB_EINTERNAL;
    if ((r = writer_check_open(w, "expect")) != 0)
        return r;
    /* an upper bound (every ref as long as max_ref), clamped to the room left: the adds report
     * TSB_ETOOBIG if the entries really do not fit */
    size_t per = entry_len(w->enc, max_ref > 0 ? max_ref : INT64_MAX);
    size_t room = w->out->max - w->out->len, need = tail_len(w->root_len);
    need = n > (room - need) / per ? room : n * per + need;
    if ((r = tsb_buf_reserve_exact(w->out, need)) != 0)
        return writer_fail(w, r);
    return 0;
}

int tsb_bag_writer_add(struct tsb_bag_writer *w, int64_t ref, const uint8_t digest[TSB_SHA256_LEN])
{
    int r = TSB_EINTERNAL;
    if ((r = writer_check_open(w, "add")) != 0)
        return r;
    if (ref <= 0)
        return writer_fail(w, tsb_err(TSB_EINVAL, "bag entry %zu: Ref %lld is not positive",
                                      w->count + 1, (long long)ref));
    if (w->count > 0 && ref <= w->last_ref)
        return writer_fail(w, tsb_err(TSB_EINVAL,
                                      "bag entry %zu: Ref %lld does not follow Ref %lld "
                                      "(refs must strictly increase)",
                                      w->count + 1, (long long)ref, (long long)w->last_ref));
    struct tsb_buf *b = w->out;
    if ((r = tsb_buf_reserve(b, entry_len(w->enc, ref))) != 0)
        return writer_fail(w, r);
    put(b, ENTRY_OPEN, LIT_LEN(ENTRY_OPEN));
    /* tsb_hash_encode also writes a NUL, which ENTRY_MID overwrites; the reserve covers it */
    tsb_buf_added(b, tsb_hash_encode(digest, w->enc, (char *)b->p + b->len));
    put(b, ENTRY_MID, LIT_LEN(ENTRY_MID));
    tsb_buf_added(b, i64_put(ref, (char *)b->p + b->len));
    put(b, ENTRY_CLOSE, LIT_LEN(ENTRY_CLOSE));
    w->count++;
    w->last_ref = ref;
    return 0;
}

int tsb_bag_writer_end(struct tsb_bag_writer *w)
{
    int r = TSB_EINTERNAL;
    if ((r = writer_check_open(w, "end")) != 0)
        return r;
    if (w->count == 0)
        return writer_fail(w, tsb_err(TSB_EINVAL, "a bag needs at least one JournalEntry"));
    struct tsb_buf *b = w->out;
    if ((r = tsb_buf_reserve(b, tail_len(w->root_len))) != 0)
        return writer_fail(w, r);
    put(b, "</", 2);
    put(b, w->root, w->root_len);
    put(b, ">", 1);
    b->p[b->len] = '\0';
    w->state = W_DONE;
    return 0;
}

size_t tsb_bag_size(const struct tsb_bag_opts *o, int64_t seq, const struct tsb_bag_entry *e,
                    size_t n)
{
    enum tsb_bag_ns ns = o ? o->ns : TSB_BAG_NS_V2;
    enum tsb_hash_enc enc = o ? o->enc : TSB_HASH_HEX;
    size_t root_len = strlen(o && o->root ? o->root : TSB_BAG_ROOT_DEFAULT);
    size_t total = head_len(ns, root_len, seq) + tail_len(root_len);
    for (size_t i = 0; i < n; i++)
        total += entry_len(enc, e[i].ref);
    return total;
}

int tsb_bag_build(const struct tsb_bag_opts *o, int64_t seq, const struct tsb_bag_entry *e,
                  size_t n, struct tsb_buf *out)
{
    int r = TSB_EINTERNAL;
    struct tsb_bag_writer w;

    if (n == 0)
        return tsb_err(TSB_EINVAL, "a bag needs at least one JournalEntry");
    for (size_t i = 0; i < n; i++) {
        if (e[i].ref <= 0)
            return tsb_err(TSB_EINVAL, "bag entry %zu: Ref %lld is not positive", i + 1,
                           (long long)e[i].ref);
        if (i > 0 && e[i].ref <= e[i - 1].ref)
            return tsb_err(TSB_EINVAL,
                           "bag entry %zu: Ref %lld does not follow Ref %lld "
                           "(refs must strictly increase)",
                           i + 1, (long long)e[i].ref, (long long)e[i - 1].ref);
    }
    if (o != NULL && o->root != NULL && (r = tsb_bag_check_root(o->root)) != 0)
        return r;
    /* every entry takes at least ENTRY_MIN_LEN bytes, so more than this many cannot fit in out's
     * cap; below it, tsb_bag_size (at most 137 bytes per entry, 1.4 times the minimum) cannot
     * overflow for any cap below 2^63 */
    if (n > tsb_buf_max(out) / ENTRY_MIN_LEN)
        return tsb_err(TSB_ETOOBIG, "a bag of %zu entries cannot fit in %zu bytes", n,
                       tsb_buf_max(out));
    if ((r = tsb_buf_reserve_exact(out, tsb_bag_size(o, seq, e, n))) != 0)
        return r;
    if ((r = tsb_bag_writer_begin(&w, o, seq, out)) != 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if ((r = tsb_bag_writer_add(&w, e[i].ref, e[i].digest)) != 0)
            return r;
    return tsb_bag_writer_end(&w);
}

/* ---- parser ----------------------------------------------------------------------------------
 */

struct pctx {
    const char *root; /* root local name, for details */
    const xmlChar *ns;
};

static int is_xml_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies at most SNIP chars of peer text into out for a detail, replacing anything unprintable
 * (a hostile bag must not put control characters in our logs). */
#define SNIP 64
static const char *snip(const char *s, size_t len, char out[SNIP + 4])
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < SNIP; i++) {
        unsigned char c = (unsigned char)s[i];
        out[n++] = c >= 0x20 && c < 0x7f && c != '\'' ? (char)c : '?';
    }
    if (len > SNIP) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

/* xs:long after XSD whitespace collapse: optional sign, at least one digit, within int64. */
static int parse_long(const char *s, size_t len, int64_t *out)
{
    while (len > 0 && is_xml_ws((unsigned char)s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_xml_ws((unsigned char)s[len - 1]))
        len--;
    int neg = 0;
    if (len > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++;
        len--;
    }
    if (len == 0)
        return -1;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

static int only_ws(const xmlChar *s)
{
    for (; s && *s; s++)
        if (!is_xml_ws(*s))
            return 0;
    return 1;
}

/* " N" for entry N (index > 0), "" for the root: the position part of a detail. */
static void where_of(size_t index, char out[32])
{
    if (index > 0)
        snprintf(out, 32, " %zu", index);
    else
        out[0] = '\0';
}

/* Checks a node inside element-only content (the root, a JournalEntry): whitespace text,
 * comments and processing instructions are ignored, anything else that is not an element is
 * refused. Returns 1 for an element to look at, 0 to skip, or a negative error. */
static int element_only(xmlNodePtr c, const char *parent, size_t index)
{
    char where[32] = ""; /* " N" after the parent's name, formatted only for an error */
    switch (c->type) {
    case XML_ELEMENT_NODE:
        return 1;
    case XML_COMMENT_NODE:
    case XML_PI_NODE:
        return 0;
    case XML_TEXT_NODE:
        if (only_ws(c->content))
            return 0;
        where_of(index, where);
        return tsb_err(TSB_EFORMAT, "unexpected text in %s%s (line %d)", parent, where,
                       xmlGetLineNo(c) > 0 ? (int)xmlGetLineNo(c) : 0);
    default:
        where_of(index, where);
        return tsb_err(TSB_EFORMAT, "unexpected XML node of type %d in %s%s", (int)c->type, parent,
                       where);
    }
}

static int no_attributes(xmlNodePtr n, const char *what, size_t index)
{
    if (n->properties == NULL)
        return 0;
    return tsb_err(TSB_EFORMAT, "JournalEntry %zu: unexpected attribute '%s' on %s", index,
                   (const char *)n->properties->name, what);
}

/* The text of a leaf element (Hash, Ref), which may hold only text. *owned is set when the text
 * had to be concatenated (free with xmlFree). */
static int leaf_text(xmlNodePtr n, const char *what, size_t index, const char **text,
                     xmlChar **owned)
{
    int r = TSB_EINTERNAL;
    if ((r = no_attributes(n, what, index)) != 0)
        return r;
    for (xmlNodePtr c = n->children; c; c = c->next)
        if (c->type != XML_TEXT_NODE)
            return tsb_err(TSB_EFORMAT, "JournalEntry %zu: %s may contain only text", index, what);
    *owned = NULL;
    if (n->children == NULL)
        *text = "";
    else if (n->children->next == NULL)
        *text = (const char *)n->children->content;
    else
        *text = (const char *)(*owned = xmlNodeGetContent(n));
    if (*text == NULL)
        return tsb_err(TSB_ENOMEM, "cannot read the text of %s", what);
    return 0;
}

/* The next element child of entry (element-only content), or NULL; *r gets an error. */
static xmlNodePtr entry_child(xmlNodePtr c, size_t index, int *r)
{
    for (; c; c = c->next) {
        int k = element_only(c, "JournalEntry", index);
        if (k < 0) {
            *r = k;
            return NULL;
        }
        if (k == 1)
            return c;
    }
    *r = 0;
    return NULL;
}

static int expect_elem(const struct pctx *x, xmlNodePtr n, const char *local, const char *parent,
                       size_t index)
{
    char where[32] = "";
    if (n != NULL && strcmp((const char *)n->name, local) == 0 && n->ns != NULL &&
        n->ns->href != NULL && xmlStrEqual(n->ns->href, x->ns))
        return 0; /* the common case, without formatting anything */
    where_of(index, where);
    if (n == NULL)
        return tsb_err(TSB_EFORMAT, "%s%s: missing %s", parent, where, local);
    if (strcmp((const char *)n->name, local) != 0) {
        char s[SNIP + 4];
        return tsb_err(TSB_EFORMAT, "%s%s: unexpected element '%s' where %s was expected", parent,
                       where, snip((const char *)n->name, strlen((const char *)n->name), s), local);
    }
    if (n->ns == NULL || n->ns->href == NULL || !xmlStrEqual(n->ns->href, x->ns)) {
        char s[SNIP + 4];
        const char *h = n->ns && n->ns->href ? (const char *)n->ns->href : "";
        return tsb_err(TSB_ENAMESPACE, "%s%s: %s is in namespace '%s', not the bag's", parent,
                       where, local, snip(h, strlen(h), s));
    }
    return 0;
}

static int parse_entry(const struct pctx *x, xmlNodePtr je, size_t index, struct tsb_bag *b)
{
    int r = TSB_EINTERNAL;
    xmlChar *owned = NULL;
    const char *text = NULL;
    char s[SNIP + 4];
    struct tsb_bag_entry *e = &b->entries[index - 1];

    if ((r = no_attributes(je, "JournalEntry", index)) != 0)
        goto out;
    xmlNodePtr h = entry_child(je->children, index, &r);
    if (r != 0 || (r = expect_elem(x, h, "Hash", "JournalEntry", index)) != 0)
        goto out;
    xmlNodePtr ref = entry_child(h->next, index, &r);
    if (r != 0 || (r = expect_elem(x, ref, "Ref", "JournalEntry", index)) != 0)
        goto out;
    xmlNodePtr extra = entry_child(ref->next, index, &r);
    if (r != 0)
        goto out;
    if (extra != NULL) {
        r = tsb_err(TSB_EFORMAT, "JournalEntry %zu: unexpected element '%s' after Ref", index,
                    snip((const char *)extra->name, strlen((const char *)extra->name), s));
        goto out;
    }

    if ((r = leaf_text(h, "Hash", index, &text, &owned)) != 0)
        goto out;
    enum tsb_hash_enc enc;
    if ((r = tsb_hash_decode(text, strlen(text), e->digest, &enc)) != 0) {
        char why[160];
        snprintf(why, sizeof(why), "%s", tsb_err_detail());
        r = tsb_err(r, "JournalEntry %zu: Hash: %s", index, why);
        goto out;
    }
    if (index == 1) {
        b->enc = enc;
    } else if (enc != b->enc) {
        r = tsb_err(TSB_EFORMAT,
                    "JournalEntry %zu: Hash is %s but the first entry's is %s "
                    "(mixed encodings in one bag)",
                    index, enc == TSB_HASH_HEX ? "hex" : "base64",
                    b->enc == TSB_HASH_HEX ? "hex" : "base64");
        goto out;
    }
    xmlFree(owned);
    owned = NULL;

    if ((r = leaf_text(ref, "Ref", index, &text, &owned)) != 0)
        goto out;
    if (parse_long(text, strlen(text), &e->ref) != 0 || e->ref <= 0) {
        r = tsb_err(TSB_EFORMAT, "JournalEntry %zu: Ref '%s' is not a positive xs:long", index,
                    snip(text, strlen(text), s));
        goto out;
    }
    r = 0;
out:
    xmlFree(owned);
    return r;
}

static int cmp_ref(const void *a, const void *b)
{
    const struct tsb_bag_entry *x = a, *y = b;
    return x->ref < y->ref ? -1 : x->ref > y->ref;
}

/* Refuses a Ref that occurs twice. Our own bags are in increasing order (checked in one pass);
 * anything else is sorted on a copy. */
static int check_unique_refs(const struct tsb_bag *b)
{
    size_t i;
    for (i = 1; i < b->n && b->entries[i].ref > b->entries[i - 1].ref; i++)
        ;
    if (i >= b->n)
        return 0;
    struct tsb_bag_entry *copy = tsb_malloc(b->n * sizeof(*copy));
    memcpy(copy, b->entries, b->n * sizeof(*copy));
    qsort(copy, b->n, sizeof(*copy), cmp_ref);
    int r = 0;
    for (i = 1; i < b->n && r == 0; i++)
        if (copy[i].ref == copy[i - 1].ref)
            r = tsb_err(TSB_EFORMAT, "Ref %lld occurs more than once in the bag",
                        (long long)copy[i].ref);
    free(copy);
    return r;
}

static int parse_root_attrs(const struct pctx *x, xmlNodePtr root, struct tsb_bag *b)
{
    int r = TSB_EINTERNAL;
    int have_hash = 0, have_seq = 0;
    char s[SNIP + 4];
    for (xmlAttrPtr a = root->properties; a; a = a->next) {
        const char *name = (const char *)a->name;
        if (a->ns != NULL || (strcmp(name, "Hash") != 0 && strcmp(name, "SequenceNumber") != 0))
            return tsb_err(TSB_EFORMAT, "%s: unexpected attribute '%s%s%s'", x->root,
                           a->ns && a->ns->prefix ? (const char *)a->ns->prefix : "",
                           a->ns && a->ns->prefix ? ":" : "", snip(name, strlen(name), s));
        xmlChar *v = xmlNodeGetContent((xmlNodePtr)a);
        if (v == NULL)
            return tsb_err(TSB_ENOMEM, "cannot read attribute %s", name);
        const char *t = (const char *)v;
        size_t len = strlen(t);
        if (strcmp(name, "Hash") == 0) {
            /* HashType is an xs:NMTOKEN enumeration: compare after whitespace collapse */
            size_t i = 0;
            while (i < len && is_xml_ws((unsigned char)t[i]))
                i++;
            while (len > i && is_xml_ws((unsigned char)t[len - 1]))
                len--;
            if (len - i != 7 || memcmp(t + i, "SHA-256", 7) != 0)
                r = tsb_err(TSB_EALGORITHM, "%s/@Hash is '%s', only 'SHA-256' is supported",
                            x->root, snip(t, strlen(t), s));
            else
                r = 0;
            have_hash = 1;
        } else {
            if (parse_long(t, len, &b->seq) != 0)
                r = tsb_err(TSB_EFORMAT, "%s/@SequenceNumber '%s' is not an xs:long", x->root,
                            snip(t, len, s));
            else
                r = 0;
            have_seq = 1;
        }
        xmlFree(v);
        if (r != 0)
            return r;
    }
    if (!have_hash)
        return tsb_err(TSB_EALGORITHM, "%s: the Hash attribute (hash algorithm) is missing",
                       x->root);
    if (!have_seq)
        return tsb_err(TSB_EFORMAT, "%s: the SequenceNumber attribute is missing", x->root);
    return 0;
}

int tsb_bag_parse(const uint8_t *p, size_t len, const struct tsb_bag_limits *lim,
                  struct tsb_bag **out)
{
    int r = TSB_EINTERNAL;
    xmlDocPtr doc = NULL;
    struct tsb_bag *b = NULL;
    char s[SNIP + 4];
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : TSB_BAG_DEFAULT_MAX_BYTES;
    size_t max_entries = lim && lim->max_entries ? lim->max_entries : TSB_BAG_DEFAULT_MAX_ENTRIES;

    if (len > max_bytes) {
        r = tsb_err(TSB_ETOOBIG, "bag of %zu bytes exceeds the limit of %zu bytes", len, max_bytes);
        goto out;
    }
    if ((r = tsb_xml_parse(p, len, max_bytes, &doc)) != 0)
        goto out;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    b = tsb_calloc(1, sizeof(*b));
    b->root = tsb_strdup((const char *)root->name);
    struct pctx x = {.root = b->root};
    const char *href = root->ns && root->ns->href ? (const char *)root->ns->href : NULL;
    if (href != NULL && strcmp(href, TSB_BAG_NS_V2_URI) == 0) {
        b->ns = TSB_BAG_NS_V2;
    } else if (href != NULL && strcmp(href, TSB_BAG_NS_V1_URI) == 0) {
        b->ns = TSB_BAG_NS_V1;
    } else {
        r = tsb_err(TSB_ENAMESPACE,
                    "root element '%s' is in %s%s%s, not the v2 or v1 bag namespace",
                    snip(b->root, strlen(b->root), s), href ? "namespace '" : "no namespace",
                    href ? href : "", href ? "'" : "");
        goto out;
    }
    x.ns = root->ns->href;
    if ((r = parse_root_attrs(&x, root, b)) != 0)
        goto out;

    /* first pass: structure around the entries, and the count against the limit */
    size_t n = 0;
    for (xmlNodePtr c = root->children; c; c = c->next) {
        int k = element_only(c, x.root, 0);
        if (k < 0) {
            r = k;
            goto out;
        }
        if (k == 0)
            continue;
        if ((r = expect_elem(&x, c, "JournalEntry", x.root, 0)) != 0)
            goto out;
        if (++n > max_entries) {
            r = tsb_err(TSB_ETOOBIG, "bag has more than %zu JournalEntry elements", max_entries);
            goto out;
        }
    }
    if (n == 0) {
        r = tsb_err(TSB_EFORMAT, "%s has no JournalEntry (an empty bag)", x.root);
        goto out;
    }
    b->entries = tsb_malloc(n * sizeof(*b->entries));
    b->n = n;
    size_t i = 0;
    for (xmlNodePtr c = root->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && (r = parse_entry(&x, c, ++i, b)) != 0)
            goto out;
    if ((r = check_unique_refs(b)) != 0)
        goto out;
    *out = b;
    b = NULL;
    r = 0;
out:
    tsb_bag_free(b);
    if (doc)
        xmlFreeDoc(doc);
    return r;
}

void tsb_bag_free(struct tsb_bag *b)
{
    if (b == NULL)
        return;
    free(b->entries);
    free(b->root);
    free(b);
}
