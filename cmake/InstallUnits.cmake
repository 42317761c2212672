# Run at install time (install(CODE) in TsbInstall.cmake): copies deploy/<unit> with its /usr and
# /etc paths replaced by those of the install prefix (CMAKE_INSTALL_PREFIX here is the one given
# to `cmake --install --prefix`), into <prefix>/lib/systemd/system, and deploy/tsbag.ini into the
# configuration folder, which follows GNUInstallDirs: /etc for the /usr prefix, <prefix>/etc
# otherwise. With the /usr prefix the units are installed unchanged. DESTDIR is honoured.
set(_p "${CMAKE_INSTALL_PREFIX}")
if(_p STREQUAL "/usr")
    set(_etc "/etc")
elseif(IS_ABSOLUTE "${TSB_SYSCONFDIR}")
    set(_etc "${TSB_SYSCONFDIR}")
else()
    set(_etc "${_p}/${TSB_SYSCONFDIR}")
endif()
file(MAKE_DIRECTORY "${TSB_STAGE_DIR}")
foreach(_u ${TSB_UNITS})
    file(READ "${TSB_DEPLOY_DIR}/${_u}" _text)
    string(REPLACE "/usr/bin/tsbag " "${_p}/${TSB_BINDIR}/tsbag " _text "${_text}")
    string(REPLACE "/usr/sbin/tsbagd " "${_p}/${TSB_SBINDIR}/tsbagd " _text "${_text}")
    string(REPLACE "/etc/tsbag/" "${_etc}/tsbag/" _text "${_text}")
    string(REPLACE "file:///usr/share/doc/tsbag/" "file://${_p}/${TSB_DOCDIR}/" _text "${_text}")
    file(WRITE "${TSB_STAGE_DIR}/${_u}" "${_text}")
endforeach()
list(TRANSFORM TSB_UNITS PREPEND "${TSB_STAGE_DIR}/")
file(INSTALL DESTINATION "${_p}/lib/systemd/system" TYPE FILE FILES ${TSB_UNITS})
file(INSTALL DESTINATION "${_etc}/tsbag" TYPE FILE FILES "${TSB_DEPLOY_DIR}/tsbag.ini")
