# Evidence-record tests (integration/ers/): a development PKI whose second TSA certificate is
# close to expiry (tools/dev-pki --tsa2-days), the simulator's RFC 3161 endpoint with its
# tsa2-next and clock-offset knobs, and tools/ers-verify.py, the stand-alone verifier shipped in
# every package. Witnesses: stock openssl (ts -verify, asn1parse, x509).
if(TARGET ehealth-sim AND TARGET tsbagd)
    tsb_add_daemon_script_tests(DIR ${CMAKE_CURRENT_LIST_DIR}/ers TIMEOUT 300
        TESTS ers_sim_clock ers_script ers_time_travel
        ENV "TSB_SHARED_DIR=${TSB_SHARED_DIR}")
endif()
