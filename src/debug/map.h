/* map.h -- the heap as a picture (docs/map.md): wd_map_svg for the
 * process's heap and wd_heap_map_svg for a classic heap (the public side
 * is warden.h and warden/heap.h), and map=FILE.svg at exit. */
#ifndef WARDEN_MAP_H
#define WARDEN_MAP_H

/* Writes the map of the process's heap to the file map= names (`%p` made
 * the process id; emptied first); registered with atexit. */
void wdi_map_at_exit(void);

/* The map of the process's heap into fd with write(2); 0 or -1. */
int wdi_map_svg_fd(int fd);

#endif /* WARDEN_MAP_H */
