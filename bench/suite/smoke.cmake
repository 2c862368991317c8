# smoke.cmake -- one smoke run of a suite workload, for ctest:
#   cmake -DEXE=path -DNAME=name -DARGS="size threads" -P smoke.cmake
# Passes when the program exits 0 and prints its `result: NAME ` line, with no
# misaligned block reported.
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${EXE} ${args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NAME} exited with ${rc}")
endif()
if(NOT out MATCHES "result: ${NAME} [^\n]")
  message(FATAL_ERROR "${NAME} printed no `result: ${NAME} ...` line")
endif()
if(out MATCHES "misaligned=[1-9]")
  message(FATAL_ERROR "${NAME} reported misaligned blocks")
endif()
