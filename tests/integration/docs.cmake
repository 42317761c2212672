# integration.acceptance_messages: docs/acceptance.md section 7 lists the failure messages an
# operator meets at acceptance. The script checks both directions against the string literals of
# src/: every listed message still exists (a reworded one breaks the test), and every sender,
# token, finding, DSS, keystore, IDHospital, tsbag retry and tsbag status message is listed.
add_test(NAME integration.acceptance_messages
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/docs/acceptance_messages.py ${PROJECT_SOURCE_DIR})
set_tests_properties(integration.acceptance_messages PROPERTIES LABELS "integration;docs")
