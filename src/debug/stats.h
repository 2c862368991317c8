/* stats.h -- the statistics report: wd_stats_get, wd_stats_print (the public
 * side is warden.h) and the report at exit.  Reads the counters
 * (counters.h) and sums the heaps (thread.h); changes nothing. */
#ifndef WARDEN_STATS_H
#define WARDEN_STATS_H

/* Prints the report where stats=1 said; registered with atexit. */
void wdi_stats_at_exit(void);

#endif /* WARDEN_STATS_H */
