// check_errors.cpp -- misuse that check mode reports and examples/errors/
// does not show, one case per run (`check_errors CASE`): test_check.c runs
// it with LD_PRELOAD=libwarden.so WARDEN_OPTIONS=check=1 and asserts each
// report.  The lines a report must name carry a marker comment (E_...),
// found by the driver in this file.  Not linked with warden.
//
//   underflow      a write 4 bytes before a block, found at free
//   underflow_whole  a write of the 16 bytes before a block, its whole left
//                  redzone: "at least 16 bytes", found at free
//   underflow_far  a write of the 24 bytes before a small block: past its
//                  16-byte left redzone, into the checker's record of it
//   overflow_gap   one byte written 10 bytes past the end of a 48-byte block
//                  (the bytes between untouched): named where it lies, not
//                  as 11 bytes written
//   overflow_sparse  bytes 0 and 4 past the end of a 48-byte block written,
//                  those between not: "bytes from 0 to 4 bytes past the end"
//   overflow_edge  one byte written on the last byte of a 48-byte block's
//                  right redzone (its slot ends 64 bytes past the block):
//                  "and perhaps more beyond it"
//   underflow_gap  one byte written 10 bytes before a 40-byte block
//   overflow_slack one byte written 200 bytes past the end of a 20,000-byte
//                  block aligned to 16 KiB, whose slot leaves it kilobytes
//                  of slack: in the part of it that is the right redzone
//   record_jump    8 bytes written 24 past the end of a 40-byte block, past
//                  its redzone, onto the record of the block after it: found
//                  when the first is freed, the second then freed quietly
//   record_jump_exit  the same, both blocks live at exit: found there
//   record_jump_back  the same, the second block freed first: its record is
//                  found written, the block before it named, no double free
//   record_zeroed  the 8 bytes 32 before a 64-byte block (its record's tag)
//                  zeroed, its redzone not: no double free, no leak
//   record_through 32 bytes written from the end of a 40-byte block: its
//                  redzone and the record after it, one overflow, one report
//   evicted        a write after free found when the block leaves the
//                  quarantine (run with check_quarantine_mb=1), not at exit
//   free_sized     free_sized (C23) with a wrong size
//   sized_delete   a sized operator delete with a wrong size
//   array_delete   delete[] of a block from new
//   realloc_freed  realloc of a freed block
//   evicted_far    a write after free 50,000 bytes into a freed 100,000-byte
//                  block: between the first and the last 32 KiB that the
//                  patterns cover by default (check_fill_kb=64), so not
//                  seen; seen with check_fill_kb=0 (test_check runs both)
//   evicted_end    a write after free into the last byte of a freed
//                  100,000-byte block: in the last 32 KiB, so seen
//   large_uaf_write  a write after free 2,500,000 bytes into a freed
//                  5,000,000-byte block: under check=2 blocks up to 64 MiB
//                  lie against a guard page and close at free, under check=1
//                  a block too large for the quarantine waits closed, so the
//                  write faults and is reported where it happens (test_check
//                  runs both)
//   large_uaf_read a read 500,000 bytes into a freed 1 MiB block: the same
//   large_uaf_edge (check=1) a write after free into the first 8 bytes of a
//                  freed 1 MiB block, before its first whole page: they
//                  hold the freed pattern, checked at exit
//   child_exit     a double free in the parent, then in a fork child a double
//                  free of its own and _exit(0): the child's summary at _exit
//                  counts its own error (1), the parent's at exit its own (1)
//   large_overflow_read  (check=2) a read one byte past the end of a live
//                  2,000,000-byte block: it ends at its guard page
//   large_underflow  (check=2) a write 2,000 bytes before a 2,000,000-byte
//                  block, which starts 2,944 bytes into its first open page:
//                  into the slack before it, its left redzone, found at free
//   late_double    a double free of a block that left the quarantine: named
//                  so, with both stacks, from the history of blocks given back
//   double_delete  delete twice of a block from new: named with delete, the
//                  operator the program called, not its C entry
//   aligned_plain_delete  a block of operator new with alignment 256 given to
//                  plain operator delete: a mismatch
//   plain_aligned_delete  a block of plain operator new given to operator
//                  delete with alignment 64: a mismatch
//   delete_overflow  an overflow of a block from new[], found by its delete[]:
//                  named with delete[], not the operators' C entry
//   cookie_delete  delete (not delete[]) of an array from new[] of a type with
//                  a destructor: C++ passes the block's address plus 8
//                  (the count of elements), named as a mismatch
//   array_delete_destructor  delete[] of one object from new of a type with
//                  a destructor: delete[] reads a count of elements before
//                  it (the redzone's zeros: none destroyed) and passes the
//                  address 8 bytes before the block on, named as a mismatch
//   forgotten_double  a double free after 100,000 other frees, which the
//                  history (65,536 blocks) no longer holds: still a double
//                  free, with the allocation's stack, from the slot's record
//                  (check=2: with both stacks, from the block's guarded cell)
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <new>

// Through volatile pointers: gcc must not see the misuse at compile time.
static void *volatile sink;

// A destructor of its own: new[] keeps the count of elements before them.
struct Counted {
    int v[3];
    ~Counted() { v[0] = 0; }
};

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "";
    if (strcmp(which, "underflow") == 0) {
        int *a = (int *)malloc(40); // E_UNDERFLOW_ALLOC
        sink = a;
        ((int *)sink)[-1] = 7;
        free(a); // E_UNDERFLOW_FREE
    } else if (strcmp(which, "underflow_whole") == 0) {
        char *a = (char *)malloc(40); // E_UNDERFLOW_WHOLE_ALLOC
        sink = a;
        memset((char *)sink - 16, 7, 16); // the whole left redzone: maybe more
        free(a);                           // E_UNDERFLOW_WHOLE_FREE
    } else if (strcmp(which, "underflow_far") == 0) {
        char *a = (char *)malloc(40);
        sink = a;
        memset((char *)sink - 24, 7, 24);
        free(a); // E_UNDERFLOW_FAR_FREE
    } else if (strcmp(which, "record_jump") == 0) {
        char *a = (char *)malloc(40); // E_RJUMP_ALLOC
        char *b = (char *)malloc(40);
        sink = a;
        if (b - a != 96) { // the next slot of the class, in a fresh page
            puts("check_errors: not the layout this case needs");
            return 77;
        }
        memset((char *)sink + 64, 'Z', 8); // past a's redzone: b's record
        free(a);                           // E_RJUMP_FREE
        free(b);
    } else if (strcmp(which, "record_jump_exit") == 0) {
        char *a = (char *)malloc(40); // E_RJUMPX_ALLOC
        char *b = (char *)malloc(40);
        sink = a;
        if (b - a != 96) {
            puts("check_errors: not the layout this case needs");
            return 77;
        }
        memset((char *)sink + 64, 'Z', 8); // past a's redzone: b's record
        static char *keep[2];              // both live at exit
        keep[0] = a;
        keep[1] = b;
        sink = keep;
    } else if (strcmp(which, "record_through") == 0) {
        char *a = (char *)malloc(40); // E_RTHRU_ALLOC
        char *b = (char *)malloc(40);
        sink = a;
        if (b - a != 96) {
            puts("check_errors: not the layout this case needs");
            return 77;
        }
        memset((char *)sink + 40, 'Z', 32); // the redzone, then b's record
        free(a);                            // E_RTHRU_FREE
        free(b);
    } else if (strcmp(which, "record_jump_back") == 0) {
        char *a = (char *)malloc(40);
        char *b = (char *)malloc(40); // E_RJUMPB_ALLOC
        sink = a;
        if (b - a != 96) {
            puts("check_errors: not the layout this case needs");
            return 77;
        }
        memset((char *)sink + 64, 'Z', 8);
        free(b); // E_RJUMPB_FREE
        free(a);
    } else if (strcmp(which, "record_zeroed") == 0) {
        char *a = (char *)malloc(64); // E_RZERO_ALLOC
        sink = a;
        memset((char *)sink - 32, 0, 8); // the record's tag, not the redzone
        free(a);                         // E_RZERO_FREE
    } else if (strcmp(which, "overflow_gap") == 0) {
        char *a = (char *)malloc(48); // E_GAP_ALLOC
        sink = a;
        ((char *)sink)[58] = 1;
        free(a); // E_GAP_FREE
    } else if (strcmp(which, "overflow_sparse") == 0) {
        char *a = (char *)malloc(48); // E_SPARSE_ALLOC
        sink = a;
        ((char *)sink)[48] = 1;
        ((char *)sink)[52] = 1;
        free(a); // E_SPARSE_FREE
    } else if (strcmp(which, "overflow_edge") == 0) {
        char *a = (char *)malloc(48); // E_EDGE_OVER_ALLOC
        sink = a;
        ((char *)sink)[63] = 1;
        free(a); // E_EDGE_OVER_FREE
    } else if (strcmp(which, "overflow_slack") == 0) {
        void *a = NULL;
        if (posix_memalign(&a, 16384, 20000) != 0) // E_SLACK_ALLOC
            return 1;
        sink = a;
        ((char *)sink)[20200] = 1;
        free(a); // E_SLACK_FREE
    } else if (strcmp(which, "underflow_gap") == 0) {
        char *a = (char *)malloc(40); // E_UGAP_ALLOC
        sink = a;
        ((char *)sink)[-10] = 1;
        free(a); // E_UGAP_FREE
    } else if (strcmp(which, "evicted") == 0) {
        char *victim = (char *)malloc(100); // E_EVICTED_ALLOC
        sink = victim;
        free(victim);           // E_EVICTED_FREE
        ((char *)sink)[10] = 1; // a write after free
        // 2 MiB of frees push it out of a 1 MiB quarantine.
        for (int i = 0; i < 20000; i++)
            free(malloc(100));
    } else if (strcmp(which, "evicted_far") == 0 || strcmp(which, "evicted_end") == 0) {
        char *victim = (char *)malloc(100000); // E_FAR_ALLOC
        sink = victim;
        free(victim); // E_FAR_FREE
        // a write after free: in the middle, or into the last byte
        ((char *)sink)[strcmp(which, "evicted_far") == 0 ? 50000 : 99999] = 1;
        for (int i = 0; i < 20000; i++)
            free(malloc(100));
    } else if (strcmp(which, "large_uaf_write") == 0) {
        char *victim = (char *)malloc(5000000); // E_BIGW_ALLOC
        sink = victim;
        free(victim);                  // E_BIGW_FREE
        ((char *)sink)[2500000] = 1; // E_BIGW_WRITE
    } else if (strcmp(which, "large_uaf_read") == 0) {
        char *victim = (char *)malloc(1 << 20); // E_BIGR_ALLOC
        memset(victim, 5, 1 << 20);
        sink = victim;
        free(victim);                               // E_BIGR_FREE
        printf("read %d\n", ((char *)sink)[500000]); // E_BIGR_READ
    } else if (strcmp(which, "large_uaf_edge") == 0) {
        long *victim = (long *)malloc(1 << 20); // E_EDGE_ALLOC
        sink = victim;
        free(victim);         // E_EDGE_FREE
        *(long *)sink = 1234; // a write after free, found at exit
    } else if (strcmp(which, "large_overflow_read") == 0) {
        char *big = (char *)malloc(2000000); // E_BIGO_ALLOC
        memset(big, 5, 2000000);
        sink = big;
        printf("read %d\n", ((char *)sink)[2000000]); // E_BIGO_READ
        free(big);
    } else if (strcmp(which, "large_underflow") == 0) {
        char *big = (char *)malloc(2000000); // E_BIGU_ALLOC
        sink = big;
        ((char *)sink)[-2000] = 1;
        free(big); // E_BIGU_FREE
    } else if (strcmp(which, "child_exit") == 0) {
        char *a = (char *)malloc(24);
        sink = a;
        free(a);
        free(sink); // the parent's double free
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            char *b = (char *)malloc(32);
            sink = b;
            free(b);
            free(sink); // the child's own
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            printf("child status %d\n", status);
    } else if (strcmp(which, "late_double") == 0) {
        char *p = (char *)malloc(300); // E_LATE_ALLOC
        sink = p;
        free(p); // E_LATE_FREE
        for (int i = 0; i < 20000; i++)
            free(malloc(100));
        free(sink); // E_LATE_DOUBLE
    } else if (strcmp(which, "double_delete") == 0) {
        long *one = new long(7); // E_DD_ALLOC
        sink = one;
        delete one;           // E_DD_FREE
        delete (long *)sink;  // E_DD_DOUBLE
    } else if (strcmp(which, "cookie_delete") == 0) {
        Counted *a = new Counted[3]; // E_COOKIE_ALLOC
        sink = a;
        delete (Counted *)sink; // E_COOKIE_DELETE
        delete[] a;             // the right release, so that nothing leaks
    } else if (strcmp(which, "forgotten_double") == 0) {
        char *p = (char *)malloc(300); // E_FORGOT_ALLOC
        sink = p;
        free(p); // E_FORGOT_FREE
        for (int i = 0; i < 100000; i++)
            free(malloc(100));
        free(sink); // E_FORGOT_DOUBLE
    } else if (strcmp(which, "free_sized") == 0) {
        // glibc 2.36 does not declare it; warden defines it.
        typedef void free_sized_t(void *, size_t);
        free_sized_t *free_sized = (free_sized_t *)dlsym(RTLD_DEFAULT, "free_sized");
        if (free_sized == NULL)
            return 77;
        void *p = malloc(40); // E_FREE_SIZED_ALLOC
        free_sized(p, 32);    // E_FREE_SIZED
    } else if (strcmp(which, "sized_delete") == 0) {
        void *p = ::operator new(40); // E_SIZED_DELETE_ALLOC
        ::operator delete(p, 24);     // E_SIZED_DELETE
    } else if (strcmp(which, "delete_overflow") == 0) {
        char *a = new char[10]; // E_DOVER_ALLOC
        a[10] = 1;              // one past the end
        sink = a;
        delete[] (char *)sink; // E_DOVER_DELETE
    } else if (strcmp(which, "aligned_plain_delete") == 0) {
        void *p = ::operator new(100, std::align_val_t(256)); // E_APD_ALLOC
        sink = p;
        ::operator delete(sink); // E_APD_DELETE
    } else if (strcmp(which, "plain_aligned_delete") == 0) {
        void *p = ::operator new(64); // E_PAD_ALLOC
        sink = p;
        ::operator delete(sink, std::align_val_t(64)); // E_PAD_DELETE
    } else if (strcmp(which, "array_delete") == 0) {
        long *one = new long(5); // E_ARRAY_DELETE_ALLOC
        sink = one;
        delete[] (long *)sink; // E_ARRAY_DELETE
    } else if (strcmp(which, "array_delete_destructor") == 0) {
        Counted *one = new Counted; // E_ADD_ALLOC
        sink = one;
        delete[] (Counted *)sink; // E_ADD_DELETE
        delete one;               // the right release, so that nothing leaks
    } else if (strcmp(which, "realloc_freed") == 0) {
        char *p = (char *)malloc(64); // E_REALLOC_ALLOC
        sink = p;
        free(p);                      // E_REALLOC_FREE
        void *q = realloc(sink, 128); // E_REALLOC
        printf("realloc returned %s\n", q == NULL ? "NULL" : "a block");
    } else {
        fprintf(stderr, "usage: check_errors underflow|underflow_far|record_jump|record_jump_back|"
                        "record_zeroed|record_jump_exit|overflow_gap|overflow_sparse|"
                        "overflow_edge|overflow_slack|underflow_gap|evicted|evicted_far|evicted_end|"
                        "late_double|forgotten_double|double_delete|cookie_delete|free_sized|"
                        "sized_delete|delete_overflow|aligned_plain_delete|plain_aligned_delete|"
                        "array_delete|array_delete_destructor|realloc_freed\n");
        return 2;
    }
    puts("check_errors: done");
    return 0;
}
