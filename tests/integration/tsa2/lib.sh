# Helpers of the second-TSA tests (sourced after ../sender/lib.sh): an independent TSA made of
# stock `openssl ts -reply` behind openssl_tsa.py, with its own root, signer and policy generated
# here (never the dev-pki's TSA), and a rogue signer for the "untrusted" fault.
TSA2=$T/tsa2
TSA2_PID=
TSA2_PORT=
TSA2_POLICY=1.3.6.1.4.1.4146.1.2.3.99
mkdir -p "$TSA2"

tsa2_cleanup() {
    [ -n "$TSA2_PID" ] && { kill -TERM "$TSA2_PID" 2>/dev/null; wait "$TSA2_PID" 2>/dev/null; }
    cleanup
}
trap tsa2_cleanup EXIT

# tsa2_pki: root CA, TSA signer (critical EKU timeStamping), rogue self-signed signer, ts config.
tsa2_pki() {
    local d=$TSA2
    (
        cd "$d" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 30 \
            -subj "/CN=Independent Test TSA Root" -addext basicConstraints=critical,CA:true \
            -addext keyUsage=critical,keyCertSign,cRLSign || exit 1
        openssl req -newkey rsa:2048 -nodes -keyout tsa.key -out tsa.csr \
            -subj "/CN=Independent Test TSA" || exit 1
        printf 'extendedKeyUsage=critical,timeStamping\nkeyUsage=critical,digitalSignature\n' >ext.cnf
        openssl x509 -req -in tsa.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 \
            -extfile ext.cnf -out tsa.pem || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.pem -days 30 \
            -subj "/CN=Rogue TSA" -addext extendedKeyUsage=critical,timeStamping || exit 1
        cat tsa.pem root.pem >chain.pem
        cp "$PKI/tls-server.pem" tls.pem && cp "$PKI/tls-server.key" tls.key
        echo 01 >serial
        cat >tsa.cnf <<CNF
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = $d
serial = \$dir/serial
crypto_device = builtin
signer_digest = sha256
default_policy = $TSA2_POLICY
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
CNF
    ) >>"$T/tsa2-pki.log" 2>&1 || fail "cannot make the independent TSA's PKI"
}

# start_tsa2 [MODE]: the independent TSA on a free port ($TSA2_PORT).
start_tsa2() {
    echo "${1:-ok}" >"$TSA2/mode"
    rm -f "$TSA2/port"
    python3 "$(dirname "${BASH_SOURCE[0]}")/openssl_tsa.py" "$TSA2" "$TSA2/port" \
        2>>"$T/tsa2.log" &
    TSA2_PID=$!
    local i
    for i in $(seq 1 200); do
        [ -s "$TSA2/port" ] && break
        kill -0 "$TSA2_PID" 2>/dev/null || fail "the independent TSA exited at start"
        sleep 0.05
    done
    [ -s "$TSA2/port" ] || fail "the independent TSA wrote no port file"
    TSA2_PORT=$(cat "$TSA2/port")
}

tsa2_mode() { echo "$1" >"$TSA2/mode"; }

# The [tsa2] settings for start_daemon.
tsa2_args() {
    echo "-s tsa2.url=https://127.0.0.1:$TSA2_PORT/tsa -s tsa2.ca_file=$PKI/tls-ca.pem" \
        "-s tsa2.trust_anchors=$TSA2/root.pem -s tsa2.policy_oids=$TSA2_POLICY" \
        "-s tsa2.retry_min_ms=100 -s tsa2.retry_max_ms=400 -s tsa2.min_interval_ms=10"
}

# tsa2_requests MODE: how many requests the independent TSA answered in MODE.
tsa2_requests() { grep -cx "$1" "$TSA2/requests" 2>/dev/null || true; }

# wait_tsa2_requests MODE N: polls until the TSA answered at least N requests in MODE.
wait_tsa2_requests() {
    local i
    for i in $(seq 1 300); do
        [ "$(tsa2_requests "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "the independent TSA answered fewer than $2 requests in mode $1"
}

# verify_tsa2: every archived second token passes stock openssl ts -verify against its bag's
# bytes and the independent TSA's root, and carries the TSA's policy.
verify_tsa2() {
    local seq
    for seq in $(sql "SELECT seq FROM tsa2_tokens ORDER BY seq"); do
        sql "SELECT writefile('$T/b2-$seq.xml', $(bag_bytes_sql t.seq)), writefile('$T/t2-$seq.der', t.token) FROM tsa2_tokens t WHERE seq = $seq" >/dev/null
        openssl ts -verify -data "$T/b2-$seq.xml" -in "$T/t2-$seq.der" -token_in \
            -CAfile "$TSA2/root.pem" >/dev/null 2>&1 ||
            fail "openssl ts -verify rejects the second token of bag $seq"
        [ "$(sql "SELECT policy FROM tsa2_tokens WHERE seq = $seq")" = "$TSA2_POLICY" ] ||
            fail "second token of bag $seq: policy is not $TSA2_POLICY"
    done
}
