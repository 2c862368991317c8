"""The code of bench/run, the benchmark driver, one module per job.

    common      where things are (ROOT, SUITE, RESULTS, LIBDIR, LIBC); log, warn
    workloads   the Workload class, the WORKLOADS table, REDIS_TESTS
    packages    Debian packages: installed?, version, apt-get install
    build       building targets with cmake
    report      medians, ratios, geometric means, the best-peer table, the
                markdown report, the csv's rows
    plots       the gnuplot charts
    measure     one run under an allocator (bench/suite/measure, redis), the
                Runner, the run loop
    allocators  the allocators, --extra/--variant, warden's library, which can run
    cli         the options, selecting workloads and allocators, main

Each module imports only those above it in this list."""
