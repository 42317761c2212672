#!/usr/bin/env bash
# integration.ers_sim_clock: what the time-travel tests stand on. tools/dev-pki --tsa2-days 2
# gives the second TSA a certificate that expires in two days and a successor valid 1825 days;
# the simulator's /rfc3161 signs with tsa2.pem, with tsa2-next.pem under the tsa2-next knob, and
# takes genTime from the simulator clock, which clock-offset moves (it used the wall clock
# before, so an offset did not reach the second TSA's tokens).
. "$(dirname "$0")/lib.sh"

start_sim
printf 'a document' >"$T/doc"
t0=$(date +%s)
stamp2 "$T/doc" "$T/t1.der"
openssl ts -verify -data "$T/doc" -in "$T/t1.der" -token_in -CAfile "$PKI/tsa2-ca.pem" \
    >/dev/null 2>&1 || fail "the /rfc3161 token does not verify"
s1=$(signer_subject "$T/t1.der")
case "$s1" in *"Second Time Stamping Authority") ;; *) fail "token 1 signed by '$s1', not tsa2.pem" ;; esac
g1=$(gen_time "$T/t1.der")
[ "$g1" -ge $((t0 - 2)) ] && [ "$g1" -le $(($(date +%s) + 2)) ] || fail "genTime $g1 is not now ($t0)"

fault tsa2-next
fault clock-offset=86400
stamp2 "$T/doc" "$T/t2.der"
s2=$(signer_subject "$T/t2.der")
[ "$s2" != "$s1" ] && case "$s2" in *"Authority 2") true ;; *) false ;; esac ||
    fail "with tsa2-next, token 2 is signed by '$s2'"
g2=$(gen_time "$T/t2.der")
[ "$g2" -ge $((t0 + 86400 - 2)) ] && [ "$g2" -le $(($(date +%s) + 86400 + 2)) ] ||
    fail "with clock-offset=86400, genTime is $g2, not a day after $t0"
# at its genTime, tsa2-next.pem is valid and the token verifies there
openssl ts -verify -data "$T/doc" -in "$T/t2.der" -token_in -CAfile "$PKI/tsa2-ca.pem" \
    -attime "$g2" >/dev/null 2>&1 || fail "token 2 does not verify at its genTime"
# three days ahead, tsa2.pem has expired and tsa2-next.pem has not
end=$(not_after "$PKI/tsa2.pem")
later=$((end + 86400))
openssl ts -verify -data "$T/doc" -in "$T/t1.der" -token_in -CAfile "$PKI/tsa2-ca.pem" \
    -attime "$later" >/dev/null 2>&1 && fail "token 1 still verifies after tsa2.pem's notAfter"
openssl ts -verify -data "$T/doc" -in "$T/t2.der" -token_in -CAfile "$PKI/tsa2-ca.pem" \
    -attime "$later" >/dev/null 2>&1 || fail "token 2 does not verify after tsa2.pem's notAfter"
fault clear
stamp2 "$T/doc" "$T/t3.der"
[ "$(signer_subject "$T/t3.der")" = "$s1" ] || fail "clear did not switch back to tsa2.pem"
stop_sim
pass
