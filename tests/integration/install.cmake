# integration.install (integration/install/install.sh): installs this build into a temporary
# prefix and runs the installed tsbagd on the installed example configuration against a real
# ehealth-sim (with the sender tests' helpers); checks the units, man pages and FHS layout.
if(TARGET ehealth-sim AND TARGET tsbagd)
    add_test(NAME integration.install COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/install/install.sh)
    set_tests_properties(integration.install PROPERTIES LABELS integration
        FIXTURES_REQUIRED sim_pki TIMEOUT 300 ENVIRONMENT
        "TSB_BUILD_DIR=${PROJECT_BINARY_DIR};TSB_SHARED_DIR=${TSB_SHARED_DIR};TSB_SIM=$<TARGET_FILE:ehealth-sim>;TSB_SIM_PKI=${PROJECT_BINARY_DIR}/tests/sim-pki;TSB_TSBAG=$<TARGET_FILE:tsbag>;TSB_TSBAGD=$<TARGET_FILE:tsbagd>")
endif()
