/*
 * json: the JSON documents tsbag prints and records (`--json` of the CLI verbs, the reconcile
 * report kept in the archive), built with jansson; json.c is the only file that includes
 * jansson.h. Objects keep their keys in insertion order and are written compact, so a
 * document's field order is the order of the calls that built it. Strings are always valid
 * UTF-8 in the output: a byte that is not part of a UTF-8 sequence becomes U+FFFD. Allocation
 * failures abort (as mem.h). Callers: reconcile.c and the CLI verbs.
 */
#ifndef TSB_JSON_H
#define TSB_JSON_H

#include "mem.h"

#include <stdbool.h>
#include <stdint.h>

struct json_t; /* jansson's value; opaque outside json.c */

/* A new empty object or array, owned by the caller (tsb_json_free). */
struct json_t *tsb_json_object(void);
struct json_t *tsb_json_array(void);
/* A string value (NULL gives null), an integer, a boolean, null. */
struct json_t *tsb_json_str(const char *s);
struct json_t *tsb_json_int(int64_t v);
struct json_t *tsb_json_bool(bool v);
struct json_t *tsb_json_null(void);
/* Drops the caller's reference (children go with their parent). Accepts NULL. */
void tsb_json_free(struct json_t *v);

/* obj[key] = v, taking v (a key set twice keeps its first place and the last value). */
void tsb_json_set(struct json_t *obj, const char *key, struct json_t *v);
void tsb_json_set_str(struct json_t *obj, const char *key, const char *s);
void tsb_json_set_int(struct json_t *obj, const char *key, int64_t v);
void tsb_json_set_bool(struct json_t *obj, const char *key, bool v);
/* Appends v to arr, taking v. */
void tsb_json_append(struct json_t *arr, struct json_t *v);

/* Appends doc (any value, not only an object or array), compact and in insertion order, to out.
 * TSB_ETOOBIG past out's cap (out keeps what it held). */
int tsb_json_dump(const struct json_t *doc, struct tsb_buf *out);
/* The same on one line with ", " and ": " between items (for output read by people too). */
int tsb_json_dump_line(const struct json_t *doc, struct tsb_buf *out);

#endif
