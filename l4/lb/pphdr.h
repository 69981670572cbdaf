/* PROXY protocol v2 headers strata-l4 sends (proxy.h encodes them). */
#ifndef STRATA_L4_PPHDR_H
#define STRATA_L4_PPHDR_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/* The header for connection `c` (PROXY, client source, the address the
 * client connected to, UNIQUE_ID, node TLV, AUTHORITY = `sni` when the
 * service sends it, CRC32C when configured) into buf. Returns its length,
 * or -errno (getsockname failed, -ENOSPC). */
int l4_pphdr_build(const struct l4_conn *c, const char *sni, uint8_t *buf, size_t cap);

/* A LOCAL header (health checks: no address) with the node TLV. */
int l4_pphdr_local(uint8_t *buf, size_t cap, const char *node);

#endif
