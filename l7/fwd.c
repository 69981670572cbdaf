/* Forwarding headers (fwd.h): who the client is, as told to the upstream.
 * Policy and the trust table are in fwd.h and docs/l7-config.md. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cidr.h"

#include "fwd.h"
#include "http1_semantics.h"

static const char hexd[] = "0123456789abcdef";

int l7_fwd_header_kind(const char *name, size_t len)
{
	/* every received field comes through here: reject on the first byte */
	char c = len ? (char)(name[0] | 0x20) : 0;

	if (c != 'x' && c != 'f')
		return -1;
	switch (len) {
	case 9:
		if (http1_token_eq(name, len, "x-real-ip"))
			return L7_FWD_REAL_IP;
		return http1_token_eq(name, len, "forwarded") ? L7_FWD_FORWARDED : -1;
	case 12:
		return http1_token_eq(name, len, "x-request-id") ? L7_FWD_REQUEST_ID : -1;
	case 15:
		return http1_token_eq(name, len, "x-forwarded-for") ? L7_FWD_XFF : -1;
	case 16:
		return http1_token_eq(name, len, "x-forwarded-host") ? L7_FWD_HOST : -1;
	case 17:
		return http1_token_eq(name, len, "x-forwarded-proto") ? L7_FWD_PROTO : -1;
	default:
		return -1;
	}
}

static bool is_trusted(const struct l7_req_ctx *ctx)
{
	return ctx->client && ctx->listener->trusted_forwarders.n &&
	       cidr_list_match(&ctx->listener->trusted_forwarders, ctx->client);
}

bool l7_fwd_keep_received(const struct l7_req_ctx *ctx, enum l7_fwd_hdr kind)
{
	if (!is_trusted(ctx))
		return false; /* never trust a client's own (DESIGN.md) */
	if (!(ctx->listener->fwd & (1u << kind)))
		return true; /* off: a trusted forwarder's header passes as is */
	/* on: the two list-valued headers are rewritten extended, the others
	 * kept as the forwarder wrote them */
	return kind != L7_FWD_XFF && kind != L7_FWD_FORWARDED;
}

/* --- request ids ----------------------------------------------------------- */

static pthread_once_t epoch_once = PTHREAD_ONCE_INIT;
static uint32_t epoch;
static atomic_uint next_thread;
static __thread uint64_t tl_counter;
static __thread uint32_t tl_thread;

static void epoch_init(void)
{
	/* a random process epoch keeps ids from repeating across restarts */
	if (getrandom(&epoch, sizeof(epoch), GRND_NONBLOCK) != sizeof(epoch))
		epoch = (uint32_t)time(NULL) ^ (uint32_t)clock();
}

static void put_hex(struct l7_wbuf *w, uint64_t v)
{
	char tmp[16];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = hexd[v & 15];
		v >>= 4;
	} while (v);
	l7_w_put(w, tmp + sizeof(tmp) - n, n);
}

static void generate_id(struct l7_wbuf *w, const struct l7_snapshot *snap)
{
	pthread_once(&epoch_once, epoch_init);
	if (!tl_thread) /* a per-thread number: unique ids with no shared counter */
		tl_thread = atomic_fetch_add_explicit(&next_thread, 1, memory_order_relaxed) + 1;
	if (snap && snap->node_name.len) {
		l7_w_put(w, snap->node_name.ptr, snap->node_name.len);
		l7_w_byte(w, '-');
	}
	for (int s = 28; s >= 0; s -= 4)
		l7_w_byte(w, (uint8_t)hexd[(epoch >> s) & 15]);
	l7_w_byte(w, '-');
	put_hex(w, tl_thread);
	l7_w_byte(w, '-');
	put_hex(w, ++tl_counter);
}

size_t l7_request_id(char *out, size_t cap, const struct l7_snapshot *snap,
		     const uint8_t *unique_id, size_t unique_id_len, uint64_t request_seq)
{
	struct l7_wbuf w;

	l7_w_init(&w, (uint8_t *)out, cap < L7_REQUEST_ID_MAX ? cap : L7_REQUEST_ID_MAX);
	if (unique_id && unique_id_len) {
		if (unique_id_len > PPV2_UNIQUE_ID_MAX)
			unique_id_len = PPV2_UNIQUE_ID_MAX;
		/* the TLV is opaque bytes; a header value must be printable */
		for (size_t i = 0, run = 0; i < unique_id_len; i = ++run) {
			uint8_t c;

			while (run < unique_id_len && unique_id[run] > 0x20 &&
			       unique_id[run] < 0x7f && unique_id[run] != '%')
				run++;
			l7_w_put(&w, unique_id + i, run - i);
			if (run == unique_id_len)
				break;
			c = unique_id[run];
			l7_w_byte(&w, '%');
			l7_w_byte(&w, (uint8_t)hexd[c >> 4]);
			l7_w_byte(&w, (uint8_t)hexd[c & 15]);
		}
	} else {
		generate_id(&w, snap);
	}
	if (request_seq > 1) {
		l7_w_byte(&w, '-');
		l7_w_u64(&w, request_seq);
	}
	return w.overflow ? 0 : (size_t)(w.p - w.start);
}

/* --- writing --------------------------------------------------------------- */

/* The client's IP as text, made once per request. IPv4 (the common case) is
 * formatted here: inet_ntop() goes through sprintf and cost more than the
 * rest of the forwarding headers together. */
struct fwd_ip {
	char text[INET6_ADDRSTRLEN];
	int len; /* <= 0: no IP (AF_UNIX, unset) */
	bool v6;
};

static char *put_octet(char *p, unsigned v)
{
	if (v >= 100) {
		*p++ = (char)('0' + v / 100);
		v %= 100;
		*p++ = (char)('0' + v / 10);
	} else if (v >= 10) {
		*p++ = (char)('0' + v / 10);
	}
	*p++ = (char)('0' + v % 10);
	return p;
}

static void format_ip(const struct addr *client, struct fwd_ip *ip)
{
	struct addr a;

	ip->len = -1;
	ip->v6 = false;
	if (!client)
		return;
	a = *client;
	addr_normalize(&a); /* one form per client: ::ffff:a.b.c.d is a.b.c.d */
	if (addr_family(&a) == AF_INET) {
		const uint8_t *b = (const uint8_t *)&a.u.in4.sin_addr;
		char *p = ip->text;

		for (int i = 0; i < 4; i++) {
			if (i)
				*p++ = '.';
			p = put_octet(p, b[i]);
		}
		ip->len = (int)(p - ip->text);
		return;
	}
	ip->v6 = addr_family(&a) == AF_INET6;
	ip->len = addr_format_ip(&a, ip->text, sizeof(ip->text));
}

int l7_fwd_node(char *out, size_t cap, const struct addr *a, bool with_port)
{
	char ip[INET6_ADDRSTRLEN];
	struct l7_wbuf w;
	int n = a ? addr_format_ip(a, ip, sizeof(ip)) : -1;
	bool v6 = a && addr_family(a) == AF_INET6;

	l7_w_init(&w, (uint8_t *)out, cap);
	if (n <= 0) {
		l7_w_lit(&w, "unknown"); /* RFC 7239 §6.2 */
		return l7_w_done(&w);
	}
	/* RFC 7239 §6: IPv6 and ports need the quoted-string form */
	if (v6 || with_port)
		l7_w_byte(&w, '"');
	if (v6)
		l7_w_byte(&w, '[');
	l7_w_put(&w, ip, (size_t)n);
	if (v6)
		l7_w_byte(&w, ']');
	if (with_port) {
		l7_w_byte(&w, ':');
		l7_w_u64(&w, addr_port(a));
	}
	if (v6 || with_port)
		l7_w_byte(&w, '"');
	return l7_w_done(&w);
}

/* Received values of one kind, each followed by ", " (for extending). */
static void put_received(struct l7_wbuf *w, const struct http1_request *req, enum l7_fwd_hdr kind)
{
	for (unsigned i = 0; i < req->h.nheaders; i++) {
		const struct http1_header *f = &req->h.headers[i];

		if (f->value.len && l7_fwd_header_kind(f->name.ptr, f->name.len) == (int)kind) {
			l7_w_put(w, f->value.ptr, f->value.len);
			l7_w_lit(w, ", ");
		}
	}
}

static bool has_received(const struct http1_request *req, enum l7_fwd_hdr kind)
{
	for (unsigned i = 0; i < req->h.nheaders; i++) {
		const struct http1_header *f = &req->h.headers[i];

		if (l7_fwd_header_kind(f->name.ptr, f->name.len) == (int)kind)
			return true;
	}
	return false;
}

/* RFC 7239 §4: host= as a token when it is one, else quoted. Host values
 * never hold DQUOTE or backslash (RFC 3986 reg-name), so quoting is enough. */
static void put_forwarded_host(struct l7_wbuf *w, const struct http1_view *h)
{
	bool token = true;

	for (size_t i = 0; i < h->len && token; i++)
		token = http1_cclass[(uint8_t)h->ptr[i]] & HTTP1_C_TCHAR;
	if (!token)
		l7_w_byte(w, '"');
	l7_w_put(w, h->ptr, h->len);
	if (!token)
		l7_w_byte(w, '"');
}

static void put_forwarded(struct l7_wbuf *w, const struct l7_req_ctx *ctx, const struct fwd_ip *ip,
			  bool trusted)
{
	char node[ADDR_STR_MAX + 8];
	int n;

	l7_w_lit(w, "Forwarded: ");
	if (trusted) /* RFC 7239 §4: a proxy appends its element to the list */
		put_received(w, ctx->req, L7_FWD_FORWARDED);
	l7_w_lit(w, "for=");
	if (ip->len <= 0) {
		l7_w_lit(w, "unknown"); /* RFC 7239 §6.2 */
	} else if (ip->v6) {		/* §6: IPv6 is quoted and bracketed */
		l7_w_lit(w, "\"[");
		l7_w_put(w, ip->text, (size_t)ip->len);
		l7_w_lit(w, "]\"");
	} else {
		l7_w_put(w, ip->text, (size_t)ip->len);
	}
	if (ctx->listener->forwarded_by && ctx->local) {
		l7_w_lit(w, ";by=");
		n = l7_fwd_node(node, sizeof(node), ctx->local, true);
		l7_w_put(w, node, n > 0 ? (size_t)n : 0);
	}
	if (ctx->req->host.len) {
		l7_w_lit(w, ";host=");
		put_forwarded_host(w, &ctx->req->host);
	}
	if (ctx->https)
		l7_w_lit(w, ";proto=https\r\n");
	else
		l7_w_lit(w, ";proto=http\r\n");
}

static void put_request_id(struct l7_wbuf *w, const struct l7_req_ctx *ctx)
{
	char id[L7_REQUEST_ID_MAX];
	size_t n;

	if (ctx->request_id) {
		l7_w_field(w, "X-Request-Id", 12, ctx->request_id, ctx->request_id_len);
		return;
	}
	n = l7_request_id(id, sizeof(id), ctx->snap, ctx->unique_id, ctx->unique_id_len,
			  ctx->request_seq);
	l7_w_field(w, "X-Request-Id", 12, id, n);
}

int l7_fwd_write(uint8_t *out, size_t cap, const struct l7_req_ctx *ctx, uint32_t skip_mask)
{
	uint32_t on = ctx->listener->fwd & ~skip_mask;
	bool trusted;
	struct fwd_ip ip;
	struct l7_wbuf w;
	int n;

	l7_w_init(&w, out, cap);
	if (!on)
		return 0;
	trusted = is_trusted(ctx);
	format_ip(ctx->client, &ip);
	n = ip.len;
	/* a kept (trusted) single-valued header is not written a second time */
#define WANT(k) ((on & (1u << (k))) && !(trusted && has_received(ctx->req, (k))))
	if ((on & (1u << L7_FWD_XFF)) && n > 0) {
		l7_w_lit(&w, "X-Forwarded-For: ");
		if (trusted)
			put_received(&w, ctx->req, L7_FWD_XFF);
		l7_w_put(&w, ip.text, (size_t)n);
		l7_w_lit(&w, "\r\n");
	}
	if (WANT(L7_FWD_REAL_IP) && n > 0)
		l7_w_field(&w, "X-Real-IP", 9, ip.text, (size_t)n);
	if (WANT(L7_FWD_PROTO))
		l7_w_field(&w, "X-Forwarded-Proto", 17, ctx->https ? "https" : "http",
			   ctx->https ? 5 : 4);
	if (WANT(L7_FWD_HOST) && ctx->req->host.len)
		l7_w_field(&w, "X-Forwarded-Host", 16, ctx->req->host.ptr, ctx->req->host.len);
	if (on & (1u << L7_FWD_FORWARDED))
		put_forwarded(&w, ctx, &ip, trusted);
	if (WANT(L7_FWD_REQUEST_ID))
		put_request_id(&w, ctx);
#undef WANT
	return l7_w_done(&w);
}
