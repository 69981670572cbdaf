/* libFuzzer target for the PROXY v1/v2 decoder (proxy.c, proxy_v1.c,
 * proxy_v2.c).
 *
 * Input: one byte choosing a split position, then the bytes a peer sent.
 * Checks, beyond "no crash, no over-read" (each decode runs on an exact-size
 * heap copy under ASan):
 *  - the verdict is one of the four the contract allows, with *why set
 *    exactly when it is an error;
 *  - a prefix never disagrees with the whole: it answers -EAGAIN or the
 *    very same result (same error, or the same header);
 *  - a complete header is still complete without the bytes after it and
 *    incomplete one byte short;
 *  - proxy_maybe_header() is false only for inputs refused as "bad signature";
 *  - a decoded header re-encodes (v2 through ppv2_encode, v1 through
 *    ppv1_encode) into one that decodes to the same content.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct verdict {
	int rc;
	enum proxy_err why;
	struct proxy_hdr hdr;
};

/* Decodes an exact-size copy of data[0..n) so ASan sees any over-read. */
static uint8_t *decode_copy(const uint8_t *data, size_t n, struct verdict *v)
{
	uint8_t *buf = malloc(n ? n : 1);

	CHECK(buf != NULL);
	memcpy(buf, data, n);
	v->rc = proxy_decode(buf, n, &v->hdr, &v->why);
	CHECK(v->rc == -EAGAIN || v->rc == -EBADMSG || v->rc == -E2BIG ||
	      (v->rc > 0 && (size_t)v->rc <= n));
	CHECK((v->why == PROXY_ERR_NONE) == (v->rc > 0 || v->rc == -EAGAIN));
	CHECK((v->rc == -E2BIG) == (v->why == PROXY_ERR_TOO_BIG));
	CHECK(v->why < PROXY_ERR__COUNT);
	return buf;
}

static int same_view(struct proxy_view a, struct proxy_view b)
{
	if (!a.ptr || !b.ptr)
		return !a.ptr && !b.ptr;
	return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static int same_ssl(const struct ppv2_ssl *a, const struct ppv2_ssl *b)
{
	if (a->present != b->present)
		return 0;
	if (!a->present)
		return 1;
	return a->client == b->client && a->verify == b->verify &&
	       same_view(a->version, b->version) && same_view(a->cn, b->cn) &&
	       same_view(a->cipher, b->cipher) && same_view(a->sig_alg, b->sig_alg) &&
	       same_view(a->key_alg, b->key_alg);
}

/* Same meaning: what a receiver would use (addresses, command, TLV values). */
static int same_content(const struct proxy_hdr *a, const struct proxy_hdr *b)
{
	if (a->version != b->version || a->cmd != b->cmd || a->has_addr != b->has_addr)
		return 0;
	if (a->has_addr &&
	    (a->family != b->family || a->socktype != b->socktype || a->src_len != b->src_len ||
	     a->dst_len != b->dst_len || memcmp(&a->src, &b->src, a->src_len) != 0 ||
	     memcmp(&a->dst, &b->dst, a->dst_len) != 0))
		return 0;
	return same_view(a->alpn, b->alpn) && same_view(a->authority, b->authority) &&
	       same_view(a->unique_id, b->unique_id) && same_view(a->netns, b->netns) &&
	       same_view(a->node, b->node) && same_ssl(&a->ssl, &b->ssl) &&
	       a->has_crc32c == b->has_crc32c && a->crc32c_ok == b->crc32c_ok &&
	       a->n_tlvs == b->n_tlvs;
}

/* Every TLV but the CRC goes back as an extra, in order; the CRC is
 * recomputed by the encoder when the original had one. */
static void roundtrip_v2(const struct proxy_hdr *h)
{
	static struct ppv2_tlv extra[PPV2_MAX_HDR_LEN / 3 + 1];
	static uint8_t out[PPV2_HDR_LEN + 0xffff];
	struct ppv2_enc in = {.cmd = h->cmd, .crc32c = h->has_crc32c};
	struct proxy_view val;
	struct verdict again;
	size_t pos = 0, n = 0;
	uint8_t type, *copy;
	int len;

	if (h->has_addr) {
		in.src = (const struct sockaddr *)&h->src;
		in.dst = (const struct sockaddr *)&h->dst;
		in.src_len = h->src_len;
		in.dst_len = h->dst_len;
		in.socktype = h->socktype;
	}
	while (ppv2_tlv_next(h->tlvs, &pos, &type, &val)) {
		if (type == PP2_TYPE_CRC32C)
			continue;
		CHECK(n < sizeof(extra) / sizeof(extra[0]));
		extra[n++] =
		    (struct ppv2_tlv){.type = type, .len = (uint16_t)val.len, .val = val.ptr};
	}
	CHECK(pos == h->tlvs.len);
	in.extra = extra;
	in.n_extra = n;
	len = ppv2_encode(out, sizeof(out), &in);
	/* never longer than the original: the address block can only shrink */
	CHECK(len >= PPV2_HDR_LEN && (size_t)len <= h->hdr_len);
	copy = decode_copy(out, (size_t)len, &again);
	CHECK(again.rc == len);
	CHECK(same_content(h, &again.hdr));
	free(copy);
}

static void roundtrip_v1(const struct proxy_hdr *h)
{
	char line[PPV1_MAX_LINE];
	struct verdict again;
	uint8_t *copy;
	int len;

	len = ppv1_encode(line, sizeof(line), h->has_addr ? (const struct sockaddr *)&h->src : NULL,
			  h->has_addr ? (const struct sockaddr *)&h->dst : NULL);
	CHECK(len > 0);
	copy = decode_copy((const uint8_t *)line, (size_t)len, &again);
	CHECK(again.rc == len);
	CHECK(same_content(h, &again.hdr));
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct verdict whole, part;
	uint8_t *wbuf, *pbuf;
	size_t n, k;

	if (size == 0)
		return 0;
	n = size - 1;
	k = data[0] % (n + 1);
	data++;

	wbuf = decode_copy(data, n, &whole);
	CHECK(proxy_maybe_header(data, n) || (whole.rc == -EBADMSG && whole.why == PROXY_ERR_SIG));

	pbuf = decode_copy(data, k, &part);
	if (part.rc != -EAGAIN) {
		CHECK(part.rc == whole.rc && part.why == whole.why);
		if (part.rc > 0)
			CHECK(same_content(&part.hdr, &whole.hdr));
	}
	free(pbuf);

	if (whole.rc > 0) {
		size_t hl = (size_t)whole.rc;

		pbuf = decode_copy(data, hl, &part);
		CHECK(part.rc == whole.rc && same_content(&part.hdr, &whole.hdr));
		free(pbuf);
		pbuf = decode_copy(data, hl - 1, &part);
		CHECK(part.rc == -EAGAIN);
		free(pbuf);
		if (whole.hdr.version == 2)
			roundtrip_v2(&whole.hdr);
		else
			roundtrip_v1(&whole.hdr);
	}
	free(wbuf);
	return 0;
}
