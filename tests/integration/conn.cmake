# integration.conn: the ingest's connection state machine in process (tests/integration/
# test_conn.c): a real ingest, writer and archive on the test's own loop, raw clients on threads.
add_executable(test_conn_it ${CMAKE_CURRENT_LIST_DIR}/test_conn.c ${CMAKE_CURRENT_LIST_DIR}/daemon_util.c)
target_include_directories(test_conn_it PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_conn_it PRIVATE tsbtestlib tsbdaemon tsbio tsbcore PkgConfig::CMOCKA)
add_test(NAME integration.conn COMMAND test_conn_it)
set_tests_properties(integration.conn PROPERTIES LABELS integration
                     ENVIRONMENT "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR};TSB_BINARY_DIR=${PROJECT_BINARY_DIR};CMOCKA_MESSAGE_OUTPUT=stdout")
