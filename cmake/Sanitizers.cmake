# TSB_SANITIZE=ON builds everything with AddressSanitizer and UndefinedBehaviorSanitizer.
# Tests then run with halt_on_error so that any report fails ctest.
if(TSB_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                        -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=address,undefined)
endif()
