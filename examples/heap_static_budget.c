/* heap_static_budget.c -- a wd_heap as a fixed memory budget.
 *
 * A toy parser keeps one copy of every distinct word it reads (a string
 * table).  All of it -- the copies and the table's array, grown with
 * wd_heap_realloc -- lives in a 2 KiB static budget, so the parser can never
 * take memory from the rest of the program.  When the budget runs out,
 * wd_heap_malloc and wd_heap_realloc return NULL with errno == ENOMEM: the
 * parser rejects the input, frees what it took, and the next input starts
 * from a whole budget again.  Exits 1 if the heap does not behave so. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <warden/heap.h>

static unsigned char budget[2048] __attribute__((aligned(16)));

typedef struct strtab {
    wd_heap_t *heap;
    char **words;
    size_t count, cap;
} strtab_t;

/* Returns the table's copy of word[0..len), or NULL with errno == ENOMEM. */
static const char *intern(strtab_t *t, const char *word, size_t len) {
    for (size_t i = 0; i < t->count; i++)
        if (strlen(t->words[i]) == len && memcmp(t->words[i], word, len) == 0)
            return t->words[i];
    if (t->count == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        char **grown = wd_heap_realloc(t->heap, t->words, cap * sizeof *grown);
        if (grown == NULL)
            return NULL; /* t->words is intact: a failed realloc frees nothing */
        t->words = grown;
        t->cap = cap;
    }
    char *copy = wd_heap_malloc(t->heap, len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, word, len);
    copy[len] = '\0';
    return t->words[t->count++] = copy;
}

static void strtab_clear(strtab_t *t) {
    for (size_t i = 0; i < t->count; i++)
        wd_heap_free(t->heap, t->words[i]);
    wd_heap_free(t->heap, t->words);
    *t = (strtab_t){t->heap, NULL, 0, 0};
}

/* Interns every word of text; returns 0, or -1 when the budget ran out. */
static int parse(strtab_t *t, const char *text) {
    for (const char *s = text; *s;) {
        size_t len = strcspn(s, " ");
        if (len > 0 && intern(t, s, len) == NULL)
            return -1;
        s += len + (s[len] == ' ');
    }
    return 0;
}

int main(void) {
    strtab_t t = {wd_heap_init(budget, sizeof budget), NULL, 0, 0};
    if (t.heap == NULL)
        return 1;
    wd_heap_stats_t st;

    const char *small = "the quick brown fox jumps over the lazy dog the end";
    int rc = parse(&t, small);
    printf("input 1: %s, %zu distinct words\n", rc == 0 ? "parsed" : "REJECTED", t.count);
    if (rc != 0 || t.count != 9)
        return 1;
    strtab_clear(&t);

    char big[4096] = "";
    for (int i = 0; i < 300; i++) /* 300 distinct words: more than 2 KiB */
        snprintf(big + strlen(big), sizeof big - strlen(big), "word%d ", i);
    errno = 0;
    rc = parse(&t, big);
    int err = errno;
    wd_heap_stats(t.heap, &st);
    printf("input 2: %s after %zu distinct words (errno %s), %zu of %zu bytes in use\n",
           rc == 0 ? "parsed" : "rejected", t.count, err == ENOMEM ? "ENOMEM" : "not ENOMEM",
           st.used_bytes, st.heap_size);
    if (rc == 0 || err != ENOMEM)
        return 1;
    strtab_clear(&t);

    wd_heap_stats(t.heap, &st);
    int check = wd_heap_check(t.heap);
    printf("after clearing: %zu blocks allocated, %zu free range(s), wd_heap_check = %d\n",
           st.allocated_blocks, st.free_blocks, check);
    return st.allocated_blocks == 0 && st.free_blocks == 1 && check == 0 ? 0 : 1;
}
