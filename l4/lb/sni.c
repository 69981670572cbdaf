/* Incremental TLS ClientHello parser for the SNI peek (sni.h).
 *
 * Two layers, each a small state machine over bytes as they come:
 *   record layer   RFC 8446 §5.1 TLSPlaintext: type(1) version(2) length(2)
 *                  fragment; fragments of handshake records are passed on
 *   handshake      RFC 8446 §4 Handshake header type(1) length(3), then the
 *                  ClientHello body of §4.1.2 (same layout as RFC 5246
 *                  §7.4.1.2): version, random, session id, cipher suites,
 *                  compression methods, extensions; the server_name
 *                  extension is RFC 6066 §3.
 * Every length is checked against the container it sits in as soon as it is
 * read, so a lie is reported at the byte that tells it.
 */
#include "sni.h"

#include <errno.h>
#include <string.h>

#define TLS_CT_HANDSHAKE    22 /* RFC 8446 §5.1 ContentType handshake */
#define TLS_HS_CLIENT_HELLO 1  /* RFC 8446 §4 HandshakeType client_hello */
#define TLS_EXT_SERVER_NAME 0  /* RFC 6066 §3 ExtensionType server_name */
#define TLS_NAME_HOST	    0  /* RFC 6066 §3 NameType host_name */
#define TLS_MAX_SESSION_ID  32 /* RFC 5246 §7.4.1.2 SessionID <0..32> */
#define SNI_REC_HDR_LEN	    5
/* version 2 + random 32 + sid len 1 + suites len 2 + one suite 2 + comp len 1
 * + one method 1 */
#define SNI_MIN_HELLO 41

enum sni_field {
	F_HS_HDR,   /* handshake type + 24-bit length */
	F_VERSION,  /* legacy_version */
	F_RANDOM,   /* 32 bytes, skipped */
	F_SID_LEN,  /* legacy_session_id length */
	F_SID,	    /* skipped */
	F_CS_LEN,   /* cipher_suites length */
	F_CS,	    /* skipped */
	F_COMP_LEN, /* legacy_compression_methods length */
	F_COMP,	    /* skipped */
	F_EXTS_LEN, /* extensions block length */
	F_EXT_HDR,  /* extension type + length */
	F_EXT_SKIP, /* an extension we do not read */
	F_LIST_LEN, /* server_name_list length */
	F_ENT_HDR,  /* name_type + length */
	F_ENT_SKIP, /* a name of another type */
	F_NAME,	    /* host_name bytes, copied */
	F__COUNT
};

enum field_kind { K_ACC, K_SKIP, K_COPY };

static const uint8_t field_kind[F__COUNT] = {
    [F_HS_HDR] = K_ACC,	  [F_VERSION] = K_ACC,	[F_RANDOM] = K_SKIP,   [F_SID_LEN] = K_ACC,
    [F_SID] = K_SKIP,	  [F_CS_LEN] = K_ACC,	[F_CS] = K_SKIP,       [F_COMP_LEN] = K_ACC,
    [F_COMP] = K_SKIP,	  [F_EXTS_LEN] = K_ACC, [F_EXT_HDR] = K_ACC,   [F_EXT_SKIP] = K_SKIP,
    [F_LIST_LEN] = K_ACC, [F_ENT_HDR] = K_ACC,	[F_ENT_SKIP] = K_SKIP, [F_NAME] = K_COPY,
};

static const char *const err_names[SNI_ERR__COUNT] = {
    [SNI_ERR_NONE] = "ok",
    [SNI_ERR_NOT_TLS] = "not tls",
    [SNI_ERR_RECORD_TYPE] = "non-handshake record inside the hello",
    [SNI_ERR_RECORD_LEN] = "bad record length",
    [SNI_ERR_NOT_HELLO] = "first handshake message is not a client hello",
    [SNI_ERR_HELLO_LEN] = "client hello too short",
    [SNI_ERR_HELLO_BIG] = "client hello too big",
    [SNI_ERR_VERSION] = "bad client version",
    [SNI_ERR_SESSION_ID] = "bad session id length",
    [SNI_ERR_CIPHERS] = "bad cipher suites length",
    [SNI_ERR_COMPRESSION] = "bad compression methods length",
    [SNI_ERR_EXTENSIONS] = "bad extensions length",
    [SNI_ERR_EXT_LEN] = "extension runs past the extensions",
    [SNI_ERR_SNI_LIST] = "bad server name list",
    [SNI_ERR_NAME_EMPTY] = "empty host name",
    [SNI_ERR_NAME_LONG] = "host name too long",
    [SNI_ERR_NAME_CHAR] = "bad character in host name",
};

const char *sni_strerror(enum sni_err err)
{
	return (unsigned)err < SNI_ERR__COUNT ? err_names[err] : "unknown";
}

void sni_init(struct sni_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->field = F_HS_HDR;
	p->acc_need = 4;
}

static int fail(struct sni_parser *p, int rc, enum sni_err err)
{
	p->verdict = rc;
	p->err = err;
	return rc;
}

/* Enters `field` of `n` bytes, which must end by `limit` (an offset in the
 * hello body) or the hello is malformed with `err`. */
static int begin(struct sni_parser *p, enum sni_field field, uint32_t n, uint32_t limit,
		 enum sni_err err)
{
	if (n > limit - p->off || p->off > limit)
		return fail(p, -EBADMSG, err);
	p->field = (uint8_t)field;
	p->acc = 0;
	p->acc_have = 0;
	if (field_kind[field] == K_ACC)
		p->acc_need = (uint8_t)n;
	else
		p->skip = n;
	return 0;
}

static bool field_complete(const struct sni_parser *p)
{
	if (field_kind[p->field] == K_ACC)
		return p->acc_have == p->acc_need;
	return p->skip == 0;
}

/* Found, or definitely absent: the hello need not be read further. */
static int decide(struct sni_parser *p, bool found)
{
	p->found = found;
	if (found)
		p->name[p->name_len] = '\0';
	p->verdict = 1;
	return 1;
}

static int next_ext(struct sni_parser *p)
{
	if (p->off == p->exts_end)
		return decide(p, false);
	return begin(p, F_EXT_HDR, 4, p->exts_end, SNI_ERR_EXT_LEN);
}

static int next_entry(struct sni_parser *p)
{
	/* A list without a host_name: the extension ends with the list. */
	if (p->off == p->list_end)
		return next_ext(p);
	return begin(p, F_ENT_HDR, 3, p->list_end, SNI_ERR_SNI_LIST);
}

static int on_hs_hdr(struct sni_parser *p)
{
	uint32_t len = p->acc & 0xFFFFFFu;

	if (p->acc >> 24 != TLS_HS_CLIENT_HELLO)
		return fail(p, -EBADMSG, SNI_ERR_NOT_HELLO);
	if (len > SNI_MAX_HELLO)
		return fail(p, -E2BIG, SNI_ERR_HELLO_BIG);
	if (len < SNI_MIN_HELLO)
		return fail(p, -EBADMSG, SNI_ERR_HELLO_LEN);
	p->hello_len = len;
	p->off = 0; /* offsets count the body only */
	return begin(p, F_VERSION, 2, len, SNI_ERR_HELLO_LEN);
}

static int on_ext_hdr(struct sni_parser *p)
{
	uint32_t type = p->acc >> 16, len = p->acc & 0xFFFFu;

	if (len > p->exts_end - p->off)
		return fail(p, -EBADMSG, SNI_ERR_EXT_LEN);
	p->ext_end = p->off + len;
	if (type == TLS_EXT_SERVER_NAME)
		return begin(p, F_LIST_LEN, 2, p->ext_end, SNI_ERR_SNI_LIST);
	return begin(p, F_EXT_SKIP, len, p->ext_end, SNI_ERR_EXT_LEN);
}

static int on_entry_hdr(struct sni_parser *p)
{
	uint32_t type = p->acc >> 16, len = p->acc & 0xFFFFu;

	if (len > p->list_end - p->off)
		return fail(p, -EBADMSG, SNI_ERR_SNI_LIST);
	if (type != TLS_NAME_HOST)
		return begin(p, F_ENT_SKIP, len, p->list_end, SNI_ERR_SNI_LIST);
	if (len == 0)
		return fail(p, -EBADMSG, SNI_ERR_NAME_EMPTY);
	if (len > SNI_MAX_NAME)
		return fail(p, -E2BIG, SNI_ERR_NAME_LONG);
	p->name_len = 0;
	return begin(p, F_NAME, len, p->list_end, SNI_ERR_SNI_LIST);
}

/* The current field is complete: check it and enter the next one. Returns
 * 0 to go on, 1 for a verdict, or a negative error. */
static int field_done(struct sni_parser *p)
{
	uint32_t v = p->acc, end = p->hello_len;

	switch ((enum sni_field)p->field) {
	case F_HS_HDR:
		return on_hs_hdr(p);
	case F_VERSION:
		if (v >> 8 != 3)
			return fail(p, -EBADMSG, SNI_ERR_VERSION);
		return begin(p, F_RANDOM, 32, end, SNI_ERR_HELLO_LEN);
	case F_RANDOM:
		return begin(p, F_SID_LEN, 1, end, SNI_ERR_HELLO_LEN);
	case F_SID_LEN:
		if (v > TLS_MAX_SESSION_ID)
			return fail(p, -EBADMSG, SNI_ERR_SESSION_ID);
		return begin(p, F_SID, v, end, SNI_ERR_SESSION_ID);
	case F_SID:
		return begin(p, F_CS_LEN, 2, end, SNI_ERR_CIPHERS);
	case F_CS_LEN:
		if (v == 0 || (v & 1))
			return fail(p, -EBADMSG, SNI_ERR_CIPHERS);
		return begin(p, F_CS, v, end, SNI_ERR_CIPHERS);
	case F_CS:
		return begin(p, F_COMP_LEN, 1, end, SNI_ERR_COMPRESSION);
	case F_COMP_LEN:
		if (v == 0)
			return fail(p, -EBADMSG, SNI_ERR_COMPRESSION);
		return begin(p, F_COMP, v, end, SNI_ERR_COMPRESSION);
	case F_COMP:
		/* RFC 5246 §7.4.1.2: the extensions may be absent altogether. */
		if (p->off == end)
			return decide(p, false);
		return begin(p, F_EXTS_LEN, 2, end, SNI_ERR_EXTENSIONS);
	case F_EXTS_LEN:
		if (v != end - p->off)
			return fail(p, -EBADMSG, SNI_ERR_EXTENSIONS);
		p->exts_end = end;
		return next_ext(p);
	case F_EXT_HDR:
		return on_ext_hdr(p);
	case F_EXT_SKIP:
		return next_ext(p);
	case F_LIST_LEN:
		/* RFC 6066 §3: the list fills the extension; one entry is 3+ bytes. */
		if (v != p->ext_end - p->off || v < 3)
			return fail(p, -EBADMSG, SNI_ERR_SNI_LIST);
		p->list_end = p->ext_end;
		return next_entry(p);
	case F_ENT_HDR:
		return on_entry_hdr(p);
	case F_ENT_SKIP:
		return next_entry(p);
	case F_NAME:
		return decide(p, true);
	case F__COUNT:
		break;
	}
	return fail(p, -EBADMSG, SNI_ERR_NOT_TLS); /* unreachable */
}

static bool is_name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* Consumes up to n bytes of handshake data into the current field. Returns
 * the bytes taken; *rc gets a verdict or error when one is reached. */
static size_t field_take(struct sni_parser *p, const uint8_t *b, size_t n, int *rc)
{
	size_t k = 0;

	if (field_kind[p->field] == K_ACC) {
		while (k < n && p->acc_have < p->acc_need) {
			p->acc = (p->acc << 8) | b[k++];
			p->acc_have++;
		}
	} else if (field_kind[p->field] == K_SKIP) {
		k = n < p->skip ? n : p->skip;
		p->skip -= (uint32_t)k;
	} else {
		while (k < n && p->skip > 0) {
			if (!is_name_char(b[k])) {
				*rc = fail(p, -EBADMSG, SNI_ERR_NAME_CHAR);
				return k + 1;
			}
			p->name[p->name_len++] = (char)b[k++];
			p->skip--;
		}
	}
	p->off += (uint32_t)k;
	return k;
}

/* Feeds handshake bytes (record fragments). Returns the bytes consumed. */
static size_t hs_feed(struct sni_parser *p, const uint8_t *b, size_t n, int *rc)
{
	size_t pos = 0;

	*rc = 0;
	for (;;) {
		while (field_complete(p)) {
			*rc = field_done(p);
			if (*rc)
				return pos;
		}
		if (pos == n)
			return pos;
		pos += field_take(p, b + pos, n - pos, rc);
		if (*rc)
			return pos;
	}
}

/* Checks record header byte i as soon as it arrives. */
static int rec_hdr_byte(struct sni_parser *p, unsigned i)
{
	const uint8_t *h = p->rec_hdr;
	bool first = p->records == 0;
	unsigned len;

	switch (i) {
	case 0:
		if (h[0] != TLS_CT_HANDSHAKE)
			return fail(p, -EBADMSG, first ? SNI_ERR_NOT_TLS : SNI_ERR_RECORD_TYPE);
		return 0;
	case 1: /* ProtocolVersion major: 3 for SSL 3.0 to TLS 1.3 */
		if (h[1] != 3)
			return fail(p, -EBADMSG, first ? SNI_ERR_NOT_TLS : SNI_ERR_RECORD_TYPE);
		return 0;
	case 3:
		if (h[3] > (SNI_MAX_RECORD >> 8))
			return fail(p, -EBADMSG, SNI_ERR_RECORD_LEN);
		return 0;
	case 4:
		len = (unsigned)h[3] << 8 | h[4];
		/* RFC 8446 §5.1: no zero-length handshake fragments, at most 2^14. */
		if (len == 0 || len > SNI_MAX_RECORD)
			return fail(p, -EBADMSG, SNI_ERR_RECORD_LEN);
		p->rec_left = (uint16_t)len;
		p->rec_have = 0;
		p->records++;
		return 0;
	default:
		return 0;
	}
}

int sni_feed(struct sni_parser *p, const uint8_t *buf, size_t len, enum sni_err *why)
{
	size_t pos = 0;
	int rc;

	if (p->verdict) {
		*why = p->err;
		return -EALREADY;
	}
	*why = SNI_ERR_NONE;
	while (pos < len) {
		if (p->rec_left == 0) {
			unsigned i = p->rec_have++;

			p->rec_hdr[i] = buf[pos++];
			rc = rec_hdr_byte(p, i);
			if (rc)
				goto out;
			continue;
		}
		size_t n = len - pos < p->rec_left ? len - pos : p->rec_left;
		size_t took = hs_feed(p, buf + pos, n, &rc);

		pos += took;
		p->rec_left = (uint16_t)(p->rec_left - took);
		if (rc)
			goto out;
	}
	return -EAGAIN;
out:
	*why = p->err;
	return rc > 0 ? (int)pos : rc;
}
