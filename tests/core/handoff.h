/* handoff.h -- for the race tests (test_large_race.c, test_remote_retire.c):
 * blocks on their way from one thread to another, in a mutex-protected
 * array of HANDOFF_CAP slots (the includer may set it first), taken out at
 * random; and the options every race test takes.
 * Needs test.h and pthread.h first. */
#ifndef WARDEN_TESTS_HANDOFF_H
#define WARDEN_TESTS_HANDOFF_H

#ifndef HANDOFF_CAP
#define HANDOFF_CAP 64
#endif

static struct {
    pthread_mutex_t lock;
    void *slot[HANDOFF_CAP];
    unsigned count;
} handoff = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};

/* Puts p in for another thread; 0 when there is no room (the caller
 * keeps p). */
static int handoff_put(void *p) {
    pthread_mutex_lock(&handoff.lock);
    int put = handoff.count < HANDOFF_CAP;
    if (put)
        handoff.slot[handoff.count++] = p;
    pthread_mutex_unlock(&handoff.lock);
    return put;
}

/* A block some thread put in, chosen with rng, or NULL when there is none. */
static void *handoff_take(uint64_t *rng) {
    void *p = NULL;
    pthread_mutex_lock(&handoff.lock);
    if (handoff.count > 0) {
        unsigned i = (unsigned)(test_rand(rng) % handoff.count);
        p = handoff.slot[i];
        handoff.slot[i] = handoff.slot[--handoff.count];
    }
    pthread_mutex_unlock(&handoff.lock);
    return p;
}

/* --seconds S, --threads N, --rounds R, each into its variable when given. */
static void race_options(int argc, char **argv, double *seconds, unsigned *threads,
                         unsigned *rounds) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            *seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            *threads = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0)
            *rounds = (unsigned)atoi(argv[i + 1]);
    }
    CHECK(*threads >= 1 && *threads <= 64 && *seconds > 0);
}

#endif /* WARDEN_TESTS_HANDOFF_H */
