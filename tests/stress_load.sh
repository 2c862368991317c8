#!/bin/sh
# stress_load.sh -- kept at this path for `make stress` (the Makefile runs
# `sh tests/stress_load.sh BUILD_DIR SECONDS`): the script itself is
# tests/core/stress_load.sh, beside the programs it runs.
exec sh "$(dirname "$0")/core/stress_load.sh" "$@"
