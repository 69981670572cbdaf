/* Intake policy: may this connection carry a PROXY header, and does it?
 *
 * Pure (no sockets, no allocation): the client connection feeds the first
 * bytes it received and the answer says whether to wait, to read HTTP from
 * byte 0, to take a header of N bytes, or to close. DESIGN.md "Contracts
 * between the tiers": a header is accepted only from a trusted peer; a
 * header from anyone else, a malformed one, or none where one is required
 * closes the connection (counted by reason, nothing forwarded).
 *
 *   mode      peer trusted   first bytes            verdict
 *   off       any            any                    plain (0)
 *   required  no             any                    refuse untrusted
 *   required  yes            not a header           refuse missing
 *   required  yes            header                 N / refuse malformed
 *   optional  no             header (signature)     refuse untrusted
 *   optional  any            not a header           plain (0)
 *   optional  yes            header                 N / refuse malformed
 */
#ifndef STRATA_L7_INTAKE_H
#define STRATA_L7_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

#include "l7_config.h"
#include "l7_metrics.h"

/* Returns > 0: a header of that many bytes, decoded into *hdr; 0: no
 * header, the payload starts at byte 0; -EAGAIN: need more bytes; -EPERM:
 * refuse, *why (and *perr for a malformed header) says why. */
int l7_intake_check(enum l7_pp_mode mode, bool peer_trusted, const uint8_t *buf, size_t len,
		    struct proxy_hdr *hdr, enum l7m_refuse *why, enum proxy_err *perr);

#endif
