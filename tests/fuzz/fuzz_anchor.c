/* fuzz_anchor: see fuzz_anchor.h. */
#include "fuzz_anchor.h"

#include "token.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct tsb_token_verifier *tsb_fuzz_anchor_verifier(const char *policy_oids)
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
    if (tsb_token_verifier_from_files(path, NULL, policy_oids, &v) != 0)
        abort();
    unlink(path);
    X509_free(c);
    EVP_PKEY_free(key);
    return v;
}
