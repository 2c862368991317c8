/* suppress.h -- which leak records check mode does not print: those of
 * the system's programs, and those that a pattern names, matched against
 * the names of the frames of a record's allocation stack as
 * LeakSanitizer's suppression files have them.
 *
 * A pattern matches a frame when it matches the frame's module (the path
 * of the program or shared object), its function (exported or as the
 * debug information names it, inlined ones too) or its source file.
 * `*` stands for any run of characters; a pattern matches anywhere in
 * the name unless it begins with `^` (then at the start) or ends with `$`
 * (then at the end).
 *
 * The program's own patterns come from a file of `leak:PATTERN` lines
 * (WARDEN_OPTIONS=suppressions=FILE; `#` starts a comment).  And by
 * default every leak of a program of the system (one in /usr/bin, /usr/lib
 * and the like: suppress.c lists them and says why) is suppressed whole;
 * default_suppressions=0 turns that off.  A record suppressed is counted
 * in the summary at exit, not printed.
 *
 * Calls: symbol.h (the frame's names), options.h (the options, the
 * formatter), lock.h, open/read/close for the file, readlink for the
 * program's path: no allocation. */
#ifndef WARDEN_SUPPRESS_H
#define WARDEN_SUPPRESS_H

struct wdi_sym_s;

/* Reads the file once and looks where the program lies (later calls
 * return at once); warns on stderr about a file that cannot be read or a
 * line that is not `leak:`.  Returns how many patterns there are. */
int wdi_suppress_load(void);

/* 1 when every leak of this process is suppressed: default_suppressions
 * is on and the program is one of the system's. */
int wdi_suppress_all(void);

/* 1 when a pattern of the file matches the frame s. */
int wdi_suppress_frame(const struct wdi_sym_s *s);

/* 1 when pattern (len bytes, `^`, `*` and `$` as above) matches name. */
int wdi_suppress_match(const char *pattern, unsigned len, const char *name);

#endif /* WARDEN_SUPPRESS_H */
