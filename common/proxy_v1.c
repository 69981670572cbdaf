/* PROXY protocol v1 (text line) decoder and encoder; see proxy.h.
 *
 * Spec: haproxy doc/proxy-protocol.txt §2.1. The decoder runs in stages on
 * whatever bytes have arrived: the "PROXY " signature and the protocol token
 * are checked byte by byte, then the line is scanned for its CRLF, refusing a
 * character that cannot belong to the field it is in as soon as it is seen;
 * only once the CRLF is in are the fields converted (§2.1: "The receiver must
 * wait for the CRLF sequence before starting to decode the addresses").
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#define PPV1_TOK_OFF	 PPV1_SIG_LEN /* the protocol token follows "PROXY " */
#define PPV1_FIELDS	 4	      /* src dst sport dport */
#define PPV1_IP6_MAXLEN	 39	      /* 8 groups of 4 digits, 7 colons */
#define PPV1_PORT_MAXLEN 5

enum v1_proto { V1_TCP4, V1_TCP6, V1_UNKNOWN };

static const char ppv1_sig[PPV1_SIG_LEN] = "PROXY ";

static int fail(enum proxy_err *why, enum proxy_err err)
{
	*why = err;
	return -EBADMSG;
}

bool ppv1_sig_prefix(const uint8_t *buf, size_t len)
{
	/* len 0 may come with buf == NULL, which memcmp() must not see */
	return len == 0 || memcmp(buf, ppv1_sig, len < PPV1_SIG_LEN ? len : PPV1_SIG_LEN) == 0;
}

/* Stage 2: "TCP4 ", "TCP6 " or "UNKNOWN" followed by SP or the line end.
 * Returns the offset where the rest of the line starts, -EAGAIN or a failure. */
static int check_proto(const uint8_t *buf, size_t len, enum v1_proto *proto, enum proxy_err *why)
{
	static const struct {
		const char *tok;
		size_t n;
		enum v1_proto proto;
	} toks[] = {{"TCP4 ", 5, V1_TCP4}, {"TCP6 ", 5, V1_TCP6}, {"UNKNOWN", 7, V1_UNKNOWN}};
	const uint8_t *t = buf + PPV1_TOK_OFF;
	size_t avail = len - PPV1_TOK_OFF;

	for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
		size_t n = avail < toks[i].n ? avail : toks[i].n;

		if (memcmp(t, toks[i].tok, n) != 0)
			continue;
		if (avail < toks[i].n)
			return -EAGAIN; /* still a prefix of this token */
		*proto = toks[i].proto;
		if (toks[i].proto != V1_UNKNOWN)
			return PPV1_TOK_OFF + 5;
		if (avail == 7)
			return -EAGAIN;
		/* "UNKNOWNX" is another token; CR and LF go to the line scan. */
		if (t[7] != ' ' && t[7] != '\r' && t[7] != '\n')
			break;
		return PPV1_TOK_OFF + 7;
	}
	return fail(why, PROXY_ERR_V1_PROTO);
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(uint8_t c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Address fields may hold either family's characters so that an address of
 * the wrong family is reported as such once the line is complete. */
static bool is_addr_char(uint8_t c)
{
	return is_hex(c) || c == '.' || c == ':';
}

/* Stage 3: finds the CRLF within PPV1_MAX_LINE bytes. For TCP4/TCP6 each
 * byte must fit its field (and there are at most four fields); for UNKNOWN
 * the rest is ignored (§2.1) but a lone CR or LF is still refused. */
static int scan_line(const uint8_t *buf, size_t len, size_t start, bool tcp, size_t *line_len,
		     enum proxy_err *why)
{
	size_t end = len < PPV1_MAX_LINE ? len : PPV1_MAX_LINE;
	unsigned int field = 0;

	for (size_t i = start; i < end; i++) {
		uint8_t c = buf[i];

		if (c == '\n') /* §2.1: "must not tolerate a single CR or LF" */
			return fail(why, PROXY_ERR_V1_BARE_LF);
		if (c == '\r') {
			if (i + 1 >= PPV1_MAX_LINE)
				return fail(why, PROXY_ERR_V1_TOO_LONG);
			if (i + 1 >= len)
				return -EAGAIN;
			if (buf[i + 1] != '\n')
				return fail(why, PROXY_ERR_V1_CRLF);
			*line_len = i + 2;
			return 0;
		}
		if (!tcp)
			continue;
		if (c == ' ') {
			if (++field >= PPV1_FIELDS)
				return fail(why, PROXY_ERR_V1_FIELDS);
		} else if (field < 2 && !is_addr_char(c)) {
			return fail(why, PROXY_ERR_V1_ADDR);
		} else if (field >= 2 && !is_digit(c)) {
			return fail(why, PROXY_ERR_V1_PORT);
		}
	}
	/* §2.1: "If the CRLF sequence is not found in the first 107 characters,
	 * the receiver should declare the line invalid." */
	return len >= PPV1_MAX_LINE ? fail(why, PROXY_ERR_V1_TOO_LONG) : -EAGAIN;
}

/* §2.1: exactly four decimal integers 0..255 separated by single dots;
 * "Heading zeroes are not permitted" (no octal confusion). */
static bool parse_ip4(const uint8_t *s, size_t n, struct in_addr *out)
{
	uint8_t b[4];
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned int v = 0;
		size_t start;

		if (part > 0 && (i >= n || s[i++] != '.'))
			return false;
		start = i;
		while (i < n && is_digit(s[i]) && i - start < 3)
			v = v * 10 + (unsigned int)(s[i++] - '0');
		if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
			return false;
		b[part] = (uint8_t)v;
	}
	if (i != n)
		return false;
	memcpy(out, b, 4);
	return true;
}

/* §2.1: groups of hex digits separated by colons, one "::" at most, 128 bits
 * in all. inet_pton() also takes an embedded dotted quad ("::ffff:1.2.3.4")
 * and, on some libcs, a zone suffix; the spec allows neither, so only hex
 * digits and colons get that far. */
static bool parse_ip6(const uint8_t *s, size_t n, struct in6_addr *out)
{
	char tmp[PPV1_IP6_MAXLEN + 1];

	if (n < 2 || n > PPV1_IP6_MAXLEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_hex(s[i]) && s[i] != ':')
			return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1;
}

/* §2.1: decimal 0..65535 without heading zeroes. */
static bool parse_port(const uint8_t *s, size_t n, in_port_t *out)
{
	unsigned int v = 0;

	if (n == 0 || n > PPV1_PORT_MAXLEN || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = htons((uint16_t)v);
	return true;
}

static enum proxy_err take_addr(const uint8_t *s, size_t n, bool v6, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct in6_addr a6;
	struct in_addr a4;

	if (v6) {
		s6->sin6_family = AF_INET6;
		if (parse_ip6(s, n, &s6->sin6_addr))
			return PROXY_ERR_NONE;
		return parse_ip4(s, n, &a4) ? PROXY_ERR_V1_FAMILY : PROXY_ERR_V1_ADDR;
	}
	s4->sin_family = AF_INET;
	if (parse_ip4(s, n, &s4->sin_addr))
		return PROXY_ERR_NONE;
	return parse_ip6(s, n, &a6) ? PROXY_ERR_V1_FAMILY : PROXY_ERR_V1_ADDR;
}

/* Stage 4: the complete line "src dst sport dport" (from `start` to the CR). */
static enum proxy_err parse_fields(const uint8_t *s, size_t n, bool v6, struct proxy_hdr *out)
{
	const uint8_t *f[PPV1_FIELDS];
	size_t flen[PPV1_FIELDS], k = 0;
	enum proxy_err e;
	in_port_t sport, dport;

	f[0] = s;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != ' ')
			continue;
		flen[k] = (size_t)(s + i - f[k]); /* the scan allowed at most 3 spaces */
		f[++k] = s + i + 1;
	}
	if (k != PPV1_FIELDS - 1)
		return PROXY_ERR_V1_FIELDS;
	flen[k] = (size_t)(s + n - f[k]);
	e = take_addr(f[0], flen[0], v6, &out->src);
	if (e == PROXY_ERR_NONE)
		e = take_addr(f[1], flen[1], v6, &out->dst);
	if (e != PROXY_ERR_NONE)
		return e;
	if (!parse_port(f[2], flen[2], &sport) || !parse_port(f[3], flen[3], &dport))
		return PROXY_ERR_V1_PORT;
	if (v6) {
		((struct sockaddr_in6 *)&out->src)->sin6_port = sport;
		((struct sockaddr_in6 *)&out->dst)->sin6_port = dport;
	} else {
		((struct sockaddr_in *)&out->src)->sin_port = sport;
		((struct sockaddr_in *)&out->dst)->sin_port = dport;
	}
	out->family = v6 ? AF_INET6 : AF_INET;
	out->socktype = SOCK_STREAM;
	out->src_len = out->dst_len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	out->has_addr = true;
	return PROXY_ERR_NONE;
}

int ppv1_decode(const uint8_t *buf, size_t len, struct proxy_hdr *out, enum proxy_err *why)
{
	enum v1_proto proto = V1_UNKNOWN;
	size_t line_len = 0;
	enum proxy_err e;
	int start, rc;

	*why = PROXY_ERR_NONE;
	if (!ppv1_sig_prefix(buf, len))
		return fail(why, PROXY_ERR_SIG);
	if (len <= PPV1_TOK_OFF)
		return -EAGAIN;
	start = check_proto(buf, len, &proto, why);
	if (start < 0)
		return start;
	rc = scan_line(buf, len, (size_t)start, proto != V1_UNKNOWN, &line_len, why);
	if (rc < 0)
		return rc;

	memset(out, 0, sizeof(*out));
	out->version = 1;
	out->cmd = PROXY_CMD_PROXY;
	out->family = AF_UNSPEC;
	out->hdr_len = line_len;
	/* §2.1: for UNKNOWN the receiver "must ignore anything presented
	 * before the CRLF" and uses the real connection's addresses. */
	if (proto != V1_UNKNOWN) {
		e = parse_fields(buf + start, line_len - 2 - (size_t)start, proto == V1_TCP6, out);
		if (e != PROXY_ERR_NONE)
			return fail(why, e);
	}
	return (int)line_len;
}

/* --- encoder --------------------------------------------------------------- */

static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_dec(char *p, unsigned int v)
{
	char tmp[5];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_ip4(char *p, const struct in_addr *a)
{
	const uint8_t *b = (const uint8_t *)a;

	for (int i = 0; i < 4; i++) {
		if (i)
			*p++ = '.';
		p = put_dec(p, b[i]);
	}
	return p;
}

/* RFC 5952 text: lower-case hex without heading zeroes, the longest run of
 * two or more zero groups (the first on a tie) as "::". Never the dotted
 * form inet_ntop() picks for mapped addresses, which §2.1 does not allow. */
static char *put_ip6(char *p, const uint8_t *b)
{
	static const char hex[] = "0123456789abcdef";
	int best = -1, best_n = 0, run = 0;

	for (int i = 0; i < 8; i++) {
		run = (b[2 * i] | b[2 * i + 1]) ? 0 : run + 1;
		if (run > best_n && run >= 2) {
			best_n = run;
			best = i - run + 1;
		}
	}
	for (int i = 0; i < 8; i++) {
		unsigned int g = (unsigned int)(b[2 * i] << 8 | b[2 * i + 1]);
		bool lead = true;

		if (i == best) {
			p = put_str(p, "::", 2);
			i += best_n - 1;
			continue;
		}
		if (i && i != best + best_n)
			*p++ = ':';
		for (int sh = 12; sh >= 0; sh -= 4) {
			unsigned int d = (g >> sh) & 0xf;

			if (d || !lead || sh == 0) {
				*p++ = hex[d];
				lead = false;
			}
		}
	}
	return p;
}

/* The 16 address bytes of an IPv6 socket address, or of an IPv4 one mapped
 * to ::ffff:a.b.c.d. Returns the port (network order). */
static in_port_t as_in6(const struct sockaddr *sa, uint8_t b[16])
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		memset(b, 0, 10);
		b[10] = b[11] = 0xff;
		memcpy(b + 12, &s4->sin_addr, 4);
		return s4->sin_port;
	}
	memcpy(b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	return ((const struct sockaddr_in6 *)sa)->sin6_port;
}

static bool is_ip(const struct sockaddr *sa)
{
	return sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

int ppv1_encode(char *buf, size_t cap, const struct sockaddr *src, const struct sockaddr *dst)
{
	char line[PPV1_MAX_LINE + 1], *p = line;
	in_port_t sport = 0, dport = 0;

	if (!is_ip(src) || !is_ip(dst)) {
		p = put_str(p, "PROXY UNKNOWN", 13);
	} else if (src->sa_family == AF_INET && dst->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)src, *d = (const void *)dst;

		p = put_str(p, "PROXY TCP4 ", 11);
		p = put_ip4(p, &s->sin_addr);
		*p++ = ' ';
		p = put_ip4(p, &d->sin_addr);
		sport = s->sin_port;
		dport = d->sin_port;
	} else {
		uint8_t a[16];

		p = put_str(p, "PROXY TCP6 ", 11);
		sport = as_in6(src, a);
		p = put_ip6(p, a);
		*p++ = ' ';
		dport = as_in6(dst, a);
		p = put_ip6(p, a);
	}
	if (is_ip(src) && is_ip(dst)) {
		*p++ = ' ';
		p = put_dec(p, ntohs(sport));
		*p++ = ' ';
		p = put_dec(p, ntohs(dport));
	}
	p = put_str(p, "\r\n", 2);
	if ((size_t)(p - line) > cap)
		return -ENOSPC;
	memcpy(buf, line, (size_t)(p - line));
	return (int)(p - line);
}
