/* HTTP/2 streams, response side: the HTTP/1.1 head the engine built,
 * converted to HEADERS (RFC 9113 §8.2.2: no connection-specific fields,
 * lowercase names, §8.3.2 :status), and the body through a bounded
 * per-stream buffer that nghttp2 reads as the client's window allows. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "h2_int.h"
#include "http1_semantics.h"

static bool drop_field(const struct http1_header *f)
{
	/* hop-by-hop (Connection and what it names, Keep-Alive, TE,
	 * Transfer-Encoding, Upgrade, Proxy-Connection): never in HTTP/2 */
	return (f->flags & HTTP1_HF_HOP_BY_HOP) || f->id == HTTP1_H_TRANSFER_ENCODING;
}

/* Builds the nv array: :status, then the kept fields with lowercased
 * names in `names` (one buffer for all). Returns the count. */
static size_t make_nva(const struct http1_response *resp, nghttp2_nv *nva, char *names,
		       char *status)
{
	size_t n = 0, at = 0;

	status[0] = (char)('0' + resp->status / 100);
	status[1] = (char)('0' + resp->status / 10 % 10);
	status[2] = (char)('0' + resp->status % 10);
	nva[n++] =
	    (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
	for (unsigned i = 0; i < resp->h.nheaders; i++) {
		const struct http1_header *f = &resp->h.headers[i];

		if (drop_field(f))
			continue;
		for (size_t k = 0; k < f->name.len; k++) {
			char c = f->name.ptr[k];

			names[at + k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		nva[n++] = (nghttp2_nv){(uint8_t *)names + at, (uint8_t *)f->value.ptr, f->name.len,
					f->value.len, NGHTTP2_NV_FLAG_NONE};
		at += f->name.len;
	}
	return n;
}

/* Lowercased field names of a head up to this size are built on the
 * stack; a larger head takes a heap buffer. */
#define L7_H2_NAMES_STACK 2048

/* RFC 9113 §8.2.2: the connection-specific fields, by lowercased name. */
static bool is_connection_field(const char *n, size_t len)
{
	switch (len) {
	case 2:
		return !memcmp(n, "te", 2);
	case 7:
		return !memcmp(n, "upgrade", 7);
	case 10:
		return !memcmp(n, "connection", 10) || !memcmp(n, "keep-alive", 10);
	case 16:
		return !memcmp(n, "proxy-connection", 16);
	case 17:
		return !memcmp(n, "transfer-encoding", 17);
	default:
		return false;
	}
}

/* A Connection value that names no other field (the engine writes one of
 * these): anything else needs the full parse to find the fields it names. */
static bool is_plain_connection(const uint8_t *v, size_t n)
{
	return http1_token_eq((const char *)v, n, "keep-alive") ||
	       http1_token_eq((const char *)v, n, "close") ||
	       http1_token_eq((const char *)v, n, "upgrade");
}

/* Field name bytes lowercased; 0 for whitespace, controls and non-ASCII,
 * never in a name (RFC 9110 §5.1). */
static const uint8_t name_lower[256] = {
#define L(c) [c] = (c)
#define U(c) [c] = (c) + 32
    L('!'), L('"'), L('#'), L('$'), L('%'),  L('&'), L('\''), L('('), L(')'), L('*'), L('+'),
    L(','), L('-'), L('.'), L('/'), L('0'),  L('1'), L('2'),  L('3'), L('4'), L('5'), L('6'),
    L('7'), L('8'), L('9'), L(':'), L(';'),  L('<'), L('='),  L('>'), L('?'), L('@'), U('A'),
    U('B'), U('C'), U('D'), U('E'), U('F'),  U('G'), U('H'),  U('I'), U('J'), U('K'), U('L'),
    U('M'), U('N'), U('O'), U('P'), U('Q'),  U('R'), U('S'),  U('T'), U('U'), U('V'), U('W'),
    U('X'), U('Y'), U('Z'), L('['), L('\\'), L(']'), L('^'),  L('_'), L('`'), L('a'), L('b'),
    L('c'), L('d'), L('e'), L('f'), L('g'),  L('h'), L('i'),  L('j'), L('k'), L('l'), L('m'),
    L('n'), L('o'), L('p'), L('q'), L('r'),  L('s'), L('t'),  L('u'), L('v'), L('w'), L('x'),
    L('y'), L('z'), L('{'), L('|'), L('}'),  L('~'),
#undef L
#undef U
};

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* One "Name: value" line at p (its CRLF at eol) into nva[*n], the name
 * lowercased into names + *at. False when the line is not in the shape
 * the engine writes. */
static bool split_field(const uint8_t *p, const uint8_t *eol, nghttp2_nv *nva, size_t *n,
			char *names, size_t *at)
{
	const uint8_t *colon = memchr(p, ':', (size_t)(eol - p)), *v, *ve;
	size_t nlen;
	char *name = names + *at;
	bool bad = false;

	if (!colon || colon == p)
		return false;
	nlen = (size_t)(colon - p);
	for (size_t k = 0; k < nlen; k++) {
		uint8_t c = name_lower[p[k]];

		bad |= !c;
		name[k] = (char)c;
	}
	if (bad)
		return false;
	for (v = colon + 1; v < eol && is_ows(*v); v++)
		;
	for (ve = eol; ve > v && is_ows(ve[-1]); ve--)
		;
	if (is_connection_field(name, nlen)) {
		return nlen != 10 || memcmp(name, "connection", 10) ||
		       is_plain_connection(v, (size_t)(ve - v));
	}
	if (*n > HTTP1_MAX_HEADERS)
		return false;
	nva[(*n)++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)v, nlen, (size_t)(ve - v),
				   NGHTTP2_NV_FLAG_NONE};
	*at += nlen;
	return true;
}

/* The heads given here are the engine's own (l7_build_client_head,
 * respond.c): "HTTP/1.1 SSS reason", then "Name: value" lines, CRLF each,
 * their bytes checked when the upstream's head was parsed or the config
 * loaded. Such a head is split line by line instead of parsed again (the
 * parse cost about 4 % of the user-space instructions of an HTTP/2
 * request). Returns the nv count with :status first, or 0 when the head
 * is not in that shape: the full parse decides then. */
static size_t split_head(const uint8_t *p, size_t len, nghttp2_nv *nva, char *names, char *status,
			 int *code)
{
	const uint8_t *end = p + len, *q, *eol;
	size_t n = 1, at = 0;

	if (len < 16 || memcmp(p, "HTTP/1.1 ", 9) || end[-4] != '\r' || end[-3] != '\n' ||
	    end[-2] != '\r' || end[-1] != '\n')
		return 0;
	for (int i = 0; i < 3; i++) {
		if (p[9 + i] < '0' || p[9 + i] > '9')
			return 0;
		status[i] = (char)p[9 + i];
	}
	if (p[12] != ' ' && p[12] != '\r')
		return 0;
	*code = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
	if (*code < 100)
		return 0;
	nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
	q = memchr(p + 12, '\n', (size_t)(end - p - 12));
	if (q[-1] != '\r')
		return 0;
	for (q++; q < end - 2; q = eol + 2) {
		eol = memchr(q, '\r', (size_t)(end - q));
		if (eol[1] != '\n' || !split_field(q, eol, nva, &n, names, &at))
			return 0;
	}
	return n;
}

/* The full parse, for a head split_head() did not take. */
static int parse_head(const uint8_t *head, size_t len, nghttp2_nv *nva, size_t *n, char *names,
		      char *status, int *code)
{
	struct http1_response resp; /* a few KiB: on the stack, not per request on the heap */
	enum http1_err e;

	if (http1_parse_response((const char *)head, len, 0, NULL, &resp, &e) <= 0)
		return -EBADMSG;
	*code = resp.status;
	*n = make_nva(&resp, nva, names, status);
	return 0;
}

static int submit(struct l7_h2_stream *st, const nghttp2_nv *nva, size_t n, int code,
		  bool end_stream)
{
	nghttp2_data_provider prd = {.source.ptr = st, .read_callback = l7_h2s_read_body};
	int r;

	/* nghttp2 copies the names and values it is given */
	if (code < 200)
		r = nghttp2_submit_headers(st->h2->s, NGHTTP2_FLAG_NONE, st->id, NULL, nva, n,
					   NULL);
	else
		r = nghttp2_submit_response(st->h2->s, st->id, nva, n, end_stream ? NULL : &prd);
	return r ? (r == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EINVAL) : 0;
}

int l7_h2_respond_head(struct l7_h2_stream *st, const uint8_t *head, size_t len, bool end_stream)
{
	nghttp2_nv nva[HTTP1_MAX_HEADERS + 1];
	char stack[L7_H2_NAMES_STACK], status[3];
	char *names;
	size_t n;
	int r = 0, code = 0;

	if (st->closed || st->resp_started)
		return -EINVAL;
	names = len < sizeof(stack) ? stack : malloc(len + 1);
	if (!names)
		return -ENOMEM;
	n = split_head(head, len, nva, names, status, &code);
	if (!n)
		r = parse_head(head, len, nva, &n, names, status, &code);
	/* RFC 9113 §8.6: no 101 (Upgrade) in HTTP/2 */
	if (!r && code == 101)
		r = -EBADMSG;
	if (!r) {
		l7_h2_enter(st->h2);
		r = submit(st, nva, n, code, end_stream);
		if (!r && code >= 200) {
			st->resp_started = true;
			st->resp_eof = end_stream;
		}
		l7_h2_leave(st->h2);
	}
	if (names != stack)
		free(names);
	return r;
}

size_t l7_h2_respond_room(const struct l7_h2_stream *st)
{
	size_t held = l7_obuf_bytes(&st->out);

	return held >= st->h2->conf.stream_buffer ? 0 : st->h2->conf.stream_buffer - held;
}

ssize_t l7_h2_respond_body(struct l7_h2_stream *st, const void *p, size_t n, bool last)
{
	struct l7_h2 *h2 = st->h2;
	size_t take = l7_h2_respond_room(st);

	if (st->closed || !st->resp_started || st->resp_eof)
		return -EINVAL;
	if (take > n)
		take = n;
	if (take && l7_obuf_append(&st->out, p, take))
		return -ENOMEM;
	h2->stats.resp_bytes += take;
	if (take < n)
		st->room_wanted = true;
	else if (last)
		st->resp_eof = true;
	if (st->deferred && (take || st->resp_eof)) {
		l7_h2_enter(h2);
		st->deferred = false;
		nghttp2_session_resume_data(h2->s, st->id);
		l7_h2_leave(h2);
	}
	return (ssize_t)take;
}

ssize_t l7_h2s_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *user)
{
	struct l7_h2_stream *st = src->ptr;
	size_t n = l7_obuf_read(&st->out, buf, len);

	if (!n && !st->resp_eof) {
		st->deferred = true; /* resumed by l7_h2_respond_body */
		return NGHTTP2_ERR_DEFERRED;
	}
	if (st->resp_eof && l7_obuf_empty(&st->out))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

void l7_h2_reset(struct l7_h2_stream *st, uint32_t code)
{
	struct l7_h2 *h2 = st->h2;

	if (st->closed)
		return;
	l7_h2_enter(h2);
	st->closed = true;
	h2->stats.resets_out++;
	nghttp2_submit_rst_stream(h2->s, NGHTTP2_FLAG_NONE, st->id, code);
	l7_h2_leave(h2);
}
