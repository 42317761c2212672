/*
 * cpus: keeps the archive writer and the event loop off one CPU (writer.own_cpu). The loop
 * thread and the writer hand every entry to each other; left to the kernel, both often land on
 * one CPU, and each then waits for the other's turn there, up to a scheduler tick (4 ms), while
 * the other CPU idles. docs/internals/WRITER.md, "A CPU of its own".
 */
#ifndef TSB_CPUS_H
#define TSB_CPUS_H

#include <stdbool.h>

/* On the main thread, before any other thread starts. When own_cpu and the process may run on
 * 2 CPUs or more (its affinity mask): restricts the calling thread, and so every thread created
 * after it, to all of them but the last, and returns that last one (the writer's); else -1, and
 * nothing changed. A mask that cannot be read or set is logged and leaves everything as it was. */
int tsb_cpus_reserve(bool own_cpu);

/* The calling thread on cpu alone; 0, or -1 with a warning logged (it keeps the mask it had). */
int tsb_cpus_pin_self(int cpu, const char *thread);

#endif
