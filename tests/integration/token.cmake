# Token verification against stock OpenSSL: integration.token_table builds a throw-away PKI and
# 12+ token variants at test time (openssl ts -reply, and the CMS re-signer for what it refuses to
# make) and checks that tsbag's verdict (tokverify, over tsb_token_verify) equals
# `openssl ts -verify`'s, or that the deviation is one docs/verify.md lists.
set(_token_dir ${CMAKE_CURRENT_SOURCE_DIR}/integration/token)
add_executable(tsb_test_tokverify ${_token_dir}/tokverify.c)
target_link_libraries(tsb_test_tokverify PRIVATE tsbtestlib tsbcore)
add_executable(tsb_test_resign ${_token_dir}/resign.c)
target_link_libraries(tsb_test_resign PRIVATE PkgConfig::OPENSSL)
add_test(NAME integration.token_table COMMAND bash ${_token_dir}/token_table.sh)
set_tests_properties(integration.token_table PROPERTIES LABELS integration
    ENVIRONMENT "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR};TSB_TOKVERIFY=$<TARGET_FILE:tsb_test_tokverify>;TSB_RESIGN=$<TARGET_FILE:tsb_test_resign>")
