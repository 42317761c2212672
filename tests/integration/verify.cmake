# Auditor verification: `tsbag verify` and `tsbag export` against an archive built by mkarchive
# (store API + real openssl ts tokens over the dev PKI), golden outputs, the tampering matrix, and
# the export README's stock-tool commands run as an auditor would. integration.verify_pki makes
# the development PKI once (fixture) for both.
set(_verify_dir ${CMAKE_CURRENT_SOURCE_DIR}/integration/verify)
set(_verify_pki ${PROJECT_BINARY_DIR}/tests/verify-pki)
add_executable(tsb_test_mkarchive ${_verify_dir}/mkarchive.c)
target_link_libraries(tsb_test_mkarchive PRIVATE tsbtestlib tsbcore)
add_test(NAME integration.verify_pki
         COMMAND ${PROJECT_SOURCE_DIR}/tools/dev-pki --quiet ${_verify_pki})
set_tests_properties(integration.verify_pki PROPERTIES LABELS integration
    FIXTURES_SETUP verify_pki)
set(_verify_env
    "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "TSB_TSBAG=$<TARGET_FILE:tsbag>"
    "TSB_MKARCHIVE=$<TARGET_FILE:tsb_test_mkarchive>"
    "TSB_RESIGN=$<TARGET_FILE:tsb_test_resign>"
    "TSB_VERIFY_PKI=${_verify_pki}")
foreach(_t verify_cli verify_package verify_json)
    add_test(NAME integration.${_t} COMMAND bash ${_verify_dir}/${_t}.sh)
    set_tests_properties(integration.${_t} PROPERTIES LABELS integration
        ENVIRONMENT "${_verify_env}" FIXTURES_REQUIRED verify_pki)
endforeach()
