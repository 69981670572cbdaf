/* Response builders for strata-echo; see echo_respond.h. */
#include "echo_respond.h"

#include <string.h>

#include "json.h"

/* The pattern buffer holds two slices, so any offset has a full slice of
 * contiguous pattern after it; a slice is a whole number of periods. */
#define PATTERN_SLICE (ECHO_PATTERN_PERIOD * 10082)

static char pattern[2 * PATTERN_SLICE];

void echo_respond_init(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (char)('a' + i % ECHO_PATTERN_PERIOD);
}

const char *echo_respond_pattern(uint64_t pos, size_t max, size_t *len)
{
	*len = max < PATTERN_SLICE ? max : PATTERN_SLICE;
	return pattern + pos % PATTERN_SLICE;
}

#define ADD_LIT(b, s) echo_buf_add((b), (s), sizeof(s) - 1)

const char *echo_respond_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "";
	}
}

void echo_respond_head(struct echo_buf *out, const struct echo_head *h, const char *date,
		       size_t date_len)
{
	ADD_LIT(out, "HTTP/1.1 ");
	echo_buf_add_u64(out, (uint64_t)h->status);
	ADD_LIT(out, " ");
	echo_buf_add_str(out, echo_respond_reason(h->status));
	ADD_LIT(out, "\r\nServer: strata-echo\r\n");
	echo_buf_add(out, date, date_len);
	if (h->ctype.len) {
		ADD_LIT(out, "Content-Type: ");
		echo_buf_add(out, h->ctype.ptr, h->ctype.len);
		ADD_LIT(out, "\r\n");
	}
	if (h->chunked) {
		ADD_LIT(out, "Transfer-Encoding: chunked\r\n");
	} else if (!h->no_length) {
		ADD_LIT(out, "Content-Length: ");
		echo_buf_add_u64(out, h->length);
		ADD_LIT(out, "\r\n");
	}
	switch (h->conn) {
	case ECHO_CONN_HDR_CLOSE:
		ADD_LIT(out, "Connection: close\r\n");
		break;
	case ECHO_CONN_HDR_KEEP_ALIVE:
		ADD_LIT(out, "Connection: keep-alive\r\n");
		break;
	case ECHO_CONN_HDR_UPGRADE:
		ADD_LIT(out, "Connection: Upgrade\r\n");
		break;
	default:
		break;
	}
	echo_buf_add(out, h->extra.ptr, h->extra.len);
	ADD_LIT(out, "\r\n");
}

void echo_respond_json_str(struct echo_buf *b, const char *s, size_t n)
{
	long r;

	/* json_escape() writes at most 6 bytes per input byte (\u00XX). */
	if (n > (SIZE_MAX - 2) / 6 || echo_buf_reserve(b, 6 * n + 2) < 0)
		return;
	b->data[b->len++] = '"';
	r = json_escape(echo_buf_tail(b), 6 * n, s, n);
	if (r < 0) {
		b->oom = true;
		return;
	}
	b->len += (size_t)r;
	b->data[b->len++] = '"';
}

static void add_server(struct echo_buf *b, const struct echo_server *srv)
{
	ADD_LIT(b, "{\"server\":");
	echo_buf_add(b, srv->name_json, srv->name_json_len);
}

void echo_respond_echo_begin(struct echo_buf *b, const struct echo_server *srv,
			     const struct echo_http_req *req, uint64_t conn_id, uint64_t requests,
			     const char *peer)
{
	add_server(b, srv);
	ADD_LIT(b, ",\"method\":");
	echo_respond_json_str(b, req->method.ptr, req->method.len);
	ADD_LIT(b, ",\"path\":");
	echo_respond_json_str(b, req->target.ptr, req->target.len);
	ADD_LIT(b, ",\"version\":\"HTTP/1.");
	echo_buf_add_u64(b, (uint64_t)req->minor);
	ADD_LIT(b, "\",\"conn\":{\"id\":");
	echo_buf_add_u64(b, conn_id);
	ADD_LIT(b, ",\"requests\":");
	echo_buf_add_u64(b, requests);
	ADD_LIT(b, ",\"peer\":");
	echo_respond_json_str(b, peer, strlen(peer));
	ADD_LIT(b, "},\"headers\":[");
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct echo_http_header *h = &req->headers[i];

		echo_buf_add(b, i ? ",[" : "[", i ? 2 : 1);
		echo_respond_json_str(b, h->name.ptr, h->name.len);
		ADD_LIT(b, ",");
		echo_respond_json_str(b, h->value.ptr, h->value.len);
		ADD_LIT(b, "]");
	}
	ADD_LIT(b, "]");
}

void echo_respond_echo_end(struct echo_buf *b, uint64_t body_bytes, uint32_t body_crc)
{
	ADD_LIT(b, ",\"body_bytes\":");
	echo_buf_add_u64(b, body_bytes);
	ADD_LIT(b, ",\"body_crc\":");
	echo_buf_add_u64(b, body_crc);
	ADD_LIT(b, "}\n");
}

void echo_respond_status_body(struct echo_buf *b, const struct echo_server *srv, int status)
{
	add_server(b, srv);
	ADD_LIT(b, ",\"status\":");
	echo_buf_add_u64(b, (uint64_t)status);
	ADD_LIT(b, "}\n");
}

void echo_respond_stats_body(struct echo_buf *b, const struct echo_server *srv,
			     const struct echo_counters *sum)
{
	add_server(b, srv);
	ADD_LIT(b, ",\"connections_total\":");
	echo_buf_add_u64(b, sum->conns_total);
	ADD_LIT(b, ",\"connections_active\":");
	echo_buf_add_u64(
	    b, sum->conns_total > sum->conns_closed ? sum->conns_total - sum->conns_closed : 0);
	ADD_LIT(b, ",\"requests_total\":");
	echo_buf_add_u64(b, sum->requests);
	ADD_LIT(b, ",\"workers\":");
	echo_buf_add_u64(b, srv->nworkers);
	ADD_LIT(b, "}\n");
}

void echo_respond_error_body(struct echo_buf *b, const struct echo_server *srv, int status,
			     const char *reason)
{
	add_server(b, srv);
	ADD_LIT(b, ",\"status\":");
	echo_buf_add_u64(b, (uint64_t)status);
	ADD_LIT(b, ",\"error\":");
	echo_respond_json_str(b, reason, strlen(reason));
	ADD_LIT(b, "}\n");
}
