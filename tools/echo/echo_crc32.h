/* CRC-32 as in IEEE 802.3, zlib and PNG (reflected polynomial 0xEDB88320),
 * so a test can compare strata-echo's "body_crc" with zlib.crc32(). */
#ifndef STRATA_ECHO_CRC32_H
#define STRATA_ECHO_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC over n more bytes; start with crc = 0. Thread-safe. */
uint32_t echo_crc32_update(uint32_t crc, const void *p, size_t n);

#endif
