# Simulator and development PKI integration tests: shell drivers under integration/sim/ that run
# tools/dev-pki and a real ehealth-sim process on port 0 in a temporary folder, and check its
# answers with curl, xmlsec1, xmllint and openssl ts.
set(_sim_dir ${CMAKE_CURRENT_SOURCE_DIR}/integration/sim)
set(_sim_env
    "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "TSB_SHARED_DIR=${TSB_SHARED_DIR}"
    "TSB_SIM_PKI=${PROJECT_BINARY_DIR}/tests/sim-pki")
if(TARGET ehealth-sim)
    list(APPEND _sim_env "TSB_SIM=$<TARGET_FILE:ehealth-sim>")
endif()

add_test(NAME integration.dev_pki COMMAND bash ${_sim_dir}/dev_pki.sh)
set_tests_properties(integration.dev_pki PROPERTIES LABELS integration ENVIRONMENT "${_sim_env}")
