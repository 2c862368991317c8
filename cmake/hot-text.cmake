# The link script of libwarden.so: the linker's own script for a shared
# library with three changes.  .text starts with the functions that
# cmake/hot-text.ld lists (written by tools/hot-text): the kernel maps a
# library's code 64 KiB at a time around a page fault (fault-around), and
# with warden's functions spread over its 190 KiB of code any program kept
# all of it resident; with the ones a program runs without a debug mode
# together it keeps one or two windows.  .fini comes before .text: _fini
# runs at every exit and would bring in the window at the end of the code.
# .bss starts with the large arrays that cmake/cold-bss.ld lists, so that
# the small variables every program touches lie together after them
# instead of among them on nine pages.  One .text section, so valgrind and
# other tools find every function where they look.
#
# Sets WD_LINK_SCRIPT to the script written into the build directory, or
# to "" when the linker does not print its script (not GNU ld): the
# library is then linked as it was, with the functions in file order.
set(WD_HOT_TEXT ${PROJECT_SOURCE_DIR}/cmake/hot-text.ld)
set(WD_COLD_BSS ${PROJECT_SOURCE_DIR}/cmake/cold-bss.ld)
set(WD_LINK_SCRIPT "")
execute_process(
  COMMAND ${CMAKE_C_COMPILER} -shared -fPIC -nostdlib -Wl,--verbose
          -o ${CMAKE_BINARY_DIR}/CMakeFiles/wd-ld-verbose.so
  OUTPUT_VARIABLE wd_ld_out ERROR_QUIET RESULT_VARIABLE wd_ld_rc)
set(wd_rule "==================================================\n")
string(FIND "${wd_ld_out}" "${wd_rule}" wd_first)
string(FIND "${wd_ld_out}" "${wd_rule}" wd_last REVERSE)
set(wd_text_head "  .text           :\n  {\n")
set(wd_bss_head "  .bss            :\n  {\n")
set(wd_fini "  .fini           :\n  {\n    KEEP (*(SORT_NONE(.fini)))\n  }\n")
if(wd_ld_rc EQUAL 0 AND wd_first GREATER -1 AND wd_last GREATER wd_first)
  string(LENGTH "${wd_rule}" wd_rule_len)
  math(EXPR wd_begin "${wd_first} + ${wd_rule_len}")
  math(EXPR wd_len "${wd_last} - ${wd_begin}")
  string(SUBSTRING "${wd_ld_out}" ${wd_begin} ${wd_len} wd_script)
  string(FIND "${wd_script}" "${wd_text_head}" wd_at)
  if(wd_at GREATER -1)
    string(FIND "${wd_script}" "${wd_fini}" wd_fini_at)
    if(wd_fini_at GREATER -1)
      string(REPLACE "${wd_fini}" "" wd_script "${wd_script}")
    else()
      set(wd_fini "")
    endif()
    string(REPLACE "${wd_text_head}"
           "${wd_fini}${wd_text_head}    INCLUDE \"${WD_HOT_TEXT}\"\n"
           wd_script "${wd_script}")
    string(REPLACE "${wd_bss_head}" "${wd_bss_head}    INCLUDE \"${WD_COLD_BSS}\"\n"
           wd_script "${wd_script}")
    file(WRITE ${CMAKE_BINARY_DIR}/warden.ld
         "/* Written by cmake/hot-text.cmake: the linker's script with hot functions first. */\n"
         "${wd_script}")
    set(WD_LINK_SCRIPT ${CMAKE_BINARY_DIR}/warden.ld)
  endif()
endif()
if(NOT WD_LINK_SCRIPT)
  message(STATUS "warden: the linker printed no script; functions in file order")
endif()
