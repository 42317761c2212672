# Helper functions shared by the tsbag CMake files.

# tsb_sources(VAR DIR): the .c files of DIR, re-globbed when files are added or removed.
function(tsb_sources var dir)
    file(GLOB _srcs CONFIGURE_DEPENDS "${dir}/*.c")
    list(SORT _srcs)
    set(${var} ${_srcs} PARENT_SCOPE)
endfunction()

# tsb_add_unit_test(SOURCE): tests/unit/test_<module>.c -> executable test_<module>, registered
# with ctest as unit.<module>, linked with cmocka, the test helpers and every tsbag library.
function(tsb_add_unit_test src)
    get_filename_component(_name "${src}" NAME_WE)
    string(REGEX REPLACE "^test_" "" _module "${_name}")
    add_executable(${_name} "${src}")
    target_link_libraries(${_name} PRIVATE tsbtestlib PkgConfig::CMOCKA)
    if(TARGET tsbio)
        target_link_libraries(${_name} PRIVATE tsbio)
    endif()
    target_link_libraries(${_name} PRIVATE tsbcore)
    add_test(NAME unit.${_module} COMMAND ${_name})
    set_tests_properties(unit.${_module} PROPERTIES LABELS unit
        ENVIRONMENT "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR};TSB_SHARED_DIR=${TSB_SHARED_DIR};TSB_BINARY_DIR=${PROJECT_BINARY_DIR};CMOCKA_MESSAGE_OUTPUT=stdout")
endfunction()

# tsb_add_fuzz_target(NAME SOURCE LIBS...): tests/fuzz/fuzz_<name>.c defines
# LLVMFuzzerTestOneInput. Always builds a replay executable that feeds every file of
# tests/fuzz/corpus/<name>/ to it (ctest fuzz.<name>, label fuzz-smoke); with TSB_FUZZ and clang,
# also a libFuzzer executable fuzz_<name>.
function(tsb_add_fuzz_target name src)
    add_executable(replay_${name} "${src}" "${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c")
    target_link_libraries(replay_${name} PRIVATE ${ARGN})
    add_test(NAME fuzz.${name}
             COMMAND replay_${name} "${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${name}")
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz-smoke)
    if(TSB_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
        add_executable(fuzz_${name} "${src}")
        target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
        target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
        target_link_libraries(fuzz_${name} PRIVATE ${ARGN})
    endif()
endfunction()

# tsb_add_daemon_script_tests(DIR dir TIMEOUT seconds TESTS name... [ENV VAR=value...]): each
# DIR/<name>.sh, run with bash, registered with ctest as integration.<name> (label integration),
# with the environment every daemon test script reads (TSB_SOURCE_DIR, TSB_SIM, TSB_TSBAG,
# TSB_TSBAGD) and ENV's entries. The caller checks that ehealth-sim and tsbagd are built.
function(tsb_add_daemon_script_tests)
    cmake_parse_arguments(_a "" "DIR;TIMEOUT" "TESTS;ENV" ${ARGN})
    set(_env
        "TSB_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
        "TSB_SIM=$<TARGET_FILE:ehealth-sim>"
        "TSB_TSBAG=$<TARGET_FILE:tsbag>"
        "TSB_TSBAGD=$<TARGET_FILE:tsbagd>"
        ${_a_ENV})
    foreach(_t ${_a_TESTS})
        add_test(NAME integration.${_t} COMMAND bash ${_a_DIR}/${_t}.sh)
        set_tests_properties(integration.${_t} PROPERTIES LABELS integration
            ENVIRONMENT "${_env}" TIMEOUT ${_a_TIMEOUT})
    endforeach()
endfunction()
