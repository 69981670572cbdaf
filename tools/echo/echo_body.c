/* Chunked transfer coding decoder and CRC-32 of request bodies; see echo_body.h. */
#include "echo_body.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

void echo_chunked_init(struct echo_chunked *ck)
{
	ck->state = ECHO_CK_SIZE;
	ck->left = 0;
	ck->trailer_bytes = 0;
}

/* Finds the end of a line in buf; returns its length with terminator, 0 when
 * incomplete, or -E2BIG past the line limit. *n is the length without it. */
static long find_line(const char *buf, size_t len, size_t *n)
{
	size_t lim = len < ECHO_CHUNKED_MAX_LINE ? len : ECHO_CHUNKED_MAX_LINE;
	const char *nl = memchr(buf, '\n', lim);

	if (!nl)
		return len >= ECHO_CHUNKED_MAX_LINE ? -E2BIG : 0;
	*n = (size_t)(nl - buf);
	if (*n && buf[*n - 1] == '\r')
		(*n)--;
	return nl - buf + 1;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* chunk-size [chunk-ext] CRLF, chunk-size = 1*HEXDIG. Extensions
 * (";name=value") are skipped but must hold no control characters. */
static int parse_size_line(struct echo_chunked *ck, const char *p, size_t n,
			   enum echo_http_why *why)
{
	uint64_t size = 0;
	size_t i = 0;
	int d;

	while (i < n && (d = hexval((unsigned char)p[i])) >= 0) {
		if (size >> 60) {
			*why = ECHO_HTTP_CHUNK_TOO_BIG;
			return -E2BIG;
		}
		size = size << 4 | (uint64_t)d;
		i++;
	}
	if (i == 0)
		goto bad;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < n && p[i] != ';')
		goto bad;
	for (; i < n; i++)
		if ((unsigned char)p[i] < 0x20 && p[i] != '\t')
			goto bad;
	ck->left = size;
	ck->state = size ? ECHO_CK_DATA : ECHO_CK_TRAILER;
	return 0;
bad:
	*why = ECHO_HTTP_BAD_CHUNK;
	return -EBADMSG;
}

static int on_line(struct echo_chunked *ck, const char *buf, size_t len, enum echo_http_why *why)
{
	size_t n = 0;
	long used = find_line(buf, len, &n);
	int r;

	if (used == 0)
		return -EAGAIN;
	if (used < 0) {
		*why = ECHO_HTTP_CHUNK_TOO_BIG;
		return -E2BIG;
	}
	if (ck->state == ECHO_CK_SIZE) {
		r = parse_size_line(ck, buf, n, why);
		return r < 0 ? r : (int)used;
	}
	/* Trailer section (RFC 9112 §7.1.2): field lines, then an empty line. */
	ck->trailer_bytes += (size_t)used;
	if (ck->trailer_bytes > ECHO_CHUNKED_MAX_TRAILERS) {
		*why = ECHO_HTTP_HEAD_TOO_LARGE;
		return -E2BIG;
	}
	if (n == 0)
		ck->state = ECHO_CK_DONE;
	else if (!memchr(buf, ':', n) || buf[0] == ' ' || buf[0] == '\t')
		goto bad;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t')
			goto bad;
	return (int)used;
bad:
	*why = ECHO_HTTP_BAD_CHUNK;
	return -EBADMSG;
}

int echo_chunked_next(struct echo_chunked *ck, const char *buf, size_t len, struct echo_span *data,
		      enum echo_http_why *why)
{
	size_t n;

	data->ptr = buf;
	data->len = 0;
	switch (ck->state) {
	case ECHO_CK_SIZE:
	case ECHO_CK_TRAILER:
		return on_line(ck, buf, len, why);
	case ECHO_CK_DATA:
		if (len == 0)
			return -EAGAIN;
		n = len < ck->left ? len : (size_t)ck->left;
		if (n > INT_MAX)
			n = INT_MAX;
		ck->left -= n;
		if (ck->left == 0)
			ck->state = ECHO_CK_DATA_END;
		data->len = n;
		return (int)n;
	case ECHO_CK_DATA_END:
		if (len == 0 || (buf[0] == '\r' && len == 1))
			return -EAGAIN;
		n = buf[0] == '\n' ? 1 : (buf[0] == '\r' && buf[1] == '\n') ? 2 : 0;
		if (n) {
			ck->state = ECHO_CK_SIZE;
			return (int)n;
		}
		*why = ECHO_HTTP_BAD_CHUNK;
		return -EBADMSG;
	default:
		return -EINVAL;
	}
}

/* CRC-32, slicing-by-8 so request bodies of hundreds of MiB are checksummed
 * at memory speed. */
#define CRC32_POLY 0xEDB88320u

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_build_tables(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32_POLY : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] =
			    (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t echo_crc32_update(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;
	uint32_t c = ~crc;

	pthread_once(&crc_once, crc_build_tables);
	for (; n && ((uintptr_t)p & 7); n--)
		c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* The low word (first four bytes) folds into the running CRC. */
	for (; n >= 8; n -= 8, p += 8) {
		uint32_t lo, hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= c;
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
	}
#endif
	while (n--)
		c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}
