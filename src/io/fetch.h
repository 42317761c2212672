/*
 * fetch: HTTPS POSTs for the TSA client, driven by libcurl's multi-socket interface on a libuv
 * loop, so that a slow or dead TSA never blocks the loop (ingest keeps acknowledging meanwhile).
 * TLS 1.2 minimum, peer and host verified against a configured CA bundle, connect and total
 * timeouts, a cap on the response size, no redirects, https only, and a fresh connection per
 * request (so one call is exactly one HTTP request, never silently resent). One tsb_fetch serves
 * any number of concurrent requests; everything runs on the loop thread.
 */
#ifndef TSB_FETCH_H
#define TSB_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct tsb_fetch;

struct tsb_fetch_opts {
    const char *ca_file;        /* PEM bundle the server certificate must chain to */
    int64_t connect_timeout_ms; /* TCP + TLS handshake */
    int64_t timeout_ms;         /* whole request */
    size_t max_response;        /* larger bodies fail with TSB_FETCH_TOOBIG */
    bool allow_http; /* also plain http:// URLs (RFC 3161 TSAs whose tokens carry the trust) */
};

/* Outcome classes: what the sender needs to decide between retrying and reporting. */
enum tsb_fetch_class {
    TSB_FETCH_OK,       /* HTTP 2xx, body complete */
    TSB_FETCH_HTTP,     /* another HTTP status (the body is still delivered: SOAP faults are 500) */
    TSB_FETCH_NETWORK,  /* refused, reset, DNS, closed early */
    TSB_FETCH_TLS,      /* handshake or certificate verification failed */
    TSB_FETCH_TIMEOUT,  /* connect or total timeout */
    TSB_FETCH_TOOBIG,   /* response over max_response */
    TSB_FETCH_CANCELLED /* tsb_fetch_close was called while in flight */
};

/* "ok", "http", "network", "tls", "timeout", "too big", "cancelled". */
const char *tsb_fetch_class_name(enum tsb_fetch_class c);

struct tsb_fetch_result {
    enum tsb_fetch_class cls;
    long http_status;    /* 0 when no response arrived */
    const uint8_t *body; /* valid only during the callback */
    size_t body_len;
    const char *content_type; /* the response's Content-Type, "" when none arrived */
    const char *error;        /* one line for logs ("" for OK) */
};

typedef void (*tsb_fetch_cb)(void *arg, const struct tsb_fetch_result *res);

/* Creates the client on loop. TSB_EINVAL for a missing CA file path. */
int tsb_fetch_new(uv_loop_t *loop, const struct tsb_fetch_opts *o, struct tsb_fetch **out);

struct tsb_fetch_request {
    const char *url;
    const char *soap_action; /* sent quoted ("SOAPAction: \"...\""); NULL or "" sends none */
    const uint8_t *body;     /* must stay valid until cb runs */
    size_t body_len;
    const char *content_type; /* NULL or "" sends "text/xml; charset=utf-8" */
    const char *accept;       /* an Accept header; NULL or "" sends none */
    const char *userpwd;      /* "user:password" for HTTP basic authentication, NULL for none;
                                 copied by libcurl, the caller wipes its own copy */
};

/* Starts a POST with rq's Content-Type (default text/xml; charset=utf-8). cb runs exactly once on
 * the loop thread, never from inside this call. Returns 0, or an error (and then cb never runs). */
int tsb_fetch_post(struct tsb_fetch *f, const struct tsb_fetch_request *rq, tsb_fetch_cb cb,
                   void *arg);

/* Number of requests in flight. */
size_t tsb_fetch_inflight(const struct tsb_fetch *f);

/* Cancels in-flight requests (their cb runs with TSB_FETCH_CANCELLED), closes every handle and
 * frees f; closed (may be NULL) runs once everything is closed. */
void tsb_fetch_close(struct tsb_fetch *f, void (*closed)(void *arg), void *arg);

#endif
