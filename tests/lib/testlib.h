/*
 * testlib: small helpers shared by the unit and integration tests: temporary folders, whole-file
 * reads, locating the source tree and ../shared, and running a shell command.
 * Include after <cmocka.h>'s prerequisites (stdarg, stddef, setjmp, stdint).
 */
#ifndef TSB_TESTLIB_H
#define TSB_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

/* Creates a fresh temporary folder (mkdtemp) and returns its path; free() it. */
char *tsb_test_tmpdir(void);
/* Removes a folder tree (rm -rf). */
void tsb_test_rmtree(const char *path);
/* Reads a whole file; returns NULL if it cannot. *len gets the size. free() the result. */
uint8_t *tsb_test_read_file(const char *path, size_t *len);
/* Writes len bytes to path; returns 0 or -1. */
int tsb_test_write_file(const char *path, const void *p, size_t len);
/* $TSB_SOURCE_DIR, $TSB_SHARED_DIR, $TSB_BINARY_DIR (set by ctest), with fallbacks. */
const char *tsb_test_source_dir(void);
const char *tsb_test_shared_dir(void);
const char *tsb_test_binary_dir(void);
/* Runs a shell command (printf-style) and returns its exit status (-1 if it did not exit). */
int tsb_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Joins a and b with '/' into a new string; free() it. */
char *tsb_test_path(const char *a, const char *b);

/* For tests that write or read the archive's digest index behind the store: schema 0015's key of
 * a journal row, spelled in SQL as the migration and the delete trigger spell it (the hash's
 * first three bytes from its hex digits), the Ref a key gives, and the count of keys that are a
 * journal row's. */
#define HEX_DIGIT(h, i) "(instr('0123456789ABCDEF', substr(hex(" h "), " #i ", 1)) - 1)"
#define KEY_OF(ref, h)                                                                              \
    "(((" ref                                                                                       \
    " >> 16) << 40) | (" HEX_DIGIT(h, 1) " << 36) | (" HEX_DIGIT(h, 2) " << 32) | (" HEX_DIGIT(     \
        h,                                                                                          \
        3) " << 28) | (" HEX_DIGIT(h,                                                               \
                                   4) " << 24) | (" HEX_DIGIT(h,                                    \
                                                              5) " << 20) | (" HEX_DIGIT(h,         \
                                                                                         6) " << "  \
                                                                                            "16) "  \
                                                                                            "| "    \
                                                                                            "(" ref \
                                                                                            " & "   \
                                                                                            "6553"  \
                                                                                            "5))"
#define KEY_REF "(((k >> 40) << 16) | (k & 65535))"
#define KEYS_OF_ENTRIES                                                                            \
    "SELECT count(*) FROM digest_keys d JOIN entries x ON d.k = " KEY_OF("x.ref", "x.hash")

#endif
