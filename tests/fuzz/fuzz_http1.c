/* Fuzz target for the HTTP/1 codecs: request and response head parser with
 * the semantics rules, and the chunked decoder, on arbitrary input.
 *
 * Input: byte 0 picks where to split, byte 1 picks limits, the rest is the
 * message. Besides sanitizer findings it checks that the verdict never
 * depends on how the bytes arrive: whole, split at the chosen position (a
 * fresh prefix parse, then a resumed parse) and one byte at a time must give
 * the same result, and every view lies inside the parsed head. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../l7/http1_chunked.h"
#include "../../l7/http1_parse.h"
#include "../../l7/http1_semantics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http1_request req_a, req_b;
static struct http1_response resp_a, resp_b;

static const struct http1_limits small_limits = {
    .max_request_line = 48, .max_header_bytes = 160, .max_headers = 6};

static void check_view(struct http1_view v, const char *buf, int rc)
{
	if (v.len)
		assert(v.ptr >= buf && v.ptr + v.len <= buf + rc);
}

static void same_view(struct http1_view a, const char *ba, struct http1_view b, const char *bb)
{
	assert(a.len == b.len);
	if (a.len)
		assert(a.ptr - ba == b.ptr - bb);
}

static void check_head(const struct http1_head *h, const char *buf, int rc)
{
	unsigned i;

	assert(h->minor <= 1 && h->nheaders <= HTTP1_MAX_HEADERS);
	assert(!(h->chunked && h->has_content_length));
	assert(h->content_length <= HTTP1_MAX_CONTENT_LENGTH);
	for (i = 0; i < h->nheaders; i++) {
		check_view(h->headers[i].name, buf, rc);
		check_view(h->headers[i].value, buf, rc);
		assert(h->headers[i].name.len > 0);
	}
}

static void same_head(const struct http1_head *a, const char *ba, const struct http1_head *b,
		      const char *bb)
{
	unsigned i;

	assert(a->nheaders == b->nheaders && a->body == b->body && a->minor == b->minor);
	assert(a->keep_alive == b->keep_alive && a->content_length == b->content_length);
	assert(a->conn == b->conn && a->upgrade == b->upgrade && a->chunked == b->chunked);
	for (i = 0; i < a->nheaders; i++) {
		same_view(a->headers[i].name, ba, b->headers[i].name, bb);
		same_view(a->headers[i].value, ba, b->headers[i].value, bb);
		assert(a->headers[i].flags == b->headers[i].flags);
	}
}

static void same_request(int rc, const struct http1_request *a, const char *ba,
			 const struct http1_request *b, const char *bb)
{
	if (rc <= 0)
		return;
	same_view(a->method, ba, b->method, bb);
	same_view(a->target, ba, b->target, bb);
	same_view(a->path, ba, b->path, bb);
	same_view(a->query, ba, b->query, bb);
	same_view(a->host, ba, b->host, bb);
	assert(a->form == b->form && a->method_id == b->method_id);
	same_head(&a->h, ba, &b->h, bb);
}

/* Whole vs. split at k (fresh prefix, then resumed) vs. byte by byte. */
static int fuzz_request(const char *buf, size_t n, size_t k, const struct http1_limits *lim)
{
	enum http1_err ea, eb;
	int rc = http1_parse_request(buf, n, 0, lim, &req_a, &ea), r;
	char *pre = malloc(k ? k : 1);
	size_t i;

	assert(rc == -EAGAIN || rc == -EBADMSG || rc == -E2BIG || (rc > 0 && (size_t)rc <= n));
	assert((rc == -EBADMSG || rc == -E2BIG) == (ea != HTTP1_OK));
	if (rc > 0) {
		check_head(&req_a.h, buf, rc);
		check_view(req_a.target, buf, rc);
		check_view(req_a.host, buf, rc);
		assert(req_a.target.len > 0 && req_a.method.len > 0);
	}
	memcpy(pre, buf, k);
	r = http1_parse_request(pre, k, 0, lim, &req_b, &eb);
	if (rc > 0 && (size_t)rc <= k) {
		assert(r == rc);
		same_request(rc, &req_a, buf, &req_b, pre);
	} else if (r != -EAGAIN) {
		assert(r == rc && eb == ea);
	}
	free(pre);
	if (http1_parse_request(buf, k, 0, lim, &req_b, &eb) == -EAGAIN) {
		r = http1_parse_request(buf, n, k, lim, &req_b, &eb);
		assert(r == rc && eb == ea);
		same_request(rc, &req_a, buf, &req_b, buf);
	}
	for (i = 1, r = -EAGAIN; i <= n && r == -EAGAIN; i++)
		r = http1_parse_request(buf, i, i - 1, lim, &req_b, &eb);
	assert(r == rc);
	if (rc != -EAGAIN)
		assert(eb == ea);
	same_request(rc, &req_a, buf, &req_b, buf);
	return rc;
}

static void fuzz_response(const char *buf, size_t n, size_t k, const struct http1_limits *lim)
{
	enum http1_err ea, eb;
	int rc = http1_parse_response(buf, n, 0, lim, &resp_a, &ea), r;

	if (rc > 0) {
		check_head(&resp_a.h, buf, rc);
		check_view(resp_a.reason, buf, rc);
		assert(resp_a.status >= 100 && resp_a.status <= 599);
		assert(http1_response_body(&resp_a, HTTP1_M_HEAD, NULL) != HTTP1_BODY_CHUNKED);
	}
	if (http1_parse_response(buf, k, 0, lim, &resp_b, &eb) == -EAGAIN) {
		r = http1_parse_response(buf, n, k, lim, &resp_b, &eb);
		assert(r == rc && eb == ea);
		if (rc > 0) {
			assert(resp_a.status == resp_b.status);
			same_view(resp_a.reason, buf, resp_b.reason, buf);
			same_head(&resp_a.h, buf, &resp_b.h, buf);
		}
	}
}

struct body {
	int rc;
	enum http1_err err;
	size_t consumed, data, trailers;
	uint64_t sum; /* position-weighted checksum of the decoded bytes */
};

/* Decodes buf in pieces: [0, cut), then `step` bytes at a time. */
static void decode(const char *buf, size_t n, size_t cut, size_t step, size_t max_spans,
		   const struct http1_chunked_limits *lim, struct body *out)
{
	struct http1_chunked c;
	struct http1_span sp[4];
	size_t off = 0, ns, i, j;
	int r;

	memset(out, 0, sizeof(*out));
	out->rc = -EAGAIN;
	http1_chunked_init(&c, lim);
	while (off < n && !http1_chunked_done(&c)) {
		size_t len = off == 0 && cut ? cut : step;
		char *piece;

		len = len < n - off ? len : n - off;
		piece = malloc(len);
		memcpy(piece, buf + off, len);
		r = http1_chunked_feed(&c, piece, len, sp, max_spans, &ns, &out->err);
		if (r < 0) {
			out->rc = r;
			free(piece);
			return;
		}
		assert(r > 0 && (size_t)r <= len && ns <= max_spans);
		for (i = 0; i < ns; i++) {
			assert(sp[i].ptr >= piece && sp[i].ptr + sp[i].len <= piece + r);
			for (j = 0; j < sp[i].len; j++)
				out->sum = out->sum * 31 + (uint8_t)sp[i].ptr[j] + sp[i].kind;
			*(sp[i].kind == HTTP1_SPAN_DATA ? &out->data : &out->trailers) += sp[i].len;
		}
		free(piece);
		off += (size_t)r;
	}
	if (http1_chunked_done(&c)) {
		out->rc = 1;
		out->consumed = off;
		assert(c.data_total == out->data);
	}
}

static void fuzz_chunked(const char *buf, size_t n, size_t k, bool small)
{
	const struct http1_chunked_limits lim = {.max_chunk_size = 4096,
						 .max_ext_bytes = 24,
						 .max_trailer_bytes = 64,
						 .max_trailers = 3};
	const struct http1_chunked_limits *l = small ? &lim : NULL;
	struct body a, b;

	if (!n)
		return;
	decode(buf, n, 0, n, 4, l, &a);
	decode(buf, n, k, n, 4, l, &b);
	assert(a.rc == b.rc && a.err == b.err);
	if (a.rc < 0 && a.rc != -EAGAIN)
		return;
	assert(a.consumed == b.consumed && a.data == b.data && a.trailers == b.trailers);
	assert(a.sum == b.sum);
	decode(buf, n, 0, 1, 1, l, &b);
	assert(a.rc == b.rc && a.consumed == b.consumed && a.sum == b.sum);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct http1_limits *lim;
	const char *msg;
	size_t n, k;
	int rc;

	if (size < 2)
		return 0;
	msg = (const char *)data + 2;
	n = size - 2;
	k = n ? data[0] % (n + 1) : 0;
	lim = data[1] & 1 ? &small_limits : NULL;
	rc = fuzz_request(msg, n, k, lim);
	fuzz_response(msg, n, k, lim);
	/* the body after a parsed chunked request, else the input as a body */
	if (rc > 0 && req_a.h.body == HTTP1_BODY_CHUNKED)
		fuzz_chunked(msg + rc, n - (size_t)rc, k > (size_t)rc ? k - (size_t)rc : 0,
			     data[1] & 2);
	else
		fuzz_chunked(msg, n, k, data[1] & 2);
	return 0;
}
