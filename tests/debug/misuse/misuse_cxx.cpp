// tests/debug/misuse/misuse_cxx.cpp -- the C++ side of the misuse cases: delete
// expressions that hand the allocator a wrong size or alignment through the
// sized and aligned operator delete (C++14/17).  Called from misuse.c (see
// misuse.h); the cases themselves and their expected reports are there.
#include "misuse.h"

#include <cstddef>
#include <cstdint>
#include <new>

namespace {

// Keeps the compiler from following a pointer across a call (and from
// folding new/delete pairs or warning about the misuse it is asked for).
template <typename T>
T *hide(T *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}

struct Small {
    char bytes[40];
};
struct Big {
    char bytes[4096];
};
static_assert(sizeof(Small) == 40 && sizeof(Big) == 4096, "sizes the cases rely on");

struct Base {
    std::int64_t a, b; // 16 bytes, no virtual destructor
};
struct Derived : Base {
    char more[4000 - sizeof(Base)];
};
static_assert(sizeof(Derived) == 4000, "size the case relies on");

struct alignas(64) Aligned64 {
    char bytes[64];
};

} // namespace

extern "C" void *cxx_new_small(void) { return hide(new Small()); }

// A delete expression on a trivially destructible type of known size calls
// operator delete(void *, std::size_t) with sizeof(Big).
extern "C" void cxx_delete_as_big(void *p) { delete hide(static_cast<Big *>(p)); }

extern "C" void *cxx_new_array(std::size_t n) { return hide(new char[n]); }

extern "C" void cxx_delete_array_sized(void *p, std::size_t m) {
    ::operator delete[](hide(p), m);
}

extern "C" void cxx_delete_small(void *p) { delete hide(static_cast<Small *>(p)); }

extern "C" void *cxx_new_aligned64(void) { return hide(new Aligned64()); }

extern "C" void cxx_delete_aligned_sized(void *p, std::size_t size, std::size_t alignment) {
    ::operator delete(hide(p), size, static_cast<std::align_val_t>(alignment));
}

extern "C" void *cxx_new_derived_as_base(void) {
    Base *b = new Derived();
    return hide(b);
}

// Undefined behaviour in C++ ([expr.delete]/3): the static type has no
// virtual destructor, so the sized delete is told sizeof(Base) == 16.
extern "C" void cxx_delete_base(void *p) { delete hide(static_cast<Base *>(p)); }
