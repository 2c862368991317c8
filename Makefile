# Thin wrapper over CMake so that the README's commands work on a fresh machine.
#   make            build build/libwarden.a and build/libwarden.so (and tests, examples)
#   make test       build, then run every test with ctest
#   make demo       build, then run a real program on warden, then the heap walkthrough
#   make bench      build, then run the benchmark suite against glibc, jemalloc,
#                   tcmalloc and mimalloc (bench/run; BENCH_ARGS=--quick for 3 min;
#                   BENCH_ARGS='--extra NAME=/path/to/lib.so' adds any allocator)
#   make bench-heap the classic heap's O(1) benchmark (time per pair against
#                   the number of holes) and its instruction counts (callgrind)
#   make stress     the threaded stress programs under load for 4 minutes
#                   (STRESS_SECONDS=N to change it)
#   SANITIZE=1      the same in build-asan/, with AddressSanitizer + UBSan
#   TSAN=1          the same in build-tsan/, with ThreadSanitizer (any report
#                   fails its test)
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
ifeq ($(SANITIZE),1)
BUILD   ?= build-asan
CMFLAGS += -DWD_SANITIZE=ON
else ifeq ($(TSAN),1)
BUILD   ?= build-tsan
CMFLAGS += -DWD_TSAN=ON
else
BUILD   ?= build
endif

.PHONY: all build test demo bench bench-heap stress clean
all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMFLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	sh examples/demo.sh $(BUILD)

bench: build
	bench/run --build-dir $(BUILD) $(BENCH_ARGS)

bench-heap: build
	./$(BUILD)/bench/heap_o1 --quick
	sh bench/heap_cost.sh $(BUILD)

# Opt-in: the threaded stress programs side by side, oversubscribed, for
# STRESS_SECONDS (default 240).
STRESS_SECONDS ?= 240
stress: build
	sh tests/stress_load.sh $(BUILD) $(STRESS_SECONDS)

clean:
	rm -rf build build-asan build-tsan
