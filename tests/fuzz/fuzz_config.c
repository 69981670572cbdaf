/* libFuzzer target for config loading: libconfig text from memory
 * (cfg_load_string(), which is config_read_string() plus the integer
 * literal scan), then cfg_check_keys() and every getter over a sample
 * schema shaped like the daemons' (top-level knobs, a list of service
 * groups with nested groups and lists).
 *
 * Invariants: nothing crashes or leaks; every failure leaves one error line
 * naming the source; a getter that fails never leaves a half-filled list.
 * Inputs with @include are skipped so the target never reads the disk. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfgval.h"
#include "fuzz_config_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const top_keys[] = {"listen",  "timeout", "buffer", "workers",  "reuse",
				       "balance", "trusted", "vips",   "services", NULL};
static const char *const service_keys[] = {"name", "listen", "backends", "timeouts", "admin", NULL};
static const char *const timeout_keys[] = {"connect", "idle", NULL};
static const char *const balances[] = {"roundrobin", "leastconn", "maglev", NULL};

static void check_err(int rc, const struct cfg_err *err)
{
	if (rc == 0)
		return;
	assert(rc == -EINVAL);
	fuzz_cfg_check_err(err, FUZZ_CFG_NAME);
}

/* Runs `call`, checks the error contract, and starts over with a fresh err
 * so every getter gets exercised even after an earlier one failed. */
#define TRY(err, call)                                                                             \
	do {                                                                                       \
		cfg_err_init(&(err));                                                              \
		check_err((call), &(err));                                                         \
	} while (0)

static void walk_paths(const config_setting_t *s, unsigned depth)
{
	char path[CFG_PATH_MAX];

	assert(cfg_path(s, path, sizeof(path)) < sizeof(path));
	assert(cfg_line(s) >= 1 && cfg_file(s) != NULL);
	if (!config_setting_is_aggregate(s) || depth > 64)
		return;
	for (int i = 0; i < config_setting_length(s); i++)
		walk_paths(config_setting_get_elem(s, (unsigned)i), depth + 1);
}

static void service(const config_setting_t *svc)
{
	const config_setting_t *timeouts;
	struct cfg_err err;
	struct addr a, *list;
	const char *s;
	uint64_t v;
	size_t n;

	TRY(err, cfg_expect_group(svc, &err));
	TRY(err, cfg_check_keys(svc, service_keys, &err));
	TRY(err, cfg_require(svc, "listen", &err));
	TRY(err, cfg_get_string(svc, "name", "svc", &s, &err));
	TRY(err, cfg_get_addr(svc, "listen", ADDR_F_PORT_OPTIONAL, 80, NULL, &a, &err));
	TRY(err, cfg_get_addr(svc, "admin", ADDR_F_UNIX, 0, "unix:@admin", &a, &err));
	list = NULL;
	cfg_err_init(&err);
	check_err(cfg_get_addr_list(svc, "backends", 0, 0, &list, &n, &err), &err);
	assert(cfg_err_is_set(&err) ? list == NULL : (list != NULL) == (n > 0));
	free(list);
	cfg_err_init(&err);
	if (cfg_get_group(svc, "timeouts", &timeouts, &err) == 0 && timeouts) {
		TRY(err, cfg_check_keys(timeouts, timeout_keys, &err));
		TRY(err,
		    cfg_get_duration(timeouts, "connect", 0, 1000, 60 * CFGVAL_US_PER_S, &v, &err));
		TRY(err, cfg_get_duration(timeouts, "idle", 0, 0, UINT64_MAX, &v, &err));
	}
}

static void schema(const config_setting_t *root)
{
	const config_setting_t *services;
	struct cidr_list trusted;
	struct cfg_err err;
	struct addr a, *vips;
	long long i;
	uint64_t v;
	size_t n;
	bool b;
	int e;

	TRY(err, cfg_check_keys(root, top_keys, &err));
	TRY(err, cfg_get_addr(root, "listen", 0, 0, "127.0.0.1:8000", &a, &err));
	TRY(err, cfg_get_duration(root, "timeout", 0, 1, UINT64_MAX, &v, &err));
	TRY(err, cfg_get_size(root, "buffer", 0, 1024, 1u << 30, &v, &err));
	TRY(err, cfg_get_int(root, "workers", 1, 1, 256, &i, &err));
	TRY(err, cfg_get_bool(root, "reuse", true, &b, &err));
	TRY(err, cfg_get_enum(root, "balance", balances, 0, &e, &err));
	cfg_err_init(&err);
	check_err(cfg_get_cidr_list(root, "trusted", &trusted, &err), &err);
	assert(!cfg_err_is_set(&err) || trusted.n == 0);
	cidr_list_match(&trusted, &a);
	cidr_list_free(&trusted);
	vips = NULL;
	TRY(err, cfg_get_addr_list(root, "vips", ADDR_F_NO_PORT, 0, &vips, &n, &err));
	free(vips);
	cfg_err_init(&err);
	if (cfg_get_list(root, "services", &services, &err) == 0 && services) {
		for (int k = 0; k < config_setting_length(services) && k < 64; k++)
			service(config_setting_get_elem(services, (unsigned)k));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_err err;
	config_t cfg;
	char *text;

	text = fuzz_cfg_text(data, size, FUZZ_CFG_SKIP_INCLUDE);
	if (!text)
		return 0;
	cfg_err_init(&err);
	if (cfg_load_string(FUZZ_CFG_NAME, text, &cfg, &err) != 0) {
		fuzz_cfg_check_err(&err, FUZZ_CFG_NAME);
	} else {
		walk_paths(config_root_setting(&cfg), 0);
		schema(config_root_setting(&cfg));
		config_destroy(&cfg);
	}
	free(text);
	return 0;
}
