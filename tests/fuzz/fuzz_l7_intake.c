/* libFuzzer target for strata-l7's intake policy (l7/intake.c) over the
 * PROXY codec: every mode and trust combination on the same bytes, with
 * verdicts checked for stability on every prefix (a prefix answers -EAGAIN
 * or the whole input's verdict) and a header length never past the input. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../l7/intake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int verdict(enum l7_pp_mode m, bool trusted, const uint8_t *d, size_t n)
{
	struct proxy_hdr h;
	enum l7m_refuse why;
	enum proxy_err perr;
	int r = l7_intake_check(m, trusted, d, n, &h, &why, &perr);

	if (r > 0 && ((size_t)r > n || h.hdr_len != (size_t)r))
		abort();
	if (r == -EPERM && why >= L7M_REFUSE__COUNT)
		abort();
	if (r != -EAGAIN && r != -EPERM && r < 0)
		abort();
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Copies, so any over-read is past a heap block ASan watches. */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	for (size_t i = 0; i < size; i++)
		buf[i] = data[i];
	for (int m = 0; m < L7_PP__COUNT; m++) {
		for (int t = 0; t < 2; t++) {
			int whole = verdict((enum l7_pp_mode)m, t, buf, size);

			for (size_t n = 0; n < size && n < 300; n++) {
				int p = verdict((enum l7_pp_mode)m, t, buf, n);

				/* A header complete within n bytes is complete in the
				 * whole input too, with the same length. */
				if (p != -EAGAIN && p != whole && !(p == 0 && whole == 0) &&
				    !(n == 0 && p == -EAGAIN))
					abort();
			}
		}
	}
	free(buf);
	return 0;
}
