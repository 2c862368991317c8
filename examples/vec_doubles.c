/* vec_doubles.c -- the seed's vector of doubles, grown with realloc.
 *
 * A vector of samples (one simulated sensor reading a minute for a day):
 * each push doubles the room when it is full, so 1440 pushes cost only 10
 * reallocs; popping back to a quarter halves the room, so memory follows
 * the data down without thrashing.  The example prints every change of
 * capacity, computes statistics, keeps the last hour, shrinks to fit, and
 * shows that an impossible reserve fails with ENOMEM and leaves the samples
 * untouched.  Exits 1 if any of that goes wrong. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <warden/vec.h>

typedef WD_VEC(double) samples_t;

/* A deterministic day of readings: a daily swing plus a little noise. */
static double reading(int minute) {
    uint32_t h = (uint32_t)minute * 2654435761u;
    double noise = (double)(h >> 24) / 255.0 - 0.5;
    int m = minute % 1440;
    double swing = m < 720 ? m / 72.0 : (1440 - m) / 72.0; /* 0 .. 10 .. 0 */
    return 12.0 + swing + noise;
}

static double mean(const samples_t *v) {
    double sum = 0;
    for (size_t i = 0; i < v->len; i++)
        sum += v->data[i];
    return v->len ? sum / (double)v->len : 0;
}

int main(void) {
    samples_t day;
    wd_vec_init(&day);
    size_t last_cap = 0, grows = 0;
    for (int minute = 0; minute < 1440; minute++) {
        if (wd_vec_push(&day, reading(minute)) != 0) {
            perror("push");
            return 1;
        }
        if (day.cap != last_cap) {
            printf("push %4zu: capacity %4zu -> %4zu\n", day.len, last_cap, day.cap);
            last_cap = day.cap;
            grows++;
        }
    }
    printf("%zu samples, mean %.2f, noon %.2f; %zu reallocs to grow\n", day.len, mean(&day),
           wd_vec_at(&day, 720), grows);
    if (grows != 10 || day.cap != 2048)
        return 1;

    /* keep only the first hour: pops shrink the room as the data goes */
    size_t shrinks = 0;
    while (day.len > 60) {
        (void)wd_vec_pop(&day);
        if (day.cap != last_cap) {
            printf("pop to %4zu: capacity %4zu -> %4zu\n", day.len, last_cap, day.cap);
            last_cap = day.cap;
            shrinks++;
        }
    }
    wd_vec_shrink_to_fit(&day);
    printf("first hour: %zu samples, mean %.2f, capacity %zu after shrink_to_fit\n", day.len,
           mean(&day), day.cap);
    if (shrinks != 4 || day.cap != 60 || day.data[59] != reading(59))
        return 1;

    /* a reserve that cannot be met: -1 and ENOMEM, the samples untouched */
    double *before = day.data;
    errno = 0;
    int rc = wd_vec_reserve(&day, SIZE_MAX / 4);
    printf("reserve(SIZE_MAX / 4): %d (%s); still %zu samples, capacity %zu\n", rc,
           strerror(errno), day.len, day.cap);
    if (rc != -1 || errno != ENOMEM || day.data != before || day.len != 60 || day.cap != 60)
        return 1;
    for (int i = 0; i < 60; i++)
        if (wd_vec_at(&day, i) != reading(i))
            return 1;

    wd_vec_free(&day);
    return day.data == NULL && day.len == 0 ? 0 : 1;
}
