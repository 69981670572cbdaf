/* Growable byte buffer for one connection's input, output and staging.
 *
 * Bytes [off, len) are pending; [len, cap) is free space. The buffer owns
 * `data`. Allocation failure is sticky (`oom`): later appends become no-ops,
 * so a response is built without checking every call and the caller checks
 * once (echo_buf_ok()) before sending it.
 */
#ifndef STRATA_ECHO_BUF_H
#define STRATA_ECHO_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct echo_buf {
	char *data;
	size_t off; /* first pending byte */
	size_t len; /* end of pending bytes */
	size_t cap;
	bool oom; /* sticky: an allocation failed */
};

static inline size_t echo_buf_pending(const struct echo_buf *b)
{
	return b->len - b->off;
}

static inline char *echo_buf_head(const struct echo_buf *b)
{
	return b->data + b->off;
}

static inline char *echo_buf_tail(const struct echo_buf *b)
{
	return b->data + b->len;
}

static inline size_t echo_buf_space(const struct echo_buf *b)
{
	return b->cap - b->len;
}

static inline bool echo_buf_ok(const struct echo_buf *b)
{
	return !b->oom;
}

/* Makes room for `extra` more bytes after len, moving pending bytes to the
 * front first when that is enough. Returns 0, or -ENOMEM (and sets oom). */
int echo_buf_reserve(struct echo_buf *b, size_t extra);

/* Appenders: no-ops once oom is set. */
void echo_buf_add(struct echo_buf *b, const void *p, size_t n);
void echo_buf_add_str(struct echo_buf *b, const char *s);
void echo_buf_add_u64(struct echo_buf *b, uint64_t v);
void echo_buf_add_hex(struct echo_buf *b, uint64_t v);

/* Drops `n` pending bytes from the front (n <= pending). */
void echo_buf_consume(struct echo_buf *b, size_t n);

/* Moves pending bytes to the front so the free space is contiguous. */
void echo_buf_compact(struct echo_buf *b);

/* Empties the buffer and clears oom; frees the memory when it grew past
 * `keep_cap`, so one large response does not pin memory for good. */
void echo_buf_reset(struct echo_buf *b, size_t keep_cap);

/* Frees the memory; safe on a zeroed buffer. */
void echo_buf_free(struct echo_buf *b);

#endif
