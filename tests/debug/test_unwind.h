/* test_unwind.h -- what the three parts of test_unwind share: the -O2
 * program (test_unwind.c), the -O0 frames (test_unwind_o0.c) and the
 * shared library (unwind_lib.c). */
#ifndef WARDEN_TEST_UNWIND_H
#define WARDEN_TEST_UNWIND_H

#include <stdint.h>

/* The -O2 walk goes on through one of these: depth more levels to go. */
typedef void (*unwind_next_fn)(int depth, uint32_t seed);

/* test_unwind_o0.c, built with -O0 (every frame kept with RBP as frame
 * pointer): one frame, then next(depth, seed). */
void o0_plain(int depth, uint32_t seed, unwind_next_fn next);
/* The same with a variable-length array in the frame. */
void o0_vla(int depth, uint32_t seed, unwind_next_fn next);

/* unwind_lib.c, libtest_unwind_lib.so: `frames` frames of the library,
 * then fn(arg). */
void unwind_lib_call(int frames, void (*fn)(void *), void *arg);

#endif /* WARDEN_TEST_UNWIND_H */
