/* json.h -- the statistics for machines: one JSON object (docs/stats.md),
 * written by wd_stats_json (warden.h), at exit with stats=json and every
 * stats_interval_ms milliseconds by a thread of its own. */
#ifndef WARDEN_JSON_H
#define WARDEN_JSON_H

/* Writes one JSON object and a newline to fd with write(2); never
 * allocates, so it may run at exit and in the statistics thread.  Lines
 * from several threads or processes never interleave inside a line (one
 * lock, one write(2) for a line up to 32 KiB). */
void wdi_stats_json_fd(int fd);

/* stats=json: the object at exit, to stats_file or the copy of stderr;
 * registered with atexit. */
void wdi_stats_json_at_exit(void);

/* fork(): the child resets the lock of the lines. */
void wdi_stats_json_fork_child(void);

/* With stats_interval_ms=N: starts the thread that appends a line every N
 * ms.  Called once by the process start, outside any lock. */
void wdi_stats_interval_start(void);

#endif /* WARDEN_JSON_H */
