# tsbag doctor against a real ehealth-sim process on port 0: all OK on a good state, and a wrong
# keystore password, an expired keystore (made at test time with openssl), an IDHospital the
# certificate may not use and a stopped simulator each FAIL on their own line. Reuses the
# reconciliation tests' helpers (integration/reconcile/lib.sh) and seed_archive; witness: jq.
if(TARGET ehealth-sim)
    add_test(NAME integration.doctor
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/doctor/doctor.sh)
    set_tests_properties(integration.doctor PROPERTIES LABELS integration
        FIXTURES_REQUIRED sim_pki TIMEOUT 300
        ENVIRONMENT "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR};TSB_SIM=$<TARGET_FILE:ehealth-sim>;TSB_SIM_PKI=${PROJECT_BINARY_DIR}/tests/sim-pki;TSB_TSBAG=$<TARGET_FILE:tsbag>;TSB_SEED=$<TARGET_FILE:seed_archive>")
endif()
