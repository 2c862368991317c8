# Drop-in tests: warden as the process's malloc and operator new.  Included
# from tests/api/CMakeLists.txt.
#   api_static / api_preload    test_api.c: the malloc family's semantics by
#                               its standard and wd_ names
#   api_stats_static / api_stats_preload
#                               test_api_stats.c: mallinfo2, malloc_trim,
#                               malloc_stats, mallopt, wd_stats_get, wd_trim
#   api_misuse_static / api_misuse_preload
#                               test_api_misuse.c: misuse reports from free
#   api_process_static / api_process_preload
#                               test_api_process.c: WARDEN_OPTIONS, allocation
#                               from constructors, atexit, TLS destructors,
#                               fork, libc functions
#                               (the four share api_util.h)
#   cxx_static / cxx_preload    test_cxx.cpp: every operator new/delete,
#                               bad_alloc, new_handler, standard containers
#   stress_static / stress_preload
#                               tests/core/stress.c, registered from
#                               tests/core/CMakeLists.txt
# *_static links libwarden.a, whose malloc ... replace libc's; -rdynamic
# exports the wd_ names to dlsym.  *_preload links nothing of warden and runs
# with LD_PRELOAD=libwarden.so (wd_add_drop_in, in tests/CMakeLists.txt).
# Neither exists in the sanitizer builds, where the file that defines the
# standard names is not compiled.
enable_language(CXX)

if(WD_OVERRIDE)
  wd_add_drop_in(api         test_api.c         120 120)
  wd_add_drop_in(api_stats   test_api_stats.c   120 120)
  wd_add_drop_in(api_misuse  test_api_misuse.c  120 120)
  wd_add_drop_in(api_process test_api_process.c 120 120)
  wd_add_drop_in(cxx test_cxx.cpp 120 120)

  # The same programs with WARDEN_OPTIONS=harden=2: every block wrapped in
  # canaries, frees held in the quarantine, guard pages, shuffled pages.
  set(wd_preload "LD_PRELOAD=$<TARGET_FILE:warden_shared>")
  add_test(NAME api_preload_harden2 COMMAND api_preload)
  add_test(NAME api_stats_preload_harden2 COMMAND api_stats_preload)
  add_test(NAME api_misuse_preload_harden2 COMMAND api_misuse_preload)
  add_test(NAME api_process_preload_harden2 COMMAND api_process_preload)
  add_test(NAME cxx_preload_harden2 COMMAND cxx_preload)
  set_tests_properties(api_preload_harden2 api_stats_preload_harden2 api_misuse_preload_harden2
                       api_process_preload_harden2 cxx_preload_harden2 PROPERTIES
                       TIMEOUT 120 SKIP_RETURN_CODE 77 LABELS harden2
                       ENVIRONMENT "${wd_preload};WARDEN_OPTIONS=harden=2")

  # test_api_stats counts blocks and bytes tier by tier: a sampled block
  # (the guard sampler is on by default) is in no tier's counts, so the
  # sampler is off there.
  set_property(TEST api_stats_static APPEND PROPERTY ENVIRONMENT "WARDEN_OPTIONS=guard_sample=0")
  set_property(TEST api_stats_preload APPEND PROPERTY ENVIRONMENT "WARDEN_OPTIONS=guard_sample=0")
  set_tests_properties(api_stats_preload_harden2 PROPERTIES
                       ENVIRONMENT "${wd_preload};WARDEN_OPTIONS=harden=2:guard_sample=0")
endif()
