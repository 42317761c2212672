/*
 * load_util: drives the real client library against a running tsbagd from a test: submits a set
 * of entries pipelined (up to a depth) over one connection and records, per entry, what came
 * back. A hook can act after the k-th acknowledgement (send SIGTERM, SIGKILL ...).
 */
#ifndef TSB_LOAD_UTIL_H
#define TSB_LOAD_UTIL_H

#include "client.h"
#include "hash.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct load_result {
    int status;   /* 0: a reply came; else why not (TSB_ECLOSED ...) */
    uint8_t type; /* reply type */
    unsigned nack;
    bool nack_closing;
    int64_t ref;
    int64_t received_ms;
    char hash[TSB_HASH_HEX_LEN + 1];
};

struct load_spec {
    struct tsb_client_opts client;
    const uint8_t *const *entries; /* entry bytes, or NULL with digests */
    const size_t *lens;
    const uint8_t (*digests)[TSB_SHA256_LEN]; /* SUBMIT_HASH when entries is NULL */
    const char *const *client_refs;           /* may be NULL */
    const char *format;                       /* may be NULL */
    size_t n;
    size_t depth;
    size_t hook_after_acks; /* 0: no hook */
    void (*hook)(void *arg);
    void *hook_arg;
};

/* Runs the whole exchange on a private loop (closed before returning, uv_loop_close == 0
 * asserted). res[n] is filled; returns the connect status (0 when HELLO was answered; otherwise
 * the error detail says why). */
int load_run(const struct load_spec *spec, struct load_result *res);

#endif
