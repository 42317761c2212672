# EmbedBytes.cmake: helpers of the Embed*.cmake scripts (included in script mode).
# tsb_c_bytes(OUT HEX): the bytes of HEX (file(READ ... HEX) output) as a C initializer list,
# 16 bytes a line, so that generated files stay readable by tools.
function(tsb_c_bytes out hex)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${hex}")
    string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " _bytes "${_bytes}")
    set(${out} "${_bytes}" PARENT_SCOPE)
endfunction()

# tsb_write_if_changed(FILE TEXT): writes TEXT to FILE only when it differs, so that an unchanged
# input does not rebuild what depends on the generated file.
function(tsb_write_if_changed file text)
    if(EXISTS "${file}")
        file(READ "${file}" _old)
        if(_old STREQUAL text)
            return()
        endif()
    endif()
    file(WRITE "${file}" "${text}")
endfunction()
