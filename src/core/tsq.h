/*
 * tsq: the RFC 3161 request and response of the second TSA ([tsa2]) and of tsbag renew: a
 * TimeStampReq over the SHA-256 of a bag (or an RFC 4998 tree root, SHA-256/384/512) with a nonce
 * and certReq=true, sent as application/timestamp-query (RFC 3161 §3.4), and the checks of its
 * TimeStampResp that only the requester can make: status granted, a token, the nonce echoed, the
 * messageImprint being the one requested. The token's signature, chain, ESS certificate id and
 * policy are token.c's verifier's job, as for eHealth tokens. Pure core: no network, no archive.
 * Called by the daemon's tsa2 module, tsbag renew and the tests.
 */
#ifndef TSB_TSQ_H
#define TSB_TSQ_H

#include "hash.h"
#include "mem.h"

#include <stddef.h>
#include <stdint.h>

#define TSB_TSQ_NONCE_LEN  8 /* a random 64-bit nonce */
#define TSB_TSQ_NONCE_HEX  (2 * TSB_TSQ_NONCE_LEN + 1)
#define TSB_TSQ_REASON_MAX 512

/* Appends the DER TimeStampReq (version 1, SHA-256 messageImprint digest, nonce as an unsigned
 * big-endian integer, certReq true, no reqPolicy, no extensions) to der. TSB_ECRYPTO if OpenSSL
 * fails. */
int tsb_tsq_request(const uint8_t digest[TSB_SHA256_LEN], const uint8_t nonce[TSB_TSQ_NONCE_LEN],
                    struct tsb_buf *der);

/* The same over any of the imprint algorithms of RFC 4998 trees: alg "sha256", "sha384" or
 * "sha512" and digest its digest_len bytes (an RFC 4998 hash tree root). TSB_EINVAL for another
 * algorithm or a length that is not its digest's. */
int tsb_tsq_request_alg(const char *alg, const uint8_t *digest, size_t digest_len,
                        const uint8_t nonce[TSB_TSQ_NONCE_LEN], struct tsb_buf *der);

/* Why a reply was refused, for metrics and logs (stable words: tsb_tsq_fail_name). */
enum tsb_tsq_fail {
    TSB_TSQ_OK,
    TSB_TSQ_MALFORMED, /* not a DER TimeStampResp, or granted without a token */
    TSB_TSQ_REFUSED,   /* PKIStatus rejection, waiting, revocation... */
    TSB_TSQ_NONCE,     /* the token's nonce is absent or not the request's */
    TSB_TSQ_IMPRINT,   /* the token's messageImprint is not SHA-256 of the bag */
};
/* "ok", "malformed", "refused", "nonce", "imprint". */
const char *tsb_tsq_fail_name(enum tsb_tsq_fail f);

/* Checks a TimeStampResp (DER, p[0..len)) against the request made from digest and nonce and, on
 * success, appends the TimeStampToken (DER) to token. Returns TSB_TSQ_OK, or the failure with a
 * sentence naming what was wrong in why[TSB_TSQ_REASON_MAX] (the TSA's status text included). */
enum tsb_tsq_fail tsb_tsq_check_reply(const uint8_t *p, size_t len,
                                      const uint8_t digest[TSB_SHA256_LEN],
                                      const uint8_t nonce[TSB_TSQ_NONCE_LEN], struct tsb_buf *token,
                                      char why[TSB_TSQ_REASON_MAX]);

/* The same for a request made with tsb_tsq_request_alg: the token's messageImprint must be alg
 * over exactly digest[0..digest_len). */
enum tsb_tsq_fail tsb_tsq_check_reply_alg(const uint8_t *p, size_t len, const char *alg,
                                          const uint8_t *digest, size_t digest_len,
                                          const uint8_t nonce[TSB_TSQ_NONCE_LEN],
                                          struct tsb_buf *token, char why[TSB_TSQ_REASON_MAX]);

#endif
