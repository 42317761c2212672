/*
 * fuzz_ers: the EvidenceRecord decoder and verifier on arbitrary bytes. The record is decoded,
 * every reduced hash tree walked, and verified for a fixed group of data objects against an anchor
 * (a throw-away self-signed EC certificate made at the first call, so no key is committed). Any
 * input must end in a verdict with a sentence, without crashing, leaking or reading out of bounds,
 * and the decoder and the verifier must agree on what is malformed.
 */
#include "ers.h"
#include "token.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tsb_token_verifier *make_verifier(void)
{
    struct tsb_token_verifier *v = NULL;
    char path[] = "/tmp/fuzz-ers-anchor.XXXXXX";
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *c = X509_new();
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (key == NULL || c == NULL || f == NULL)
        abort();
    X509_NAME *n = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1, -1, 0);
    X509_set_issuer_name(c, n);
    X509_gmtime_adj(X509_getm_notBefore(c), 0);
    X509_gmtime_adj(X509_getm_notAfter(c), 3600);
    X509_set_pubkey(c, key);
    X509_sign(c, key, EVP_sha256());
    PEM_write_X509(f, c);
    fclose(f);
    if (tsb_token_verifier_new(path, &v) != 0)
        abort();
    unlink(path);
    X509_free(c);
    EVP_PKEY_free(key);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tsb_token_verifier *v;
    if (v == NULL)
        v = make_verifier();
    /* the members of the corpus records' group (tests/fuzz/corpus/ers) */
    static const char bag[] = "<TimeStampBag seq=\"1\"/>", tok[] = "token 1";
    const struct tsb_slice objs[2] = {{(const uint8_t *)bag, sizeof(bag) - 1},
                                      {(const uint8_t *)tok, sizeof(tok) - 1}};
    struct tsb_ers_record *rec = NULL;
    int dr = tsb_ers_record_decode(data, size, NULL, &rec);
    if (dr == 0) {
        uint8_t root[TSB_ERS_HASH_MAX];
        for (size_t k = 0; k < rec->n_chains; k++)
            for (size_t j = 0; j < rec->chain[k].n; j++) {
                const struct tsb_ers_ats *a = &rec->chain[k].ats[j];
                if (a->token.p < data || a->token.p + a->token.len > data + size)
                    abort(); /* slices stay inside the input */
                if (a->alg != TSB_ERS_ALG_NONE && a->n_lists > 0)
                    (void)tsb_ers_ats_root(a->alg, a, root);
            }
        tsb_ers_record_free(rec);
    }
    struct tsb_ers_verify_opts o = {.tv = v, .at_ms = 1767225600000LL};
    struct tsb_ers_verify_result res;
    int r = tsb_ers_verify(data, size, objs, 2, &o, &res);
    if ((r == 0) != (res.fail == TSB_ERS_OK) || res.msg[0] == '\0')
        abort(); /* every outcome says what it is */
    if (dr != 0 && res.fail != TSB_ERS_FAIL_FORMAT && res.fail != TSB_ERS_FAIL_LIMIT)
        abort(); /* what the decoder refuses, the verifier refuses as malformed */
    return 0;
}
