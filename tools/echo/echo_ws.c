/* WebSocket handshake key, frame header codec and unmasking; see echo_ws.h. */
#include "echo_ws.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

/* RFC 6455 §1.3 */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int echo_ws_accept_key(const char *key, size_t key_len, char out[ECHO_WS_ACCEPT_LEN + 1])
{
	unsigned char input[ECHO_WS_KEY_LEN + sizeof(ws_guid)], md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	/* 16 random bytes in base64: 22 characters and "==". */
	if (key_len != ECHO_WS_KEY_LEN || key[22] != '=' || key[23] != '=')
		return -EINVAL;
	for (size_t i = 0; i < 22; i++)
		if (!is_b64((unsigned char)key[i]))
			return -EINVAL;
	memcpy(input, key, ECHO_WS_KEY_LEN);
	memcpy(input + ECHO_WS_KEY_LEN, ws_guid, sizeof(ws_guid) - 1);
	if (!EVP_Digest(input, ECHO_WS_KEY_LEN + sizeof(ws_guid) - 1, md, &md_len, EVP_sha1(),
			NULL) ||
	    md_len != 20)
		return -EINVAL;
	EVP_EncodeBlock((unsigned char *)out, md, 20);
	out[ECHO_WS_ACCEPT_LEN] = '\0';
	return 0;
}

static int check_first_bytes(uint8_t b0, uint8_t b1, enum echo_ws_why *why)
{
	uint8_t op = b0 & 0x0f;

	if (b0 & 0x70) {
		*why = ECHO_WS_RESERVED_BITS;
		return -EBADMSG;
	}
	if (!(op <= ECHO_WS_BINARY || (op >= ECHO_WS_CLOSE && op <= ECHO_WS_PONG))) {
		*why = ECHO_WS_BAD_OPCODE;
		return -EBADMSG;
	}
	if (!(b1 & 0x80)) {
		*why = ECHO_WS_UNMASKED;
		return -EBADMSG;
	}
	/* §5.5: control frames are never fragmented and carry <= 125 bytes. */
	if (op >= ECHO_WS_CLOSE && (!(b0 & 0x80) || (b1 & 0x7f) > ECHO_WS_MAX_CONTROL)) {
		*why = ECHO_WS_BAD_CONTROL;
		return -EBADMSG;
	}
	return 0;
}

int echo_ws_parse_client_header(const uint8_t *buf, size_t len, struct echo_ws_frame *f,
				enum echo_ws_why *why)
{
	size_t need = 2, i;
	uint64_t plen;
	int r;

	if (len < 2)
		return -EAGAIN;
	r = check_first_bytes(buf[0], buf[1], why);
	if (r < 0)
		return r;
	plen = buf[1] & 0x7f;
	/* §5.2: 126 means a 16-bit length follows, 127 a 64-bit one. */
	need += plen == 126 ? 2 : plen == 127 ? 8 : 0;
	need += 4;
	if (len < need)
		return -EAGAIN;
	if (plen == 126) {
		plen = (uint64_t)buf[2] << 8 | buf[3];
	} else if (plen == 127) {
		plen = 0;
		for (i = 2; i < 10; i++)
			plen = plen << 8 | buf[i];
		if (plen >> 63) {
			*why = ECHO_WS_LENGTH;
			return -E2BIG;
		}
	}
	f->fin = buf[0] & 0x80;
	f->opcode = buf[0] & 0x0f;
	f->masked = true;
	f->len = plen;
	memcpy(f->mask, buf + need - 4, 4);
	return (int)need;
}

size_t echo_ws_build_header(uint8_t out[ECHO_WS_MAX_HEADER], bool fin, uint8_t opcode, uint64_t len)
{
	size_t n = 2;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	return n;
}

void echo_ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
	uint8_t m[8];
	uint64_t m64, w;
	size_t i = 0;

	for (int k = 0; k < 8; k++)
		m[k] = mask[(offset + (uint64_t)k) & 3];
	memcpy(&m64, m, 8);
	/* Eight bytes at a time: the rotated mask repeats every 8 bytes too. */
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		w ^= m64;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		p[i] ^= m[i & 7];
}

const char *echo_ws_why_str(enum echo_ws_why why)
{
	static const char *const s[ECHO_WS_WHY__COUNT] = {
	    [ECHO_WS_OK] = "ok",
	    [ECHO_WS_RESERVED_BITS] = "reserved bits set",
	    [ECHO_WS_BAD_OPCODE] = "unknown opcode",
	    [ECHO_WS_UNMASKED] = "unmasked client frame",
	    [ECHO_WS_BAD_CONTROL] = "fragmented or oversized control frame",
	    [ECHO_WS_LENGTH] = "payload length too large",
	};

	return (unsigned)why < ECHO_WS_WHY__COUNT ? s[why] : "?";
}
