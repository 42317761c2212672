/*
 * log: one-line log records to stderr (journald adds its own timestamps under systemd; a
 * terminal gets an ISO-8601 UTC prefix). Thread-safe: each record is a single write(2).
 * Never log secrets: passwords, private keys, keystore contents.
 */
#ifndef TSB_LOG_H
#define TSB_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum tsb_log_level { TSB_LOG_ERROR, TSB_LOG_WARN, TSB_LOG_INFO, TSB_LOG_DEBUG };

/* Sets the minimum level written and whether records carry a timestamp prefix. */
void tsb_log_setup(enum tsb_log_level level, bool timestamps);

/* Parses "error", "warn", "info" or "debug"; returns 0 or TSB_EINVAL. */
int tsb_log_level_parse(const char *s, enum tsb_log_level *out);

void tsb_log(enum tsb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs at error level and exits with status 1. For broken invariants and startup failures only;
 * never for peer input. */
_Noreturn void tsb_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Bag lifecycle events are single lines of key=value pairs starting with event=NAME
 * (docs/operations.md, "Log events"). Writes s into out as one value: double-quoted, with '"' and
 * '\\' escaped and control characters replaced by spaces, truncated to fit; returns out. */
const char *tsb_log_quote(const char *s, char *out, size_t size);

#define tsb_error(...) tsb_log(TSB_LOG_ERROR, __VA_ARGS__)
#define tsb_warn(...)  tsb_log(TSB_LOG_WARN, __VA_ARGS__)
#define tsb_info(...)  tsb_log(TSB_LOG_INFO, __VA_ARGS__)
#define tsb_debug(...) tsb_log(TSB_LOG_DEBUG, __VA_ARGS__)

#endif
