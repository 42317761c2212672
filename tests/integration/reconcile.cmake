# Reconciliation integration tests: shell drivers under integration/reconcile/ that seed a real
# archive through the simulator's TimeStampAuthority (seed_archive: tsbag's own DSS, WS-Security,
# HTTPS and token modules), damage it with the sqlite3 shell, and run `tsbag reconcile` against a
# real ehealth-sim process on port 0. Witnesses: sqlite3, openssl ts -verify, jq.
add_executable(seed_archive ${CMAKE_CURRENT_LIST_DIR}/reconcile/seed_archive.c)
target_link_libraries(seed_archive PRIVATE tsbio tsbcore)

if(TARGET ehealth-sim)
    set(_rc_dir ${CMAKE_CURRENT_LIST_DIR}/reconcile)
    set(_rc_env
        "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
        "TSB_SIM=$<TARGET_FILE:ehealth-sim>"
        "TSB_SIM_PKI=${PROJECT_BINARY_DIR}/tests/sim-pki"
        "TSB_TSBAG=$<TARGET_FILE:tsbag>"
        "TSB_SEED=$<TARGET_FILE:seed_archive>")
    foreach(_t reconcile_recover reconcile_ehealth reconcile_local reconcile_first_sequence
               reconcile_chain
               reconcile_json)
        add_test(NAME integration.${_t} COMMAND bash ${_rc_dir}/${_t}.sh)
        set_tests_properties(integration.${_t} PROPERTIES LABELS integration
            FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_rc_env}" TIMEOUT 300)
    endforeach()
endif()

# The shipped systemd units, every one in deploy/ (needs systemd-analyze).
find_program(TSB_SYSTEMD_ANALYZE systemd-analyze)
if(TSB_SYSTEMD_ANALYZE)
    add_test(NAME integration.reconcile_units
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/reconcile/units.sh)
    set_tests_properties(integration.reconcile_units PROPERTIES LABELS integration
        FIXTURES_REQUIRED sim_pki ENVIRONMENT
        "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR};TSB_TSBAG=$<TARGET_FILE:tsbag>;TSB_TSBAGD=$<TARGET_FILE:tsbagd>;TSB_SIM_PKI=${PROJECT_BINARY_DIR}/tests/sim-pki")
endif()
