/*
 * integration.ingest: a real tsbagd on a temporary folder, driven over its Unix socket and a TCP
 * port chosen by the kernel. Checks the protocol promises end to end: pipelined submits acked in
 * order with Refs and hashes that are in the archive; every bad input of docs/protocol.md gets its
 * NACK while other connections keep being served; TLS client certificates and the allow-list;
 * graceful SIGTERM; a failed archive write stops acknowledgements and exits 3; `tsbag push` of
 * 10 000 files.
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

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
    int64_t last = 0;
    for (size_t i = 0; i < e.n; i++) {
        assert_int_equal(res[i].status, 0);
        assert_int_equal(res[i].type, TSB_FT_ACK);
        assert_true(res[i].ref > last); /* replies in request order: Refs increase */
        last = res[i].ref;
        char hex[TSB_HASH_HEX_LEN + 1];
        hex_of_sha(e.p[i], e.len[i], hex);
        assert_string_equal(res[i].hash, hex);
    }

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
    assert_true(st.next_seal_ms > st.now_ms);
    assert_int_equal(st.next_seal_ms % 300000, 0); /* aligned to sealer.interval_s */
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

static void test_idle_timeout_and_connection_limit(void **state)
{
    char *dir = tsb_test_tmpdir();
    struct tsbd d;
    const char *ov[] = {"ingest.idle_timeout_ms=300", "ingest.max_connections=2", NULL};
    tsbd_start(&d, dir, 0, ov);
    struct tsb_buf rx;
    tsb_buf_init(&rx, 1 << 20);
    uint8_t type;
    struct tsb_slice body;
    struct tsb_nack_reply n;

    int a = raw_connect_unix(d.sock);
    raw_hello(a, "a");
    /* the start-up probe connection may not be accounted as closed yet: retry until b is in */
    int b = -1;
    for (int tries = 0; tries < 200 && b < 0; tries++) {
        b = raw_connect_unix(d.sock);
        assert_true(b >= 0);
        struct tsb_buf hb;
        tsb_buf_init(&hb, 4096);
        assert_int_equal(tsb_frame_put_hello(&hb, 1, S("b")), 0);
        raw_send(b, hb.p, hb.len);
        assert_int_equal(raw_read_frame(b, &hb, &type, &body), 1);
        if (type != TSB_FT_HELLO_OK) {
            close(b);
            b = -1;
            usleep(20000);
        }
        tsb_buf_cleanup(&hb);
    }
    assert_true(b >= 0);
    int c = raw_connect_unix(d.sock);
    assert_true(c >= 0);
    assert_int_equal(raw_read_frame(c, &rx, &type, &body), 1);
    assert_int_equal(type, TSB_FT_NACK);
    assert_int_equal(tsb_frame_parse_nack(body, &n), 0);
    assert_int_equal(n.code, TSB_NACK_TOO_MANY_CONNS);
    assert_true(n.closing);
    assert_true(raw_wait_closed(c, 10000));
    close(c);

    /* nobody sends anything: both idle connections are told and closed */
    for (int i = 0; i < 2; i++) {
        int fd = i ? b : a;
        assert_int_equal(raw_read_frame(fd, &rx, &type, &body), 1);
        assert_int_equal(type, TSB_FT_NACK);
        assert_int_equal(tsb_frame_parse_nack(body, &n), 0);
        assert_int_equal(n.code, TSB_NACK_IDLE_TIMEOUT);
        assert_true(raw_wait_closed(fd, 10000));
        close(fd);
    }
    tsb_buf_cleanup(&rx);
    assert_int_equal(tsbd_stop(&d), 0);
    tsbd_cleanup(&d);
    tsb_test_rmtree(dir);
    free(dir);
}

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

struct tls_try {
    const char *cert; /* basename in dir, NULL for no client certificate */
    const char *source;
    int want;      /* 0: HELLO_OK; otherwise the connect must fail */
    unsigned nack; /* when the failure is a NACK to HELLO */
};

static int try_tls(const char *dir, int port, const struct tls_try *t, struct load_result *res,
                   struct entries *e)
{
    char ca[4200], cert[4200], key[4200];
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(cert, sizeof(cert), "%s/%s.pem", dir, t->cert ? t->cert : "");
    snprintf(key, sizeof(key), "%s/%s.key", dir, t->cert ? t->cert : "");
    struct load_spec sp = spec_for(e, NULL, port);
    sp.client.tls_ca = ca;
    sp.client.tls_cert = t->cert ? cert : NULL;
    sp.client.tls_key = t->cert ? key : NULL;
    sp.client.source = t->source;
    return load_run(&sp, res);
}

static void test_tls_client_certificates_and_allowlist(void **state)
{
    char *dir = tsb_test_tmpdir();
    make_pki(dir);
    char o_cert[4200], o_key[4200], o_ca[4200], o_allow[4200];
    snprintf(o_cert, sizeof(o_cert), "ingest.tls_cert=%s/server.pem", dir);
    snprintf(o_key, sizeof(o_key), "ingest.tls_key=%s/server.key", dir);
    snprintf(o_ca, sizeof(o_ca), "ingest.tls_client_ca=%s/ca.pem", dir);
    snprintf(o_allow, sizeof(o_allow), "ingest.tls_allowlist=%s/allow.txt", dir);
    const char *ov[] = {"ingest.tcp_listen=127.0.0.1:0", o_cert, o_key, o_ca, o_allow, NULL};
    struct tsbd d;
    tsbd_start(&d, dir, 0, ov);

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
    struct entries e;
    entries_make(&e, "term", 20000, 200);
    struct load_result *res = calloc(e.n, sizeof(*res));
    struct load_spec sp = spec_for(&e, d.sock, 0);
    sp.depth = 5000;
    sp.hook_after_acks = 100;
    sp.hook = send_sigterm;
    sp.hook_arg = &d.pid;
    assert_int_equal(load_run(&sp, res), 0);
    assert_int_equal(tsbd_wait(&d, 30000), 0);

    /* replies are a run of ACKs, then nothing: no NACK, no reply after a gap */
    size_t acks = 0;
    bool gap = false;
    for (size_t i = 0; i < e.n; i++) {
        if (res[i].status == 0) {
            assert_false(gap);
            assert_int_equal(res[i].type, TSB_FT_ACK);
            acks++;
        } else {
            gap = true;
        }
    }
    assert_true(acks >= 100);
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

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_submits_acked_in_order),
        cmocka_unit_test(test_bad_inputs_get_documented_errors),
        cmocka_unit_test(test_idle_timeout_and_connection_limit),
        cmocka_unit_test(test_tls_client_certificates_and_allowlist),
        cmocka_unit_test(test_sigterm_answers_everything_in_flight),
        cmocka_unit_test(test_archive_write_failure_stops_acks_and_exits_3),
        cmocka_unit_test(test_push_10000_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
