/*
 * resign: the token table test's CMS re-signer, for the tokens `openssl ts -reply` will not make.
 * Takes the TSTInfo of an existing token and signs it again with the CMS API as a TSA would
 * (eContentType id-smime-ct-TSTInfo, an ESSCertIDv2 signed attribute naming the signer), with
 * the padding and certificates asked for.
 * usage: resign IN_TOKEN CERT KEY OUT_TOKEN [pss] [nocerts]
 *   pss      RSASSA-PSS padding (SHA-256, salt = digest length) even under an rsaEncryption key
 *   nocerts  the token carries no certificate
 */
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ts.h>
#include <stdio.h>
#include <string.h>

static int die(const char *what)
{
    fprintf(stderr, "resign: %s\n", what);
    ERR_print_errors_fp(stderr);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return die("usage: resign IN_TOKEN CERT KEY OUT_TOKEN [pss] [nocerts]");
    int pss = 0, nocerts = 0;
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "pss") == 0)
            pss = 1;
        else if (strcmp(argv[i], "nocerts") == 0)
            nocerts = 1;
        else
            return die("unknown option (pss, nocerts)");
    }
    BIO *in = BIO_new_file(argv[1], "rb");
    PKCS7 *p7 = in ? d2i_PKCS7_bio(in, NULL) : NULL;
    TS_TST_INFO *tst = p7 ? PKCS7_to_TS_TST_INFO(p7) : NULL;
    BIO_free(in);
    if (tst == NULL)
        return die("IN_TOKEN holds no TimeStampToken");
    in = BIO_new_file(argv[2], "r");
    X509 *cert = in ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
    BIO_free(in);
    in = BIO_new_file(argv[3], "r");
    EVP_PKEY *key = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
    BIO_free(in);
    if (cert == NULL || key == NULL)
        return die("cannot read CERT or KEY");

    unsigned char *tder = NULL;
    int tlen = i2d_TS_TST_INFO(tst, &tder);
    BIO *content = tlen > 0 ? BIO_new_mem_buf(tder, tlen) : NULL;
    CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
    if (content == NULL || cms == NULL ||
        CMS_set1_eContentType(cms, OBJ_nid2obj(NID_id_smime_ct_TSTInfo)) != 1)
        return die("cannot set up the SignedData");
    unsigned int flags = CMS_BINARY | CMS_NOSMIMECAP | CMS_KEY_PARAM;
    if (nocerts)
        flags |= CMS_NOCERTS;
    CMS_SignerInfo *si = CMS_add1_signer(cms, cert, key, EVP_sha256(), flags);
    if (si == NULL)
        return die("cannot add the signer");
    if (pss) {
        EVP_PKEY_CTX *pctx = CMS_SignerInfo_get0_pkey_ctx(si);
        if (pctx == NULL || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0)
            return die("cannot select RSASSA-PSS");
    }
    ESS_SIGNING_CERT_V2 *sc = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), cert, NULL, 0);
    unsigned char *ess = NULL;
    int elen = sc ? i2d_ESS_SIGNING_CERT_V2(sc, &ess) : -1;
    if (elen <= 0 || CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2,
                                                 V_ASN1_SEQUENCE, ess, elen) != 1)
        return die("cannot add the ESSCertIDv2");
    if (CMS_final(cms, content, NULL, CMS_BINARY) != 1)
        return die("cannot sign");
    BIO *out = BIO_new_file(argv[4], "wb");
    if (out == NULL || i2d_CMS_bio(out, cms) != 1)
        return die("cannot write OUT_TOKEN");
    BIO_free(out);
    OPENSSL_free(ess);
    ESS_SIGNING_CERT_V2_free(sc);
    CMS_ContentInfo_free(cms);
    BIO_free(content);
    OPENSSL_free(tder);
    EVP_PKEY_free(key);
    X509_free(cert);
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
    return 0;
}
