/* objects -- a symbolic program's many small objects: big-number factoring
 * and products of sets of cubes (cfrac- and espresso-like).
 *
 * What it stresses: malloc and free of 4..56 B objects that live for a few
 * operations, allocated by real code in the order real code allocates them,
 * with the computation between them that such programs do.  Each round
 *   - factors a number N = p * q1 * q2 * q3 * q4 (primes: 2^15 < p < 2^17,
 *     2^20 < qi < 2^22) by Pollard's rho with Floyd's cycle finding, which
 *     finds p in some sqrt(p) steps.  The numbers are immutable, of 32-bit
 *     limbs: every sum, product, remainder, difference and shift is a
 *     freshly allocated number (4..40 B) and its operands are freed when no
 *     longer needed, and each step's gcd is a binary gcd of some 70
 *     subtract-and-shift steps, each allocating its result;
 *   - multiplies two covers (lists of cubes over 32..192 two-valued
 *     variables, one 16..56 B node per cube): the product holds every
 *     non-empty pairwise intersection.  The product replaces one of 64
 *     covers kept in a ring (cut to 24 cubes), the other operand is new;
 *     128 such products a round.
 * Both results are checked: the factor found must divide N (N = d * (N / d)
 * exactly, 1 < d < N), and the product must contain exactly the points of
 * the two covers' intersection, sampled at points taken from both; a failed
 * check exits 1.  The checksum of the factors is printed so that no result
 * goes unused.  The figure is allocations (each freed) per second.
 *
 * usage: objects [ROUNDS]   (default 1200)
 */
#include "common.h"

static size_t allocs;

/* --- immutable big numbers ------------------------------------------------ */

/* n limbs, least significant first, no leading zero limb (zero: n = 0). */
typedef struct { uint32_t n; uint32_t d[]; } bn_t;

#define BN_MAX 16   /* limbs: N < 2^105, so x * x + c < 2^210 */

static bn_t *bn_alloc(uint32_t n)
{
    if (n > BN_MAX) {
        fprintf(stderr, "objects: a number of %u limbs\n", n);
        exit(1);
    }
    bn_t *a = xmalloc(sizeof *a + n * sizeof a->d[0]);
    a->n = n;
    allocs++;
    return a;
}

static bn_t *bn_trim(bn_t *a)
{
    while (a->n > 0 && a->d[a->n - 1] == 0)
        a->n--;
    return a;
}

static bn_t *bn_from(const uint32_t *d, uint32_t n)
{
    bn_t *a = bn_alloc(n);
    memcpy(a->d, d, n * sizeof *d);
    return bn_trim(a);
}

static bn_t *bn_u64(uint64_t v)
{
    uint32_t d[2] = { (uint32_t)v, (uint32_t)(v >> 32) };
    return bn_from(d, 2);
}

static int bn_cmp(const bn_t *a, const bn_t *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (uint32_t i = a->n; i-- > 0;)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static bn_t *bn_add(const bn_t *a, const bn_t *b)
{
    if (a->n < b->n) {
        const bn_t *t = a;
        a = b;
        b = t;
    }
    bn_t *c = bn_alloc(a->n + 1);
    uint64_t carry = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        carry += (uint64_t)a->d[i] + (i < b->n ? b->d[i] : 0);
        c->d[i] = (uint32_t)carry;
        carry >>= 32;
    }
    c->d[a->n] = (uint32_t)carry;
    return bn_trim(c);
}

/* a - b, a >= b */
static bn_t *bn_sub(const bn_t *a, const bn_t *b)
{
    bn_t *c = bn_alloc(a->n);
    int64_t borrow = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        int64_t t = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - borrow;
        borrow = t < 0;
        c->d[i] = (uint32_t)t;
    }
    return bn_trim(c);
}

static bn_t *bn_mul(const bn_t *a, const bn_t *b)
{
    bn_t *c = bn_alloc(a->n + b->n);
    memset(c->d, 0, c->n * sizeof c->d[0]);
    for (uint32_t i = 0; i < a->n; i++) {
        uint64_t carry = 0;
        for (uint32_t j = 0; j < b->n; j++) {
            carry += (uint64_t)a->d[i] * b->d[j] + c->d[i + j];
            c->d[i + j] = (uint32_t)carry;
            carry >>= 32;
        }
        c->d[i + b->n] = (uint32_t)carry;
    }
    return bn_trim(c);
}

/* a >> k, k < 32 * a->n */
static bn_t *bn_shr(const bn_t *a, unsigned k)
{
    uint32_t w = k / 32, s = k % 32, n = a->n - w;
    bn_t *c = bn_alloc(n);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v = a->d[i + w];
        if (i + w + 1 < a->n)
            v |= (uint64_t)a->d[i + w + 1] << 32;
        c->d[i] = (uint32_t)(v >> s);
    }
    return bn_trim(c);
}

static unsigned bn_tz(const bn_t *a)   /* a != 0 */
{
    unsigned k = 0;
    for (uint32_t i = 0; a->d[i] == 0; i++)
        k += 32;
    return k + (unsigned)__builtin_ctz(a->d[k / 32]);
}

/* Schoolbook division (Knuth's algorithm D) of a by m != 0: the quotient,
 * and the remainder in *rem when rem is not NULL.  Temporaries are on the
 * stack; only the results are allocated. */
static bn_t *bn_divmod(const bn_t *a, const bn_t *m, bn_t **rem)
{
    uint32_t n = m->n, k = a->n;
    if (bn_cmp(a, m) < 0) {
        if (rem != NULL)
            *rem = bn_from(a->d, a->n);
        return bn_alloc(0);
    }
    if (n == 1) {
        bn_t *q = bn_alloc(k);
        uint64_t r = 0;
        for (uint32_t i = k; i-- > 0;) {
            r = (r << 32) | a->d[i];
            q->d[i] = (uint32_t)(r / m->d[0]);
            r %= m->d[0];
        }
        if (rem != NULL)
            *rem = bn_u64(r);
        return bn_trim(q);
    }
    /* Normalize: shift both so that the divisor's top limb has its top bit
     * set, which keeps each estimated quotient limb at most 2 too large. */
    uint32_t u[BN_MAX + 1], v[BN_MAX], q[BN_MAX];
    unsigned s = (unsigned)__builtin_clz(m->d[n - 1]);
    for (uint32_t i = n; i-- > 0;)
        v[i] = (m->d[i] << s) | (s && i ? (uint32_t)((uint64_t)m->d[i - 1] >> (32 - s)) : 0);
    u[k] = s ? (uint32_t)((uint64_t)a->d[k - 1] >> (32 - s)) : 0;
    for (uint32_t i = k; i-- > 0;)
        u[i] = (a->d[i] << s) | (s && i ? (uint32_t)((uint64_t)a->d[i - 1] >> (32 - s)) : 0);

    const uint64_t base = (uint64_t)1 << 32;
    for (uint32_t j = k - n + 1; j-- > 0;) {
        uint64_t top = ((uint64_t)u[j + n] << 32) | u[j + n - 1];
        uint64_t qhat = top / v[n - 1], rhat = top % v[n - 1];
        while (qhat >= base || qhat * v[n - 2] > ((rhat << 32) | u[j + n - 2])) {
            qhat--;
            rhat += v[n - 1];
            if (rhat >= base)
                break;
        }
        int64_t borrow = 0, t;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t p = qhat * v[i];
            t = (int64_t)u[i + j] - borrow - (int64_t)(p & 0xFFFFFFFFu);
            u[i + j] = (uint32_t)t;
            borrow = (int64_t)(p >> 32) - (t >> 32);
        }
        t = (int64_t)u[j + n] - borrow;
        u[j + n] = (uint32_t)t;
        if (t < 0) {   /* qhat was one too large: add the divisor back */
            qhat--;
            uint64_t carry = 0;
            for (uint32_t i = 0; i < n; i++) {
                carry += (uint64_t)u[i + j] + v[i];
                u[i + j] = (uint32_t)carry;
                carry >>= 32;
            }
            u[j + n] += (uint32_t)carry;
        }
        q[j] = (uint32_t)qhat;
    }
    if (rem != NULL) {
        bn_t *r = bn_alloc(n);
        for (uint32_t i = 0; i < n; i++)
            r->d[i] = (u[i] >> s) | (s ? (uint32_t)((uint64_t)u[i + 1] << (32 - s)) : 0);
        *rem = bn_trim(r);
    }
    return bn_from(q, k - n + 1);
}

static bn_t *bn_mod(const bn_t *a, const bn_t *m)
{
    bn_t *r;
    free(bn_divmod(a, m, &r));
    return r;
}

/* gcd(x, n) for odd n and x != 0, the binary way: one allocation per
 * subtraction and per shift, the pattern of a naive big-number library. */
static bn_t *bn_gcd_odd(const bn_t *x, const bn_t *n)
{
    bn_t *u = bn_from(n->d, n->n), *v = bn_shr(x, bn_tz(x));
    while (v->n != 0) {   /* u and v odd here */
        if (bn_cmp(u, v) > 0) {
            bn_t *t = u;
            u = v;
            v = t;
        }
        bn_t *w = bn_sub(v, u);   /* even */
        free(v);
        if (w->n == 0) {
            v = w;
            break;
        }
        v = bn_shr(w, bn_tz(w));
        free(w);
    }
    free(v);
    return u;
}

/* (x * x + c) mod n */
static bn_t *rho_step(const bn_t *x, const bn_t *c, const bn_t *n)
{
    bn_t *sq = bn_mul(x, x), *s = bn_add(sq, c);
    free(sq);
    bn_t *r = bn_mod(s, n);
    free(s);
    return r;
}

/* A non-trivial factor of n (odd, composite), or NULL if rho fails for
 * every constant tried. */
static bn_t *rho(const bn_t *n)
{
    for (uint64_t k = 1; k < 8; k++) {
        bn_t *c = bn_u64(k), *x = bn_u64(2), *y = bn_u64(2), *d = NULL;
        for (;;) {
            bn_t *t = rho_step(x, c, n);
            free(x);
            x = t;
            t = rho_step(y, c, n);
            free(y);
            y = rho_step(t, c, n);
            free(t);
            int o = bn_cmp(x, y);
            if (o == 0)
                break;   /* the cycle closed on n itself: try another c */
            bn_t *diff = o > 0 ? bn_sub(x, y) : bn_sub(y, x);
            d = bn_gcd_odd(diff, n);
            free(diff);
            if (!(d->n == 1 && d->d[0] == 1))
                break;
            free(d);
            d = NULL;
        }
        free(c);
        free(x);
        free(y);
        if (d != NULL && bn_cmp(d, n) != 0)
            return d;
        free(d);
    }
    return NULL;
}

static int is_prime32(uint32_t p)
{
    if (p < 2 || p % 2 == 0)
        return p == 2;
    for (uint32_t f = 3; f * f <= p; f += 2)
        if (p % f == 0)
            return 0;
    return 1;
}

/* A random prime of lo..hi-1 (hi <= 2^32), by trial division. */
static uint32_t random_prime(rng_t *r, uint32_t lo, uint32_t hi)
{
    uint32_t p;
    do
        p = (lo + (uint32_t)rng_below(r, hi - lo)) | 1;
    while (p >= hi || !is_prime32(p));
    return p;
}

/* Factors one N = p * q1 * q2 * q3 * q4 (2^15 < p < 2^17, every qi larger,
 * 2^20 < qi < 2^22, so that p is the factor that rho finds first, in some
 * sqrt(p) steps); returns the low limb of the factor found (0 if none) and
 * exits 1 if the factor does not divide N. */
static uint32_t factor_one(rng_t *r)
{
    bn_t *n = bn_u64(random_prime(r, 1u << 15, 1u << 17));
    for (int i = 0; i < 4; i++) {
        bn_t *q = bn_u64(random_prime(r, 1u << 20, 1u << 22)), *t = bn_mul(n, q);
        free(q);
        free(n);
        n = t;
    }
    bn_t *d = rho(n);
    uint32_t low = 0;
    if (d != NULL) {
        bn_t *rem, *quot = bn_divmod(n, d, &rem), *back = bn_mul(d, quot);
        if (rem->n != 0 || bn_cmp(back, n) != 0 || d->n == 0 || (d->n == 1 && d->d[0] == 1)) {
            fprintf(stderr, "objects: rho returned a number that does not divide N\n");
            exit(1);
        }
        low = d->d[0];
        free(rem);
        free(quot);
        free(back);
        free(d);
    }
    free(n);
    return low;
}

/* --- covers: lists of cubes --------------------------------------------- */

/* A cube over 32 * words variables, two bits per variable: 01 the variable
 * must be 0, 10 it must be 1, 11 either; 00 anywhere makes the cube empty. */
typedef struct cube { struct cube *next; uint64_t w[]; } cube_t;

#define LOW_BITS 0x5555555555555555ull

static cube_t *cube_new(size_t words)
{
    cube_t *c = xmalloc(sizeof *c + words * sizeof c->w[0]);
    allocs++;
    return c;
}

/* About one variable in 16 is a literal. */
static cube_t *cube_random(rng_t *r, size_t words)
{
    cube_t *c = cube_new(words);
    for (size_t i = 0; i < words; i++) {
        uint64_t lit = rng_next(r) & rng_next(r) & rng_next(r) & rng_next(r) & LOW_BITS;
        uint64_t one = rng_next(r) & lit;
        /* a literal 1 clears the low bit of its pair, a literal 0 the high */
        c->w[i] = ~0ull ^ one ^ ((lit & ~one) << 1);
    }
    return c;
}

static int cube_empty(const uint64_t *w, size_t words)
{
    for (size_t i = 0; i < words; i++)
        if (((w[i] | w[i] >> 1) & LOW_BITS) != LOW_BITS)
            return 1;
    return 0;
}

static cube_t *cover_random(rng_t *r, size_t words, size_t cubes)
{
    cube_t *head = NULL;
    for (size_t i = 0; i < cubes; i++) {
        cube_t *c = cube_random(r, words);
        c->next = head;
        head = c;
    }
    return head;
}

static void cover_free(cube_t *c)
{
    while (c != NULL) {
        cube_t *next = c->next;
        free(c);
        c = next;
    }
}

static size_t cover_len(const cube_t *c)
{
    size_t n = 0;
    for (; c != NULL; c = c->next)
        n++;
    return n;
}

/* The non-empty intersections of every cube of a with every cube of b. */
static cube_t *cover_product(const cube_t *a, const cube_t *b, size_t words)
{
    cube_t *head = NULL;
    uint64_t w[6];
    for (; a != NULL; a = a->next)
        for (const cube_t *y = b; y != NULL; y = y->next) {
            for (size_t i = 0; i < words; i++)
                w[i] = a->w[i] & y->w[i];
            if (cube_empty(w, words))
                continue;
            cube_t *c = cube_new(words);
            memcpy(c->w, w, words * sizeof w[0]);
            c->next = head;
            head = c;
        }
    return head;
}

static int cover_has(const cube_t *c, const uint64_t *pt, size_t words)
{
    for (; c != NULL; c = c->next) {
        size_t i = 0;
        while (i < words && (c->w[i] & pt[i]) == pt[i])
            i++;
        if (i == words)
            return 1;
    }
    return 0;
}

/* A point (one bit of each pair) inside the cube: either value where the
 * cube allows both. */
static void point_in(const cube_t *c, uint64_t *pt, size_t words, rng_t *r)
{
    for (size_t i = 0; i < words; i++) {
        uint64_t both = c->w[i] & (c->w[i] >> 1) & LOW_BITS;
        uint64_t pick = rng_next(r) & both;          /* 1 where the high bit is taken */
        uint64_t fixed = c->w[i] & ~(both | both << 1);
        pt[i] = fixed | (pick << 1) | (both & ~pick);
    }
}

static const cube_t *nth(const cube_t *c, size_t k)
{
    while (k-- > 0)
        c = c->next;
    return c;
}

/* Exits 1 unless prod holds exactly the points of a and b at points drawn
 * from a (some of which b lacks) and from prod. */
static void check_product(const cube_t *a, const cube_t *b, const cube_t *prod,
                          size_t words, rng_t *r)
{
    uint64_t pt[6];
    size_t na = cover_len(a), np = cover_len(prod);
    for (int k = 0; k < 6; k++) {
        const cube_t *from = k < 3 || np == 0 ? nth(a, rng_below(r, na))
                                              : nth(prod, rng_below(r, np));
        point_in(from, pt, words, r);
        int want = cover_has(a, pt, words) && cover_has(b, pt, words);
        if (cover_has(prod, pt, words) != want) {
            fprintf(stderr, "objects: the product of two covers is wrong\n");
            exit(1);
        }
    }
}

#define RING 64
#define KEEP 24

int main(int argc, char **argv)
{
    size_t rounds = arg_count(argc, argv, 1, 1200);
    rng_t r = rng_seed(1977);
    cube_t *ring[RING];
    size_t ring_words[RING];
    uint64_t checksum = 0;
    size_t found = 0, products = 0, cubes = 0, rho_allocs = 0;

    double t0 = now_sec();
    for (size_t k = 0; k < RING; k++) {
        ring_words[k] = 1 + rng_below(&r, 6);
        ring[k] = cover_random(&r, ring_words[k], 8 + rng_below(&r, 17));
    }
    for (size_t i = 0; i < rounds; i++) {
        size_t before = allocs;
        uint32_t f = factor_one(&r);
        rho_allocs += allocs - before;
        found += f != 0;
        checksum = checksum * 31 + f;

        for (int j = 0; j < 128; j++) {
            size_t k = rng_below(&r, RING), words = ring_words[k];
            cube_t *b = cover_random(&r, words, 8 + rng_below(&r, 17));
            cube_t *prod = cover_product(ring[k], b, words);
            check_product(ring[k], b, prod, words, &r);
            products++;
            cover_free(ring[k]);
            cover_free(b);
            /* The product lives on in the ring, cut to KEEP cubes so that
             * covers do not grow round after round; an empty one is
             * replaced by a new cover of another width. */
            cube_t *c = prod;
            for (size_t n = 1; c != NULL && n < KEEP; n++)
                c = c->next;
            if (c != NULL) {
                cover_free(c->next);
                c->next = NULL;
            }
            if (prod == NULL) {
                ring_words[k] = 1 + rng_below(&r, 6);
                prod = cover_random(&r, ring_words[k], 8 + rng_below(&r, 17));
            }
            cubes += cover_len(prod);
            ring[k] = prod;
        }
    }
    for (size_t k = 0; k < RING; k++)
        cover_free(ring[k]);
    double secs = now_sec() - t0;

    fprintf(stderr, "objects: %zu of %zu numbers factored, checksum %016llx; %zu cover "
            "products (%zu cubes kept); %zu allocations, %zu in rho\n", found, rounds,
            (unsigned long long)checksum, products, cubes, allocs, rho_allocs);
    if (found != rounds) {
        fprintf(stderr, "objects: rho found no factor of %zu numbers\n", rounds - found);
        return 1;
    }
    printf("result: objects %.0f ops/s checksum=%llu\n", secs > 0 ? (double)allocs / secs : 0.0,
           (unsigned long long)checksum);
    return 0;
}
