/*
 * tls: TLS over memory BIOs. rbio receives ciphertext from the socket, wbio collects ciphertext
 * for the socket; SSL_read/SSL_write run the handshake implicitly. Errors are turned into
 * TSB_ENET/TSB_ECRYPTO with OpenSSL's first queued reason; the per-thread error queue is always
 * cleared so that one connection's failure never shows up in another's detail.
 */
#include "tls.h"

#include "err.h"
#include "frame.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct tsb_tls_ctx {
    SSL_CTX *ssl;
    bool server;
};

struct tsb_tls {
    SSL *ssl;
    BIO *rbio;              /* network -> SSL */
    BIO *wbio;              /* SSL -> network */
    struct tsb_buf pending; /* plaintext written before the handshake could take it */
};

static int ossl_err(int code, const char *what)
{
    unsigned long e = ERR_get_error();
    char why[256] = "no OpenSSL reason";
    if (e != 0)
        ERR_error_string_n(e, why, sizeof(why));
    ERR_clear_error();
    return tsb_err(code, "%s: %s", what, why);
}

static int ctx_common(bool server, struct tsb_tls_ctx **out)
{
    SSL_CTX *ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ssl == NULL)
        return ossl_err(TSB_ECRYPTO, "SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    struct tsb_tls_ctx *c = tsb_calloc(1, sizeof(*c));
    c->ssl = ssl;
    c->server = server;
    *out = c;
    return 0;
}

static int load_pair(SSL_CTX *ssl, const char *cert, const char *key)
{
    if (SSL_CTX_use_certificate_chain_file(ssl, cert) != 1)
        return ossl_err(TSB_ECRYPTO, cert);
    if (SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1)
        return ossl_err(TSB_ECRYPTO, key);
    if (SSL_CTX_check_private_key(ssl) != 1)
        return ossl_err(TSB_ECRYPTO, "certificate and key do not match");
    return 0;
}

/* An explicit policy instead of OpenSSL's default list, which still offers static-RSA key
 * exchange (AES128-SHA ...) without forward secrecy under TLS 1.2. */
static int set_ciphers(SSL_CTX *ssl, const struct tsb_tls_policy *pol)
{
    if (pol == NULL)
        return 0;
    if (pol->ciphers != NULL && pol->ciphers[0] != '\0' &&
        SSL_CTX_set_cipher_list(ssl, pol->ciphers) != 1)
        return ossl_err(TSB_ECONFIG, "ingest.tls_ciphers names no cipher OpenSSL can use");
    if (pol->ciphersuites != NULL && pol->ciphersuites[0] != '\0' &&
        SSL_CTX_set_ciphersuites(ssl, pol->ciphersuites) != 1)
        return ossl_err(TSB_ECONFIG, "ingest.tls_ciphersuites is not a valid TLS 1.3 suite list");
    /* DHE suites need parameters; OpenSSL picks ones matching the certificate's strength */
    SSL_CTX_set_dh_auto(ssl, 1);
    return 0;
}

int tsb_tls_ctx_new_server(const char *cert, const char *key, const char *client_ca,
                           const struct tsb_tls_policy *pol, struct tsb_tls_ctx **out)
{
    struct tsb_tls_ctx *c = NULL;
    int r = TSB_EINTERNAL;

    if ((r = ctx_common(true, &c)) != 0)
        goto out;
    if ((r = set_ciphers(c->ssl, pol)) != 0)
        goto out;
    if ((r = load_pair(c->ssl, cert, key)) != 0)
        goto out;
    if (SSL_CTX_load_verify_locations(c->ssl, client_ca, NULL) != 1) {
        r = ossl_err(TSB_ECRYPTO, client_ca);
        goto out;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
    if (names != NULL)
        SSL_CTX_set_client_CA_list(c->ssl, names);
    /* the server's preference decides among the suites both sides allow */
    SSL_CTX_set_options(c->ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(c->ssl, 0);
    *out = c;
    c = NULL;
    r = 0;
out:
    tsb_tls_ctx_free(c);
    return r;
}

int tsb_tls_ctx_new_client(const char *ca, const char *cert, const char *key,
                           struct tsb_tls_ctx **out)
{
    struct tsb_tls_ctx *c = NULL;
    int r = TSB_EINTERNAL;

    if ((r = ctx_common(false, &c)) != 0)
        goto out;
    if (SSL_CTX_load_verify_locations(c->ssl, ca, NULL) != 1) {
        r = ossl_err(TSB_ECRYPTO, ca);
        goto out;
    }
    SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
    if (cert != NULL && key != NULL && (r = load_pair(c->ssl, cert, key)) != 0)
        goto out;
    *out = c;
    c = NULL;
    r = 0;
out:
    tsb_tls_ctx_free(c);
    return r;
}

void tsb_tls_ctx_free(struct tsb_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

int tsb_tls_new(struct tsb_tls_ctx *ctx, const char *server_name, struct tsb_tls **out)
{
    struct tsb_tls *t = tsb_calloc(1, sizeof(*t));
    int r = TSB_EINTERNAL;

    /* what the stream hands over before the handshake ends: at most its output queue */
    tsb_buf_init(&t->pending, (size_t)2 * TSB_FRAME_WIRE_MAX);
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        t->rbio = t->wbio = NULL;
        r = ossl_err(TSB_ECRYPTO, "SSL_new");
        goto out;
    }
    BIO_set_mem_eof_return(t->rbio, -1); /* empty means "want more", not EOF */
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (server_name != NULL && server_name[0] != '\0') {
            X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
            if (X509_VERIFY_PARAM_set1_ip_asc(vp, server_name) != 1) {
                ERR_clear_error();
                if (X509_VERIFY_PARAM_set1_host(vp, server_name, 0) != 1) {
                    r = ossl_err(TSB_ECRYPTO, "server name");
                    goto out;
                }
            }
        }
    }
    *out = t;
    t = NULL;
    r = 0;
out:
    tsb_tls_free(t);
    return r;
}

void tsb_tls_free(struct tsb_tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    tsb_buf_cleanup(&t->pending);
    free(t);
}

int tsb_tls_feed(struct tsb_tls *t, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        int w = BIO_write(t->rbio, p, chunk);
        if (w <= 0)
            return ossl_err(TSB_ECRYPTO, "BIO_write");
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Maps an SSL_* failure: 0 for "needs more data", an error otherwise. */
static int ssl_failure(struct tsb_tls *t, int rc, const char *op)
{
    int e = SSL_get_error(t->ssl, rc);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return tsb_err(TSB_ECLOSED, "TLS peer closed the session");
    case SSL_ERROR_SSL: {
        long v = SSL_get_verify_result(t->ssl);
        if (v != X509_V_OK) {
            ERR_clear_error();
            return tsb_err(TSB_ENET, "TLS %s: certificate verify failed: %s", op,
                           X509_verify_cert_error_string(v));
        }
        return ossl_err(TSB_ENET, op);
    }
    default:
        return ossl_err(TSB_ENET, op);
    }
}

/* Writes plaintext held back while the handshake was running. */
static int flush_pending(struct tsb_tls *t)
{
    size_t off = 0;
    while (off < t->pending.len) {
        size_t n = t->pending.len - off;
        int w = SSL_write(t->ssl, t->pending.p + off, n > INT_MAX ? INT_MAX : (int)n);
        if (w <= 0) {
            int r = ssl_failure(t, w, "write");
            if (r != 0)
                return r;
            break;
        }
        off += (size_t)w;
    }
    tsb_buf_consume(&t->pending, off);
    return 0;
}

int tsb_tls_pump(struct tsb_tls *t)
{
    if (!SSL_is_init_finished(t->ssl)) {
        int rc = SSL_do_handshake(t->ssl);
        if (rc != 1)
            return ssl_failure(t, rc, "handshake");
    }
    return flush_pending(t);
}

int tsb_tls_read(struct tsb_tls *t, uint8_t *out, size_t cap, size_t *got)
{
    int r;
    *got = 0;
    if ((r = tsb_tls_pump(t)) != 0)
        return r;
    if (!SSL_is_init_finished(t->ssl) || cap == 0)
        return 0;
    while (*got < cap) {
        size_t want = cap - *got;
        int n = SSL_read(t->ssl, out + *got, want > INT_MAX ? INT_MAX : (int)want);
        if (n <= 0) {
            r = ssl_failure(t, n, "read");
            if (r != 0 && *got > 0 && r == TSB_ECLOSED)
                return 0; /* deliver what we have; the close shows up on the next call */
            return r;
        }
        *got += (size_t)n;
    }
    return 0;
}

int tsb_tls_write(struct tsb_tls *t, const uint8_t *p, size_t n)
{
    int r;
    if (n > 0 && (r = tsb_buf_append(&t->pending, p, n)) != 0)
        return r;
    if (!SSL_is_init_finished(t->ssl))
        return tsb_tls_pump(t);
    return flush_pending(t);
}

void tsb_tls_close_notify(struct tsb_tls *t)
{
    if (SSL_is_init_finished(t->ssl))
        (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
}

bool tsb_tls_has_output(const struct tsb_tls *t)
{
    return BIO_ctrl_pending(t->wbio) > 0;
}

int tsb_tls_take_output(struct tsb_tls *t, struct tsb_buf *b)
{
    size_t n;
    int r;
    while ((n = BIO_ctrl_pending(t->wbio)) > 0) {
        if ((r = tsb_buf_reserve(b, n)) != 0)
            return r;
        int got = BIO_read(t->wbio, b->p + b->len, n > INT_MAX ? INT_MAX : (int)n);
        if (got <= 0)
            return ossl_err(TSB_ECRYPTO, "BIO_read");
        tsb_buf_added(b, (size_t)got);
    }
    return 0;
}

bool tsb_tls_handshake_done(const struct tsb_tls *t)
{
    return SSL_is_init_finished(t->ssl);
}

int tsb_tls_peer_subject(struct tsb_tls *t, char *out, size_t n)
{
    X509 *cert = SSL_get1_peer_certificate(t->ssl);
    int r = TSB_EINTERNAL;
    BIO *mem = NULL;

    if (cert == NULL)
        return tsb_err(TSB_ENOTFOUND, "peer presented no certificate");
    mem = BIO_new(BIO_s_mem());
    if (mem == NULL ||
        X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
        r = ossl_err(TSB_ECRYPTO, "subject");
        goto out;
    }
    char *p;
    long len = BIO_get_mem_data(mem, &p);
    if (len < 0 || (size_t)len >= n) {
        r = tsb_err(TSB_ETOOBIG, "certificate subject of %ld bytes", len);
        goto out;
    }
    memcpy(out, p, (size_t)len);
    out[len] = '\0';
    r = 0;
out:
    BIO_free(mem);
    X509_free(cert);
    return r;
}
