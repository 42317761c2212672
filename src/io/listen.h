/*
 * listen: tsbagd's listening sockets. The Unix socket is created with the configured mode and
 * never more open than that, even for an instant (umask around bind, then chmod); a stale socket
 * left by a crash is replaced (the daemon's lock file guarantees no twin uses it). TCP binds a
 * "host:port" and reports the bound port through a port file that readers never see half
 * written. Loop thread only; ingest (src/daemon/ingest.c) and the metrics endpoint use it.
 */
#ifndef TSB_LISTEN_H
#define TSB_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

/* Parses "host:port" (IPv4, or IPv6 in brackets; port 0-65535) given for option into ss;
 * TSB_ECONFIG naming the option and what is wrong otherwise. */
int tsb_listen_parse(const char *option, const char *spec, struct sockaddr_storage *ss);

/* Initialises srv, binds it at path with mode (a stale socket there is replaced, anything else is
 * refused) and starts listening with cb. srv is initialised whatever the result: the caller closes
 * it with uv_close. Errors name the path. */
int tsb_listen_unix(uv_loop_t *loop, uv_pipe_t *srv, const char *path, int mode,
                    uv_connection_cb cb);

/* Initialises srv, binds it to spec (the value of option, "host:port") and starts listening with
 * cb; *port gets the bound port (port 0 picks a free one). srv is initialised whatever the result:
 * the caller closes it with uv_close. Errors name the option and the address. */
int tsb_listen_tcp(uv_loop_t *loop, uv_tcp_t *srv, const char *option, const char *spec,
                   uv_connection_cb cb, int *port);

/* Writes port into dir/name through a temporary file and a rename. TSB_EIO naming the file. */
int tsb_listen_write_port_file(const char *dir, const char *name, int port);

/* The peer of an accepted TCP connection: addr gets its address ("?" if unknown), peer
 * "address:port", for logs and the per-source budget. */
void tsb_listen_peer(const uv_tcp_t *h, char *addr, size_t addr_len, char *peer, size_t peer_len);

#endif
