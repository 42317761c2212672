/*
 * keystore_signer: the one door through which the hospital private key and the OpenSSL objects
 * of the keystore leave the keystore module. Only wss.c includes this header.
 */
#ifndef TSB_KEYSTORE_SIGNER_H
#define TSB_KEYSTORE_SIGNER_H

#include "keystore.h"

#include <openssl/x509.h>
#include <xmlsec/keys.h>

/* The hospital certificate (borrowed, valid while ks lives), for the BinarySecurityToken. */
X509 *tsb_keystore_cert(const struct tsb_keystore *ks);

/* A new xmlsec key holding a reference to the private key and a copy of the certificate, for one
 * signature; the caller destroys it with xmlSecKeyDestroy right after signing. */
int tsb_keystore_xmlsec_key(const struct tsb_keystore *ks, xmlSecKeyPtr *out);

#endif
