/*
 * fetch_sync: one blocking HTTPS POST for programs without an event loop (the tsbag CLI's
 * reconcile and renew verbs, test tools). It runs fetch.c on a private libuv loop until the answer
 * is in and every handle is closed, so TLS rules, timeouts, size cap and error classes are exactly
 * those of the daemon's TSA client.
 */
#ifndef TSB_FETCH_SYNC_H
#define TSB_FETCH_SYNC_H

#include "fetch.h"
#include "mem.h"

#include <stddef.h>
#include <stdint.h>

/* POSTs body to url with fetch.c (o as for tsb_fetch_new; soap_action NULL sends none) and
 * appends the answer to resp whatever the HTTP status (SOAP faults come with 500); *status gets
 * it. Returns 0, TSB_EINVAL, TSB_ENET (network, TLS), TSB_ETIMEOUT, TSB_ETOOBIG (also when resp's
 * own cap is exceeded), with fetch's one-line error in the detail. */
int tsb_fetch_sync_post(const struct tsb_fetch_opts *o, const char *url, const char *soap_action,
                        const uint8_t *body, size_t len, struct tsb_buf *resp, long *status);

/* The same for any request (rq as for tsb_fetch_post: Content-Type, Accept, basic
 * authentication), e.g. an RFC 3161 application/timestamp-query. */
int tsb_fetch_sync_request(const struct tsb_fetch_opts *o, const struct tsb_fetch_request *rq,
                           struct tsb_buf *resp, long *status);

#endif
