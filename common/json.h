/* A small JSON writer into a caller-owned, bounded buffer: no allocation.
 *
 * The caller owns the memory; struct json_buf only tracks the write position.
 * Every append is all-or-nothing: when a value does not fit, nothing of it is
 * written and the buffer becomes "overflowed" (sticky), so later appends are
 * no-ops and json_ok() tells the caller to drop or shorten the record.
 *
 * Commas are placed automatically: json_key() and every value know whether an
 * element came before them at the current nesting level.
 *
 * String escaping (RFC 8259 §7): '"' and '\\' are escaped, control characters
 * U+0000..U+001F use \b \f \n \r \t or \u00XX, and DEL (0x7F), U+2028 and
 * U+2029 are \u-escaped too so a log line stays one safe line on a terminal
 * and in JavaScript. Input is taken as UTF-8; every byte that is not part of
 * a well-formed UTF-8 sequence (RFC 3629 §4: no overlongs, no surrogates,
 * nothing above U+10FFFF) is replaced by \ufffd, one per bad byte, so the
 * output is always valid JSON and valid UTF-8.
 */
#ifndef STRATA_JSON_H
#define STRATA_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting json_obj_begin()/json_arr_begin() track; deeper opens
 * overflow the buffer. */
#define JSON_MAX_DEPTH 31

struct json_buf {
	char *p;
	size_t cap;
	size_t len;
	bool overflow;	   /* sticky: an append did not fit */
	bool after_key;	   /* a key was written; the next value takes no comma */
	uint8_t depth;	   /* current nesting level */
	uint32_t has_elem; /* bit d: level d already holds an element */
};

/* Starts writing at mem[0]; `cap` bytes are usable. */
void json_init(struct json_buf *b, char *mem, size_t cap);

/* True while every append so far fit. */
static inline bool json_ok(const struct json_buf *b)
{
	return !b->overflow;
}

/* Containers. */
void json_obj_begin(struct json_buf *b);
void json_obj_end(struct json_buf *b);
void json_arr_begin(struct json_buf *b);
void json_arr_end(struct json_buf *b);

/* An object member name (escaped like a string), followed by ':'. */
void json_key(struct json_buf *b, const char *key);

/* Values. json_str() takes `n` bytes (may contain NUL, which is escaped);
 * json_cstr() takes a NUL-terminated string, NULL writes null. */
void json_str(struct json_buf *b, const char *s, size_t n);
void json_cstr(struct json_buf *b, const char *s);
void json_int(struct json_buf *b, int64_t v);
void json_uint(struct json_buf *b, uint64_t v);
void json_bool(struct json_buf *b, bool v);
void json_null(struct json_buf *b);

/* Appends bytes verbatim (no comma handling): for pre-rendered JSON or the
 * line terminator. All-or-nothing like every other append. */
void json_raw(struct json_buf *b, const char *s, size_t n);

/* Escapes `n` bytes of `s` as the inside of a JSON string (no quotes) into
 * `out` (capacity `cap`). Returns the escaped length, or -E2BIG when it does
 * not fit (nothing useful is left in `out` then). */
long json_escape(char *out, size_t cap, const char *s, size_t n);

#endif
