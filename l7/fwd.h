/* Forwarding headers: who the client is, told to the upstream
 * (X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host,
 * Forwarded per RFC 7239, X-Request-Id). docs/l7-config.md "Forwarding
 * headers" has the full policy; in short, the client address is the PPv2
 * source, and a client's own copies of these headers are never trusted:
 *
 *   client (PPv2 source)          header on                 header off
 *   not in trusted_forwarders     client's removed, ours    client's removed
 *   in trusted_forwarders         XFF/Forwarded extended;   client's passed
 *                                 others: client's kept,
 *                                 ours when it sent none
 *
 * headers.c asks l7_fwd_keep_received() per received field and appends
 * l7_fwd_write()'s output. Pure: no allocation; the generated request id
 * uses per-thread counters.
 */
#ifndef STRATA_L7_FWD_H
#define STRATA_L7_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

#include "headers.h"
#include "l7_config.h"

/* Longest X-Request-Id value: a printable-escaped 128-byte PPv2 unique id
 * (3 bytes per escaped byte) and "-" with a 20-digit request number. */
#define L7_REQUEST_ID_MAX (3 * PPV2_UNIQUE_ID_MAX + 24)

/* Which forwarding header `name` is (case-insensitive), or -1. */
int l7_fwd_header_kind(const char *name, size_t len);

/* Whether a received field of kind `kind` (l7_fwd_header_kind() >= 0) is
 * passed on, per the table above. */
bool l7_fwd_keep_received(const struct l7_req_ctx *ctx, enum l7_fwd_hdr kind);

/* The X-Request-Id value for a request: the PPv2 unique id with every byte
 * outside 0x21..0x7e (and '%') written as %XX, or, without one, a generated
 * id "NODE-EPOCH-THREAD-COUNTER" (hex) unique within this process run and
 * unlikely to repeat across restarts. For the second and later requests of
 * one connection (request_seq > 1) "-N" is appended so every request's id is
 * distinct while staying joinable to the connection id. Writes at most
 * min(cap, L7_REQUEST_ID_MAX) bytes, no NUL; returns the length (0 when cap
 * is too small). */
size_t l7_request_id(char *out, size_t cap, const struct l7_snapshot *snap,
		     const uint8_t *unique_id, size_t unique_id_len, uint64_t request_seq);

/* Appends the forwarding header lines for ctx (each "Name: value\r\n") to
 * out: the enabled ones, minus the kinds in skip_mask (the route sets or
 * removes them) and, for trusted forwarders, the kept ones. Extends the
 * received X-Forwarded-For / Forwarded values when the client is a trusted
 * forwarder. Returns the bytes written or -E2BIG. */
int l7_fwd_write(uint8_t *out, size_t cap, const struct l7_req_ctx *ctx, uint32_t skip_mask);

/* Writes `a`'s RFC 7239 §6 node form: 192.0.2.1 or "[2001:db8::1]" (quoted),
 * with_port: "192.0.2.1:80" / "[2001:db8::1]:80" (quoted); "unknown" for
 * addresses without an IP. Returns the length, or -E2BIG. */
int l7_fwd_node(char *out, size_t cap, const struct addr *a, bool with_port);

#endif
