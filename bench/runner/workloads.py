"""The suite's workloads: the Workload class, the WORKLOADS table (names,
kinds, full and quick sizes, the Debian packages each needs) and the tests
redis-benchmark runs.  Imports nothing of the package."""


# The allocation-heavy workloads: programs of bench/suite whose loop is
# malloc and free (and realloc) and little else, so that the cost of an
# allocator's mode shows whole.  Left out: the fixed-duration ones (server,
# server_sized, fragment), thread creation (thread_churn), false sharing
# (cache_thrash, cache_scratch: a few blocks), large blocks (malloc_large,
# large_reuse, large_bare: the system's calls more than the allocator), the _mt
# copies of small_loop and mixed_sizes, and the real programs.
HEAVY = ("churn", "larson", "xmalloc", "mstress", "realloc_vec", "aligned", "stl",
         "small_loop", "mixed_sizes", "objects")


class Workload:
    """One entry of the suite.  kind: 'bin' (a program of bench/suite), 'cmd'
    (a real program), 'redis'.  size/quick: the size argument of a full and
    of a quick run.  threaded: takes the thread count.  fixed_time: its wall
    time is set by the workload (left out of the time geometric mean).  heavy:
    one of the allocation-heavy workloads that --check's means count and that
    valgrind memcheck runs by default (see HEAVY)."""

    def __init__(self, name, kind, size, quick, threaded=False, fixed_time=False,
                 packages=(), what=""):
        self.name, self.kind, self.size, self.quick = name, kind, size, quick
        self.threaded, self.fixed_time = threaded, fixed_time
        self.packages, self.what = packages, what
        self.heavy = name in HEAVY


WORKLOADS = [
    Workload("churn", "bin", 8000000, 800000, what="single-thread small-object churn"),
    Workload("larson", "bin", 30000000, 3000000, threaded=True,
             what="server simulation, cross-thread frees"),
    Workload("xmalloc", "bin", 40000000, 4000000, threaded=True,
             what="producer/consumer threads"),
    Workload("cache_thrash", "bin", 6000, 600, threaded=True, what="active false sharing"),
    Workload("cache_scratch", "bin", 6000, 600, threaded=True, what="passive false sharing"),
    Workload("mstress", "bin", 10000000, 1000000, threaded=True,
             what="mixed sizes, realloc, heavy tail, threads"),
    Workload("malloc_large", "bin", 3000, 300, what="64 KiB..32 MiB blocks"),
    Workload("realloc_vec", "bin", 16000000, 1600000, what="vectors grown and shrunk by realloc"),
    Workload("aligned", "bin", 8000000, 800000, what="posix_memalign/aligned_alloc 64 B..2 MiB"),
    Workload("fragment", "bin", 500, 100, fixed_time=True,
             what="RSS after a scattered free of a peak"),
    Workload("thread_churn", "bin", 40000, 4000, threaded=True, what="short-lived threads"),
    Workload("stl", "bin", 2000000, 200000, what="C++ map/unordered_map/string"),
    Workload("large_reuse", "bin", 4000, 400,
             what="5..25 MiB blocks, 20 live, partly written: reuse of freed large blocks"),
    Workload("large_bare", "bin", 200000, 20000,
             what="large_reuse with blocks never written: the allocator's own cost a block"),
    Workload("small_loop", "bin", 1200000, 120000,
             what="batches of 128 blocks of 16..512 B allocated and freed, one thread"),
    Workload("small_loop_mt", "bin", 600000, 60000, threaded=True,
             what="small_loop in every thread at once"),
    Workload("server", "bin", 3000, 300, threaded=True, fixed_time=True,
             what="threads hand their 10..1000 B blocks to successors; 3 s, ops/s"),
    Workload("server_sized", "bin", 3000, 300, threaded=True, fixed_time=True,
             what="server with blocks of 16..128 B"),
    Workload("working_set", "bin", 60000000, 6000000,
             what="1024 slots, each step a random one's block replaced; 4 B..32 KiB, inverse square"),
    Workload("working_set_mt", "bin", 30000000, 3000000, threaded=True,
             what="working_set in every thread at once"),
    Workload("mixed_sizes", "bin", 30000000, 3000000,
             what="skewed sizes 8 B..64 KiB, random lifetimes, realloc; one thread"),
    Workload("mixed_sizes_mt", "bin", 12000000, 1200000, threaded=True,
             what="mixed_sizes in every thread at once"),
    Workload("objects", "bin", 1200, 120,
             what="bignum factoring and cube-set products: 4..56 B objects"),
    Workload("rounds", "bin", 40000, 4000,
             what="rounds of 2000 blocks of 1..1000 B allocated whole, freed whole in mixed order"),
    Workload("rounds_mt", "bin", 20000, 2000, threaded=True,
             what="rounds in every thread at once"),
    Workload("python", "cmd", 200, 20, what="python3 allocation-heavy script"),
    Workload("sqlite", "cmd", 500000, 50000, packages=("sqlite3",),
             what="sqlite3 in-memory table, indexes, queries"),
    Workload("gcc", "cmd", 400, 40, what="gcc -O2 on a generated C file"),
    Workload("redis", "redis", 200000, 20000, packages=("redis-server",),
             what="redis-server under redis-benchmark"),
]
REDIS_TESTS = "set,get,incr,lpush,lpop,sadd,hset,zadd"
