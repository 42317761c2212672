/*
 * daemon_util: real tsbagd processes for integration tests. Setup failures abort (a test that
 * cannot set itself up must not pass).
 */
#include "daemon_util.h"

#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define need(x)                                                                                    \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: test setup failed: %s\n", __FILE__, __LINE__, #x);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

const char *tsbd_program(const char *env, const char *rel)
{
    static char buf[4][4096];
    static int next;
    const char *v = getenv(env);
    if (v != NULL && *v)
        return v;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof(buf[0]), "%s/%s", tsb_test_binary_dir(), rel);
    return b;
}

/* Daemons still running when the test program exits (a failed assertion skipped their stop). */
static pid_t live[16];

static void kill_live(void)
{
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
}

static void track(pid_t pid, bool add)
{
    static bool registered;
    if (!registered) {
        atexit(kill_live);
        registered = true;
    }
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        if (add ? live[i] == 0 : live[i] == pid) {
            live[i] = add ? pid : 0;
            return;
        }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int raw_connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    need(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int raw_connect_tcp(int port)
{
    return raw_connect_tcp_from(port, NULL);
}

int raw_connect_tcp_from(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    need(fd >= 0);
    if (src != NULL) {
        struct sockaddr_in from = {.sin_family = AF_INET};
        need(inet_pton(AF_INET, src, &from.sin_addr) == 1);
        need(bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0);
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void tsbd_start(struct tsbd *d, const char *dir, long fsize_limit, const char *const *overrides)
{
    const char *bin = tsbd_program("TSBAGD", "src/daemon/tsbagd");
    char *args[64];
    char sd[4200];
    int n = 0;

    memset(d, 0, sizeof(*d));
    d->dir = strdup(dir);
    d->sock = tsb_test_path(dir, "tsbagd.sock");
    d->log = tsb_test_path(dir, "tsbagd.log");
    char *port_file = tsb_test_path(dir, "tsbagd.port");
    unlink(port_file); /* a previous run's port must not be mistaken for this one's */
    free(port_file);
    snprintf(sd, sizeof(sd), "general.state_dir=%s", dir);
    args[n++] = (char *)bin;
    args[n++] = "-s";
    args[n++] = sd;
    args[n++] = "-s"; /* ingest only unless a test turns the sealer and sender back on */
    args[n++] = "sealer.enabled=false";
    args[n++] = "-s"; /* no /metrics unless a test asks: never the default port 9180 */
    args[n++] = "metrics.listen=";
    for (const char *const *o = overrides; o && *o && n < 60; o++) {
        args[n++] = "-s";
        args[n++] = (char *)*o;
    }
    args[n] = NULL;

    pid_t pid = fork();
    need(pid >= 0);
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        if (fsize_limit > 0) {
            struct rlimit rl = {(rlim_t)fsize_limit, (rlim_t)fsize_limit};
            signal(SIGXFSZ, SIG_IGN); /* ignored dispositions survive exec: write gets EFBIG */
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        execv(bin, args);
        _exit(127);
    }
    d->pid = pid;
    track(pid, true);
    bool tcp = false;
    for (const char *const *o = overrides; o && *o; o++)
        if (strncmp(*o, "ingest.tcp_listen=", 18) == 0 && (*o)[18] != '\0')
            tcp = true;
    for (int i = 0; i < 2000; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            tsb_test_sh("cat '%s' >&2", d->log);
            fprintf(stderr, "tsbagd exited during start\n");
            abort();
        }
        int fd = raw_connect_unix(d->sock);
        if (fd >= 0) {
            close(fd);
            if (!tcp)
                return;
            /* the port file is written once TCP listens, after the Unix socket */
            char *pf = tsb_test_path(dir, "tsbagd.port");
            size_t len;
            char *txt = (char *)tsb_test_read_file(pf, &len);
            free(pf);
            if (txt != NULL) {
                d->tcp_port = atoi(txt);
                free(txt);
                need(d->tcp_port > 0);
                return;
            }
        }
        sleep_ms(10);
    }
    tsb_test_sh("cat '%s' >&2", d->log);
    fprintf(stderr, "tsbagd did not accept within 20 s\n");
    abort();
}

int tsbd_wait(struct tsbd *d, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
        int status;
        pid_t r = waitpid(d->pid, &status, WNOHANG);
        if (r == d->pid) {
            track(d->pid, false);
            d->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(5);
    }
    return -1;
}

int tsbd_stop(struct tsbd *d)
{
    need(d->pid > 0);
    kill(d->pid, SIGTERM);
    int rc = tsbd_wait(d, 30000);
    need(rc != -1);
    return rc;
}

void tsbd_kill9(struct tsbd *d)
{
    need(d->pid > 0);
    kill(d->pid, SIGKILL);
    int status;
    need(waitpid(d->pid, &status, 0) == d->pid);
    track(d->pid, false);
    d->pid = 0;
}

void tsbd_cleanup(struct tsbd *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        track(d->pid, false);
    }
    free(d->dir);
    free(d->sock);
    free(d->log);
    memset(d, 0, sizeof(*d));
}

void raw_send(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the daemon may have closed already: the reply read reports it */
        b += w;
        n -= (size_t)w;
    }
}

static int read_exact(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 20000) <= 0)
            return -1;
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

int raw_read_frame(int fd, struct tsb_buf *b, uint8_t *type, struct tsb_slice *body)
{
    uint8_t hdr[4];
    int r = read_exact(fd, hdr, 4);
    if (r <= 0)
        return r;
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (len == 0 || len > (1u << 24))
        return -1;
    tsb_buf_reset(b);
    if (tsb_buf_reserve(b, len) != 0)
        return -1;
    if (read_exact(fd, b->p, len) != 1)
        return -1;
    b->len = len;
    *type = b->p[0];
    body->p = b->p + 1;
    body->len = len - 1;
    return 1;
}

bool raw_wait_closed(int fd, int timeout_ms)
{
    uint8_t junk[4096];
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, timeout_ms) <= 0)
            return false;
        ssize_t r = recv(fd, junk, sizeof(junk), 0);
        if (r <= 0)
            return true;
    }
}

unsigned raw_try_hello(int fd, const char *source, bool *closing)
{
    struct tsb_buf b;
    uint8_t type = 0;
    struct tsb_slice body;
    struct tsb_nack_reply n = {0};
    unsigned code = RAW_NO_REPLY;
    tsb_buf_init(&b, 1 << 20);
    need(tsb_frame_put_hello(&b, 1, (struct tsb_slice){(const uint8_t *)source, strlen(source)}) ==
         0);
    raw_send(fd, b.p, b.len);
    if (raw_read_frame(fd, &b, &type, &body) == 1) {
        if (type == TSB_FT_HELLO_OK)
            code = 0;
        else if (type == TSB_FT_NACK && tsb_frame_parse_nack(body, &n) == 0)
            code = n.code;
    }
    if (closing != NULL)
        *closing = n.closing;
    tsb_buf_cleanup(&b);
    return code;
}

void raw_hello(int fd, const char *source)
{
    struct tsb_buf b;
    uint8_t type;
    struct tsb_slice body;
    tsb_buf_init(&b, 1 << 20);
    need(tsb_frame_put_hello(&b, 1, (struct tsb_slice){(const uint8_t *)source, strlen(source)}) ==
         0);
    raw_send(fd, b.p, b.len);
    need(raw_read_frame(fd, &b, &type, &body) == 1);
    need(type == TSB_FT_HELLO_OK);
    tsb_buf_cleanup(&b);
}
