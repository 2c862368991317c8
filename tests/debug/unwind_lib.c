/* unwind_lib.c -- a shared library for test_unwind (test_unwind.h), so that
 * walks cross from the program into another object's unwind tables and
 * back. */
#include "test_unwind.h"

__attribute__((noinline)) static void lib_level(int frames, void (*fn)(void *), void *arg) {
    if (frames <= 1)
        fn(arg);
    else
        lib_level(frames - 1, fn, arg);
    __asm__ volatile("" ::: "memory"); /* no tail call: every level a frame */
}

void unwind_lib_call(int frames, void (*fn)(void *), void *arg) {
    lib_level(frames, fn, arg);
    __asm__ volatile("" ::: "memory");
}
