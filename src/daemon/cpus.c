/*
 * cpus: the writer's CPU of its own (cpus.h). sched_getaffinity/sched_setaffinity with pid 0 act
 * on the calling thread only; a thread inherits its creator's mask, so the main thread's mask,
 * set before anything else starts, is every other thread's (the checkpointer, sealer, sender,
 * metrics server, libuv's pool).
 */
#include "cpus.h"

#include "log.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

int tsb_cpus_reserve(bool own_cpu)
{
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
        tsb_warn("tsbagd: cannot read the CPU affinity mask (%s); writer.own_cpu is ignored",
                 strerror(errno));
        return -1;
    }
    int n = CPU_COUNT(&allowed), last = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &allowed))
            last = cpu;
    if (!own_cpu || n < 2) {
        tsb_debug("tsbagd: %d CPU(s) allowed%s; every thread may run on any of them", n,
                  own_cpu ? "" : " and writer.own_cpu=false");
        return -1;
    }
    cpu_set_t rest = allowed;
    CPU_CLR(last, &rest);
    if (sched_setaffinity(0, sizeof(rest), &rest) != 0) {
        tsb_warn("tsbagd: cannot set the CPU affinity mask (%s); writer.own_cpu is ignored",
                 strerror(errno));
        return -1;
    }
    tsb_info("tsbagd: the writer thread runs on CPU %d alone, every other thread on the %d other "
             "CPU(s) allowed (writer.own_cpu)",
             last, n - 1);
    return last;
}

int tsb_cpus_pin_self(int cpu, const char *thread)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) {
        tsb_warn("tsbagd: %s: cannot keep to CPU %d (%s); it shares the other threads' CPUs",
                 thread, cpu, strerror(errno));
        return -1;
    }
    return 0;
}
