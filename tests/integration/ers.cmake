# Evidence-record tests (integration/ers/): a development PKI whose second TSA certificate is
# close to expiry (tools/dev-pki --tsa2-days), the simulator's RFC 3161 endpoint with its
# tsa2-next and clock-offset knobs, and tools/ers-verify.py, the stand-alone verifier shipped in
# every package. Witnesses: stock openssl (ts -verify, asn1parse, x509).
if(TARGET ehealth-sim AND TARGET tsbagd)
    set(_ers_dir ${CMAKE_CURRENT_LIST_DIR}/ers)
    set(_ers_env
        "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
        "TSB_SHARED_DIR=${TSB_SHARED_DIR}"
        "TSB_SIM=$<TARGET_FILE:ehealth-sim>"
        "TSB_TSBAG=$<TARGET_FILE:tsbag>"
        "TSB_TSBAGD=$<TARGET_FILE:tsbagd>")
    foreach(_t ers_sim_clock ers_script ers_time_travel)
        add_test(NAME integration.${_t} COMMAND bash ${_ers_dir}/${_t}.sh)
        set_tests_properties(integration.${_t} PROPERTIES LABELS integration
            ENVIRONMENT "${_ers_env}" TIMEOUT 300)
    endforeach()
endif()
