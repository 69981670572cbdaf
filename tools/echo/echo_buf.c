/* Growable byte buffer with sticky allocation failure; see echo_buf.h. */
#include "echo_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ECHO_BUF_MIN_CAP 4096

int echo_buf_reserve(struct echo_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return -ENOMEM;
	if (b->cap - b->len >= extra)
		return 0;
	if (b->off && b->cap - echo_buf_pending(b) >= extra) {
		echo_buf_compact(b);
		return 0;
	}
	need = echo_buf_pending(b) + extra;
	if (need < extra)
		goto out_oom;
	cap = b->cap ? b->cap : ECHO_BUF_MIN_CAP;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			goto out_oom;
		cap *= 2;
	}
	echo_buf_compact(b);
	p = realloc(b->data, cap);
	if (!p)
		goto out_oom;
	b->data = p;
	b->cap = cap;
	return 0;
out_oom:
	b->oom = true;
	return -ENOMEM;
}

void echo_buf_add(struct echo_buf *b, const void *p, size_t n)
{
	if (!n || echo_buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void echo_buf_add_str(struct echo_buf *b, const char *s)
{
	echo_buf_add(b, s, strlen(s));
}

void echo_buf_add_u64(struct echo_buf *b, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	echo_buf_add(b, tmp + i, sizeof(tmp) - i);
}

void echo_buf_add_hex(struct echo_buf *b, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = digits[v & 0xf];
		v >>= 4;
	} while (v);
	echo_buf_add(b, tmp + i, sizeof(tmp) - i);
}

void echo_buf_consume(struct echo_buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void echo_buf_compact(struct echo_buf *b)
{
	size_t n = echo_buf_pending(b);

	if (!b->off)
		return;
	if (n)
		memmove(b->data, b->data + b->off, n);
	b->off = 0;
	b->len = n;
}

void echo_buf_reset(struct echo_buf *b, size_t keep_cap)
{
	b->off = b->len = 0;
	b->oom = false;
	if (b->cap > keep_cap) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

void echo_buf_free(struct echo_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}
