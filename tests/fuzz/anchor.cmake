# The throw-away token anchor shared by the fuzz targets that verify tokens (token, ers); this
# file sorts first among tests/fuzz/*.cmake, so the library exists when they link it.
add_library(tsbfuzzanchor STATIC ${CMAKE_CURRENT_LIST_DIR}/fuzz_anchor.c)
target_link_libraries(tsbfuzzanchor PUBLIC tsbcore PkgConfig::OPENSSL)
