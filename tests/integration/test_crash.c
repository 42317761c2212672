/*
 * integration.crash: the kill -9 harness. Each cycle starts tsbagd on the same state folder, runs
 * pipelined load from several connections, SIGKILLs the daemon at a random moment
 * (0-150 ms after the first ACK of the cycle) and then checks that every entry acknowledged in
 * that cycle is in the archive, intact (digest and stored bytes),
 * under the Ref its ACK carried; at the end every ACK of every cycle is checked again and no Ref
 * was ever handed out twice. Cycles: argv[1] (default 20); seed: $TSB_CRASH_SEED or the clock.
 */
#include "client.h"
#include "codec.h"
#include "daemon_util.h"
#include "err.h"
#include "hash.h"
#include "store.h"
#include "testlib.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define CONNS 4
#define DEPTH 64

struct rec {
    int64_t ref;
    uint8_t digest[TSB_SHA256_LEN];
    size_t len;
    uint8_t *content;
};

struct acked {
    struct rec *v;
    size_t n, cap;
};

struct cycle {
    uv_loop_t loop;
    uv_timer_t killer;
    struct tsbd *d;
    struct tsb_client *c[CONNS];
    int open_clients;
    unsigned cycle;
    uint64_t seq;
    struct acked *acked;
    size_t acks, lost;
    int kill_ms;
};

static void die(const char *what)
{
    fprintf(stderr, "integration.crash: FAILED: %s\n", what);
    exit(1);
}

static void client_closed(void *data)
{
    struct cycle *cy = data;
    cy->open_clients--;
}

static void pump(struct cycle *cy, struct tsb_client *c);

static void kill_now(uv_timer_t *t);

static void on_reply(struct tsb_client *c, void *arg, int status, const struct tsb_frame *f)
{
    struct cycle *cy = tsb_client_data(c);
    struct rec *r = arg;
    struct tsb_ack a;
    if (status == 0 && f->type == TSB_FT_ACK && tsb_frame_parse_ack(f->body, &a) == 0) {
        char hex[TSB_HASH_HEX_LEN + 1];
        tsb_hex_encode(r->digest, TSB_SHA256_LEN, hex);
        if (strcmp(hex, a.hash) != 0)
            die("ACK hash differs from the SHA-256 of the entry sent");
        r->ref = a.ref;
        struct acked *ak = cy->acked;
        if (ak->n == ak->cap) {
            ak->cap = ak->cap ? ak->cap * 2 : 4096;
            ak->v = realloc(ak->v, ak->cap * sizeof(*ak->v));
        }
        ak->v[ak->n++] = *r;
        free(r);
        if (cy->acks++ == 0) /* the kill lands while the load is flowing, however slow the start */
            uv_timer_start(&cy->killer, kill_now, (uint64_t)cy->kill_ms, 0);
        pump(cy, c);
        return;
    }
    if (status == 0) {
        char why[700];
        tsb_client_describe(f, why, sizeof(why));
        fprintf(stderr, "unexpected reply: %s\n", why);
        die("a reply other than ACK before the kill");
    }
    cy->lost++;
    free(r->content);
    free(r);
    if (tsb_client_ended(c)) {
        for (int i = 0; i < CONNS; i++)
            if (cy->c[i] == c) {
                cy->c[i] = NULL;
                tsb_client_close(c, client_closed);
            }
    }
}

static void pump(struct cycle *cy, struct tsb_client *c)
{
    while (!tsb_client_ended(c) && tsb_client_inflight(c) < DEPTH) {
        struct rec *r = calloc(1, sizeof(*r));
        char head[96];
        int h = snprintf(head, sizeof(head), "crash cycle=%u seq=%llu pid=%d|", cy->cycle,
                         (unsigned long long)cy->seq++, (int)getpid());
        r->len = (size_t)h + (size_t)(rand() % 512);
        r->content = malloc(r->len);
        memcpy(r->content, head, (size_t)h);
        for (size_t k = (size_t)h; k < r->len; k++)
            r->content[k] = (uint8_t)rand();
        tsb_sha256(r->content, r->len, r->digest);
        if (tsb_client_submit(c, (struct tsb_slice){(const uint8_t *)"crash", 5},
                              (struct tsb_slice){NULL, 0}, (struct tsb_slice){r->content, r->len},
                              on_reply, r) != 0) {
            free(r->content);
            free(r);
            return;
        }
    }
}

static void on_ready(struct tsb_client *c, int status, const struct tsb_hello_ok *h)
{
    struct cycle *cy = tsb_client_data(c);
    (void)h;
    if (status != 0) {
        for (int i = 0; i < CONNS; i++)
            if (cy->c[i] == c) {
                cy->c[i] = NULL;
                tsb_client_close(c, client_closed);
            }
        return;
    }
    pump(cy, c);
}

static void kill_now(uv_timer_t *t)
{
    struct cycle *cy = t->data;
    tsbd_kill9(cy->d);
    uv_close((uv_handle_t *)t, NULL);
}

static void run_cycle(struct tsbd *d, unsigned k, struct acked *acked, int kill_ms)
{
    struct cycle cy = {.d = d, .cycle = k, .acked = acked, .kill_ms = kill_ms};
    if (uv_loop_init(&cy.loop) != 0)
        die("uv_loop_init");
    struct tsb_client_opts o = {.unix_path = d->sock, .source = "crash-harness"};
    for (int i = 0; i < CONNS; i++) {
        if (tsb_client_connect(&cy.loop, &o, on_ready, &cy, &cy.c[i]) != 0)
            die("connect");
        cy.open_clients++;
    }
    uv_timer_init(&cy.loop, &cy.killer);
    cy.killer.data = &cy;
    uv_timer_start(&cy.killer, kill_now, 20000, 0); /* a backstop; the first ACK re-arms it */
    uv_run(&cy.loop, UV_RUN_DEFAULT);
    if (cy.open_clients != 0 || uv_loop_close(&cy.loop) != 0)
        die("the client loop did not close cleanly");
    printf("cycle %u: killed %d ms after the first ACK, %zu acked, %zu unanswered\n", k, kill_ms,
           cy.acks, cy.lost);
}

static void verify(const char *dir, const struct acked *a, size_t from)
{
    char *db = tsb_test_path(dir, "archive.db");
    struct tsb_store *s;
    if (tsb_store_open(db, NULL, &s) != 0) /* read-write: recovers the WAL like a restart */
        die(tsb_err_detail());
    for (size_t i = from; i < a->n; i++) {
        struct tsb_entry_rec e;
        if (tsb_store_entry_by_ref(s, a->v[i].ref, &e) != 0) {
            fprintf(stderr, "Ref %lld: %s\n", (long long)a->v[i].ref, tsb_err_detail());
            die("an acknowledged entry is missing after kill -9");
        }
        if (memcmp(e.digest, a->v[i].digest, TSB_SHA256_LEN) != 0 || e.content_len != a->v[i].len ||
            memcmp(e.content, a->v[i].content, e.content_len) != 0)
            die("an acknowledged entry is not intact after kill -9");
        tsb_entry_rec_cleanup(&e);
    }
    tsb_store_close(s);
    free(db);
}

static int cmp_ref(const void *x, const void *y)
{
    int64_t a = ((const struct rec *)x)->ref, b = ((const struct rec *)y)->ref;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
    unsigned cycles = argc > 1 ? (unsigned)atoi(argv[1]) : 20;
    const char *seed_env = getenv("TSB_CRASH_SEED");
    unsigned seed = seed_env ? (unsigned)atoi(seed_env) : (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    signal(SIGPIPE, SIG_IGN);
    printf("integration.crash: %u cycles, seed %u (TSB_CRASH_SEED to replay)\n", cycles, seed);

    char *dir = tsb_test_tmpdir();
    struct acked acked = {0};
    const char *ov[] = {"store.store_content=true", NULL, NULL};
    char delay[64];
    for (unsigned k = 0; k < cycles; k++) {
        struct tsbd d;
        /* vary the group commit shape too */
        snprintf(delay, sizeof(delay), "writer.batch_delay_ms=%d", rand() % 3);
        ov[1] = delay;
        tsbd_start(&d, dir, 0, ov);
        size_t before = acked.n;
        run_cycle(&d, k, &acked, rand() % 150);
        verify(dir, &acked, before);
        tsbd_cleanup(&d);
    }
    verify(dir, &acked, 0);
    qsort(acked.v, acked.n, sizeof(*acked.v), cmp_ref);
    for (size_t i = 1; i < acked.n; i++)
        if (acked.v[i].ref == acked.v[i - 1].ref)
            die("a Ref was acknowledged twice");
    if (acked.n == 0)
        die("no entry was acknowledged at all");
    printf(
        "integration.crash: %u kill -9 cycles, %zu acknowledged entries all present and intact\n",
        cycles, acked.n);
    for (size_t i = 0; i < acked.n; i++)
        free(acked.v[i].content);
    free(acked.v);
    tsb_test_rmtree(dir);
    free(dir);
    return 0;
}
