# Backup and restore integration tests (integration/backup/): a real tsbagd (sealer and sender
# on) and ehealth-sim on port 0, with the sender tests' helpers (integration/sender/lib.sh).
#   integration.backup_online   `tsbag backup` under ingest + 1 s sealing: every ACK before the
#                               backup is in the copy, which checks CLEAN; DEST refused / --force
#   integration.backup_restore  stop, replace the archive by the backup, start, `tsbag reconcile`
#                               recovers the bags stamped after the backup
if(TARGET ehealth-sim AND TARGET tsbagd)
    set(_bk_env
        "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
        "TSB_SHARED_DIR=${TSB_SHARED_DIR}"
        "TSB_SIM=$<TARGET_FILE:ehealth-sim>"
        "TSB_SIM_PKI=${PROJECT_BINARY_DIR}/tests/sim-pki"
        "TSB_TSBAG=$<TARGET_FILE:tsbag>"
        "TSB_TSBAGD=$<TARGET_FILE:tsbagd>")
    foreach(_t backup_online backup_restore)
        add_test(NAME integration.${_t}
                 COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/backup/${_t}.sh)
        set_tests_properties(integration.${_t} PROPERTIES LABELS integration
            FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_bk_env}" TIMEOUT 300)
    endforeach()
endif()
