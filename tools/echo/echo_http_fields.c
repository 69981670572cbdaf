/* Meaning of a request's header fields; see echo_http_fields.h. */
#include "echo_http_fields.h"

#include <errno.h>
#include <string.h>

bool echo_http_list_next(struct echo_span *list, struct echo_span *item)
{
	const char *p = list->ptr, *end = list->ptr + list->len;

	for (;;) {
		const char *s, *e;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end) {
			list->ptr = p;
			list->len = 0;
			return false;
		}
		s = p;
		while (p < end && *p != ',')
			p++;
		e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		list->ptr = p;
		list->len = (size_t)(end - p);
		if (e > s) {
			*item = (struct echo_span){s, (size_t)(e - s)};
			return true;
		}
	}
}

bool echo_http_list_has(struct echo_span value, const char *token)
{
	struct echo_span item;

	while (echo_http_list_next(&value, &item))
		if (echo_span_ieq(item, token))
			return true;
	return false;
}

/* RFC 9110 §8.6: Content-Length = 1*DIGIT; a list of identical values may be
 * taken as one. *seen says whether an earlier field gave a value already. */
static int content_length(struct echo_span v, uint64_t *out, bool *seen)
{
	struct echo_span item;
	bool any = false;

	while (echo_http_list_next(&v, &item)) {
		uint64_t n = 0;

		for (size_t i = 0; i < item.len; i++) {
			unsigned d = (unsigned char)item.ptr[i] - '0';

			if (d > 9 || n > (UINT64_MAX - d) / 10)
				return -EBADMSG;
			n = n * 10 + d;
		}
		if (*seen && n != *out)
			return -EBADMSG;
		*out = n;
		*seen = any = true;
	}
	return any ? 0 : -EBADMSG;
}

/* RFC 9112 §6.1: chunked must be the final coding and appear once; this
 * backend decodes no other coding (501 per RFC 9112 §6.1). */
static int transfer_encoding(struct echo_span v, int *nchunked, bool *last_chunked, bool *other)
{
	struct echo_span item;

	while (echo_http_list_next(&v, &item)) {
		*last_chunked = echo_span_ieq(item, "chunked");
		if (*last_chunked)
			(*nchunked)++;
		else
			*other = true;
	}
	return 0;
}

static void set_first(struct echo_span *dst, struct echo_span v)
{
	if (!dst->ptr)
		*dst = v;
}

static int check_framing(const struct echo_http_req *req, struct echo_http_info *info, bool has_cl,
			 bool has_te, int nchunked, bool last_chunked, bool other,
			 enum echo_http_why *why)
{
	if (!has_te)
		return 0;
	/* RFC 9112 §6.1 allows processing TE and dropping CL; refusing is
	 * safer for a backend meant to expose smuggling by the tier above. */
	if (has_cl)
		*why = ECHO_HTTP_CL_AND_TE;
	else if (req->minor == 0)
		*why = ECHO_HTTP_TE_IN_HTTP10;
	else if (!last_chunked || nchunked != 1)
		*why = ECHO_HTTP_TE_NOT_CHUNKED;
	else if (other)
		*why = ECHO_HTTP_TE_UNKNOWN;
	else {
		info->chunked = true;
		info->content_length = 0;
		return 0;
	}
	return -EBADMSG;
}

int echo_http_fields_analyze(const struct echo_http_req *req, struct echo_http_info *info,
			     enum echo_http_why *why)
{
	bool has_cl = false, has_te = false, last_chunked = false, other = false;
	bool close = false, keep_alive = false;
	int nchunked = 0;

	memset(info, 0, sizeof(*info));
	for (size_t i = 0; i < req->nheaders; i++) {
		struct echo_span n = req->headers[i].name, v = req->headers[i].value;

		if (echo_span_ieq(n, "content-length")) {
			if (content_length(v, &info->content_length, &has_cl) < 0) {
				*why = ECHO_HTTP_BAD_CONTENT_LENGTH;
				return -EBADMSG;
			}
		} else if (echo_span_ieq(n, "transfer-encoding")) {
			has_te = true;
			transfer_encoding(v, &nchunked, &last_chunked, &other);
		} else if (echo_span_ieq(n, "connection")) {
			close |= echo_http_list_has(v, "close");
			keep_alive |= echo_http_list_has(v, "keep-alive");
			info->conn_upgrade |= echo_http_list_has(v, "upgrade");
		} else if (echo_span_ieq(n, "expect")) {
			/* RFC 9110 §10.1.1: ignore 100-continue from HTTP/1.0. */
			if (!echo_span_ieq(v, "100-continue")) {
				*why = ECHO_HTTP_EXPECT_UNKNOWN;
				return -EBADMSG;
			}
			info->expect_continue = req->minor >= 1;
		} else if (echo_span_ieq(n, "upgrade")) {
			set_first(&info->upgrade, v);
		} else if (echo_span_ieq(n, "sec-websocket-key")) {
			set_first(&info->ws_key, v);
		} else if (echo_span_ieq(n, "sec-websocket-version")) {
			set_first(&info->ws_version, v);
		} else if (echo_span_ieq(n, "content-type")) {
			set_first(&info->content_type, v);
		}
	}
	/* RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only on "keep-alive". */
	info->keep_alive = !close && (req->minor >= 1 || keep_alive);
	return check_framing(req, info, has_cl, has_te, nchunked, last_chunked, other, why);
}
