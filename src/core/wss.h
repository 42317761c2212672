/*
 * wss: WS-Security X.509 signing of an outgoing SOAP 1.1 envelope, as the eHealth services expect
 * it (protocol reference §5.1/§5.3): a wsse:Security header (mustUnderstand="1") holding the
 * hospital certificate as BinarySecurityToken, a wsu:Timestamp (Created, Expires = Created + TTL,
 * milliseconds, UTC) and a ds:Signature over Body, Timestamp and BinarySecurityToken with exc-c14n
 * (no InclusiveNamespaces), rsa-sha256 or ecdsa-sha256 by key type, sha256 digests, and KeyInfo
 * pointing at the token through wsse:SecurityTokenReference. Called by dss.c when it builds a
 * request; the signed document must be serialised without reformatting.
 */
#ifndef TSB_WSS_H
#define TSB_WSS_H

#include "keystore.h"

#include <libxml/tree.h>
#include <stdint.h>

#define TSB_NS_SOAP11 "http://schemas.xmlsoap.org/soap/envelope/"
#define TSB_NS_WSSE                                                                                \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define TSB_NS_WSU                                                                                 \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
#define TSB_NS_DSIG "http://www.w3.org/2000/09/xmldsig#"

/* Longest base64 text of the hospital certificate in the BinarySecurityToken. */
#define TSB_WSS_CERT_B64_MAX (1 << 20)

struct tsb_wss_opts {
    int64_t now_ms; /* wsu:Created */
    int64_t ttl_s;  /* wsu:Expires - wsu:Created */
};

/* Signs env (a SOAP 1.1 Envelope with a Body; a Header is added if missing) in place with the
 * keystore's key. Every wsu:Id it adds is registered as an XML ID. Returns 0, TSB_EFORMAT when env
 * is not an envelope, TSB_ESECURITY when xmlsec fails to sign. */
int tsb_wss_sign(xmlDocPtr env, const struct tsb_keystore *ks, const struct tsb_wss_opts *o);

/* Formats ms since the epoch as xs:dateTime with milliseconds and Z into out[64]. */
void tsb_wss_format_time(int64_t ms, char out[64]);

#endif
