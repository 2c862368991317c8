# programs.cmake -- "real programs" tests: programs nobody here wrote (python3,
# the sqlite3 shell, perl, git, gcc) and one C++ STL program built here but
# not linked with warden, each run twice by programs/run_compare.sh: without
# and with LD_PRELOAD=libwarden.so.  Their stdouts and exit statuses must be
# identical, the preloaded run must not crash nor print a `warden:` report.
# A program that is not installed makes its test skip (exit 77).
#
#   ctest -L programs                   only these tests
#   ctest -LE programs                  all but these
#   -DWD_PROGRAMS_PRELOAD=/path/lib.so  preload another allocator instead of
#                                       libwarden.so (e.g. jemalloc, to check
#                                       the harness itself)
#
# Included at the end of tests/api/CMakeLists.txt.  Not in the sanitizer
# builds, which have no malloc override.
if(WD_OVERRIDE)
  set(WD_PROGRAMS_PRELOAD "" CACHE STRING
      "Library the program_* tests preload (empty: libwarden.so of this build)")
  if(WD_PROGRAMS_PRELOAD)
    set(wd_prog_preload "${WD_PROGRAMS_PRELOAD}")
  else()
    set(wd_prog_preload "$<TARGET_FILE:warden_shared>")
  endif()
  set(wd_prog_dir ${CMAKE_CURRENT_SOURCE_DIR}/programs)
  set(wd_prog_compare bash ${wd_prog_dir}/run_compare.sh)

  # wd_add_program_test(NAME [--cwd-temp] -- COMMAND ARGS...)
  function(wd_add_program_test name)
    set(opts "")
    set(cmd ${ARGN})
    list(GET cmd 0 first)
    if(first STREQUAL "--cwd-temp")
      set(opts --cwd-temp)
      list(REMOVE_AT cmd 0)
    endif()
    list(REMOVE_AT cmd 0) # the "--"
    add_test(NAME ${name}
             COMMAND ${wd_prog_compare} ${opts} ${name} ${wd_prog_preload} -- ${cmd})
    set_tests_properties(${name} PROPERTIES
      TIMEOUT 180 SKIP_RETURN_CODE 77 LABELS programs)
  endfunction()

  wd_add_program_test(program_python -- bash ${wd_prog_dir}/python_workload.sh)
  wd_add_program_test(program_sqlite -- bash ${wd_prog_dir}/sqlite_workload.sh)
  wd_add_program_test(program_perl -- bash ${wd_prog_dir}/perl_workload.sh)
  wd_add_program_test(program_git --cwd-temp -- bash ${wd_prog_dir}/git_workload.sh)
  wd_add_program_test(program_gcc --cwd-temp -- bash ${wd_prog_dir}/gcc_workload.sh)

  # The C++ program: built only when a C++ compiler exists, else the test
  # skips.  A plain executable: operator new/delete come from libstdc++ in
  # the first run and from the preloaded library in the second.
  include(CheckLanguage)
  check_language(CXX)
  if(CMAKE_CXX_COMPILER)
    enable_language(CXX)
    add_executable(program_stl_workload ${wd_prog_dir}/stl_workload.cpp)
    set_target_properties(program_stl_workload PROPERTIES
      CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
      OUTPUT_NAME stl_workload)
    find_package(Threads REQUIRED)
    target_link_libraries(program_stl_workload PRIVATE Threads::Threads)
    wd_add_program_test(program_stl -- $<TARGET_FILE:program_stl_workload>)
  else()
    add_test(NAME program_stl
             COMMAND sh -c "echo 'program_stl: SKIP: no C++ compiler found by CMake'; exit 77")
    set_tests_properties(program_stl PROPERTIES SKIP_RETURN_CODE 77 LABELS programs)
  endif()
endif()
