/* Request bodies: the chunked transfer coding decoder (RFC 9112 §7.1) and
 * the CRC-32 strata-echo reports over the payload.
 *
 * Pure and incremental: the caller owns the bytes and the small state; the
 * decoder never reads past `len` and never needs more than one chunk-size or
 * trailer line in the buffer at once.
 */
#ifndef STRATA_ECHO_BODY_H
#define STRATA_ECHO_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "echo_http.h"

/* Longest chunk-size line (with extensions) or trailer line accepted. */
#define ECHO_CHUNKED_MAX_LINE 4096
/* Total trailer section bytes accepted. */
#define ECHO_CHUNKED_MAX_TRAILERS ECHO_HTTP_MAX_HEAD

enum echo_chunked_state {
	ECHO_CK_SIZE,	  /* expecting a chunk-size line */
	ECHO_CK_DATA,	  /* inside chunk-data, `left` bytes to go */
	ECHO_CK_DATA_END, /* expecting the CRLF after chunk-data */
	ECHO_CK_TRAILER,  /* after last-chunk: trailer lines until an empty one */
	ECHO_CK_DONE,	  /* the body is complete */
	ECHO_CK__COUNT
};

struct echo_chunked {
	enum echo_chunked_state state;
	uint64_t left;
	size_t trailer_bytes;
};

void echo_chunked_init(struct echo_chunked *ck);

/* Consumes one framing element, or one run of chunk data, from buf[0..len).
 * Returns > 0 bytes consumed; *data is then the body payload inside them
 * (len 0 for framing). -EAGAIN: buf holds no complete element (call again
 * with more); -EBADMSG / -E2BIG: malformed / over a limit, *why set.
 * Must not be called once state is ECHO_CK_DONE (returns -EINVAL). */
int echo_chunked_next(struct echo_chunked *ck, const char *buf, size_t len, struct echo_span *data,
		      enum echo_http_why *why);

/* CRC-32 as in IEEE 802.3, zlib and PNG (reflected polynomial 0xEDB88320),
 * so a test can compare "body_crc" with zlib.crc32(). Continues a CRC over n
 * more bytes; start with crc = 0. Thread-safe. */
uint32_t echo_crc32_update(uint32_t crc, const void *p, size_t n);

#endif
