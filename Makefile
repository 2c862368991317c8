# Thin wrapper over CMake so that the README's commands work on a fresh machine.
#   make            build build/libwarden.a and build/libwarden.so (and tests, examples)
#   make test       build, then run every test with ctest
#   make demo       build quietly (one line; the log in build/build.log), then run a
#                   real program on warden, then the heap walkthrough
#   make install    build, then install into PREFIX (default /usr/local), under
#                   DESTDIR when given: lib/, include/, bin/warden, share/man/
#   make deb        Debian packages (libwarden0, libwarden-dev, warden) with CPack,
#                   built in build-deb/ for /usr; they land in build-deb/packages/
#   make bench      build, then run the benchmark suite against glibc, jemalloc,
#                   tcmalloc and mimalloc (bench/run; BENCH_ARGS=--quick for 3 min;
#                   BENCH_ARGS='--extra NAME=/path/to/lib.so' adds any allocator)
#   make bench-check warden's check mode (check=1) and valgrind memcheck against
#                   default warden, quick sizes, 3 runs (bench/run --check)
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

PREFIX  ?= /usr/local

.PHONY: all build test demo install deb bench bench-check bench-heap stress clean
all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMFLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The build's output folded into one line; all of it, with the error, when
# it fails.
demo:
	@mkdir -p $(BUILD)
	@printf 'demo: building warden in $(BUILD)/ ... '
	@if { [ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) $(CMFLAGS); } \
	    >$(BUILD)/build.log 2>&1 && cmake --build $(BUILD) -j $(JOBS) >>$(BUILD)/build.log 2>&1; \
	then echo "done (log: $(BUILD)/build.log)"; \
	else echo "failed:"; cat $(BUILD)/build.log; exit 1; fi
	@sh examples/demo.sh $(BUILD)

# Everything installed is relocatable (cmake/install.cmake), so the prefix
# is chosen here, not when the build was configured.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

deb:
	cmake -S . -B build-deb -DWD_DEB=ON -DWD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMFLAGS)
	cmake --build build-deb -j $(JOBS)
	cd build-deb && cpack -G DEB
	@ls build-deb/packages/*.deb

bench: build
	bench/run --build-dir $(BUILD) $(BENCH_ARGS)

# Check mode's cost: warden with check=1 and valgrind memcheck beside
# default warden, on the quick sizes (docs/check.md#cost).
bench-check: build
	bench/run --build-dir $(BUILD) --quick --check --alloc warden --runs 3 $(BENCH_ARGS)

bench-heap: build
	./$(BUILD)/bench/heap_o1 --quick
	sh bench/heap_cost.sh $(BUILD)

# Opt-in: the threaded stress programs side by side, oversubscribed, for
# STRESS_SECONDS (default 240).
STRESS_SECONDS ?= 240
stress: build
	sh tests/stress_load.sh $(BUILD) $(STRESS_SECONDS)

clean:
	rm -rf build build-asan build-tsan build-deb
