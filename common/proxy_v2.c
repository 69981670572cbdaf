/* PROXY protocol v2 (binary) decoder and encoder; see proxy.h.
 *
 * Spec: haproxy doc/proxy-protocol.txt §2.2. The decoder is staged: each
 * stage needs a known number of bytes and either decides (pass or a definite
 * error) or asks for more, so a header fed one byte at a time gets exactly
 * the verdict of the whole header, and a wrong byte is reported as soon as it
 * has arrived.
 */
#include "proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include "crc32c.h"

#define PPV2_TLV_HDR_LEN   3 /* type, length_hi, length_lo */
#define PPV2_CRC_TLV_LEN   (PPV2_TLV_HDR_LEN + 4)
#define PPV2_MAX_LEN_FIELD 0xffff

static const uint8_t ppv2_sig[PPV2_SIG_LEN] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
					       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static int fail(enum proxy_err *why, enum proxy_err err)
{
	*why = err;
	return err == PROXY_ERR_TOO_BIG ? -E2BIG : -EBADMSG;
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

bool ppv2_sig_prefix(const uint8_t *buf, size_t len)
{
	/* len 0 may come with buf == NULL, which memcmp() must not see */
	return len == 0 || memcmp(buf, ppv2_sig, len < PPV2_SIG_LEN ? len : PPV2_SIG_LEN) == 0;
}

/* §2.2: the address block has a defined size only when both the family and
 * the transport are given; with either half UNSPEC the receiver "should
 * ignore address information", and TLVs start right after the 16 bytes (this
 * is what HAProxy sends for LOCAL health checks: fam 0x00, then TLVs). */
static size_t addr_block_len(uint8_t fam)
{
	if ((fam & 0x0f) == 0)
		return 0;
	switch (fam >> 4) {
	case 1:
		return PPV2_ADDR_LEN_INET;
	case 2:
		return PPV2_ADDR_LEN_INET6;
	case 3:
		return PPV2_ADDR_LEN_UNIX;
	default:
		return 0;
	}
}

/* --- TLVs ------------------------------------------------------------------ */

/* Reads the TLV at *pos of area into type/value and advances *pos; false
 * when it does not fit in the area. */
static bool tlv_at(struct proxy_view area, size_t *pos, uint8_t *type, struct proxy_view *value)
{
	size_t p = *pos, vlen;

	if (area.len - p < PPV2_TLV_HDR_LEN)
		return false;
	vlen = get_be16(area.ptr + p + 1);
	if (area.len - p - PPV2_TLV_HDR_LEN < vlen)
		return false;
	*type = area.ptr[p];
	value->ptr = area.ptr + p + PPV2_TLV_HDR_LEN;
	value->len = vlen;
	*pos = p + PPV2_TLV_HDR_LEN + vlen;
	return true;
}

bool ppv2_tlv_next(struct proxy_view area, size_t *pos, uint8_t *type, struct proxy_view *value)
{
	if (area.ptr == NULL || *pos >= area.len)
		return false;
	return tlv_at(area, pos, type, value);
}

/* Single-valued TLVs: a second copy would leave the receiver to guess which
 * one the sender meant (two AUTHORITY values could route one way and log
 * another), so it is refused. */
static enum proxy_err set_once(struct proxy_view *slot, struct proxy_view v)
{
	if (slot->ptr)
		return PROXY_ERR_TLV_DUP;
	*slot = v;
	return PROXY_ERR_NONE;
}

/* §2.2.6: client (1 byte), verify (4 bytes), then sub-TLVs filling the rest
 * exactly. A sub-TLV that does not fit is an inconsistent SSL length. */
static enum proxy_err parse_ssl(struct proxy_view v, struct ppv2_ssl *ssl)
{
	struct proxy_view subs, sv;
	size_t pos = 0;
	uint8_t type;
	enum proxy_err e = PROXY_ERR_NONE;

	if (ssl->present)
		return PROXY_ERR_TLV_DUP;
	if (v.len < PPV2_SSL_FIXED_LEN)
		return PROXY_ERR_TLV_LEN;
	ssl->present = true;
	ssl->client = v.ptr[0];
	ssl->verify = get_be32(v.ptr + 1);
	subs.ptr = v.ptr + PPV2_SSL_FIXED_LEN;
	subs.len = v.len - PPV2_SSL_FIXED_LEN;
	while (pos < subs.len && e == PROXY_ERR_NONE) {
		if (!tlv_at(subs, &pos, &type, &sv))
			return PROXY_ERR_TLV_LEN;
		switch (type) {
		case PP2_SUBTYPE_SSL_VERSION:
			e = set_once(&ssl->version, sv);
			break;
		case PP2_SUBTYPE_SSL_CN:
			e = set_once(&ssl->cn, sv);
			break;
		case PP2_SUBTYPE_SSL_CIPHER:
			e = set_once(&ssl->cipher, sv);
			break;
		case PP2_SUBTYPE_SSL_SIG_ALG:
			e = set_once(&ssl->sig_alg, sv);
			break;
		case PP2_SUBTYPE_SSL_KEY_ALG:
			e = set_once(&ssl->key_alg, sv);
			break;
		default: /* unknown sub-TLVs are skipped, like unknown TLVs */
			break;
		}
	}
	return e;
}

/* Checks one TLV whose type and length are known. Only the SSL TLV looks at
 * its value here (the caller waits for it); the CRC value is read once the
 * whole header is in. */
static enum proxy_err take_tlv(struct proxy_hdr *out, uint8_t type, struct proxy_view v)
{
	switch (type) {
	case PP2_TYPE_ALPN:
		return set_once(&out->alpn, v);
	case PP2_TYPE_AUTHORITY:
		return set_once(&out->authority, v);
	case PP2_TYPE_CRC32C:
		/* §2.2.3: "a 32-bit number"; HAProxy sends it in network order. */
		if (v.len != 4)
			return PROXY_ERR_CRC_LEN;
		if (out->has_crc32c)
			return PROXY_ERR_TLV_DUP;
		out->has_crc32c = true;
		return PROXY_ERR_NONE;
	case PP2_TYPE_UNIQUE_ID:
		if (v.len > PPV2_UNIQUE_ID_MAX) /* §2.2.5: up to 128 bytes */
			return PROXY_ERR_TLV_LEN;
		return set_once(&out->unique_id, v);
	case PP2_TYPE_SSL:
		return parse_ssl(v, &out->ssl);
	case PP2_TYPE_NETNS:
		return set_once(&out->netns, v);
	case PP2_TYPE_STRATA_NODE:
		return set_once(&out->node, v);
	default: /* NOOP (§2.2.4) and anything unknown: skip */
		return PROXY_ERR_NONE;
	}
}

/* Walks the TLV area as far as its bytes have arrived (`avail` of them) and
 * checks each TLV as soon as its type and length are in, so a bad length is
 * refused before the rest of the header is waited for. Returns 0 once every
 * TLV was checked, -EAGAIN, or a failure. */
static int parse_tlvs(struct proxy_hdr *out, size_t avail, enum proxy_err *why)
{
	const struct proxy_view area = out->tlvs;
	size_t pos = 0;
	struct proxy_view v;
	enum proxy_err e;
	uint8_t type;

	while (pos < area.len) {
		if (area.len - pos < PPV2_TLV_HDR_LEN)
			return fail(why, PROXY_ERR_TRUNCATED);
		if (avail < pos + PPV2_TLV_HDR_LEN)
			return -EAGAIN;
		type = area.ptr[pos];
		v.ptr = area.ptr + pos + PPV2_TLV_HDR_LEN;
		v.len = get_be16(area.ptr + pos + 1);
		if (area.len - pos - PPV2_TLV_HDR_LEN < v.len)
			return fail(why, PROXY_ERR_TLV_OVERRUN);
		if (type == PP2_TYPE_SSL && avail < pos + PPV2_TLV_HDR_LEN + v.len)
			return -EAGAIN;
		e = take_tlv(out, type, v);
		if (e != PROXY_ERR_NONE)
			return fail(why, e);
		out->n_tlvs++;
		pos += PPV2_TLV_HDR_LEN + v.len;
	}
	return 0;
}

/* §2.2.3: the CRC covers the whole header with the checksum field zeroed.
 * The buffer is the caller's and read-only, so the CRC runs over the bytes
 * before the field, four zeros, and the bytes after it. Stores the value. */
static bool crc_matches(const uint8_t *buf, size_t total, struct proxy_hdr *out)
{
	static const uint8_t zero[4];
	size_t pos = 0, off = 0;
	uint8_t type;
	struct proxy_view v;
	uint32_t c;

	while (ppv2_tlv_next(out->tlvs, &pos, &type, &v)) {
		if (type == PP2_TYPE_CRC32C) {
			off = (size_t)(v.ptr - buf);
			break;
		}
	}
	out->crc32c = get_be32(buf + off);
	c = crc32c(0, buf, off);
	c = crc32c(c, zero, sizeof(zero));
	c = crc32c(c, buf + off + 4, total - off - 4);
	return c == out->crc32c;
}

/* --- addresses ------------------------------------------------------------- */

/* §2.2: 108 bytes per side. A path name ends at its NUL; an abstract name
 * (leading NUL) has no terminator, so its length runs to the last non-zero
 * byte. Bytes past that length are left zero. */
static socklen_t take_unix(struct sockaddr_storage *ss, const uint8_t *p)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	size_t n;

	if (p[0] != 0) {
		const uint8_t *nul = memchr(p, 0, PPV2_UNIX_PATH_LEN);

		n = nul ? (size_t)(nul - p) + 1 : PPV2_UNIX_PATH_LEN;
	} else {
		n = PPV2_UNIX_PATH_LEN;
		while (n > 0 && p[n - 1] == 0)
			n--;
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, p, n);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

static void take_addrs(const uint8_t *a, struct proxy_hdr *out)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&out->src,
			   *d4 = (struct sockaddr_in *)&out->dst;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->src;
	struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&out->dst;

	out->has_addr = true;
	out->socktype = (out->fam_byte & 0x0f) == 1 ? SOCK_STREAM : SOCK_DGRAM;
	switch (out->fam_byte >> 4) {
	case 1: /* addresses and ports are already in network order */
		out->family = s4->sin_family = d4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&d4->sin_addr, a + 4, 4);
		memcpy(&s4->sin_port, a + 8, 2);
		memcpy(&d4->sin_port, a + 10, 2);
		out->src_len = out->dst_len = sizeof(struct sockaddr_in);
		break;
	case 2:
		out->family = s6->sin6_family = d6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&d6->sin6_addr, a + 16, 16);
		memcpy(&s6->sin6_port, a + 32, 2);
		memcpy(&d6->sin6_port, a + 34, 2);
		out->src_len = out->dst_len = sizeof(struct sockaddr_in6);
		break;
	default:
		out->family = AF_UNIX;
		out->src_len = take_unix(&out->src, a);
		out->dst_len = take_unix(&out->dst, a + PPV2_UNIX_PATH_LEN);
		break;
	}
}

/* --- decoder --------------------------------------------------------------- */

/* Stages 1–4: everything decidable from the 16 fixed bytes, each check made
 * as soon as its byte is present. Returns 0 (fixed part good, *total set),
 * -EAGAIN, or an error. */
static int check_fixed(const uint8_t *buf, size_t len, size_t max_v2, size_t *total,
		       enum proxy_err *why)
{
	size_t need_addr;

	if (!ppv2_sig_prefix(buf, len))
		return fail(why, PROXY_ERR_SIG);
	if (len <= PPV2_SIG_LEN)
		return -EAGAIN;
	if ((buf[12] >> 4) != 2) /* "the receiver must only accept this value" */
		return fail(why, PROXY_ERR_VERSION);
	if ((buf[12] & 0x0f) >= PROXY_CMD__COUNT) /* "must drop connections ..." */
		return fail(why, PROXY_ERR_COMMAND);
	if (len <= 13)
		return -EAGAIN;
	/* Checked for LOCAL too: unassigned values "must be rejected as
	 * invalid by receivers", and a sender that gets them wrong is broken. */
	if ((buf[13] >> 4) > 3 || (buf[13] & 0x0f) > 2)
		return fail(why, PROXY_ERR_FAMILY);
	if (len < PPV2_HDR_LEN)
		return -EAGAIN;
	*total = PPV2_HDR_LEN + (size_t)get_be16(buf + 14);
	if (*total > max_v2)
		return fail(why, PROXY_ERR_TOO_BIG);
	need_addr = addr_block_len(buf[13]);
	/* LOCAL ignores the address block, so a short one is no error there. */
	if ((buf[12] & 0x0f) == PROXY_CMD_PROXY && *total - PPV2_HDR_LEN < need_addr)
		return fail(why, PROXY_ERR_ADDR_LEN);
	return 0;
}

int ppv2_decode(const uint8_t *buf, size_t len, size_t max_v2, struct proxy_hdr *out,
		enum proxy_err *why)
{
	size_t total = 0, alen, tlv_off;
	int rc;

	*why = PROXY_ERR_NONE;
	rc = check_fixed(buf, len, max_v2, &total, why);
	if (rc < 0)
		return rc;

	memset(out, 0, sizeof(*out));
	out->version = 2;
	out->cmd = buf[12] & 0x0f;
	out->fam_byte = buf[13];
	out->family = AF_UNSPEC;
	out->hdr_len = total;
	alen = addr_block_len(buf[13]);
	if (alen > total - PPV2_HDR_LEN) /* LOCAL with a short block: all ignored */
		alen = total - PPV2_HDR_LEN;
	tlv_off = PPV2_HDR_LEN + alen;
	out->tlvs.ptr = buf + tlv_off;
	out->tlvs.len = total - tlv_off;
	rc = parse_tlvs(out, len > tlv_off ? len - tlv_off : 0, why);
	if (rc < 0)
		return rc;
	/* §2.2: "must not start to parse an address before the whole address
	 * block is received"; the CRC needs every byte as well. */
	if (len < total)
		return -EAGAIN;
	if (out->cmd == PROXY_CMD_PROXY && alen > 0)
		take_addrs(buf + PPV2_HDR_LEN, out);
	/* §2.2.3: "the receiver MUST treat the TCP connection ... as invalid" */
	if (out->has_crc32c && !crc_matches(buf, total, out))
		return fail(why, PROXY_ERR_CRC_MISMATCH);
	out->crc32c_ok = out->has_crc32c;
	return (int)total;
}

/* --- encoder --------------------------------------------------------------- */

/* Family byte and address block size for `in`, or -EINVAL. */
static int enc_family(const struct ppv2_enc *in, uint8_t *fam)
{
	uint8_t proto = in->socktype == SOCK_DGRAM ? 2 : 1;
	int sf, df;

	*fam = 0x00;
	if (in->cmd == PROXY_CMD_LOCAL) /* §2.2: "should not present any address" */
		return 0;
	if (in->cmd != PROXY_CMD_PROXY)
		return -EINVAL;
	if (!in->src && !in->dst)
		return 0;
	if (!in->src || !in->dst)
		return -EINVAL;
	sf = in->src->sa_family;
	df = in->dst->sa_family;
	if (sf == AF_INET && df == AF_INET) {
		*fam = 0x10 | proto;
		return PPV2_ADDR_LEN_INET;
	}
	if ((sf == AF_INET || sf == AF_INET6) && (df == AF_INET || df == AF_INET6)) {
		*fam = 0x20 | proto;
		return PPV2_ADDR_LEN_INET6;
	}
	if (sf == AF_UNIX && df == AF_UNIX) {
		*fam = 0x30 | proto;
		return PPV2_ADDR_LEN_UNIX;
	}
	return -EINVAL;
}

static size_t view_tlv_len(struct proxy_view v)
{
	return v.ptr ? PPV2_TLV_HDR_LEN + v.len : 0;
}

static size_t ssl_value_len(const struct ppv2_ssl_enc *s)
{
	return PPV2_SSL_FIXED_LEN + view_tlv_len(s->version) + view_tlv_len(s->cn) +
	       view_tlv_len(s->cipher) + view_tlv_len(s->sig_alg) + view_tlv_len(s->key_alg);
}

static bool view_fits(struct proxy_view v)
{
	return !v.ptr || v.len <= PPV2_MAX_LEN_FIELD;
}

/* Bytes of TLVs `in` asks for, or 0 with *bad set when one cannot be sent.
 * Sums stay far from overflow: each term is at most 3 + 65535. */
static size_t enc_tlvs_len(const struct ppv2_enc *in, bool *bad)
{
	size_t n = view_tlv_len(in->alpn) + view_tlv_len(in->authority) +
		   view_tlv_len(in->unique_id) + view_tlv_len(in->netns) + view_tlv_len(in->node);

	*bad = !view_fits(in->alpn) || !view_fits(in->authority) || !view_fits(in->netns) ||
	       !view_fits(in->node) ||
	       (in->unique_id.ptr && in->unique_id.len > PPV2_UNIQUE_ID_MAX);
	if (in->ssl) {
		const struct ppv2_ssl_enc *s = in->ssl;

		*bad |= !view_fits(s->version) || !view_fits(s->cn) || !view_fits(s->cipher) ||
			!view_fits(s->sig_alg) || !view_fits(s->key_alg) ||
			ssl_value_len(s) > PPV2_MAX_LEN_FIELD;
		n += PPV2_TLV_HDR_LEN + ssl_value_len(s);
	}
	for (size_t i = 0; i < in->n_extra && !*bad; i++) {
		/* The CRC is computed here, never passed in: see in->crc32c. */
		*bad = in->extra[i].type == PP2_TYPE_CRC32C;
		n += PPV2_TLV_HDR_LEN + in->extra[i].len;
		if (n > PPV2_MAX_LEN_FIELD)
			*bad = true;
	}
	if (in->crc32c)
		n += PPV2_CRC_TLV_LEN;
	return n;
}

int ppv2_encoded_len(const struct ppv2_enc *in)
{
	uint8_t fam;
	bool bad;
	int alen = enc_family(in, &fam);
	size_t n;

	if (alen < 0)
		return alen;
	n = (size_t)alen + enc_tlvs_len(in, &bad);
	if (bad || n > PPV2_MAX_LEN_FIELD)
		return -EINVAL;
	return (int)(PPV2_HDR_LEN + n);
}

static uint8_t *put_tlv(uint8_t *p, uint8_t type, const void *val, size_t len)
{
	*p++ = type;
	p = put_be16(p, (uint16_t)len);
	if (val)
		memcpy(p, val, len);
	else
		memset(p, 0, len);
	return p + len;
}

static uint8_t *put_view(uint8_t *p, uint8_t type, struct proxy_view v)
{
	return v.ptr ? put_tlv(p, type, v.ptr, v.len) : p;
}

static uint8_t *put_ssl(uint8_t *p, const struct ppv2_ssl_enc *s)
{
	*p++ = PP2_TYPE_SSL;
	p = put_be16(p, (uint16_t)ssl_value_len(s));
	*p++ = s->client;
	put_be32(p, s->verify);
	p += 4;
	p = put_view(p, PP2_SUBTYPE_SSL_VERSION, s->version);
	p = put_view(p, PP2_SUBTYPE_SSL_CN, s->cn);
	p = put_view(p, PP2_SUBTYPE_SSL_CIPHER, s->cipher);
	p = put_view(p, PP2_SUBTYPE_SSL_SIG_ALG, s->sig_alg);
	return put_view(p, PP2_SUBTYPE_SSL_KEY_ALG, s->key_alg);
}

/* IPv4 goes out as IPv4-mapped IPv6 (::ffff:a.b.c.d) when paired with IPv6. */
static void put_in6(uint8_t *addr, uint8_t *port, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &s4->sin_addr, 4);
		memcpy(port, &s4->sin_port, 2);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		memcpy(addr, &s6->sin6_addr, 16);
		memcpy(port, &s6->sin6_port, 2);
	}
}

static void put_unix(uint8_t *p, const struct sockaddr *sa, socklen_t salen)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
	size_t n = PPV2_UNIX_PATH_LEN, base = offsetof(struct sockaddr_un, sun_path);

	if (salen != 0)
		n = salen > base ? salen - base : 0;
	if (n > PPV2_UNIX_PATH_LEN)
		n = PPV2_UNIX_PATH_LEN;
	memcpy(p, sun->sun_path, n);
	memset(p + n, 0, PPV2_UNIX_PATH_LEN - n);
}

static uint8_t *put_addrs(uint8_t *p, uint8_t fam, const struct ppv2_enc *in)
{
	switch (fam >> 4) {
	case 1: {
		const struct sockaddr_in *s = (const void *)in->src, *d = (const void *)in->dst;

		memcpy(p, &s->sin_addr, 4);
		memcpy(p + 4, &d->sin_addr, 4);
		memcpy(p + 8, &s->sin_port, 2);
		memcpy(p + 10, &d->sin_port, 2);
		return p + PPV2_ADDR_LEN_INET;
	}
	case 2:
		put_in6(p, p + 32, in->src);
		put_in6(p + 16, p + 34, in->dst);
		return p + PPV2_ADDR_LEN_INET6;
	case 3:
		put_unix(p, in->src, in->src_len);
		put_unix(p + PPV2_UNIX_PATH_LEN, in->dst, in->dst_len);
		return p + PPV2_ADDR_LEN_UNIX;
	default:
		return p;
	}
}

int ppv2_encode(uint8_t *buf, size_t cap, const struct ppv2_enc *in)
{
	int total = ppv2_encoded_len(in);
	uint8_t fam, *p = buf;

	if (total < 0)
		return total;
	if ((size_t)total > cap)
		return -ENOSPC;
	enc_family(in, &fam);
	memcpy(p, ppv2_sig, PPV2_SIG_LEN);
	p += PPV2_SIG_LEN;
	*p++ = (uint8_t)(0x20 | in->cmd);
	*p++ = fam;
	p = put_be16(p, (uint16_t)(total - PPV2_HDR_LEN));
	p = put_addrs(p, fam, in);
	p = put_view(p, PP2_TYPE_ALPN, in->alpn);
	p = put_view(p, PP2_TYPE_AUTHORITY, in->authority);
	p = put_view(p, PP2_TYPE_UNIQUE_ID, in->unique_id);
	if (in->ssl)
		p = put_ssl(p, in->ssl);
	p = put_view(p, PP2_TYPE_NETNS, in->netns);
	p = put_view(p, PP2_TYPE_STRATA_NODE, in->node);
	for (size_t i = 0; i < in->n_extra; i++)
		p = put_tlv(p, in->extra[i].type, in->extra[i].val, in->extra[i].len);
	if (in->crc32c) {
		/* §2.2.3: zero the field, checksum the whole header, fill it in. */
		p = put_tlv(p, PP2_TYPE_CRC32C, NULL, 4);
		put_be32(p - 4, crc32c(0, buf, (size_t)total));
	}
	return total;
}
