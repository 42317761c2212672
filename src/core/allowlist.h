/*
 * allowlist: the TLS allow-list file (ingest.tls_allowlist) that maps client certificate
 * subjects to source system names, one "subject = source" per line ('#' comments, blank lines).
 * The subject is the certificate's RFC 2253 form; it may itself contain '=', so the last '=' on a
 * line separates it from the source. A list is immutable once loaded; tsbagd replaces it whole on
 * reload.
 */
#ifndef TSB_ALLOWLIST_H
#define TSB_ALLOWLIST_H

#include <stddef.h>

struct tsb_allowlist;

/* Reads path; sources must be 1..max_source printable ASCII bytes (the protocol's name rule).
 * TSB_ECONFIG naming path:line and what is wrong; *out is set only on success (caller frees). */
int tsb_allowlist_load(const char *path, size_t max_source, struct tsb_allowlist **out);

/* The source of subject (exact match; the first line wins), or NULL when it is not listed. The
 * string lives as long as the list. */
const char *tsb_allowlist_source(const struct tsb_allowlist *a, const char *subject);

/* Number of subjects listed. */
size_t tsb_allowlist_count(const struct tsb_allowlist *a);

void tsb_allowlist_free(struct tsb_allowlist *a);

#endif
