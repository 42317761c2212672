#!/bin/sh
# test-pki.sh DIR [rsa|ec]: a throw-away PKI for the unit tests, generated at test time with the
# openssl CLI (never committed). Writes into DIR:
#   hospital-ca.pem, hospital.pem, hospital.key, hospital.p12 (friendlyName "authentication"),
#   hospital.pass; tsa-ca.pem/.key; tsa.pem/.key (timeStamping EKU, critical);
#   tsa-expired.pem, tsa-future.pem (same key, validity in the past / future);
#   tsa-noncrit.pem (EKU not critical); rogue-ca.pem, rogue-tsa.pem/.key (chains to rogue-ca);
#   ts.cnf (openssl ts -reply configuration).
# The second argument picks the hospital key type. A third argument "variants" adds the TSA
# certificates of the token table test (integration.token_table), all under tsa-ca:
#   tsa-ec256/tsa-ec384 (EC keys), tsa-pss (an id-RSASSA-PSS key), tsa-noeku (no EKU),
#   tsa-kuenc (keyUsage keyEncipherment only), tsa-kumixed (digitalSignature + keyEncipherment),
#   tsa-anyeku (timeStamping + anyExtendedKeyUsage), tsa-othereku (timeStamping + a private OID),
#   tsa-noku (no keyUsage), tsa-inter (intermediate CA) and tsa-sub (a TSA issued by it),
#   tsa-notca (an end-entity certificate) and tsa-sub-notca (a TSA "issued" by it).
set -eu
d=$1
kt=${2:-rsa}
variants=${3:-}
mkdir -p "$d"
cd "$d"

key() { # key FILE TYPE
    if [ "$2" = ec ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
    fi
}

cat >ext.cnf <<'X'
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[hospital]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[tsa]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
[tsa_noncrit]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = timeStamping
[tsa_noeku]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
[tsa_kuenc]
basicConstraints = CA:false
keyUsage = critical, keyEncipherment
extendedKeyUsage = critical, timeStamping
[tsa_kumixed]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = critical, timeStamping
[tsa_anyeku]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping, anyExtendedKeyUsage
[tsa_othereku]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping, 1.3.6.1.4.1.99999.1
[tsa_noku]
basicConstraints = CA:false
extendedKeyUsage = critical, timeStamping
X

# ca NAME SUBJECT: a self-signed CA
ca() {
    key "$1.key" rsa
    openssl req -x509 -new -key "$1.key" -subj "$2" -days 3650 -sha256 \
        -extensions ca -config ext.cnf -out "$1.pem" 2>/dev/null
}
# issue NAME KEYFILE SUBJECT CA EXT [START END]: a certificate signed by CA; START/END are
# YYYYMMDDHHMMSSZ and need the openssl ca database.
issue() {
    openssl req -new -key "$2" -subj "$3" -out "$1.csr" 2>/dev/null
    if [ $# -ge 7 ]; then
        rm -rf db && mkdir db && : >db/index && echo 1000 >db/serial
        cat >ca.cnf <<X
[ca]
default_ca = c
[c]
database = db/index
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = p
copy_extensions = none
unique_subject = no
[p]
commonName = supplied
X
        openssl ca -batch -config ca.cnf -cert "$4.pem" -keyfile "$4.key" -in "$1.csr" \
            -startdate "$6" -enddate "$7" -extfile ext.cnf -extensions "$5" -notext \
            -out "$1.pem" 2>/dev/null
    else
        openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -CAcreateserial -days 825 \
            -sha256 -extfile ext.cnf -extensions "$5" -out "$1.pem" 2>/dev/null
    fi
    rm -f "$1.csr"
}

ca hospital-ca "/C=BE/O=Test eHealth CA/CN=Test Hospital CA"
key hospital.key "$kt"
issue hospital hospital.key "/C=BE/O=Test Hospital/CN=tsa_0406798006_01" hospital-ca hospital
printf 'test-pass-%s\n' "$$" >hospital.pass
openssl pkcs12 -export -inkey hospital.key -in hospital.pem -certfile hospital-ca.pem \
    -name authentication -passout file:hospital.pass -out hospital.p12

ca tsa-ca "/C=BE/O=Test eHealth TSA CA/CN=Test TSA Root"
key tsa.key rsa
issue tsa tsa.key "/C=BE/O=Test eHealth/CN=Test TSA" tsa-ca tsa
issue tsa-expired tsa.key "/CN=Expired TSA" tsa-ca tsa 20200101000000Z 20210101000000Z
issue tsa-future tsa.key "/CN=Future TSA" tsa-ca tsa 20400101000000Z 20410101000000Z
issue tsa-noncrit tsa.key "/CN=Noncritical TSA" tsa-ca tsa_noncrit

ca rogue-ca "/C=BE/O=Rogue/CN=Rogue Root"
key rogue-tsa.key rsa
issue rogue-tsa rogue-tsa.key "/C=BE/O=Rogue/CN=Rogue TSA" rogue-ca tsa

if [ "$variants" = variants ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tsa-ec256.key 2>/dev/null
    issue tsa-ec256 tsa-ec256.key "/CN=EC P-256 TSA" tsa-ca tsa
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out tsa-ec384.key 2>/dev/null
    issue tsa-ec384 tsa-ec384.key "/CN=EC P-384 TSA" tsa-ca tsa
    openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -out tsa-pss.key 2>/dev/null
    issue tsa-pss tsa-pss.key "/CN=RSA-PSS key TSA" tsa-ca tsa
    for v in noeku kuenc kumixed anyeku othereku noku; do
        issue "tsa-$v" tsa.key "/CN=TSA $v" tsa-ca "tsa_$v"
    done
    key tsa-inter.key rsa
    issue tsa-inter tsa-inter.key "/CN=Test TSA Intermediate" tsa-ca ca
    issue tsa-sub tsa.key "/CN=TSA under the intermediate" tsa-inter tsa
    cp tsa-inter.key tsa-notca.key
    issue tsa-notca tsa-notca.key "/CN=Not a CA" tsa-ca tsa_noeku
    issue tsa-sub-notca tsa.key "/CN=TSA under a non-CA" tsa-notca tsa
fi

cat >ts.cnf <<'X'
[tsa]
default_tsa = t
[t]
serial = tsaserial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha1
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
X
echo 0100 >tsaserial
