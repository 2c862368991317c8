/* server / server_sized -- a server whose worker threads come and go, each
 * taking over the objects of the one before it; fixed duration.
 *
 * What it stresses: blocks freed by a thread that did not allocate them,
 * because the thread that did has exited, while threads are created all the
 * time.  Each of THREADS lanes owns a table of 2000 blocks of random sizes
 * (server: 10..1000 B, uniform; server_sized: 16..128 B, a narrow range that
 * piles every operation onto a few size classes).  A lane's thread replaces
 * random slots (free the old block, allocate a new one, write its ends);
 * after 20000 replacements it starts a successor thread, hands it the whole
 * table and exits.  The successor frees the blocks it inherited as it
 * replaces them: nearly all of them (a slot is left untouched by 20000
 * random replacements with probability e^-10), from a thread whose
 * predecessor allocated them and is gone.  The blocks of the first
 * generation are allocated by the main thread.
 *
 * The lanes run for DURATION_MS milliseconds (each finishes the generation it
 * is in), so the wall time is fixed: the figure is replacements per second,
 * over all lanes; threads=N is how many threads were started.
 *
 * usage: server|server_sized [DURATION_MS [THREADS]]   (defaults 3000, 2)
 */
#include "common.h"
#include <stdatomic.h>

#define SLOTS 2000
#define GENERATION 20000   /* replacements before a thread hands over */

#ifdef SERVER_SIZED
#define NAME "server_sized"
#define MIN_SIZE 16
#define MAX_SIZE 128
#else
#define NAME "server"
#define MIN_SIZE 10
#define MAX_SIZE 1000
#endif

typedef struct {
    char *slot[SLOTS];
    rng_t r;          /* carried over too: successors do not replay a sequence */
} lane_t;

static double deadline;
static atomic_size_t replacements, threads_started;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static size_t lanes_done;
static pthread_attr_t detached;

static char *new_block(rng_t *r)
{
    size_t n = MIN_SIZE + rng_below(r, MAX_SIZE - MIN_SIZE + 1);
    char *b = xmalloc(n);
    b[0] = (char)n;
    b[n - 1] = (char)(n >> 8);
    return b;
}

static void *worker(void *p);

static void start(lane_t *lane)
{
    pthread_t t;
    atomic_fetch_add_explicit(&threads_started, 1, memory_order_relaxed);
    errno = pthread_create(&t, &detached, worker, lane);
    if (errno != 0)
        die("pthread_create");
}

static void *worker(void *p)
{
    lane_t *lane = p;
    for (size_t i = 0; i < GENERATION; i++) {
        size_t k = rng_below(&lane->r, SLOTS);
        free(lane->slot[k]);
        lane->slot[k] = new_block(&lane->r);
    }
    atomic_fetch_add_explicit(&replacements, GENERATION, memory_order_relaxed);
    if (now_sec() < deadline) {
        start(lane);   /* the successor takes the table; this thread exits */
    } else {
        pthread_mutex_lock(&done_lock);
        lanes_done++;
        pthread_cond_signal(&done_cond);
        pthread_mutex_unlock(&done_lock);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    size_t ms = arg_count(argc, argv, 1, 3000);
    size_t lanes = arg_count(argc, argv, 2, 2);
    lane_t *lane = xmalloc(lanes * sizeof *lane);
    for (size_t l = 0; l < lanes; l++) {
        lane[l].r = rng_seed(800 + l);
        for (size_t k = 0; k < SLOTS; k++)
            lane[l].slot[k] = new_block(&lane[l].r);
    }
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);

    double t0 = now_sec();
    deadline = t0 + (double)ms / 1000.0;
    for (size_t l = 0; l < lanes; l++)
        start(&lane[l]);
    pthread_mutex_lock(&done_lock);
    while (lanes_done < lanes)
        pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
    double secs = now_sec() - t0;

    /* Every lane's last thread has signalled and touches its table no more;
     * the blocks go back from the main thread, outside the timing. */
    for (size_t l = 0; l < lanes; l++)
        for (size_t k = 0; k < SLOTS; k++)
            free(lane[l].slot[k]);
    free(lane);
    size_t ops = atomic_load(&replacements);
    fprintf(stderr, NAME ": %zu replacements in %.3f s, %zu threads\n", ops, secs,
            atomic_load(&threads_started));
    printf("result: " NAME " %.0f ops/s threads=%zu\n", secs > 0 ? (double)ops / secs : 0.0,
           atomic_load(&threads_started));
    return 0;
}
