/*
 * ingest_conn: what ingest.c (connections, their request FIFOs, the byte budget) and ingest_req.c
 * (what each request does) share. Private to src/daemon/ingest*.c; loop thread only.
 */
#ifndef TSB_INGEST_CONN_H
#define TSB_INGEST_CONN_H

#include "allowlist.h"
#include "frame.h"
#include "hash.h"
#include "ingest.h"
#include "stream.h"

#include <stdbool.h>
#include <stdint.h>

#define PEER_MAX 128
/* Longest reply frame: a NACK (header, type, code, flags, TSB_NACK_REASON_MAX reason) or a
 * HELLO_OK naming a source of up to TSB_SOURCE_MAX_PROTO bytes. */
#define REPLY_MAX (64 + TSB_NACK_REASON_MAX + TSB_SOURCE_MAX_PROTO)

struct conn;

/* One request read from a connection, in the connection's FIFO until its reply is encoded. */
struct req {
    struct req *next;
    struct conn *c;
    bool ready;    /* the reply is known (tsb_ingest_req_ready) */
    uint8_t reply; /* frame type of the reply */
    enum tsb_nack nack;
    bool closing;
    char *reason; /* NACK */
    int64_t received_ms;
    bool submit;        /* a SUBMIT: its reply moves the entry counters (metrics.h) */
    uint64_t submit_ns; /* uv_hrtime at its arrival: the ack latency */
    uint8_t digest[TSB_SHA256_LEN];
    struct tsb_status st;
    struct tsb_store_stats stats; /* STATUS: filled on the writer thread */
    struct tsb_seal_ok seal;
    int64_t retried; /* RETRY_OK */
    struct tsb_writer_entry we;
    size_t extra_len;
    uint8_t extra[]; /* format id, client ref, content (NUL-separated) or PING payload */
};

/* Admission stage of a connection; each stage but NONE has a budget per listener. */
enum conn_stage {
    STAGE_NONE,     /* not counted: refused at once (closed without a word) */
    STAGE_PENDING,  /* accepted, TLS handshake and/or HELLO not done yet */
    STAGE_SERVING,  /* HELLO answered with HELLO_OK */
    STAGE_REFUSING, /* refused at accept, the NACK is being delivered (plaintext only) */
    STAGE_COUNT,
};

/* Life of a connection (docs/internals/INGEST.md draws it); changed by conn_set_state only. */
enum conn_state {
    CONN_ACCEPTED,  /* reading; the first frame must be HELLO */
    CONN_SERVING,   /* HELLO_OK answered; reading requests */
    CONN_DRAINING,  /* nothing more is read or parsed; the FIFO drains */
    CONN_FINISHING, /* FIFO empty: the stream sends what is queued, ends our side, lingers */
    CONN_CLOSED,    /* stream closed or closing; freed once its handles closed and FIFO empty */
};

struct conn {
    struct tsb_stream s;
    uv_timer_t idle;
    struct tsb_ingest *in;
    struct conn *prev, *next; /* in->conns */
    struct conn *next_run;    /* in->run_head, while scheduled */
    struct tsb_frame_decoder dec;
    struct req *head, *tail;
    size_t inflight;
    size_t held;    /* bytes of the reqs in the FIFO */
    size_t charged; /* what this connection counts for in in->buffered */
    uint64_t last_frame_ms;
    uint64_t accepted_ms;
    enum conn_state state;
    enum conn_stage stage;
    int handles;      /* stream and idle timer not closed yet */
    bool is_tcp;      /* else the Unix socket */
    bool eof;         /* the peer ended its side: what is buffered is the last input */
    bool parked;      /* paused for the writer queue or the budget: woken when they free */
    bool scheduled;   /* on the run list */
    int metrics_slot; /* set at HELLO_OK (tsb_metrics_source) */
    char source[TSB_SOURCE_MAX_PROTO + 1];
    char peer[PEER_MAX];
    char addr[PEER_MAX]; /* TCP: the peer's address without the port, the per-source key */
    struct tsb_buf scratch;
};

struct tsb_ingest {
    uv_loop_t *loop;
    const struct tsb_config *cfg;
    struct tsb_writer *w;
    uv_pipe_t unix_srv;
    uv_tcp_t tcp_srv;
    uv_idle_t run;                    /* the deferred pass over scheduled connections */
    struct conn *run_head, *run_tail; /* scheduled connections */
    bool has_unix, has_tcp;
    int tcp_port;
    int listeners_open;
    struct tsb_tls_ctx *tls;
    struct tsb_allowlist *allow; /* NULL: no allow-list */
    struct tsb_hasher *hasher;
    struct tsb_frame_limits lim;
    struct conn *conns;
    unsigned nconns;
    size_t buffered; /* sum of every connection's charged bytes (ingest.buffer_bytes) */
    size_t buffered_peak;
    unsigned count[2][STAGE_COUNT]; /* [is_tcp][stage] */
    bool stopping, archive_failed;
    void (*stopped)(void *arg);
    void *stopped_arg;
    tsb_seal_hook_fn seal_hook;
    void *seal_arg;
    tsb_retry_hook_fn retry_hook;
    tsb_refuse_hook_fn refuse_hook;
    void *sender_arg;
};

/* ---- ingest.c: connections ---- */

/* Starts reading c (tls, may be NULL, is taken over). */
int tsb_ingest_conn_start(struct conn *c, struct tsb_tls *tls);
/* (Re)arms c's deadline ms from now (handshake, then idle timeout). */
void tsb_ingest_conn_arm(struct conn *c, uint64_t ms);
/* Closes c now: reset, write error, TLS failure, or nothing can be said (no TLS yet). */
void tsb_ingest_conn_abort(struct conn *c);

/* Appends a request with extra bytes of payload room to c's FIFO. */
struct req *tsb_ingest_req_new(struct conn *c, size_t extra);
/* The reply of r is known: it leaves with the next pass over c, after those before it. */
void tsb_ingest_req_ready(struct req *r);
/* r's reply is a NACK (closing: the connection ends after it); marks r ready. */
void tsb_ingest_req_nack(struct req *r, enum tsb_nack code, bool closing, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Nothing more is read from c; what is in its FIFO is still answered. */
void tsb_ingest_conn_drain(struct conn *c);
/* A refusal that ends c, answered in order after what is already in its FIFO. */
void tsb_ingest_conn_fail(struct conn *c, enum tsb_nack code, const char *reason);
/* HELLO accepted: moves c to SERVING within the serving budgets, or false with why. */
bool tsb_ingest_conn_serve(struct conn *c, char *why, size_t n);

/* ---- ingest_accept.c: admission, the ingest's life ---- */

/* Moves c to admission stage st (the per-listener counters and their metrics follow). */
void tsb_ingest_set_stage(struct conn *c, enum conn_stage st);
/* Why c may not enter stage st (pending at accept, serving at HELLO), into why; false if it may. */
bool tsb_ingest_over_budget(const struct conn *c, enum conn_stage st, char *why, size_t n);
/* Frees the ingest (then calls its stopped callback) once it is stopping and nothing is left. */
void tsb_ingest_maybe_stopped(struct tsb_ingest *in);

/* ---- ingest_req.c: requests ---- */

/* Handles one frame read from c (f may point into c's input: used before it is consumed). */
void tsb_ingest_handle_frame(struct conn *c, const struct tsb_frame *f);
/* Appends the reply of r to b. */
int tsb_ingest_encode_reply(const struct conn *c, const struct req *r, struct tsb_buf *b);

#endif
