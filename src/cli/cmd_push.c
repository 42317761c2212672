/*
 * tsbag push: submits files (or stdin, or every regular file of a folder) to a running tsbagd,
 * pipelined, and prints "<Ref> <hash> <file>" per acknowledged entry, in argument order.
 * NACKs and lost replies are reported on stderr. Exit: 0 every entry acknowledged, 1 at least one
 * was not (NACK, unreadable file, connection lost), 2 usage or could not connect.
 */
#include "cli.h"

#include "client.h"
#include "err.h"
#include "hash.h"
#include "mem.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

struct push {
    struct tsb_cli *cli;
    char **names;
    size_t n, next, answered, acked, failed;
    size_t depth;
    size_t max;
    bool hash_only, name_as_ref, connected;
    const char *format;
    struct tsb_client *client;
    struct tsb_hasher *hasher;
    int connect_status;
};

static void add_name(struct push *p, const char *name, size_t *cap)
{
    if (p->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        p->names = tsb_realloc(p->names, *cap * sizeof(*p->names));
    }
    p->names[p->n++] = tsb_strdup(name);
}

static int only_visible(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* A folder contributes its regular files (not recursively), sorted by name. */
static int add_arg(struct push *p, const char *arg, size_t *cap)
{
    struct stat st;
    if (strcmp(arg, "-") == 0 || stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) {
        add_name(p, arg, cap);
        return 0;
    }
    struct dirent **list;
    int n = scandir(arg, &list, only_visible, alphasort);
    if (n < 0)
        return tsb_err(TSB_EIO, "%s: %s", arg, strerror(errno));
    for (int i = 0; i < n; i++) {
        size_t len = strlen(arg) + strlen(list[i]->d_name) + 2;
        char *path = tsb_malloc(len);
        snprintf(path, len, "%s/%s", arg, list[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            add_name(p, path, cap);
        free(path);
        free(list[i]);
    }
    free(list);
    return 0;
}

static int read_file(const char *name, size_t max, struct tsb_buf *b)
{
    bool is_stdin = strcmp(name, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(name, "rb");
    uint8_t chunk[65536];
    size_t got;
    int r = 0;
    if (f == NULL)
        return tsb_err(TSB_EIO, "%s", strerror(errno));
    tsb_buf_init(b, max);
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (tsb_buf_append(b, chunk, got) != 0) {
            r = tsb_err(TSB_ETOOBIG, "larger than the %zu bytes a frame can carry", max);
            break;
        }
    if (r == 0 && ferror(f))
        r = tsb_err(TSB_EIO, "%s", strerror(errno));
    if (!is_stdin)
        fclose(f);
    return r;
}

static void pump(struct push *p);

static void finish_if_done(struct push *p)
{
    if (p->answered == p->n && p->client != NULL) {
        tsb_client_close(p->client, NULL);
        p->client = NULL;
    }
}

static void on_reply(struct tsb_client *c, void *arg, int status, const struct tsb_frame *f)
{
    struct push *p = tsb_client_data(c);
    size_t i = (size_t)(uintptr_t)arg;
    struct tsb_ack a;
    char why[700];
    p->answered++;
    if (status != 0) {
        fprintf(stderr, "tsbag push: %s: no reply: %s\n", p->names[i], tsb_err_detail());
        p->failed++;
    } else if (f->type == TSB_FT_ACK && tsb_frame_parse_ack(f->body, &a) == 0) {
        printf("%lld %s %s\n", (long long)a.ref, a.hash, p->names[i]);
        p->acked++;
    } else {
        tsb_client_describe(f, why, sizeof(why));
        fprintf(stderr, "tsbag push: %s: %s\n", p->names[i], why);
        p->failed++;
    }
    if (status == 0)
        pump(p);
    finish_if_done(p);
}

static void pump(struct push *p)
{
    while (p->client != NULL && !tsb_client_ended(p->client) &&
           tsb_client_inflight(p->client) < p->depth && p->next < p->n) {
        size_t i = p->next++;
        struct tsb_buf b;
        int r = read_file(p->names[i], p->max, &b);
        if (r == 0) {
            struct tsb_slice fmt = {(const uint8_t *)p->format, strlen(p->format)};
            struct tsb_slice ref = {NULL, 0};
            if (p->name_as_ref)
                ref = (struct tsb_slice){(const uint8_t *)p->names[i], strlen(p->names[i])};
            if (p->hash_only) {
                uint8_t d[TSB_SHA256_LEN];
                r = tsb_hasher_digest(p->hasher, b.p ? b.p : (const uint8_t *)"", b.len, d);
                if (r == 0)
                    r = tsb_client_submit_hash(p->client, fmt, ref, d, on_reply,
                                               (void *)(uintptr_t)i);
            } else {
                r = tsb_client_submit(p->client, fmt, ref,
                                      (struct tsb_slice){b.p ? b.p : (const uint8_t *)"", b.len},
                                      on_reply, (void *)(uintptr_t)i);
            }
        }
        tsb_buf_cleanup(&b);
        if (r != 0) {
            fprintf(stderr, "tsbag push: %s: %s\n", p->names[i], tsb_err_detail());
            p->failed++;
            p->answered++;
        }
    }
    finish_if_done(p);
}

static void on_ready(struct tsb_client *c, int status, const struct tsb_hello_ok *h)
{
    struct push *p = tsb_client_data(c);
    if (status != 0) {
        fprintf(stderr, "tsbag push: %s\n", tsb_err_detail());
        p->connect_status = status;
        /* nothing was sent; everything counts as failed */
        p->failed += p->n - p->answered;
        p->answered = p->n;
        tsb_client_close(c, NULL);
        p->client = NULL;
        return;
    }
    p->connected = true;
    if (h->max_frame > 8 && h->max_frame - 8 < p->max)
        p->max = h->max_frame - 8; /* leaves room for the type, format and reference fields */
    if (p->depth > h->max_inflight)
        p->depth = h->max_inflight;
    pump(p);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tsbag push [OPTIONS] FILE|FOLDER|-...\n"
               "Submits each file's exact bytes to tsbagd (a folder: its regular files, sorted).\n"
               "Prints '<Ref> <hash> <file>' per acknowledged entry; exit 1 if any was not.\n"
               "  --socket PATH     Unix socket (default: ingest.unix_socket)\n"
               "  --tcp HOST:PORT   connect over TCP instead\n"
               "  --tls-ca FILE     TLS: CA of the server certificate (enables TLS)\n"
               "  --tls-cert FILE   TLS: client certificate (PEM)\n"
               "  --tls-key FILE    TLS: client key (PEM)\n"
               "  --source NAME     source system name sent in HELLO (default tsbag-push;\n"
               "                    with TLS, '' takes it from the certificate)\n"
               "  --format ID       format id sent with every entry\n"
               "  --name-as-ref     send each file name as the client reference\n"
               "  --hash-only       send SHA-256 digests (SUBMIT_HASH) instead of the bytes\n"
               "  --depth N         requests in flight (default 64)\n");
}

int tsb_cmd_push(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 'S'},  {"tcp", required_argument, NULL, 'T'},
        {"tls-ca", required_argument, NULL, 'A'},  {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'}, {"source", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},  {"name-as-ref", no_argument, NULL, 'n'},
        {"hash-only", no_argument, NULL, 'H'},     {"depth", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    struct push p = {.cli = cli, .depth = 64, .format = ""};
    struct tsb_client_opts o = {.unix_path = cli->cfg.ingest.unix_socket, .source = "tsbag-push"};
    char host[256];
    size_t cap = 0;
    int ch, rc = TSB_EXIT_USAGE;
    uv_loop_t loop;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'S':
            o.unix_path = optarg;
            break;
        case 'T': {
            const char *colon = strrchr(optarg, ':');
            if (colon == NULL || (size_t)(colon - optarg) >= sizeof(host)) {
                fprintf(stderr, "tsbag push: --tcp wants HOST:PORT\n");
                goto out;
            }
            size_t hl = (size_t)(colon - optarg);
            const char *h = optarg;
            if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
                h++;
                hl -= 2;
            }
            memcpy(host, h, hl);
            host[hl] = '\0';
            o.host = host;
            o.port = atoi(colon + 1);
            o.unix_path = NULL;
            break;
        }
        case 'A':
            o.tls_ca = optarg;
            break;
        case 'C':
            o.tls_cert = optarg;
            break;
        case 'K':
            o.tls_key = optarg;
            break;
        case 'o':
            o.source = optarg;
            break;
        case 'f':
            p.format = optarg;
            break;
        case 'n':
            p.name_as_ref = true;
            break;
        case 'H':
            p.hash_only = true;
            break;
        case 'd':
            p.depth = (size_t)strtoul(optarg, NULL, 10);
            if (p.depth == 0)
                p.depth = 1;
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
    if (optind >= argc) {
        fprintf(stderr, "tsbag push: no file given (use - for stdin)\n");
        goto out;
    }
    for (int i = optind; i < argc; i++)
        if (add_arg(&p, argv[i], &cap) != 0) {
            fprintf(stderr, "tsbag push: %s\n", tsb_err_detail());
            goto out;
        }
    /* the output is the client's record of what was acknowledged: each line whole as its ACK
     * arrives, even into a file, so that a push that dies leaves no half line and loses none */
    setvbuf(stdout, NULL, _IOLBF, 0);
    p.max = (size_t)cli->cfg.ingest.max_frame;
    p.hasher = tsb_hasher_new(p.max);
    if (p.n == 0) {
        rc = TSB_EXIT_OK;
        goto out;
    }
    uv_loop_init(&loop);
    if (tsb_client_connect(&loop, &o, on_ready, &p, &p.client) != 0) {
        fprintf(stderr, "tsbag push: %s\n", tsb_err_detail());
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        goto out;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "tsbag push: event loop still had handles\n");
    if (!p.connected) {
        rc = TSB_EXIT_USAGE;
        goto out;
    }
    if (p.failed > 0)
        fprintf(stderr, "tsbag push: %zu of %zu entries not acknowledged\n", p.failed, p.n);
    rc = p.acked == p.n ? TSB_EXIT_OK : TSB_EXIT_FAIL;
    int flushed = fflush(stdout), flush_errno = errno;
    if (flushed != 0 || ferror(stdout)) {
        fprintf(stderr,
                "tsbag push: cannot write the acknowledgements to standard output (%s): %zu "
                "entries were acknowledged by tsbagd, their Refs are in its archive\n",
                flushed != 0 ? strerror(flush_errno) : "a write failed", p.acked);
        rc = TSB_EXIT_FAIL;
    }
out:
    for (size_t i = 0; i < p.n; i++)
        free(p.names[i]);
    free(p.names);
    tsb_hasher_free(p.hasher);
    return rc;
}
