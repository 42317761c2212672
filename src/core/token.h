/*
 * token: decoding and verification of RFC 3161 timestamp tokens, before anything is archived and
 * again whenever an auditor or the reconciliation asks. Verification runs every check it can and
 * reports each one (pass, fail, skipped) with a sentence an operator can act on. A token is good
 * when no check failed and every check ran, except the ones the caller turned off, which are
 * reported as skipped (the genTime clock check in audit mode: check_skew false); checks skipped
 * because an earlier one failed never make a token good. Trust comes only from the configured TSA
 * anchors (PEM), never from
 * certificates inside the token or the configured TSA certificates file, which only help build the
 * chain. The rules follow RFC 3161 as stock OpenSSL 3.0 applies them (docs/verify.md lists each).
 * Pure core: no network, no archive.
 */
#ifndef TSB_TOKEN_H
#define TSB_TOKEN_H

#include "hash.h"
#include "mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a token arrived (protocol reference §4.3): eHealth's legacy profiles wrap it twice in
 * base64 and/or send a whole TimeStampResp. */
struct tsb_token_form {
    int base64_layers;  /* 1 is the standard; 2 is the legacy double base64 */
    bool full_response; /* a TimeStampResp was unwrapped */
};

/* Decodes the text of an RFC3161TimeStampToken element: base64 repeatedly while the content is
 * base64 text (at most 4 layers), then a bare TimeStampToken or a TimeStampResp (status granted)
 * whose token is taken. Appends the DER token to der. TSB_EFORMAT names what was wrong; TSB_ETOKEN
 * when a TimeStampResp says the TSA refused. */
int tsb_token_decode(const uint8_t *text, size_t len, struct tsb_buf *der,
                     struct tsb_token_form *form);

enum tsb_token_check {
    TSB_TCHK_PARSE,       /* a CMS SignedData holding a TSTInfo */
    TSB_TCHK_IMPRINT_ALG, /* messageImprint algorithm is SHA-256, SHA-384 or SHA-512 */
    TSB_TCHK_IMPRINT,     /* messageImprint equals the stamped data's digest */
    TSB_TCHK_SIGNER,      /* signer certificate found (token, extra PEM, TSA certs, anchors) */
    TSB_TCHK_SIGNATURE,   /* CMS signature (PKCS#1 v1.5, RSASSA-PSS, ECDSA) verifies */
    TSB_TCHK_CHAIN,       /* signer chains to a trust anchor, valid at genTime */
    TSB_TCHK_ESS,         /* exactly one of ESSCertID/ESSCertIDv2, matching the signer */
    TSB_TCHK_EKU,         /* signer fits OpenSSL's timestamp-signing purpose (keyUsage, EKU) */
    TSB_TCHK_POLICY,      /* TSTInfo.policy is one of tsa.policy_oids (any when unset) */
    TSB_TCHK_GEN_TIME,    /* genTime within the allowed skew of the local clock */
    TSB_TCHK_N
};

enum tsb_check_outcome { TSB_CHECK_NOT_RUN, TSB_CHECK_PASS, TSB_CHECK_FAIL, TSB_CHECK_SKIPPED };

#define TSB_TOKEN_MSG_MAX     256
#define TSB_TOKEN_IMPRINT_MAX 64 /* SHA-512 */

struct tsb_token_result {
    enum tsb_check_outcome outcome[TSB_TCHK_N];
    char message[TSB_TCHK_N][TSB_TOKEN_MSG_MAX]; /* why it failed / what passed */
    bool ok;         /* no check failed or left unrun; skipped only what the caller turned off */
    char serial[80]; /* TSTInfo.serialNumber, decimal ("" if unknown) */
    int64_t gen_time_ms;   /* TSTInfo.genTime, ms since the epoch */
    char policy[80];       /* TSTInfo.policy OID */
    char tsa_subject[256]; /* signer certificate subject */
    int64_t
        signer_not_after_ms; /* the signer certificate's notAfter, once it was found; 0 before */
    /* messageImprint as the token has it, once the token parsed: the algorithm's name
     * ("SHA-256", "SHA-384", "SHA-512", else its OID) and the hashed message bytes. */
    char imprint_alg[80];
    uint8_t imprint[TSB_TOKEN_IMPRINT_MAX];
    size_t imprint_len;
    bool imprint_alg_ok; /* imprint_alg is SHA-256/384/512 (tsb_token_digest accepts it) */
    /* RSASSA-PSS by a key certified as rsaEncryption: valid, but `openssl ts -verify` cannot
     * check it (docs/verify.md, deviations); evidence packages give another command. */
    bool pss_rsa_key;
};

/* "messageImprint algorithm", "CMS signature", ... for reports. */
const char *tsb_token_check_name(enum tsb_token_check c);

struct tsb_token_verifier;

/* Loads the TSA trust anchors (one PEM file with one or more certificates; an anchor may be a
 * root, an intermediate or the TSA certificate itself). TSB_ECONFIG names the file; TSB_ECRYPTO
 * when OpenSSL cannot allocate the store. */
int tsb_token_verifier_new(const char *anchors_pem, struct tsb_token_verifier **out);
void tsb_token_verifier_free(struct tsb_token_verifier *v);

/* Adds the certificates of a PEM file (tsa.tsa_certs: intermediates and TSA signer certificates
 * for tokens that carry none) as untrusted helpers to find the signer and build its chain. NULL or
 * "" does nothing. TSB_ECONFIG names the file when it cannot be read or holds no certificate. */
int tsb_token_verifier_add_certs(struct tsb_token_verifier *v, const char *certs_pem);

/* Accepts only tokens whose TSTInfo.policy is one of the comma-separated OIDs (tsa.policy_oids,
 * spaces allowed); NULL or "" accepts any policy. TSB_ECONFIG names an entry that is no OID;
 * TSB_ECRYPTO when OpenSSL cannot allocate the list. */
int tsb_token_verifier_set_policies(struct tsb_token_verifier *v, const char *oids);

/* The verifier of a configuration's tsa section: trust_anchors, tsa_certs, policy_oids. */
int tsb_token_verifier_from_files(const char *anchors_pem, const char *certs_pem,
                                  const char *policy_oids, struct tsb_token_verifier **out);

/* Digest of p[0..len) with an imprint algorithm named as in tsb_token_result.imprint_alg
 * ("SHA-256", "SHA-384", "SHA-512") into out (TSB_TOKEN_IMPRINT_MAX bytes); *out_len is set.
 * TSB_EINVAL for any other algorithm (SHA-1 and MD5 are refused). */
int tsb_token_digest(const char *alg, const uint8_t *p, size_t len,
                     uint8_t out[TSB_TOKEN_IMPRINT_MAX], size_t *out_len);

struct tsb_token_verify_opts {
    bool check_skew; /* false for later audits: genTime is compared with nothing */
    int64_t now_ms;
    int64_t max_skew_s;
    /* The stamped bytes. When set, the imprint is computed over them with the token's own
     * algorithm (SHA-256, SHA-384 or SHA-512); when NULL the digest argument (the SHA-256 of the
     * stamped bytes) is compared, which can only match a SHA-256 imprint. */
    const uint8_t *data;
    size_t data_len;
    /* Instead of data: the messageImprint's hashedMessage itself (an RFC 4998 hash tree root,
     * imprint_len bytes), compared with the token's whatever its algorithm (SHA-256, -384, -512)
     * as long as the length is that algorithm's. */
    const uint8_t *imprint;
    size_t imprint_len;
    /* Untrusted certificates (PEM, e.g. an evidence package's chain file) that may supply the
     * signer or intermediates the token lacks; never trusted, unreadable ones are ignored. */
    const uint8_t *extra_pem;
    size_t extra_pem_len;
    /* If non-NULL and the chain verified: the verified chain (signer first, anchor last) is
     * appended as PEM, for evidence packages. */
    struct tsb_buf *chain_pem;
};

/* Verifies a DER token against the stamped bytes o->data (or, without them, their SHA-256 digest;
 * digest may be NULL when o->data is set). Fills res (always). Returns 0 when res->ok, TSB_ETOKEN
 * when a check failed (res and the detail say which), TSB_ECRYPTO when OpenSSL could not allocate
 * what the checks need (the certificate lists, a reference): res->ok is false, the checks not
 * reached stay TSB_CHECK_NOT_RUN, the detail says what failed; never a verdict on the token. An
 * allocation failing inside OpenSSL's own decoding or signature code shows as that check
 * failing (OpenSSL does not tell the two apart). */
int tsb_token_verify(const struct tsb_token_verifier *v, const uint8_t *der, size_t len,
                     const uint8_t *digest, const struct tsb_token_verify_opts *o,
                     struct tsb_token_result *res);

/* The first failed check's message, or "token verified" when ok. */
const char *tsb_token_result_reason(const struct tsb_token_result *res);

#endif
