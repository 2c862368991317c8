# Installing: `make install PREFIX=/usr/local DESTDIR=...` (the Makefile
# runs `cmake --install`), GNU directories (GNUInstallDirs):
#   LIBDIR      libwarden.so.0.MINOR.PATCH, libwarden.so.0 (SONAME), libwarden.so,
#               libwarden.a, pkgconfig/warden.pc, cmake/warden/ (the CMake package)
#   INCLUDEDIR  warden.h, warden/*.h (version.h generated)
#   BINDIR      warden
#   MANDIR      man1/warden.1, man3/warden.3, warden_{heap,arena,pool,vec}.3
# Everything is relocatable: warden.pc finds its prefix from its own place
# (${pcfiledir}), the CMake package from its own, and the warden command its
# library from its own; so `cmake --install --prefix P` may pick any P
# after the build was configured.
#
# Components, one per Debian package (cmake/package.cmake):
#   runtime  the shared library (libwarden0)
#   dev      headers, libwarden.a, the libwarden.so link, warden.pc, the CMake
#            package, the man pages of section 3 (libwarden-dev)
#   tool     the warden command and warden(1) (warden)
include(CMakePackageConfigHelpers)

set_target_properties(warden_shared PROPERTIES EXPORT_NAME warden)
set_target_properties(warden_static PROPERTIES EXPORT_NAME static)
install(TARGETS warden_shared warden_static EXPORT wardenTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          COMPONENT runtime NAMELINK_COMPONENT dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES include/warden.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(DIRECTORY include/warden/ ${WD_GENERATED_INCLUDE}/warden/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/warden COMPONENT dev
  FILES_MATCHING PATTERN "*.h")
install(TARGETS warden_command RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tool)

# warden.pc: prefix relative to the file itself; for the Debian packages,
# whose place is known, /usr (pkg-config then drops -I/usr/include).
file(RELATIVE_PATH WD_PC_PREFIX
     ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" WD_PC_PREFIX "\${pcfiledir}/${WD_PC_PREFIX}")
if(WD_DEB)
  set(WD_PC_PREFIX ${CMAKE_INSTALL_PREFIX})
endif()
configure_file(cmake/warden.pc.in ${CMAKE_BINARY_DIR}/warden.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/warden.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# The CMake package: find_package(warden) gives warden::warden (shared) and
# warden::static.
set(WD_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/warden)
install(EXPORT wardenTargets NAMESPACE warden:: DESTINATION ${WD_CMAKE_DIR}
        COMPONENT dev)
configure_package_config_file(cmake/wardenConfig.cmake.in
  ${CMAKE_BINARY_DIR}/wardenConfig.cmake INSTALL_DESTINATION ${WD_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/wardenConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/wardenConfig.cmake
              ${CMAKE_BINARY_DIR}/wardenConfigVersion.cmake
        DESTINATION ${WD_CMAKE_DIR} COMPONENT dev)

# Man pages, written in roff by hand (docs/man/); gzipped for the Debian
# packages (WD_DEB), as Debian policy asks.
set(WD_MAN_PAGES warden.1 warden.3 warden_heap.3 warden_arena.3 warden_pool.3 warden_vec.3)
foreach(page ${WD_MAN_PAGES})
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  set(component dev)
  if(section STREQUAL "1")
    set(component tool)
  endif()
  set(file ${PROJECT_SOURCE_DIR}/docs/man/${page})
  if(WD_DEB)
    set(gz ${CMAKE_BINARY_DIR}/man/${page}.gz)
    add_custom_command(OUTPUT ${gz}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND gzip -9n < ${file} > ${gz}
      DEPENDS ${file} VERBATIM)
    list(APPEND WD_MAN_GZ ${gz})
    set(file ${gz})
  endif()
  install(FILES ${file} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section}
          COMPONENT ${component})
endforeach()
if(WD_DEB)
  add_custom_target(warden_man ALL DEPENDS ${WD_MAN_GZ})
endif()
