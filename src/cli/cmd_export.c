/*
 * tsbag export: writes an evidence package (docs/verify.md) for the selected entries: each bag's
 * exact bytes, its token, the TSA chain it verified with, the trust anchor, the entries and a
 * README that checks it all with stock tools, and each covered bag's RFC 4998 evidence record
 * (tsb_store_ers_record) with its archive timestamps' certificates. Every entry and every
 * evidence record is verified first (the record as of now): a package is written only when all
 * hold, so a package never carries evidence tsbag itself would reject.
 * --tar also packs the folder into FOLDER.tar with the system's tar.
 * Exit: 0 written; 1 some entry is not VALID (nothing written); 2 usage or could not run.
 */
#include "cli.h"

#include "audit.h"
#include "audit2.h"
#include "clock.h"
#include "ers.h"
#include "err.h"
#include "evidence.h"
#include "store.h"
#include "store_ers.h"
#include "token.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

#define ER_MAX  ((size_t)8 << 20) /* one bag's evidence record */
#define PEM_MAX ((size_t)1 << 20) /* the archive timestamps' trust anchors file */

struct collect {
    struct tsb_store *st;
    struct tsb_audit *a;
    struct tsb_audit2 *a2; /* the second tokens ([tsa2]) */
    size_t tsa2_shipped;
    struct tsb_evidence_entry *e;
    size_t ne;
    struct tsb_evidence_bag *b;
    size_t nb;
    size_t bad;
    int err;
    /* evidence records: verified with ers_tv; ers_anchors is its anchors file's text */
    struct tsb_token_verifier *ers_tv;
    struct tsb_buf ers_anchors;
    size_t er_shipped, er_missing;
};

static bool have_ref(const struct collect *c, int64_t ref)
{
    for (size_t i = 0; i < c->ne; i++)
        if (c->e[i].ref == ref)
            return true;
    return false;
}

static bool have_bag(const struct collect *c, int64_t seq)
{
    for (size_t i = 0; i < c->nb; i++)
        if (c->b[i].b.seq == seq)
            return true;
    return false;
}

/* The bag's second token, shipped when it verifies (tsa2-token-N.der, tsa2-chain-N.pem); one
 * that does not is left out with a warning: the eHealth evidence stands without it. */
static int add_tsa2(struct collect *c, const struct tsb_bag_rec *rec, struct tsb_evidence_bag *g)
{
    struct tsb_tsa2_rec t = {0};
    struct tsb_second_result sec;
    struct tsb_buf chain;
    int r = tsb_store_tsa2_get(c->st, rec->seq, &t);
    if (r == TSB_ENOTFOUND)
        return 0;
    if (r != 0) {
        c->err = r;
        return r;
    }
    tsb_buf_init(&chain, 1 << 20);
    tsb_audit2_check(c->a2, rec->seq, g->b.bytes, g->b.bytes_len, t.token, t.token_len, NULL, 0,
                     &chain, &sec);
    if (sec.verdict == TSB_SECOND_VALID) {
        g->tsa2.token = t.token;
        g->tsa2.token_len = t.token_len;
        t.token = NULL;
        g->tsa2.chain_file = tsb_buf_take(&chain, &g->tsa2.chain_file_len);
        g->tsa2.gen_time_ms = sec.gen_time_ms;
        snprintf(g->tsa2.serial, sizeof(g->tsa2.serial), "%s", sec.serial);
        snprintf(g->tsa2.subject, sizeof(g->tsa2.subject), "%s", sec.tsa_subject);
        c->tsa2_shipped++;
    } else {
        fprintf(stderr, "tsbag export: bag %lld: second token %s (%s): not shipped\n",
                (long long)rec->seq, tsb_second_verdict_name(sec.verdict), sec.reason);
    }
    tsb_buf_cleanup(&chain);
    tsb_tsa2_rec_cleanup(&t);
    return 0;
}

static int on_result(void *arg, const struct tsb_sel_input *in, const struct tsb_audit_result *res,
                     const struct tsb_entry_rec *e)
{
    struct collect *c = arg;
    if (res->verdict != TSB_VERDICT_VALID) {
        c->bad++;
        if (res->verdict == TSB_VERDICT_INVALID)
            fprintf(stderr, "tsbag export: %s (Ref %lld): INVALID (failed check: %s): %s\n",
                    in->text, (long long)res->ref, tsb_audit_check_name(res->failed),
                    res->message[res->failed]);
        else
            fprintf(stderr, "tsbag export: %s: %s: %s\n", in->text, tsb_verdict_name(res->verdict),
                    res->note);
        return 0;
    }
    if (have_ref(c, e->ref))
        return 0;
    c->e = tsb_realloc(c->e, (c->ne + 1) * sizeof(*c->e));
    struct tsb_evidence_entry *x = &c->e[c->ne++];
    memcpy(x->digest, e->digest, sizeof(x->digest));
    x->ref = e->ref;
    x->seq = e->bag_seq;
    if (have_bag(c, e->bag_seq))
        return 0;
    struct tsb_bag_rec rec;
    int r = tsb_store_bag_get(c->st, e->bag_seq, &rec);
    if (r != 0) {
        c->err = r;
        return r;
    }
    const struct tsb_buf *chain = tsb_audit_last_chain(c->a);
    c->b = tsb_realloc(c->b, (c->nb + 1) * sizeof(*c->b));
    struct tsb_evidence_bag *g = &c->b[c->nb++];
    memset(g, 0, sizeof(*g));
    g->b.seq = rec.seq;
    g->b.bytes = rec.bytes;
    g->b.bytes_len = rec.bytes_len;
    g->b.token = rec.token;
    g->b.token_len = rec.token_len;
    rec.bytes = rec.token = NULL;
    g->b.chain_file = (const uint8_t *)tsb_strndup((const char *)chain->p, chain->len);
    g->b.chain_file_len = chain->len;
    g->gen_time_ms = res->gen_time_ms;
    snprintf(g->serial, sizeof(g->serial), "%s", res->tsa_serial);
    snprintf(g->subject, sizeof(g->subject), "%s", res->tsa_subject);
    snprintf(g->policy, sizeof(g->policy), "%s", res->tsa_policy);
    snprintf(g->imprint_alg, sizeof(g->imprint_alg), "%s", res->imprint_alg);
    g->pss_rsa_key = res->pss_rsa_key;
    r = add_tsa2(c, &rec, g);
    tsb_bag_rec_cleanup(&rec);
    return r;
}

/* Bag g's evidence record, verified as of now before it is shipped with the chains its archive
 * timestamps verified with; none yet (the bag is not covered) is only counted. A record that
 * does not hold, or cannot be checked, is reported and counted as bad: nothing is written. */
static int add_er(struct collect *c, struct tsb_evidence_bag *g)
{
    struct tsb_buf der, chains;
    struct tsb_ers_verify_result res;
    unsigned members = 0;
    long long seq = (long long)g->b.seq;
    tsb_buf_init(&der, ER_MAX);
    tsb_buf_init(&chains, PEM_MAX);
    int r = tsb_store_ers_record(c->st, g->b.seq, &der);
    if (r == 0)
        r = tsb_store_ers_members(c->st, g->b.seq, &members);
    if (r == TSB_ENOTFOUND) {
        c->er_missing++;
        r = 0;
        goto out;
    }
    if (r != 0) {
        c->err = r;
        goto out;
    }
    if (c->ers_tv == NULL) {
        fprintf(stderr,
                "tsbag export: bag %lld has an evidence record, but no trust anchors to verify "
                "its archive timestamps: give --ers-anchors FILE or set renew.trust_anchors\n",
                seq);
        c->bad++;
        goto out;
    }
    if ((members & TSB_ERS_OBJ_TSA2) && g->tsa2.token == NULL) {
        fprintf(stderr,
                "tsbag export: bag %lld: its evidence record covers its second token, which is "
                "not shipped: give the second TSA's anchors (--tsa2-anchors) so that it is\n",
                seq);
        c->bad++;
        goto out;
    }
    struct tsb_slice objs[3] = {{g->b.bytes, g->b.bytes_len},
                                {g->b.token, g->b.token_len},
                                {g->tsa2.token, g->tsa2.token_len}};
    struct tsb_ers_verify_opts o = {.tv = c->ers_tv, .at_ms = tsb_now_ms(), .chain_pem = &chains};
    if (tsb_ers_verify(der.p, der.len, objs, (members & TSB_ERS_OBJ_TSA2) ? 3 : 2, &o, &res) != 0) {
        fprintf(stderr, "tsbag export: bag %lld: evidence record INVALID (%s): %s\n", seq,
                tsb_ers_fail_name(res.fail), res.msg);
        tsb_err_clear();
        c->bad++;
        goto out;
    }
    g->er.der = tsb_buf_take(&der, &g->er.der_len);
    g->er.members = members;
    g->er.certs = tsb_buf_take(&chains, &g->er.certs_len);
    g->er.anchors = c->ers_anchors.p;
    g->er.anchors_len = c->ers_anchors.len;
    g->er.n_ats = res.n_ats;
    g->er.first_gen_time_ms = res.first_gen_time_ms;
    g->er.last_gen_time_ms = res.last_gen_time_ms;
    g->er.last_not_after_ms = res.last_not_after_ms;
    c->er_shipped++;
out:
    tsb_buf_cleanup(&der);
    tsb_buf_cleanup(&chains);
    return r;
}

/* The archive timestamps' verifier and its anchors file's text (for ers-tsa-anchor.pem); none
 * when no file is configured. */
static int ers_anchors_load(struct collect *c, struct tsb_cli *cli, const char *path)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    int r = tsb_token_verifier_from_files(path, cli->cfg.renew.tsa_certs,
                                          cli->cfg.renew.policy_oids, &c->ers_tv);
    FILE *f = r == 0 ? fopen(path, "rb") : NULL;
    if (r == 0 && f == NULL)
        r = tsb_err(TSB_ECONFIG, "cannot open %s", path);
    uint8_t chunk[4096];
    size_t n;
    while (f != NULL && r == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (tsb_buf_append(&c->ers_anchors, chunk, n) != 0)
            r = tsb_err(TSB_ECONFIG, "%s is larger than %zu bytes", path, PEM_MAX);
    if (f != NULL)
        fclose(f);
    return r;
}

/* "FROM..TO" (SequenceNumbers, FROM <= TO, at most TSB_EVIDENCE_RANGE_MAX bags). */
static int parse_range(const char *arg, int64_t *from, int64_t *to)
{
    char *end = NULL;
    errno = 0;
    long long a = strtoll(arg, &end, 10);
    if (errno != 0 || end == arg || strncmp(end, "..", 2) != 0)
        goto bad;
    const char *b = end + 2;
    long long z = strtoll(b, &end, 10);
    if (errno != 0 || end == b || *end != '\0' || a < 1 || z < a)
        goto bad;
    if (z - a >= TSB_EVIDENCE_RANGE_MAX) {
        fprintf(stderr, "tsbag export: --bags %s: at most %d bags in one package\n", arg,
                TSB_EVIDENCE_RANGE_MAX);
        return TSB_EINVAL;
    }
    *from = a;
    *to = z;
    return 0;
bad:
    fprintf(stderr,
            "tsbag export: --bags '%s': expected FROM..TO, two bag SequenceNumbers with "
            "1 <= FROM <= TO (e.g. --bags 40..45)\n",
            arg);
    return TSB_EINVAL;
}

/* The bytes of bags from..to, for the package's chain range; every one must be in the archive. */
static int load_range(struct tsb_store *st, int64_t from, int64_t to, struct tsb_audit_bag **out,
                      size_t *n)
{
    size_t k = (size_t)(to - from + 1);
    struct tsb_audit_bag *v = tsb_calloc(k, sizeof(*v));
    int r = 0;
    for (size_t i = 0; i < k && r == 0; i++) {
        struct tsb_bag_rec rec;
        if ((r = tsb_store_bag_get(st, from + (int64_t)i, &rec)) != 0) {
            if (r == TSB_ENOTFOUND)
                fprintf(stderr, "tsbag export: --bags: bag %lld is not in the archive\n",
                        (long long)(from + (int64_t)i));
            else
                fprintf(stderr, "tsbag export: the archive could not be read: %s\n",
                        tsb_err_detail());
            break;
        }
        v[i].seq = rec.seq;
        v[i].bytes = rec.bytes;
        v[i].bytes_len = rec.bytes_len;
        rec.bytes = NULL;
        tsb_bag_rec_cleanup(&rec);
    }
    *out = v;
    *n = k;
    return r;
}

/* tar -cf DIR.tar -C parent(DIR) basename(DIR), with the system's tar. */
static int make_tar(const char *dir, char *tarpath, size_t n)
{
    char a[PATH_MAX], b[PATH_MAX];
    snprintf(a, sizeof(a), "%s", dir);
    snprintf(b, sizeof(b), "%s", dir);
    snprintf(tarpath, n, "%s.tar", dir);
    char *argv[] = {"tar", "-cf", tarpath, "-C", dirname(a), basename(b), NULL};
    pid_t pid;
    int status;
    if ((errno = posix_spawnp(&pid, "tar", NULL, NULL, argv, environ)) != 0)
        return tsb_err(TSB_EIO, "cannot run tar: %s", strerror(errno));
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return tsb_err(TSB_EIO, "tar failed making %s", tarpath);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tsbag export --out DIR [--tar] [--anchors FILE] [--tsa2-anchors FILE]\n"
            "                    [--bags FROM..TO] [--hash HEX]... [--ref N]...\n"
            "                    [--from TIME --to TIME] [FILE...]\n\n"
            "Writes an evidence package to the new folder DIR for the selected entries (chosen\n"
            "as for tsbag verify): bag bytes, tokens, TSA chain, trust anchor, entries and a\n"
            "README.txt that checks everything with sha256sum, grep and openssl only. Every\n"
            "entry must verify first; nothing is written otherwise.\n\n"
            "  --out DIR      the package folder to create (must not exist)\n"
            "  --tar          also write DIR.tar (a single file to hand over)\n"
            "  --bags FROM..TO also include the bags FROM to TO, whose chain links README.txt\n"
            "                 checks with sha256sum and grep\n"
            "  --anchors FILE the TSA trust anchors, PEM (default tsa.trust_anchors)\n"
            "  --tsa2-anchors FILE  the second TSA's trust anchors (default tsa2.trust_anchors):\n"
            "                 each bag's second token that verifies with them is shipped too\n"
            "  --ers-anchors FILE  the archive timestamps' TSA trust anchors (default\n"
            "                 renew.trust_anchors): each bag's RFC 4998 evidence record is\n"
            "                 verified with them and shipped with ers-verify.py\n\n"
            "Exit: 0 written, 1 some entry is not VALID (nothing written), 2 usage or could "
            "not run.\n");
}

int tsb_cmd_export(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"hash", required_argument, NULL, 'H'},
        {"ref", required_argument, NULL, 'r'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},
        {"tar", no_argument, NULL, 'T'},
        {"bags", required_argument, NULL, 'b'},
        {"anchors", required_argument, NULL, 'a'},
        {"tsa2-anchors", required_argument, NULL, 'A'},
        {"ers-anchors", required_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct tsb_sel sel = {0};
    struct collect c = {0};
    const char *out = NULL, *anchors = cli->cfg.tsa.trust_anchors;
    const char *anchors2 = cli->cfg.tsa2.trust_anchors;
    const char *ers_anchors = cli->cfg.renew.trust_anchors;
    bool tar = false;
    int ch, rc = TSB_EXIT_USAGE;
    int64_t range_from = 0, range_to = 0;
    struct tsb_audit_bag *range = NULL;
    size_t nr = 0;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            if (tsb_sel_add_hash(&sel, "export", optarg) != 0)
                goto out;
            break;
        case 'r':
            if (tsb_sel_add_ref(&sel, "export", optarg) != 0)
                goto out;
            break;
        case 'f':
            sel.from = optarg;
            break;
        case 't':
            sel.to = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'T':
            tar = true;
            break;
        case 'b':
            if (parse_range(optarg, &range_from, &range_to) != 0)
                goto out;
            break;
        case 'a':
            anchors = optarg;
            break;
        case 'A':
            anchors2 = optarg;
            break;
        case 'E':
            ers_anchors = optarg;
            break;
        case 'h':
            usage(stdout);
            rc = TSB_EXIT_OK;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    for (int i = optind; i < argc; i++)
        if ((rc = tsb_sel_add_file(&sel, cli, argv[i])) != 0)
            goto out;
    rc = TSB_EXIT_USAGE;
    if (tsb_sel_finish(&sel, cli, "export") != 0)
        goto out;
    if (out == NULL || sel.n == 0) {
        fprintf(stderr, "tsbag export: give --out DIR and what to export (FILE, --hash, --ref "
                        "or --from/--to); see tsbag export --help\n");
        goto out;
    }
    tsb_buf_init(&c.ers_anchors, PEM_MAX);
    if (tsb_audit_new(anchors, cli->cfg.tsa.tsa_certs, cli->cfg.tsa.policy_oids, &c.a) != 0 ||
        tsb_audit2_new(anchors2, cli->cfg.tsa2.tsa_certs, cli->cfg.tsa2.policy_oids, &c.a2) != 0 ||
        ers_anchors_load(&c, cli, ers_anchors) != 0) {
        fprintf(stderr, "tsbag export: %s\n", tsb_err_detail());
        goto out;
    }
    if (tsb_cli_open_archive(cli, "export", true, &c.st) != 0)
        goto out;
    if (tsb_sel_run(&sel, c.st, c.a, on_result, &c) != 0) {
        fprintf(stderr, "tsbag export: the archive could not be read: %s\n", tsb_err_detail());
        goto out;
    }
    for (size_t i = 0; i < c.nb; i++)
        if (add_er(&c, &c.b[i]) != 0) {
            fprintf(stderr, "tsbag export: the archive could not be read: %s\n", tsb_err_detail());
            goto out;
        }
    if (range_from > 0 && load_range(c.st, range_from, range_to, &range, &nr) != 0)
        goto out;
    if (c.bad > 0) {
        fprintf(stderr,
                "tsbag export: %zu selected entr%s not VALID (see above); no package written. "
                "Run tsbag verify for details.\n",
                c.bad, c.bad == 1 ? "y is" : "ies are");
        rc = TSB_EXIT_FAIL;
        goto out;
    }
    if (tsb_evidence_write_range(out, c.e, c.ne, c.b, c.nb, range, nr, cli->cfg.consult.timezone) !=
        0) {
        fprintf(stderr, "tsbag export: %s\n", tsb_err_detail());
        goto out;
    }
    printf("wrote the evidence package %s: %zu entr%s in %zu bag%s (%zu with a second token)\n",
           out, c.ne, c.ne == 1 ? "y" : "ies", c.nb, c.nb == 1 ? "" : "s", c.tsa2_shipped);
    if (nr > 0)
        printf("with the chain of bags %lld to %lld\n", (long long)range_from, (long long)range_to);
    if (c.er_shipped > 0 || (c.er_missing > 0 && c.ers_tv != NULL))
        printf("with %zu evidence record%s (RFC 4998)%s\n", c.er_shipped,
               c.er_shipped == 1 ? "" : "s",
               c.er_missing > 0 ? "; bags not yet covered by tsbag renew have none" : "");
    if (tar) {
        char tarpath[PATH_MAX + 8];
        if (make_tar(out, tarpath, sizeof(tarpath)) != 0) {
            fprintf(stderr, "tsbag export: %s (the folder %s is complete)\n", tsb_err_detail(),
                    out);
            goto out;
        }
        printf("and the single file %s\n", tarpath);
    }
    printf("Check it with `tsbag verify --package %s`, or by hand following %s/README.txt.\n", out,
           out);
    rc = TSB_EXIT_OK;
out:
    for (size_t i = 0; i < nr; i++)
        free((void *)range[i].bytes);
    free(range);
    for (size_t i = 0; i < c.nb; i++) {
        free((void *)c.b[i].b.bytes);
        free((void *)c.b[i].b.token);
        free((void *)c.b[i].b.chain_file);
        free((void *)c.b[i].tsa2.token);
        free((void *)c.b[i].tsa2.chain_file);
        free((void *)c.b[i].er.der);
        free((void *)c.b[i].er.certs);
    }
    tsb_token_verifier_free(c.ers_tv);
    tsb_buf_cleanup(&c.ers_anchors);
    free(c.b);
    free(c.e);
    tsb_audit2_free(c.a2);
    tsb_audit_free(c.a);
    tsb_store_close(c.st);
    tsb_sel_cleanup(&sel);
    return rc;
}
