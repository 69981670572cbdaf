/* CRC32C (Castagnoli), as used by the PROXY protocol v2 CRC32C TLV.
 *
 * The checksum is the one of RFC 4960 appendix B / RFC 3720 B.4: reflected
 * polynomial 0x82F63B78, initial value ~0, final complement. The SSE4.2
 * `crc32` instruction computes exactly this polynomial, so the hardware path
 * is used when the CPU has it and a table-driven loop otherwise; both give
 * the same results and both are exported so tests can check each one.
 *
 * All functions are pure and thread-safe; none allocates.
 */
#ifndef STRATA_CRC32C_H
#define STRATA_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Extends `crc` (the value returned for the bytes before; 0 to start) over
 * `len` bytes at `buf` and returns the CRC32C of everything so far, so
 * crc32c(crc32c(0, a, n), b, m) equals crc32c over a followed by b.
 * Uses the SSE4.2 instruction when crc32c_has_hw() is true. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* Same contract as crc32c(), forced onto one implementation. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* Only call when crc32c_has_hw() returned true (otherwise it faults with an
 * illegal instruction, or falls back to software on non-x86 builds). */
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);

/* True when the CPU executes the SSE4.2 crc32 instruction (checked once). */
bool crc32c_has_hw(void);

#endif
