/* Incremental, validating decoder of the chunked transfer coding (RFC 9112
 * §7.1), and the few bytes needed to re-emit it.
 *
 * The state (struct http1_chunked) lives in the caller's connection; bytes
 * are fed as they arrive, in pieces of any size down to one byte. Each call
 * returns how many bytes it consumed and the spans (views into the fed
 * buffer) of chunk data and of trailer field lines found in them. Pure: no
 * allocation, no logging.
 *
 * Forwarding: the decoder strips the framing. The recommended way is to
 * re-emit it: for each DATA span, http1_chunked_size_line(len) + the span +
 * "\r\n"; once done, "0\r\n", the TRAILER spans (or none, to drop them) and
 * "\r\n". That never forwards chunk extensions, which recipients parse
 * differently. Forwarding the consumed input bytes verbatim is also safe:
 * everything consumed by a successful call has been validated. Either way,
 * spans of a call that fails are discarded and the connection is closed, so
 * what was forwarded is always a prefix of a valid message.
 */
#ifndef STRATA_HTTP1_CHUNKED_H
#define STRATA_HTTP1_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http1_parse.h"

/* Hex digits of one chunk size, leading zeros included: 16 digits hold 2^64,
 * so with the size cap below the value can never overflow. */
#define HTTP1_CHUNK_MAX_DIGITS 16
/* Hard ceiling of max_chunk_size (a chunk this large is not a real one). */
#define HTTP1_CHUNK_MAX_SIZE (1ull << 62)
/* Defaults of struct http1_chunked_limits. */
#define HTTP1_CHUNK_DEFAULT_MAX_EXT	      1024
#define HTTP1_CHUNK_DEFAULT_MAX_TRAILER_BYTES 8192
#define HTTP1_CHUNK_DEFAULT_MAX_TRAILERS      32
/* Longest size line http1_chunked_size_line() writes: 16 hex digits + CRLF. */
#define HTTP1_CHUNK_LINE_MAX 18
/* A trailer name longer than this cannot be one of the refused names. */
#define HTTP1_CHUNK_NAME_KEEP 17

struct http1_chunked_limits {
	uint64_t max_chunk_size;    /* default and ceiling HTTP1_CHUNK_MAX_SIZE */
	uint32_t max_ext_bytes;	    /* chunk-ext bytes on one chunk line */
	uint32_t max_trailer_bytes; /* trailer section including its final CRLF */
	uint32_t max_trailers;	    /* trailer field lines */
};

enum http1_span_kind {
	HTTP1_SPAN_DATA,    /* chunk data */
	HTTP1_SPAN_TRAILER, /* raw, validated trailer field lines with their CRLFs */
	HTTP1_SPAN__COUNT
};

struct http1_span {
	const char *ptr;
	size_t len;
	uint8_t kind; /* enum http1_span_kind */
};

/* Decoder state; fields are private except data_total and ntrailers. */
struct http1_chunked {
	struct http1_chunked_limits lim;
	uint64_t size;	     /* size of the chunk whose line is being read */
	uint64_t remaining;  /* data bytes left in the current chunk */
	uint64_t data_total; /* chunk data bytes decoded so far */
	uint32_t ext_len;    /* extension bytes on the current chunk line */
	uint32_t trailer_len;
	uint32_t ntrailers;
	uint16_t name_len;
	uint8_t digits;
	uint8_t state;
	char name[HTTP1_CHUNK_NAME_KEEP];
};

/* Starts decoding a new body; limits NULL (or a zero field) for defaults. */
void http1_chunked_init(struct http1_chunked *c, const struct http1_chunked_limits *limits);

/* Feeds buf[0..len) (never read past len). Fills spans[0..*nspans) (at most
 * max_spans, which must be >= 1) with views into buf. Returns the bytes
 * consumed (> 0): all of len, unless the body ended (the rest belongs to the
 * next message) or spans ran out (call again with the rest); -EAGAIN when
 * len is 0; 0 when the body had already ended; -EBADMSG or -E2BIG with *err
 * set, after which the spans of this call must not be forwarded; -EINVAL
 * when max_spans is 0. */
int http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len,
		       struct http1_span *spans, size_t max_spans, size_t *nspans,
		       enum http1_err *err);

/* True once the last chunk and the trailer section have been read. */
bool http1_chunked_done(const struct http1_chunked *c);

/* Writes the chunk-size line for a chunk of size > 0 ("1a\r\n") to out;
 * returns its length (<= HTTP1_CHUNK_LINE_MAX). */
size_t http1_chunked_size_line(uint64_t size, char out[HTTP1_CHUNK_LINE_MAX]);

#endif
