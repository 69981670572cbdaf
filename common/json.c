/* JSON writer into a bounded caller buffer with strict escaping; see json.h. */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

void json_init(struct json_buf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->cap = cap;
	b->len = 0;
	b->overflow = false;
	b->after_key = false;
	b->depth = 0;
	b->has_elem = 0;
}

void json_raw(struct json_buf *b, const char *s, size_t n)
{
	if (b->overflow)
		return;
	if (n > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Length of the well-formed UTF-8 sequence starting at s[0] (1..4), or 0.
 * RFC 3629 §4 table: the second byte's range depends on the first byte, which
 * rules out overlong forms, surrogates (U+D800..DFFF) and code points above
 * U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* Writes the escape for one byte or code point into esc; returns its length,
 * or 0 when the input is copied as it is. */
static size_t escape_for(const unsigned char *s, size_t seq, char esc[8])
{
	static const char short_esc[32] = {
	    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
	};
	unsigned cp;

	if (seq == 0) {
		memcpy(esc, "\\ufffd", 6);
		return 6;
	}
	if (seq == 1) {
		if (s[0] == '"' || s[0] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[0];
			return 2;
		}
		if (s[0] >= 0x20 && s[0] != 0x7F)
			return 0;
		if (s[0] < 0x20 && short_esc[s[0]]) {
			esc[0] = '\\';
			esc[1] = short_esc[s[0]];
			return 2;
		}
		cp = s[0];
	} else if (seq == 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9)) {
		cp = 0x2028 + (s[2] - 0xA8u); /* line/paragraph separators */
	} else {
		return 0;
	}
	memcpy(esc, "\\u", 2);
	esc[2] = hex_digits[(cp >> 12) & 0xF];
	esc[3] = hex_digits[(cp >> 8) & 0xF];
	esc[4] = hex_digits[(cp >> 4) & 0xF];
	esc[5] = hex_digits[cp & 0xF];
	return 6;
}

long json_escape(char *out, size_t cap, const char *in, size_t n)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0, seq, elen;
	char esc[8];

	while (i < n) {
		/* Fast path: printable ASCII that needs no escape. */
		if (s[i] >= 0x20 && s[i] < 0x7F && s[i] != '"' && s[i] != '\\') {
			if (o == cap)
				return -E2BIG;
			out[o++] = (char)s[i++];
			continue;
		}
		seq = utf8_seq_len(s + i, n - i);
		elen = escape_for(s + i, seq, esc);
		if (elen) {
			if (cap - o < elen)
				return -E2BIG;
			memcpy(out + o, esc, elen);
			o += elen;
		} else {
			if (cap - o < seq)
				return -E2BIG;
			memcpy(out + o, s + i, seq);
			o += seq;
		}
		i += seq ? seq : 1;
	}
	return (long)o;
}

/* Comma before a new element unless it follows a key or opens the level. */
static void elem_sep(struct json_buf *b)
{
	uint32_t bit = 1u << b->depth;

	if (b->after_key) {
		b->after_key = false;
		return;
	}
	if (b->has_elem & bit)
		json_raw(b, ",", 1);
	b->has_elem |= bit;
}

/* Writes a quoted escaped string, all-or-nothing. */
static void put_string(struct json_buf *b, const char *s, size_t n)
{
	size_t start = b->len;
	long w;

	json_raw(b, "\"", 1);
	if (b->overflow)
		return;
	w = json_escape(b->p + b->len, b->cap - b->len, s, n);
	if (w < 0) {
		b->len = start;
		b->overflow = true;
		return;
	}
	b->len += (size_t)w;
	json_raw(b, "\"", 1);
	if (b->overflow)
		b->len = start;
}

static void open_level(struct json_buf *b, char c)
{
	elem_sep(b);
	if (b->depth >= JSON_MAX_DEPTH) {
		b->overflow = true;
		return;
	}
	json_raw(b, &c, 1);
	b->depth++;
	b->has_elem &= ~(1u << b->depth);
}

static void close_level(struct json_buf *b, char c)
{
	if (b->depth == 0) {
		b->overflow = true; /* unbalanced: a programming error, fail loudly */
		return;
	}
	b->depth--;
	b->after_key = false;
	json_raw(b, &c, 1);
}

void json_obj_begin(struct json_buf *b)
{
	open_level(b, '{');
}

void json_obj_end(struct json_buf *b)
{
	close_level(b, '}');
}

void json_arr_begin(struct json_buf *b)
{
	open_level(b, '[');
}

void json_arr_end(struct json_buf *b)
{
	close_level(b, ']');
}

void json_key(struct json_buf *b, const char *key)
{
	size_t start = b->len;

	elem_sep(b);
	put_string(b, key, strlen(key));
	json_raw(b, ":", 1);
	if (b->overflow) {
		b->len = start;
		return;
	}
	b->after_key = true;
}

void json_str(struct json_buf *b, const char *s, size_t n)
{
	size_t start = b->len;

	elem_sep(b);
	put_string(b, s, n);
	if (b->overflow)
		b->len = start;
}

void json_cstr(struct json_buf *b, const char *s)
{
	if (!s)
		json_null(b);
	else
		json_str(b, s, strlen(s));
}

static void put_scalar(struct json_buf *b, const char *s, size_t n)
{
	size_t start = b->len;

	elem_sep(b);
	json_raw(b, s, n);
	if (b->overflow)
		b->len = start;
}

void json_int(struct json_buf *b, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

	put_scalar(b, tmp, (size_t)n);
}

void json_uint(struct json_buf *b, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

	put_scalar(b, tmp, (size_t)n);
}

void json_bool(struct json_buf *b, bool v)
{
	if (v)
		put_scalar(b, "true", 4);
	else
		put_scalar(b, "false", 5);
}

void json_null(struct json_buf *b)
{
	put_scalar(b, "null", 4);
}
