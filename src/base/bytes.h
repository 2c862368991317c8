/* bytes.h -- whether a range of memory holds one byte value throughout:
 * the check of the patterns that harden=2 and check mode fill freed
 * blocks and redzones with, on every free and every block leaving a
 * quarantine, so it is vectorised. */
#ifndef WARDEN_BYTES_H
#define WARDEN_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* Chooses the versions below for the processor (AVX2 or not); called by
 * the process start, before any block is checked.  Until then, and
 * without it, the baseline versions run. */
void wdi_bytes_init(void);

/* 1 when every byte of [p, p + n) is `byte`. */
int wdi_bytes_are(const void *p, size_t n, uint8_t byte);

/* Sets every byte of [p, p + n) to `byte` (harden=2's fill of freed
 * blocks: short ones, where this beats a call to memset). */
void wdi_bytes_fill(void *p, size_t n, uint8_t byte);

/* The same two for n from 16 to 256 (WDI_BYTES_HEAD_MAX), the head of a
 * freed block that harden=2 fills and checks: a fixed number of accesses,
 * no loop. */
#define WDI_BYTES_HEAD_MAX 256
int wdi_bytes_head_are(const void *p, size_t n, uint8_t byte);
void wdi_bytes_head_fill(void *p, size_t n, uint8_t byte);

#endif /* WARDEN_BYTES_H */
