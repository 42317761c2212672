/*
 * evidence: package writer and reader. The README is generated from the same values the files
 * hold, and every command in it is on a line of its own starting with "    $ " so that a test can
 * run exactly what an auditor would type. Files are written with O_EXCL into a fresh temporary
 * folder, fsynced, then the folder is renamed into place.
 */
#include "evidence.h"

#include "bag.h"
#include "codec.h"
#include "err.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE   ((size_t)TSB_BAG_DEFAULT_MAX_BYTES)
#define MAX_SMALL  ((size_t)1 << 20) /* token, chain */
#define MAX_README ((size_t)256 << 20)

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return tsb_err(TSB_EIO, "cannot create %s: %s", path, strerror(errno));
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            return tsb_err(TSB_EIO, "cannot write %s: %s", path, strerror(e));
        }
        q += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0)
        return tsb_err(TSB_EIO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

static int read_file(const char *dir, const char *name, size_t max, struct tsb_buf *b)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return tsb_err(TSB_EIO, "cannot open %s: %s", path, strerror(errno));
    tsb_buf_init(b, max);
    uint8_t chunk[65536];
    size_t n;
    int r = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (tsb_buf_append(b, chunk, n) != 0) {
            r = tsb_err(TSB_ETOOBIG, "%s is larger than %zu bytes", path, max);
            break;
        }
    if (r == 0 && ferror(f))
        r = tsb_err(TSB_EIO, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    if (r != 0)
        tsb_buf_cleanup(b);
    return r;
}

/* The last PEM certificate block of a chain (the anchor): start and length. */
static bool last_pem(const uint8_t *p, size_t n, size_t *start, size_t *len)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    bool found = false;
    for (size_t i = 0; i + sizeof(begin) - 1 <= n; i++) {
        if (memcmp(p + i, begin, sizeof(begin) - 1) != 0)
            continue;
        for (size_t j = i; j + sizeof(end) - 1 <= n; j++)
            if (memcmp(p + j, end, sizeof(end) - 1) == 0) {
                *start = i;
                *len = j + sizeof(end) - 1 - i;
                found = true;
                break;
            }
    }
    return found;
}

/* "AB:CD:..." SHA-256 of the DER inside one PEM block, as `openssl x509 -fingerprint` prints. */
static int pem_fingerprint(const uint8_t *p, size_t n, char out[96 + 1])
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    struct tsb_buf der;
    size_t a = sizeof(begin) - 1, z = n - (sizeof(end) - 1);
    tsb_buf_init(&der, n);
    int r = tsb_b64_decode_buf((const char *)p + a, z - a, true, &der);
    if (r == 0) {
        uint8_t d[TSB_SHA256_LEN];
        tsb_sha256(der.p, der.len, d);
        for (int i = 0; i < TSB_SHA256_LEN; i++)
            snprintf(out + 3 * i, 4, "%02X%s", d[i], i + 1 < TSB_SHA256_LEN ? ":" : "");
    }
    tsb_buf_cleanup(&der);
    return r;
}

static const struct tsb_evidence_bag *find_bag(const struct tsb_evidence_bag *b, size_t nb,
                                               int64_t seq)
{
    for (size_t i = 0; i < nb; i++)
        if (b[i].b.seq == seq)
            return &b[i];
    return NULL;
}

static void when(int64_t ms, const char *zone, char *out, size_t n)
{
    char u[TSB_TIME_STR_MAX], l[TSB_TIME_STR_MAX];
    tsb_time_utc(ms, u);
    if (tsb_time_zone(ms, zone, l) == 0)
        snprintf(out, n, "%s (UTC) = %s %s", u, l, zone);
    else
        snprintf(out, n, "%s (UTC)", u);
}

/* The "TSA stamped exactly this bag" step for a token signed with RSASSA-PSS by a key certified as
 * rsaEncryption, which `openssl ts -verify` cannot check (docs/verify.md): openssl cms checks the
 * signature, purpose, chain and time, and the imprint is found in the signed TSTInfo. */
static int pss_step(struct tsb_buf *o, int step, const struct tsb_evidence_bag *bg)
{
    long long s = (long long)bg->b.seq;
    long long at = (long long)(bg->gen_time_ms / 1000);
    char dgst[16] = "", *d = dgst;
    for (const char *c = bg->imprint_alg; *c != '\0' && d < dgst + sizeof(dgst) - 1; c++)
        if (*c != '-')
            *d++ = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    *d = '\0';
    return tsb_buf_appendf(
        o,
        "\nStep %d - the TSA stamped exactly bag %lld\n"
        "------------------------------------------------------------\n"
        "The TSA signed this token with RSASSA-PSS, which openssl ts -verify cannot check (it\n"
        "expects PKCS#1 v1.5 from such a key); openssl cms checks the same things:\n\n"
        "    $ openssl cms -verify -inform DER -in token-%lld.der -binary -CAfile tsa-anchor.pem "
        "-certfile chain-%lld.pem -purpose timestampsign -attime %lld -out tstinfo-%lld.der\n\n"
        "It must print \"CMS Verification successful\": the signature is intact, the signing\n"
        "certificate is a timestamping certificate chaining to tsa-anchor.pem, valid at the\n"
        "stamp's time (-attime, in seconds since 1970). It writes the signed content, the\n"
        "TSTInfo, to tstinfo-%lld.der.\n\n"
        "    $ openssl asn1parse -inform DER -in tstinfo-%lld.der | grep -c \"$(openssl dgst "
        "-%s -r bag-%lld.xml | cut -d' ' -f1 | tr a-f A-F)\"\n\n"
        "It must print 1: the signed TSTInfo holds the %s of bag-%lld.xml, so the bag is\n"
        "unchanged.\n",
        step, s, s, s, at, s, s, s, dgst, s, bg->imprint_alg, s);
}

/* The README's steps over the chain range: for each bag after the first, its link is the SHA-256
 * of the previous file, found with grep alone (in the bag's own Hash encoding). */
static int chain_steps(struct tsb_buf *o, int step, const struct tsb_audit_bag *range, size_t nr)
{
    int r = 0;
    long long from = (long long)range[0].seq, to = (long long)range[nr - 1].seq;
    r |= tsb_buf_appendf(
        o,
        "\nStep %d - bags %lld to %lld follow each other in the chain\n"
        "------------------------------------------------------------\n"
        "Each bag after the first of an archive begins with a JournalEntry whose Ref is 0 and\n"
        "whose Hash is the SHA-256 of the previous bag's exact bytes. So a bag that was\n"
        "removed, replaced or moved between them breaks a link below. For each bag:\n",
        step, from, to);
    for (size_t i = 1; i < nr; i++) {
        long long p = (long long)range[i - 1].seq, n = (long long)range[i].seq;
        uint8_t d[TSB_SHA256_LEN];
        char hex[TSB_HASH_STR_MAX];
        struct tsb_bag *pb = NULL;
        tsb_sha256(range[i - 1].bytes, range[i - 1].bytes_len, d);
        tsb_hex_encode(d, TSB_SHA256_LEN, hex);
        int linked =
            tsb_bag_parse(range[i].bytes, range[i].bytes_len, NULL, &pb) == 0 && pb->linked;
        enum tsb_hash_enc enc = pb != NULL ? pb->enc : TSB_HASH_HEX;
        tsb_bag_free(pb);
        tsb_err_clear();
        if (!linked) {
            r |= tsb_buf_appendf(o,
                                 "\n  bag-%lld.xml carries no link (its first JournalEntry's Ref "
                                 "is not 0):\n  it was sealed with the chain turned off; "
                                 "nothing links it to bag %lld.\n",
                                 n, p);
            continue;
        }
        char digest_cmd[96];
        if (enc == TSB_HASH_BASE64)
            snprintf(digest_cmd, sizeof(digest_cmd),
                     "openssl dgst -sha256 -binary bag-%lld.xml | base64", p);
        else
            snprintf(digest_cmd, sizeof(digest_cmd), "sha256sum bag-%lld.xml | cut -d' ' -f1", p);
        r |= tsb_buf_appendf(
            o,
            "\n    $ grep -c -F \"<JournalEntry><Hash>$(%s)</Hash><Ref>0</Ref></JournalEntry>\" "
            "bag-%lld.xml\n\n"
            "  It must print 1: bag %lld is chained to bag-%lld.xml (whose SHA-256 is\n  %s).\n",
            digest_cmd, n, n, p, hex);
    }
    r |= tsb_buf_append_str(o, "\n\"0\" means that bag does not follow the one before it here: "
                               "one of them was\nreplaced, or a bag between them is missing.\n");
    return r;
}

static void remove_in(const char *dir, const char *name);

/* ---- second tokens ([tsa2]) ---------------------------------------------------------------- */

static int readme_tsa2_files(struct tsb_buf *o, const struct tsb_evidence_bag *b, size_t nb)
{
    int r = 0;
    bool any = false;
    for (size_t i = 0; i < nb; i++) {
        if (b[i].tsa2.token == NULL)
            continue;
        long long s = (long long)b[i].b.seq;
        char f1[40], f2[40];
        snprintf(f1, sizeof(f1), "tsa2-token-%lld.der", s);
        snprintf(f2, sizeof(f2), "tsa2-chain-%lld.pem", s);
        r |= tsb_buf_appendf(o,
                             "  %-17s a second, independent RFC 3161 token for bag %lld\n"
                             "  %-17s the second TSA's certificates that signed it\n",
                             f1, s, f2);
        any = true;
    }
    if (any)
        r |= tsb_buf_append_str(o, "  tsa2-anchor.pem   the second TSA's trust anchor\n");
    return r;
}

/* One step per second token: stock openssl ts -verify against the second TSA's anchor. The
 * anchor in the package is what tsbag verified with; an auditor takes it from that TSA. */
static int readme_tsa2_steps(struct tsb_buf *o, const struct tsb_evidence_bag *b, size_t nb,
                             const char *zone, int *step)
{
    int r = 0;
    for (size_t i = 0; i < nb; i++) {
        const struct tsb_evidence_tsa2 *t = &b[i].tsa2;
        if (t->token == NULL)
            continue;
        long long s = (long long)b[i].b.seq, at = (long long)(t->gen_time_ms / 1000);
        char when_s[200];
        when(t->gen_time_ms, zone, when_s, sizeof(when_s));
        r |= tsb_buf_appendf(
            o,
            "\nStep %d - the second, independent timestamp of bag %lld\n"
            "----------------------------------------------------------\n"
            "Besides eHealth's token, bag %lld was stamped by a second timestamp authority chosen\n"
            "by the hospital (%s, serial %s, at %s). It is further\nevidence, not a "
            "replacement for eHealth's. Take that authority's root certificate\nfrom its "
            "operator (or compare it with tsa2-anchor.pem), then:\n\n"
            "    $ openssl ts -verify -data bag-%lld.xml -in tsa2-token-%lld.der -token_in "
            "-CAfile tsa2-anchor.pem -untrusted tsa2-chain-%lld.pem -attime %lld\n\n"
            "It must print \"Verification: OK\": the second authority signed the SHA-256 of the\n"
            "same bag bytes at that time.\n",
            (*step)++, s, s, t->subject, t->serial, when_s, s, s, s, at);
    }
    return r;
}

/* Writes the second token and chain of g (if any) into dir, and adds the chain's anchor. */
static int write_tsa2(const char *dir, const struct tsb_evidence_bag *g, struct tsb_buf *anchors)
{
    char name[64];
    size_t as, al;
    int r;
    const struct tsb_evidence_tsa2 *t = &g->tsa2;
    if (t->token == NULL)
        return 0;
    if (!last_pem(t->chain_file, t->chain_file_len, &as, &al))
        return tsb_err(TSB_EINVAL, "bag %lld: no verified chain for its second token",
                       (long long)g->b.seq);
    snprintf(name, sizeof(name), "tsa2-token-%lld.der", (long long)g->b.seq);
    if ((r = write_file(dir, name, t->token, t->token_len)) != 0)
        return r;
    snprintf(name, sizeof(name), "tsa2-chain-%lld.pem", (long long)g->b.seq);
    if ((r = write_file(dir, name, t->chain_file, t->chain_file_len)) != 0)
        return r;
    if (anchors->len == 0 || memmem(anchors->p, anchors->len, t->chain_file + as, al) == NULL)
        if ((r = tsb_buf_append(anchors, t->chain_file + as, al)) != 0 ||
            (r = tsb_buf_append(anchors, "\n", 1)) != 0)
            return r;
    return 0;
}

static void remove_tsa2(const char *dir, int64_t seq)
{
    char name[64];
    snprintf(name, sizeof(name), "tsa2-token-%lld.der", (long long)seq);
    remove_in(dir, name);
    snprintf(name, sizeof(name), "tsa2-chain-%lld.pem", (long long)seq);
    remove_in(dir, name);
}

/* Reads tsa2-token-<seq>.der and tsa2-chain-<seq>.pem when the package has them. */
static int load_tsa2(const char *dir, int64_t seq, struct tsb_evidence_tsa2 *t)
{
    char name[64], path[PATH_MAX];
    struct tsb_buf token, chain;
    struct stat st;
    int r;
    memset(t, 0, sizeof(*t));
    snprintf(name, sizeof(name), "tsa2-token-%lld.der", (long long)seq);
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
        stat(path, &st) != 0)
        return 0; /* no second token for this bag */
    if ((r = read_file(dir, name, MAX_SMALL, &token)) != 0)
        return r;
    snprintf(name, sizeof(name), "tsa2-chain-%lld.pem", (long long)seq);
    if ((r = read_file(dir, name, MAX_SMALL, &chain)) != 0) {
        tsb_buf_cleanup(&token);
        return r;
    }
    t->token = tsb_buf_take(&token, &t->token_len);
    t->chain_file = tsb_buf_take(&chain, &t->chain_file_len);
    if (t->token == NULL)
        t->token = tsb_calloc(1, 1);
    if (t->chain_file == NULL)
        t->chain_file = tsb_calloc(1, 1);
    return 0;
}

typedef int (*line_fn)(void *arg, const char *dir, char *line, int lineno);

/* Calls fn for each line of dir/name that is neither blank nor a "#" comment, until it fails;
 * 0 without a call when the file is absent (the package part it holds is optional). */
static int each_line(const char *dir, const char *name, line_fn fn, void *arg)
{
    struct tsb_buf txt;
    char path[PATH_MAX];
    int r = 0, lineno = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (access(path, F_OK) != 0)
        return 0;
    if ((r = read_file(dir, name, MAX_SMALL, &txt)) != 0)
        return r;
    char *save = NULL;
    for (char *line = strtok_r((char *)txt.p, "\n", &save); r == 0 && line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (line[0] != '#' && line[0] != '\0')
            r = fn(arg, dir, line, lineno);
    }
    tsb_buf_cleanup(&txt);
    return r;
}

/* ---- evidence records (RFC 4998) --------------------------------------------------------- */

extern const unsigned char tsb_ers_verify_py[];
extern const size_t tsb_ers_verify_py_len;

/* Appends each PEM certificate block of p[0..n) that out does not hold yet and, when within is
 * not NULL, that within[0..wn) holds. */
static int add_pem_blocks(struct tsb_buf *out, const uint8_t *p, size_t n, const uint8_t *within,
                          size_t wn)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    const uint8_t *q = p, *z = p + n;
    int r = 0;
    while (r == 0 && q < z) {
        const uint8_t *a = memmem(q, (size_t)(z - q), begin, sizeof(begin) - 1);
        const uint8_t *e = a ? memmem(a, (size_t)(z - a), end, sizeof(end) - 1) : NULL;
        if (e == NULL)
            break;
        e += sizeof(end) - 1;
        size_t len = (size_t)(e - a);
        bool wanted = within == NULL || memmem(within, wn, a, len) != NULL;
        if (wanted && (out->len == 0 || memmem(out->p, out->len, a, len) == NULL))
            if ((r = tsb_buf_append(out, a, len)) == 0)
                r = tsb_buf_append(out, "\n", 1);
        q = e;
    }
    return r;
}

/* The line of evidence-records.txt for bag seq: its record, then its group's data objects. */
static int er_line(struct tsb_buf *o, int64_t seq, unsigned members)
{
    long long s = (long long)seq;
    int r = tsb_buf_appendf(o, "%lld evidence-record-%lld.ers", s, s);
    if (r == 0 && (members & TSB_ERS_OBJ_BAG))
        r = tsb_buf_appendf(o, " bag-%lld.xml", s);
    if (r == 0 && (members & TSB_ERS_OBJ_TOKEN))
        r = tsb_buf_appendf(o, " token-%lld.der", s);
    if (r == 0 && (members & TSB_ERS_OBJ_TSA2))
        r = tsb_buf_appendf(o, " tsa2-token-%lld.der", s);
    return r != 0 ? r : tsb_buf_append(o, "\n", 1);
}

/* Writes g's evidence record (if any) into dir and adds its line and certificates. */
static int write_er(const char *dir, const struct tsb_evidence_bag *g, struct tsb_buf *list,
                    struct tsb_buf *certs, struct tsb_buf *anchors)
{
    char name[64];
    int r;
    const struct tsb_evidence_er *er = &g->er;
    long long s = (long long)g->b.seq;
    if (er->der == NULL)
        return 0;
    if ((er->members & (TSB_ERS_OBJ_BAG | TSB_ERS_OBJ_TOKEN)) !=
        (TSB_ERS_OBJ_BAG | TSB_ERS_OBJ_TOKEN))
        return tsb_err(TSB_EINVAL,
                       "bag %lld: its evidence record's group lacks the bag or its "
                       "token",
                       s);
    if ((er->members & TSB_ERS_OBJ_TSA2) && g->tsa2.token == NULL)
        return tsb_err(TSB_EINVAL,
                       "bag %lld: its evidence record covers its second token, which is not in "
                       "the package: give the second TSA's trust anchors (--tsa2-anchors) so that "
                       "it is shipped",
                       s);
    snprintf(name, sizeof(name), "evidence-record-%lld.ers", s);
    if ((r = write_file(dir, name, er->der, er->der_len)) != 0 ||
        (r = er_line(list, g->b.seq, er->members)) != 0 ||
        (r = add_pem_blocks(certs, er->certs, er->certs_len, NULL, 0)) != 0 ||
        (r = add_pem_blocks(anchors, er->certs, er->certs_len, er->anchors, er->anchors_len)) != 0)
        return r;
    return 0;
}

/* The files shared by a package's evidence records, once any bag has one. */
static int write_er_common(const char *dir, const struct tsb_buf *list, const struct tsb_buf *certs,
                           const struct tsb_buf *anchors)
{
    int r;
    static const char head[] = "# tsbag evidence records (RFC 4998): bag SequenceNumber, its "
                               "record, the data objects of its group\n";
    struct tsb_buf txt;
    tsb_buf_init(&txt, MAX_FILE);
    if ((r = tsb_buf_append_str(&txt, head)) == 0 &&
        (r = tsb_buf_append(&txt, list->p, list->len)) == 0)
        r = write_file(dir, TSB_EVIDENCE_ERS_LIST, txt.p, txt.len);
    tsb_buf_cleanup(&txt);
    if (r != 0 || (r = write_file(dir, TSB_EVIDENCE_ERS_CERTS, certs->p, certs->len)) != 0 ||
        (r = write_file(dir, TSB_EVIDENCE_ERS_ANCHOR, anchors->p, anchors->len)) != 0 ||
        (r = write_file(dir, TSB_EVIDENCE_ERS_SCRIPT, tsb_ers_verify_py, tsb_ers_verify_py_len)) !=
            0)
        return r;
    return 0;
}

static void remove_er(const char *dir, int64_t seq)
{
    char name[64];
    snprintf(name, sizeof(name), "evidence-record-%lld.ers", (long long)seq);
    remove_in(dir, name);
}

static int readme_er_files(struct tsb_buf *o, const struct tsb_evidence_bag *b, size_t nb)
{
    int r = 0;
    bool any = false;
    for (size_t i = 0; i < nb; i++) {
        if (b[i].er.der == NULL)
            continue;
        char f[48];
        snprintf(f, sizeof(f), "evidence-record-%lld.ers", (long long)b[i].b.seq);
        r |= tsb_buf_appendf(o, "  %s\n                    bag %lld's RFC 4998 evidence record\n",
                             f, (long long)b[i].b.seq);
        any = true;
    }
    if (any)
        r |= tsb_buf_append_str(
            o, "  evidence-records.txt  each record and the files it covers\n"
               "  ers-tsa-certs.pem     the certificates of the archive timestamps' TSA\n"
               "  ers-tsa-anchor.pem    that TSA's trust anchor\n"
               "  ers-verify.py         checks the evidence records (Python 3 and openssl)\n");
    return r;
}

/* The step over the evidence records: the stand-alone script, and what it proves. */
static int fingerprints(struct tsb_buf *o, const char *anchors, size_t alen);

static int readme_er_steps(struct tsb_buf *o, const struct tsb_evidence_bag *b, size_t nb,
                           const struct tsb_buf *anchors, int *step)
{
    int r = 0;
    size_t n = 0;
    for (size_t i = 0; i < nb; i++)
        n += b[i].er.der != NULL;
    if (n == 0)
        return 0;
    r |= tsb_buf_appendf(
        o,
        "\nStep %d - the evidence records keep the proof alive after the certificates expire\n"
        "------------------------------------------------------------\n"
        "A timestamp proves only while its TSA certificate and its algorithms can be trusted.\n"
        "The archive therefore timestamps every bag and its token(s) again, in hash trees\n"
        "(RFC 4998 archive timestamps), and renews that timestamp before its certificate\n"
        "expires. Each evidence-record-N.ers is that chain for bag N. Its trust anchor must be\n"
        "the archive timestamps' TSA's, obtained from that TSA (not from this folder):\n\n"
        "    $ openssl x509 -in ers-tsa-anchor.pem -noout -subject -fingerprint -sha256\n\n"
        "For this package it prints the fingerprint(s):\n",
        (*step)++);
    r |= fingerprints(o, (const char *)anchors->p, anchors->len);
    r |= tsb_buf_append_str(
        o, "\nThen, with Python 3 and openssl only:\n\n"
           "    $ python3 ers-verify.py .\n\n"
           "For each record it must print a line \"evidence-record-N.ers: VALID at <now>: ...\".\n"
           "It finds each bag's and token's hash in the record's hash tree,\n"
           "recomputes every tree to the root its timestamp signed, checks each timestamp with\n"
           "openssl ts -verify, and that each renewal was made while the previous certificate was\n"
           "still valid. --at YYYY-MM-DD checks as of another date; --dump shows the trees.\n");
    for (size_t i = 0; i < nb; i++) {
        const struct tsb_evidence_er *er = &b[i].er;
        char f[TSB_TIME_STR_MAX], l[TSB_TIME_STR_MAX], na[TSB_TIME_STR_MAX];
        if (er->der == NULL)
            continue;
        tsb_time_utc_s(er->first_gen_time_ms, f);
        tsb_time_utc_s(er->last_gen_time_ms, l);
        tsb_time_utc_s(er->last_not_after_ms, na);
        r |= tsb_buf_appendf(o,
                             "  bag %lld: %zu archive timestamp%s, from %s to %s;\n"
                             "    the latest TSA certificate is valid until %s.\n",
                             (long long)b[i].b.seq, er->n_ats, er->n_ats == 1 ? "" : "s", f, l, na);
    }
    r |= tsb_buf_append_str(o, "To look at a record's structure:\n\n"
                               "    $ openssl asn1parse -inform DER -i -in evidence-record-");
    for (size_t i = 0; i < nb; i++)
        if (b[i].er.der != NULL) {
            r |= tsb_buf_appendf(o, "%lld.ers\n", (long long)b[i].b.seq);
            break;
        }
    return r;
}

/* One line of evidence-records.txt: a bag of the package, its record and exactly the files of
 * its group (the bag and its token, then its second token), each bag once. */
static int er_list_line(void *arg, const char *dir, char *line, int lineno)
{
    struct tsb_evidence *ev = arg;
    struct tsb_buf want, der;
    char name[64];
    long long seq;
    int used = 0, r;
    size_t i = 0;
    bool ok = sscanf(line, "%lld%n", &seq, &used) == 1 && seq > 0;
    for (; ok && i < ev->nb && ev->bags[i].seq != seq; i++)
        ;
    unsigned members = TSB_ERS_OBJ_BAG | TSB_ERS_OBJ_TOKEN;
    if (ok && strstr(line, " tsa2-token-") != NULL)
        members |= TSB_ERS_OBJ_TSA2;
    tsb_buf_init(&want, 512);
    ok = ok && i < ev->nb && ev->er[i].der == NULL && er_line(&want, seq, members) == 0 &&
         want.len == strlen(line) + 1 && memcmp(want.p, line, want.len - 1) == 0;
    tsb_buf_cleanup(&want);
    if (!ok)
        return tsb_err(TSB_EFORMAT,
                       "%s/%s:%d: expected '<bag SequenceNumber> evidence-record-<seq>.ers "
                       "bag-<seq>.xml token-<seq>.der [tsa2-token-<seq>.der]' for a bag of the "
                       "package, once",
                       dir, TSB_EVIDENCE_ERS_LIST, lineno);
    if ((members & TSB_ERS_OBJ_TSA2) && ev->tsa2[i].token == NULL)
        return tsb_err(TSB_EFORMAT, "%s/%s:%d: bag %lld's second token is not in the package", dir,
                       TSB_EVIDENCE_ERS_LIST, lineno, seq);
    snprintf(name, sizeof(name), "evidence-record-%lld.ers", seq);
    if ((r = read_file(dir, name, MAX_FILE, &der)) != 0)
        return r;
    ev->er[i].der = tsb_buf_take(&der, &ev->er[i].der_len);
    if (ev->er[i].der == NULL)
        ev->er[i].der = tsb_calloc(1, 1);
    ev->er[i].members = members;
    ev->n_er++;
    return 0;
}

const struct tsb_evidence_er *tsb_evidence_er_get(const struct tsb_evidence *ev, int64_t seq)
{
    for (size_t i = 0; ev->er != NULL && i < ev->nb; i++)
        if (ev->bags[i].seq == seq)
            return ev->er[i].der != NULL ? &ev->er[i] : NULL;
    return NULL;
}

size_t tsb_evidence_er_objects(const struct tsb_evidence *ev, int64_t seq,
                               const struct tsb_evidence_er *er, struct tsb_slice objs[3])
{
    const struct tsb_audit_bag *b = tsb_evidence_bag_get(ev, seq);
    const struct tsb_evidence_tsa2 *t = tsb_evidence_tsa2_get(ev, seq);
    size_t n = 0;
    if (b == NULL || er == NULL)
        return 0;
    objs[n++] = (struct tsb_slice){b->bytes, b->bytes_len};
    objs[n++] = (struct tsb_slice){b->token, b->token_len};
    if (er->members & TSB_ERS_OBJ_TSA2) {
        if (t == NULL)
            return 0;
        objs[n++] = (struct tsb_slice){t->token, t->token_len};
    }
    return n;
}

const struct tsb_evidence_tsa2 *tsb_evidence_tsa2_get(const struct tsb_evidence *ev, int64_t seq)
{
    for (size_t i = 0; i < ev->nb; i++)
        if (ev->bags[i].seq == seq)
            return ev->tsa2[i].token != NULL ? &ev->tsa2[i] : NULL;
    return NULL;
}

/* A "sha256 Fingerprint=..." line, as openssl x509 -fingerprint prints it, for each certificate
 * of anchors (PEM text, NUL-terminated). */
static int fingerprints(struct tsb_buf *o, const char *anchors, size_t alen)
{
    int r = 0;
    size_t pos = 0;
    while (pos < alen) {
        const char *s = strstr(anchors + pos, "-----BEGIN CERTIFICATE-----");
        const char *z = s ? strstr(s, "-----END CERTIFICATE-----") : NULL;
        if (s == NULL || z == NULL)
            break;
        z += strlen("-----END CERTIFICATE-----");
        char fp[97];
        if (pem_fingerprint((const uint8_t *)s, (size_t)(z - s), fp) == 0)
            r |= tsb_buf_appendf(o, "    sha256 Fingerprint=%s\n", fp);
        pos = (size_t)(z - anchors);
    }
    return r;
}

static int readme(struct tsb_buf *o, const struct tsb_evidence_entry *e, size_t ne,
                  const struct tsb_evidence_bag *b, size_t nb, const struct tsb_audit_bag *range,
                  size_t nr, const char *anchors, size_t alen, const struct tsb_buf *er_anchors,
                  const char *zone)
{
    char t[200], hex[TSB_HASH_STR_MAX], text[TSB_HASH_STR_MAX];
    int r = 0;
    r |= tsb_buf_append_str(
        o,
        "tsbag evidence package\n"
        "======================\n\n"
        "This folder proves that the prescriptions listed below existed, unchanged, at the time\n"
        "the eHealth timestamp authority (TSA) stamped them. It needs no tsbag archive and no\n"
        "network. The checks below use only standard tools (sha256sum, grep, openssl), in a\n"
        "terminal opened in this folder. Each command is on a line starting with \"$\": type\n"
        "what follows the \"$\". `tsbag verify --package THIS-FOLDER` runs the same checks.\n\n"
        "What is inside\n"
        "--------------\n"
        "  README.txt        this text\n"
        "  entries.txt       each prescription's SHA-256 hash, its Ref and its bag number\n");
    for (size_t i = 0; i < nb; i++) {
        long long s = (long long)b[i].b.seq;
        char f1[40], f2[40], f3[40];
        snprintf(f1, sizeof(f1), "bag-%lld.xml", s);
        snprintf(f2, sizeof(f2), "token-%lld.der", s);
        snprintf(f3, sizeof(f3), "chain-%lld.pem", s);
        r |= tsb_buf_appendf(o,
                             "  %-17s the exact bytes of TimeStampBag %lld, as stamped\n"
                             "  %-17s the RFC 3161 timestamp token for bag %lld (DER)\n"
                             "  %-17s the TSA certificates that signed it (signer first)\n",
                             f1, s, f2, s, f3);
    }
    for (size_t i = 0; i < nr; i++) {
        long long s = (long long)range[i].seq;
        char f1[40];
        if (find_bag(b, nb, range[i].seq) != NULL)
            continue;
        snprintf(f1, sizeof(f1), "bag-%lld.xml", s);
        r |= tsb_buf_appendf(o, "  %-17s the exact bytes of TimeStampBag %lld (for the chain)\n",
                             f1, s);
    }
    if (nr > 0)
        r |= tsb_buf_appendf(o, "  %-17s the bags %lld to %lld whose links are checked below\n",
                             TSB_EVIDENCE_CHAIN, (long long)range[0].seq,
                             (long long)range[nr - 1].seq);
    r |= tsb_buf_append_str(o, "  tsa-anchor.pem    the trust anchor those chains end at\n");
    r |= readme_tsa2_files(o, b, nb);
    r |= readme_er_files(o, b, nb);
    r |= tsb_buf_append_str(o, "\nEntries\n"
                               "-------\n");
    for (size_t i = 0; i < ne; i++) {
        const struct tsb_evidence_bag *bg = find_bag(b, nb, e[i].seq);
        tsb_hex_encode(e[i].digest, TSB_SHA256_LEN, hex);
        when(bg->gen_time_ms, zone, t, sizeof(t));
        r |= tsb_buf_appendf(o,
                             "  Ref %lld, in bag %lld\n"
                             "    SHA-256     %s\n"
                             "    stamped at  %s\n"
                             "    TSA         %s\n"
                             "    TSA serial  %s\n"
                             "    TSA policy  %s\n",
                             (long long)e[i].ref, (long long)e[i].seq, hex, t, bg->subject,
                             bg->serial, bg->policy);
    }

    r |= tsb_buf_append_str(
        o, "\nStep 1 - the trust anchor is eHealth's\n"
           "--------------------------------------\n"
           "Everything rests on tsa-anchor.pem. Print its fingerprint and compare it with the one\n"
           "eHealth publishes for its timestamping root, obtained from eHealth (not from this\n"
           "folder):\n\n"
           "    $ openssl x509 -in tsa-anchor.pem -noout -subject -fingerprint -sha256\n\n"
           "For this package it prints the fingerprint(s):\n");
    r |= fingerprints(o, anchors, alen);
    r |= tsb_buf_append_str(o, "If it differs from eHealth's, stop: the package proves nothing.\n");

    int step = 2;
    for (size_t i = 0; i < ne; i++) {
        const struct tsb_evidence_bag *bg = find_bag(b, nb, e[i].seq);
        tsb_hex_encode(e[i].digest, TSB_SHA256_LEN, hex);
        r |= tsb_buf_appendf(
            o,
            "\nStep %d - the document is the one stamped as Ref %lld\n"
            "------------------------------------------------------------\n"
            "Use the exact file the clinical system sent: write its path instead of DOCUMENT.\n\n"
            "    $ echo '%s  DOCUMENT' | sha256sum -c -\n\n"
            "It must print \"DOCUMENT: OK\". \"FAILED\" means the document is not the one that "
            "was\nstamped: it differs by at least one byte.\n",
            step++, (long long)e[i].ref, hex);
        /* the Hash text as the bag writes it */
        struct tsb_bag *pb = NULL;
        enum tsb_hash_enc enc = TSB_HASH_HEX;
        if (tsb_bag_parse(bg->b.bytes, bg->b.bytes_len, NULL, &pb) == 0)
            enc = pb->enc;
        tsb_bag_free(pb);
        tsb_err_clear();
        tsb_hash_encode(e[i].digest, enc, text);
        char needle[200];
        snprintf(needle, sizeof(needle), "<Hash>%s</Hash><Ref>%lld</Ref>", text,
                 (long long)e[i].ref);
        bool literal = memmem(bg->b.bytes, bg->b.bytes_len, needle, strlen(needle)) != NULL;
        r |= tsb_buf_appendf(o,
                             "\nStep %d - bag %lld lists that hash with Ref %lld\n"
                             "------------------------------------------------------------\n",
                             step++, (long long)e[i].seq, (long long)e[i].ref);
        if (literal)
            r |= tsb_buf_appendf(o,
                                 "    $ grep -c -F '%s' bag-%lld.xml\n\n"
                                 "It must print 1. 0 means the bag does not list this "
                                 "prescription.\n",
                                 needle, (long long)e[i].seq);
        else
            r |= tsb_buf_appendf(o,
                                 "Open bag-%lld.xml in a text viewer and look for a JournalEntry "
                                 "whose Hash is\n%s and whose Ref is %lld.\n",
                                 (long long)e[i].seq, text, (long long)e[i].ref);
    }
    for (size_t i = 0; i < nb; i++) {
        long long s = (long long)b[i].b.seq;
        long long at = (long long)(b[i].gen_time_ms / 1000);
        if (b[i].pss_rsa_key)
            r |= pss_step(o, step++, &b[i]);
        else
            r |= tsb_buf_appendf(
                o,
                "\nStep %d - the TSA stamped exactly bag %lld\n"
                "------------------------------------------------------------\n"
                "    $ openssl ts -verify -data bag-%lld.xml -in token-%lld.der -token_in "
                "-CAfile tsa-anchor.pem -untrusted chain-%lld.pem -attime %lld\n\n"
                "It must print \"Verification: OK\" (a warning that a certificate \"is not a CA "
                "cert\" "
                "is\n"
                "expected: chain-%lld.pem also holds the TSA's own certificate). It checks that "
                "the\n"
                "token holds the digest (SHA-256, SHA-384 or SHA-512) of\n"
                "bag-%lld.xml (so the bag is unchanged), that its signature is intact, that the\n"
                "signing certificate is a timestamping certificate chaining to tsa-anchor.pem, "
                "and\n"
                "that it was valid at the stamp's time (-attime: the stamp time in seconds since\n"
                "1970, so that a certificate that expired since still counts as it should).\n",
                step++, s, s, s, s, at, s, s);
        when(b[i].gen_time_ms, zone, t, sizeof(t));
        r |= tsb_buf_appendf(
            o,
            "\nStep %d - the time of the stamp and the certificate file of bag %lld\n"
            "------------------------------------------------------------\n"
            "    $ openssl ts -reply -in token-%lld.der -token_in -token_out -text\n\n"
            "It shows \"Time stamp:\" in UTC (here %s),\n\"Serial number:\" in hexadecimal "
            "(here %s in decimal)\nand \"Policy OID:\" (here %s).\n\n"
            "    $ openssl verify -CAfile tsa-anchor.pem -untrusted chain-%lld.pem -attime %lld "
            "chain-%lld.pem\n\n"
            "It must print \"chain-%lld.pem: OK\": the certificate file is intact.\n",
            step++, s, s, t, b[i].serial, b[i].policy, s, at, s, s);
    }
    if (nr > 1)
        r |= chain_steps(o, step++, range, nr);
    r |= readme_tsa2_steps(o, b, nb, zone, &step);
    r |= readme_er_steps(o, b, nb, er_anchors, &step);
    r |= tsb_buf_append_str(
        o, "\nIf every step printed what it must, each document listed above existed, unchanged,\n"
           "at the stamp time shown: the eHealth timestamp authority signed a bag that lists its\n"
           "hash. Any other answer: keep this folder unchanged and see docs/verify.md of tsbag.\n");
    return r ? tsb_err(TSB_ETOOBIG, "README.txt is too large") : 0;
}

static void remove_in(const char *dir, const char *name)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof(p), "%s/%s", dir, name) < (int)sizeof(p))
        unlink(p);
}

int tsb_evidence_write(const char *dir, const struct tsb_evidence_entry *e, size_t ne,
                       const struct tsb_evidence_bag *b, size_t nb, const char *zone)
{
    return tsb_evidence_write_range(dir, e, ne, b, nb, NULL, 0, zone);
}

int tsb_evidence_write_range(const char *dir, const struct tsb_evidence_entry *e, size_t ne,
                             const struct tsb_evidence_bag *b, size_t nb,
                             const struct tsb_audit_bag *range, size_t nr, const char *zone)
{
    int r = TSB_EINTERNAL;
    char tmp[PATH_MAX], name[64];
    struct tsb_buf anchors, anchors2, txt, er_list, er_certs, er_anchors;
    bool made = false;
    struct stat st;

    tsb_buf_init(&anchors, MAX_SMALL);
    tsb_buf_init(&anchors2, MAX_SMALL);
    tsb_buf_init(&txt, MAX_README);
    tsb_buf_init(&er_list, MAX_SMALL);
    tsb_buf_init(&er_certs, MAX_SMALL);
    tsb_buf_init(&er_anchors, MAX_SMALL);
    if (ne == 0 || nb == 0) {
        r = tsb_err(TSB_EINVAL, "an evidence package needs at least one entry");
        goto out;
    }
    for (size_t i = 0; i < ne; i++)
        if (find_bag(b, nb, e[i].seq) == NULL) {
            r = tsb_err(TSB_EINVAL, "Ref %lld: bag %lld is not in the package", (long long)e[i].ref,
                        (long long)e[i].seq);
            goto out;
        }
    if (nr > TSB_EVIDENCE_RANGE_MAX) {
        r = tsb_err(TSB_EINVAL, "a chain range of %zu bags exceeds %d bags", nr,
                    TSB_EVIDENCE_RANGE_MAX);
        goto out;
    }
    for (size_t i = 1; i < nr; i++)
        if (range[i].seq != range[i - 1].seq + 1) {
            r = tsb_err(TSB_EINVAL, "the chain range is not consecutive: bag %lld follows bag %lld",
                        (long long)range[i].seq, (long long)range[i - 1].seq);
            goto out;
        }
    if (lstat(dir, &st) == 0) {
        r = tsb_err(TSB_EIO, "%s already exists: give a new folder name", dir);
        goto out;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", dir) >= (int)sizeof(tmp) ||
        mkdtemp(tmp) == NULL) {
        r = tsb_err(TSB_EIO, "cannot create a folder next to %s: %s", dir, strerror(errno));
        goto out;
    }
    made = true;
    for (size_t i = 0; i < nb; i++) {
        const struct tsb_audit_bag *g = &b[i].b;
        size_t as, al;
        snprintf(name, sizeof(name), "bag-%lld.xml", (long long)g->seq);
        if ((r = write_file(tmp, name, g->bytes, g->bytes_len)) != 0)
            goto out;
        snprintf(name, sizeof(name), "token-%lld.der", (long long)g->seq);
        if ((r = write_file(tmp, name, g->token, g->token_len)) != 0)
            goto out;
        snprintf(name, sizeof(name), "chain-%lld.pem", (long long)g->seq);
        if ((r = write_file(tmp, name, g->chain_file, g->chain_file_len)) != 0)
            goto out;
        if (!last_pem(g->chain_file, g->chain_file_len, &as, &al)) {
            r = tsb_err(TSB_EINVAL, "bag %lld: no verified TSA chain to export", (long long)g->seq);
            goto out;
        }
        if (anchors.len == 0 || memmem(anchors.p, anchors.len, g->chain_file + as, al) == NULL) {
            if ((r = tsb_buf_append(&anchors, g->chain_file + as, al)) != 0 ||
                (r = tsb_buf_append(&anchors, "\n", 1)) != 0)
                goto out;
        }
        if ((r = write_tsa2(tmp, &b[i], &anchors2)) != 0 ||
            (r = write_er(tmp, &b[i], &er_list, &er_certs, &er_anchors)) != 0)
            goto out;
    }
    if (er_list.len > 0 && (r = write_er_common(tmp, &er_list, &er_certs, &er_anchors)) != 0)
        goto out;
    if ((r = write_file(tmp, TSB_EVIDENCE_ANCHOR, anchors.p, anchors.len)) != 0)
        goto out;
    if (nr > 0) {
        r = tsb_buf_append_str(&txt, "# tsbag evidence package: consecutive bags of the chain\n"
                                     "# bag SequenceNumber\n");
        for (size_t i = 0; r == 0 && i < nr; i++) {
            r = tsb_buf_appendf(&txt, "%lld\n", (long long)range[i].seq);
            snprintf(name, sizeof(name), "bag-%lld.xml", (long long)range[i].seq);
            if (r == 0 && find_bag(b, nb, range[i].seq) == NULL)
                r = write_file(tmp, name, range[i].bytes, range[i].bytes_len);
        }
        if (r != 0 || (r = write_file(tmp, TSB_EVIDENCE_CHAIN, txt.p, txt.len)) != 0)
            goto out;
        tsb_buf_reset(&txt);
    }
    if (anchors2.len > 0 &&
        (r = write_file(tmp, TSB_EVIDENCE_TSA2_ANCHOR, anchors2.p, anchors2.len)) != 0)
        goto out;
    r = tsb_buf_append_str(&txt,
                           "# tsbag evidence package, format 1\n"
                           "# SHA-256 (hex)                                                   "
                           "Ref  bag SequenceNumber\n");
    for (size_t i = 0; r == 0 && i < ne; i++) {
        char hex[TSB_HASH_STR_MAX];
        tsb_hex_encode(e[i].digest, TSB_SHA256_LEN, hex);
        r = tsb_buf_appendf(&txt, "%s %lld %lld\n", hex, (long long)e[i].ref, (long long)e[i].seq);
    }
    if (r != 0 || (r = write_file(tmp, TSB_EVIDENCE_ENTRIES, txt.p, txt.len)) != 0)
        goto out;
    tsb_buf_reset(&txt);
    if ((r = readme(&txt, e, ne, b, nb, range, nr, (const char *)anchors.p, anchors.len,
                    &er_anchors, zone)) != 0 ||
        (r = write_file(tmp, TSB_EVIDENCE_README, txt.p, txt.len)) != 0)
        goto out;
    if (rename(tmp, dir) != 0) {
        r = tsb_err(TSB_EIO, "cannot rename %s to %s: %s", tmp, dir, strerror(errno));
        goto out;
    }
    made = false;
    r = 0;
out:
    if (made) { /* remove the partial folder */
        for (size_t i = 0; i < nb; i++) {
            long long q = (long long)b[i].b.seq;
            snprintf(name, sizeof(name), "bag-%lld.xml", q);
            remove_in(tmp, name);
            snprintf(name, sizeof(name), "token-%lld.der", q);
            remove_in(tmp, name);
            snprintf(name, sizeof(name), "chain-%lld.pem", q);
            remove_in(tmp, name);
            remove_tsa2(tmp, q);
            remove_er(tmp, q);
        }
        remove_in(tmp, TSB_EVIDENCE_ERS_LIST);
        remove_in(tmp, TSB_EVIDENCE_ERS_CERTS);
        remove_in(tmp, TSB_EVIDENCE_ERS_ANCHOR);
        remove_in(tmp, TSB_EVIDENCE_ERS_SCRIPT);
        for (size_t i = 0; i < nr; i++) {
            snprintf(name, sizeof(name), "bag-%lld.xml", (long long)range[i].seq);
            remove_in(tmp, name);
        }
        remove_in(tmp, TSB_EVIDENCE_CHAIN);
        remove_in(tmp, TSB_EVIDENCE_ANCHOR);
        remove_in(tmp, TSB_EVIDENCE_TSA2_ANCHOR);
        remove_in(tmp, TSB_EVIDENCE_ENTRIES);
        remove_in(tmp, TSB_EVIDENCE_README);
        rmdir(tmp);
    }
    tsb_buf_cleanup(&anchors);
    tsb_buf_cleanup(&anchors2);
    tsb_buf_cleanup(&txt);
    tsb_buf_cleanup(&er_list);
    tsb_buf_cleanup(&er_certs);
    tsb_buf_cleanup(&er_anchors);
    return r;
}

void tsb_evidence_free(struct tsb_evidence *ev)
{
    if (ev == NULL)
        return;
    for (size_t i = 0; i < ev->nb; i++) {
        free((void *)ev->bags[i].bytes);
        free((void *)ev->bags[i].token);
        free((void *)ev->bags[i].chain_file);
        free((void *)ev->tsa2[i].token);
        free((void *)ev->tsa2[i].chain_file);
        if (ev->er != NULL)
            free((void *)ev->er[i].der);
    }
    free(ev->er);
    free(ev->ers_certs);
    for (size_t i = 0; i < ev->nr; i++)
        free(ev->range[i].bytes);
    free(ev->range);
    free(ev->digests);
    free(ev->bags);
    free(ev->tsa2);
    free(ev->entries);
    free(ev);
}

const struct tsb_audit_bag *tsb_evidence_bag_get(const struct tsb_evidence *ev, int64_t seq)
{
    for (size_t i = 0; i < ev->nb; i++)
        if (ev->bags[i].seq == seq)
            return &ev->bags[i];
    return NULL;
}

static int load_bag(const char *dir, int64_t seq, struct tsb_audit_bag *g)
{
    char name[64];
    struct tsb_buf bytes, token, chain;
    int r;
    snprintf(name, sizeof(name), "bag-%lld.xml", (long long)seq);
    if ((r = read_file(dir, name, MAX_FILE, &bytes)) != 0)
        return r;
    snprintf(name, sizeof(name), "token-%lld.der", (long long)seq);
    if ((r = read_file(dir, name, MAX_SMALL, &token)) != 0) {
        tsb_buf_cleanup(&bytes);
        return r;
    }
    snprintf(name, sizeof(name), "chain-%lld.pem", (long long)seq);
    if ((r = read_file(dir, name, MAX_SMALL, &chain)) != 0) {
        tsb_buf_cleanup(&bytes);
        tsb_buf_cleanup(&token);
        return r;
    }
    memset(g, 0, sizeof(*g));
    g->seq = seq;
    g->bytes = tsb_buf_take(&bytes, &g->bytes_len);
    g->token = tsb_buf_take(&token, &g->token_len);
    g->chain_file = tsb_buf_take(&chain, &g->chain_file_len);
    if (g->bytes == NULL)
        g->bytes = tsb_calloc(1, 1);
    if (g->token == NULL)
        g->token = tsb_calloc(1, 1);
    if (g->chain_file == NULL)
        g->chain_file = tsb_calloc(1, 1);
    return 0;
}

/* One line of bag-chain.txt: the next bag of the range, ascending by one. */
static int range_line(void *arg, const char *dir, char *line, int lineno)
{
    struct tsb_evidence *ev = arg;
    struct tsb_buf bytes;
    char name[64];
    long long seq;
    int used = 0, r;
    if (sscanf(line, "%lld%n", &seq, &used) != 1 || line[used] != '\0' || seq <= 0 ||
        (ev->nr > 0 && seq != ev->range[ev->nr - 1].seq + 1) || ev->nr >= TSB_EVIDENCE_RANGE_MAX)
        return tsb_err(TSB_EFORMAT,
                       "%s/%s:%d: expected the next bag SequenceNumber of a consecutive range "
                       "(at most %d bags)",
                       dir, TSB_EVIDENCE_CHAIN, lineno, TSB_EVIDENCE_RANGE_MAX);
    snprintf(name, sizeof(name), "bag-%lld.xml", seq);
    if ((r = read_file(dir, name, MAX_FILE, &bytes)) != 0)
        return r;
    ev->range = tsb_realloc(ev->range, (ev->nr + 1) * sizeof(*ev->range));
    struct tsb_evidence_link *k = &ev->range[ev->nr++];
    k->seq = seq;
    k->bytes = tsb_buf_take(&bytes, &k->bytes_len);
    if (k->bytes == NULL)
        k->bytes = tsb_calloc(1, 1);
    tsb_sha256(k->bytes, k->bytes_len, k->digest);
    return 0;
}

/* Points each bag's prev_digest at the package's copy of the bag before it, if it has one. */
static void link_bags(struct tsb_evidence *ev)
{
    ev->digests = tsb_calloc(ev->nb ? ev->nb : 1, sizeof(*ev->digests));
    for (size_t i = 0; i < ev->nb; i++)
        tsb_sha256(ev->bags[i].bytes, ev->bags[i].bytes_len, ev->digests[i]);
    for (size_t i = 0; i < ev->nb; i++) {
        int64_t want = ev->bags[i].seq - 1;
        for (size_t k = 0; k < ev->nr && ev->bags[i].prev_digest == NULL; k++)
            if (ev->range[k].seq == want)
                ev->bags[i].prev_digest = ev->range[k].digest;
        for (size_t k = 0; k < ev->nb && ev->bags[i].prev_digest == NULL; k++)
            if (ev->bags[k].seq == want)
                ev->bags[i].prev_digest = ev->digests[k];
    }
}

int tsb_evidence_check_range(const struct tsb_evidence *ev, size_t *links, char *why, size_t len)
{
    *links = 0;
    for (size_t i = 1; i < ev->nr; i++) {
        const struct tsb_evidence_link *k = &ev->range[i];
        struct tsb_bag *pb = NULL;
        if (tsb_bag_parse(k->bytes, k->bytes_len, NULL, &pb) != 0) {
            snprintf(why, len, "bag-%lld.xml is not a readable bag: %s", (long long)k->seq,
                     tsb_err_detail());
            return TSB_EFORMAT;
        }
        enum tsb_link l = tsb_link_judge(pb, ev->range[i - 1].digest, 0);
        if (l == TSB_LINK_OK)
            (*links)++;
        else if (l != TSB_LINK_NONE) /* an unchained bag links nothing: skipped */
            tsb_link_describe(l, k->seq, pb, ev->range[i - 1].digest, why, len);
        tsb_bag_free(pb);
        if (l != TSB_LINK_OK && l != TSB_LINK_NONE)
            return TSB_EFORMAT;
    }
    return 0;
}

int tsb_evidence_read(const char *dir, struct tsb_evidence **out)
{
    int r = TSB_EINTERNAL;
    struct tsb_buf txt;
    char path[PATH_MAX];
    struct tsb_evidence *ev = tsb_calloc(1, sizeof(*ev));
    size_t cap_e = 0, cap_b = 0;
    tsb_buf_init(&txt, 0);

    if ((r = read_file(dir, TSB_EVIDENCE_ENTRIES, MAX_FILE, &txt)) != 0)
        goto out;
    char *save = NULL, *line;
    int lineno = 0;
    for (line = strtok_r((char *)txt.p, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char hex[80];
        long long ref, seq;
        int used = 0;
        struct tsb_evidence_entry e;
        if (sscanf(line, "%79s %lld %lld%n", hex, &ref, &seq, &used) != 3 || line[used] != '\0' ||
            ref <= 0 || seq <= 0 ||
            tsb_hex_decode(hex, strlen(hex), e.digest, TSB_SHA256_LEN) != 0) {
            r = tsb_err(TSB_EFORMAT, "%s/%s:%d: expected '<64 hex> <Ref> <bag SequenceNumber>'",
                        dir, TSB_EVIDENCE_ENTRIES, lineno);
            goto out;
        }
        e.ref = ref;
        e.seq = seq;
        if (ev->ne == cap_e) {
            cap_e = cap_e ? 2 * cap_e : 16;
            ev->entries = tsb_realloc(ev->entries, cap_e * sizeof(*ev->entries));
        }
        ev->entries[ev->ne++] = e;
        if (tsb_evidence_bag_get(ev, seq) == NULL) {
            if (ev->nb == cap_b) {
                cap_b = cap_b ? 2 * cap_b : 4;
                ev->bags = tsb_realloc(ev->bags, cap_b * sizeof(*ev->bags));
                ev->tsa2 = tsb_realloc(ev->tsa2, cap_b * sizeof(*ev->tsa2));
            }
            memset(&ev->tsa2[ev->nb], 0, sizeof(ev->tsa2[ev->nb]));
            if ((r = load_bag(dir, seq, &ev->bags[ev->nb])) != 0)
                goto out;
            ev->nb++;
            if ((r = load_tsa2(dir, seq, &ev->tsa2[ev->nb - 1])) != 0)
                goto out;
        }
    }
    if (ev->ne == 0) {
        r = tsb_err(TSB_EFORMAT, "%s/%s lists no entry", dir, TSB_EVIDENCE_ENTRIES);
        goto out;
    }
    ev->er = tsb_calloc(ev->nb, sizeof(*ev->er));
    if ((r = each_line(dir, TSB_EVIDENCE_CHAIN, range_line, ev)) != 0 ||
        (r = each_line(dir, TSB_EVIDENCE_ERS_LIST, er_list_line, ev)) != 0)
        goto out;
    snprintf(path, sizeof(path), "%s/%s", dir, TSB_EVIDENCE_ERS_CERTS);
    if (ev->n_er > 0 && access(path, F_OK) == 0) {
        struct tsb_buf c;
        if ((r = read_file(dir, TSB_EVIDENCE_ERS_CERTS, MAX_SMALL, &c)) != 0)
            goto out;
        ev->ers_certs = tsb_buf_take(&c, &ev->ers_certs_len);
    }
    link_bags(ev);
    *out = ev;
    ev = NULL;
    r = 0;
out:
    tsb_buf_cleanup(&txt);
    tsb_evidence_free(ev);
    return r;
}
