/* stats.h -- the statistics: wd_stats_get, wd_stats_print (the public
 * side is warden.h), the report at exit, and the figures the machine-
 * readable reports share (json.c, info.c, map.c).  Reads the counters
 * (counters.h), the heaps (thread.h) and the tiers' own views (page.h,
 * medium.h, large.h); changes nothing. */
#ifndef WARDEN_STATS_H
#define WARDEN_STATS_H

#include <stddef.h>

#include "core/page.h"
#include "core/segment.h"
#include "warden.h"

/* Prints the text report (stats=1) to stats_file, or to the copy of
 * stderr; registered with atexit (stats=json: json.h). */
void wdi_stats_at_exit(void);

/* Everything the reports say, collected at one moment: the figures of
 * wd_stats_get, the small pages by class summed over the heaps, the medium
 * tier's free ranges, the large cache.  Takes and releases the tiers'
 * locks; allocates nothing.  With resident != 0 also measures the heap's
 * resident bytes (a mincore per 4 MiB of warden's memory). */
typedef struct wd_figures_s {
    wd_stats_t st;
    wd_small_summary_t small;
    size_t heaps, heaps_abandoned;
    size_t medium_segments, medium_free_ranges, medium_free_bytes;
    size_t large_cached_blocks, large_cached_bytes;
    size_t committed_peak;
    size_t heap_resident; /* with resident != 0, else 0 */
} wd_figures_t;

void wdi_figures_get(wd_figures_t *f, int resident);

/* The kind of the region the segment map names (WD_KIND_*), read so that
 * a region unmapped meanwhile gives 0 instead of a fault. */
unsigned wdi_region_kind(const wd_region_t *region);

/* Bytes of warden's memory resident now: every region of the segment map
 * and warden's own mappings (heaps, check mode's tables, stack depot). */
size_t wdi_heap_resident_bytes(void);

/* Where the statistics go: stats_file (opened once, appending, `%p` made
 * the process id) or the copy of stderr; -1 when the file cannot be
 * opened (said once on stderr). */
int wdi_stats_out_fd(void);

/* At the process start: the paths of map and stats_file made absolute (a
 * program may change its directory before it exits), and stats_file
 * opened when statistics will be written there. */
void wdi_stats_paths_settle(void);

/* fork(): the child resets the statistics' locks (a thread that held one
 * at the fork does not exist there). */
void wdi_stats_fork_child(void);

/* path with each `%p` made the process id, into buf. */
void wdi_path_expand(char *buf, size_t size, const char *path);

#endif /* WARDEN_STATS_H */
