/*
 * tsbag hash: prints the journal hash of each file (or stdin with "-") exactly as tsbagd computes
 * it at ingest: SHA-256 of the file's bytes, no newline or encoding conversion. Integrators use it
 * to check their side. Output: "<hash>  <name>" per file, like sha256sum.
 * Exit: 0 all hashed, 1 some file could not be read or is over the size cap, 2 usage.
 */
#include "cli.h"

#include "err.h"
#include "hash.h"
#include "mem.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_all(FILE *f, size_t max, struct tsb_buf *b)
{
    uint8_t chunk[65536];
    size_t n;
    int r;
    tsb_buf_init(b, max);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if ((r = tsb_buf_append(b, chunk, n)) != 0)
            return tsb_err(TSB_ETOOBIG, "larger than the %zu-byte limit (ingest.max_frame)", max);
    return ferror(f) ? tsb_err(TSB_EIO, "%s", strerror(errno)) : 0;
}

int tsb_cmd_hash(struct tsb_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"base64", no_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum tsb_hash_enc enc = cli->cfg.sealer.hash_encoding;
    int ch, rc = TSB_EXIT_OK;

    while ((ch = getopt_long(argc, argv, "bh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            enc = TSB_HASH_BASE64;
            break;
        case 'h':
            printf("usage: tsbag hash [--base64] FILE... (- for stdin)\n"
                   "Prints SHA-256 of each file's exact bytes, as tsbagd hashes a journal entry,\n"
                   "in the bag's encoding (sealer.hash_encoding, or base64 with --base64).\n");
            return TSB_EXIT_OK;
        default:
            return TSB_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "tsbag hash: no file given (use - for stdin)\n");
        return TSB_EXIT_USAGE;
    }
    size_t max = (size_t)cli->cfg.ingest.max_frame;
    struct tsb_hasher *h = tsb_hasher_new(max);
    for (int i = optind; i < argc; i++) {
        const char *name = argv[i];
        bool is_stdin = strcmp(name, "-") == 0;
        FILE *f = is_stdin ? stdin : fopen(name, "rb");
        struct tsb_buf b;
        uint8_t d[TSB_SHA256_LEN];
        char text[TSB_HASH_STR_MAX];
        if (f == NULL) {
            fprintf(stderr, "tsbag hash: %s: %s\n", name, strerror(errno));
            rc = TSB_EXIT_FAIL;
            continue;
        }
        int r = read_all(f, max, &b);
        if (!is_stdin)
            fclose(f);
        if (r == 0)
            r = tsb_hasher_digest(h, b.p ? b.p : (const uint8_t *)"", b.len, d);
        if (r != 0) {
            fprintf(stderr, "tsbag hash: %s: %s\n", name, tsb_err_detail());
            rc = TSB_EXIT_FAIL;
        } else {
            tsb_hash_encode(d, enc, text);
            printf("%s  %s\n", text, name);
        }
        tsb_buf_cleanup(&b);
    }
    tsb_hasher_free(h);
    return rc;
}
