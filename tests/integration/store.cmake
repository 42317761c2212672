# Archive (store and check) integration tests: shell drivers under integration/store/ that run a
# real tsbagd (sealer and sender on) against a real ehealth-sim on port 0 in a temporary folder,
# with the sender tests' helpers and environment (integration/sender/lib.sh, sender.cmake): the
# archive check under sealing load, archive damage (a stale index, byte flips witnessed by the
# sqlite3 shell's PRAGMA integrity_check, tsbagd's quick_check at start), and the WAL under a
# storm of readers (10 s here, 60 s under the `reliability` label).
if(TARGET ehealth-sim AND TARGET tsbagd)
    set(_store_dir ${CMAKE_CURRENT_LIST_DIR}/store)
    foreach(_t check_sealing check_damage wal_storm)
        add_test(NAME integration.${_t} COMMAND bash ${_store_dir}/${_t}.sh)
        set_tests_properties(integration.${_t} PROPERTIES LABELS integration
            FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_snd_env}" TIMEOUT 600)
    endforeach()
    add_test(NAME reliability.wal_storm COMMAND bash ${_store_dir}/wal_storm.sh 60)
    set_tests_properties(reliability.wal_storm PROPERTIES LABELS reliability
        FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_snd_env}" TIMEOUT 900)
endif()
