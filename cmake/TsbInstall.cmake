# Install layout (GNUInstallDirs, FHS): tsbagd in sbin, tsbag in bin, man pages, docs in
# share/doc/tsbag, the example configuration in etc/tsbag (/etc for the /usr prefix) and
# share/doc/tsbag/examples, systemd units in lib/systemd/system, sysusers.d and tmpfiles.d
# snippets in lib/. The units name the installed paths: they are rewritten at install time from
# the prefix given to `cmake --install --prefix` (InstallUnits.cmake), which also places the
# configuration: GNUInstallDirs decides /etc for /usr at configure time, and the prefix may change
# at install time.
install(FILES deploy/tsbag.ini DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES README.md docs/operations.md docs/configuration.md docs/protocol.md
              docs/reconcile.md docs/verify.md docs/evidence.md docs/acceptance.md
              docs/simulator.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES docs/man/tsbag.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES docs/man/tsbagd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${TSB_MAN_INI} DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES deploy/tsbag.sysusers DESTINATION lib/sysusers.d RENAME tsbag.conf)
install(FILES deploy/tsbag.tmpfiles DESTINATION lib/tmpfiles.d RENAME tsbag.conf)
set(TSB_UNITS tsbagd.service tsbag-reconcile.service tsbag-reconcile.timer
    tsbag-reconcile-alert.service tsbag-backup.service tsbag-backup.timer tsbag-renew.service
    tsbag-renew.timer)
install(CODE "
    set(TSB_DEPLOY_DIR \"${PROJECT_SOURCE_DIR}/deploy\")
    set(TSB_UNITS \"${TSB_UNITS}\")
    set(TSB_STAGE_DIR \"${PROJECT_BINARY_DIR}/units\")
    set(TSB_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
    set(TSB_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")
    set(TSB_SYSCONFDIR \"${CMAKE_INSTALL_SYSCONFDIR}\")
    set(TSB_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
    include(\"${PROJECT_SOURCE_DIR}/cmake/InstallUnits.cmake\")")
