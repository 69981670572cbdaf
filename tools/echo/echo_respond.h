/* Response bytes strata-echo sends: status line and header fields, the JSON
 * echo of a request, small JSON bodies, and the /size byte pattern.
 *
 * Builders append to a caller-owned struct echo_buf (allocation failure is
 * left in the buffer's sticky oom flag); nothing here touches a socket.
 */
#ifndef STRATA_ECHO_RESPOND_H
#define STRATA_ECHO_RESPOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "echo_buf.h"
#include "echo_http.h"
#include "echo_worker.h"

/* Chunk size of a chunked /size body. */
#define ECHO_STREAM_CHUNK 65536
/* The /size body is 'a'..'z' repeated: byte i is 'a' + i % 26. */
#define ECHO_PATTERN_PERIOD 26

enum echo_conn_field {
	ECHO_CONN_HDR_NONE,
	ECHO_CONN_HDR_CLOSE,
	ECHO_CONN_HDR_KEEP_ALIVE, /* an HTTP/1.0 client asked to keep it */
	ECHO_CONN_HDR_UPGRADE,
};

struct echo_head {
	int status;
	struct echo_span ctype; /* Content-Type; len 0: none */
	uint64_t length;	/* Content-Length */
	bool chunked;		/* Transfer-Encoding: chunked instead */
	bool no_length;		/* neither (101, 204, 304) */
	enum echo_conn_field conn;
	struct echo_span extra; /* more field lines, each ending in CRLF */
};

/* Appends the status line and header section; `date` is a full
 * "Date: ...\r\n" line. */
void echo_respond_head(struct echo_buf *out, const struct echo_head *h, const char *date,
		       size_t date_len);

/* The JSON echo of a request, without its closing part:
 * {"server":..,"method":..,"path":..,"version":..,"conn":{..},"headers":[..] */
void echo_respond_echo_begin(struct echo_buf *b, const struct echo_server *srv,
			     const struct echo_http_req *req, uint64_t conn_id, uint64_t requests,
			     const char *peer);
/* Closes it: ,"body_bytes":N,"body_crc":C} and a newline. */
void echo_respond_echo_end(struct echo_buf *b, uint64_t body_bytes, uint32_t body_crc);

/* {"server":..,"status":CODE} */
void echo_respond_status_body(struct echo_buf *b, const struct echo_server *srv, int status);
/* {"server":..,"connections_total":..,"connections_active":..,"requests_total":..} */
void echo_respond_stats_body(struct echo_buf *b, const struct echo_server *srv,
			     const struct echo_counters *sum);
/* {"server":..,"status":CODE,"error":REASON} */
void echo_respond_error_body(struct echo_buf *b, const struct echo_server *srv, int status,
			     const char *reason);

/* Appends n bytes as a quoted JSON string (RFC 8259 §7 escaping). */
void echo_respond_json_str(struct echo_buf *b, const char *s, size_t n);

/* Reason phrase for a status code ("" when unknown; RFC 9112 §4 allows it). */
const char *echo_respond_reason(int status);

/* Pattern bytes starting at body offset pos: *len (<= max) bytes are valid. */
const char *echo_respond_pattern(uint64_t pos, size_t max, size_t *len);

/* Fills the pattern buffer; call once before any thread uses it. */
void echo_respond_init(void);

#endif
