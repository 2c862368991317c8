/* churn -- cfrac/espresso-style single-thread churn of small objects.
 *
 * What it stresses: the small-object fast path of one thread, with the size
 * mix of a symbolic program: short-lived bignum digit arrays (8..136 B),
 * linked-list nodes (16..40 B) built and torn down, strings (2..256 B) and now
 * and then a larger table (1..16 KiB), with a few medium-lived survivors kept
 * in rings so that frees do not simply undo the last allocations.
 *
 * usage: churn [ROUNDS]   (default 8000000; ops = allocations, each freed)
 */
#include "common.h"

typedef struct node { struct node *next; uint64_t key; } node_t;

#define BIG_RING 512
#define LIST_RING 64
#define STR_RING 4096
#define TABLE_RING 16

static size_t allocs;

static uint64_t *bn_new(size_t limbs, rng_t *r)
{
    uint64_t *d = xmalloc((limbs + 1) * sizeof *d);
    d[0] = limbs;
    for (size_t i = 1; i <= limbs; i++)
        d[i] = rng_next(r);
    allocs++;
    return d;
}

/* c = a + b, as a fresh block one limb longer than the longer operand. */
static uint64_t *bn_add(const uint64_t *a, const uint64_t *b)
{
    size_t n = a[0] > b[0] ? a[0] : b[0];
    uint64_t *c = xmalloc((n + 2) * sizeof *c), carry = 0;
    for (size_t i = 1; i <= n; i++) {
        uint64_t x = i <= a[0] ? a[i] : 0, y = i <= b[0] ? b[i] : 0;
        uint64_t s = x + y + carry;
        carry = (s < x) || (carry && s == x);
        c[i] = s;
    }
    c[n + 1] = carry;
    c[0] = n + 1;
    allocs++;
    return c;
}

static node_t *list_build(size_t n, rng_t *r)
{
    node_t *head = NULL;
    for (size_t i = 0; i < n; i++) {
        node_t *nd = xmalloc(sizeof *nd + 8 * rng_below(r, 4));
        nd->key = rng_next(r);
        nd->next = head;
        head = nd;
        allocs++;
    }
    return head;
}

static uint64_t list_free(node_t *n)
{
    uint64_t sum = 0;
    while (n != NULL) {
        node_t *next = n->next;
        sum += n->key;
        free(n);
        n = next;
    }
    return sum;
}

static char *str_new(rng_t *r)
{
    size_t len = rng_logsize(r, 1, 256);
    char *s = xmalloc(len + 1);
    memset(s, 'a' + (int)(len % 26), len);
    s[len] = '\0';
    allocs++;
    return s;
}

int main(int argc, char **argv)
{
    size_t rounds = arg_count(argc, argv, 1, 8000000);
    static uint64_t *big[BIG_RING];
    static node_t *lists[LIST_RING];
    static char *strs[STR_RING];
    static void *tables[TABLE_RING];
    rng_t r = rng_seed(42);
    uint64_t check = 0;

    double t0 = now_sec();
    for (size_t i = 0; i < rounds; i++) {
        uint64_t *a = bn_new(1 + rng_below(&r, 16), &r);
        uint64_t *b = bn_new(1 + rng_below(&r, 16), &r);
        uint64_t *c = bn_add(a, b);
        free(a);
        free(b);
        free(big[i % BIG_RING]);
        big[i % BIG_RING] = c;

        node_t *l = list_build(1 + rng_below(&r, 24), &r);
        if (i % 8 == 0) {
            check += list_free(lists[(i / 8) % LIST_RING]);
            lists[(i / 8) % LIST_RING] = l;
        } else {
            check += list_free(l);
        }

        size_t s = rng_below(&r, STR_RING);
        if (strs[s] != NULL)
            check += (uint64_t)strlen(strs[s]);
        free(strs[s]);
        strs[s] = str_new(&r);

        if (i % 64 == 0) {
            size_t t = rng_below(&r, TABLE_RING), n = rng_logsize(&r, 1024, 16384);
            free(tables[t]);
            tables[t] = xmalloc(n);
            memset(tables[t], 0, n);
            allocs++;
        }
    }
    double secs = now_sec() - t0;

    for (size_t i = 0; i < BIG_RING; i++) free(big[i]);
    for (size_t i = 0; i < LIST_RING; i++) check += list_free(lists[i]);
    for (size_t i = 0; i < STR_RING; i++) free(strs[i]);
    for (size_t i = 0; i < TABLE_RING; i++) free(tables[i]);
    fprintf(stderr, "churn: %zu allocations, checksum %llx\n", allocs,
            (unsigned long long)check);
    report_ops("churn", (double)allocs, secs);
    return 0;
}
