// check_clean.cpp -- a program with no memory bug, for check mode
// (test_check.c runs it with LD_PRELOAD=libwarden.so WARDEN_OPTIONS=check=1
// and expects `0 errors, 0 bytes leaked` and no other `warden:` line).  It
// does what real programs do and a checker must not mistake for misuse:
//
//   - threads that free blocks other threads allocated (a queue of
//     messages between a producer and two consumers);
//   - realloc growth from 1 byte to 4 MiB (through the small, medium and
//     large tiers), the contents checked after every move;
//   - posix_memalign, aligned_alloc and memalign at alignments up to
//     64 KiB, every byte of each block written;
//   - getline on a temporary file (libc allocates the line buffer);
//   - strdup, calloc, malloc_usable_size up to its end;
//   - fork: the child allocates, frees and exits through exit() (its own
//     summary line is printed too), the parent carries on;
//   - C++ containers: vector, string, map, unordered_map, list,
//     shared_ptr, new[]/delete[];
//   - over-aligned types (alignas 32 to 256): new and delete, new[] and
//     delete[], a vector of them, make_shared, and operator new/delete
//     with an alignment, sized and not, and their nothrow forms.
//
// Everything is freed before the end; it prints "check_clean: done" last.
// Not linked with warden.
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <list>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "check_clean: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

// --- threads: a queue of messages, freed by whoever takes them ---------------

enum { QUEUE_CAP = 64, MESSAGES = 20000 };

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char *slot[QUEUE_CAP];
    size_t head, count;
    int producers_done;
};

static queue q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {}, 0, 0, 0};

static void *producer(void *) {
    for (int i = 0; i < MESSAGES; i++) {
        size_t n = 8 + (size_t)(i * 37) % 3000;
        char *m = (char *)malloc(n);
        CHECK(m != NULL);
        memset(m, (char)i, n);
        m[n - 1] = '\0';
        pthread_mutex_lock(&q.lock);
        while (q.count == QUEUE_CAP)
            pthread_cond_wait(&q.changed, &q.lock);
        q.slot[(q.head + q.count++) % QUEUE_CAP] = m;
        pthread_cond_broadcast(&q.changed);
        pthread_mutex_unlock(&q.lock);
    }
    pthread_mutex_lock(&q.lock);
    q.producers_done = 1;
    pthread_cond_broadcast(&q.changed);
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

static void *consumer(void *arg) {
    size_t *taken = (size_t *)arg;
    for (;;) {
        pthread_mutex_lock(&q.lock);
        while (q.count == 0 && !q.producers_done)
            pthread_cond_wait(&q.changed, &q.lock);
        if (q.count == 0) {
            pthread_mutex_unlock(&q.lock);
            return NULL;
        }
        char *m = q.slot[q.head];
        q.head = (q.head + 1) % QUEUE_CAP;
        q.count--;
        pthread_cond_broadcast(&q.changed);
        pthread_mutex_unlock(&q.lock);
        CHECK(strlen(m) < 8 + 3000);
        free(m); // allocated by the producer thread
        ++*taken;
    }
}

static void threads(void) {
    pthread_t p, c[2];
    size_t taken[2] = {0, 0};
    CHECK(pthread_create(&p, NULL, producer, NULL) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&c[i], NULL, consumer, &taken[i]) == 0);
    pthread_join(p, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(c[i], NULL);
    CHECK(taken[0] + taken[1] == MESSAGES);
    // A thread that allocates and exits; its block is freed here.
    pthread_t t;
    void *from_thread = NULL;
    CHECK(pthread_create(
              &t, NULL, [](void *) -> void * { return strdup("from a thread that is gone"); },
              NULL) == 0);
    pthread_join(t, &from_thread);
    CHECK(from_thread != NULL && strcmp((char *)from_thread, "from a thread that is gone") == 0);
    free(from_thread);
}

// --- realloc growth ------------------------------------------------------------

static void realloc_growth(void) {
    unsigned char *buf = NULL;
    size_t size = 0;
    for (size_t want = 1; want <= ((size_t)4 << 20); want = want * 3 / 2 + 1) {
        unsigned char *grown = (unsigned char *)realloc(buf, want);
        CHECK(grown != NULL);
        for (size_t i = 0; i < size; i++)
            CHECK(grown[i] == (unsigned char)(i * 7));
        for (size_t i = size; i < want; i++)
            grown[i] = (unsigned char)(i * 7);
        buf = grown;
        size = want;
    }
    buf = (unsigned char *)realloc(buf, 100); // and down again
    CHECK(buf != NULL && buf[99] == (unsigned char)(99 * 7));
    free(buf);
}

// --- aligned blocks ---------------------------------------------------------------

static void aligned(void) {
    for (size_t align = sizeof(void *); align <= 65536; align *= 2) {
        void *p = NULL;
        CHECK(posix_memalign(&p, align, align + 3) == 0);
        CHECK((uintptr_t)p % align == 0);
        memset(p, 1, align + 3);
        free(p);
        void *a = aligned_alloc(align, align * 2);
        CHECK(a != NULL && (uintptr_t)a % align == 0);
        memset(a, 2, align * 2);
        void *m = memalign(align, 100);
        CHECK(m != NULL && (uintptr_t)m % align == 0);
        memset(m, 3, 100);
        free(m);
        free(a);
    }
}

// --- libc's own allocations -----------------------------------------------------

static void libc_calls(void) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    for (int i = 0; i < 100; i++)
        fprintf(f, "line %d %*s\n", i, i * 10, "x");
    rewind(f);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, f) > 0)
        lines++;
    CHECK(lines == 100);
    free(line);
    fclose(f);

    char *copy = strdup("a copy");
    CHECK(copy != NULL);
    free(copy);
    int *zeros = (int *)calloc(1000, sizeof(int));
    CHECK(zeros != NULL && zeros[999] == 0);
    free(zeros);
    char *edge = (char *)malloc(13);
    CHECK(edge != NULL);
    size_t usable = malloc_usable_size(edge);
    CHECK(usable >= 13);
    memset(edge, 'u', usable); // up to malloc_usable_size, not beyond
    free(edge);
}

// --- fork -------------------------------------------------------------------------

static void forked(void) {
    char *before = strdup("allocated before fork");
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char *mine = (char *)malloc(1000);
        CHECK(mine != NULL);
        memset(mine, 4, 1000);
        free(mine);
        free(before); // the parent's block, the child's copy
        exit(0);      // the child prints its own summary
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(before);
}

// --- C++ containers --------------------------------------------------------------------

static void containers(void) {
    std::vector<std::string> words;
    for (int i = 0; i < 5000; i++)
        words.push_back("word number " + std::to_string(i) + std::string((size_t)i % 50, 'x'));
    std::map<std::string, int> counts;
    std::unordered_map<int, std::vector<int>> buckets;
    std::list<std::shared_ptr<std::string>> shared;
    for (size_t i = 0; i < words.size(); i++) {
        counts[words[i].substr(0, 14)]++;
        buckets[(int)(i % 97)].push_back((int)i);
        if (i % 10 == 0)
            shared.push_back(std::make_shared<std::string>(words[i]));
    }
    CHECK(counts.size() > 10 && buckets.size() == 97 && shared.size() == 500);
    int *numbers = new int[1000];
    numbers[999] = 1;
    delete[] numbers;
    std::unique_ptr<std::vector<double>> owned(new std::vector<double>(10000, 1.5));
    CHECK(owned->back() == 1.5);
}

// --- over-aligned types: aligned new goes back through aligned delete -----------

struct alignas(32) Align32 {
    char c[40];
};
struct alignas(64) Align64 {
    char c[100];
};
struct alignas(256) Align256 {
    char c[10];
};

static void over_aligned(void) {
    std::vector<Align64> v(100);
    v.resize(1000);
    CHECK((uintptr_t)v.data() % 64 == 0);
    delete new Align64;
    delete new Align32;
    delete[] new Align64[7];
    delete[] new Align256[3];
    std::shared_ptr<Align64> shared = std::make_shared<Align64>();
    std::unique_ptr<Align256> owned(new Align256);
    CHECK((uintptr_t)owned.get() % 256 == 0);
    void *r = ::operator new(100, std::align_val_t(128));
    ::operator delete(r, std::align_val_t(128));
    void *q = ::operator new(100, std::align_val_t(128));
    ::operator delete(q, 100, std::align_val_t(128));
    void *z = ::operator new[](100, std::align_val_t(64), std::nothrow);
    ::operator delete[](z, std::align_val_t(64), std::nothrow);
}

int main() {
    threads();
    realloc_growth();
    aligned();
    libc_calls();
    forked();
    containers();
    over_aligned();
    puts("check_clean: done");
    return 0;
}
