/*
 * select: which journal entries `tsbag verify` and `tsbag export` work on. Inputs are kept in the
 * order given; a document is hashed as soon as it is named (SHA-256 of its exact bytes, like
 * ingest and `tsbag hash`), so the archive is opened only once every input is known to be good.
 */
#include "cli.h"

#include "audit.h"
#include "err.h"
#include "hash.h"
#include "mem.h"
#include "store.h"
#include "timefmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tsb_sel_input *push(struct tsb_sel *s, enum tsb_sel_kind k, const char *text)
{
    s->v = tsb_realloc(s->v, (s->n + 1) * sizeof(*s->v));
    struct tsb_sel_input *in = &s->v[s->n++];
    memset(in, 0, sizeof(*in));
    in->kind = k;
    in->text = text;
    return in;
}

int tsb_sel_add_file(struct tsb_sel *s, struct tsb_cli *cli, const char *path)
{
    size_t max = (size_t)cli->cfg.ingest.max_frame;
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "tsbag: cannot read the document %s: %s\n", path, strerror(errno));
        return TSB_EXIT_USAGE;
    }
    struct tsb_buf b;
    uint8_t chunk[65536];
    size_t n;
    int r = 0;
    tsb_buf_init(&b, max);
    while (r == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        r = tsb_buf_append(&b, chunk, n);
    bool err = ferror(f);
    if (!is_stdin)
        fclose(f);
    if (r != 0 || err) {
        fprintf(stderr, "tsbag: cannot read the document %s: %s\n", path,
                r ? "larger than ingest.max_frame, so it cannot be a journal entry"
                  : strerror(errno));
        tsb_buf_cleanup(&b);
        return TSB_EXIT_USAGE;
    }
    struct tsb_sel_input *in = push(s, TSB_SEL_FILE, path);
    tsb_sha256(b.p ? b.p : (const uint8_t *)"", b.len, in->digest);
    tsb_buf_cleanup(&b);
    return 0;
}

int tsb_sel_add_hash(struct tsb_sel *s, const char *verb, const char *text)
{
    uint8_t d[TSB_SHA256_LEN];
    if (tsb_hash_decode(text, strlen(text), d, NULL) != 0) {
        fprintf(stderr, "tsbag %s: --hash %s: %s (expected 64 hex or 44 base64 characters)\n", verb,
                text, tsb_err_detail());
        return TSB_EXIT_USAGE;
    }
    memcpy(push(s, TSB_SEL_HASH, text)->digest, d, TSB_SHA256_LEN);
    return 0;
}

int tsb_sel_add_ref(struct tsb_sel *s, const char *verb, const char *text)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v <= 0) {
        fprintf(stderr, "tsbag %s: --ref %s: a Ref is a positive whole number\n", verb, text);
        return TSB_EXIT_USAGE;
    }
    push(s, TSB_SEL_REF, text)->ref = v;
    return 0;
}

int tsb_sel_finish(struct tsb_sel *s, struct tsb_cli *cli, const char *verb)
{
    if (s->from == NULL && s->to == NULL)
        return 0;
    if (s->from == NULL || s->to == NULL) {
        fprintf(stderr, "tsbag %s: a period needs both --from and --to\n", verb);
        return TSB_EXIT_USAGE;
    }
    int64_t from, to;
    const char *zone = cli->cfg.consult.timezone;
    if (tsb_time_parse(s->from, zone, false, &from) != 0 ||
        tsb_time_parse(s->to, zone, true, &to) != 0) {
        fprintf(stderr, "tsbag %s: %s\n", verb, tsb_err_detail());
        return TSB_EXIT_USAGE;
    }
    if (to < from) {
        fprintf(stderr, "tsbag %s: --to %s is before --from %s\n", verb, s->to, s->from);
        return TSB_EXIT_USAGE;
    }
    struct tsb_sel_input *in = push(s, TSB_SEL_PERIOD, s->from);
    in->from_ms = from;
    in->to_ms = to;
    return 0;
}

void tsb_sel_cleanup(struct tsb_sel *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

struct walk {
    struct tsb_audit *a;
    struct tsb_store *st;
    const struct tsb_sel_input *in;
    tsb_sel_cb cb;
    void *arg;
    size_t hits;
    int err; /* archive failure inside the walk */
};

static int on_entry(void *arg, const struct tsb_entry_rec *e)
{
    struct walk *w = arg;
    struct tsb_audit_result res;
    int r = tsb_audit_archive_entry(w->a, w->st, e,
                                    w->in->kind == TSB_SEL_FILE ? w->in->digest : NULL, &res);
    if (r != 0) {
        w->err = r;
        return r;
    }
    w->hits++;
    return w->cb(w->arg, w->in, &res, e);
}

int tsb_sel_run(struct tsb_sel *s, struct tsb_store *st, struct tsb_audit *a, tsb_sel_cb cb,
                void *arg)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct tsb_sel_input *in = &s->v[i];
        struct walk w = {.a = a, .st = st, .in = in, .cb = cb, .arg = arg};
        int r = 0;
        char note[256], hex[TSB_HASH_STR_MAX];
        switch (in->kind) {
        case TSB_SEL_FILE:
        case TSB_SEL_HASH:
            r = tsb_store_entries_by_hash(st, in->digest, on_entry, &w);
            tsb_hash_encode(in->digest, TSB_HASH_HEX, hex);
            snprintf(note, sizeof(note),
                     in->kind == TSB_SEL_FILE
                         ? "no journal entry in this archive has this document's SHA-256 %s: the "
                           "document was altered (even one byte), or it was never sent to tsbag"
                         : "no journal entry in this archive has the hash %s",
                     hex);
            break;
        case TSB_SEL_REF: {
            struct tsb_entry_rec e;
            r = tsb_store_entry_by_ref(st, in->ref, &e);
            if (r == 0) {
                r = on_entry(&w, &e);
                tsb_entry_rec_cleanup(&e);
            } else if (r == TSB_ENOTFOUND) {
                r = 0;
            }
            snprintf(note, sizeof(note), "no journal entry in this archive has Ref %lld",
                     (long long)in->ref);
            break;
        }
        case TSB_SEL_PERIOD: {
            char f[TSB_TIME_STR_MAX], t[TSB_TIME_STR_MAX];
            r = tsb_store_entries_by_received(st, in->from_ms, in->to_ms, on_entry, &w);
            tsb_time_utc(in->from_ms, f);
            tsb_time_utc(in->to_ms, t);
            snprintf(note, sizeof(note), "no journal entry was received from %s to %s", f, t);
            break;
        }
        }
        if (w.err != 0)
            return w.err;
        if (r != 0)
            return r;
        if (w.hits == 0) {
            struct tsb_audit_result res;
            tsb_audit_not_found(&res, note);
            if (in->kind == TSB_SEL_FILE || in->kind == TSB_SEL_HASH) {
                res.have_entry = false;
                memcpy(res.digest, in->digest, TSB_SHA256_LEN);
            }
            if ((r = cb(arg, in, &res, NULL)) != 0)
                return r;
        }
    }
    return 0;
}
