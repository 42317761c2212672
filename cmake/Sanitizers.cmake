# TSB_SANITIZE=ON builds everything with AddressSanitizer and UndefinedBehaviorSanitizer;
# TSB_SANITIZE=thread builds it with ThreadSanitizer (tools/dev tsan). Tests then run with
# halt_on_error so that any report fails ctest. The two cannot be combined: TSan and ASan each
# own the process's shadow memory.
string(TOLOWER "${TSB_SANITIZE}" _tsb_sanitize)
if(_tsb_sanitize STREQUAL "thread")
    add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
    add_link_options(-fsanitize=thread)
elseif(TSB_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                        -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=address,undefined)
endif()

# TSB_ASSERT invariants (src/core/err.h) are checked in Debug, RelWithDebInfo (the development
# default) and sanitizer builds, and compiled out of Release and MinSizeRel: decided at every
# configure from the build type, so a build folder reconfigured as Release drops them.
if(TSB_SANITIZE OR NOT CMAKE_BUILD_TYPE MATCHES "^(Release|MinSizeRel)$")
    add_compile_definitions(TSB_ASSERTS=1)
endif()
