/* Sticky cookie and hash keys (sticky.h): RFC 6265 cookie-pair parsing over
 * views, the Set-Cookie the proxy inserts, and what balance = hash hashes. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "balance.h"

#include "headers.h"
#include "http1_semantics.h"
#include "sticky.h"

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* One cookie-pair of a Cookie value, OWS-trimmed: name, value, and the
 * whole pair text (for l7_cookie_strip). */
struct cookie_pair {
	struct http1_view name, value, whole;
	bool has_eq;
};

/* Reads the pair starting at *pos; false when the value is exhausted. */
static bool next_pair(const char *s, size_t len, size_t *pos, struct cookie_pair *cp)
{
	size_t i = *pos, start, end, eq;

	while (i < len && (is_ows(s[i]) || s[i] == ';'))
		i++;
	if (i >= len)
		return false;
	start = i;
	while (i < len && s[i] != ';')
		i++;
	*pos = i;
	end = i;
	while (end > start && is_ows(s[end - 1]))
		end--;
	cp->whole = (struct http1_view){s + start, end - start};
	for (eq = start; eq < end && s[eq] != '='; eq++)
		;
	cp->has_eq = eq < end;
	cp->name = (struct http1_view){s + start, eq - start};
	while (cp->name.len && is_ows(cp->name.ptr[cp->name.len - 1]))
		cp->name.len--;
	cp->value = (struct http1_view){s + end, 0};
	if (cp->has_eq) {
		size_t v = eq + 1;

		while (v < end && is_ows(s[v]))
			v++;
		cp->value = (struct http1_view){s + v, end - v};
		/* RFC 6265 §4.1.1: cookie-value may be wrapped in DQUOTEs */
		if (cp->value.len >= 2 && cp->value.ptr[0] == '"' &&
		    cp->value.ptr[cp->value.len - 1] == '"') {
			cp->value.ptr++;
			cp->value.len -= 2;
		}
	}
	return true;
}

/* memmem() for the short needles cookie names are, without its set-up cost. */
static bool has_substring(const char *s, size_t len, const char *needle, size_t n)
{
	const char *p = s, *end = s + len;

	if (n == 0 || n > len)
		return false;
	while ((p = memchr(p, needle[0], (size_t)(end - p) - (n - 1)))) {
		if (!memcmp(p, needle, n))
			return true;
		if (++p > end - n)
			return false;
	}
	return false;
}

static bool pair_is(const struct cookie_pair *cp, const char *name, size_t name_len)
{
	return cp->has_eq && cp->name.len == name_len && !memcmp(cp->name.ptr, name, name_len);
}

bool l7_cookie_find_in(const char *s, size_t len, const char *name, size_t name_len,
		       struct http1_view *value)
{
	struct cookie_pair cp;
	size_t pos = 0;

	/* most requests do not carry the cookie asked for: one fast scan */
	if (!has_substring(s, len, name, name_len))
		return false;
	while (next_pair(s, len, &pos, &cp)) {
		if (pair_is(&cp, name, name_len)) {
			*value = cp.value;
			return true;
		}
	}
	return false;
}

static bool is_cookie_field(const struct http1_header *f)
{
	return f->name.len == 6 && l7_name_eq(f->name.ptr, "cookie", 6);
}

bool l7_cookie_find(const struct http1_request *req, const char *name, size_t name_len,
		    struct http1_view *value)
{
	for (unsigned i = 0; i < req->h.nheaders; i++) {
		const struct http1_header *f = &req->h.headers[i];

		if (is_cookie_field(f) &&
		    l7_cookie_find_in(f->value.ptr, f->value.len, name, name_len, value))
			return true;
	}
	return false;
}

int l7_cookie_strip(char *out, size_t cap, const char *s, size_t len, const char *name,
		    size_t name_len)
{
	struct cookie_pair cp;
	struct l7_wbuf w;
	size_t pos = 0;

	l7_w_init(&w, (uint8_t *)out, cap);
	while (next_pair(s, len, &pos, &cp)) {
		if (pair_is(&cp, name, name_len))
			continue;
		if (w.p != w.start)
			l7_w_lit(&w, "; ");
		l7_w_put(&w, cp.whole.ptr, cp.whole.len);
	}
	return l7_w_done(&w);
}

const struct l7_server *l7_sticky_server(const struct l7_upstream *up,
					 const struct http1_request *req)
{
	struct http1_view v;

	if (!up->sticky_cookie.len ||
	    !l7_cookie_find(req, up->sticky_cookie.ptr, up->sticky_cookie.len, &v))
		return NULL;
	return l7_config_server(up, v.ptr, v.len);
}

bool l7_sticky_must_set(const struct l7_upstream *up, const struct l7_server *named,
			const struct l7_server *chosen)
{
	return up->sticky_cookie.len && chosen && named != chosen;
}

int l7_sticky_set_cookie(uint8_t *out, size_t cap, const struct l7_upstream *up,
			 const struct l7_server *srv)
{
	struct l7_wbuf w;

	l7_w_init(&w, out, cap);
	l7_w_lit(&w, "Set-Cookie: ");
	l7_w_put(&w, up->sticky_cookie.ptr, up->sticky_cookie.len);
	l7_w_byte(&w, '=');
	l7_w_put(&w, srv->name.ptr, srv->name.len);
	l7_w_lit(&w, "; Path=/\r\n");
	/* HAProxy's "nocache": a shared cache must not store the cookie
	 * (RFC 9111 §5.2.2.4, no-cache with a field name) */
	l7_w_lit(&w, "Cache-Control: no-cache=\"set-cookie\"\r\n");
	return l7_w_done(&w);
}

static void key_client_ip(const struct addr *client, struct l7_hash_key_view *out)
{
	struct addr a;

	out->kind = L7_HASH_CLIENT_IP;
	out->ptr = out->buf;
	out->len = 0;
	if (!client)
		return;
	a = *client;
	addr_normalize(&a); /* v4-mapped hashes like the IPv4 address */
	if (addr_family(&a) == AF_INET) {
		memcpy(out->buf, &a.u.in4.sin_addr, 4);
		out->len = 4;
	} else if (addr_family(&a) == AF_INET6) {
		memcpy(out->buf, &a.u.in6.sin6_addr, 16);
		out->len = 16;
	}
}

static bool key_header(const struct l7_upstream *up, const struct http1_request *req,
		       struct l7_hash_key_view *out)
{
	for (unsigned i = 0; i < req->h.nheaders; i++) {
		const struct http1_header *f = &req->h.headers[i];

		if (f->name.len == up->hash_name.len &&
		    l7_name_eq(f->name.ptr, up->hash_name.ptr, f->name.len)) {
			out->ptr = (const uint8_t *)f->value.ptr;
			out->len = f->value.len;
			out->kind = L7_HASH_HEADER;
			return true;
		}
	}
	return false;
}

void l7_hash_key(const struct l7_upstream *up, const struct http1_request *req,
		 const struct addr *client, struct l7_hash_key_view *out)
{
	struct http1_view v;

	if (up->hash_key == L7_HASH_HEADER && key_header(up, req, out))
		return;
	if (up->hash_key == L7_HASH_COOKIE &&
	    l7_cookie_find(req, up->hash_name.ptr, up->hash_name.len, &v)) {
		out->ptr = (const uint8_t *)v.ptr;
		out->len = v.len;
		out->kind = L7_HASH_COOKIE;
		return;
	}
	/* no such header or cookie: the client address keeps the choice stable */
	key_client_ip(client, out);
}

uint64_t l7_hash_request(const struct l7_upstream *up, const struct http1_request *req,
			 const struct addr *client)
{
	struct l7_hash_key_view k;
	struct addr a;

	l7_hash_key(up, req, client, &k);
	if (k.kind != L7_HASH_CLIENT_IP)
		return balance_key_bytes(k.ptr, k.len);
	if (!client)
		return balance_key_bytes(NULL, 0);
	a = *client;
	addr_normalize(&a);
	return balance_key_addr(addr_sockaddr(&a), false);
}
