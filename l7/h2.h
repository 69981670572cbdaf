/* HTTP/2 (RFC 9113) server side of one client connection, on nghttp2,
 * driven from our buffers: bytes in through l7_h2_recv() (nghttp2's
 * mem_recv), frames out into h2->out (obuf.h) for the engine to send, or
 * to encrypt with l7_tls_send() first.
 *
 * Each stream surfaces as a request the engine routes exactly like an
 * HTTP/1.1 one: st->req is a struct http1_request view (http1_parse.h)
 * filled from the pseudo-headers and fields (:method, :path split into
 * path and query, :authority as the host, cookies joined, RFC 9113
 * §8.3.1), checked by the same semantics code as HTTP/1. The response goes
 * back as an HTTP/1.1 head the engine already knows how to build
 * (l7_build_client_head); it is converted to HEADERS here (hop-by-hop
 * fields dropped, names lowercased). Body bytes go both ways through
 * bounded per-stream buffers.
 *
 * Flow control never buffers without bound: a request body is held only
 * up to the stream window we advertised, and WINDOW_UPDATE goes out only
 * as the engine consumes (l7_h2_body_consume, when the upstream drained
 * the bytes); a response is taken only up to conf->stream_buffer per
 * stream, and frames are produced only while h2->out holds less than
 * L7_H2_OUT_HIGH.
 *
 * Abuse defences (docs/http2.md "Abuse"): RST_STREAM per window (rapid
 * reset, CVE-2023-44487), CONTINUATION frames and raw header block bytes
 * per block, decoded header list size while it accumulates, PING, SETTINGS
 * and empty-frame floods, zero-window stalls. Beyond a threshold the
 * connection gets GOAWAY(ENHANCE_YOUR_CALM) and l7_h2_reason() says why.
 *
 * Ownership: l7_h2_new() allocates the connection, streams are allocated
 * when their HEADERS begin and freed right after ops->on_close. The engine
 * keeps its exchange in st->user and must forget `st` in on_close, which
 * may run inside any l7_h2_* call (the last response byte or a reset can
 * end a stream at once): after a call on a stream, look at the stream
 * again only if on_close did not run. Callbacks may call l7_h2_respond_*,
 * l7_h2_body_*, l7_h2_reset and l7_h2_shutdown (output is produced once
 * the outermost call returns), never l7_h2_free.
 */
#ifndef STRATA_L7_H2_H
#define STRATA_L7_H2_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "cfg.h"
#include "http1_parse.h"
#include "obuf.h"

/* Frames queued before nghttp2 is asked for more. */
#define L7_H2_OUT_HIGH (64u << 10)
/* RFC 9113 §3.4: the client connection preface. */
#define L7_H2_PREFACE	  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define L7_H2_PREFACE_LEN 24
/* Fields in one header block beyond which decoding itself is abuse (an
 * HPACK "bomb" of indexed fields), whatever their size. */
#define L7_H2_MAX_BLOCK_FIELDS 1000
/* The hard ceiling for the concurrency nghttp2 itself enforces; ours is
 * conf->max_concurrent_streams (see h2.c: why the two differ). */
#define L7_H2_LIB_MAX_STREAMS 0x7fffffffu

/* listeners[].http2 (docs/http2.md "Configuration"). */
struct l7_h2_conf {
	bool enabled;			 /* offer h2 in ALPN on TLS listeners */
	bool h2c;			 /* plaintext listeners: accept prior knowledge */
	uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
	uint32_t initial_window;	 /* SETTINGS_INITIAL_WINDOW_SIZE: body held per stream */
	uint32_t connection_window;	 /* body held per connection */
	uint32_t max_header_list;	 /* SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 §6.5.2) */
	uint32_t max_frame_size;	 /* SETTINGS_MAX_FRAME_SIZE */
	uint32_t stream_buffer;		 /* response bytes taken per stream */
	uint32_t max_requests;		 /* streams per connection, then GOAWAY; 0: no limit */
	uint32_t reset_limit;		 /* RST_STREAM (and refused streams) per reset_window */
	uint32_t reset_window_ms;
	uint32_t ping_limit;	    /* PING per flood_window */
	uint32_t settings_limit;    /* SETTINGS per flood_window */
	uint32_t empty_frame_limit; /* empty DATA, PRIORITY frames per flood_window */
	uint32_t flood_window_ms;
	uint32_t max_continuations; /* CONTINUATION frames per header block */
	uint32_t stall_timeout_ms;  /* response waiting on a zero window this long: reset */
	uint32_t shutdown_grace_ms; /* first GOAWAY to the final one */
};

void l7_h2_conf_init(struct l7_h2_conf *c);
/* Parses a `http2 = { ... }` group (h2_conf.c); NULL: the defaults. Errors
 * read "FILE:LINE: KEY: what is wrong". */
int l7_h2_conf_parse(const config_setting_t *g, struct l7_h2_conf *c, struct cfg_err *err);

/* Why the connection ended (or an abuse defence fired). */
enum l7_h2_err {
	L7_H2_OK,
	L7_H2_ERR_PREFACE,	/* not the HTTP/2 client preface */
	L7_H2_ERR_PROTOCOL,	/* a frame-level violation nghttp2 found */
	L7_H2_ERR_FLOW_CONTROL, /* the client sent beyond our window */
	L7_H2_ERR_COMPRESSION,	/* HPACK decoding failed */
	L7_H2_ERR_RAPID_RESET,	/* too many RST_STREAM / refused streams */
	L7_H2_ERR_CONTINUATION, /* too many CONTINUATION frames in a block */
	L7_H2_ERR_HEADER_FLOOD, /* header block too large, or too many fields */
	L7_H2_ERR_PING_FLOOD,
	L7_H2_ERR_SETTINGS_FLOOD,
	L7_H2_ERR_EMPTY_FLOOD, /* empty DATA or PRIORITY frames */
	L7_H2_ERR_STALLED,     /* the connection window stayed closed */
	L7_H2_ERR_FLOODED,     /* the client does not read our control frames */
	L7_H2_ERR_PEER_GOAWAY, /* the client sent GOAWAY with an error */
	L7_H2_ERR_INTERNAL,    /* out of memory, library failure */
	L7_H2_ERR__COUNT
};

const char *l7_h2_err_name(enum l7_h2_err e);
const char *l7_h2_err_text(enum l7_h2_err e);

/* Per-connection counters (the engine adds them to its metrics). */
struct l7_h2_stats {
	uint64_t streams;     /* requests surfaced */
	uint64_t refused;     /* REFUSED_STREAM sent (concurrency) */
	uint64_t resets_in;   /* RST_STREAM received */
	uint64_t resets_out;  /* RST_STREAM sent by us (l7_h2_reset, stalls) */
	uint64_t stalled;     /* streams reset for a zero window */
	uint64_t too_large;   /* header lists over max_header_list (431) */
	uint64_t body_bytes;  /* request body bytes received */
	uint64_t resp_bytes;  /* response body bytes taken */
	uint64_t goaway_sent; /* GOAWAY frames sent */
};

struct l7_h2;

/* A field of a request being received: offsets into st->hbuf. */
struct l7_h2_field {
	uint32_t noff, nlen, voff, vlen;
	bool cookie;
};

struct l7_h2_stream {
	struct l7_h2 *h2;
	struct l7_h2_stream *prev, *next;
	int32_t id;
	void *user; /* the engine's; forget the stream in on_close */
	/* the request, valid from on_request until on_close */
	struct http1_request req;
	enum http1_err perr; /* HTTP1_OK, else answer http1_err_status(perr) */
	bool surfaced;	     /* on_request was called */
	bool end_in;	     /* END_STREAM received: the body is complete */
	bool trailers;	     /* receiving the trailer block (fields dropped) */
	bool resp_started;   /* a final response head was submitted */
	bool resp_eof;	     /* the last response byte was given */
	bool deferred;	     /* nghttp2 waits for response bytes */
	bool room_wanted;    /* the engine was refused room: tell it when there is */
	bool closed;	     /* reset by us or the client */
	bool discard;	     /* the engine reads no more body (l7_h2_body_discard) */
	uint64_t body_in;    /* request body bytes received */
	struct l7_obuf body; /* received, not yet consumed */
	struct l7_obuf out;  /* response bytes not yet framed */
	uint64_t stall_since_ms;
	/* header block accumulation */
	char *hbuf;
	uint32_t hlen, hcap;
	uint32_t hsize;	  /* RFC 9113 §6.5.2 size so far */
	uint32_t nfields; /* fields decoded in this block, kept or not */
	struct l7_h2_field method, path, authority, scheme;
	struct l7_h2_field *fields; /* up to HTTP1_MAX_HEADERS */
	uint32_t nf;
};

struct l7_h2_ops {
	/* The request head is complete (st->req, st->perr; st->end_in says
	 * whether a body follows). */
	void (*on_request)(void *ctx, struct l7_h2_stream *st);
	/* Body bytes arrived or the body ended (st->end_in). */
	void (*on_body)(void *ctx, struct l7_h2_stream *st);
	/* The response buffer has room again after l7_h2_respond_body took
	 * less than offered. Optional. */
	void (*on_room)(void *ctx, struct l7_h2_stream *st);
	/* The stream is gone (error_code 0: completed; else the RST_STREAM
	 * or GOAWAY code). Only for streams that surfaced. */
	void (*on_close)(void *ctx, struct l7_h2_stream *st, uint32_t error_code);
	/* Monotonic milliseconds; NULL: log_now_ms. */
	uint64_t (*now_ms)(void *ctx);
};

struct l7_h2_rate {
	uint64_t start_ms;
	uint32_t n;
};

struct l7_h2 {
	nghttp2_session *s;
	struct l7_h2_conf conf;
	const struct l7_h2_ops *ops;
	void *ctx;
	uint64_t conn_id;
	struct l7_obuf out; /* frames to send */
	struct l7_h2_stream *streams;
	uint32_t n_streams; /* open streams we track */
	uint32_t started;   /* streams begun (max_requests) */
	struct l7_h2_rate rst, ping, settings, empty;
	uint32_t block_frames; /* HEADERS + CONTINUATION of the block being read */
	uint64_t block_bytes;
	uint64_t goaway_at_ms; /* graceful shutdown: when the final GOAWAY goes */
	uint8_t err;	       /* enum l7_h2_err */
	bool fatal;	       /* terminated: no more input is read */
	bool settings_patched;
	bool shutting_down;
	bool again;    /* an API call inside a callback wants another output pass */
	int depth;     /* nesting of l7_h2 calls and nghttp2 callbacks */
	char why[128]; /* nghttp2's message for the last error, for the log */
	struct l7_h2_stats stats;
};

/* A new connection; the server SETTINGS (and the connection window
 * update) are queued in h2->out at once. NULL on ENOMEM. conf is copied. */
struct l7_h2 *l7_h2_new(const struct l7_h2_conf *conf, const struct l7_h2_ops *ops, void *ctx,
			uint64_t conn_id);
/* Frees the session and every stream, without on_close callbacks (the
 * engine tears down its side itself). NULL-safe. */
void l7_h2_free(struct l7_h2 *h2);

/* Feeds received bytes (after TLS, or raw for h2c, preface included).
 * Returns the bytes consumed (always len) or -EPROTO when the connection
 * must end: l7_h2_reason() says why, and a GOAWAY may wait in the output
 * (send it, then close). Callbacks run inside. */
ssize_t l7_h2_recv(struct l7_h2 *h2, const uint8_t *in, size_t len);

/* Output: frames to send, in order. After a send completed, consume what
 * was sent: that lets more frames be produced. */
static inline size_t l7_h2_out_bytes(const struct l7_h2 *h2)
{
	return l7_obuf_bytes(&h2->out);
}
static inline unsigned l7_h2_out_iov(const struct l7_h2 *h2, struct iovec *iov, unsigned max)
{
	return l7_obuf_iov(&h2->out, iov, max);
}
void l7_h2_out_consume(struct l7_h2 *h2, size_t n);

/* True when the connection is over: GOAWAY exchanged (or fatal) and no
 * stream left, and nothing left to send. The engine closes it then. */
bool l7_h2_done(const struct l7_h2 *h2);

static inline enum l7_h2_err l7_h2_reason(const struct l7_h2 *h2)
{
	return (enum l7_h2_err)h2->err;
}
static inline uint32_t l7_h2_active(const struct l7_h2 *h2)
{
	return h2->n_streams;
}

/* --- responses --------------------------------------------------------------- */

/* Submits the response head of st: `head` is an HTTP/1.1 response head
 * (status line, fields, empty line; e.g. from l7_build_client_head or
 * respond.c), converted to HEADERS: hop-by-hop fields and
 * Transfer-Encoding dropped (the engine passes the body de-chunked),
 * names lowercased. A 1xx is sent as informational and a final head may
 * follow. end_stream: no body follows. Returns 0, -EBADMSG (head does not
 * parse, or is a 101: RFC 9113 §8.6), -EINVAL (stream closed or already
 * answered), -ENOMEM. */
int l7_h2_respond_head(struct l7_h2_stream *st, const uint8_t *head, size_t len, bool end_stream);

/* Takes up to n response body bytes (copied), at most what the stream
 * buffer has room for; `last` marks the end of the body once all n were
 * taken. Returns the bytes taken (0 when full: on_room follows), or
 * -EINVAL (no head yet, stream closed). n may be 0 with last. */
ssize_t l7_h2_respond_body(struct l7_h2_stream *st, const void *p, size_t n, bool last);

/* Room left in the response buffer. */
size_t l7_h2_respond_room(const struct l7_h2_stream *st);

/* Brackets several calls on the connection's streams (an exchange's
 * response pieces of one turn): frames are produced once, when the
 * outermost release returns, instead of after each call. Callbacks
 * (on_close, on_room) the calls would have caused run in that release. */
void l7_h2_hold(struct l7_h2 *h2);
void l7_h2_release(struct l7_h2 *h2);

/* --- request bodies ------------------------------------------------------------ */

/* Received body bytes not consumed yet. */
static inline size_t l7_h2_body_bytes(const struct l7_h2_stream *st)
{
	return l7_obuf_bytes(&st->body);
}
static inline unsigned l7_h2_body_iov(const struct l7_h2_stream *st, struct iovec *iov,
				      unsigned max)
{
	return l7_obuf_iov(&st->body, iov, max);
}
/* The engine is done with n body bytes (the upstream took them): they are
 * dropped and the client's window reopens by as much. */
void l7_h2_body_consume(struct l7_h2_stream *st, size_t n);
/* The engine will read no more of the body (it answered already): what
 * is held and what still arrives is consumed at once, so the client's
 * window stays open and the stream can end. */
void l7_h2_body_discard(struct l7_h2_stream *st);
/* True when the whole body was received and consumed. */
static inline bool l7_h2_body_done(const struct l7_h2_stream *st)
{
	return st->end_in && l7_obuf_empty(&st->body);
}

/* --- control ---------------------------------------------------------------------- */

/* Resets a stream (RST_STREAM with `code`, e.g. NGHTTP2_INTERNAL_ERROR
 * when the upstream failed mid-response). on_close follows. */
void l7_h2_reset(struct l7_h2_stream *st, uint32_t code);

/* GOAWAY (RFC 9113 §6.8). graceful: first with 2^31-1 so requests in
 * flight are not lost, then after conf->shutdown_grace_ms the final one
 * with the last stream we took (the engine's timer calls l7_h2_on_timer);
 * streams already taken complete. Not graceful: the final one now. */
void l7_h2_shutdown(struct l7_h2 *h2, bool graceful);

/* When l7_h2_on_timer() wants to run next (ms on the ops clock), or
 * UINT64_MAX when nothing is pending. */
uint64_t l7_h2_next_timer(const struct l7_h2 *h2);
/* Sends the final GOAWAY when its time came, resets streams stalled on a
 * zero window for stall_timeout_ms, GOAWAY when the connection window is
 * the one closed. */
void l7_h2_on_timer(struct l7_h2 *h2);

/* h2c with prior knowledge (RFC 9113 §3.3) on a plaintext listener: 1 when
 * p[0..len) starts with the client preface, 0 when it cannot, -EAGAIN when
 * it matches so far but is shorter. Pure; never reads past len. */
int l7_h2_sniff(const uint8_t *p, size_t len);

#endif
