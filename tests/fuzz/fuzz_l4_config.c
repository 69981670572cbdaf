/* libFuzzer target for the strata-l4 config builder: arbitrary bytes as
 * the config file through l4_config_check(), what `strata-l4 -t` runs:
 * cfg_load() and every l4 check, then the balancers (Maglev tables and
 * the others) built against a scratch registry. The input is handed over
 * as a memfd named through /proc/self/fd, so nothing touches the disk.
 *
 * Invariants: nothing crashes, over-reads or leaks; a failure returns a
 * negative errno with one error line naming the file and no snapshot; a
 * success returns a snapshot whose every service has a listen address and
 * an instance, and whose instance lookups agree with its list.
 * Inputs with @include are skipped so the target never reads other files. */
#include <assert.h>
#include <stdint.h>
#include <unistd.h>

#include "../../l4/lb/config.h"
#include "fuzz_config_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_snapshot(const struct l4_config *c)
{
	for (size_t i = 0; i < c->n_svc; i++) {
		const struct l4_service *s = &c->svc[i];

		assert(s->name[0] && l4_config_service(c, s->name) == s);
		assert(s->n_listen > 0 && s->n_inst > 0);
		for (size_t k = 0; k < s->n_inst; k++)
			assert(l4_service_instance(s, s->inst[k].name) >= 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[FUZZ_CFG_PATH_MAX];
	struct cfg_err err;
	struct l4_config *c = NULL;
	void *snap = NULL;
	int fd, rc;

	fd = fuzz_cfg_memfd(data, size, "fuzz-l4.conf", path);
	if (fd < 0)
		return 0;
	cfg_err_init(&err);
	rc = l4_config_parse(path, &c, &err);
	if (rc) {
		assert(rc < 0 && c == NULL);
		fuzz_cfg_check_err(&err, path);
	} else {
		check_snapshot(c);
		l4_config_free(c);
		/* what -t adds: the balancers built for a worker */
		cfg_err_init(&err);
		rc = l4_config_check(path, &snap, &err);
		if (rc) {
			assert(snap == NULL);
			fuzz_cfg_check_err(&err, path);
		}
		l4_config_check_free(snap);
	}
	close(fd);
	return 0;
}
