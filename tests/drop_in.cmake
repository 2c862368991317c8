# Drop-in tests: warden as the process's malloc and operator new.
#   api_static / api_preload    tests/test_api.c: the malloc family by its standard
#                               and wd_ names, misuse reports, WARDEN_OPTIONS,
#                               allocation from constructors, atexit, TLS
#                               destructors, fork, libc functions
#   cxx_static / cxx_preload    tests/test_cxx.cpp: every operator new/delete,
#                               bad_alloc, new_handler, standard containers
#   stress_static / stress_preload
#                               tests/stress.c: threads, cross-thread frees,
#                               short-lived threads, fork; `build/tests/stress
#                               --seconds 300` runs it longer (linked with
#                               libwarden.a; stress_plain is the same program
#                               linked with nothing, for LD_PRELOAD or libc)
# *_static links libwarden.a, whose malloc ... replace libc's; -rdynamic
# exports the wd_ names to dlsym.  *_preload links nothing of warden and runs
# with LD_PRELOAD=libwarden.so.  Neither exists in the sanitizer builds, where
# the file that defines the standard names is not compiled.
enable_language(CXX)

if(WD_OVERRIDE)
  # wd_add_drop_in(BASE SOURCE TIMEOUT [ARGS_STATIC ...] [ARGS_PRELOAD ...])
  function(wd_add_drop_in base source timeout_static timeout_preload)
    cmake_parse_arguments(DI "" "STATIC_TARGET;PRELOAD_TARGET" "ARGS_STATIC;ARGS_PRELOAD" ${ARGN})
    if(NOT DI_STATIC_TARGET)
      set(DI_STATIC_TARGET ${base}_static)
    endif()
    if(NOT DI_PRELOAD_TARGET)
      set(DI_PRELOAD_TARGET ${base}_preload)
    endif()

    add_executable(${DI_STATIC_TARGET} ${source})
    target_link_libraries(${DI_STATIC_TARGET} PRIVATE warden_static ${CMAKE_DL_LIBS} Threads::Threads)
    target_compile_definitions(${DI_STATIC_TARGET} PRIVATE WD_API_STATIC=1)
    target_include_directories(${DI_STATIC_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    set_target_properties(${DI_STATIC_TARGET} PROPERTIES ENABLE_EXPORTS ON CXX_STANDARD 17
                          CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
    add_test(NAME ${base}_static COMMAND ${DI_STATIC_TARGET} ${DI_ARGS_STATIC})
    set_tests_properties(${base}_static PROPERTIES TIMEOUT ${timeout_static} SKIP_RETURN_CODE 77)

    add_executable(${DI_PRELOAD_TARGET} ${source})
    target_link_libraries(${DI_PRELOAD_TARGET} PRIVATE ${CMAKE_DL_LIBS} Threads::Threads)
    target_include_directories(${DI_PRELOAD_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/include
                               ${PROJECT_SOURCE_DIR}/tests)
    set_target_properties(${DI_PRELOAD_TARGET} PROPERTIES CXX_STANDARD 17
                          CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
    add_dependencies(${DI_PRELOAD_TARGET} warden_shared)
    add_test(NAME ${base}_preload COMMAND ${DI_PRELOAD_TARGET} ${DI_ARGS_PRELOAD})
    set_tests_properties(${base}_preload PROPERTIES TIMEOUT ${timeout_preload} SKIP_RETURN_CODE 77
                         ENVIRONMENT "LD_PRELOAD=$<TARGET_FILE:warden_shared>")
  endfunction()

  wd_add_drop_in(api test_api.c 120 120)
  wd_add_drop_in(cxx test_cxx.cpp 120 120)
  wd_add_drop_in(stress stress.c 60 90
                 STATIC_TARGET stress PRELOAD_TARGET stress_plain
                 ARGS_STATIC --seconds 4 ARGS_PRELOAD --seconds 8)

  # The same programs with WARDEN_OPTIONS=harden=2: every block wrapped in
  # canaries, frees held in the quarantine, guard pages, shuffled pages.
  set(wd_preload "LD_PRELOAD=$<TARGET_FILE:warden_shared>")
  add_test(NAME api_preload_harden2 COMMAND api_preload)
  add_test(NAME cxx_preload_harden2 COMMAND cxx_preload)
  add_test(NAME stress_preload_harden2 COMMAND stress_plain --seconds 4)
  set_tests_properties(api_preload_harden2 cxx_preload_harden2 stress_preload_harden2 PROPERTIES
                       TIMEOUT 120 SKIP_RETURN_CODE 77 LABELS harden2
                       ENVIRONMENT "${wd_preload};WARDEN_OPTIONS=harden=2")
endif()
