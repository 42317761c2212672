/*
 * fuzz_token: tsb_token_verify on arbitrary bytes as a DER TimeStampToken, with the stamped data,
 * a policy list and an anchor (a throw-away self-signed EC certificate made at the first call, so
 * no key is committed). Every check must report without crashing, leaking or reading out of
 * bounds, whatever the token's structure, algorithms or certificates.
 */
#include "token.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tsb_token_verifier *make_verifier(void)
{
    struct tsb_token_verifier *v = NULL;
    char path[] = "/tmp/fuzz-token-anchor.XXXXXX";
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *c = X509_new();
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (key == NULL || c == NULL || f == NULL)
        abort();
    X509_NAME *n = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz anchor", -1, -1,
                               0);
    X509_set_issuer_name(c, n);
    ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
    X509_gmtime_adj(X509_getm_notBefore(c), 0);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400);
    X509_set_pubkey(c, key);
    if (X509_sign(c, key, EVP_sha256()) <= 0 || PEM_write_X509(f, c) != 1)
        abort();
    fclose(f);
    if (tsb_token_verifier_from_files(path, NULL, "1.2.3.4.1, 2.999.7355.1.1", &v) != 0)
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
        v = make_verifier(); /* lives for the process */
    static const uint8_t bag[] = "<TimeStampBag SequenceNumber=\"1\"/>";
    struct tsb_token_verify_opts o = {.data = bag, .data_len = sizeof(bag) - 1};
    struct tsb_token_result res;
    (void)tsb_token_verify(v, data, size, NULL, &o, &res);
    (void)tsb_token_result_reason(&res);
    return 0;
}
