/* xmalloc -- xmalloc-test-style producer/consumer.
 *
 * What it stresses: blocks that are always freed by another thread.  Half of
 * the threads only allocate (8..512 B blocks, gathered in batches of 128), the
 * other half only free, the batches passing through one bounded queue.  An
 * allocator whose remote free is slow, or that never lets memory flow back to
 * the allocating threads, shows it here.
 *
 * usage: xmalloc [OBJECTS [THREADS]]   (defaults 40000000, 2; THREADS is
 *        rounded up to an even number, at least 2)
 */
#include "common.h"

#define BATCH 128
#define QUEUE_MAX 64

typedef struct batch { struct batch *next; void *p[BATCH]; } batch_t;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    batch_t *head, *tail;
    size_t len, producers_left;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
        NULL, NULL, 0, 0 };

static void push(batch_t *b)
{
    pthread_mutex_lock(&q.lock);
    while (q.len >= QUEUE_MAX)
        pthread_cond_wait(&q.not_full, &q.lock);
    b->next = NULL;
    if (q.tail) q.tail->next = b; else q.head = b;
    q.tail = b;
    q.len++;
    pthread_cond_signal(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
}

/* The next batch, or NULL once every producer is done and the queue is empty. */
static batch_t *pop(void)
{
    pthread_mutex_lock(&q.lock);
    while (q.len == 0 && q.producers_left > 0)
        pthread_cond_wait(&q.not_empty, &q.lock);
    batch_t *b = q.head;
    if (b != NULL) {
        q.head = b->next;
        if (q.head == NULL) q.tail = NULL;
        q.len--;
        pthread_cond_signal(&q.not_full);
    }
    pthread_mutex_unlock(&q.lock);
    return b;
}

static void *producer(void *p)
{
    counted_arg_t *a = p; /* count: batches */
    rng_t r = rng_seed(300 + a->index);
    for (size_t i = 0; i < a->count; i++) {
        batch_t *b = xmalloc(sizeof *b);
        for (size_t j = 0; j < BATCH; j++) {
            size_t n = rng_logsize(&r, 8, 513);
            char *o = xmalloc(n);
            o[0] = (char)j;
            o[n - 1] = (char)n;
            b->p[j] = o;
        }
        push(b);
    }
    pthread_mutex_lock(&q.lock);
    if (--q.producers_left == 0)
        pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

static void *consumer(void *p)
{
    (void)p;
    batch_t *b;
    while ((b = pop()) != NULL) {
        for (size_t j = 0; j < BATCH; j++)
            free(b->p[j]);
        free(b);
    }
    return NULL;
}

static void *worker(void *p)
{
    counted_arg_t *a = p;
    return a->index % 2 == 0 ? producer(p) : consumer(p);
}

int main(int argc, char **argv)
{
    size_t objects = arg_count(argc, argv, 1, 40000000);
    size_t threads = arg_count(argc, argv, 2, 2);
    threads = threads < 2 ? 2 : threads + threads % 2;
    size_t producers = threads / 2;
    size_t batches = (objects + BATCH * producers - 1) / (BATCH * producers);
    q.producers_left = producers;
    double secs = run_counted(threads, worker, batches);

    report_ops("xmalloc", (double)(batches * producers * BATCH), secs);
    return 0;
}
