/*
 * tls: OpenSSL TLS sessions driven through memory BIOs, so that libuv owns the sockets and
 * OpenSSL never touches a file descriptor. The only module that includes OpenSSL's TLS headers.
 * A session is fed ciphertext from the network (tsb_tls_feed), yields plaintext (tsb_tls_read),
 * takes plaintext to send (tsb_tls_write) and produces ciphertext to put on the wire
 * (tsb_tls_take_output). The handshake runs inside read/write as data arrives.
 *
 * Servers require a client certificate chaining to the configured CA (TLS 1.2 minimum, the
 * configured cipher policy, forward-secret AEAD suites by default); clients verify the server
 * against their CA and present their own certificate.
 */
#ifndef TSB_TLS_H
#define TSB_TLS_H

#include "mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tsb_tls_ctx;
struct tsb_tls;

/* Cipher policy of a server context: OpenSSL cipher list for TLS 1.2 and ciphersuites for TLS
 * 1.3; NULL or empty keeps OpenSSL's default for that version. */
struct tsb_tls_policy {
    const char *ciphers;
    const char *ciphersuites;
};

/* A server context: PEM certificate chain and key, the CA bundle client certificates must chain
 * to (a client without a valid certificate fails the handshake) and the cipher policy (may be
 * NULL). TSB_ECRYPTO/TSB_EIO with the file and OpenSSL's reason in the detail, TSB_ECONFIG when
 * the policy names nothing usable. */
int tsb_tls_ctx_new_server(const char *cert, const char *key, const char *client_ca,
                           const struct tsb_tls_policy *pol, struct tsb_tls_ctx **out);
/* A client context trusting ca (PEM) for the server, presenting cert/key when both are given. */
int tsb_tls_ctx_new_client(const char *ca, const char *cert, const char *key,
                           struct tsb_tls_ctx **out);
void tsb_tls_ctx_free(struct tsb_tls_ctx *ctx);

/* A session on ctx; server_name (clients only, may be NULL) is checked against the server's
 * certificate (DNS name or IP address). */
int tsb_tls_new(struct tsb_tls_ctx *ctx, const char *server_name, struct tsb_tls **out);
void tsb_tls_free(struct tsb_tls *t);

/* Hands ciphertext received from the peer to the session. */
int tsb_tls_feed(struct tsb_tls *t, const uint8_t *p, size_t n);
/* Advances the handshake and decrypts up to cap bytes into out; *got is 0 when nothing is ready.
 * Returns 0, TSB_ECLOSED when the peer sent close_notify, TSB_ENET on a handshake or record
 * failure (detail says why, e.g. "certificate verify failed"). */
int tsb_tls_read(struct tsb_tls *t, uint8_t *out, size_t cap, size_t *got);
/* Encrypts n plaintext bytes (buffered until the handshake completes). */
int tsb_tls_write(struct tsb_tls *t, const uint8_t *p, size_t n);
/* Starts the handshake (clients) or flushes pending records. */
int tsb_tls_pump(struct tsb_tls *t);
/* Moves the ciphertext waiting to be sent into b. */
int tsb_tls_take_output(struct tsb_tls *t, struct tsb_buf *b);
/* Queues a close_notify alert (sent with the next output). */
void tsb_tls_close_notify(struct tsb_tls *t);
bool tsb_tls_has_output(const struct tsb_tls *t);
bool tsb_tls_handshake_done(const struct tsb_tls *t);
/* The verified peer certificate's subject in RFC 2253 form into out (size n); TSB_ENOTFOUND
 * without a certificate. */
int tsb_tls_peer_subject(struct tsb_tls *t, char *out, size_t n);

#endif
