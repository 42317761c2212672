/*
 * listen: binding tsbagd's Unix and TCP listeners, parsing their addresses, the port file.
 * Invariant: a Unix socket is never reachable with a mode more open than configured.
 */
#include "listen.h"

#include "err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNIX_PATH_MAX 100 /* below sun_path's size on every platform we run on */
#define BACKLOG       511

int tsb_listen_parse(const char *option, const char *spec, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec || colon[1] == '\0')
        return tsb_err(TSB_ECONFIG, "%s '%s' is not host:port", option, spec);
    size_t hl = (size_t)(colon - spec);
    const char *h = spec;
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
        h = spec + 1;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        return tsb_err(TSB_ECONFIG, "%s host too long", option);
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port < 0 || port > 65535)
        return tsb_err(TSB_ECONFIG, "%s port '%s' is not 0-65535", option, colon + 1);
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) != 0)
        return tsb_err(TSB_ECONFIG, "%s host '%s' is not an IPv4 or IPv6 address", option, host);
    return 0;
}

int tsb_listen_unix(uv_loop_t *loop, uv_pipe_t *srv, const char *path, int mode,
                    uv_connection_cb cb)
{
    struct stat st;
    int e;

    uv_pipe_init(loop, srv, 0);
    if (strlen(path) >= UNIX_PATH_MAX)
        return tsb_err(TSB_ECONFIG, "ingest.unix_socket '%s' is longer than a socket path may be",
                       path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return tsb_err(TSB_ECONFIG, "%s exists and is not a socket", path);
        unlink(path); /* a stale socket: tsbagd holds <state_dir>/tsbagd.lock, no twin uses it */
    }
    mode_t old = umask(0177); /* no window in which the socket is more open than configured */
    e = uv_pipe_bind(srv, path);
    umask(old);
    if (e != 0)
        return tsb_err(TSB_EIO, "%s: bind: %s", path, uv_strerror(e));
    if (chmod(path, (mode_t)mode) != 0)
        return tsb_err(TSB_EIO, "%s: chmod: %s", path, strerror(errno));
    if ((e = uv_listen((uv_stream_t *)srv, BACKLOG, cb)) != 0)
        return tsb_err(TSB_EIO, "%s: listen: %s", path, uv_strerror(e));
    return 0;
}

static int port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                          : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

int tsb_listen_tcp(uv_loop_t *loop, uv_tcp_t *srv, const char *option, const char *spec,
                   uv_connection_cb cb, int *port)
{
    struct sockaddr_storage ss;
    int e, r;

    uv_tcp_init(loop, srv);
    if ((r = tsb_listen_parse(option, spec, &ss)) != 0)
        return r;
    if ((e = uv_tcp_bind(srv, (struct sockaddr *)&ss, 0)) != 0 ||
        (e = uv_listen((uv_stream_t *)srv, BACKLOG, cb)) != 0)
        return tsb_err(TSB_EIO, "%s %s: %s", option, spec, uv_strerror(e));
    int len = sizeof(ss);
    if ((e = uv_tcp_getsockname(srv, (struct sockaddr *)&ss, &len)) != 0)
        return tsb_err(TSB_EIO, "%s %s: getsockname: %s", option, spec, uv_strerror(e));
    *port = port_of(&ss);
    return 0;
}

int tsb_listen_write_port_file(const char *dir, const char *name, int port)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return tsb_err(TSB_EIO, "%s: %s", tmp, strerror(errno));
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return tsb_err(TSB_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

void tsb_listen_peer(const uv_tcp_t *h, char *addr, size_t addr_len, char *peer, size_t peer_len)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(h, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((const struct sockaddr_in *)&ss, host, sizeof(host));
        else
            uv_ip6_name((const struct sockaddr_in6 *)&ss, host, sizeof(host));
        port = port_of(&ss);
    }
    snprintf(addr, addr_len, "%s", host);
    snprintf(peer, peer_len, "%s:%d", host, port);
}
