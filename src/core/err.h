/*
 * err: tsbag's error codes and the per-thread error detail.
 *
 * Every fallible function returns 0 or a negative TSB_E* code. A code says what kind of failure
 * happened; the detail (tsb_err_detail) says which input, which key, which byte. The detail is
 * thread-local so the writer thread and the loop thread never overwrite each other's message.
 * Work that runs on one thread and is reported on another carries its outcome in its own
 * struct tsb_result, filled where it ran and read only after the queue that hands the work back.
 */
#ifndef TSB_ERR_H
#define TSB_ERR_H

enum {
    TSB_OK = 0,
    TSB_EINTERNAL = -1,  /* a broken invariant inside tsbag */
    TSB_ENOMEM = -2,     /* only where a caller can recover; allocation wrappers abort */
    TSB_EINVAL = -3,     /* a caller passed an invalid argument */
    TSB_ETOOBIG = -4,    /* an input is over its configured cap */
    TSB_EFORMAT = -5,    /* malformed input (XML, frame, encoding) */
    TSB_ENAMESPACE = -6, /* an XML element in the wrong namespace */
    TSB_EALGORITHM = -7, /* an unsupported or unexpected algorithm */
    TSB_ENOTFOUND = -8,  /* the thing looked up does not exist */
    TSB_ESTATE = -9,     /* an operation not allowed in the object's current state */
    TSB_ESTORE = -10,    /* the archive database refused an operation (not a durability loss) */
    TSB_EDURABLE = -11,  /* a write or fsync failed: durability is lost, the caller must stop */
    TSB_EBUSY = -12,     /* the archive is locked by another writer */
    TSB_ECONFIG = -13,   /* a configuration file or value is wrong */
    TSB_EIO = -14,       /* a file or socket operation failed */
    TSB_ECRYPTO = -15,   /* a cryptographic library operation failed */
    TSB_ETOKEN = -16,    /* a timestamp token failed verification */
    TSB_ESECURITY = -17, /* WS-Security / signature / authentication failure */
    TSB_EPROTO = -18,    /* the peer broke the protocol (SOAP fault, DSS error, bad frame) */
    TSB_ENET = -19,      /* network failure: unreachable, reset, TLS handshake */
    TSB_ETIMEOUT = -20,  /* an operation timed out */
    TSB_ECONFLICT = -21, /* data disagrees with what is already archived */
    TSB_ECLOSED = -22,   /* the object or connection is shutting down */
    TSB_EDAMAGED = -23,  /* the archive file is damaged (SQLite: corrupt, not a database) */
    TSB_E_LAST = -24,
};

/* Short, stable name of a code ("malformed input"); never NULL, also for unknown codes. */
const char *tsb_strerror(int code);

/* Records a printf-style detail for the calling thread and returns code, so a failure site reads
 * `return tsb_err(TSB_EFORMAT, "frame length %u exceeds %u", n, max);`. */
int tsb_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last detail, or "" if none; valid until the next tsb_err on this thread. */
const char *tsb_err_detail(void);

/* Forgets the calling thread's detail. */
void tsb_err_clear(void);

/* TSB_ASSERT(cond): an invariant at a module boundary (a caller's promise the callee relies on,
 * e.g. "n bytes were reserved before tsb_buf_added(b, n)"). Checked where TSB_ASSERTS is defined
 * (cmake/Sanitizers.cmake: Debug, RelWithDebInfo and sanitizer builds, not Release): a violation
 * prints the condition and its place to stderr and aborts. Not for peer input, which gets an error
 * (STYLE.md); off, the condition is not evaluated. */
#ifdef TSB_ASSERTS
#define TSB_ASSERT(cond) ((cond) ? (void)0 : tsb_assert_failed(#cond, __FILE__, __LINE__, __func__))
#else
#define TSB_ASSERT(cond) ((void)sizeof(!(cond)))
#endif
_Noreturn void tsb_assert_failed(const char *cond, const char *file, int line, const char *func);

#define TSB_RESULT_MSG_MAX 512

/* The outcome of one piece of work, embedded in the job or work item it belongs to: written by
 * the thread that ran it, read by the thread it is handed back to, never shared with other work. */
struct tsb_result {
    int code;                     /* 0 or TSB_E* */
    char msg[TSB_RESULT_MSG_MAX]; /* the detail when code is not 0, else "" */
};

/* Records code and, when it is not 0, the calling thread's detail into res; returns code. */
int tsb_result_set(struct tsb_result *res, int code);

#endif
