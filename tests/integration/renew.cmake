# tsbag renew integration tests (integration/renew/): a real tsbagd archive, the simulator's
# RFC 3161 endpoint over HTTPS with a development PKI whose second TSA certificate is inside the
# renewal margin (tools/dev-pki --tsa2-days), kill -9 of tsbag renew, a busy daemon. Witnesses:
# stock openssl (ts -verify, asn1parse), sqlite3, Python's hashlib, and ers_record (the archive's
# EvidenceRecord verified by the ers library).
add_executable(ers_record ${CMAKE_CURRENT_LIST_DIR}/renew/ers_record.c)
target_link_libraries(ers_record PRIVATE tsbcore)
if(TARGET ehealth-sim AND TARGET tsbagd)
    set(_renew_dir ${CMAKE_CURRENT_LIST_DIR}/renew)
    set(_renew_env
        "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
        "TSB_SIM=$<TARGET_FILE:ehealth-sim>"
        "TSB_TSBAG=$<TARGET_FILE:tsbag>"
        "TSB_TSBAGD=$<TARGET_FILE:tsbagd>"
        "TSB_ERS_RECORD=$<TARGET_FILE:ers_record>")
    foreach(_t renew renew_crash renew_busy)
        add_test(NAME integration.${_t} COMMAND bash ${_renew_dir}/${_t}.sh)
        set_tests_properties(integration.${_t} PROPERTIES LABELS integration
            ENVIRONMENT "${_renew_env}" TIMEOUT 600)
    endforeach()
endif()
