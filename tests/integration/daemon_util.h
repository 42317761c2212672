/*
 * daemon_util: helpers for tests that run a real tsbagd process: start it on a temporary state
 * folder with overrides, wait until its Unix socket accepts, stop it (SIGTERM) or kill it
 * (SIGKILL), and speak raw frames over blocking sockets (for inputs no well-behaved client sends).
 */
#ifndef TSB_DAEMON_UTIL_H
#define TSB_DAEMON_UTIL_H

#include "frame.h"
#include "mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tsbd {
    pid_t pid;
    char *dir;    /* state folder */
    char *sock;   /* Unix socket path */
    char *log;    /* stderr of the daemon */
    int tcp_port; /* from <dir>/tsbagd.port when TCP is on, else 0 */
};

/* Starts tsbagd ($TSBAGD or <binary dir>/src/daemon/tsbagd) with general.state_dir=dir and the
 * NULL-terminated overrides, waits until it accepts on its socket (aborts the test after 20 s).
 * fsize_limit > 0 sets RLIMIT_FSIZE (and ignores SIGXFSZ) in the daemon only. */
void tsbd_start(struct tsbd *d, const char *dir, long fsize_limit, const char *const *overrides);
/* SIGTERM and wait; returns the exit status (or 128+signal). */
int tsbd_stop(struct tsbd *d);
/* SIGKILL and wait. */
void tsbd_kill9(struct tsbd *d);
/* Waits for the daemon to exit by itself; returns the exit status (or 128+signal, -1 on timeout).
 */
int tsbd_wait(struct tsbd *d, int timeout_ms);
void tsbd_cleanup(struct tsbd *d);

/* Blocking raw sockets. */
int raw_connect_unix(const char *path);
int raw_connect_tcp(int port);
/* The same from the local address src (e.g. "127.0.0.2", any of 127.0.0.0/8), NULL for any. */
int raw_connect_tcp_from(int port, const char *src);
void raw_send(int fd, const void *p, size_t n);
/* Reads one whole frame into b (reset first): 1, 0 on clean EOF before any byte, -1 on error. */
int raw_read_frame(int fd, struct tsb_buf *b, uint8_t *type, struct tsb_slice *body);
/* Reads until EOF or error; true if the peer closed (EOF or reset) within timeout_ms. */
bool raw_wait_closed(int fd, int timeout_ms);
/* HELLO and its HELLO_OK. */
void raw_hello(int fd, const char *source);
#define RAW_NO_REPLY 0xFFFFu
/* HELLO and whatever comes back: 0 for HELLO_OK, the NACK code (closing flag in *closing, may be
 * NULL), or RAW_NO_REPLY when the connection ended without a reply. */
unsigned raw_try_hello(int fd, const char *source, bool *closing);

/* Path of a built program: $<env> or <binary dir>/<rel>. */
const char *tsbd_program(const char *env, const char *rel);

#endif
