/* Strict, incremental, zero-copy HTTP/1.x head parser (RFC 9112 §2-§5).
 *
 * Pure codec: no sockets, no allocation, no logging. Every parsed value is a
 * view (ptr, len) into the caller's buffer, which the caller owns and must
 * keep unchanged while it uses the views. The framing and smuggling rules
 * (Content-Length, Transfer-Encoding, Host, Connection) live in
 * http1_semantics.c and run inside the same pass, so a head that parses is
 * also a head whose body length is known and safe to forward.
 *
 * Contract (STYLE.md): > 0 = length of the complete head (the body or the
 * next pipelined message starts right after it), -EAGAIN = need more bytes,
 * -EBADMSG = malformed, -E2BIG = over a limit; *err says why.
 */
#ifndef STRATA_HTTP1_PARSE_H
#define STRATA_HTTP1_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Size of the header array in a parsed head; hard ceiling of max_headers. */
#define HTTP1_MAX_HEADERS 100
/* RFC 9112 §2.2: ignore at least one empty line before the request line. */
#define HTTP1_MAX_EMPTY_LINES 4
/* Defaults of struct http1_limits. */
#define HTTP1_DEFAULT_MAX_REQUEST_LINE 8192
#define HTTP1_DEFAULT_MAX_HEADER_BYTES 32768
#define HTTP1_DEFAULT_MAX_HEADERS      HTTP1_MAX_HEADERS
/* Ceiling of both byte limits: positions fit comfortably in 32 bits. */
#define HTTP1_MAX_LIMIT_BYTES (1u << 24)

/* Why a message was refused. Each has a short name for logs, a sentence for
 * humans and the status a server answers (http1_err_*, defined with the
 * rules in http1_semantics.c).
 * A failure while parsing an upstream response is answered 502 by the proxy. */
enum http1_err {
	HTTP1_OK,
	/* start line */
	HTTP1_ERR_EMPTY_LINES,
	HTTP1_ERR_METHOD,
	HTTP1_ERR_REQUEST_LINE,
	HTTP1_ERR_TARGET,
	HTTP1_ERR_TARGET_FORM,
	HTTP1_ERR_VERSION,
	HTTP1_ERR_VERSION_UNSUPPORTED,
	HTTP1_ERR_LINE_TOO_LONG,
	HTTP1_ERR_URI_TOO_LONG,
	HTTP1_ERR_STATUS_LINE,
	HTTP1_ERR_STATUS_CODE,
	/* field lines */
	HTTP1_ERR_LEADING_WS,
	HTTP1_ERR_FIELD_NAME,
	HTTP1_ERR_WS_BEFORE_COLON,
	HTTP1_ERR_FIELD_VALUE,
	HTTP1_ERR_OBS_FOLD,
	HTTP1_ERR_BARE_CR,
	HTTP1_ERR_BARE_LF,
	HTTP1_ERR_HEADERS_TOO_LARGE,
	HTTP1_ERR_TOO_MANY_HEADERS,
	/* semantics: framing and routing fields (http1_semantics.c) */
	HTTP1_ERR_HOST_MISSING,
	HTTP1_ERR_HOST_DUPLICATE,
	HTTP1_ERR_HOST_INVALID,
	HTTP1_ERR_CL_INVALID,
	HTTP1_ERR_CL_OVERFLOW,
	HTTP1_ERR_CL_MISMATCH,
	HTTP1_ERR_CL_AND_TE,
	HTTP1_ERR_TE_INVALID,
	HTTP1_ERR_TE_UNSUPPORTED,
	HTTP1_ERR_TE_HTTP10,
	HTTP1_ERR_CONN_TOKEN,
	HTTP1_ERR_CONN_FRAMING,
	HTTP1_ERR_CONN_OPTIONS,
	/* chunked body (http1_chunked.c) */
	HTTP1_ERR_CHUNK_SIZE,
	HTTP1_ERR_CHUNK_SIZE_TOO_BIG,
	HTTP1_ERR_CHUNK_EXT,
	HTTP1_ERR_CHUNK_EXT_TOO_LONG,
	HTTP1_ERR_CHUNK_DATA_CRLF,
	HTTP1_ERR_TRAILER_FORBIDDEN,
	HTTP1_ERR_TRAILERS_TOO_LARGE,
	HTTP1_ERR__COUNT
};

/* Short name for the access log ("bare_lf"), "?" when out of range. */
const char *http1_err_name(enum http1_err err);
/* One sentence for humans ("line ends with LF without CR"). */
const char *http1_err_text(enum http1_err err);
/* Status a server answers to a request refused for `err` (400, 414, 431,
 * 501, 505; 502 for the response-only reasons); 0 for HTTP1_OK. */
int http1_err_status(enum http1_err err);

/* Character classes of RFC 9110 §5.6.2 / RFC 3986 §2, one bit each, shared
 * by the HTTP/1 codecs so their inner loops are one table lookup per byte. */
#define HTTP1_C_TCHAR  0x01 /* token */
#define HTTP1_C_VALUE  0x02 /* field-vchar, obs-text, SP, HTAB */
#define HTTP1_C_URI    0x04 /* unreserved, sub-delims, gen-delims but '#' */
#define HTTP1_C_HEX    0x08 /* HEXDIG */
#define HTTP1_C_HOST   0x10 /* reg-name: unreserved, sub-delims */
#define HTTP1_C_WS     0x20 /* SP, HTAB */
#define HTTP1_C_QDTEXT 0x40 /* quoted-string text (RFC 9110 §5.6.4) */
#define HTTP1_C_SCHEME 0x80 /* ALPHA, DIGIT, "+", "-", "." */
extern const uint8_t http1_cclass[256];

struct http1_limits {
	uint32_t max_request_line; /* start line without CRLF; default 8 KiB */
	uint32_t max_header_bytes; /* field lines + final CRLF; default 32 KiB */
	uint32_t max_headers;	   /* field lines; default and ceiling 100 */
};

/* The defaults above; passing NULL as limits means these. */
extern const struct http1_limits http1_default_limits;

struct http1_view {
	const char *ptr;
	size_t len;
};

enum http1_method {
	HTTP1_M_OTHER, /* any other valid token: see req->method */
	HTTP1_M_GET,
	HTTP1_M_HEAD,
	HTTP1_M_POST,
	HTTP1_M_PUT,
	HTTP1_M_DELETE,
	HTTP1_M_CONNECT,
	HTTP1_M_OPTIONS,
	HTTP1_M_TRACE,
	HTTP1_M_PATCH,
	HTTP1_M__COUNT
};

/* RFC 9112 §3.2 */
enum http1_target_form {
	HTTP1_FORM_ORIGIN,    /* /path?query */
	HTTP1_FORM_ABSOLUTE,  /* http://authority/path?query */
	HTTP1_FORM_AUTHORITY, /* host:port, CONNECT only */
	HTTP1_FORM_ASTERISK,  /* *, OPTIONS only */
	HTTP1_FORM__COUNT
};

/* How the body of a message is delimited (RFC 9112 §6.3). */
enum http1_body {
	HTTP1_BODY_NONE,    /* no body: the next message follows the head */
	HTTP1_BODY_LENGTH,  /* exactly content_length bytes */
	HTTP1_BODY_CHUNKED, /* chunked coding: feed it to http1_chunked */
	HTTP1_BODY_CLOSE,   /* response only: until the server closes */
	HTTP1_BODY_TUNNEL,  /* response only: 101 or 2xx to CONNECT, raw bytes */
	HTTP1_BODY__COUNT
};

/* Fields the parser recognises by name (case-insensitive). */
enum http1_hdr {
	HTTP1_H_OTHER,
	HTTP1_H_HOST,
	HTTP1_H_CONTENT_LENGTH,
	HTTP1_H_TRANSFER_ENCODING,
	HTTP1_H_CONNECTION,
	HTTP1_H_UPGRADE,
	HTTP1_H_EXPECT,
	HTTP1_H_KEEP_ALIVE,
	HTTP1_H_PROXY_CONNECTION,
	HTTP1_H_TE,
	HTTP1_H_TRAILER,
	HTTP1_H__COUNT
};

/* http1_header.flags */
#define HTTP1_HF_HOP_BY_HOP 0x01 /* RFC 9110 §7.6.1: never forwarded as is */
#define HTTP1_HF_FRAMING    0x02 /* CL/TE: a proxy re-creates it from the facts */

struct http1_header {
	struct http1_view name;	 /* token, as received */
	struct http1_view value; /* leading and trailing OWS removed */
	uint8_t id;		 /* enum http1_hdr */
	uint8_t flags;		 /* HTTP1_HF_* */
};

/* Connection options seen (http1_head.conn). */
#define HTTP1_CONN_CLOSE      0x01
#define HTTP1_CONN_KEEP_ALIVE 0x02
#define HTTP1_CONN_UPGRADE    0x04
#define HTTP1_CONN_OTHER      0x08 /* headers so named carry HTTP1_HF_HOP_BY_HOP */

/* Resume point of an incomplete parse; private to http1_parse.c. */
struct http1_parse_state {
	const char *buf; /* buffer of the call that returned -EAGAIN */
	size_t len;	 /* its length */
	size_t pos;	 /* next byte to examine */
	size_t mark;	 /* start of the token or line being scanned */
	size_t colon;	 /* colon of the field line being scanned */
	size_t vstart;	 /* first byte of its value */
	size_t line_lim; /* start line: its CR must lie before this */
	size_t hdr_lim;	 /* field section: every byte must lie before this */
	uint8_t state;
	uint8_t empty_lines;
};

/* What requests and responses share: field lines and the facts derived from
 * them in the same pass (http1_semantics.c). */
struct http1_head {
	uint8_t minor;		 /* HTTP/1.<minor>: 0 or 1 */
	uint8_t body;		 /* enum http1_body (responses: see http1_response_body) */
	uint8_t conn;		 /* HTTP1_CONN_* */
	bool keep_alive;	 /* connection may carry another message */
	bool has_content_length; /* one or more identical Content-Length */
	bool chunked;		 /* Transfer-Encoding: chunked */
	bool upgrade;		 /* request: HTTP/1.1, Upgrade and the "upgrade" option */
	bool expect_continue;	 /* request: Expect: 100-continue on HTTP/1.1 */
	bool expect_other;	 /* request: another expectation (417 is allowed) */
	bool te_only_chunked;	 /* every Transfer-Encoding value is "chunked" */
	uint8_t n_host;		 /* Host fields seen */
	uint8_t n_te;		 /* Transfer-Encoding fields seen */
	uint8_t host_idx;	 /* headers[host_idx] is the Host field when n_host */
	uint16_t seen;		 /* bit (1 << enum http1_hdr) for each kind present */
	uint16_t n_conn_other;	 /* Connection options other than the three known */
	uint16_t nheaders;
	uint64_t content_length; /* valid when has_content_length */
	struct http1_header headers[HTTP1_MAX_HEADERS];
	struct http1_parse_state ps;
};

struct http1_request {
	struct http1_view method;
	struct http1_view target;    /* the request-target, as received */
	struct http1_view scheme;    /* absolute-form only, else empty */
	struct http1_view authority; /* absolute-form and authority-form */
	struct http1_view path;	     /* origin/absolute-form; empty for "http://h" */
	struct http1_view query;     /* after '?', without it; empty if none */
	struct http1_view host;	     /* absolute-form authority, else Host value */
	uint8_t method_id;	     /* enum http1_method */
	uint8_t form;		     /* enum http1_target_form */
	bool has_query;		     /* the target had a '?' */
	struct http1_head h;
};

struct http1_response {
	uint16_t status;	  /* 100..599 */
	struct http1_view reason; /* may be empty */
	struct http1_head h;
};

/* Parses a request head at the start of buf[0..len). Never reads past len.
 * last_len: 0 for a new message; after -EAGAIN, call again with the grown
 * buffer, the same req and last_len = the previous len: the parse resumes
 * where it stopped (if buf moved, it restarts, which is only slower).
 * limits: NULL for the defaults. On success req holds views into buf and
 * req->h.body / content_length / keep_alive say how to read what follows. */
int http1_parse_request(const char *buf, size_t len, size_t last_len,
			const struct http1_limits *limits, struct http1_request *req,
			enum http1_err *err);

/* The same for a response head (status line, then fields). The body rule
 * depends on the request method: see http1_response_body(). */
int http1_parse_response(const char *buf, size_t len, size_t last_len,
			 const struct http1_limits *limits, struct http1_response *resp,
			 enum http1_err *err);

/* Name of a method id ("GET"), "" for HTTP1_M_OTHER. */
const char *http1_method_name(enum http1_method m);

#endif
