/*
 * fault_vfs: a SQLite VFS named "tsbfault" over the default one that fails xWrite or xSync of
 * an archive's database file or its WAL on demand (tsb_store_open_opts.vfs = TSB_FAULT_VFS), so
 * that tests force the durability paths of store.c and of the daemon's archive threads. The
 * masks are plain ints: set them while no other thread is inside SQLite on that VFS (or behind a
 * mutex hand-off, as tsb_checkpointer_run does).
 */
#include "fault_vfs.h"

#include <sqlite3.h>
#include <stdlib.h>

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_io;
int tsb_fault_fail_writes, tsb_fault_fail_syncs;
int tsb_fault_writes_failed, tsb_fault_syncs_failed;

struct fault_file {
    sqlite3_file base;
    sqlite3_file *real; /* allocated right after this struct, real_vfs->szOsFile bytes */
    int kind;           /* TSB_FAULT_DB, TSB_FAULT_WAL or 0 */
};

static sqlite3_file *R(sqlite3_file *f)
{
    return ((struct fault_file *)f)->real;
}

static int ff_close(sqlite3_file *f)
{
    return R(f)->pMethods->xClose(R(f));
}
static int ff_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return R(f)->pMethods->xRead(R(f), p, n, off);
}
static int ff_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    if (tsb_fault_fail_writes & ((struct fault_file *)f)->kind) {
        tsb_fault_writes_failed++;
        return SQLITE_IOERR_WRITE;
    }
    return R(f)->pMethods->xWrite(R(f), p, n, off);
}
static int ff_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return R(f)->pMethods->xTruncate(R(f), size);
}
static int ff_sync(sqlite3_file *f, int flags)
{
    if (tsb_fault_fail_syncs & ((struct fault_file *)f)->kind) {
        tsb_fault_syncs_failed++;
        return SQLITE_IOERR_FSYNC;
    }
    return R(f)->pMethods->xSync(R(f), flags);
}
static int ff_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return R(f)->pMethods->xFileSize(R(f), size);
}
static int ff_lock(sqlite3_file *f, int l)
{
    return R(f)->pMethods->xLock(R(f), l);
}
static int ff_unlock(sqlite3_file *f, int l)
{
    return R(f)->pMethods->xUnlock(R(f), l);
}
static int ff_check_reserved(sqlite3_file *f, int *out)
{
    return R(f)->pMethods->xCheckReservedLock(R(f), out);
}
static int ff_file_control(sqlite3_file *f, int op, void *arg)
{
    return R(f)->pMethods->xFileControl(R(f), op, arg);
}
static int ff_sector_size(sqlite3_file *f)
{
    return R(f)->pMethods->xSectorSize(R(f));
}
static int ff_device_characteristics(sqlite3_file *f)
{
    return R(f)->pMethods->xDeviceCharacteristics(R(f));
}
static int ff_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return R(f)->pMethods->xShmMap(R(f), pg, pgsz, extend, pp);
}
static int ff_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return R(f)->pMethods->xShmLock(R(f), off, n, flags);
}
static void ff_shm_barrier(sqlite3_file *f)
{
    R(f)->pMethods->xShmBarrier(R(f));
}
static int ff_shm_unmap(sqlite3_file *f, int del)
{
    return R(f)->pMethods->xShmUnmap(R(f), del);
}
static int ff_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return R(f)->pMethods->xFetch(R(f), off, n, pp);
}
static int ff_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return R(f)->pMethods->xUnfetch(R(f), off, p);
}

static int fv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    struct fault_file *ff = (struct fault_file *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    ff->kind = flags & SQLITE_OPEN_MAIN_DB ? TSB_FAULT_DB
               : flags & SQLITE_OPEN_WAL   ? TSB_FAULT_WAL
                                           : 0;
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    f->pMethods = ff->real->pMethods != NULL ? &fault_io : NULL;
    if (ff->real->pMethods != NULL)
        fault_io.iVersion = ff->real->pMethods->iVersion;
    return rc;
}
static int fv_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}
static int fv_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    return real_vfs->xAccess(real_vfs, name, flags, out);
}
static int fv_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}
static int fv_randomness(sqlite3_vfs *v, int n, char *out)
{
    return real_vfs->xRandomness(real_vfs, n, out);
}
static int fv_sleep(sqlite3_vfs *v, int us)
{
    return real_vfs->xSleep(real_vfs, us);
}
static int fv_current_time(sqlite3_vfs *v, double *out)
{
    return real_vfs->xCurrentTime(real_vfs, out);
}
static int fv_last_error(sqlite3_vfs *v, int n, char *out)
{
    return real_vfs->xGetLastError(real_vfs, n, out);
}
static int fv_current_time_i64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

void tsb_fault_vfs_register(void)
{
    if (real_vfs != NULL)
        return;
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL)
        abort();
    fault_io = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = ff_close,
        .xRead = ff_read,
        .xWrite = ff_write,
        .xTruncate = ff_truncate,
        .xSync = ff_sync,
        .xFileSize = ff_file_size,
        .xLock = ff_lock,
        .xUnlock = ff_unlock,
        .xCheckReservedLock = ff_check_reserved,
        .xFileControl = ff_file_control,
        .xSectorSize = ff_sector_size,
        .xDeviceCharacteristics = ff_device_characteristics,
        .xShmMap = ff_shm_map,
        .xShmLock = ff_shm_lock,
        .xShmBarrier = ff_shm_barrier,
        .xShmUnmap = ff_shm_unmap,
        .xFetch = ff_fetch,
        .xUnfetch = ff_unfetch,
    };
    fault_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct fault_file) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = "tsbfault",
        .xOpen = fv_open,
        .xDelete = fv_delete,
        .xAccess = fv_access,
        .xFullPathname = fv_full_pathname,
        .xRandomness = fv_randomness,
        .xSleep = fv_sleep,
        .xCurrentTime = fv_current_time,
        .xGetLastError = fv_last_error,
        .xCurrentTimeInt64 = fv_current_time_i64,
    };
    if (sqlite3_vfs_register(&fault_vfs, 0) != SQLITE_OK)
        abort();
}
