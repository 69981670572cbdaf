/* Incremental chunked-coding decoder (RFC 9112 §7.1); see http1_chunked.h.
 *
 * One state per grammar position, so any split of the input gives the same
 * result. Chunk data is handed out as spans without looking at it; the
 * chunk-size line, extensions and trailer section go byte by byte, each
 * bounded by a limit.
 *
 *   SIZE -> DIGITS -+-> CR -> SIZE_LF -> DATA -> DATA_CR -> DATA_LF -> SIZE
 *                   +-> (extension states) -> CR          (size 0:) TR_LINE
 *   TR_LINE -> TR_NAME -> TR_VALUE -> TR_LF -> TR_LINE --CR--> TR_END_LF -> DONE
 */
#include "http1_chunked.h"

#include <errno.h>
#include <string.h>

#include "http1_semantics.h"

enum cs_state {
	CS_SIZE,	 /* first hex digit */
	CS_DIGITS,	 /* more digits, or what ends the size */
	CS_EXT_SEMI,	 /* BWS before ';' */
	CS_EXT_NAME_BWS, /* after ';' */
	CS_EXT_NAME,
	CS_EXT_AFTER_NAME, /* BWS after the name: '=' or ';' */
	CS_EXT_VAL_BWS,	   /* after '=' */
	CS_EXT_VAL_TOKEN,
	CS_EXT_VAL_QUOTED,
	CS_EXT_VAL_QP, /* after a backslash */
	CS_EXT_VAL_END,
	CS_SIZE_LF,
	CS_DATA,
	CS_DATA_CR,
	CS_DATA_LF,
	CS_TR_LINE,
	CS_TR_NAME,
	CS_TR_VALUE,
	CS_TR_LF,
	CS_TR_END_LF,
	CS_DONE,
	CS__COUNT
};

static int bad(enum http1_err *err, enum http1_err e)
{
	*err = e;
	return -EBADMSG;
}

static int over(enum http1_err *err, enum http1_err e)
{
	*err = e;
	return -E2BIG;
}

static bool is(uint8_t ch, uint8_t cls)
{
	return http1_cclass[ch] & cls;
}

void http1_chunked_init(struct http1_chunked *c, const struct http1_chunked_limits *limits)
{
	memset(c, 0, sizeof(*c));
	if (limits)
		c->lim = *limits;
	if (!c->lim.max_chunk_size || c->lim.max_chunk_size > HTTP1_CHUNK_MAX_SIZE)
		c->lim.max_chunk_size = HTTP1_CHUNK_MAX_SIZE;
	if (!c->lim.max_ext_bytes)
		c->lim.max_ext_bytes = HTTP1_CHUNK_DEFAULT_MAX_EXT;
	if (!c->lim.max_trailer_bytes)
		c->lim.max_trailer_bytes = HTTP1_CHUNK_DEFAULT_MAX_TRAILER_BYTES;
	if (!c->lim.max_trailers)
		c->lim.max_trailers = HTTP1_CHUNK_DEFAULT_MAX_TRAILERS;
	c->state = CS_SIZE;
}

bool http1_chunked_done(const struct http1_chunked *c)
{
	return c->state == CS_DONE;
}

/* chunk-size = 1*HEXDIG; leading zeros are allowed but count as digits. */
static int size_digit(struct http1_chunked *c, uint8_t ch, enum http1_err *err)
{
	unsigned d = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;

	if (++c->digits > HTTP1_CHUNK_MAX_DIGITS || c->size > c->lim.max_chunk_size >> 4 ||
	    c->size * 16 + d > c->lim.max_chunk_size)
		return over(err, HTTP1_ERR_CHUNK_SIZE_TOO_BIG);
	c->size = c->size * 16 + d;
	c->state = CS_DIGITS;
	return 0;
}

/* What may follow a complete element of the chunk line: BWS, ';' or CR. */
static int after_element(struct http1_chunked *c, uint8_t ch, enum http1_err *err)
{
	if (ch == ' ' || ch == '\t')
		c->state = CS_EXT_SEMI;
	else if (ch == ';')
		c->state = CS_EXT_NAME_BWS;
	else if (ch == '\r')
		c->state = CS_SIZE_LF;
	else
		return bad(err, ch == '\n' ? HTTP1_ERR_BARE_LF : HTTP1_ERR_CHUNK_EXT);
	return 0;
}

/* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
 * (RFC 9112 §7.1.1); extensions are validated and skipped. */
static int ext_byte(struct http1_chunked *c, uint8_t ch, enum http1_err *err)
{
	bool ws = ch == ' ' || ch == '\t';

	/* the bytes between the size and the CR count towards the limit */
	if (ch != '\r' && ++c->ext_len > c->lim.max_ext_bytes)
		return over(err, HTTP1_ERR_CHUNK_EXT_TOO_LONG);
	switch (c->state) {
	case CS_EXT_SEMI:
		if (ws || ch == ';')
			c->state = ws ? CS_EXT_SEMI : CS_EXT_NAME_BWS;
		else
			return bad(err, HTTP1_ERR_CHUNK_EXT);
		return 0;
	case CS_EXT_NAME_BWS:
		if (!ws && !is(ch, HTTP1_C_TCHAR))
			return bad(err, HTTP1_ERR_CHUNK_EXT);
		c->state = ws ? CS_EXT_NAME_BWS : CS_EXT_NAME;
		return 0;
	case CS_EXT_NAME:
		if (is(ch, HTTP1_C_TCHAR))
			return 0;
		if (ws || ch == '=') {
			c->state = ws ? CS_EXT_AFTER_NAME : CS_EXT_VAL_BWS;
			return 0;
		}
		return after_element(c, ch, err);
	case CS_EXT_AFTER_NAME:
		if (ws || ch == '=' || ch == ';') {
			c->state = ws	       ? CS_EXT_AFTER_NAME
				   : ch == '=' ? CS_EXT_VAL_BWS
					       : CS_EXT_NAME_BWS;
			return 0;
		}
		return bad(err, HTTP1_ERR_CHUNK_EXT);
	case CS_EXT_VAL_BWS:
		if (ws || ch == '"' || is(ch, HTTP1_C_TCHAR)) {
			c->state = ws	       ? CS_EXT_VAL_BWS
				   : ch == '"' ? CS_EXT_VAL_QUOTED
					       : CS_EXT_VAL_TOKEN;
			return 0;
		}
		return bad(err, HTTP1_ERR_CHUNK_EXT);
	case CS_EXT_VAL_TOKEN:
		return is(ch, HTTP1_C_TCHAR) ? 0 : after_element(c, ch, err);
	case CS_EXT_VAL_QUOTED:
		/* RFC 9110 §5.6.4: qdtext / quoted-pair, then DQUOTE */
		if (ch == '"' || ch == '\\')
			c->state = ch == '"' ? CS_EXT_VAL_END : CS_EXT_VAL_QP;
		else if (!is(ch, HTTP1_C_QDTEXT))
			return bad(err, HTTP1_ERR_CHUNK_EXT);
		return 0;
	case CS_EXT_VAL_QP:
		if (!is(ch, HTTP1_C_VALUE))
			return bad(err, HTTP1_ERR_CHUNK_EXT);
		c->state = CS_EXT_VAL_QUOTED;
		return 0;
	default: /* CS_EXT_VAL_END */
		return after_element(c, ch, err);
	}
}

/* One byte of the chunk-size line or of the CRLF after chunk data. */
static int line_byte(struct http1_chunked *c, uint8_t ch, enum http1_err *err)
{
	switch (c->state) {
	case CS_SIZE:
		if (!is(ch, HTTP1_C_HEX))
			return bad(err, HTTP1_ERR_CHUNK_SIZE);
		return size_digit(c, ch, err);
	case CS_DIGITS:
		if (is(ch, HTTP1_C_HEX))
			return size_digit(c, ch, err);
		/* BWS or ';' starts the extensions, and counts towards their limit */
		if (ch != '\r' && ch != '\n' && ch != ' ' && ch != '\t' && ch != ';')
			return bad(err, HTTP1_ERR_CHUNK_SIZE);
		if (ch == '\r' || ch == '\n')
			return after_element(c, ch, err);
		c->state = CS_EXT_SEMI;
		return ext_byte(c, ch, err);
	case CS_SIZE_LF:
		if (ch != '\n')
			return bad(err, HTTP1_ERR_BARE_CR);
		c->remaining = c->size;
		c->state = c->size ? CS_DATA : CS_TR_LINE;
		return 0;
	case CS_DATA_CR:
		if (ch != '\r')
			return bad(err, HTTP1_ERR_CHUNK_DATA_CRLF);
		c->state = CS_DATA_LF;
		return 0;
	case CS_DATA_LF:
		if (ch != '\n')
			return bad(err, HTTP1_ERR_BARE_CR);
		c->size = 0;
		c->digits = 0;
		c->ext_len = 0;
		c->state = CS_SIZE;
		return 0;
	default:
		return ext_byte(c, ch, err);
	}
}

/* RFC 9110 §6.5.1: framing, routing and control fields may not be trailers.
 * We refuse every name the head parser treats specially (Content-Length,
 * Transfer-Encoding, Host, Connection, ...), lest a recipient merges them. */
static bool trailer_forbidden(const struct http1_chunked *c)
{
	return c->name_len <= HTTP1_CHUNK_NAME_KEEP &&
	       http1_hdr_lookup(c->name, c->name_len) != HTTP1_H_OTHER;
}

/* Trailer section: field lines with the head's rules (RFC 9112 §7.1.2). */
static int trailer_byte(struct http1_chunked *c, uint8_t ch, enum http1_err *err)
{
	switch (c->state) {
	case CS_TR_LINE:
		if (ch == '\r') {
			c->state = CS_TR_END_LF;
			return 0;
		}
		if (ch == ' ' || ch == '\t')
			return bad(err, c->ntrailers ? HTTP1_ERR_OBS_FOLD : HTTP1_ERR_LEADING_WS);
		if (!is(ch, HTTP1_C_TCHAR))
			return bad(err, ch == '\n' ? HTTP1_ERR_BARE_LF : HTTP1_ERR_FIELD_NAME);
		if (c->ntrailers >= c->lim.max_trailers)
			return over(err, HTTP1_ERR_TRAILERS_TOO_LARGE);
		c->name_len = 0;
		c->state = CS_TR_NAME;
		/* fall through */
	case CS_TR_NAME:
		if (is(ch, HTTP1_C_TCHAR)) {
			if (c->name_len < HTTP1_CHUNK_NAME_KEEP)
				c->name[c->name_len] = (char)ch;
			c->name_len += c->name_len <= HTTP1_CHUNK_NAME_KEEP;
			return 0;
		}
		if (ch == ':') {
			c->state = CS_TR_VALUE;
			return trailer_forbidden(c) ? bad(err, HTTP1_ERR_TRAILER_FORBIDDEN) : 0;
		}
		if (ch == ' ' || ch == '\t')
			return bad(err, HTTP1_ERR_WS_BEFORE_COLON);
		return bad(err, ch == '\n' ? HTTP1_ERR_BARE_LF : HTTP1_ERR_FIELD_NAME);
	case CS_TR_VALUE:
		if (is(ch, HTTP1_C_VALUE))
			return 0;
		if (ch != '\r')
			return bad(err, ch == '\n' ? HTTP1_ERR_BARE_LF : HTTP1_ERR_FIELD_VALUE);
		c->state = CS_TR_LF;
		return 0;
	case CS_TR_LF:
		if (ch != '\n')
			return bad(err, HTTP1_ERR_BARE_CR);
		c->ntrailers++;
		c->state = CS_TR_LINE;
		return 0;
	default: /* CS_TR_END_LF */
		if (ch != '\n')
			return bad(err, HTTP1_ERR_BARE_CR);
		c->state = CS_DONE;
		return 0;
	}
}

static bool in_trailer_line(const struct http1_chunked *c)
{
	return c->state >= CS_TR_LINE && c->state <= CS_TR_LF;
}

/* Hands out chunk data straight from buf: one span per chunk piece. */
static size_t take_data(struct http1_chunked *c, const char *p, size_t avail, struct http1_span *sp)
{
	size_t n = c->remaining < avail ? (size_t)c->remaining : avail;

	*sp = (struct http1_span){p, n, HTTP1_SPAN_DATA};
	c->remaining -= n;
	c->data_total += n;
	if (!c->remaining)
		c->state = CS_DATA_CR;
	return n;
}

int http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len,
		       struct http1_span *spans, size_t max_spans, size_t *nspans,
		       enum http1_err *err)
{
	const uint8_t *b = (const uint8_t *)buf;
	struct http1_span *tr = NULL; /* trailer span being extended */
	size_t pos = 0;
	int r = 0;

	*nspans = 0;
	*err = HTTP1_OK;
	if (!max_spans)
		return -EINVAL; /* no room for a span: no progress could be made */
	if (c->state == CS_DONE)
		return 0;
	if (!len)
		return -EAGAIN;
	if (len > INT32_MAX)
		len = INT32_MAX; /* the count consumed must fit the return value */
	while (pos < len && c->state != CS_DONE) {
		if (c->state == CS_DATA) {
			if (*nspans == max_spans)
				break;
			pos += take_data(c, buf + pos, len - pos, &spans[(*nspans)++]);
			continue;
		}
		if (c->state < CS_TR_LINE) {
			if ((r = line_byte(c, b[pos], err)))
				return r;
			pos++;
			continue;
		}
		if (++c->trailer_len > c->lim.max_trailer_bytes)
			return over(err, HTTP1_ERR_TRAILERS_TOO_LARGE);
		if (!tr && in_trailer_line(c) && !(c->state == CS_TR_LINE && b[pos] == '\r')) {
			if (*nspans == max_spans) {
				c->trailer_len--;
				break;
			}
			tr = &spans[(*nspans)++];
			*tr = (struct http1_span){buf + pos, 0, HTTP1_SPAN_TRAILER};
		}
		if ((r = trailer_byte(c, b[pos], err)))
			return r;
		pos++;
		if (tr && in_trailer_line(c))
			tr->len = (size_t)(buf + pos - tr->ptr);
		else
			tr = NULL;
	}
	return (int)pos;
}

size_t http1_chunked_size_line(uint64_t size, char out[HTTP1_CHUNK_LINE_MAX])
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0, i;

	do {
		tmp[n++] = hex[size & 15];
		size >>= 4;
	} while (size);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\r';
	out[n + 1] = '\n';
	return n + 2;
}
