/* Strict incremental HTTP/1.x head parser; see http1_parse.h.
 *
 * One pass, left to right, resumable at any byte: the state machine below
 * keeps its position in struct http1_parse_state, so a head that arrives one
 * byte per read costs O(n) in total, and the verdict on a byte sequence never
 * depends on how it was split. Inner loops are one table lookup per byte
 * (SSE2 for field values, which are most of a head).
 *
 *   EMPTY -> METHOD -> TARGET -> VERSION --CR--> START_LF      (request)
 *   RESP_VERSION -> STATUS -> REASON --CR--> START_LF          (response)
 *   START_LF -> FIELD_START -> NAME -> OWS -> VALUE -> FIELD_LF -> FIELD_START
 *   FIELD_START --CR--> END_LF --LF--> done
 */
#include "http1_parse.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "http1_semantics.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Generated from the RFC 9110 / RFC 3986 ABNF; bits are HTTP1_C_*. */
const uint8_t http1_cclass[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x62, 0x57, 0x02, 0x43, 0x57, 0x43, 0x57, 0x57, 0x56, 0x56, 0x57, 0xd7, 0x56, 0xd7, 0xd7, 0x46,
    0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0x46, 0x56, 0x42, 0x56, 0x42, 0x46,
    0x46, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7,
    0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0x46, 0x02, 0x46, 0x43, 0x57,
    0x43, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7,
    0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0xd7, 0x42, 0x43, 0x42, 0x57, 0x00,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
};

const struct http1_limits http1_default_limits = {
    .max_request_line = HTTP1_DEFAULT_MAX_REQUEST_LINE,
    .max_header_bytes = HTTP1_DEFAULT_MAX_HEADER_BYTES,
    .max_headers = HTTP1_DEFAULT_MAX_HEADERS,
};

enum ps_state {
	ST_EMPTY,
	ST_METHOD,
	ST_TARGET,
	ST_VERSION,
	ST_RESP_VERSION,
	ST_STATUS,
	ST_REASON,
	ST_START_LF,
	ST_FIELD_START,
	ST_NAME,
	ST_OWS,
	ST_VALUE,
	ST_FIELD_LF,
	ST_END_LF,
	ST__COUNT
};

/* One call's view of the input; the state that outlives it is in ps. */
struct cur {
	const uint8_t *b;
	size_t len;
	struct http1_parse_state *ps;
	struct http1_head *h;
	struct http1_request *req;   /* NULL when parsing a response */
	struct http1_response *resp; /* NULL when parsing a request */
	struct http1_limits lim;
	enum http1_err *err;
};

static int fail(struct cur *c, enum http1_err e)
{
	*c->err = e;
	return -EBADMSG;
}

static int too_big(struct cur *c, enum http1_err e)
{
	*c->err = e;
	return -E2BIG;
}

/* Bytes [pos, pos + n) must exist and lie below `lim` (a limit window). */
static int need(struct cur *c, size_t n, size_t lim, enum http1_err e2big)
{
	size_t pos = c->ps->pos;

	if (pos + n > lim)
		return too_big(c, e2big);
	return pos + n > c->len ? -EAGAIN : 0;
}

/* A scan stopped at `end` without its delimiter: over the window or short. */
static int scan_end(struct cur *c, size_t end, size_t lim, enum http1_err e2big)
{
	return end == lim ? too_big(c, e2big) : -EAGAIN;
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

static size_t scan_class(const uint8_t *b, size_t pos, size_t end, uint8_t cls)
{
	while (end - pos >= 4) {
		if (!(http1_cclass[b[pos]] & cls))
			return pos;
		if (!(http1_cclass[b[pos + 1]] & cls))
			return pos + 1;
		if (!(http1_cclass[b[pos + 2]] & cls))
			return pos + 2;
		if (!(http1_cclass[b[pos + 3]] & cls))
			return pos + 3;
		pos += 4;
	}
	while (pos < end && (http1_cclass[b[pos]] & cls))
		pos++;
	return pos;
}

/* Field values: stops at the first byte that is not field-vchar, obs-text,
 * SP or HTAB (RFC 9110 §5.5), i.e. at a CTL other than HTAB, or DEL. */
static size_t scan_value(const uint8_t *b, size_t pos, size_t end)
{
#ifdef __SSE2__
	const __m128i c1f = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);

	while (end - pos >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + pos));
		__m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v);
		int m = _mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(v, del)));

		if (!m) {
			pos += 16;
			continue;
		}
		pos += (size_t)__builtin_ctz((unsigned)m);
		if (b[pos] != '\t')
			return pos;
		pos++;
	}
#endif
	return scan_class(b, pos, end, HTTP1_C_VALUE);
}

/* Field names: most are letters, digits and '-', which SSE2 checks 16 at a
 * time; the table takes over at the first other byte (':' or a rarer tchar). */
static size_t scan_name(const uint8_t *b, size_t pos, size_t end)
{
#ifdef __SSE2__
	const __m128i x20 = _mm_set1_epi8(0x20), a = _mm_set1_epi8('a'), n25 = _mm_set1_epi8(25);
	const __m128i zero = _mm_set1_epi8('0'), n9 = _mm_set1_epi8(9), dash = _mm_set1_epi8('-');

	while (end - pos >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + pos));
		__m128i l = _mm_sub_epi8(_mm_or_si128(v, x20), a), d = _mm_sub_epi8(v, zero);
		__m128i ok = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, n25), l),
					  _mm_cmpeq_epi8(_mm_min_epu8(d, n9), d));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(ok, _mm_cmpeq_epi8(v, dash)));

		if (m != 0xffff) {
			pos += (size_t)__builtin_ctz(~m);
			break;
		}
		pos += 16;
	}
#endif
	return scan_class(b, pos, end, HTTP1_C_TCHAR);
}

static struct http1_view view(const struct cur *c, size_t from, size_t to)
{
	return (struct http1_view){(const char *)c->b + from, to - from};
}

/* RFC 9110 §9.1: methods are case-sensitive; one compare by length. */
static enum http1_method method_id(const char *m, size_t n)
{
	enum http1_method a = HTTP1_M_OTHER, b = HTTP1_M_OTHER;
	const char *na = "", *nb = "";

	switch (n) {
	case 3:
		a = HTTP1_M_GET, na = "GET", b = HTTP1_M_PUT, nb = "PUT";
		break;
	case 4:
		a = HTTP1_M_HEAD, na = "HEAD", b = HTTP1_M_POST, nb = "POST";
		break;
	case 5:
		a = HTTP1_M_PATCH, na = "PATCH", b = HTTP1_M_TRACE, nb = "TRACE";
		break;
	case 6:
		a = HTTP1_M_DELETE, na = "DELETE";
		break;
	case 7:
		a = HTTP1_M_OPTIONS, na = "OPTIONS", b = HTTP1_M_CONNECT, nb = "CONNECT";
		break;
	default:
		return HTTP1_M_OTHER;
	}
	if (!memcmp(m, na, n))
		return a;
	return *nb && !memcmp(m, nb, n) ? b : HTTP1_M_OTHER;
}

/* Each state hands over to the next directly (a tail call), so a head that
 * is all there runs straight through; run() dispatches only on resume. */
static int st_method(struct cur *c);
static int st_target(struct cur *c);
static int st_version(struct cur *c);
static int st_status(struct cur *c);
static int st_reason(struct cur *c);
static int st_start_lf(struct cur *c);
static int fields(struct cur *c);
static int eol_err(struct cur *c, size_t lim, enum http1_err e2big, enum http1_err early);

/* Empty lines before the request line (RFC 9112 §2.2), then the method. */
static int st_empty(struct cur *c)
{
	struct http1_parse_state *ps = c->ps;
	int r;

	if ((r = need(c, 1, SIZE_MAX, HTTP1_OK)))
		return r;
	if (c->b[ps->pos] == '\n')
		return fail(c, HTTP1_ERR_BARE_LF);
	if (c->b[ps->pos] != '\r') {
		ps->mark = ps->pos;
		ps->line_lim = ps->pos + c->lim.max_request_line + 1;
		ps->state = ST_METHOD;
		return st_method(c);
	}
	if ((r = need(c, 2, SIZE_MAX, HTTP1_OK)))
		return r;
	if (c->b[ps->pos + 1] != '\n')
		return fail(c, HTTP1_ERR_BARE_CR);
	if (++ps->empty_lines > HTTP1_MAX_EMPTY_LINES)
		return fail(c, HTTP1_ERR_EMPTY_LINES);
	ps->pos += 2;
	return 0;
}

/* RFC 9110 §9.1: method = token, case-sensitive; one SP follows. */
static int st_method(struct cur *c)
{
	struct http1_parse_state *ps = c->ps;
	size_t end = min_sz(c->len, ps->line_lim);
	uint8_t ch;

	ps->pos = scan_class(c->b, ps->pos, end, HTTP1_C_TCHAR);
	if (ps->pos == end)
		return scan_end(c, end, ps->line_lim, HTTP1_ERR_LINE_TOO_LONG);
	ch = c->b[ps->pos];
	if ((ch == '\r' || ch == '\n') && ps->pos > ps->mark)
		return eol_err(c, SIZE_MAX, HTTP1_OK, HTTP1_ERR_REQUEST_LINE);
	if (ch != ' ' || ps->pos == ps->mark)
		return fail(c, HTTP1_ERR_METHOD);
	c->req->method = view(c, ps->mark, ps->pos);
	c->req->method_id = method_id(c->req->method.ptr, c->req->method.len);
	ps->mark = ++ps->pos;
	ps->state = ST_TARGET;
	return st_target(c);
}

/* RFC 9112 §3.2: only characters RFC 3986 allows in a URI, '%' followed by
 * two hex digits; a '#' (fragment), CTL, SP run or non-ASCII byte is refused.
 * Past the method, running over the line limit is 414 (RFC 9112 §3). */
static int st_target(struct cur *c)
{
	struct http1_parse_state *ps = c->ps;
	const uint8_t *b = c->b;
	size_t end;
	int r;

	for (;;) {
		end = min_sz(c->len, ps->line_lim);
		ps->pos = scan_class(b, ps->pos, end, HTTP1_C_URI);
		if (ps->pos == end)
			return scan_end(c, end, ps->line_lim, HTTP1_ERR_URI_TOO_LONG);
		if (b[ps->pos] != '%')
			break;
		if ((r = need(c, 3, ps->line_lim, HTTP1_ERR_URI_TOO_LONG)))
			return r;
		if (!(http1_cclass[b[ps->pos + 1]] & http1_cclass[b[ps->pos + 2]] & HTTP1_C_HEX))
			return fail(c, HTTP1_ERR_TARGET);
		ps->pos += 3;
	}
	if (ps->pos == ps->mark)
		return fail(c, HTTP1_ERR_REQUEST_LINE); /* two SP, or no target */
	if (b[ps->pos] == '\r' || b[ps->pos] == '\n')
		return eol_err(c, SIZE_MAX, HTTP1_OK, HTTP1_ERR_REQUEST_LINE);
	if (b[ps->pos] != ' ')
		return fail(c, HTTP1_ERR_TARGET);
	c->req->target = view(c, ps->mark, ps->pos);
	ps->mark = ++ps->pos;
	ps->state = ST_VERSION;
	return st_version(c);
}

/* RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
 * We speak 1.0 and 1.1; any other well-formed version is 505. */
static int check_version(struct cur *c, const uint8_t *v, enum http1_err bad)
{
	if (!memcmp(v, "HTTP/1.", 7) && (v[7] == '0' || v[7] == '1')) {
		c->h->minor = (uint8_t)(v[7] - '0');
		return 0;
	}
	if (!memcmp(v, "HTTP/", 5) && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' &&
	    v[7] <= '9')
		return fail(c, HTTP1_ERR_VERSION_UNSUPPORTED);
	/* a SP where the version should be: more than two separators */
	return fail(c, memchr(v, ' ', 8) ? HTTP1_ERR_REQUEST_LINE : bad);
}

/* "HTTP/1.x" CR: the request line is complete, look at the target's form. */
static int st_version(struct cur *c)
{
	struct http1_parse_state *ps = c->ps;
	const uint8_t *v = c->b + ps->pos;
	int r;

	if ((r = need(c, 9, ps->line_lim, HTTP1_ERR_URI_TOO_LONG)))
		return r;
	if ((r = check_version(c, v, HTTP1_ERR_VERSION)))
		return r;
	if (v[8] != '\r') {
		if (v[8] == '\n')
			return fail(c, HTTP1_ERR_BARE_LF);
		return fail(c, v[8] == ' ' ? HTTP1_ERR_REQUEST_LINE : HTTP1_ERR_VERSION);
	}
	if ((r = http1_sem_target(c->req, c->err)))
		return r;
	ps->pos += 9;
	ps->state = ST_START_LF;
	return st_start_lf(c);
}

/* RFC 9112 §4: status-line = HTTP-version SP status-code SP [reason-phrase] */
static int st_resp_version(struct cur *c)
{
	struct http1_parse_state *ps = c->ps;
	const uint8_t *v = c->b + ps->pos;
	int r;

	if ((r = need(c, 9, ps->line_lim, HTTP1_ERR_LINE_TOO_LONG)))
		return r;
	if ((r = check_version(c, v, HTTP1_ERR_STATUS_LINE)))
		return r == -EBADMSG && *c->err == HTTP1_ERR_REQUEST_LINE
			   ? fail(c, HTTP1_ERR_STATUS_LINE)
			   : r;
	if (v[8] != ' ')
		return fail(c, HTTP1_ERR_STATUS_LINE);
	ps->pos += 9;
	ps->state = ST_STATUS;
	return st_status(c);
}

/* 3DIGIT in 100..599, then SP and a reason, or (tolerated, as most
 * clients do) CRLF right away when the reason is empty. */
static int st_status(struct cur *c)
{
	struct http1_parse_state *ps = c->ps;
	const uint8_t *s = c->b + ps->pos;
	int r;

	if ((r = need(c, 4, ps->line_lim, HTTP1_ERR_LINE_TOO_LONG)))
		return r;
	if (s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
		return fail(c, HTTP1_ERR_STATUS_CODE);
	c->resp->status = (uint16_t)((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
	if (s[3] == '\r') {
		ps->pos += 4;
		ps->state = ST_START_LF;
		return st_start_lf(c);
	}
	if (s[3] != ' ')
		return fail(c, s[3] == '\n' ? HTTP1_ERR_BARE_LF : HTTP1_ERR_STATUS_CODE);
	ps->pos += 4;
	ps->mark = ps->pos;
	ps->state = ST_REASON;
	return st_reason(c);
}

/* A CR or LF where a token should go on: the line ended early (`early`), or
 * it is a CR without LF or an LF without CR (RFC 9112 §2.2: we refuse both
 * rather than take a bare LF as a line end, as the RFC would allow). */
static int eol_err(struct cur *c, size_t lim, enum http1_err e2big, enum http1_err early)
{
	const uint8_t *b = c->b;
	size_t pos = c->ps->pos;
	int r;

	if (b[pos] == '\n')
		return fail(c, HTTP1_ERR_BARE_LF);
	if ((r = need(c, 2, lim, e2big)))
		return r;
	return fail(c, b[pos + 1] == '\n' ? early : HTTP1_ERR_BARE_CR);
}

/* reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ) */
static int st_reason(struct cur *c)
{
	struct http1_parse_state *ps = c->ps;
	size_t end = min_sz(c->len, ps->line_lim);
	uint8_t ch;

	ps->pos = scan_value(c->b, ps->pos, end);
	if (ps->pos == end)
		return scan_end(c, end, ps->line_lim, HTTP1_ERR_LINE_TOO_LONG);
	ch = c->b[ps->pos];
	if (ch != '\r')
		return fail(c, ch == '\n' ? HTTP1_ERR_BARE_LF : HTTP1_ERR_STATUS_LINE);
	c->resp->reason = view(c, ps->mark, ps->pos);
	ps->pos++;
	ps->state = ST_START_LF;
	return st_start_lf(c);
}

static int st_start_lf(struct cur *c)
{
	struct http1_parse_state *ps = c->ps;
	int r;

	if ((r = need(c, 1, SIZE_MAX, HTTP1_OK)))
		return r;
	if (c->b[ps->pos] != '\n')
		return fail(c, HTTP1_ERR_BARE_CR);
	ps->mark = ++ps->pos;
	ps->hdr_lim = ps->pos + c->lim.max_header_bytes;
	ps->state = ST_FIELD_START;
	return fields(c);
}

/* A field name stopped at `ch`, which is not its colon (RFC 9112 §5.1). */
static int name_err(struct cur *c, uint8_t ch)
{
	struct http1_parse_state *ps = c->ps;

	if ((ch == ' ' || ch == '\t') && ps->pos > ps->mark)
		return fail(c, HTTP1_ERR_WS_BEFORE_COLON);
	if (ch == '\r' || ch == '\n')
		return eol_err(c, ps->hdr_lim, HTTP1_ERR_HEADERS_TOO_LARGE, HTTP1_ERR_FIELD_NAME);
	return fail(c, HTTP1_ERR_FIELD_NAME);
}

/* The LF at `lf` ends a field line: store it (trailing OWS trimmed) and fold
 * it into the facts at once, so a bad framing field stops the parse here. */
static int add_field(struct cur *c, size_t lf)
{
	struct http1_parse_state *ps = c->ps;
	struct http1_header *f = &c->h->headers[c->h->nheaders++];
	size_t vend = lf - 1;

	while (vend > ps->vstart && (c->b[vend - 1] == ' ' || c->b[vend - 1] == '\t'))
		vend--;
	f->name = view(c, ps->mark, ps->colon);
	f->value = view(c, ps->vstart, vend);
	f->id = HTTP1_H_OTHER;
	f->flags = 0;
	return http1_sem_field(c->h, f, c->req != NULL, c->err);
}

/* The field section (RFC 9112 §5): field-line = name ":" OWS value OWS CRLF.
 * One function with the position in a register: each label is a state, so a
 * parse stopped after any byte resumes at the label named by ps->state.
 * A line starting with SP/HTAB is obs-fold (§5.2), or whitespace after the
 * start line (§2.2): both refused. Values refuse NUL, CTLs but HTAB, and DEL
 * (RFC 9110 §5.5), since a recipient could otherwise see another message. */
static int fields(struct cur *c)
{
	struct http1_parse_state *ps = c->ps;
	const uint8_t *b = c->b;
	const size_t lim = ps->hdr_lim, end = min_sz(c->len, lim);
	size_t pos = ps->pos;
	uint8_t st = ps->state;
	int r;

	switch (st) {
	case ST_NAME:
		goto name;
	case ST_OWS:
		goto ows;
	case ST_VALUE:
		goto value;
	case ST_FIELD_LF:
		goto field_lf;
	case ST_END_LF:
		goto end_lf;
	}
line:
	st = ST_FIELD_START;
	if (pos == end)
		goto more;
	if (b[pos] == '\r') {
		pos++;
		goto end_lf;
	}
	if (b[pos] == '\n')
		return fail(c, HTTP1_ERR_BARE_LF);
	if (b[pos] == ' ' || b[pos] == '\t')
		return fail(c, c->h->nheaders ? HTTP1_ERR_OBS_FOLD : HTTP1_ERR_LEADING_WS);
	if (c->h->nheaders >= c->lim.max_headers)
		return too_big(c, HTTP1_ERR_TOO_MANY_HEADERS);
	ps->mark = pos;
name:
	pos = scan_name(b, pos, end);
	st = ST_NAME;
	if (pos == end)
		goto more;
	if (b[pos] != ':' || pos == ps->mark) {
		ps->pos = pos; /* name_err() may need the byte after a CR */
		ps->state = st;
		return name_err(c, b[pos]);
	}
	ps->colon = pos++;
ows:
	while (pos < end && (b[pos] == ' ' || b[pos] == '\t'))
		pos++;
	st = ST_OWS;
	if (pos == end)
		goto more;
	ps->vstart = pos;
value:
	pos = scan_value(b, pos, end);
	st = ST_VALUE;
	if (pos == end)
		goto more;
	if (b[pos] != '\r')
		return fail(c, b[pos] == '\n' ? HTTP1_ERR_BARE_LF : HTTP1_ERR_FIELD_VALUE);
	pos++;
field_lf:
	st = ST_FIELD_LF;
	if (pos == end)
		goto more;
	if (b[pos] != '\n')
		return fail(c, HTTP1_ERR_BARE_CR);
	if ((r = add_field(c, pos)))
		return r;
	ps->mark = ++pos;
	goto line;
end_lf:
	st = ST_END_LF;
	if (pos == end)
		goto more;
	if (b[pos] != '\n')
		return fail(c, HTTP1_ERR_BARE_CR);
	ps->pos = pos + 1;
	return 1;
more:
	ps->pos = pos;
	ps->state = st;
	return end == lim ? too_big(c, HTTP1_ERR_HEADERS_TOO_LARGE) : -EAGAIN;
}

typedef int (*step_fn)(struct cur *c);

/* Where a parse starts or resumes; each step hands on to the next itself. */
static const step_fn steps[ST__COUNT] = {
    [ST_EMPTY] = st_empty,
    [ST_METHOD] = st_method,
    [ST_TARGET] = st_target,
    [ST_VERSION] = st_version,
    [ST_RESP_VERSION] = st_resp_version,
    [ST_STATUS] = st_status,
    [ST_REASON] = st_reason,
    [ST_START_LF] = st_start_lf,
    [ST_FIELD_START... ST_END_LF] = fields,
};

/* Runs the state machine until the head is complete (1) or it cannot go on. */
static int run(struct cur *c)
{
	int r;

	while (!(r = steps[c->ps->state](c)))
		; /* only st_empty() returns 0: one empty line skipped */
	return r;
}

/* NULL means defaults; a zero field means its default; over-large values are
 * clamped to what the state (and HTTP1_MAX_HEADERS) can hold. */
static void set_limits(struct http1_limits *out, const struct http1_limits *in)
{
	const struct http1_limits *d = &http1_default_limits;

	*out = in ? *in : *d;
	if (!out->max_request_line || out->max_request_line > HTTP1_MAX_LIMIT_BYTES)
		out->max_request_line =
		    out->max_request_line ? HTTP1_MAX_LIMIT_BYTES : d->max_request_line;
	if (!out->max_header_bytes || out->max_header_bytes > HTTP1_MAX_LIMIT_BYTES)
		out->max_header_bytes =
		    out->max_header_bytes ? HTTP1_MAX_LIMIT_BYTES : d->max_header_bytes;
	if (!out->max_headers || out->max_headers > HTTP1_MAX_HEADERS)
		out->max_headers = out->max_headers ? HTTP1_MAX_HEADERS : d->max_headers;
}

/* Resume only the parse that returned -EAGAIN on this very buffer. */
static bool can_resume(const struct http1_parse_state *ps, const char *buf, size_t len,
		       size_t last_len)
{
	return last_len && ps->buf == buf && ps->len == last_len && len >= last_len;
}

static int done(struct cur *c, const char *buf, int r)
{
	if (r == -EAGAIN) {
		c->ps->buf = buf;
		c->ps->len = c->len;
		*c->err = HTTP1_OK;
		return r;
	}
	c->ps->buf = NULL;
	return r < 0 ? r : (int)c->ps->pos;
}

int http1_parse_request(const char *buf, size_t len, size_t last_len,
			const struct http1_limits *limits, struct http1_request *req,
			enum http1_err *err)
{
	struct cur c = {(const uint8_t *)buf, len, &req->h.ps, &req->h, req, NULL, {0}, err};
	int r;

	*err = HTTP1_OK;
	set_limits(&c.lim, limits);
	if (!can_resume(c.ps, buf, len, last_len)) {
		memset(req, 0, offsetof(struct http1_request, h.headers));
		memset(c.ps, 0, sizeof(*c.ps));
		c.ps->state = ST_EMPTY;
	}
	r = run(&c);
	if (r == 1)
		r = http1_sem_request(req, err);
	return done(&c, buf, r);
}

int http1_parse_response(const char *buf, size_t len, size_t last_len,
			 const struct http1_limits *limits, struct http1_response *resp,
			 enum http1_err *err)
{
	struct cur c = {(const uint8_t *)buf, len, &resp->h.ps, &resp->h, NULL, resp, {0}, err};
	int r;

	*err = HTTP1_OK;
	set_limits(&c.lim, limits);
	if (!can_resume(c.ps, buf, len, last_len)) {
		memset(resp, 0, offsetof(struct http1_response, h.headers));
		memset(c.ps, 0, sizeof(*c.ps));
		c.ps->state = ST_RESP_VERSION;
		c.ps->line_lim = c.lim.max_request_line + 1;
	}
	r = run(&c);
	if (r == 1)
		r = http1_sem_response(resp, err);
	return done(&c, buf, r);
}

const char *http1_method_name(enum http1_method m)
{
	static const char *const names[HTTP1_M__COUNT] = {
	    "", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	};

	return (unsigned)m < HTTP1_M__COUNT ? names[m] : "";
}
