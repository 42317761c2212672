/*
 * tsbag renew: RFC 4998 archive timestamps over the archive (docs/operations.md, "Evidence
 * renewal"), run daily by tsbag-renew.timer. renew.c decides what to stamp and commits each tree;
 * this file is its TSA client: a blocking RFC 3161 round trip per tree root (tsq.c request,
 * fetch_sync.c POST of application/timestamp-query, tsq.c reply checks, token.c verification at
 * genTime against renew.trust_anchors), like tsbagd's second-TSA client does asynchronously.
 * Nothing is archived before its token verified. Exit: 0 done or nothing to do, 2 could not run
 * (usage, no TSA configured, TSA unreachable, token refused, renewal refused, archive busy).
 */
#include "cli.h"

#include "clock.h"
#include "err.h"
#include "ers.h"
#include "fetch_sync.h"
#include "keystore.h"
#include "renew.h"
#include "store.h"
#include "timefmt.h"
#include "token.h"
#include "tsq.h"

#include <getopt.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRED_MAX 512

struct client {
    const struct tsb_config *cfg;
    struct tsb_token_verifier *v;
    struct tsb_fetch_opts fo;
    char userpwd[CRED_MAX]; /* "" when no credentials */
    size_t requests;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tsbag renew [--rehash ALG] [--dry-run]\n\n"
               "Builds RFC 4998 hash trees over the stamped bags not yet covered and has each\n"
               "root timestamped by the [renew] RFC 3161 TSA (renew.url, else tsa2.url); renews\n"
               "the ArchiveTimeStamps whose TSA certificate expires within renew.margin_days.\n"
               "  --rehash ALG  also start a new chain with ALG (sha256, sha384, sha512) for\n"
               "                every covered bag whose latest chain uses another algorithm\n"
               "  --dry-run     say what would be stamped; no request, nothing written\n"
               "Exit: 0 done (or nothing to do), 2 could not run. See docs/operations.md.\n");
}

/* ---- the RFC 3161 round trip ------------------------------------------------------------- */

/* renew.credentials_file: "user:password" on its first line, checked like the keystore's. */
static int load_credentials(struct client *c)
{
    const char *path = c->cfg->renew.credentials_file;
    if (path[0] == '\0')
        return 0;
    return tsb_credentials_file_read("renew credentials file", path, "the renewal TSA's password",
                                     c->cfg->tsa.keystore_permissions == TSB_KEY_PERMS_REFUSE,
                                     c->userpwd, sizeof(c->userpwd));
}

static int stamp(void *arg, enum tsb_ers_alg alg, const uint8_t *root, size_t len,
                 struct tsb_renew_token *tok)
{
    struct client *c = arg;
    const struct tsb_config *cfg = c->cfg;
    int r = TSB_EINTERNAL;
    uint8_t nonce[TSB_TSQ_NONCE_LEN];
    char why[TSB_TSQ_REASON_MAX];
    struct tsb_buf query, reply;
    long status = 0;
    tsb_buf_init(&query, 4096);
    tsb_buf_init(&reply, (size_t)cfg->renew.max_response);
    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        r = tsb_err(TSB_ECRYPTO, "no random bytes for the request's nonce");
        goto out;
    }
    if ((r = tsb_tsq_request_alg(tsb_ers_alg_name(alg), root, len, nonce, &query)) != 0)
        goto out;
    struct tsb_fetch_request rq = {.url = cfg->renew.url,
                                   .body = query.p,
                                   .body_len = query.len,
                                   .content_type = "application/timestamp-query",
                                   .accept = "application/timestamp-reply",
                                   .userpwd = c->userpwd[0] ? c->userpwd : NULL};
    c->requests++;
    if ((r = tsb_fetch_sync_request(&c->fo, &rq, &reply, &status)) != 0) {
        r = tsb_err(r,
                    "the TSA %s is unreachable (%s): check renew.url (or tsa2.url), the network "
                    "and renew.ca_file, then run tsbag renew again",
                    cfg->renew.url, tsb_err_detail());
        goto out;
    }
    if (status != 200) {
        r = tsb_err(TSB_EPROTO, "the TSA %s answered HTTP status %ld, nothing archived: %s",
                    cfg->renew.url, status,
                    status >= 500 ? "the TSA is unavailable; run tsbag renew again later (the "
                                    "daily timer does), or name another TSA in renew.url"
                                  : "check renew.url and its credentials, then run tsbag renew "
                                    "again");
        goto out;
    }
    enum tsb_tsq_fail f = tsb_tsq_check_reply_alg(reply.p, reply.len, tsb_ers_alg_name(alg), root,
                                                  len, nonce, &tok->der, why);
    if (f != TSB_TSQ_OK) {
        r = tsb_err(TSB_ETOKEN,
                    "token refused (%s), nothing archived: %s; the TSA %s gave no usable token: "
                    "check renew.url and renew.alg (an algorithm it accepts), report it to the "
                    "TSA's operator or name another TSA in renew.url, then run tsbag renew again",
                    tsb_tsq_fail_name(f), why, cfg->renew.url);
        goto out;
    }
    struct tsb_token_verify_opts vo = {.check_skew = true,
                                       .now_ms = tsb_now_ms(),
                                       .max_skew_s = cfg->tsa.gen_time_skew_s,
                                       .imprint = root,
                                       .imprint_len = len};
    struct tsb_token_result res;
    if (tsb_token_verify(c->v, tok->der.p, tok->der.len, NULL, &vo, &res) != 0) {
        r = tsb_err(TSB_ETOKEN,
                    "token refused, nothing archived: the token failed verification: %s (check "
                    "renew.trust_anchors and renew.policy_oids against the TSA)",
                    tsb_token_result_reason(&res));
        goto out;
    }
    snprintf(tok->serial, sizeof(tok->serial), "%s", res.serial);
    snprintf(tok->subject, sizeof(tok->subject), "%s", res.tsa_subject);
    tok->gen_time_ms = res.gen_time_ms;
    tok->not_after_ms = res.signer_not_after_ms;
    r = 0;
out:
    tsb_buf_cleanup(&query);
    tsb_buf_cleanup(&reply);
    return r;
}

/* ---- report --------------------------------------------------------------------------------- */

static void on_tree(void *arg, const struct tsb_renew_tree_done *t)
{
    const struct client *c = arg;
    static const char *const what[] = {[TSB_ERS_INITIAL] = "newly covered",
                                       [TSB_ERS_RENEWAL] = "renewed (timestamp renewal)",
                                       [TSB_ERS_REHASH] = "rehashed (new chain)"};
    if (t->tok == NULL) {
        printf("renew: would stamp a %s tree of %zu bags (%" PRId64 "..%" PRId64 "): %s\n",
               tsb_ers_alg_name(t->alg), t->leaves, t->first_seq, t->last_seq, what[t->kind]);
        return;
    }
    char gen[TSB_TIME_STR_MAX], until[TSB_TIME_STR_MAX];
    tsb_time_utc(t->tok->gen_time_ms, gen);
    tsb_time_utc(t->tok->not_after_ms, until);
    printf("renew: tree %" PRId64 ": %zu bags %s (%" PRId64 "..%" PRId64 "), %s, TSA %s, "
           "serial %s, genTime %s, certificate valid until %s\n",
           t->tree_id, t->leaves, what[t->kind], t->first_seq, t->last_seq,
           tsb_ers_alg_name(t->alg), c->cfg->renew.url, t->tok->serial, gen, until);
    if (t->late > 0)
        printf("renew: WARNING: %" PRId64 " of them were renewed after their previous TSA "
               "certificate had expired: their evidence records no longer verify past that "
               "date (renew daily: tsbag-renew.timer)\n",
               t->late);
}

int tsb_cmd_renew(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rehash", required_argument, NULL, 'r'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const struct tsb_config *cfg = &cli->cfg;
    struct client c = {.cfg = cfg};
    struct tsb_store *s = NULL;
    struct tsb_renew_opts o = {.max_leaves = (size_t)cfg->renew.max_tree_leaves,
                               .margin_ms = cfg->renew.margin_days * 86400 * 1000,
                               .url = cfg->renew.url,
                               .stamp = stamp,
                               .stamp_arg = &c,
                               .report = on_tree,
                               .report_arg = &c};
    struct tsb_renew_result res;
    int ch, rc = TSB_EXIT_USAGE;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            if (tsb_ers_alg_parse(optarg, &o.rehash) != 0) {
                fprintf(stderr, "tsbag renew: --rehash: %s\n", tsb_err_detail());
                return TSB_EXIT_USAGE;
            }
            break;
        case 'n':
            o.dry_run = true;
            break;
        case 'h':
            usage(stdout);
            return TSB_EXIT_OK;
        default:
            usage(stderr);
            return TSB_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return TSB_EXIT_USAGE;
    }
    if (tsb_ers_alg_parse(cfg->renew.alg, &o.alg) != 0) {
        fprintf(stderr, "tsbag renew: renew.alg: %s\n", tsb_err_detail());
        return TSB_EXIT_USAGE;
    }
    /* a rehash covers new bags directly with the new algorithm: no chain to rehash at once */
    if (o.rehash != TSB_ERS_ALG_NONE)
        o.alg = o.rehash;
    if (!o.dry_run && cfg->renew.url[0] == '\0') {
        fprintf(stderr, "tsbag renew: no TSA configured: set renew.url (or tsa2.url) to an RFC "
                        "3161 TSA and renew.trust_anchors (or tsa2.trust_anchors) to its roots\n");
        return TSB_EXIT_USAGE;
    }
    if (!o.dry_run && cfg->renew.trust_anchors[0] == '\0') {
        fprintf(stderr, "tsbag renew: renew.url is set but renew.trust_anchors (and "
                        "tsa2.trust_anchors) is empty: name the PEM roots of that TSA\n");
        return TSB_EXIT_USAGE;
    }
    if (!o.dry_run && (tsb_token_verifier_from_files(cfg->renew.trust_anchors, cfg->renew.tsa_certs,
                                                     cfg->renew.policy_oids, &c.v) != 0 ||
                       load_credentials(&c) != 0)) {
        fprintf(stderr, "tsbag renew: %s\n", tsb_err_detail());
        goto out;
    }
    c.fo = (struct tsb_fetch_opts){.ca_file = cfg->renew.ca_file,
                                   .connect_timeout_ms = cfg->renew.connect_timeout_ms,
                                   .timeout_ms = cfg->renew.timeout_ms,
                                   .max_response = (size_t)cfg->renew.max_response,
                                   .allow_http = strncmp(cfg->renew.url, "http://", 7) == 0};
    if (tsb_cli_open_archive(cli, "renew", o.dry_run, &s) != 0)
        goto out;
    o.now_ms = tsb_now_ms();
    int r = tsb_renew_run(s, &o, &res);
    size_t trees = res.trees[0] + res.trees[1] + res.trees[2];
    printf("renew: %s%zu bags newly covered, %zu rehashed, %zu renewed, in %zu trees%s\n",
           o.dry_run ? "(dry run) " : "", res.bags[TSB_ERS_INITIAL], res.bags[TSB_ERS_REHASH],
           res.bags[TSB_ERS_RENEWAL], trees,
           trees == 0 && r == 0 ? ": nothing to do (every stamped bag is covered and no "
                                  "ArchiveTimeStamp is due for renewal)"
                                : "");
    if (res.conflicts > 0)
        printf("renew: %" PRId64 " trees were not kept: another tsbag renew covered their bags "
               "first (run it again to cover what is left)\n",
               res.conflicts);
    if (r != 0) {
        fprintf(stderr, "tsbag renew: %s%s\n", tsb_err_detail(),
                r == TSB_EBUSY ? " (the archive is busy: run tsbag renew again; what was "
                                 "committed stays)"
                               : "");
        goto out;
    }
    rc = TSB_EXIT_OK;
out:
    OPENSSL_cleanse(c.userpwd, sizeof(c.userpwd));
    tsb_token_verifier_free(c.v);
    tsb_store_close(s);
    return rc;
}
