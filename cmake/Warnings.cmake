# Compiler warnings for every tsbag target. TSB_WERROR turns them into errors (CI does).
set(TSB_WARNINGS
    -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wvla
    -Wno-unused-parameter)
if(TSB_WERROR)
    list(APPEND TSB_WARNINGS -Werror)
endif()
add_compile_options(${TSB_WARNINGS})
add_compile_definitions(_GNU_SOURCE)
