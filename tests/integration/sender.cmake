# Sealer and sender integration tests: shell drivers under integration/sender/ that run a real
# tsbagd (sealer and sender on) against a real ehealth-sim on port 0 in a temporary folder, push
# entries with `tsbag push`, seal with `tsbag seal`, and check the archive with the sqlite3 shell.
# Witnesses: openssl ts -verify on every archived token, xmllint --schema (OASIS DSS core) on
# every request body tsbagd sent (captured with tsa.capture_dir).
if(TARGET ehealth-sim AND TARGET tsbagd)
    set(_snd_dir ${CMAKE_CURRENT_LIST_DIR}/sender)
    set(_snd_env
        "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
        "TSB_SHARED_DIR=${TSB_SHARED_DIR}"
        "TSB_SIM=$<TARGET_FILE:ehealth-sim>"
        "TSB_SIM_PKI=${PROJECT_BINARY_DIR}/tests/sim-pki"
        "TSB_TSBAG=$<TARGET_FILE:tsbag>"
        "TSB_TSBAGD=$<TARGET_FILE:tsbagd>")
    foreach(_t sender_e2e sender_faults sender_outage sender_crash sender_held sender_assumptions)
        add_test(NAME integration.${_t} COMMAND bash ${_snd_dir}/${_t}.sh)
        set_tests_properties(integration.${_t} PROPERTIES LABELS integration
            FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_snd_env}" TIMEOUT 300)
    endforeach()
    # Token variants the verifier accepts once it supports RSASSA-PSS, SHA-384 and tsa.tsa_certs;
    # the script skips (77) on a build without tsa.tsa_certs.
    add_test(NAME integration.sender_token_variants
             COMMAND bash ${_snd_dir}/sender_token_variants.sh)
    set_tests_properties(integration.sender_token_variants PROPERTIES LABELS integration
        FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_snd_env}" TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
