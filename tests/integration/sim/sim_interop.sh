#!/usr/bin/env bash
# integration.sim_interop: tsbag's own client code (keystore, WS-Security signer, DSS codec, token
# verifier; driven by the sim_interop helper) and the simulator agree over real HTTPS: a request
# signed by src/core/wss.c is accepted, and the token it gets verifies with src/core/token.c and
# with stock openssl.
. "$(dirname "$0")/lib.sh"
need_sim
[ -x "${TSB_SIM_INTEROP:-}" ] || fail "TSB_SIM_INTEROP does not name the sim_interop helper"
start_sim

for carrier in base64xml base64data; do
    make_bag "$T/bag.xml" 7
    id=$("$TSB_SIM_INTEROP" sign "$PKI" "$T/bag.xml" "$carrier" "$T/req.xml") ||
        fail "client code could not sign a request"
    http=$(tsa "$T/req.xml")
    [ "$http" = 200 ] || fail "$carrier: the simulator refused tsbag's request: HTTP $http $(xp '//faultstring') $(xp '//*[local-name()="ResultMessage"]')"
    validate_dss
    "$TSB_SIM_INTEROP" check "$PKI" "$T/bag.xml" "$id" "$T/resp.xml" >"$T/check.out" 2>&1 ||
        fail "$carrier: client code rejects the simulator's answer: $(cat "$T/check.out")"
    token_of "$T/resp.xml" "$T/tok.der"
    openssl ts -verify -data "$T/bag.xml" -in "$T/tok.der" -token_in -CAfile "$PKI/tsa-ca.pem" >/dev/null 2>&1 ||
        fail "$carrier: openssl ts -verify rejects the token"
done
stop_sim
pass
