# Debian packages with CPack: `make deb` configures build-deb/ with
# -DWD_DEB=ON (prefix /usr, no tests), builds, and runs `cpack -G DEB`:
#   libwarden0     libwarden.so.0 and libwarden.so.0.MINOR.PATCH (section libs)
#   libwarden-dev  headers, libwarden.a, libwarden.so, warden.pc, the CMake
#                  package, warden(3) and the other section-3 pages (libdevel)
#   warden         the warden command and warden(1) (devel); it preloads
#                  libwarden.so.0, so depends on libwarden0 of its version
# Each carries /usr/share/doc/PACKAGE/copyright and changelog.Debian.gz;
# dependencies on libc come from dpkg-shlibdeps, and libwarden0 ships a
# shlibs file for the packages that link it.  Checked by `lintian`
# (tests/install/check_deb.sh, run by .ci/run).
set(WD_DEB_MAINTAINER "warden maintainers <maintainers@warden.invalid>"
    CACHE STRING "Maintainer field of the Debian packages")
set(WD_DEB_RELEASE 1 CACHE STRING "Debian revision of the packages")

set(WD_DEB_NAMES runtime libwarden0 dev libwarden-dev tool warden)
if(WD_DEB)
  # The changelog's version is the project's (changelog.in).
  configure_file(docs/debian/changelog.in ${CMAKE_BINARY_DIR}/debian/changelog @ONLY)
  set(WD_DEB_CHANGELOG ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz)
  add_custom_command(OUTPUT ${WD_DEB_CHANGELOG}
    COMMAND gzip -9n < ${CMAKE_BINARY_DIR}/debian/changelog > ${WD_DEB_CHANGELOG}
    DEPENDS ${CMAKE_BINARY_DIR}/debian/changelog VERBATIM)
  add_custom_target(warden_deb_changelog ALL DEPENDS ${WD_DEB_CHANGELOG})
  foreach(component runtime dev tool)
    list(FIND WD_DEB_NAMES ${component} at)
    math(EXPR at "${at} + 1")
    list(GET WD_DEB_NAMES ${at} package)
    install(FILES ${PROJECT_SOURCE_DIR}/docs/debian/copyright ${WD_DEB_CHANGELOG}
            DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package}
            COMPONENT ${component})
  endforeach()
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME warden)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPack would put it before each
# package's own synopsis (the first line of CPACK_DEBIAN_<C>_DESCRIPTION).
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev tool)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${WD_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${WD_DEB_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(wd_exact "(= ${PROJECT_VERSION}-${WD_DEB_RELEASE})")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libwarden0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# Our own shlibs file and ldconfig trigger.  CPack, for a library in
# /usr/lib, writes postinst and postrm scripts that run ldconfig, which
# lintian rejects (lacks-ldconfig-trigger: Debian runs it from the
# trigger); scripts of ours that do nothing take their place.
file(WRITE ${CMAKE_BINARY_DIR}/debian/shlibs
     "libwarden ${PROJECT_VERSION_MAJOR} libwarden0 (>= ${PROJECT_VERSION})\n")
file(WRITE ${CMAKE_BINARY_DIR}/debian/triggers "activate-noawait ldconfig\n")
foreach(script postinst postrm)
  file(WRITE ${CMAKE_BINARY_DIR}/debian/${script}
       "#!/bin/sh\n# The linker cache is updated by the ldconfig trigger (triggers).\nset -e\nexit 0\n")
endforeach()
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/debian/shlibs ${CMAKE_BINARY_DIR}/debian/triggers
    ${CMAKE_BINARY_DIR}/debian/postinst ${CMAKE_BINARY_DIR}/debian/postrm)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "memory allocator: malloc replacement with always-on checks
warden replaces the malloc family and C++ operator new/delete of a program,
through LD_PRELOAD or by linking: fast thread-local paths, memory returned
to the OS soon after it is freed, invalid and double frees stopped with one
line.  Its options (WARDEN_OPTIONS) add canaries and a quarantine, a memory
checker with call stacks and leak reports, and statistics.
.
This package contains the shared library.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libwarden-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libwarden0 ${wd_exact}")
set(CPACK_DEBIAN_DEV_DESCRIPTION "memory allocator: development files
warden is a malloc replacement with always-on checks, a classic heap on
caller memory (warden/heap.h), an arena, a pool of fixed-size items and a
typed vector.
.
This package contains the headers, the static library, the pkg-config
file, the CMake package (find_package(warden)) and the manual pages of
the C API.")
set(CPACK_DEBIAN_TOOL_PACKAGE_NAME warden)
set(CPACK_DEBIAN_TOOL_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_TOOL_PACKAGE_DEPENDS "libwarden0 ${wd_exact}")
set(CPACK_DEBIAN_TOOL_DESCRIPTION "memory allocator: the warden command
warden runs a program on the warden allocator (LD_PRELOAD): warden run,
warden check (memory errors and leaks with call stacks), warden stats
(statistics at exit, also as JSON), warden profile and warden map.")
include(CPack)
