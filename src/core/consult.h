/*
 * consult: the TimeStampConsult v2 codec (protocol reference §6). Builds the SOAP 1.1 envelopes of
 * checkCompleteness (TSConsultRequest) and getTimestamp (TSConsultTSBagRequest), unsigned (the
 * caller signs them with wss.c like a SignRequest), and parses their answers (TSConsultResponse,
 * TSConsultTSBagResponse or a SOAP 1.1 Fault) with the hardened parser and hard caps on every
 * count and size. The parser copies each embedded dss:SignResponse out as a standalone document
 * so that dss.c decodes its token exactly as for a stamp. Pure: no network, no archive. Callers:
 * reconcile.c and the fuzz target.
 */
#ifndef TSB_CONSULT_H
#define TSB_CONSULT_H

#include "bag.h"
#include "mem.h"

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSB_CONSULT_GET_MAX    10     /* TSList items per getTimestamp (maxOccurs="10") */
#define TSB_CONSULT_SERIAL_MAX 50     /* RFC 3161 caps serialNumber at 160 bits: 49 digits + NUL */
#define TSB_CONSULT_LIST_MAX   200000 /* TSList items accepted in one TSConsultResponse */
#define TSB_CONSULT_TEXT_MAX   256    /* Error/Type and fault strings are cut to this */

/* A TimeStampIdentification: the token's serial (decimal text) and genTime in ms. */
struct tsb_tsid {
    char serial[TSB_CONSULT_SERIAL_MAX];
    int64_t date_ms;
};

/* Checks that s is a decimal serial of 1..40 digits; TSB_EINVAL otherwise. */
int tsb_tsid_set(struct tsb_tsid *id, const char *serial, int64_t date_ms);

/* The checkCompleteness request for [from_ms, to_ms] (inclusive) listing ids[n], in namespace ns
 * (v2 by default), as an unsigned SOAP envelope (empty Header, Body). *out: xmlFreeDoc. */
int tsb_consult_build_check(enum tsb_bag_ns ns, const char *id_hospital, int64_t from_ms,
                            int64_t to_ms, const struct tsb_tsid *ids, size_t n, xmlDocPtr *out);
/* The getTimestamp request for ids[n], 1 <= n <= TSB_CONSULT_GET_MAX. *out: xmlFreeDoc. */
int tsb_consult_build_get(enum tsb_bag_ns ns, const char *id_hospital, const struct tsb_tsid *ids,
                          size_t n, xmlDocPtr *out);

enum tsb_consult_status { TSB_CONSULT_OK, TSB_CONSULT_INCOMPLETE, TSB_CONSULT_ERROR };
/* "OK", "INCOMPLETE", "ERROR". */
const char *tsb_consult_status_name(enum tsb_consult_status st);

struct tsb_consult_error {
    bool present;
    char type[TSB_CONSULT_TEXT_MAX]; /* printable, cut */
    char number[40];                 /* xs:integer as received (decimal, may exceed 64 bits) */
};

/* What one answer said. fault is true for a SOAP Fault (fault_code/fault_string set, nothing
 * else); otherwise the payload fields are set. */
struct tsb_consult_answer {
    bool fault;
    char fault_code[TSB_CONSULT_TEXT_MAX];
    char fault_string[TSB_CONSULT_TEXT_MAX];
    struct tsb_consult_error error;

    /* checkCompleteness */
    enum tsb_consult_status status;
    size_t n_ids;
    struct tsb_tsid *ids; /* the response TSList */

    /* getTimestamp */
    size_t n_bags;
    struct {
        struct tsb_buf bag;           /* TSBagValue, base64-decoded: the bag bytes */
        struct tsb_buf sign_response; /* the dss:SignResponse as a standalone document */
    } bags[TSB_CONSULT_GET_MAX];
};
void tsb_consult_answer_init(struct tsb_consult_answer *a);
void tsb_consult_answer_cleanup(struct tsb_consult_answer *a);

struct tsb_consult_limits {
    size_t max_response; /* whole message; 0 means 256 MiB */
    size_t max_bag;      /* one decoded TSBagValue; 0 means TSB_BAG_DEFAULT_MAX_BYTES */
};

/* Parses a checkCompleteness answer. 0 for a TSConsultResponse with a known Status or a Fault;
 * TSB_ETOOBIG, TSB_EFORMAT (not XML, another element, unknown Status, bad TSList item, ERROR
 * without Error), TSB_ENAMESPACE. a must be initialised; the detail says what was wrong. */
int tsb_consult_parse_check(const uint8_t *p, size_t len, enum tsb_bag_ns ns,
                            const struct tsb_consult_limits *lim, struct tsb_consult_answer *a);
/* Parses a getTimestamp answer: 0 for a TSConsultTSBagResponse (Error and/or up to 10 TSBag) or
 * a Fault; TSB_ETOOBIG (more than 10 bags, a bag over max_bag), TSB_EFORMAT (bad base64, a TSBag
 * without its SignResponse), TSB_ENAMESPACE. */
int tsb_consult_parse_get(const uint8_t *p, size_t len, enum tsb_bag_ns ns,
                          const struct tsb_consult_limits *lim, struct tsb_consult_answer *a);

#endif
