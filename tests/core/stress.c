/* tests/core/stress.c -- multi-threaded stress of the process's malloc.
 *
 *   stress [--seconds S] [--threads N] [--seed X]
 *
 * N worker threads (default 4) run for S seconds (default 10): they allocate
 * random sizes (mostly small 1..1024, some medium 1 KiB..256 KiB, a few
 * large 256 KiB..8 MiB) with malloc, calloc, realloc(NULL, n),
 * posix_memalign and aligned_alloc (alignments 16..65536), resize blocks
 * with realloc, fill every block with a pattern derived from (pointer,
 * size, seed) and verify it before it is resized or freed.  About 30 % of
 * the blocks are freed by another thread than the one that allocated them:
 * they travel through mutex-protected inboxes.  Every worker now and then
 * creates and joins a short-lived thread that allocates a little and exits,
 * leaving blocks in the workers' inboxes.  Worker 0 forks about once a
 * second; the child verifies and frees part of worker 0's blocks, runs a
 * few thousand allocations of its own (and one thread), and _exit(0)s; the
 * parent kills it and fails if it takes more than 10 s.  At the end every
 * block is verified and freed; the exit status is 0 only if every check
 * passed.
 *
 * Only standard names are used, so it runs under any malloc: linked with
 * libwarden.a (build/tests/core/stress), under LD_PRELOAD, or with libc's own.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

enum {
    MAX_THREADS = 256,
    SLOTS = 4096,            /* live blocks per worker */
    INBOX_CAP = 8192,        /* blocks waiting in one worker's inbox */
    HANDOFF_PERCENT = 30,    /* of the blocks that die, freed by another thread */
    FORK_CHILD_BLOCKS = 4000,
    FORK_TIMEOUT_MS = 10000,
    MAX_REPORTS = 20,
};
static const size_t LIVE_CAP = 64 * MiB; /* bytes held by one worker */

typedef struct blk {
    unsigned char *p;
    size_t size;
    size_t align; /* alignment promised for p */
} blk_t;

typedef struct worker {
    int id;
    pthread_t th;
    uint64_t rng;
    blk_t *slots;
    size_t count;
    size_t live_bytes;
    pthread_mutex_t lock; /* guards the inbox */
    blk_t *inbox;
    size_t in_count;
    blk_t *scratch; /* the inbox, taken out of the lock */
    /* counters, summed at the end */
    uint64_t ops, allocs, frees, reallocs, bytes, handed, received, spawned, forks;
    char pad[64];
} worker_t;

static worker_t workers[MAX_THREADS];
static int nthreads = 4;
static double seconds = 10;
static uint64_t seed;
static atomic_int stop_flag;
static atomic_long failures;
static atomic_long spawned_total;

/* --- patterns ------------------------------------------------------------- */
static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return x;
}
static inline uint64_t key_of(const void *p, size_t size) {
    return mix64((uint64_t)(uintptr_t)p ^ mix64(size + 0x632BE59BD9B4E019ULL) ^ seed);
}
#define STEP 0x9E3779B97F4A7C15ULL

static void fill_key(unsigned char *p, size_t n, uint64_t key) {
    size_t words = n / 8;
    uint64_t v = key;
    for (size_t i = 0; i < words; i++, v += STEP)
        memcpy(p + 8 * i, &v, 8);
    if (n % 8)
        memcpy(p + 8 * words, &v, n % 8);
}
/* First offset in [0, n) that differs from the pattern, or n. */
static size_t check_key(const unsigned char *p, size_t n, uint64_t key) {
    size_t words = n / 8;
    uint64_t v = key;
    for (size_t i = 0; i < words; i++, v += STEP) {
        uint64_t got;
        memcpy(&got, p + 8 * i, 8);
        if (got != v) {
            unsigned char want[8];
            memcpy(want, &v, 8);
            for (size_t j = 0; j < 8; j++)
                if (p[8 * i + j] != want[j])
                    return 8 * i + j;
        }
    }
    if (n % 8) {
        unsigned char want[8];
        memcpy(want, &v, 8);
        for (size_t j = 0; j < n % 8; j++)
            if (p[8 * words + j] != want[j])
                return 8 * words + j;
    }
    return n;
}

/* Reports with write(2) so that it is usable in a forked child. */
static void report(const char *what, const blk_t *b, size_t off, size_t n) {
    long f = atomic_fetch_add(&failures, 1) + 1;
    if (f > MAX_REPORTS)
        return;
    char msg[256];
    int len = snprintf(msg, sizeof msg,
                       "stress: FAIL %s: block %p size %zu align %zu: offset %zu of %zu (byte 0x%02x)\n",
                       what, (void *)b->p, b->size, b->align, off, n,
                       off < n && b->p ? b->p[off] : 0);
    if (len > 0 && write(2, msg, (size_t)len) < 0)
        return;
}
static void fail_msg(const char *what) {
    long f = atomic_fetch_add(&failures, 1) + 1;
    if (f > MAX_REPORTS)
        return;
    char msg[256];
    int len = snprintf(msg, sizeof msg, "stress: FAIL %s (errno %d)\n", what, errno);
    if (len > 0 && write(2, msg, (size_t)len) < 0)
        return;
}

static void fill_block(blk_t *b) { fill_key(b->p, b->size, key_of(b->p, b->size)); }
static int verify_block(const blk_t *b, const char *when) {
    size_t off = check_key(b->p, b->size, key_of(b->p, b->size));
    if (off != b->size) {
        report(when, b, off, b->size);
        return 0;
    }
    return 1;
}

/* --- allocation ------------------------------------------------------------ */
/* Small sizes uniform; medium and large uniform within a random octave
 * (log-uniform), so that small medium blocks are as common as big ones. */
static size_t in_octaves(uint64_t *rng, unsigned lo_bits, unsigned octaves, size_t max) {
    uint64_t r = test_rand(rng);
    size_t base = (size_t)1 << (lo_bits + (unsigned)(r % octaves));
    size_t n = base + (size_t)((r >> 8) % base);
    return n > max ? max : n;
}
static size_t pick_size(uint64_t *rng) {
    uint64_t r = test_rand(rng);
    unsigned tier = (unsigned)(r % 1000);
    if (tier < 880)
        return 1 + (size_t)((r >> 10) % 1024);          /* small: 1 .. 1 KiB */
    if (tier < 998)
        return in_octaves(rng, 10, 8, 256 * KiB);       /* medium: 1 KiB .. 256 KiB */
    return in_octaves(rng, 18, 5, 8 * MiB);             /* large: 256 KiB .. 8 MiB */
}

/* Largest power of two <= n, capped at 16: what any malloc must align to. */
static size_t natural_align(size_t n) {
    size_t a = 1;
    while (a < 16 && a * 2 <= n)
        a *= 2;
    return a;
}

static int new_block(uint64_t *rng, blk_t *out) {
    size_t n = pick_size(rng);
    uint64_t r = test_rand(rng);
    unsigned kind = (unsigned)(r % 100);
    size_t align = natural_align(n);
    void *p = NULL;
    int zeroed = 0;
    if (kind < 65) {
        p = malloc(n);
    } else if (kind < 75) {
        p = ((r >> 8) & 1) ? calloc(n, 1) : calloc(1, n);
        zeroed = 1;
    } else if (kind < 80) {
        p = realloc(NULL, n);
    } else if (kind < 90) {
        align = (size_t)1 << (4 + (r >> 8) % 13); /* 16 .. 65536 */
        int rc = posix_memalign(&p, align, n);
        if (rc != 0) {
            errno = rc;
            p = NULL;
        }
    } else {
        align = (size_t)1 << (4 + (r >> 8) % 13);
        p = aligned_alloc(align, n);
    }
    if (!p) {
        fail_msg("allocation returned NULL");
        return 0;
    }
    out->p = p;
    out->size = n;
    out->align = align;
    if (((uintptr_t)p & (align - 1)) != 0) {
        report("misaligned block", out, 0, n);
    }
    if (malloc_usable_size(p) < n)
        report("usable size below the request", out, malloc_usable_size(p), n);
    if (zeroed) {
        for (size_t i = 0; i < n; i++)
            if (out->p[i] != 0) {
                report("calloc block not zeroed", out, i, n);
                break;
            }
    }
    fill_block(out);
    return 1;
}

static void free_block(blk_t *b, const char *when) {
    verify_block(b, when);
    free(b->p);
    b->p = NULL;
}

/* realloc to a new random size: the old prefix must come across. */
static int resize_block(uint64_t *rng, blk_t *b) {
    size_t n;
    uint64_t r = test_rand(rng);
    if (r % 4 == 0)
        n = pick_size(rng);
    else if (r % 4 == 1)
        n = b->size + 1 + (size_t)((r >> 8) % 64);
    else if (r % 4 == 2)
        n = b->size > 1 ? b->size - 1 - (size_t)((r >> 8) % (b->size - 1)) : 1;
    else
        n = b->size > 64 * KiB ? b->size / 2 + 1 : b->size * 2;
    verify_block(b, "before realloc");
    uint64_t old_key = key_of(b->p, b->size);
    blk_t old = *b;
    unsigned char *q = realloc(b->p, n);
    if (!q) {
        fail_msg("realloc returned NULL");
        /* the old block stays valid */
        return 0;
    }
    size_t keep = old.size < n ? old.size : n;
    size_t off = check_key(q, keep, old_key);
    b->p = q;
    b->size = n;
    b->align = natural_align(n);
    if (off != keep) {
        old.p = q;
        report("realloc lost data", &old, off, keep);
    }
    if (((uintptr_t)q & (b->align - 1)) != 0)
        report("misaligned realloc", b, 0, n);
    if (malloc_usable_size(q) < n)
        report("usable size below the realloc request", b, malloc_usable_size(q), n);
    fill_block(b);
    return 1;
}

/* --- inboxes --------------------------------------------------------------- */
static int give(worker_t *to, const blk_t *b) {
    int ok = 0;
    pthread_mutex_lock(&to->lock);
    if (to->in_count < INBOX_CAP) {
        to->inbox[to->in_count++] = *b;
        ok = 1;
    }
    pthread_mutex_unlock(&to->lock);
    return ok;
}

static void worker_drop(worker_t *w, size_t i) {
    w->live_bytes -= w->slots[i].size;
    w->slots[i] = w->slots[--w->count];
}

/* Verifies what other threads sent; frees most, adopts some (they are
 * resized and freed later by this thread). */
static void drain_inbox(worker_t *w) {
    blk_t *local = w->scratch;
    pthread_mutex_lock(&w->lock);
    size_t n = w->in_count;
    memcpy(local, w->inbox, n * sizeof(blk_t));
    w->in_count = 0;
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n; i++) {
        w->received++;
        uint64_t r = test_rand(&w->rng);
        if (r % 4 == 0 && w->count < SLOTS && w->live_bytes + local[i].size <= LIVE_CAP &&
            verify_block(&local[i], "received block")) {
            w->slots[w->count++] = local[i];
            w->live_bytes += local[i].size;
        } else {
            free_block(&local[i], "received block before free");
            w->frees++;
        }
    }
}

/* --- short-lived threads --------------------------------------------------- */
typedef struct spawn_arg {
    uint64_t rng;
    int creator;
} spawn_arg_t;

static void *short_lived(void *arg) {
    spawn_arg_t *sa = arg;
    enum { N = 64 };
    blk_t b[N];
    int n = 8 + (int)(test_rand(&sa->rng) % (N - 8));
    for (int i = 0; i < n; i++) {
        if (!new_block(&sa->rng, &b[i]))
            b[i].p = NULL;
        if (b[i].p && b[i].size > 256 * KiB) { /* keep these small-ish */
            free_block(&b[i], "short-lived thread block");
            b[i].p = NULL;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!b[i].p)
            continue;
        uint64_t r = test_rand(&sa->rng);
        if (r % 3 == 0) {
            free_block(&b[i], "short-lived thread block");
        } else {
            int to = (int)((r >> 8) % (uint64_t)nthreads);
            if (!give(&workers[to], &b[i]))
                free_block(&b[i], "short-lived thread block");
        }
    }
    /* and a little churn of its own before exiting */
    for (int i = 0; i < 100; i++) {
        blk_t t;
        if (new_block(&sa->rng, &t))
            free_block(&t, "short-lived churn");
    }
    return NULL;
}

static void spawn_short(worker_t *w) {
    spawn_arg_t sa = {.rng = test_rand(&w->rng), .creator = w->id};
    pthread_t t;
    int rc = pthread_create(&t, NULL, short_lived, &sa);
    if (rc != 0) {
        errno = rc;
        fail_msg("pthread_create of a short-lived thread");
        return;
    }
    pthread_join(t, NULL);
    w->spawned++;
    atomic_fetch_add(&spawned_total, 1);
}

/* --- fork ------------------------------------------------------------------ */
static void *fork_child_thread(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < 500; i++) {
        blk_t b;
        if (!new_block(&rng, &b))
            return (void *)1;
        free_block(&b, "fork child thread");
    }
    return NULL;
}

static int fork_child(worker_t *w) {
    /* worker 0's blocks were not being modified at the fork (worker 0 is the
     * forking thread): all must be intact; free half of them. */
    for (size_t i = 0; i < w->count; i++) {
        if (!verify_block(&w->slots[i], "inherited block in fork child"))
            return 1;
        if (i % 2 == 0)
            free(w->slots[i].p);
    }
    enum { RING = 128 };
    blk_t ring[RING];
    memset(ring, 0, sizeof ring);
    uint64_t rng = test_rand(&w->rng) ^ 0xF0F0;
    for (int i = 0; i < FORK_CHILD_BLOCKS; i++) {
        blk_t *b = &ring[i % RING];
        if (b->p) {
            if (test_rand(&rng) % 3 == 0) {
                if (!resize_block(&rng, b))
                    return 1;
                if (!verify_block(b, "fork child realloc"))
                    return 1;
            }
            if (!verify_block(b, "fork child block"))
                return 1;
            free(b->p);
            b->p = NULL;
        }
        if (!new_block(&rng, b))
            return 1;
    }
    for (int i = 0; i < RING; i++)
        if (ring[i].p) {
            if (!verify_block(&ring[i], "fork child block"))
                return 1;
            free(ring[i].p);
        }
    pthread_t t;
    void *res = (void *)1;
    if (pthread_create(&t, NULL, fork_child_thread, (void *)(uintptr_t)test_rand(&rng)) != 0 ||
        pthread_join(t, &res) != 0 || res != NULL)
        return 1;
    return atomic_load(&failures) != 0;
}

static void do_fork(worker_t *w) {
    pid_t pid = fork();
    if (pid < 0) {
        fail_msg("fork");
        return;
    }
    if (pid == 0)
        _exit(fork_child(w));
    int status = 0;
    int done = 0;
    for (int ms = 0; ms < FORK_TIMEOUT_MS; ms++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            done = 1;
            break;
        }
        if (r < 0 && errno != EINTR) {
            fail_msg("waitpid");
            return;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    w->forks++;
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("fork child hung for more than 10 s (killed)");
        return;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "fork child %s %d", WIFEXITED(status) ? "exited with" : "killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        fail_msg(msg);
    }
}

/* --- the worker ------------------------------------------------------------ */
static void release_one(worker_t *w, size_t i) {
    blk_t b = w->slots[i];
    worker_drop(w, i);
    uint64_t r = test_rand(&w->rng);
    if (nthreads > 1 && r % 100 < HANDOFF_PERCENT) {
        int to = (int)((r >> 8) % (uint64_t)(nthreads - 1));
        if (to >= w->id)
            to++;
        if (verify_block(&b, "block before handoff") && give(&workers[to], &b)) {
            w->handed++;
            return;
        }
    }
    free_block(&b, "block before free");
    w->frees++;
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    double last_spawn = test_now(), last_fork = last_spawn;
    double spawn_every = 0.02 + 0.01 * (double)(w->id % 4);
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        for (int k = 0; k < 256; k++) {
            uint64_t r = test_rand(&w->rng);
            unsigned op = (unsigned)(r % 100);
            w->ops++;
            if (w->count == 0 || (op < 45 && w->count < SLOTS)) {
                blk_t b;
                if (new_block(&w->rng, &b)) {
                    w->slots[w->count++] = b;
                    w->live_bytes += b.size;
                    w->allocs++;
                    w->bytes += b.size;
                }
            } else if (op < 85) {
                release_one(w, (size_t)((r >> 8) % w->count));
            } else if (op < 95) {
                size_t i = (size_t)((r >> 8) % w->count);
                size_t before = w->slots[i].size;
                if (resize_block(&w->rng, &w->slots[i])) {
                    w->live_bytes = w->live_bytes - before + w->slots[i].size;
                    w->reallocs++;
                    w->bytes += w->slots[i].size;
                }
            } else {
                verify_block(&w->slots[(size_t)((r >> 8) % w->count)], "live block");
            }
            while (w->live_bytes > LIVE_CAP && w->count > 0)
                release_one(w, (size_t)(test_rand(&w->rng) % w->count));
        }
        drain_inbox(w);
        double t = test_now();
        if (t - last_spawn >= spawn_every) {
            spawn_short(w);
            last_spawn = t;
        }
        if (w->id == 0 && t - last_fork >= 1.0) {
            do_fork(w);
            last_fork = test_now();
        }
    }
    /* free what this thread holds; the inbox is emptied by main after the join */
    while (w->count > 0) {
        free_block(&w->slots[w->count - 1], "block at the end");
        w->count--;
    }
    w->live_bytes = 0;
    return NULL;
}

static void usage(const char *argv0) {
    fprintf(stderr, "usage: %s [--seconds S] [--threads N] [--seed X]\n", argv0);
    exit(2);
}

int main(int argc, char **argv) {
    (void)test_failures;
    int have_seed = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[++i], NULL);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            nthreads = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0) {
            seed = strtoull(argv[++i], NULL, 0);
            have_seed = 1;
        } else
            usage(argv[0]);
    }
    if (nthreads < 1 || nthreads > MAX_THREADS || !(seconds >= 0))
        usage(argv[0]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!have_seed)
        seed = test_seed();
    else
        printf("seed: --seed %llu\n", (unsigned long long)seed);
    printf("stress: %d threads, %.1f s, allocator: %s\n", nthreads, seconds,
           dlsym(RTLD_DEFAULT, "wd_malloc") ? "warden" : "not warden (libc or another LD_PRELOAD)");

    for (int i = 0; i < nthreads; i++) {
        worker_t *w = &workers[i];
        w->id = i;
        w->rng = mix64(seed + (uint64_t)i * 0x1234567ULL) | 1;
        w->slots = malloc(SLOTS * sizeof(blk_t));
        w->inbox = malloc(INBOX_CAP * sizeof(blk_t));
        w->scratch = malloc(INBOX_CAP * sizeof(blk_t));
        CHECK(w->slots && w->inbox && w->scratch);
        CHECK(pthread_mutex_init(&w->lock, NULL) == 0);
    }
    double t0 = test_now();
    for (int i = 0; i < nthreads; i++)
        CHECK(pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) == 0);
    while (test_now() - t0 < seconds && atomic_load(&failures) == 0) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < nthreads; i++)
        CHECK(pthread_join(workers[i].th, NULL) == 0);
    double elapsed = test_now() - t0;

    /* blocks still in inboxes: their allocating threads are gone */
    uint64_t ops = 0, allocs = 0, frees = 0, reallocs = 0, bytes = 0, handed = 0, received = 0,
             forks = 0, leftover = 0;
    for (int i = 0; i < nthreads; i++) {
        worker_t *w = &workers[i];
        for (size_t k = 0; k < w->in_count; k++) {
            free_block(&w->inbox[k], "inbox block at the end");
            leftover++;
        }
        w->in_count = 0;
        ops += w->ops;
        allocs += w->allocs;
        frees += w->frees;
        reallocs += w->reallocs;
        bytes += w->bytes;
        handed += w->handed;
        received += w->received;
        forks += w->forks;
        free(w->slots);
        free(w->inbox);
        free(w->scratch);
        pthread_mutex_destroy(&w->lock);
    }
    long f = atomic_load(&failures);
    printf("stress: %.1f s, %llu ops (%llu allocs, %llu reallocs, %llu frees), %.1f GiB allocated, "
           "%llu handed to other threads (%llu received), %ld short-lived threads, %llu forks, "
           "%llu freed at the end from inboxes\n",
           elapsed, (unsigned long long)ops, (unsigned long long)allocs, (unsigned long long)reallocs,
           (unsigned long long)frees, (double)bytes / (double)(1024 * MiB), (unsigned long long)handed,
           (unsigned long long)received, atomic_load(&spawned_total), (unsigned long long)forks,
           (unsigned long long)leftover);
    if (f != 0) {
        printf("stress: FAILED (%ld failed checks)\n", f);
        return 1;
    }
    if (seconds >= 2 && (forks == 0 || (nthreads > 1 && handed == 0) || atomic_load(&spawned_total) == 0)) {
        printf("stress: FAILED: the run did not exercise forks, handoffs and short-lived threads\n");
        return 1;
    }
    printf("stress: all checks passed\n");
    return 0;
}
