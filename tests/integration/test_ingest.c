/*
 * integration.ingest: a real tsbagd on a temporary folder, driven over its Unix socket and a TCP
 * port chosen by the kernel. Checks the protocol promises end to end: pipelined submits acked in
 * order with Refs and hashes that are in the archive; every bad input of docs/protocol.md gets its
 * NACK while other connections keep being served; TLS client certificates and the allow-list;
 * the TLS cipher policy (checked with `openssl s_client`); admission: a flood of unauthenticated
 * TCP connections locks out neither the Unix socket nor TLS clients, per-listener and per-source
 * budgets, the handshake deadline; graceful SIGTERM (SHUTTING_DOWN after the last reply); a failed
 * archive write stops acknowledgements and exits 3; `tsbag status` shows the daemon's settings;
 * `tsbag push` of 10 000 files; writer.queue_bytes pauses a client that outruns the archive
 * without refusing or losing anything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"
#include "daemon_util.h"
#include "err.h"
#include "frame.h"
#include "hash.h"
#include "load_util.h"
#include "store.h"
#include "testlib.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define S(str) ((struct tsb_slice){(const uint8_t *)(str), strlen(str)})

/* n distinct entries "<tag> <i> <pid>" with refs "ref-<i>". */
struct entries {
    size_t n;
    uint8_t **p;
    size_t *len;
    char **refs;
};

static void entries_make(struct entries *e, const char *tag, size_t n, size_t pad)
{
    e->n = n;
    e->p = calloc(n, sizeof(*e->p));
    e->len = calloc(n, sizeof(*e->len));
    e->refs = calloc(n, sizeof(*e->refs));
    for (size_t i = 0; i < n; i++) {
        char head[128];
        int h = snprintf(head, sizeof(head), "%s %zu %d|", tag, i, (int)getpid());
        e->len[i] = (size_t)h + pad;
        e->p[i] = malloc(e->len[i]);
        memcpy(e->p[i], head, (size_t)h);
        for (size_t k = 0; k < pad; k++)
            e->p[i][h + k] = (uint8_t)('a' + (i + k) % 26);
        e->refs[i] = malloc(32);
        snprintf(e->refs[i], 32, "ref-%zu", i);
    }
}

static void entries_free(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->p[i]);
        free(e->refs[i]);
    }
    free(e->p);
    free(e->len);
    free(e->refs);
}

static void hex_of_sha(const uint8_t *p, size_t n, char *out)
{
    uint8_t d[TSB_SHA256_LEN];
    tsb_sha256(p, n, d);
    tsb_hex_encode(d, TSB_SHA256_LEN, out);
}

/* Every entry got an ACK with its hash, in request order (Refs increase from after last); returns
 * the last Ref. */
static int64_t assert_all_acked(const struct entries *e, const struct load_result *res,
                                int64_t last)
{
    for (size_t i = 0; i < e->n; i++) {
        assert_int_equal(res[i].status, 0);
        assert_int_equal(res[i].type, TSB_FT_ACK);
        assert_true(res[i].ref > last);
        last = res[i].ref;
        char hex[TSB_HASH_HEX_LEN + 1];
        hex_of_sha(e->p[i], e->len[i], hex);
        assert_string_equal(res[i].hash, hex);
    }
    return last;
}

/* Every ACKed result must be in the archive with its digest, source and client ref. */
static size_t check_archive(const char *dir, const struct entries *e, const struct load_result *res,
                            const char *source, bool with_content)
{
    char *db = tsb_test_path(dir, "archive.db");
    struct tsb_store *s;
    struct tsb_store_open_opts o = {.readonly = true};
    assert_int_equal(tsb_store_open(db, &o, &s), 0);
    size_t acked = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (res[i].status != 0 || res[i].type != TSB_FT_ACK)
            continue;
        acked++;
        struct tsb_entry_rec rec;
        assert_int_equal(tsb_store_entry_by_ref(s, res[i].ref, &rec), 0);
        char hex[TSB_HASH_HEX_LEN + 1];
        tsb_hex_encode(rec.digest, TSB_SHA256_LEN, hex);
        assert_string_equal(hex, res[i].hash);
        assert_string_equal(rec.source, source);
        assert_string_equal(rec.client_ref, e->refs[i]);
        assert_true(rec.received_ms == res[i].received_ms);
        if (with_content) {
            assert_int_equal(rec.content_len, e->len[i]);
            assert_memory_equal(rec.content, e->p[i], e->len[i]);
        }
        tsb_entry_rec_cleanup(&rec);
    }
    tsb_store_close(s);
    free(db);
    return acked;
}

static struct load_spec spec_for(const struct entries *e, const char *sock, int port)
{
    struct load_spec sp = {
        .client = {.unix_path = sock, .host = "127.0.0.1", .port = port, .source = "pharmacy-1"},
        .entries = (const uint8_t *const *)e->p,
        .lens = e->len,
        .client_refs = (const char *const *)e->refs,
        .format = "test-1",
        .n = e->n,
        .depth = e->n,
    };
    if (port != 0)
        sp.client.unix_path = NULL;
    return sp;
}

static void test_pipelined_submits_acked_in_order(void **state)
{
    char *dir = tsb_test_tmpdir();
    struct tsbd d;
    const char *ov[] = {"ingest.tcp_listen=127.0.0.1:0", "ingest.tls=false",
                        "store.store_content=true", "writer.batch_delay_ms=1", NULL};
    tsbd_start(&d, dir, 0, ov);

    /* Unix socket: 2000 requests written at once, far beyond max_inflight (256) */
    struct entries e;
    entries_make(&e, "unix", 2000, 300);
    struct load_result *res = calloc(e.n, sizeof(*res));
    struct load_spec sp = spec_for(&e, d.sock, 0);
    assert_int_equal(load_run(&sp, res), 0);
    int64_t last = assert_all_acked(&e, res, 0);

    /* TCP (plain): SUBMIT_HASH pipelined */
    struct entries h;
    entries_make(&h, "tcp", 300, 0);
    uint8_t(*digests)[TSB_SHA256_LEN] = calloc(h.n, TSB_SHA256_LEN);
    for (size_t i = 0; i < h.n; i++)
        tsb_sha256(h.p[i], h.len[i], digests[i]);
    struct load_result *hres = calloc(h.n, sizeof(*hres));
    struct load_spec hs = spec_for(&h, NULL, d.tcp_port);
    hs.entries = NULL;
    hs.digests = (const uint8_t(*)[TSB_SHA256_LEN])digests;
    hs.depth = 64;
    assert_int_equal(load_run(&hs, hres), 0);
    for (size_t i = 0; i < h.n; i++) {
        assert_int_equal(hres[i].type, TSB_FT_ACK);
        assert_true(hres[i].ref > last);
        last = hres[i].ref;
    }

    /* STATUS sees both, in order after them */
    int fd = raw_connect_unix(d.sock);
    assert_true(fd >= 0);
    raw_hello(fd, "status-check");
    struct tsb_buf b;
    tsb_buf_init(&b, 1 << 20);
    assert_int_equal(tsb_frame_put_simple(&b, TSB_FT_STATUS, S("")), 0);
    raw_send(fd, b.p, b.len);
    uint8_t type;
    struct tsb_slice body;
    assert_int_equal(raw_read_frame(fd, &b, &type, &body), 1);
    assert_int_equal(type, TSB_FT_STATUS_OK);
    struct tsb_status st;
    assert_int_equal(tsb_frame_parse_status(body, &st), 0);
    assert_int_equal(st.staged, 2300);
    assert_int_equal(st.entries, 2300);
    assert_true(st.last_ref == last);
    assert_int_equal(st.last_seq, 0);
    /* no sealer runs in this daemon: no next seal, and the settings it decides with */
    assert_int_equal(st.flags & TSB_STATUS_SEALER_RUNNING, 0);
    assert_int_equal(st.next_seal_ms, 0);
    assert_true(st.has_ext);
    assert_int_equal(st.seal_interval_ms, 0);
    assert_int_equal(st.alarm_ms, 900000);
    assert_true(st.now_ms > 0);
    assert_int_equal(st.connections, 1);
    close(fd);

    /* SEAL and RETRY are refused over TCP (the connection stays usable) */
    fd = raw_connect_tcp(d.tcp_port);
    assert_true(fd >= 0);
    raw_hello(fd, "tcp-client");
    tsb_buf_reset(&b);
    assert_int_equal(tsb_frame_put_simple(&b, TSB_FT_SEAL, S("")), 0);
    assert_int_equal(tsb_frame_put_retry(&b, TSB_FT_RETRY, 1), 0);
    assert_int_equal(tsb_frame_put_simple(&b, TSB_FT_PING, S("p")), 0);
    raw_send(fd, b.p, b.len);
    struct tsb_nack_reply n;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(raw_read_frame(fd, &b, &type, &body), 1);
        assert_int_equal(type, TSB_FT_NACK);
        assert_int_equal(tsb_frame_parse_nack(body, &n), 0);
        assert_int_equal(n.code, TSB_NACK_FORBIDDEN);
        assert_false(n.closing);
    }
    assert_int_equal(raw_read_frame(fd, &b, &type, &body), 1);
    assert_int_equal(type, TSB_FT_PONG);
    close(fd);
    tsb_buf_cleanup(&b);

    assert_int_equal(tsbd_stop(&d), 0);
    assert_int_equal(check_archive(dir, &e, res, "pharmacy-1", true), e.n);
    /* SUBMIT_HASH entries carry no content */
    assert_int_equal(check_archive(dir, &h, hres, "pharmacy-1", false), h.n);
    free(digests);
    free(res);
    free(hres);
    entries_free(&e);
    entries_free(&h);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

/* ---- bad inputs ------------------------------------------------------------------------------ */

enum { PRE_NONE, PRE_HELLO };

struct bad_case {
    const char *name;
    int pre;
    const char *hex; /* raw bytes to send after the optional HELLO */
    bool half_close; /* shutdown(SHUT_WR) after sending */
    unsigned code;   /* expected NACK */
    bool closing;
};

static void hex_bytes(const char *hex, struct tsb_buf *out)
{
    char clean[4096];
    size_t k = 0;
    for (const char *c = hex; *c && k + 1 < sizeof(clean); c++)
        if (*c != ' ')
            clean[k++] = *c;
    uint8_t tmp[2048];
    assert_int_equal(tsb_hex_decode(clean, k, tmp, k / 2), 0);
    assert_int_equal(tsb_buf_append(out, tmp, k / 2), 0);
}

static void test_bad_inputs_get_documented_errors(void **state)
{
    static const struct bad_case cases[] = {
        {"oversized frame", PRE_HELLO, "00001389 02 0000 00 41414141", false, TSB_NACK_TOO_LARGE,
         true},
        {"zero-length frame", PRE_HELLO, "00000000", false, TSB_NACK_EMPTY_FRAME, true},
        {"truncated header", PRE_HELLO, "0000", true, TSB_NACK_TRUNCATED, true},
        {"truncated body", PRE_HELLO, "00000064 02 00 0000 6162", true, TSB_NACK_TRUNCATED, true},
        {"garbage (HTTP)", PRE_NONE, "474554202f20485454502f312e310d0a0d0a", false,
         TSB_NACK_TOO_LARGE, true},
        {"garbage (small)", PRE_NONE, "00000003 fe ffff", false, TSB_NACK_HELLO_REQUIRED, true},
        {"wrong version", PRE_NONE, "0000000a 01 54534247 0002 02 6162", false, TSB_NACK_VERSION,
         true},
        {"wrong magic", PRE_NONE, "0000000a 01 58585858 0001 02 6162", false, TSB_NACK_VERSION,
         true},
        {"submit before hello", PRE_NONE, "00000006 02 00 0000 6162", false,
         TSB_NACK_HELLO_REQUIRED, true},
        {"hello without source", PRE_NONE, "00000008 01 54534247 0001 00", false,
         TSB_NACK_FIELD_INVALID, true},
        {"second hello", PRE_HELLO, "0000000a 01 54534247 0001 02 6162", false,
         TSB_NACK_HELLO_REQUIRED, true},
        {"malformed submit", PRE_HELLO, "00000004 02 09 6162", false, TSB_NACK_MALFORMED, true},
        /* no room for the format and reference lengths: the layout itself is broken */
        {"submit with an empty body", PRE_HELLO, "00000001 02", false, TSB_NACK_MALFORMED, true},
        {"digest of 5 bytes", PRE_HELLO, "00000009 03 00 0000 0102030405", false,
         TSB_NACK_MALFORMED, true},
        {"empty entry", PRE_HELLO, "00000004 02 00 0000", false, TSB_NACK_EMPTY_ENTRY, false},
        {"control char in client ref", PRE_HELLO, "00000007 02 00 0002 0a0b 41", false,
         TSB_NACK_FIELD_INVALID, false},
        {"unknown request type", PRE_HELLO, "00000001 42", false, TSB_NACK_UNKNOWN_TYPE, false},
        {"seal without a sealer", PRE_HELLO, "00000001 06", false, TSB_NACK_SEALER_DOWN, false},
    };
    char *dir = tsb_test_tmpdir();
    struct tsbd d;
    const char *ov[] = {"ingest.max_frame=4096", NULL};
    tsbd_start(&d, dir, 0, ov);

    /* a well-behaved client stays connected through all of it */
    int good = raw_connect_unix(d.sock);
    assert_true(good >= 0);
    raw_hello(good, "good-client");

    struct tsb_buf b, rx;
    tsb_buf_init(&b, 1 << 20);
    tsb_buf_init(&rx, 1 << 20);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];
        int fd = raw_connect_unix(d.sock);
        assert_true(fd >= 0);
        if (c->pre == PRE_HELLO)
            raw_hello(fd, "bad-client");
        tsb_buf_reset(&b);
        hex_bytes(c->hex, &b);
        if (c->closing && !c->half_close)
            hex_bytes("00000001 04", &b); /* a PING pipelined behind: never answered */
        raw_send(fd, b.p, b.len);
        if (c->half_close)
            shutdown(fd, SHUT_WR);
        uint8_t type = 0;
        struct tsb_slice body = {0};
        if (raw_read_frame(fd, &rx, &type, &body) != 1 || type != TSB_FT_NACK)
            fail_msg("%s: no NACK (type 0x%02x)", c->name, type);
        struct tsb_nack_reply n;
        assert_int_equal(tsb_frame_parse_nack(body, &n), 0);
        if (n.code != c->code || n.closing != c->closing)
            fail_msg("%s: got NACK %u %s closing=%d (%.*s), expected %s closing=%d", c->name,
                     n.code, tsb_nack_name(n.code), n.closing, (int)n.reason.len, n.reason.p,
                     tsb_nack_name(c->code), c->closing);
        assert_true(n.reason.len > 0);
        if (c->closing) {
            if (raw_read_frame(fd, &rx, &type, &body) == 1)
                fail_msg("%s: a reply (type 0x%02x) after the closing NACK", c->name, type);
            if (!raw_wait_closed(fd, 10000))
                fail_msg("%s: connection not closed after a closing NACK", c->name);
        } else {
            /* the connection is still usable */
            tsb_buf_reset(&b);
            assert_int_equal(tsb_frame_put_simple(&b, TSB_FT_PING, S("still-there")), 0);
            raw_send(fd, b.p, b.len);
            assert_int_equal(raw_read_frame(fd, &rx, &type, &body), 1);
            assert_int_equal(type, TSB_FT_PONG);
            assert_memory_equal(body.p, "still-there", 11);
        }
        close(fd);

        /* and the good client is still served */
        tsb_buf_reset(&b);
        char entry[64];
        snprintf(entry, sizeof(entry), "good entry %zu", i);
        assert_int_equal(tsb_frame_put_submit(&b, S(""), S(""), S(entry)), 0);
        raw_send(good, b.p, b.len);
        assert_int_equal(raw_read_frame(good, &rx, &type, &body), 1);
        assert_int_equal(type, TSB_FT_ACK);
    }
    close(good);
    tsb_buf_cleanup(&b);
    tsb_buf_cleanup(&rx);
    assert_int_equal(tsbd_stop(&d), 0);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

/* Stops d (SIGTERM, exit 0 required) and removes its folder. */
static void stop_and_remove(struct tsbd *d, char *dir)
{
    assert_int_equal(tsbd_stop(d), 0);
    tsbd_cleanup(d);
    tsb_test_rmtree(dir);
    free(dir);
}

static void expect_nack(int fd, struct tsb_buf *rx, unsigned code, const char *in_reason)
{
    uint8_t type = 0;
    struct tsb_slice body;
    struct tsb_nack_reply n;
    assert_int_equal(raw_read_frame(fd, rx, &type, &body), 1);
    assert_int_equal(type, TSB_FT_NACK);
    assert_int_equal(tsb_frame_parse_nack(body, &n), 0);
    if (n.code != code || !n.closing)
        fail_msg("got NACK %s closing=%d (%.*s), expected %s", tsb_nack_name(n.code), n.closing,
                 (int)n.reason.len, n.reason.p, tsb_nack_name(code));
    if (in_reason != NULL && memmem(n.reason.p, n.reason.len, in_reason, strlen(in_reason)) == NULL)
        fail_msg("reason '%.*s' does not name %s", (int)n.reason.len, n.reason.p, in_reason);
    assert_true(raw_wait_closed(fd, 10000));
}

/* ingest.max_connections counts connections past HELLO, per listener: a full Unix socket leaves
 * TCP alone, and the refusal answers HELLO. */
static void test_idle_timeout_and_connection_limit(void **state)
{
    char *dir = tsb_test_tmpdir();
    struct tsbd d;
    const char *ov[] = {"ingest.max_connections=2", "ingest.tcp_listen=127.0.0.1:0",
                        "ingest.tls=false", NULL};
    tsbd_start(&d, dir, 0, ov);
    struct tsb_buf rx;
    tsb_buf_init(&rx, 1 << 20);

    int a = raw_connect_unix(d.sock);
    raw_hello(a, "a");
    int b = raw_connect_unix(d.sock);
    raw_hello(b, "b");
    int c = raw_connect_unix(d.sock);
    assert_true(c >= 0);
    bool closing = false;
    assert_int_equal(raw_try_hello(c, "c", &closing), TSB_NACK_TOO_MANY_CONNS);
    assert_true(closing);
    assert_true(raw_wait_closed(c, 10000));
    close(c);
    /* the TCP listener has its own budget */
    int t = raw_connect_tcp(d.tcp_port);
    assert_true(t >= 0);
    assert_int_equal(raw_try_hello(t, "t", NULL), 0);
    close(a);
    close(b);
    close(t);
    assert_int_equal(tsbd_stop(&d), 0);
    tsbd_cleanup(&d);

    /* past HELLO, nobody sends anything: the idle connections are told and closed (a daemon of
     * its own, so that the limit checks above never race the short timeout) */
    const char *idle_ov[] = {"ingest.idle_timeout_ms=300", NULL};
    tsbd_start(&d, dir, 0, idle_ov);
    a = raw_connect_unix(d.sock);
    raw_hello(a, "a");
    expect_nack(a, &rx, TSB_NACK_IDLE_TIMEOUT, "idle_timeout_ms");
    close(a);
    tsb_buf_cleanup(&rx);
    stop_and_remove(&d, dir);
}

/* STATUS's count of open connections as seen by fd (past HELLO). */
static uint32_t status_connections(int fd, struct tsb_buf *rx)
{
    uint8_t type = 0;
    struct tsb_slice body;
    struct tsb_status st;
    tsb_buf_reset(rx);
    assert_int_equal(tsb_frame_put_simple(rx, TSB_FT_STATUS, S("")), 0);
    raw_send(fd, rx->p, rx->len);
    assert_int_equal(raw_read_frame(fd, rx, &type, &body), 1);
    assert_int_equal(type, TSB_FT_STATUS_OK);
    assert_int_equal(tsb_frame_parse_status(body, &st), 0);
    return st.connections;
}

/* ingest.max_pending: connections before HELLO have a budget of their own per listener; on a
 * plaintext listener the refusal is a NACK at once. Serving connections and the other listener
 * are untouched. */
static void test_pending_budget_per_listener(void **state)
{
    char *dir = tsb_test_tmpdir();
    struct tsbd d;
    const char *ov[] = {"ingest.max_pending=2", "ingest.tcp_listen=127.0.0.1:0", "ingest.tls=false",
                        "ingest.handshake_timeout_ms=600000", NULL};
    tsbd_start(&d, dir, 0, ov);
    struct tsb_buf rx;
    tsb_buf_init(&rx, 1 << 20);
    int served = raw_connect_unix(d.sock);
    assert_true(served >= 0);
    raw_hello(served, "served");
    /* the start-up probe's close is seen asynchronously: wait until only this one is open */
    uint32_t open = 0;
    for (int tries = 0; tries < 500 && (open = status_connections(served, &rx)) != 1; tries++)
        usleep(10000);
    assert_int_equal(open, 1);

    int silent[2];
    for (int i = 0; i < 2; i++) {
        silent[i] = raw_connect_unix(d.sock);
        assert_true(silent[i] >= 0);
    }
    int third = raw_connect_unix(d.sock);
    assert_true(third >= 0);
    expect_nack(third, &rx, TSB_NACK_TOO_MANY_CONNS, "ingest.max_pending");
    close(third);
    /* the serving client and the TCP listener do not notice */
    assert_true(status_connections(served, &rx) >= 3);
    int t = raw_connect_tcp(d.tcp_port);
    assert_true(t >= 0);
    assert_int_equal(raw_try_hello(t, "tcp", NULL), 0);
    close(t);
    for (int i = 0; i < 2; i++)
        close(silent[i]);
    close(served);
    tsb_buf_cleanup(&rx);
    stop_and_remove(&d, dir);
}

/* ingest.max_connections_per_source: one peer address cannot take every slot, before or after
 * HELLO; other addresses are still served, and a freed slot is reused. */
static void test_per_source_limit(void **state)
{
    char *dir = tsb_test_tmpdir();
    struct tsbd d;
    /* no handshake deadline within the test: the silent connections below stay pending */
    const char *ov[] = {"ingest.tcp_listen=127.0.0.1:0", "ingest.tls=false",
                        "ingest.max_connections_per_source=3", "ingest.handshake_timeout_ms=600000",
                        NULL};
    tsbd_start(&d, dir, 0, ov);
    struct tsb_buf rx;
    tsb_buf_init(&rx, 1 << 20);
    bool closing = false;

    int serving[3];
    for (int i = 0; i < 3; i++) {
        serving[i] = raw_connect_tcp_from(d.tcp_port, "127.0.0.2");
        assert_true(serving[i] >= 0);
        assert_int_equal(raw_try_hello(serving[i], "lab-2", NULL), 0);
    }
    int extra = raw_connect_tcp_from(d.tcp_port, "127.0.0.2");
    assert_true(extra >= 0);
    assert_int_equal(raw_try_hello(extra, "lab-2", &closing), TSB_NACK_TOO_MANY_CONNS);
    assert_true(closing);
    close(extra);
    int other = raw_connect_tcp_from(d.tcp_port, "127.0.0.3");
    assert_true(other >= 0);
    assert_int_equal(raw_try_hello(other, "lab-3", NULL), 0);

    /* unauthenticated connections from one address: refused at accept beyond the limit, with a
     * NACK since this listener speaks plaintext */
    int silent[3];
    for (int i = 0; i < 3; i++) {
        silent[i] = raw_connect_tcp_from(d.tcp_port, "127.0.0.4");
        assert_true(silent[i] >= 0);
    }
    int fourth = raw_connect_tcp_from(d.tcp_port, "127.0.0.4");
    assert_true(fourth >= 0);
    expect_nack(fourth, &rx, TSB_NACK_TOO_MANY_CONNS, "ingest.max_connections_per_source");
    close(fourth);
    for (int i = 0; i < 3; i++)
        close(silent[i]);

    /* a slot freed by a client that leaves is taken by the next one (its close is seen
     * asynchronously: retry until it is) */
    close(serving[0]);
    unsigned got = RAW_NO_REPLY;
    for (int tries = 0; tries < 500 && got != 0; tries++) {
        serving[0] = raw_connect_tcp_from(d.tcp_port, "127.0.0.2");
        assert_true(serving[0] >= 0);
        got = raw_try_hello(serving[0], "lab-2", NULL);
        if (got != 0) {
            assert_int_equal(got, TSB_NACK_TOO_MANY_CONNS);
            close(serving[0]);
            usleep(20000);
        }
    }
    assert_int_equal(got, 0);
    for (int i = 0; i < 3; i++)
        close(serving[i]);
    close(other);
    tsb_buf_cleanup(&rx);
    stop_and_remove(&d, dir);
}

static size_t archive_count(const char *dir);

/* ---- TLS --------------------------------------------------------------------------------- */

static void make_pki(const char *dir)
{
    int rc = tsb_test_sh(
        "set -e; cd '%s'; exec >pki.log 2>&1\n"
        "mk_ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "  -keyout $1.key -out $1.pem -days 2 -subj \"/CN=$1\"; }\n"
        "mk_leaf() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "  -keyout $1.key -out $1.csr -subj \"$2\";\n"
        "  printf '%%s\\n' \"$3\" > $1.ext;\n"
        "  openssl x509 -req -in $1.csr -CA $4.pem -CAkey $4.key -CAcreateserial -days 2 "
        "  -extfile $1.ext -out $1.pem; }\n"
        "mk_ca ca; mk_ca rogue-ca\n"
        "mk_leaf server '/CN=tsbagd.test' 'subjectAltName=IP:127.0.0.1' ca\n"
        "openssl req -newkey rsa:2048 -nodes -keyout server-rsa.key -out server-rsa.csr "
        "  -subj /CN=tsbagd.test\n"
        "printf 'subjectAltName=IP:127.0.0.1\\n' > server-rsa.ext\n"
        "openssl x509 -req -in server-rsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "  -extfile server-rsa.ext -out server-rsa.pem\n"
        "mk_leaf pharmacy '/C=BE/O=Test Hospital/CN=pharmacy-1' "
        "  'extendedKeyUsage=clientAuth' ca\n"
        "mk_leaf intruder '/C=BE/O=Test Hospital/CN=intruder' 'extendedKeyUsage=clientAuth' ca\n"
        "mk_leaf rogue '/C=BE/O=Test Hospital/CN=pharmacy-1' 'extendedKeyUsage=clientAuth' "
        "  rogue-ca\n"
        "subj=$(openssl x509 -noout -subject -nameopt RFC2253 -in pharmacy.pem | sed "
        "'s/^subject=//')\n"
        "printf '# test allow-list\\n%%s = pharmacy-1\\n' \"$subj\" > allow.txt\n",
        dir);
    if (rc != 0) {
        tsb_test_sh("cat '%s/pki.log' >&2", dir);
        fail_msg("openssl could not make the test PKI");
    }
}

/* The daemon's TLS overrides for dir's PKI (server certificate basename given). */
struct tls_overrides {
    char cert[4200], key[4200], ca[4200], allow[4200];
};

static void tls_overrides(struct tls_overrides *o, const char *dir, const char *server)
{
    snprintf(o->cert, sizeof(o->cert), "ingest.tls_cert=%s/%s.pem", dir, server);
    snprintf(o->key, sizeof(o->key), "ingest.tls_key=%s/%s.key", dir, server);
    snprintf(o->ca, sizeof(o->ca), "ingest.tls_client_ca=%s/ca.pem", dir);
    snprintf(o->allow, sizeof(o->allow), "ingest.tls_allowlist=%s/allow.txt", dir);
}

/* Starts d on dir with TCP on a kernel-chosen port, TLS with dir's PKI (server certificate
 * basename server), the allow-list, and the NULL-terminated extra overrides. */
static void tls_daemon_start(struct tsbd *d, const char *dir, const char *server,
                             const char *const *extra)
{
    struct tls_overrides t;
    tls_overrides(&t, dir, server);
    const char *ov[16] = {"ingest.tcp_listen=127.0.0.1:0", t.cert, t.key, t.ca, t.allow};
    size_t n = 5;
    for (; extra != NULL && *extra != NULL && n + 1 < sizeof(ov) / sizeof(ov[0]); extra++)
        ov[n++] = *extra;
    ov[n] = NULL;
    tsbd_start(d, dir, 0, ov);
}

struct tls_try {
    const char *cert; /* basename in dir, NULL for no client certificate */
    const char *source;
    int want;      /* 0: HELLO_OK; otherwise the connect must fail */
    unsigned nack; /* when the failure is a NACK to HELLO */
};

/* Paths a TLS load spec points into: must outlive the spec. */
struct tls_paths {
    char ca[4200], cert[4200], key[4200];
};

/* A TLS load spec for dir's PKI: client certificate basename cert (NULL for none), source. */
static struct load_spec tls_spec(const struct entries *e, const char *dir, int port,
                                 const char *cert, const char *source, struct tls_paths *p)
{
    snprintf(p->ca, sizeof(p->ca), "%s/ca.pem", dir);
    snprintf(p->cert, sizeof(p->cert), "%s/%s.pem", dir, cert ? cert : "");
    snprintf(p->key, sizeof(p->key), "%s/%s.key", dir, cert ? cert : "");
    struct load_spec sp = spec_for(e, NULL, port);
    sp.client.tls_ca = p->ca;
    sp.client.tls_cert = cert ? p->cert : NULL;
    sp.client.tls_key = cert ? p->key : NULL;
    sp.client.source = source;
    return sp;
}

static int try_tls(const char *dir, int port, const struct tls_try *t, struct load_result *res,
                   struct entries *e)
{
    struct tls_paths p;
    struct load_spec sp = tls_spec(e, dir, port, t->cert, t->source, &p);
    return load_run(&sp, res);
}

static void test_tls_client_certificates_and_allowlist(void **state)
{
    char *dir = tsb_test_tmpdir();
    make_pki(dir);
    struct tsbd d;
    static const char *const metrics[] = {"metrics.listen=127.0.0.1:0", NULL};
    tls_daemon_start(&d, dir, "server", metrics);

    struct entries e;
    entries_make(&e, "tls", 50, 100);
    struct load_result *res = calloc(e.n, sizeof(*res));

    /* allowed certificate, source taken from the allow-list */
    struct tls_try ok = {"pharmacy", "", 0, 0};
    assert_int_equal(try_tls(dir, d.tcp_port, &ok, res, &e), 0);
    for (size_t i = 0; i < e.n; i++)
        assert_int_equal(res[i].type, TSB_FT_ACK);
    size_t acked = 50;

    /* allowed certificate naming its own source explicitly */
    struct tls_try same = {"pharmacy", "pharmacy-1", 0, 0};
    struct load_result *res2 = calloc(e.n, sizeof(*res2));
    assert_int_equal(try_tls(dir, d.tcp_port, &same, res2, &e), 0);
    for (size_t i = 0; i < e.n; i++)
        assert_int_equal(res2[i].type, TSB_FT_ACK);

    static const struct tls_try refused[] = {
        {"pharmacy", "someone-else", TSB_EPROTO, TSB_NACK_SOURCE_REFUSED},
        {"intruder", "", TSB_EPROTO, TSB_NACK_SOURCE_REFUSED},
        {"intruder", "pharmacy-1", TSB_EPROTO, TSB_NACK_SOURCE_REFUSED},
        {"rogue", "pharmacy-1", -1, 0}, /* right subject, wrong CA: handshake fails */
        {NULL, "pharmacy-1", -1, 0},    /* no client certificate: handshake fails */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct load_result *r3 = calloc(e.n, sizeof(*r3));
        int rc = try_tls(dir, d.tcp_port, &refused[i], r3, &e);
        if (rc == 0)
            fail_msg("TLS case %zu (%s/%s) was accepted", i,
                     refused[i].cert ? refused[i].cert : "none", refused[i].source);
        if (refused[i].want == TSB_EPROTO) {
            assert_int_equal(rc, TSB_EPROTO);
            assert_non_null(strstr(tsb_err_detail(), tsb_nack_name(refused[i].nack)));
        }
        for (size_t k = 0; k < e.n; k++)
            assert_int_not_equal(r3[k].type, TSB_FT_ACK);
        free(r3);
    }
    /* /metrics labels the TLS entries with the allow-list's source; the refusals by code */
    assert_int_equal(
        tsb_test_sh(
            "cd '%s' && curl -sS -f \"http://127.0.0.1:$(cat tsbagd.metrics.port)/metrics\" "
            ">metrics.txt && grep -qxF 'tsbag_entries_acknowledged_total{listener=\"tls\","
            "source=\"pharmacy-1\"} 100' metrics.txt && grep -qxF "
            "'tsbag_nacks_total{code=\"SOURCE_REFUSED\"} 3' metrics.txt",
            dir),
        0);

    assert_int_equal(tsbd_stop(&d), 0);
    assert_int_equal(check_archive(dir, &e, res, "pharmacy-1", false), acked);
    assert_int_equal(check_archive(dir, &e, res2, "pharmacy-1", false), acked);
    free(res);
    free(res2);
    entries_free(&e);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

/* Whether one TLS connection with client certificate cert (source from the allow-list) gets its
 * entry acknowledged. */
static bool tls_accepted(const char *dir, int port, const char *cert)
{
    struct entries e;
    entries_make(&e, cert, 1, 10);
    struct load_result res = {0};
    struct tls_try t = {cert, "", 0, 0};
    bool ok = try_tls(dir, port, &t, &res, &e) == 0 && res.type == TSB_FT_ACK;
    entries_free(&e);
    return ok;
}

/* Polls (up to 20 s) until tls_accepted(cert) is want: a SIGHUP is handled asynchronously. */
static void wait_tls_accepted(const char *dir, int port, const char *cert, bool want)
{
    for (int i = 0; i < 200; i++) {
        if (tls_accepted(dir, port, cert) == want)
            return;
        usleep(100000);
    }
    fail_msg("%s is still %s after the reload", cert, want ? "refused" : "accepted");
}

/* SIGHUP reads ingest.tls_allowlist again: a subject added is accepted, a subject removed is
 * refused, from the next HELLO on, without a restart; a broken file keeps the running list and
 * its error names file:line. */
static void test_tls_allowlist_reload(void **state)
{
    char *dir = tsb_test_tmpdir();
    make_pki(dir);
    struct tsbd d;
    tls_daemon_start(&d, dir, "server", NULL);
    assert_true(tls_accepted(dir, d.tcp_port, "pharmacy"));
    assert_false(tls_accepted(dir, d.tcp_port, "intruder"));

    /* intruder added */
    assert_int_equal(tsb_test_sh("cd '%s' && s=$(openssl x509 -noout -subject -nameopt RFC2253 "
                                 "-in intruder.pem | sed 's/^subject=//') && "
                                 "printf '%%s = intruder-1\\n' \"$s\" >> allow.txt",
                                 dir),
                     0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    wait_tls_accepted(dir, d.tcp_port, "intruder", true);
    assert_true(tls_accepted(dir, d.tcp_port, "pharmacy"));

    /* a broken list changes nothing */
    assert_int_equal(tsb_test_sh("cd '%s' && cp allow.txt allow.good && "
                                 "printf 'no equals sign here\\n' >> allow.txt",
                                 dir),
                     0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    int found = 1;
    for (int i = 0; i < 200 && found != 0; i++) {
        found = tsb_test_sh("grep -q 'reload: %s/allow.txt:4: expected .subject = source.; "
                            "keeping the running allow-list' '%s'",
                            dir, d.log);
        if (found != 0)
            usleep(100000);
    }
    assert_int_equal(found, 0);
    assert_true(tls_accepted(dir, d.tcp_port, "intruder"));

    /* pharmacy removed */
    assert_int_equal(tsb_test_sh("cd '%s' && grep -v pharmacy-1 allow.good > allow.txt", dir), 0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    wait_tls_accepted(dir, d.tcp_port, "pharmacy", false);
    assert_true(tls_accepted(dir, d.tcp_port, "intruder"));

    assert_int_equal(tsbd_stop(&d), 0);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

/* openssl s_client with the pharmacy certificate and extra options: its exit status. */
static int s_client(const char *dir, int port, const char *opts, const char *out)
{
    return tsb_test_sh(
        "cd '%s' && timeout 30 openssl s_client -connect 127.0.0.1:%d -CAfile ca.pem "
        "-cert pharmacy.pem -key pharmacy.key %s </dev/null >'%s' 2>&1",
        dir, port, opts, out);
}

struct nested_tls {
    const char *dir;
    int port;
    int rc;
    char detail[512];
};

/* Runs while the outer TLS client of the test holds its connection past HELLO. */
static void second_tls_client(void *arg)
{
    struct nested_tls *n = arg;
    struct entries e;
    entries_make(&e, "second", 1, 10);
    struct load_result res[1];
    memset(res, 0, sizeof(res));
    struct tls_try t = {"pharmacy", "", 0, 0};
    n->rc = try_tls(n->dir, n->port, &t, res, &e);
    snprintf(n->detail, sizeof(n->detail), "%s", tsb_err_detail());
    entries_free(&e);
}

/* ECDHE/DHE AEAD suites only under TLS 1.2, TLS 1.3 as OpenSSL ships it; a policy OpenSSL cannot
 * use stops tsbagd at start. */
static void test_tls_cipher_policy(void **state)
{
    char *dir = tsb_test_tmpdir();
    make_pki(dir);
    struct tls_overrides t;
    tls_overrides(&t, dir, "server-rsa"); /* static-RSA suites need an RSA certificate */
    struct tsbd d;
    tls_daemon_start(&d, dir, "server-rsa", NULL);
    char *out = tsb_test_path(dir, "s_client.out");

    static const struct {
        const char *opts;
        bool accepted;
        const char *shows;
    } suites[] = {
        {"-tls1_2 -cipher AES128-SHA", false, NULL},           /* static RSA: no forward secrecy */
        {"-tls1_2 -cipher AES256-GCM-SHA384", false, NULL},    /* AEAD but static RSA */
        {"-tls1_2 -cipher ECDHE-RSA-AES128-SHA", false, NULL}, /* forward secret but CBC */
        {"-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256", true, "ECDHE-RSA-AES128-GCM-SHA256"},
        {"-tls1_2 -cipher DHE-RSA-AES256-GCM-SHA384", true, "DHE-RSA-AES256-GCM-SHA384"},
        {"-tls1_3", true, "TLSv1.3"},
    };
    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        int rc = s_client(dir, d.tcp_port, suites[i].opts, out);
        bool shown = suites[i].shows == NULL ||
                     tsb_test_sh("grep -q -- '%s' '%s'", suites[i].shows, out) == 0;
        if ((rc == 0) != suites[i].accepted || (suites[i].accepted && !shown)) {
            tsb_test_sh("cat '%s' >&2", out);
            fail_msg("s_client %s: exit %d, expected %s", suites[i].opts, rc,
                     suites[i].accepted ? "accepted" : "refused");
        }
    }
    assert_int_equal(tsbd_stop(&d), 0);

    /* a policy OpenSSL cannot use stops the daemon at start, naming the option */
    char *log = tsb_test_path(dir, "bad-ciphers.log");
    int rc =
        tsb_test_sh("timeout 20 '%s' -s general.state_dir='%s' -s sealer.enabled=false "
                    "-s ingest.tcp_listen=127.0.0.1:0 -s metrics.listen= -s '%s' -s '%s' -s '%s' "
                    "-s ingest.tls_ciphers=NO-SUCH-CIPHER 2>'%s'",
                    tsbd_program("TSBAGD", "src/daemon/tsbagd"), dir, t.cert, t.key, t.ca, log);
    assert_int_equal(rc, 1);
    assert_int_equal(tsb_test_sh("grep -q 'ingest.tls_ciphers' '%s'", log), 0);
    free(log);
    free(out);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

/* Past the TLS handshake a refusal is a NACK over TLS: a TLS client over ingest.max_connections
 * gets TOO_MANY_CONNS instead of HELLO_OK. Before it nothing can be said: a peer that never
 * completes the handshake is closed after ingest.handshake_timeout_ms. */
static void test_tls_refusals(void **state)
{
    char *dir = tsb_test_tmpdir();
    make_pki(dir);
    const char *ov[] = {"ingest.max_connections=1", NULL};
    struct tsbd d;
    tls_daemon_start(&d, dir, "server", ov);

    /* the only serving slot is held by the outer client: the second one is told so over TLS */
    struct entries e;
    entries_make(&e, "holder", 5, 10);
    struct load_result res[5];
    memset(res, 0, sizeof(res));
    struct nested_tls n = {.dir = dir, .port = d.tcp_port};
    struct tls_paths paths;
    struct load_spec sp = tls_spec(&e, dir, d.tcp_port, "pharmacy", "", &paths);
    sp.depth = 1;
    sp.hook_after_acks = 1;
    sp.hook = second_tls_client;
    sp.hook_arg = &n;
    assert_int_equal(load_run(&sp, res), 0);
    for (size_t i = 0; i < e.n; i++)
        assert_int_equal(res[i].type, TSB_FT_ACK);
    assert_int_equal(n.rc, TSB_EPROTO);
    if (strstr(n.detail, "TOO_MANY_CONNS") == NULL)
        fail_msg("second TLS client: %s", n.detail);

    entries_free(&e);
    stop_and_remove(&d, dir);
}

/* Before HELLO, ingest.handshake_timeout_ms applies instead of the idle timeout: a silent Unix
 * client is told (NACK IDLE_TIMEOUT), a TCP peer that never starts TLS is closed without a byte. */
static void test_handshake_deadline(void **state)
{
    char *dir = tsb_test_tmpdir();
    make_pki(dir);
    const char *ov[] = {"ingest.handshake_timeout_ms=300", NULL};
    struct tsbd d;
    tls_daemon_start(&d, dir, "server", ov);
    struct tsb_buf rx;
    tsb_buf_init(&rx, 1 << 20);
    int fd = raw_connect_unix(d.sock);
    assert_true(fd >= 0);
    expect_nack(fd, &rx, TSB_NACK_IDLE_TIMEOUT, "handshake_timeout_ms");
    close(fd);

    fd = raw_connect_tcp(d.tcp_port);
    assert_true(fd >= 0);
    uint8_t type = 0;
    struct tsb_slice body;
    assert_int_not_equal(raw_read_frame(fd, &rx, &type, &body), 1); /* EOF or reset, no data */
    assert_true(raw_wait_closed(fd, 20000));
    close(fd);
    tsb_buf_cleanup(&rx);
    stop_and_remove(&d, dir);
}

/* ---- admission under a flood ------------------------------------------------------------------
 */

#define FLOOD_CONNS 1100

struct flood {
    const char *dir;
    const char *sock;
    int port;
    int unix_fd; /* a Unix client connected before the flood */
    int fds[FLOOD_CONNS];
    size_t opened;
    int unix_rc, tls_rc;
    struct load_result unix_res[20], tls_res[20];
    unsigned held_reply; /* the pre-flood Unix client's reply type to a SUBMIT */
};

/* Opens FLOOD_CONNS raw TCP connections from 127.0.0.2 that never start TLS, then serves a new
 * Unix client, a new TLS client and the pre-flood Unix client while they are all open. */
static void flood_and_serve(void *arg)
{
    struct flood *f = arg;
    for (size_t i = 0; i < FLOOD_CONNS; i++) {
        f->fds[i] = raw_connect_tcp_from(f->port, "127.0.0.2");
        if (f->fds[i] >= 0)
            f->opened++;
    }
    struct entries e;
    entries_make(&e, "during-flood", 20, 50);
    struct load_spec sp = spec_for(&e, f->sock, 0);
    f->unix_rc = load_run(&sp, f->unix_res);
    struct tls_try t = {"pharmacy", "", 0, 0};
    f->tls_rc = try_tls(f->dir, f->port, &t, f->tls_res, &e);
    entries_free(&e);

    struct tsb_buf b;
    uint8_t type = 0;
    struct tsb_slice body;
    tsb_buf_init(&b, 1 << 20);
    tsb_frame_put_submit(&b, S(""), S("held"), S("entry of the held Unix client"));
    raw_send(f->unix_fd, b.p, b.len);
    if (raw_read_frame(f->unix_fd, &b, &type, &body) == 1)
        f->held_reply = type;
    tsb_buf_cleanup(&b);
}

static size_t count_closed(const int *fds, size_t n)
{
    size_t closed = 0;
    for (size_t i = 0; i < n; i++) {
        if (fds[i] < 0) {
            closed++;
            continue;
        }
        struct pollfd pf = {.fd = fds[i], .events = POLLIN};
        if (poll(&pf, 1, 0) == 1)
            closed++; /* the daemon sends nothing before TLS: readable means EOF or reset */
    }
    return closed;
}

static void test_pending_flood_locks_nobody_out(void **state)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < FLOOD_CONNS + 200) {
        rl.rlim_cur = rl.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    assert_true(rl.rlim_cur >= FLOOD_CONNS + 200);

    char *dir = tsb_test_tmpdir();
    make_pki(dir);
    /* a handshake deadline longer than the test: the flood holds whatever it gets throughout */
    const char *ov[] = {"ingest.handshake_timeout_ms=600000", NULL};
    struct tsbd d;
    tls_daemon_start(&d, dir, "server", ov);

    struct flood *f = calloc(1, sizeof(*f));
    f->dir = dir;
    f->sock = d.sock;
    f->port = d.tcp_port;
    f->unix_fd = raw_connect_unix(d.sock);
    assert_true(f->unix_fd >= 0);
    raw_hello(f->unix_fd, "held-unix");

    /* a TLS client past HELLO when the flood starts keeps being served through it */
    struct entries e;
    entries_make(&e, "before-flood", 40, 50);
    struct load_result res[40];
    memset(res, 0, sizeof(res));
    struct tls_paths paths;
    struct load_spec sp = tls_spec(&e, dir, d.tcp_port, "pharmacy", "", &paths);
    sp.depth = 1;
    sp.hook_after_acks = 5;
    sp.hook = flood_and_serve;
    sp.hook_arg = f;
    assert_int_equal(load_run(&sp, res), 0);

    assert_int_equal(f->opened, FLOOD_CONNS);
    for (size_t i = 0; i < e.n; i++)
        assert_int_equal(res[i].type, TSB_FT_ACK);
    if (f->unix_rc != 0)
        fail_msg("new Unix client during the flood: %s", tsb_strerror(f->unix_rc));
    if (f->tls_rc != 0)
        fail_msg("new TLS client during the flood: %s", tsb_strerror(f->tls_rc));
    for (size_t i = 0; i < 20; i++) {
        assert_int_equal(f->unix_res[i].type, TSB_FT_ACK);
        assert_int_equal(f->tls_res[i].type, TSB_FT_ACK);
    }
    assert_int_equal(f->held_reply, TSB_FT_ACK);

    /* the flood got at most ingest.max_connections_per_source (32) pending slots: the daemon
     * closed every other connection at accept (seen asynchronously: poll until it is) */
    size_t closed = 0;
    for (int tries = 0; tries < 300; tries++) {
        closed = count_closed(f->fds, FLOOD_CONNS);
        if (closed >= FLOOD_CONNS - 32)
            break;
        usleep(100000);
    }
    printf("flood: %zu of %d unauthenticated connections closed at accept\n", closed, FLOOD_CONNS);
    assert_true(closed >= FLOOD_CONNS - 32);
    for (size_t i = 0; i < FLOOD_CONNS; i++)
        if (f->fds[i] >= 0)
            close(f->fds[i]);
    close(f->unix_fd);

    assert_int_equal(tsbd_stop(&d), 0);
    assert_int_equal(archive_count(dir), 40 + 20 + 20 + 1);
    free(f);
    entries_free(&e);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

/* ---- shutdown and failure -------------------------------------------------------------------- */

static void send_sigterm(void *arg)
{
    kill(*(pid_t *)arg, SIGTERM);
}

static size_t archive_count(const char *dir)
{
    char *db = tsb_test_path(dir, "archive.db");
    struct tsb_store *s;
    struct tsb_store_stats st;
    assert_int_equal(tsb_store_open(db, NULL, &s), 0); /* read-write: recovers a WAL if needed */
    assert_int_equal(tsb_store_stats(s, &st), 0);
    tsb_store_close(s);
    free(db);
    return (size_t)st.entries;
}

static void test_sigterm_answers_everything_in_flight(void **state)
{
    char *dir = tsb_test_tmpdir();
    struct tsbd d;
    const char *ov[] = {"writer.batch_delay_ms=2", NULL};
    tsbd_start(&d, dir, 0, ov);
    /* a client with nothing in flight is told why its connection closes */
    int idle = raw_connect_unix(d.sock);
    assert_true(idle >= 0);
    raw_hello(idle, "idle-client");
    struct entries e;
    entries_make(&e, "term", 20000, 200);
    struct load_result *res = calloc(e.n, sizeof(*res));
    struct load_spec sp = spec_for(&e, d.sock, 0);
    sp.depth = 5000;
    sp.hook_after_acks = 100;
    sp.hook = send_sigterm;
    sp.hook_arg = &d.pid;
    assert_int_equal(load_run(&sp, res), 0);
    struct tsb_buf rx;
    tsb_buf_init(&rx, 1 << 20);
    expect_nack(idle, &rx, TSB_NACK_SHUTTING_DOWN, "stopping");
    close(idle);
    tsb_buf_cleanup(&rx);
    assert_int_equal(tsbd_wait(&d, 30000), 0);

    /* replies are a run of ACKs, then one closing SHUTTING_DOWN for the first request not taken
     * in, then nothing (docs/protocol.md section 3) */
    size_t acks = 0, shutting_down = 0;
    bool gap = false;
    for (size_t i = 0; i < e.n; i++) {
        if (res[i].status != 0) {
            gap = true;
            continue;
        }
        assert_false(gap);
        if (res[i].type == TSB_FT_ACK) {
            assert_int_equal(shutting_down, 0);
            acks++;
            continue;
        }
        assert_int_equal(res[i].type, TSB_FT_NACK);
        assert_int_equal(res[i].nack, TSB_NACK_SHUTTING_DOWN);
        assert_true(res[i].nack_closing);
        shutting_down++;
        gap = true;
    }
    printf("SIGTERM: %zu ACKs, then %zu SHUTTING_DOWN, of %zu requests\n", acks, shutting_down,
           e.n);
    assert_true(acks >= 100);
    assert_int_equal(shutting_down, 1);
    assert_true(acks < e.n); /* the stop really happened while requests were in flight */
    /* everything the daemon took in was acknowledged: the archive holds exactly the ACKed */
    assert_int_equal(check_archive(dir, &e, res, "pharmacy-1", false), acks);
    assert_int_equal(archive_count(dir), acks);
    free(res);
    entries_free(&e);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

/*
 * A write failure is forced for real: the daemon runs with RLIMIT_FSIZE so that the kernel refuses
 * (EFBIG) the write that would grow the WAL or the database past the limit, exactly like a full
 * disk, whoever runs the test (root included). SIGXFSZ is ignored so the write returns the error.
 */
static void test_archive_write_failure_stops_acks_and_exits_3(void **state)
{
    char *dir = tsb_test_tmpdir();
    struct tsbd d;
    const char *ov[] = {"store.store_content=true", NULL};
    tsbd_start(&d, dir, 1024 * 1024, ov);
    struct entries e;
    entries_make(&e, "full", 2000, 8000); /* 16 MB of content against a 1 MiB limit */
    struct load_result *res = calloc(e.n, sizeof(*res));
    struct load_spec sp = spec_for(&e, d.sock, 0);
    sp.depth = 32;
    assert_int_equal(load_run(&sp, res), 0);
    assert_int_equal(tsbd_wait(&d, 30000), 3);

    size_t acks = 0, archive_failed = 0;
    bool after_failure = false;
    for (size_t i = 0; i < e.n; i++) {
        if (res[i].status == 0 && res[i].type == TSB_FT_ACK) {
            assert_false(after_failure); /* never an ACK after the first failure */
            acks++;
        } else {
            after_failure = true;
            if (res[i].status == 0) {
                assert_int_equal(res[i].type, TSB_FT_NACK);
                assert_int_equal(res[i].nack, TSB_NACK_ARCHIVE_FAILED);
                archive_failed++;
            }
        }
    }
    assert_true(acks > 0);
    assert_true(acks < e.n);
    assert_true(archive_failed > 0);
    assert_int_equal(check_archive(dir, &e, res, "pharmacy-1", true), acks);
    assert_int_equal(tsb_test_sh("grep -q 'archive can no longer be written' '%s'", d.log), 0);
    free(res);
    entries_free(&e);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

/* ---- tsbag status ------------------------------------------------------------------------- */

/* `tsbag status` with a default configuration shows what the daemon decides with: its alarm
 * threshold and verdict, whether it seals; without a daemon it says that it uses its own. */
static void test_status_shows_the_daemons_settings(void **state)
{
    char *dir = tsb_test_tmpdir();
    struct tsbd d;
    const char *ov[] = {"sealer.unstamped_alarm_s=2", NULL};
    tsbd_start(&d, dir, 0, ov);
    int fd = raw_connect_unix(d.sock);
    assert_true(fd >= 0);
    raw_hello(fd, "status-test");
    struct tsb_buf b;
    uint8_t type = 0;
    struct tsb_slice body;
    tsb_buf_init(&b, 1 << 20);
    assert_int_equal(tsb_frame_put_submit(&b, S(""), S(""), S("waits for a stamp")), 0);
    raw_send(fd, b.p, b.len);
    assert_int_equal(raw_read_frame(fd, &b, &type, &body), 1);
    assert_int_equal(type, TSB_FT_ACK);
    close(fd);
    tsb_buf_cleanup(&b);

    char *out = tsb_test_path(dir, "status.out");
    const char *tsbag = tsbd_program("TSBAG", "src/cli/tsbag");
    /* the entry becomes older than the daemon's 2 s (this configuration says 15 min): poll */
    int rc = 0;
    for (int tries = 0; tries < 300 && rc != 1; tries++) {
        rc = tsb_test_sh("'%s' -s general.state_dir='%s' status > '%s' 2>&1", tsbag, dir, out);
        if (rc != 1)
            usleep(100000);
    }
    if (rc != 1 || tsb_test_sh("grep -q 'alarm at 2 s' '%s'", out) != 0 ||
        tsb_test_sh("grep -q \"^ALARM: .*more than 2 s (tsbagd's sealer.unstamped_alarm_s)\" "
                    "'%s'",
                    out) != 0 ||
        tsb_test_sh("grep -q '^tsbagd: .*running, no sealer' '%s'", out) != 0) {
        tsb_test_sh("cat '%s' >&2", out);
        fail_msg("tsbag status (exit %d) does not show the daemon's settings", rc);
    }
    assert_int_equal(tsbd_stop(&d), 0);

    rc = tsb_test_sh("'%s' -s general.state_dir='%s' status > '%s' 2>&1", tsbag, dir, out);
    if (tsb_test_sh("grep -q '^tsbagd: .*not answering' '%s'", out) != 0 ||
        tsb_test_sh("grep -q 'alarm at 15 min 0 s' '%s'", out) != 0) {
        tsb_test_sh("cat '%s' >&2", out);
        fail_msg("tsbag status without a daemon (exit %d)", rc);
    }

    /* a socket that accepts and never answers (a hung daemon) does not hang tsbag status */
    int hung = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(hung >= 0 && strlen(d.sock) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, d.sock, strlen(d.sock));
    assert_int_equal(bind(hung, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(hung, 4), 0);
    rc = tsb_test_sh("timeout 60 '%s' -s general.state_dir='%s' status > '%s' 2>&1", tsbag, dir,
                     out);
    if (rc == 124 || tsb_test_sh("grep -q '^tsbagd: .*no STATUS reply within' '%s'", out) != 0) {
        tsb_test_sh("cat '%s' >&2", out);
        fail_msg("tsbag status against a daemon that never answers (exit %d)", rc);
    }
    close(hung);
    free(out);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

/* ---- tsbag push -------------------------------------------------------------------------------
 */

static void test_push_10000_files(void **state)
{
    char *dir = tsb_test_tmpdir();
    char *files = tsb_test_path(dir, "files");
    assert_int_equal(tsb_test_sh("mkdir '%s'", files), 0);
    const size_t n = 10000;
    char **hex = calloc(n, sizeof(*hex));
    for (size_t i = 0; i < n; i++) {
        char name[4300], body[200];
        snprintf(name, sizeof(name), "%s/rx-%05zu.txt", files, i);
        int len = snprintf(body, sizeof(body), "1|71000436|2024-05-02T10:15:00Z|%zu|%d|NEW|1", i,
                           (int)getpid());
        assert_int_equal(tsb_test_write_file(name, body, (size_t)len), 0);
        hex[i] = malloc(TSB_HASH_HEX_LEN + 1);
        hex_of_sha((const uint8_t *)body, (size_t)len, hex[i]);
    }
    struct tsbd d;
    const char *ov[] = {NULL};
    tsbd_start(&d, dir, 0, ov);
    char *out = tsb_test_path(dir, "push.out");
    assert_int_equal(tsb_test_sh("'%s' -s general.state_dir='%s' push --depth 128 '%s' > '%s'",
                                 tsbd_program("TSBAG", "src/cli/tsbag"), dir, files, out),
                     0);
    assert_int_equal(tsbd_stop(&d), 0);

    /* 10 000 lines "<Ref> <hash> <file>", in file order, each in the archive */
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char *db = tsb_test_path(dir, "archive.db");
    struct tsb_store *s;
    struct tsb_store_open_opts o = {.readonly = true};
    assert_int_equal(tsb_store_open(db, &o, &s), 0);
    char line[8192];
    size_t count = 0;
    long long last = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        long long ref;
        char h[80], name[4300];
        assert_int_equal(sscanf(line, "%lld %79s %4299s", &ref, h, name), 3);
        assert_true(count < n);
        assert_true(ref > last);
        last = ref;
        assert_string_equal(h, hex[count]);
        assert_non_null(strstr(name, "rx-"));
        struct tsb_entry_rec rec;
        assert_int_equal(tsb_store_entry_by_ref(s, ref, &rec), 0);
        char dh[TSB_HASH_HEX_LEN + 1];
        tsb_hex_encode(rec.digest, TSB_SHA256_LEN, dh);
        assert_string_equal(dh, h);
        tsb_entry_rec_cleanup(&rec);
        count++;
    }
    fclose(f);
    assert_int_equal(count, n);
    struct tsb_store_stats st;
    assert_int_equal(tsb_store_stats(s, &st), 0);
    assert_int_equal(st.entries, n); /* exactly them */
    tsb_store_close(s);
    for (size_t i = 0; i < n; i++)
        free(hex[i]);
    free(hex);
    free(db);
    free(out);
    free(files);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

/* The value of an unlabelled sample in a /metrics scrape saved to dir/metrics.txt, or -1. */
static double scraped(const char *dir, const char *name)
{
    char *path = tsb_test_path(dir, "metrics.txt");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    double v = -1;
    size_t n = strlen(name);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, name, n) == 0 && line[n] == ' ')
            v = strtod(line + n + 1, NULL);
    fclose(f);
    free(path);
    return v;
}

/* writer.queue_bytes holds: a client pipelining far more content than the budget is paused, not
 * refused: every entry is acknowledged, in order, and archived, while the writer queue never held
 * more than the budget plus one entry (tsbag_writer_queue_bytes_peak), and did reach it. */
static void test_writer_queue_bytes_backpressure(void **state)
{
    char *dir = tsb_test_tmpdir();
    struct tsbd d;
    const char *ov[] = {"store.store_content=true", "writer.queue_bytes=65536",
                        "writer.batch_max=8", "metrics.listen=127.0.0.1:0", NULL};
    tsbd_start(&d, dir, 0, ov);

    /* 1 500 entries of 4 KiB (about 6 MB, 90 times the budget), 256 in flight */
    struct entries e;
    entries_make(&e, "queue", 1500, 4000);
    struct load_result *res = calloc(e.n, sizeof(*res));
    struct load_spec sp = spec_for(&e, d.sock, 0);
    sp.depth = 256;
    assert_int_equal(load_run(&sp, res), 0);
    assert_all_acked(&e, res, 0);
    assert_int_equal(check_archive(dir, &e, res, "pharmacy-1", true), e.n);

    assert_int_equal(
        tsb_test_sh(
            "cd '%s' && curl -sS -f \"http://127.0.0.1:$(cat tsbagd.metrics.port)/metrics\" "
            ">metrics.txt",
            dir),
        0);
    /* what one entry counts: content, format id "test-1", ref "ref-NNNN", bookkeeping */
    double entry = 512 + 4000 + 40 + 6 + 8;
    double peak = scraped(dir, "tsbag_writer_queue_bytes_peak");
    assert_true(peak <= 65536 + entry);
    assert_true(peak > 65536 - entry);
    assert_true(scraped(dir, "tsbag_writer_queue_bytes") == 0);
    assert_int_equal(tsbd_stop(&d), 0);

    free(res);
    entries_free(&e);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_submits_acked_in_order),
        cmocka_unit_test(test_bad_inputs_get_documented_errors),
        cmocka_unit_test(test_idle_timeout_and_connection_limit),
        cmocka_unit_test(test_handshake_deadline),
        cmocka_unit_test(test_pending_budget_per_listener),
        cmocka_unit_test(test_per_source_limit),
        cmocka_unit_test(test_tls_client_certificates_and_allowlist),
        cmocka_unit_test(test_tls_allowlist_reload),
        cmocka_unit_test(test_tls_cipher_policy),
        cmocka_unit_test(test_tls_refusals),
        cmocka_unit_test(test_pending_flood_locks_nobody_out),
        cmocka_unit_test(test_sigterm_answers_everything_in_flight),
        cmocka_unit_test(test_archive_write_failure_stops_acks_and_exits_3),
        cmocka_unit_test(test_status_shows_the_daemons_settings),
        cmocka_unit_test(test_push_10000_files),
        cmocka_unit_test(test_writer_queue_bytes_backpressure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
