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

# One dev-pki for every simulator test of this build tree (idempotent, so re-runs are fast).
add_test(NAME integration.sim_pki
         COMMAND ${PROJECT_SOURCE_DIR}/tools/dev-pki --quiet ${PROJECT_BINARY_DIR}/tests/sim-pki)
set_tests_properties(integration.sim_pki PROPERTIES LABELS integration FIXTURES_SETUP sim_pki)

# sim_interop: tsbag's own client modules on one side, the simulator on the other.
add_executable(sim_interop ${_sim_dir}/interop.c)
target_link_libraries(sim_interop PRIVATE tsbcore)
list(APPEND _sim_env "TSB_SIM_INTEROP=$<TARGET_FILE:sim_interop>")

foreach(_t sim_stamp sim_security sim_consult sim_faults sim_robust sim_interop)
    if(EXISTS ${_sim_dir}/${_t}.sh)
        add_test(NAME integration.${_t} COMMAND bash ${_sim_dir}/${_t}.sh)
        set_tests_properties(integration.${_t} PROPERTIES LABELS integration
            FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_sim_env}" TIMEOUT 300)
    endif()
endforeach()
