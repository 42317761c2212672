# integration.ingest: real tsbagd processes over Unix, TCP and TLS sockets (tests/integration/
# test_ingest.c); integration.crash: the kill -9 harness (short by default, long under the
# `reliability` label, which tools/dev test leaves out).
set(_tsb_it_common ${CMAKE_CURRENT_LIST_DIR}/daemon_util.c ${CMAKE_CURRENT_LIST_DIR}/load_util.c)
set(_tsb_it_env
    "TSBAGD=$<TARGET_FILE:tsbagd>;TSBAG=$<TARGET_FILE:tsbag>;TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR};TSB_BINARY_DIR=${PROJECT_BINARY_DIR};CMOCKA_MESSAGE_OUTPUT=stdout")

add_executable(test_ingest_it ${CMAKE_CURRENT_LIST_DIR}/test_ingest.c ${_tsb_it_common})
target_include_directories(test_ingest_it PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_ingest_it PRIVATE tsbtestlib tsbio tsbcore PkgConfig::CMOCKA)
add_dependencies(test_ingest_it tsbagd tsbag)
add_test(NAME integration.ingest COMMAND test_ingest_it)
set_tests_properties(integration.ingest PROPERTIES LABELS integration ENVIRONMENT "${_tsb_it_env}")

add_executable(test_crash_it ${CMAKE_CURRENT_LIST_DIR}/test_crash.c ${_tsb_it_common})
target_include_directories(test_crash_it PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_crash_it PRIVATE tsbtestlib tsbio tsbcore)
add_dependencies(test_crash_it tsbagd)
add_test(NAME integration.crash COMMAND test_crash_it 20)
set_tests_properties(integration.crash PROPERTIES LABELS integration ENVIRONMENT "${_tsb_it_env}")
add_test(NAME integration.crash.long COMMAND test_crash_it 100)
set_tests_properties(integration.crash.long PROPERTIES LABELS reliability
                     ENVIRONMENT "${_tsb_it_env}")
