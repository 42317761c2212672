#!/bin/sh
# ers-pki.sh DIR: the throw-away PKI of unit.ers, made at test time (never committed). A root
# valid 2019-2060 and TSA signers (critical EKU timeStamping) whose validity windows overlap the
# way a 30-year archive's do, so tokens dated inside each window (the test sets genTime) can be
# renewed before, or too late after, the previous certificate expires:
#   tsa-a.pem/.key  2020-01-01 .. 2022-01-01
#   tsa-b.pem/.key  2021-06-01 .. 2031-01-01
#   tsa-c.pem/.key  2030-06-01 .. 2045-01-01
#   root.pem/.key   the trust anchor; rogue.pem/.key a self-signed TSA that chains to nothing
#   ts.cnf          `openssl ts -reply` configuration signing with tsa-b
set -eu
d=$1
mkdir -p "$d"
cd "$d"
cat >ext.cnf <<'X'
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[tsa]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
X
cat >ca.cnf <<'X'
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
[req]
distinguished_name = dn
[dn]
X
rm -rf db && mkdir db && : >db/index && echo 1000 >db/serial
key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
# cert NAME CN START END EXT [selfsign]
cert() {
    key "$1.key"
    openssl req -new -config ca.cnf -key "$1.key" -subj "/O=tsbag ERS test/CN=$2" \
        -out "$1.csr" 2>/dev/null
    if [ "${6:-}" = selfsign ]; then
        openssl ca -batch -config ca.cnf -selfsign -keyfile "$1.key" -in "$1.csr" \
            -startdate "$3" -enddate "$4" -extfile ext.cnf -extensions "$5" -notext \
            -out "$1.pem" 2>/dev/null
    else
        openssl ca -batch -config ca.cnf -cert root.pem -keyfile root.key -in "$1.csr" \
            -startdate "$3" -enddate "$4" -extfile ext.cnf -extensions "$5" -notext \
            -out "$1.pem" 2>/dev/null
    fi
    rm -f "$1.csr"
}
cert root "ERS Test Root" 20190101000000Z 20600101000000Z ca selfsign
cert tsa-a "ERS Test TSA A" 20200101000000Z 20220101000000Z tsa
cert tsa-b "ERS Test TSA B" 20210601000000Z 20310101000000Z tsa
cert tsa-c "ERS Test TSA C" 20300601000000Z 20450101000000Z tsa
cert rogue "ERS Rogue TSA" 20190101000000Z 20600101000000Z tsa selfsign
cat >ts.cnf <<'X'
[tsa]
default_tsa = t
[t]
serial = tsaserial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
X
echo 0100 >tsaserial
