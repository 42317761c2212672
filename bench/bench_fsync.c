/*
 * bench_fsync: the ack latency this disk allows an ideal group-commit server, the floor under
 * tsbagd's steady-rate figures (bench/run-ingest.sh runs it beside them, on the same disk, for
 * the same time). Entries "arrive" at RATE per second on a fixed schedule; whenever entries are
 * waiting and no commit is running, one commit takes them all: a write appending their bytes
 * (ENTRY_BYTES each, in whole 4 KiB pages, plus one page, as a WAL commit of a batch does) to a
 * file that starts again at its beginning past 8 MiB (a WAL restarting), then fdatasync. An
 * entry's latency is from its arrival to the end of the fdatasync of its commit: no CPU, no
 * socket, no SQLite, only the disk. Also the fdatasync durations themselves.
 *
 *   bench_fsync DIR [RATE [SECONDS [ENTRY_BYTES]]]     (defaults 10000, 10 and 256)
 *
 * Not part of the tests; the file DIR/bench-fsync.tmp is removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE      4096
#define WRAP      (8u << 20)
#define MAX_BATCH (1u << 20) /* bytes of one write at most */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u), .tv_nsec = (long)(t % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const uint64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)n);
    return (double)v[i < n ? i : n - 1] / 1e6;
}

static void report(const char *what, uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    printf("  %-34s p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms (n=%zu)\n", what,
           pct_ms(v, n, 0.50), pct_ms(v, n, 0.99), pct_ms(v, n, 0.999), pct_ms(v, n, 1.0), n);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_fsync DIR [RATE [SECONDS [ENTRY_BYTES]]]\n");
        return 2;
    }
    double rate = argc > 2 ? atof(argv[2]) : 10000, secs = argc > 3 ? atof(argv[3]) : 10;
    long entry_bytes = argc > 4 ? atol(argv[4]) : 256;
    if (rate <= 0 || secs <= 0 || entry_bytes <= 0) {
        fprintf(stderr, "bench_fsync: RATE, SECONDS and ENTRY_BYTES must be positive\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/bench-fsync.tmp", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "bench_fsync: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t n = (size_t)(rate * secs);
    uint64_t *lat = malloc(n * sizeof(*lat)), *syncs = malloc(n * sizeof(*syncs));
    char *buf = malloc(MAX_BATCH);
    if (lat == NULL || syncs == NULL || buf == NULL) {
        fprintf(stderr, "bench_fsync: out of memory\n");
        return 1;
    }
    memset(buf, 0x5a, MAX_BATCH);
    double gap = 1e9 / rate;
    uint64_t t0 = now_ns() + 1000000u, off = 0;
    size_t done = 0, commits = 0;
    while (done < n) {
        uint64_t now = now_ns(), first = t0 + (uint64_t)((double)done * gap);
        if (now < first) {
            sleep_until(first);
            now = now_ns();
        }
        size_t waiting = (size_t)((double)(now - t0) / gap) + 1; /* arrivals up to now */
        if (waiting <= done) /* rounding: entry `done` has arrived, now >= its time */
            waiting = done + 1;
        if (waiting > n)
            waiting = n;
        size_t k = waiting - done;
        size_t bytes = ((size_t)k * (size_t)entry_bytes + PAGE - 1) / PAGE * PAGE + PAGE;
        if (bytes > MAX_BATCH)
            bytes = MAX_BATCH;
        if (off + bytes > WRAP)
            off = 0;
        uint64_t s0 = now_ns();
        if (pwrite(fd, buf, bytes, (off_t)off) != (ssize_t)bytes || fdatasync(fd) != 0) {
            fprintf(stderr, "bench_fsync: %s: %s\n", path, strerror(errno));
            return 1;
        }
        uint64_t end = now_ns();
        off += bytes;
        syncs[commits++] = end - s0;
        for (size_t i = done; i < waiting; i++)
            lat[i] = end - (t0 + (uint64_t)((double)i * gap));
        done = waiting;
    }
    double wall = (double)(now_ns() - t0) / 1e9;
    close(fd);
    unlink(path);
    printf("bench_fsync: %s, %.0f entries/s for %.1f s, %ld bytes per entry: %zu commits "
           "(%.0f/s, %.1f entries each)\n",
           argv[1], rate, wall, entry_bytes, commits, (double)commits / wall,
           (double)n / (double)commits);
    report("fdatasync of one commit", syncs, commits);
    report("entry latency (ideal group commit)", lat, n);
    printf("RESULT fsync_p99_ms=%.3f floor_p50_ms=%.3f floor_p99_ms=%.3f floor_p999_ms=%.3f\n",
           pct_ms(syncs, commits, 0.99), pct_ms(lat, n, 0.50), pct_ms(lat, n, 0.99),
           pct_ms(lat, n, 0.999));
    free(lat);
    free(syncs);
    free(buf);
    return 0;
}
