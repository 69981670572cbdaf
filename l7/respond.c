/* Responses strata-l7 writes itself (respond.h): errors, fixed responses,
 * redirects, 100 Continue, the health answer. Each is a complete HTTP/1.1
 * message with an exact Content-Length, written into the caller's buffer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "headers.h"
#include "respond.h"

#define REASON_BODY_MAX 200 /* respond.h: longer engine texts are cut */

/* RFC 9110 §15 (and RFC 6585 §3-5 for 428, 429, 431) */
static const struct {
	uint16_t status;
	const char *reason;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *l7_status_reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (reasons[i].status == status)
			return reasons[i].reason;
	}
	return "Unknown";
}

/* RFC 9110 §6.6.1: an origin with a clock sends Date; formatted once per
 * second per thread (IMF-fixdate, §5.6.7), without locale-dependent strftime. */
static void put_date(struct l7_wbuf *w)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	static __thread time_t tl_sec = -1;
	static __thread char tl_buf[32];
	time_t now = time(NULL);
	struct tm tm;

	if (now != tl_sec && gmtime_r(&now, &tm)) {
		snprintf(tl_buf, sizeof(tl_buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
			 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		tl_sec = now;
	}
	l7_w_lit(w, "Date: ");
	l7_w_put(w, tl_buf, strlen(tl_buf));
	l7_w_lit(w, "\r\n");
}

static void put_status_line(struct l7_wbuf *w, int status)
{
	const char *reason = l7_status_reason(status);

	l7_w_lit(w, "HTTP/1.1 ");
	l7_w_u64(w, (uint64_t)status);
	l7_w_byte(w, ' ');
	l7_w_put(w, reason, strlen(reason));
	l7_w_lit(w, "\r\n");
	put_date(w);
}

static void put_length_conn(struct l7_wbuf *w, uint64_t len, bool close)
{
	l7_w_lit(w, "Content-Length: ");
	l7_w_u64(w, len);
	if (close)
		l7_w_lit(w, "\r\nConnection: close\r\n\r\n");
	else
		l7_w_lit(w, "\r\nConnection: keep-alive\r\n\r\n");
}

int l7_respond_error(uint8_t *out, size_t cap, int status, const char *reason, bool close)
{
	struct l7_wbuf w;
	size_t n;

	if (status < 100 || status > 599)
		return -EINVAL;
	if (!reason)
		reason = l7_status_reason(status);
	n = strnlen(reason, REASON_BODY_MAX);
	l7_w_init(&w, out, cap);
	put_status_line(&w, status);
	l7_w_lit(&w, "Content-Type: text/plain; charset=utf-8\r\n"
		     "Cache-Control: no-store\r\n");
	put_length_conn(&w, n + 1, close);
	l7_w_put(&w, reason, n);
	l7_w_byte(&w, '\n');
	return l7_w_done(&w);
}

static void put_rules(struct l7_wbuf *w, const struct l7_hdr_rules *r)
{
	for (uint32_t i = 0; i < r->n_set; i++)
		l7_w_field(w, r->set[i].name.ptr, r->set[i].name.len, r->set[i].value.ptr,
			   r->set[i].value.len);
	for (uint32_t i = 0; i < r->n_add; i++)
		l7_w_field(w, r->add[i].name.ptr, r->add[i].name.len, r->add[i].value.ptr,
			   r->add[i].value.len);
}

int l7_respond_fixed(uint8_t *out, size_t cap, const struct l7_route *route, bool head_only,
		     bool close)
{
	unsigned status = route->respond.status;
	struct l7_wbuf w;

	l7_w_init(&w, out, cap);
	put_status_line(&w, (int)status);
	put_rules(&w, &route->resp_hdrs);
	if (status == 204 || status == 304) { /* RFC 9110 §8.6: no Content-Length */
		l7_w_put(&w, close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n",
			 close ? 21 : 26);
		return l7_w_done(&w);
	}
	l7_w_field(&w, "Content-Type", 12, route->respond.content_type.ptr,
		   route->respond.content_type.len);
	put_length_conn(&w, route->respond.body.len, close);
	if (!head_only)
		l7_w_put(&w, route->respond.body.ptr, route->respond.body.len);
	return l7_w_done(&w);
}

static void put_location(struct l7_wbuf *w, const struct l7_route *route,
			 const struct http1_request *req, const char *host, size_t host_len)
{
	struct http1_view path = req->path.len ? req->path : (struct http1_view){"/", 1};

	for (uint32_t i = 0; i < route->redirect.n_segs; i++) {
		const struct l7_tmpl_seg *s = &route->redirect.segs[i];

		switch (s->kind) {
		case L7_TMPL_TEXT:
			l7_w_put(w, s->text.ptr, s->text.len);
			break;
		case L7_TMPL_PATH:
			l7_w_put(w, path.ptr, path.len);
			break;
		case L7_TMPL_HOST:
			l7_w_put(w, host, host_len);
			break;
		case L7_TMPL_QUERY:
			l7_w_put(w, req->query.ptr, req->query.len);
			break;
		case L7_TMPL_URI:
			l7_w_put(w, path.ptr, path.len);
			if (req->has_query) {
				l7_w_byte(w, '?');
				l7_w_put(w, req->query.ptr, req->query.len);
			}
			break;
		}
	}
}

int l7_redirect_location(char *out, size_t cap, const struct l7_route *route,
			 const struct http1_request *req, const char *host, size_t host_len)
{
	struct l7_wbuf w;

	l7_w_init(&w, (uint8_t *)out, cap);
	put_location(&w, route, req, host, host_len);
	return l7_w_done(&w);
}

int l7_respond_redirect(uint8_t *out, size_t cap, const struct l7_route *route,
			const struct http1_request *req, const char *host, size_t host_len,
			bool head_only, bool close)
{
	static const char intro[] = "Redirecting to ";
	const uint8_t *loc;
	struct l7_wbuf w;
	size_t loc_len;

	l7_w_init(&w, out, cap);
	put_status_line(&w, route->redirect.status);
	l7_w_lit(&w, "Location: ");
	loc = w.p;
	put_location(&w, route, req, host, host_len);
	loc_len = (size_t)(w.p - loc);
	l7_w_lit(&w, "\r\nContent-Type: text/plain; charset=utf-8\r\n");
	put_rules(&w, &route->resp_hdrs);
	put_length_conn(&w, sizeof(intro) - 1 + loc_len + 1, close);
	if (!head_only && !w.overflow) {
		l7_w_lit(&w, intro);
		l7_w_put(&w, loc, loc_len); /* earlier in the same buffer: no overlap */
		l7_w_byte(&w, '\n');
	}
	return l7_w_done(&w);
}

int l7_respond_continue(uint8_t *out, size_t cap)
{
	struct l7_wbuf w;

	l7_w_init(&w, out, cap);
	l7_w_lit(&w, "HTTP/1.1 100 Continue\r\n\r\n");
	return l7_w_done(&w);
}

int l7_respond_health(uint8_t *out, size_t cap, bool head_only, bool close)
{
	struct l7_wbuf w;

	l7_w_init(&w, out, cap);
	put_status_line(&w, 200);
	l7_w_lit(&w, "Content-Type: text/plain\r\nCache-Control: no-store\r\n");
	put_length_conn(&w, 3, close);
	if (!head_only)
		l7_w_lit(&w, "ok\n");
	return l7_w_done(&w);
}
