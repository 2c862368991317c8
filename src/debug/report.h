/* report.h -- the one format every checker reports in (check mode, the
 * guard allocator, the heap profiler's findings):
 *
 *     warden: heap-use-after-free at 0x7f3a5c001040
 *       the block of 40 bytes was freed 8 bytes before
 *       freed at:
 *         #0 0x55d0c1a2b3c4 in release_node src/list.c:88
 *         #1 0x55d0c1a2b5e0 in main src/main.c:21
 *         #2 0x7f3a5c829d8f in __libc_start_call_main (/lib/x86_64-linux-gnu/libc.so.6+0x271ca)
 *     warden: (no file:line: ...)          only when the program's frames have none
 *
 * A report is built between wdi_report_begin and wdi_report_end and
 * written at the end, all at once, with write(2) on stderr: the stacks of
 * one report are symbolized together (symbol.h: one helper run for all of
 * them), or ahead for many reports (wdi_report_names_ahead), and two
 * threads' reports never interleave (a lock is
 * held from begin to end).  Nothing here allocates or takes an allocator
 * lock, so a report may be printed from inside the allocator, even with a
 * tier's lock held; errno is left as it was.  Not reentrant: a report
 * must not begin while the same thread is inside one.
 *
 * Calls: symbol.h, stack.h (stacks by id), lock.h, options.h (the
 * formatter), os.h (the names ahead's mappings). */
#ifndef WARDEN_REPORT_H
#define WARDEN_REPORT_H

#include <stddef.h>
#include <stdint.h>

/* Room in one report: stacks (WD_STACK_MAX frames each), and lines
 * besides the stacks; what does not fit is left out. */
#define WDI_REPORT_STACKS 8
#define WDI_REPORT_LINES 16

/* Starts a report (takes the report lock, counts one error) whose first
 * line is `warden: ` and fmt formatted with wdi_fmt's conversions. */
void wdi_report_begin(const char *fmt, ...);

/* The same for a record that is no error (a leak record, a profile's
 * entry): not counted by wdi_report_errors. */
void wdi_report_begin_record(const char *fmt, ...);

/* Bytes of a redzone (check mode's, or the slack a guarded block leaves
 * before its page) found changed after the fact, by a free or at exit:
 * which side of the block, and the distances of the changed bytes nearest
 * to and farthest from it, counted as an access is (the first byte past
 * the end is 0 bytes past it, the last one before the start 1 byte before
 * it). */
typedef struct wd_redzone_hit_s {
    int after;        /* past the end (1), or before the start (0) */
    size_t near, far; /* near <= far */
    int whole;        /* every byte from the block to `far` changed */
    int open;         /* far is the redzone's last byte: the write may go on */
} wd_redzone_hit_t;

/* Starts the report of such a hit on the block p of size bytes, found by
 * fn: "N bytes past the end ... were written" when the bytes changed run
 * from the block on, else where they lie ("the byte 10 bytes past the
 * end", "bytes from 3 to 10 bytes past the end"): a byte written ten
 * bytes past a block is not eleven bytes written. */
void wdi_report_redzone_begin(const wd_redzone_hit_t *hit, size_t size, uintptr_t p,
                              const char *fn);

/* Adds a line of details, indented by two spaces. */
void wdi_report_line(const char *fmt, ...);

/* Adds a stack: a line `  <title>:` when title is not NULL, then one line
 * per frame, `    #N 0xADDR in FUNCTION FILE:LINE`, or without line
 * information `    #N 0xADDR in FUNCTION (MODULE+0xOFF)`.  Frames of
 * libwarden.so at the top are left out (when warden is linked into the
 * program, the capture's skip or wdi_stack_capture_from must leave them
 * out). */
void wdi_report_stack(const char *title, void *const *pcs, int n);

/* The same for a stack kept in the depot (stack.h); id 0, a stack that
 * was not kept, prints as such. */
void wdi_report_stack_id(const char *title, uint32_t id);

/* Symbolizes the report's stacks, writes the report, releases the lock. */
void wdi_report_end(void);

/* Names the frames of the n stacks ids[] (the depot's) now, in one
 * helper run, for the reports that follow (leak records: one run for all
 * of them, not one each): a report whose every frame was named ahead asks
 * the helper nothing.  The names stay until wdi_report_names_done.  Takes
 * the report lock while it runs; maps memory for the names (nothing when
 * the OS refuses: the reports then name their own frames). */
void wdi_report_names_ahead(const uint32_t *ids, size_t n);
void wdi_report_names_done(void);

/* 1 when fn returns 1 for a frame of the stack id (the depot's), named as
 * a report would name it (ahead, or now), or with quick set only by what
 * dladdr knows (wdi_symbolize_quick: no helper run); under the report
 * lock. */
struct wdi_sym_s;
int wdi_report_stack_any(uint32_t id, int quick, int (*fn)(const struct wdi_sym_s *));

/* wdi_symbolize (symbol.h) for a caller that prints no report (the heap
 * profiler's dump), under the report lock: symbol.c's buffers serve one
 * caller at a time. */
int wdi_report_symbolize(void *const *pcs, int n, struct wdi_sym_s *out, char *text, size_t cap);

/* Reports begun in this process so far (check mode's summary at exit and
 * its exit status). */
size_t wdi_report_errors(void);

/* In a fork child: a report another thread was printing is gone with that
 * thread, and its lock is free.  The parent needs nothing: every report
 * starts afresh.  (No prepare step that takes the lock: where fork handlers
 * run inside a report, as when ThreadSanitizer turns the helper's vfork
 * into fork, it would wait for itself.)  Called by process.c's fork
 * handler. */
void wdi_report_fork_child(void);

#endif /* WARDEN_REPORT_H */
