# tsbag renew integration tests (integration/renew/): a real tsbagd archive, the simulator's
# RFC 3161 endpoint over HTTPS with a development PKI whose second TSA certificate is inside the
# renewal margin (tools/dev-pki --tsa2-days), kill -9 of tsbag renew, a busy daemon. Witnesses:
# stock openssl (ts -verify, asn1parse), sqlite3, Python's hashlib, and ers_record (the archive's
# EvidenceRecord verified by the ers library).
add_executable(ers_record ${CMAKE_CURRENT_LIST_DIR}/renew/ers_record.c)
target_link_libraries(ers_record PRIVATE tsbcore)
if(TARGET ehealth-sim AND TARGET tsbagd)
    tsb_add_daemon_script_tests(DIR ${CMAKE_CURRENT_LIST_DIR}/renew TIMEOUT 600
        TESTS renew renew_crash renew_busy
        ENV "TSB_ERS_RECORD=$<TARGET_FILE:ers_record>")
endif()
