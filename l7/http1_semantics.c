/* HTTP/1.1 framing and smuggling rules over parsed field lines; see
 * http1_semantics.h. Every rule is one check with its own reason, cited at
 * the check. The parser calls http1_sem_target() once the request line is
 * read, http1_sem_field() per field line, and http1_sem_request() or
 * http1_sem_response() once the head is complete. The reason table shared
 * by the three HTTP/1 codecs is at the end.
 */
#include "http1_semantics.h"

#include <errno.h>
#include <string.h>

static int refuse(enum http1_err *err, enum http1_err e)
{
	*err = e;
	return -EBADMSG;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static bool has(const char *s, size_t pos, uint8_t cls)
{
	return http1_cclass[(uint8_t)s[pos]] & cls;
}

bool http1_token_eq(const char *s, size_t len, const char *lit)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		if (c != lit[i] || !lit[i])
			return false;
	}
	return lit[len] == '\0';
}

enum http1_hdr http1_hdr_lookup(const char *n, size_t len)
{
	switch (len) {
	case 2:
		return http1_token_eq(n, len, "te") ? HTTP1_H_TE : HTTP1_H_OTHER;
	case 4:
		return http1_token_eq(n, len, "host") ? HTTP1_H_HOST : HTTP1_H_OTHER;
	case 6:
		return http1_token_eq(n, len, "expect") ? HTTP1_H_EXPECT : HTTP1_H_OTHER;
	case 7:
		if (http1_token_eq(n, len, "upgrade"))
			return HTTP1_H_UPGRADE;
		return http1_token_eq(n, len, "trailer") ? HTTP1_H_TRAILER : HTTP1_H_OTHER;
	case 10:
		if (http1_token_eq(n, len, "connection"))
			return HTTP1_H_CONNECTION;
		return http1_token_eq(n, len, "keep-alive") ? HTTP1_H_KEEP_ALIVE : HTTP1_H_OTHER;
	case 14:
		return http1_token_eq(n, len, "content-length") ? HTTP1_H_CONTENT_LENGTH
								: HTTP1_H_OTHER;
	case 16:
		return http1_token_eq(n, len, "proxy-connection") ? HTTP1_H_PROXY_CONNECTION
								  : HTTP1_H_OTHER;
	case 17:
		return http1_token_eq(n, len, "transfer-encoding") ? HTTP1_H_TRANSFER_ENCODING
								   : HTTP1_H_OTHER;
	}
	return HTTP1_H_OTHER;
}

/* RFC 3986 §3.2.2-3.2.3: host = IP-literal / IPv4address / reg-name, then
 * [":" port]. IP-literal is checked for its character set only; IPvFuture
 * and zone identifiers are refused. The port, when present, is <= 65535. */
bool http1_is_valid_authority(const char *s, size_t n, bool port_required)
{
	size_t i = 0, host_len, port = 0;

	if (n && s[0] == '[') {
		for (i = 1; i < n && (has(s, i, HTTP1_C_HEX) || s[i] == ':' || s[i] == '.');)
			i++;
		if (i == 1 || i == n || s[i] != ']')
			return false;
		i++;
	} else {
		while (i < n) {
			if (has(s, i, HTTP1_C_HOST))
				i++;
			else if (s[i] == '%' && n - i > 2 && has(s, i + 1, HTTP1_C_HEX) &&
				 has(s, i + 2, HTTP1_C_HEX))
				i += 3;
			else
				break;
		}
	}
	host_len = i;
	if (i == n)
		return !port_required;
	if (s[i++] != ':' || (port_required && (host_len == 0 || i == n)) || n - i > 5)
		return false;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		port = port * 10 + (size_t)(s[i] - '0');
	}
	return port <= 65535;
}

/* RFC 9110 §8.6: Content-Length = 1*DIGIT. A list of identical values
 * ("5, 5", as repeated fields fold into) may be taken as one value, which
 * we do; differing values, an empty element, a sign or anything else is
 * refused, as is a value over 2^63-1. */
static int parse_content_length(const char *s, size_t n, uint64_t *out, enum http1_err *err)
{
	size_t i = 0, start;
	bool first = true;
	uint64_t v;

	for (;;) {
		for (v = 0, start = i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			unsigned d = (unsigned)(s[i] - '0');

			if (v > (HTTP1_MAX_CONTENT_LENGTH - d) / 10)
				return refuse(err, HTTP1_ERR_CL_OVERFLOW);
			v = v * 10 + d;
		}
		if (i == start)
			return refuse(err, HTTP1_ERR_CL_INVALID);
		if (!first && v != *out)
			return refuse(err, HTTP1_ERR_CL_MISMATCH);
		*out = v;
		first = false;
		while (i < n && is_ws(s[i]))
			i++;
		if (i == n)
			return 0;
		if (s[i++] != ',')
			return refuse(err, HTTP1_ERR_CL_INVALID);
		while (i < n && is_ws(s[i]))
			i++;
	}
}

static int fold_content_length(struct http1_head *h, const struct http1_view *v,
			       enum http1_err *err)
{
	uint64_t cl = 0;
	int r = parse_content_length(v->ptr, v->len, &cl, err);

	if (r)
		return r;
	if (h->has_content_length && cl != h->content_length)
		return refuse(err, HTTP1_ERR_CL_MISMATCH);
	h->has_content_length = true;
	h->content_length = cl;
	return 0;
}

/* Calls fn for each element of a #token list (RFC 9110 §5.6.1: OWS around
 * commas, empty elements ignored). Returns -EBADMSG on a non-token. */
typedef int (*token_fn)(void *ctx, const char *tok, size_t len, enum http1_err *err);

static int each_token(const struct http1_view *v, token_fn fn, void *ctx, enum http1_err *err,
		      enum http1_err bad)
{
	const char *s = v->ptr;
	size_t n = v->len, i = 0, start;
	int r;

	for (;;) {
		while (i < n && (s[i] == ',' || is_ws(s[i])))
			i++;
		if (i == n)
			return 0;
		for (start = i; i < n && has(s, i, HTTP1_C_TCHAR);)
			i++;
		if (i == start)
			return refuse(err, bad);
		if ((r = fn(ctx, s + start, i - start, err)))
			return r;
		while (i < n && is_ws(s[i]))
			i++;
		if (i < n && s[i] != ',')
			return refuse(err, bad);
	}
}

/* RFC 9110 §7.6.1: close, keep-alive and upgrade are ours; any other option
 * names a field to drop before forwarding. Naming a framing field or Host
 * would make a proxy that honours it drop them: refused. */
static int conn_option(void *ctx, const char *t, size_t n, enum http1_err *err)
{
	struct http1_head *h = ctx;

	if (http1_token_eq(t, n, "close")) {
		h->conn |= HTTP1_CONN_CLOSE;
	} else if (http1_token_eq(t, n, "keep-alive")) {
		h->conn |= HTTP1_CONN_KEEP_ALIVE;
	} else if (http1_token_eq(t, n, "upgrade")) {
		h->conn |= HTTP1_CONN_UPGRADE;
	} else {
		enum http1_hdr id = http1_hdr_lookup(t, n);

		if (id == HTTP1_H_CONTENT_LENGTH || id == HTTP1_H_TRANSFER_ENCODING ||
		    id == HTTP1_H_HOST)
			return refuse(err, HTTP1_ERR_CONN_FRAMING);
		if (++h->n_conn_other > HTTP1_MAX_CONN_OPTIONS) {
			*err = HTTP1_ERR_CONN_OPTIONS;
			return -E2BIG;
		}
		h->conn |= HTTP1_CONN_OTHER;
	}
	return 0;
}

/* RFC 9110 §10.1.1: Expect = #expectation, and only 100-continue is defined
 * (case-insensitive); anything else is noted so the proxy may answer 417. */
static void fold_expect(struct http1_head *h, const struct http1_view *v)
{
	const char *s = v->ptr, *e = s + v->len, *comma;

	while (s < e) {
		size_t n;

		comma = memchr(s, ',', (size_t)(e - s));
		n = (size_t)((comma ? comma : e) - s);
		while (n && is_ws(s[n - 1]))
			n--;
		if (http1_token_eq(s, n, "100-continue"))
			h->expect_continue = true;
		else if (n)
			h->expect_other = true;
		for (s += n; s < e && (*s == ',' || is_ws(*s));)
			s++;
	}
}

static int fold_host(struct http1_head *h, const struct http1_header *f, enum http1_err *err)
{
	/* RFC 9112 §3.2: more than one Host, or an invalid one, is a 400 */
	if (h->n_host++)
		return refuse(err, HTTP1_ERR_HOST_DUPLICATE);
	if (!http1_is_valid_authority(f->value.ptr, f->value.len, false))
		return refuse(err, HTTP1_ERR_HOST_INVALID);
	h->host_idx = (uint8_t)(f - h->headers);
	return 0;
}

int http1_sem_field(struct http1_head *h, struct http1_header *f, bool request, enum http1_err *err)
{
	enum http1_hdr id = http1_hdr_lookup(f->name.ptr, f->name.len);

	f->id = (uint8_t)id;
	h->seen |= (uint16_t)(1u << id);
	switch (id) {
	case HTTP1_H_OTHER:
	case HTTP1_H__COUNT:
	case HTTP1_H_TRAILER:
		return 0;
	case HTTP1_H_HOST:
		return request ? fold_host(h, f, err) : 0;
	case HTTP1_H_CONTENT_LENGTH:
		f->flags |= HTTP1_HF_FRAMING;
		return fold_content_length(h, &f->value, err);
	case HTTP1_H_TRANSFER_ENCODING:
		f->flags |= HTTP1_HF_FRAMING | HTTP1_HF_HOP_BY_HOP;
		h->te_only_chunked = (h->n_te++ == 0 || h->te_only_chunked) &&
				     http1_token_eq(f->value.ptr, f->value.len, "chunked");
		return 0;
	case HTTP1_H_CONNECTION:
		f->flags |= HTTP1_HF_HOP_BY_HOP;
		return each_token(&f->value, conn_option, h, err, HTTP1_ERR_CONN_TOKEN);
	case HTTP1_H_EXPECT:
		if (request)
			fold_expect(h, &f->value);
		return 0;
	case HTTP1_H_UPGRADE:
	case HTTP1_H_KEEP_ALIVE:
	case HTTP1_H_PROXY_CONNECTION:
	case HTTP1_H_TE:
		f->flags |= HTTP1_HF_HOP_BY_HOP;
		return 0;
	}
	return 0;
}

static void split_path(struct http1_request *req, const char *p, size_t n)
{
	const char *q = memchr(p, '?', n);

	req->path = (struct http1_view){p, q ? (size_t)(q - p) : n};
	if (q) {
		req->query = (struct http1_view){q + 1, n - req->path.len - 1};
		req->has_query = true;
	}
}

/* RFC 9112 §3.2.2 absolute-form. We proxy the http and https schemes only;
 * the authority must be a valid non-empty host (RFC 9110 §4.2.1), so
 * userinfo ('@') is refused as RFC 9110 §4.2.4 recommends. */
static int parse_absolute(struct http1_request *req, enum http1_err *err)
{
	const char *t = req->target.ptr, *e = t + req->target.len, *a, *p;
	size_t i = 0;

	while (i < req->target.len && (http1_cclass[(uint8_t)t[i]] & HTTP1_C_SCHEME))
		i++;
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1) */
	if (i == 0 || (t[0] | 0x20) < 'a' || (t[0] | 0x20) > 'z' || (size_t)(e - t) - i < 3 ||
	    memcmp(t + i, "://", 3))
		goto bad;
	if (!http1_token_eq(t, i, "http") && !http1_token_eq(t, i, "https"))
		goto bad;
	a = t + i + 3;
	for (p = a; p < e && *p != '/' && *p != '?';)
		p++;
	if (p == a || !http1_is_valid_authority(a, (size_t)(p - a), false))
		goto bad;
	req->scheme = (struct http1_view){t, i};
	req->authority = (struct http1_view){a, (size_t)(p - a)};
	req->form = HTTP1_FORM_ABSOLUTE;
	split_path(req, p, (size_t)(e - p));
	return 0;
bad:
	/* host:port for a method other than CONNECT is a form mismatch */
	*err = http1_is_valid_authority(t, req->target.len, true) ? HTTP1_ERR_TARGET_FORM
								  : HTTP1_ERR_TARGET;
	return -EBADMSG;
}

/* RFC 9112 §3.2: which form the target has, and whether the method may use it. */
int http1_sem_target(struct http1_request *req, enum http1_err *err)
{
	const char *t = req->target.ptr;
	size_t n = req->target.len;
	bool connect = req->method_id == HTTP1_M_CONNECT;

	*err = HTTP1_ERR_TARGET_FORM;
	if (t[0] == '/') {
		if (connect)
			return -EBADMSG; /* §3.2.3: CONNECT takes authority-form only */
		req->form = HTTP1_FORM_ORIGIN;
		split_path(req, t, n);
	} else if (n == 1 && t[0] == '*') {
		if (req->method_id != HTTP1_M_OPTIONS)
			return -EBADMSG; /* §3.2.4: asterisk-form is for OPTIONS only */
		req->form = HTTP1_FORM_ASTERISK;
	} else if (connect) {
		if (!http1_is_valid_authority(t, n, true)) {
			*err = HTTP1_ERR_TARGET;
			return -EBADMSG;
		}
		req->form = HTTP1_FORM_AUTHORITY;
		req->authority = req->target;
	} else if (parse_absolute(req, err)) {
		return -EBADMSG;
	}
	*err = HTTP1_OK;
	return 0;
}

/* Transfer codings other than chunked that we recognise but do not decode:
 * a request using them is answered 501 (RFC 9112 §6.1), not 400. */
static bool is_known_coding(const char *t, size_t n)
{
	return http1_token_eq(t, n, "gzip") || http1_token_eq(t, n, "x-gzip") ||
	       http1_token_eq(t, n, "deflate") || http1_token_eq(t, n, "compress") ||
	       http1_token_eq(t, n, "x-compress");
}

struct te_walk {
	unsigned count, n_chunked;
	bool last_chunked, all_known;
};

static int te_element(void *ctx, const char *t, size_t n, enum http1_err *err)
{
	struct te_walk *w = ctx;
	bool chunked = http1_token_eq(t, n, "chunked");

	w->count++;
	w->n_chunked += chunked;
	w->last_chunked = chunked;
	w->all_known &= chunked || is_known_coding(t, n);
	return 0;
}

/* RFC 9112 §6.1-§6.3. We decode chunked and nothing else, so the only
 * Transfer-Encoding accepted is exactly one "chunked" (any case). */
static int check_te(struct http1_head *h, enum http1_err *err)
{
	struct te_walk w = {0, 0, false, true};
	unsigned i;
	int r;

	if (!h->n_te)
		return 0;
	/* §6.1: TE in an HTTP/1.0 message means the framing is faulty */
	if (h->minor == 0)
		return refuse(err, HTTP1_ERR_TE_HTTP10);
	/* §6.3 item 3, §11.2: CL with TE is how requests are smuggled */
	if (h->has_content_length)
		return refuse(err, HTTP1_ERR_CL_AND_TE);
	if (h->n_te == 1 && h->te_only_chunked) {
		h->chunked = true;
		return 0;
	}
	for (i = 0; i < h->nheaders; i++) {
		if (h->headers[i].id != HTTP1_H_TRANSFER_ENCODING)
			continue;
		if ((r = each_token(&h->headers[i].value, te_element, &w, err,
				    HTTP1_ERR_TE_INVALID)))
			return r;
	}
	/* §6.3 item 4: chunked not final (or twice, or "identity", ...) is 400;
	 * a well-formed "gzip, chunked" is only something we do not implement */
	if (w.all_known && w.last_chunked && w.n_chunked == 1 && w.count > 1)
		return refuse(err, HTTP1_ERR_TE_UNSUPPORTED);
	return refuse(err, HTTP1_ERR_TE_INVALID);
}

static bool names_eq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z')
			x = (char)(x + ('a' - 'A'));
		if (y >= 'A' && y <= 'Z')
			y = (char)(y + ('a' - 'A'));
		if (x != y)
			return false;
	}
	return true;
}

/* RFC 9110 §7.6.1: the fields a Connection option names are hop-by-hop. */
static int mark_option(void *ctx, const char *t, size_t n, enum http1_err *err)
{
	struct http1_head *h = ctx;
	unsigned i;

	for (i = 0; i < h->nheaders; i++) {
		struct http1_header *f = &h->headers[i];

		if (f->name.len == n && names_eq(f->name.ptr, t, n))
			f->flags |= HTTP1_HF_HOP_BY_HOP;
	}
	return 0;
}

/* Shared end-of-head rules; then the fields Connection names are marked. */
static int finish_head(struct http1_head *h, enum http1_err *err)
{
	unsigned i;
	int r;

	if ((r = check_te(h, err)))
		return r;
	/* RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive" */
	h->keep_alive =
	    !(h->conn & HTTP1_CONN_CLOSE) && (h->minor == 1 || (h->conn & HTTP1_CONN_KEEP_ALIVE));
	/* RFC 9110 §7.8: Upgrade needs the "upgrade" option; ignored in 1.0 */
	h->upgrade =
	    h->minor == 1 && (h->seen & (1u << HTTP1_H_UPGRADE)) && (h->conn & HTTP1_CONN_UPGRADE);
	for (i = 0; h->n_conn_other && i < h->nheaders; i++) {
		if (h->headers[i].id == HTTP1_H_CONNECTION)
			each_token(&h->headers[i].value, mark_option, h, err, HTTP1_ERR_CONN_TOKEN);
	}
	return 0;
}

int http1_sem_request(struct http1_request *req, enum http1_err *err)
{
	struct http1_head *h = &req->h;
	int r;

	if ((r = finish_head(h, err)))
		return r;
	/* RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400 */
	if (h->minor == 1 && !h->n_host)
		return refuse(err, HTTP1_ERR_HOST_MISSING);
	h->body = h->chunked		  ? HTTP1_BODY_CHUNKED
		  : h->has_content_length ? HTTP1_BODY_LENGTH
					  : HTTP1_BODY_NONE;
	/* RFC 9110 §10.1.1: expectations in an HTTP/1.0 request are ignored */
	if (h->minor == 0)
		h->expect_continue = h->expect_other = false;
	/* RFC 9112 §3.2.2: the authority of the target wins over Host */
	if (req->form == HTTP1_FORM_ABSOLUTE || req->form == HTTP1_FORM_AUTHORITY)
		req->host = req->authority;
	else if (h->n_host)
		req->host = h->headers[h->host_idx].value;
	return 0;
}

int http1_sem_response(struct http1_response *resp, enum http1_err *err)
{
	int r;

	if ((r = finish_head(&resp->h, err)))
		return r;
	resp->h.body = (uint8_t)http1_response_body(resp, HTTP1_M_GET, &resp->h.keep_alive);
	return 0;
}

enum http1_body http1_response_body(const struct http1_response *resp, enum http1_method req_method,
				    bool *keep_alive)
{
	const struct http1_head *h = &resp->h;
	unsigned s = resp->status;
	enum http1_body body;

	/* RFC 9112 §6.3 items 1-2, in order */
	if (s == 101 || (req_method == HTTP1_M_CONNECT && s / 100 == 2))
		body = HTTP1_BODY_TUNNEL;
	else if (req_method == HTTP1_M_HEAD || s < 200 || s == 204 || s == 304)
		body = HTTP1_BODY_NONE;
	else if (h->chunked)
		body = HTTP1_BODY_CHUNKED;
	else if (h->has_content_length)
		body = HTTP1_BODY_LENGTH;
	else
		body = HTTP1_BODY_CLOSE; /* item 8 */
	if (keep_alive) {
		bool persist = !(h->conn & HTTP1_CONN_CLOSE) &&
			       (h->minor == 1 || (h->conn & HTTP1_CONN_KEEP_ALIVE));

		*keep_alive = persist && body != HTTP1_BODY_CLOSE && body != HTTP1_BODY_TUNNEL;
	}
	return body;
}

struct err_info {
	const char *name;
	const char *text;
	int status;
};

#define E(id, st, name, text) [HTTP1_ERR_##id] = {name, text, st}
static const struct err_info err_info[HTTP1_ERR__COUNT] = {
    [HTTP1_OK] = {"ok", "no error", 0},
    E(EMPTY_LINES, 400, "empty_lines", "too many empty lines before the request"),
    E(METHOD, 400, "bad_method", "method is not a token"),
    E(REQUEST_LINE, 400, "bad_request_line", "not method SP target SP version CRLF"),
    E(TARGET, 400, "bad_target", "request-target has a character or part not allowed"),
    E(TARGET_FORM, 400, "bad_target_form", "request-target form not allowed for the method"),
    E(VERSION, 400, "bad_version", "HTTP-version is malformed"),
    E(VERSION_UNSUPPORTED, 505, "unsupported_version", "HTTP version other than 1.0, 1.1"),
    E(LINE_TOO_LONG, 400, "line_too_long", "start line over the limit"),
    E(URI_TOO_LONG, 414, "uri_too_long", "request-target over the line limit"),
    E(STATUS_LINE, 502, "bad_status_line", "status line is malformed"),
    E(STATUS_CODE, 502, "bad_status", "status code is not 100..599"),
    E(LEADING_WS, 400, "ws_after_start_line", "whitespace before the first field"),
    E(FIELD_NAME, 400, "bad_field_name", "field name is not a token, or no colon"),
    E(WS_BEFORE_COLON, 400, "ws_before_colon", "whitespace between field name and colon"),
    E(FIELD_VALUE, 400, "bad_field_value", "field value has NUL, CTL or DEL"),
    E(OBS_FOLD, 400, "obs_fold", "field line folded onto a new line"),
    E(BARE_CR, 400, "bare_cr", "CR not followed by LF"),
    E(BARE_LF, 400, "bare_lf", "line ends with LF without CR"),
    E(HEADERS_TOO_LARGE, 431, "headers_too_large", "field section over the byte limit"),
    E(TOO_MANY_HEADERS, 431, "too_many_headers", "more field lines than the limit"),
    E(HOST_MISSING, 400, "host_missing", "HTTP/1.1 request without Host"),
    E(HOST_DUPLICATE, 400, "host_duplicate", "more than one Host field"),
    E(HOST_INVALID, 400, "host_invalid", "Host is not a valid authority"),
    E(CL_INVALID, 400, "cl_invalid", "Content-Length is not a decimal number"),
    E(CL_OVERFLOW, 400, "cl_overflow", "Content-Length over 2^63-1"),
    E(CL_MISMATCH, 400, "cl_mismatch", "Content-Length values differ"),
    E(CL_AND_TE, 400, "cl_and_te", "both Content-Length and Transfer-Encoding"),
    E(TE_INVALID, 400, "te_invalid", "Transfer-Encoding is not exactly chunked"),
    E(TE_UNSUPPORTED, 501, "te_unsupported", "transfer coding other than chunked"),
    E(TE_HTTP10, 400, "te_http10", "Transfer-Encoding in an HTTP/1.0 message"),
    E(CONN_TOKEN, 400, "conn_token", "Connection option is not a token"),
    E(CONN_FRAMING, 400, "conn_framing", "Connection names a framing or Host field"),
    E(CONN_OPTIONS, 400, "conn_options", "too many Connection options"),
    E(CHUNK_SIZE, 400, "chunk_size", "chunk size is not hex digits"),
    E(CHUNK_SIZE_TOO_BIG, 400, "chunk_too_big", "chunk size over the limit"),
    E(CHUNK_EXT, 400, "chunk_ext", "chunk extension is malformed"),
    E(CHUNK_EXT_TOO_LONG, 400, "chunk_ext_too_long", "chunk extensions over the limit"),
    E(CHUNK_DATA_CRLF, 400, "chunk_data_crlf", "chunk data not followed by CRLF"),
    E(TRAILER_FORBIDDEN, 400, "trailer_forbidden", "framing or Host field in trailers"),
    E(TRAILERS_TOO_LARGE, 431, "trailers_too_large", "trailer section over the limit"),
};
#undef E

const char *http1_err_name(enum http1_err err)
{
	return (unsigned)err < HTTP1_ERR__COUNT ? err_info[err].name : "?";
}

const char *http1_err_text(enum http1_err err)
{
	return (unsigned)err < HTTP1_ERR__COUNT ? err_info[err].text : "unknown error";
}

int http1_err_status(enum http1_err err)
{
	return (unsigned)err < HTTP1_ERR__COUNT ? err_info[err].status : 400;
}
