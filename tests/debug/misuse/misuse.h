/* tests/debug/misuse/misuse.h -- what the C cases (misuse.c) and the C++ ones
 * (misuse_cxx.cpp) share: the C++ operators, called from C.
 *
 * The operators are reached through these small extern "C" wrappers so that
 * every case lives in one table in misuse.c.  They call the replaceable
 * global operators, so they end in whatever allocator the process uses:
 * warden when linked or preloaded, jemalloc, tcmalloc or mimalloc under
 * peers.sh, libstdc++'s operators (glibc's malloc) otherwise. */
#ifndef WARDEN_TESTS_MISUSE_H
#define WARDEN_TESTS_MISUSE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A 40-byte object deleted as a 4096-byte one: the sized delete gets 4096. */
void *cxx_new_small(void);
void cxx_delete_as_big(void *p);
/* An array of n chars deleted with a size of m (operator delete[](p, m)). */
void *cxx_new_array(size_t n);
void cxx_delete_array_sized(void *p, size_t m);
/* A plain object deleted with its own (right) size: delete twice = double free. */
void cxx_delete_small(void *p);
/* An object aligned to 64 (aligned new), deleted with another alignment. */
void *cxx_new_aligned64(void);
void cxx_delete_aligned_sized(void *p, size_t size, size_t alignment);
/* Derived (4000 bytes) deleted through a Base (16 bytes) without a virtual
 * destructor: the sized delete gets 16, below the block's size. */
void *cxx_new_derived_as_base(void);
void cxx_delete_base(void *p);

#ifdef __cplusplus
}
#endif

#endif /* WARDEN_TESTS_MISUSE_H */
