/* libFuzzer target for the SNI peek codec (l4/lb/sni.c).
 *
 * The first byte chooses how the rest is cut into pieces (the codec must not
 * care): whole, in two at a position taken from the second byte, or in
 * pieces of a fixed size. Every cut must give the verdict, name and
 * consumed count of the whole feed; a found name must be a non-empty
 * NUL-terminated host name of allowed characters. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../l4/lb/sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	int rc;
	enum sni_err why;
	bool found;
	char name[SNI_MAX_NAME + 1];
};

/* Feeds data in pieces of `piece` bytes (0: one piece), each in its own
 * exact-size heap copy so ASan catches any over-read. */
static struct result run(const uint8_t *data, size_t size, size_t first, size_t piece)
{
	struct result r = {.rc = -EAGAIN};
	struct sni_parser p;
	size_t start = 0;

	sni_init(&p);
	while (start < size) {
		size_t n = size - start;

		if (start == 0 && first && first < n)
			n = first;
		else if (start > 0 && piece && piece < n)
			n = piece;
		uint8_t *copy = malloc(n);
		assert(copy);
		memcpy(copy, data + start, n);
		int rc = sni_feed(&p, copy, n, &r.why);
		free(copy);
		if (rc == -EAGAIN) {
			assert(r.why == SNI_ERR_NONE);
			start += n;
			continue;
		}
		assert(rc == -EBADMSG || rc == -E2BIG || (rc > 0 && (size_t)rc <= n));
		r.rc = rc > 0 ? (int)(start + (size_t)rc) : rc;
		if (rc > 0 && p.found) {
			r.found = true;
			assert(p.name_len > 0 && p.name_len <= SNI_MAX_NAME);
			assert(strlen(p.name) == p.name_len);
			memcpy(r.name, p.name, p.name_len + 1);
		}
		break;
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, cut;
	size_t first = 0, piece = 0;

	if (size < 2)
		return 0;
	switch (data[0] % 3) {
	case 1:
		first = data[1];
		break;
	case 2:
		first = piece = 1 + data[1] % 32;
		break;
	}
	data += 2;
	size -= 2;
	whole = run(data, size, 0, 0);
	cut = run(data, size, first, piece);
	assert(whole.rc == cut.rc && whole.why == cut.why && whole.found == cut.found);
	assert(strcmp(whole.name, cut.name) == 0);
	return 0;
}
