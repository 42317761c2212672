/*
 * keystore: the hospital's eHealth PKCS#12 keystore (the "authentication" key and certificate).
 * The password comes from a file (first line) or an environment variable; it is never logged and
 * every copy tsbag makes is wiped with OPENSSL_cleanse on every path. The private key never leaves
 * this module except through keystore_signer.h, which only the WS-Security signer includes.
 * Callers: the sender (at startup, once) and the tests.
 */
#ifndef TSB_KEYSTORE_H
#define TSB_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSB_KEYSTORE_ALIAS "authentication" /* PKCS#12 friendlyName eHealth gives the key */

struct tsb_keystore;

enum tsb_key_type { TSB_KEY_RSA, TSB_KEY_EC };

struct tsb_keystore_source {
    const char *path;          /* PKCS#12 file */
    const char *password_file; /* first line is the password; used when password_env is empty */
    const char *password_env;  /* name of an environment variable; NULL or "" for the file */
};

/* Loads the keystore: checks its MAC, takes the private key whose friendlyName is
 * "authentication" (or the only key when none is named so) and the certificate with the same
 * localKeyID or public key, plus the other certificates as chain. A part encrypted with a PBE
 * of OpenSSL's legacy provider (RC2-40, as older Java tools wrote) is decrypted with that
 * provider, with a warning. TSB_ECONFIG names what is wrong (unreadable file, wrong password, no
 * key, key/certificate mismatch, expired certificate, legacy provider missing). */
int tsb_keystore_load(const struct tsb_keystore_source *src, int64_t now_ms,
                      struct tsb_keystore **out);
void tsb_keystore_free(struct tsb_keystore *ks);
/* Checks that only the owner may access the keystore and, when the password comes from a file,
 * the password file: a file open to group or others is logged as a warning (returns 0) or, with
 * refuse, returns TSB_ECONFIG naming it. A missing file is left to tsb_keystore_load. */
int tsb_keystore_check_private(const struct tsb_keystore_source *src, bool refuse);
/* One secret file (what names its role in messages, exposes what a reader could copy): a file
 * open to group or others is logged as a warning (returns 0) or, with refuse, TSB_ECONFIG. A
 * missing file returns 0 (its reader names it). Also used for tsa2.credentials_file. */
int tsb_secret_file_check(const char *what, const char *path, const char *exposes, bool refuse);
/* Reads the first line of a secret file (line end removed) into out[cap], unbuffered so that no
 * copy stays in stdio; the caller wipes out. TSB_ECONFIG names the file (what) when it cannot be
 * opened or its first line does not fit. */
int tsb_secret_file_read(const char *path, const char *what, char *out, size_t cap);
/* An HTTP basic authentication file (tsa2.credentials_file, renew.credentials_file): checked
 * like a secret file (tsb_secret_file_check, what names the option), then its first line, which
 * must be user:password, read into out[cap]; the caller wipes out. TSB_ECONFIG names the file
 * and what is wrong (out wiped). */
int tsb_credentials_file_read(const char *what, const char *path, const char *exposes, bool refuse,
                              char *out, size_t cap);
/* Wipes the bytes of the environment variable name (NAME=value) and removes it, so that neither
 * a child process nor /proc/<pid>/environ shows the password once it has been read. NULL or ""
 * does nothing. */
void tsb_keystore_forget_env(const char *name);

/* The hospital certificate's notAfter, in ms since the epoch. */
int64_t tsb_keystore_not_after_ms(const struct tsb_keystore *ks);
/* How many CA certificates the keystore carries beside the hospital certificate. */
int tsb_keystore_ca_count(const struct tsb_keystore *ks);
/* Whether the hospital certificate chains to the keystore's own CA certificates (one of them may
 * be an intermediate: partial chains are accepted; validity dates as of now). 0 when it does;
 * TSB_ENOTFOUND when the keystore holds no CA certificate; TSB_ECONFIG when it does not chain,
 * the detail giving OpenSSL's reason; TSB_ECRYPTO when OpenSSL cannot allocate the check. */
int tsb_keystore_check_chain(const struct tsb_keystore *ks);
/* RSA or EC: decides the signature algorithm. */
enum tsb_key_type tsb_keystore_key_type(const struct tsb_keystore *ks);
/* One-line description for logs: subject, serial and expiry (no secret). */
const char *tsb_keystore_describe(const struct tsb_keystore *ks);

#endif
