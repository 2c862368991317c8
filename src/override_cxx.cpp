// override_cxx.cpp -- the nothrow forms of operator new.
//
// [new.delete.single]: a nothrow operator new returns what the throwing form
// would, or nullptr where that form throws -- so it runs the new-handler
// loop, and a handler that throws bad_alloc makes it return nullptr.  Only
// C++ can catch that, hence this file; every other operator is in
// override.c.  Linked into a C program from libwarden.a only when the
// program uses these forms.
#include <cstddef>
#include <new>

void *operator new(std::size_t n, const std::nothrow_t &) noexcept {
    try {
        return ::operator new(n);
    } catch (...) {
        return nullptr;
    }
}

void *operator new[](std::size_t n, const std::nothrow_t &) noexcept {
    try {
        return ::operator new[](n);
    } catch (...) {
        return nullptr;
    }
}

void *operator new(std::size_t n, std::align_val_t al, const std::nothrow_t &) noexcept {
    try {
        return ::operator new(n, al);
    } catch (...) {
        return nullptr;
    }
}

void *operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t &) noexcept {
    try {
        return ::operator new[](n, al);
    } catch (...) {
        return nullptr;
    }
}
