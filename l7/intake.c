/* Intake policy over the PROXY v1/v2 decoder (intake.h). */
#include "intake.h"

#include <errno.h>

int l7_intake_check(enum l7_pp_mode mode, bool peer_trusted, const uint8_t *buf, size_t len,
		    struct proxy_hdr *hdr, enum l7m_refuse *why, enum proxy_err *perr)
{
	int ret;

	*perr = PROXY_ERR_NONE;
	if (mode == L7_PP_OFF)
		return 0;
	if (mode == L7_PP_REQUIRED && !peer_trusted) {
		/* Refused before reading a byte: nobody else may even try. */
		*why = L7M_REFUSE_UNTRUSTED;
		return -EPERM;
	}
	if (len == 0)
		return -EAGAIN;
	if (!proxy_maybe_header(buf, len)) {
		if (mode == L7_PP_OPTIONAL)
			return 0;
		*why = L7M_REFUSE_MISSING;
		return -EPERM;
	}
	/* Still a possible prefix of a signature: wait for it to complete
	 * before judging (an optional listener may see "PROXY " or HTTP). */
	if (!peer_trusted) {
		bool full = (len >= PPV1_SIG_LEN && ppv1_sig_prefix(buf, len)) ||
			    (len >= PPV2_SIG_LEN && ppv2_sig_prefix(buf, len));

		if (!full)
			return -EAGAIN;
		*why = L7M_REFUSE_UNTRUSTED;
		return -EPERM;
	}
	ret = proxy_decode(buf, len, hdr, perr);
	if (ret > 0 || ret == -EAGAIN)
		return ret;
	*why = L7M_REFUSE_MALFORMED;
	return -EPERM;
}
