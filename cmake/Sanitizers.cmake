# TSB_SANITIZE=ON builds everything with AddressSanitizer and UndefinedBehaviorSanitizer.
# Tests then run with halt_on_error so that any report fails ctest.
if(TSB_SANITIZE)
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
