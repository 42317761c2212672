/* A fault-injecting SQLite VFS for tests (fault_vfs.c). */
#ifndef TSB_FAULT_VFS_H
#define TSB_FAULT_VFS_H

#define TSB_FAULT_VFS "tsbfault"
#define TSB_FAULT_DB  1 /* the main database file */
#define TSB_FAULT_WAL 2 /* its write-ahead log */

extern int tsb_fault_fail_writes; /* TSB_FAULT_* mask: xWrite on those files fails */
extern int tsb_fault_fail_syncs;  /* TSB_FAULT_* mask: xSync on those files fails */
extern int tsb_fault_writes_failed, tsb_fault_syncs_failed; /* failures returned so far */

/* Registers the VFS (not as the default) once; later calls do nothing. */
void tsb_fault_vfs_register(void);

#endif
