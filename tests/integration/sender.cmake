# Sealer and sender integration tests: shell drivers under integration/sender/ that run a real
# tsbagd (sealer and sender on) against a real ehealth-sim on port 0 in a temporary folder, push
# entries with `tsbag push`, seal with `tsbag seal`, and check the archive with the sqlite3 shell.
# Witnesses: openssl ts -verify on every archived token, xmllint --schema (OASIS DSS core) on
# every request body tsbagd sent (captured with tsa.capture_dir).
if(TARGET ehealth-sim AND TARGET tsbagd)
    set(_snd_dir ${CMAKE_CURRENT_LIST_DIR}/sender)
    set(_snd_env
        "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
        "TSB_SHARED_DIR=${TSB_SHARED_DIR}"
        "TSB_SIM=$<TARGET_FILE:ehealth-sim>"
        "TSB_SIM_PKI=${PROJECT_BINARY_DIR}/tests/sim-pki"
        "TSB_TSBAG=$<TARGET_FILE:tsbag>"
        "TSB_TSBAGD=$<TARGET_FILE:tsbagd>")
    foreach(_t sender_e2e sender_faults sender_outage sender_crash sender_settings
            sender_legacy_keystore sender_token_settings sender_held sender_assumptions
            sender_capture sender_held_restart sender_metrics push_output sender_reload
            sender_log_events sender_archive_busy)
        add_test(NAME integration.${_t} COMMAND bash ${_snd_dir}/${_t}.sh)
        set_tests_properties(integration.${_t} PROPERTIES LABELS integration
            FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_snd_env}" TIMEOUT 300)
    endforeach()
    # Daemon start (integration/daemon/daemon_start.sh, same helpers):
    #   integration.daemon_lock      a second tsbagd on one state folder exits 1, the first serves
    #   integration.daemon_readonly  a read-only archive or state folder: exit 1 before "ready"
    #   integration.daemon_files     modes of what tsbagd creates, keystore permission warning and
    #                                refusal, the password variable gone from its environment
    #   integration.daemon_cpus      writer.own_cpu: each thread's CPU affinity under taskset
    foreach(_c lock readonly files cpus)
        add_test(NAME integration.daemon_${_c}
                 COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/daemon/daemon_start.sh ${_c})
        set_tests_properties(integration.daemon_${_c} PROPERTIES LABELS integration
            FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_snd_env}" TIMEOUT 300 SKIP_RETURN_CODE 77)
    endforeach()
    # integration.client_load (integration/daemon/client_load.sh): bench_load and tsbag push
    # with deep pipelining against an ingest-only tsbagd; bench_load is built for it.
    add_custom_target(client_load_bench ALL)
    add_dependencies(client_load_bench bench_load)
    add_test(NAME integration.client_load COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/daemon/client_load.sh)
    set_tests_properties(integration.client_load PROPERTIES LABELS integration
        FIXTURES_REQUIRED sim_pki TIMEOUT 300
        ENVIRONMENT "${_snd_env};TSB_BENCH_LOAD=$<TARGET_FILE:bench_load>")
    # integration.reliability (integration/daemon/reliability.sh): ingest, 1 s sealing, stamping,
    # local checks and kill -9 of tsbagd and the simulator for $TSB_RELIABILITY_SECONDS (default
    # 600). Label `reliability` only: tools/dev test leaves it out, tools/dev reliability runs it.
    add_test(NAME integration.reliability
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/daemon/reliability.sh)
    set_tests_properties(integration.reliability PROPERTIES LABELS reliability
        FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_snd_env}" TIMEOUT 1800)
    # Token variants the verifier accepts once it supports RSASSA-PSS, SHA-384 and tsa.tsa_certs;
    # the script skips (77) on a build without tsa.tsa_certs.
    add_test(NAME integration.sender_token_variants
             COMMAND bash ${_snd_dir}/sender_token_variants.sh)
    set_tests_properties(integration.sender_token_variants PROPERTIES LABELS integration
        FIXTURES_REQUIRED sim_pki ENVIRONMENT "${_snd_env}" TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
