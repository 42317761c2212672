/*
 * https_post: one blocking HTTPS POST of a SOAP 1.1 message, for programs without an event loop
 * (the tsbag CLI's reconcile verb and test tools). libcurl easy interface with the TLS rules of
 * DESIGN.md: one-way TLS, TLS 1.2 minimum, peer and host verified against the configured CA file,
 * connect and total timeouts, and a hard cap on the answer's size. The daemon uses the libuv-driven
 * client instead; this is for the CLI only.
 */
#ifndef TSB_HTTPS_POST_H
#define TSB_HTTPS_POST_H

#include "mem.h"

#include <stddef.h>
#include <stdint.h>

struct tsb_https_opts {
    const char *ca_file;     /* PEM bundle of trusted CAs; NULL or "" uses the system store */
    const char *soap_action; /* NULL: no SOAPAction header (TimeStampConsult sends none) */
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    size_t max_response; /* answers above this are refused with TSB_ETOOBIG */
};

/* POSTs body to url (https:// only) as text/xml; charset=utf-8 and appends the answer to resp
 * (any HTTP status: SOAP faults come with 500). *status gets the HTTP status. Returns 0,
 * TSB_EINVAL (not an https URL), TSB_ENET (connection, TLS), TSB_ETIMEOUT, TSB_ETOOBIG. */
int tsb_https_post(const char *url, const struct tsb_https_opts *o, const uint8_t *body, size_t len,
                   struct tsb_buf *resp, long *status);

#endif
