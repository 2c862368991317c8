// mismatch.cpp -- blocks released by the wrong function: new[] released
// with delete, new released with free, malloc released with delete.
//
// Each is reported as "mismatched <release>: a block from <allocation>
// given to <release>", with the stack of the release and of the
// allocation.  The block is then freed anyway and the program goes on.
#include <cstdio>
#include <cstdlib>

struct point {
    int x, y;
};

int main() {
    int *numbers = new int[10]; // ALLOC_ARRAY
    numbers[0] = 1;
    delete numbers; // ERROR_ARRAY: new[] wants delete[]

    point *p = new point{1, 2}; // ALLOC_NEW
    std::free(p); // ERROR_NEW: new wants delete

    void *raw = std::malloc(sizeof(point)); // ALLOC_MALLOC
    delete static_cast<point *>(raw); // ERROR_MALLOC: malloc wants free

    std::puts("mismatch: done");
    return 0;
}
