/* libFuzzer target for the strata-vrrp config builder: arbitrary bytes as
 * libconfig text through vrrp_config_load_string() (every vrrp check;
 * nothing touches the disk or the network).
 *
 * Invariants: nothing crashes, over-reads or leaks; a failure returns a
 * negative errno with one error line naming the source and no config; a
 * success returns a config whose instances each have an interface, a VRID
 * in 1..255, a non-zero advertisement interval, at least one VIP of the
 * instance's family, and VRIDs unique per interface and family (RFC 9568
 * §5.2: the VRID names the router on its LAN). Inputs with @include are
 * skipped so the target never reads other files. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../l4/vrrp/vrrp_config.h"
#include "fuzz_config_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_config(const struct vrrp_cfg *c)
{
	assert(c->ninst > 0 && c->ninst <= VRRP_MAX_INSTANCES);
	for (unsigned i = 0; i < c->ninst; i++) {
		const struct vrrp_inst_cfg *a = &c->inst[i];

		assert(a->name[0] && a->ifname[0]);
		assert(a->vrid >= 1 && a->adver_int > 0);
		assert(a->nvip > 0 && a->nvip <= VRRP_MAX_ADDRS);
		for (unsigned k = i + 1; k < c->ninst; k++) {
			const struct vrrp_inst_cfg *b = &c->inst[k];

			assert(!(a->vrid == b->vrid && a->family == b->family &&
				 strcmp(a->ifname, b->ifname) == 0));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vrrp_cfg *c = (void *)1;
	struct cfg_err err;
	char *text;
	int rc;

	text = fuzz_cfg_text(data, size, FUZZ_CFG_SKIP_INCLUDE);
	if (!text)
		return 0;
	cfg_err_init(&err);
	rc = vrrp_config_load_string(FUZZ_CFG_NAME, text, &c, &err);
	if (rc) {
		assert(rc < 0 && c == NULL);
		fuzz_cfg_check_err(&err, FUZZ_CFG_NAME);
	} else {
		assert(c != NULL);
		check_config(c);
		vrrp_config_free(c);
	}
	free(text);
	return 0;
}
