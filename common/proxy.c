/* PROXY protocol entry points shared by both versions: version detection,
 * the "could this be a header" test, and error names; see proxy.h. */
#include "proxy.h"

#include <errno.h>

/* v1 starts with 'P', v2 with CR: the first byte picks the decoder, which
 * then checks the rest of its own signature byte by byte. */
int proxy_decode_max(const uint8_t *buf, size_t len, size_t max_v2, struct proxy_hdr *out,
		     enum proxy_err *why)
{
	*why = PROXY_ERR_NONE;
	if (len == 0)
		return -EAGAIN;
	if (max_v2 < PPV2_HDR_LEN)
		max_v2 = PPV2_HDR_LEN;
	if (max_v2 > PPV2_HDR_LEN + 0xffff)
		max_v2 = PPV2_HDR_LEN + 0xffff;
	if (buf[0] == 'P')
		return ppv1_decode(buf, len, out, why);
	if (buf[0] == '\r')
		return ppv2_decode(buf, len, max_v2, out, why);
	*why = PROXY_ERR_SIG;
	return -EBADMSG;
}

int proxy_decode(const uint8_t *buf, size_t len, struct proxy_hdr *out, enum proxy_err *why)
{
	return proxy_decode_max(buf, len, PPV2_MAX_HDR_LEN, out, why);
}

bool proxy_maybe_header(const uint8_t *buf, size_t len)
{
	return len == 0 || ppv1_sig_prefix(buf, len) || ppv2_sig_prefix(buf, len);
}

static const char *const proxy_err_names[PROXY_ERR__COUNT] = {
    [PROXY_ERR_NONE] = "no error",
    [PROXY_ERR_SIG] = "bad signature",
    [PROXY_ERR_VERSION] = "bad version",
    [PROXY_ERR_COMMAND] = "bad command",
    [PROXY_ERR_FAMILY] = "bad address family or transport",
    [PROXY_ERR_ADDR_LEN] = "address block too short for the family",
    [PROXY_ERR_TOO_BIG] = "header over the size limit",
    [PROXY_ERR_TRUNCATED] = "header ends inside a tlv",
    [PROXY_ERR_TLV_OVERRUN] = "tlv runs past the header",
    [PROXY_ERR_TLV_LEN] = "tlv length inconsistent with its type",
    [PROXY_ERR_TLV_DUP] = "duplicate tlv",
    [PROXY_ERR_CRC_LEN] = "crc32c tlv of wrong length",
    [PROXY_ERR_CRC_MISMATCH] = "crc32c mismatch",
    [PROXY_ERR_V1_TOO_LONG] = "v1 line too long",
    [PROXY_ERR_V1_CRLF] = "v1 line without crlf",
    [PROXY_ERR_V1_BARE_LF] = "v1 bare lf",
    [PROXY_ERR_V1_PROTO] = "v1 unknown protocol",
    [PROXY_ERR_V1_FIELDS] = "v1 wrong number of fields",
    [PROXY_ERR_V1_ADDR] = "v1 malformed address",
    [PROXY_ERR_V1_PORT] = "v1 malformed port",
    [PROXY_ERR_V1_FAMILY] = "v1 address of the wrong family",
};

const char *proxy_strerror(enum proxy_err err)
{
	if ((unsigned int)err >= PROXY_ERR__COUNT)
		return "unknown error";
	return proxy_err_names[err];
}
