/* Tests for strata-l4's config (l4/lb/config.c, config_service.c) and its
 * run-time registry (state.c): defaults, every key, the exact error lines,
 * attaching snapshots (records shared across reloads, balancers built),
 * admin states across reloads, and series retired when a reload drops an
 * instance. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../l4/lb/config.h"
#include "../../l4/lb/state.h"

static char path[64];

/* Writes `text` to a fresh temp file and parses it. */
static int parse(const char *text, struct l4_config **out, struct cfg_err *err)
{
	int fd;

	strcpy(path, "/tmp/test_l4_config_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cfg_err_init(err);
	int rc = l4_config_parse(path, out, err);
	unlink(path);
	return rc;
}

/* The error line with the temp file's name replaced by FILE. */
static const char *error_of(const char *text)
{
	static char line[CFG_ERR_MAX + 16];
	struct l4_config *c = NULL;
	struct cfg_err err;

	assert_int_not_equal(parse(text, &c, &err), 0);
	assert_null(c);
	const char *p = strstr(err.msg, path);
	assert_non_null(p);
	snprintf(line, sizeof(line), "FILE%s", p + strlen(path));
	return line;
}

#define ONE_SERVICE(extra)                                                                         \
	"services = ( { name = \"web\"; listen = [ \"127.0.0.1:8000\" ]; " extra                   \
	" instances = ( { address = \"127.0.0.1:8100\"; } ); } );\n"

static void test_defaults(void **state)
{
	struct l4_config *c;
	struct cfg_err err;

	assert_int_equal(parse(ONE_SERVICE(""), &c, &err), 0);
	assert_true(c->node_name[0] != '\0');
	assert_int_equal(c->workers, 0);
	assert_int_equal(c->max_conns, 0);
	assert_int_equal(c->drain_timeout_ms, 10000);
	assert_null(c->admin_socket);
	assert_null(c->access_log);
	assert_int_equal(addr_family(&c->metrics), AF_UNSPEC);
	assert_int_equal(c->ring.buffers, 1024);
	assert_int_equal(c->ring.buffer_size, 16384);
	assert_true(c->ring.recv_multishot);
	assert_false(c->ring.send_inline);
	assert_int_equal(c->n_svc, 1);
	const struct l4_service *s = &c->svc[0];
	assert_string_equal(s->name, "web");
	assert_int_equal(s->algo, BALANCE_MAGLEV);
	assert_false(s->hash_port);
	assert_int_equal(s->data_path, L4_PATH_SPLICE); /* the measured default */
	assert_false(s->sni);
	assert_false(s->pp_authority);
	assert_false(s->pp_crc32c);
	assert_int_equal(s->connect_timeout_ms, 2000);
	assert_int_equal(s->connect_retries, 2);
	assert_int_equal(s->idle_timeout_ms, 600000);
	assert_int_equal(s->queue_limit, 65536);
	assert_int_equal(s->health.type, L4_CHECK_NONE);
	assert_int_equal(s->n_inst, 1);
	assert_string_equal(s->inst[0].name, "127.0.0.1:8100");
	assert_int_equal(s->inst[0].weight, 1);
	assert_int_equal(s->inst[0].state, L4_ADMIN_READY);
	snap_put(&c->hdr);
}

static const char full[] =
    "node_name = \"edge-1\"; log_level = \"debug\"; workers = 3; cpus = [ 1, 0 ];\n"
    "user = \"nobody\"; group = \"nogroup\"; max_conns = 5000; drain_timeout = \"30s\";\n"
    "listen_backlog = 512; access_log = \"-\";\n"
    "admin = { socket = \"run/x.sock\"; group = \"adm\"; };\n"
    "metrics = { listen = \"127.0.0.1:9100\"; };\n"
    "io_uring = { entries = 256; buffers = 512; buffer_size = \"32k\"; pipes = 8;\n"
    "  recv_multishot = false; defer_taskrun = false; send_inline = true; };\n"
    "services = (\n"
    " { name = \"tls\"; listen = [ \"127.0.0.1:8443\", \"[::1]:8443\" ]; balance = "
    "\"least_conn\";\n"
    "   hash_key = \"ip_port\"; data_path = \"splice\"; sni = true; sni_timeout = \"2s\";\n"
    "   proxy_crc32c = true; connect_timeout = \"500ms\"; connect_retries = 4;\n"
    "   idle_timeout = \"1m\"; max_conns = 100; queue_limit = \"128k\";\n"
    "   health = { type = \"http\"; interval = \"1s\"; timeout = \"200ms\"; rise = 3; fall = 4;\n"
    "     path = \"/ready\"; host = \"l7\"; expect = 204; send_proxy = false; };\n"
    "   instances = ( { address = \"127.0.0.1:8140\"; weight = 5; },\n"
    "     { address = \"[::1]:8141\"; backup = true; state = \"drain\";\n"
    "       health = { interval = \"3s\"; fall = 1; }; } ); }\n"
    ");\n";

static void test_every_key(void **state)
{
	struct l4_config *c;
	struct cfg_err err;

	assert_int_equal(parse(full, &c, &err), 0);
	assert_string_equal(c->node_name, "edge-1");
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	assert_int_equal(c->workers, 3);
	assert_int_equal(c->ncpus, 2);
	assert_int_equal(c->cpus[0], 1);
	assert_string_equal(c->user, "nobody");
	assert_string_equal(c->group, "nogroup");
	assert_int_equal(c->max_conns, 5000);
	assert_int_equal(c->drain_timeout_ms, 30000);
	assert_int_equal(c->listen_backlog, 512);
	assert_string_equal(c->access_log, "-");
	assert_string_equal(c->admin_socket, "run/x.sock");
	assert_string_equal(c->admin_group, "adm");
	assert_int_equal(addr_port(&c->metrics), 9100);
	assert_int_equal(c->ring.entries, 256);
	assert_int_equal(c->ring.buffers, 512);
	assert_int_equal(c->ring.buffer_size, 32768);
	assert_int_equal(c->ring.pipes, 8);
	assert_false(c->ring.recv_multishot);
	assert_false(c->ring.defer_taskrun);
	assert_true(c->ring.send_inline);
	const struct l4_service *s = &c->svc[0];
	assert_int_equal(s->n_listen, 2);
	assert_int_equal(addr_family(&s->listen[1].addr), AF_INET6);
	assert_int_equal(s->algo, BALANCE_LEAST_CONN);
	assert_true(s->hash_port);
	assert_int_equal(s->data_path, L4_PATH_SPLICE);
	assert_true(s->sni && s->pp_authority && s->pp_crc32c);
	assert_int_equal(s->sni_timeout_ms, 2000);
	assert_int_equal(s->connect_timeout_ms, 500);
	assert_int_equal(s->connect_retries, 4);
	assert_int_equal(s->idle_timeout_ms, 60000);
	assert_int_equal(s->max_conns, 100);
	assert_int_equal(s->queue_limit, 131072);
	assert_int_equal(s->health.type, L4_CHECK_HTTP);
	assert_string_equal(s->health.path, "/ready");
	assert_int_equal(s->health.expect, 204);
	assert_false(s->health.send_proxy);
	assert_int_equal(s->inst[0].weight, 5);
	assert_int_equal(s->inst[0].health.interval_ms, 1000);
	assert_string_equal(s->inst[1].name, "[::1]:8141");
	assert_true(s->inst[1].backup);
	assert_int_equal(s->inst[1].state, L4_ADMIN_DRAIN);
	/* Per-instance overrides start from the service's values. */
	assert_int_equal(s->inst[1].health.interval_ms, 3000);
	assert_int_equal(s->inst[1].health.fall, 1);
	assert_int_equal(s->inst[1].health.rise, 3);
	assert_string_equal(s->inst[1].health.host, "l7");
	assert_ptr_equal(l4_config_service(c, "tls"), s);
	assert_null(l4_config_service(c, "nope"));
	assert_int_equal(l4_service_instance(s, "[::1]:8141"), 1);
	assert_int_equal(l4_service_instance(s, "[::1]:1"), -1);
	snap_put(&c->hdr);
}

static void test_error_lines(void **state)
{
	assert_string_equal(
	    error_of("services = ( { name = \"a\"; lisen = [\"127.0.0.1:1\"]; } );"),
	    "FILE:1: services[0].lisen: unknown key (did you mean 'listen'?)");
	assert_string_equal(error_of("nodename = \"x\";\n" ONE_SERVICE("")),
			    "FILE:1: nodename: unknown key (did you mean 'node_name'?)");
	assert_string_equal(error_of("node_name = \"a b\";\n" ONE_SERVICE("")),
			    "FILE:1: node_name: must be 1 to 64 letters, digits, '-', '_' or '.'");
	assert_string_equal(error_of(ONE_SERVICE("balance = \"rr\";")),
			    "FILE:1: services[0].balance: expected one of \"round_robin\", "
			    "\"least_conn\", \"random2\", \"maglev\", got \"rr\"");
	assert_string_equal(error_of(ONE_SERVICE("data_path = \"zero\";")),
			    "FILE:1: services[0].data_path: expected one of \"copy\", \"splice\", "
			    "got \"zero\"");
	assert_string_equal(error_of("services = ( );"),
			    "FILE:1: services: at least one service is required");
	assert_string_equal(error_of("x = 1;"), "FILE:1: x: unknown key (known keys: 'node_name', "
						"'log_level', 'workers', 'cpus', 'user', 'group', "
						"'max_conns', 'drain_timeout', 'drain_linger', "
						"'drain_close_idle', 'listen_backlog', "
						"'admin', 'metrics', 'access_log', 'io_uring', "
						"'services')");
	assert_string_equal(error_of("services = ( { name = \"a\"; instances = ( ); } );"),
			    "FILE:1: services[0].listen: required key is missing");
	assert_string_equal(
	    error_of(
		ONE_SERVICE("health = { type = \"http\"; interval = \"1s\"; timeout = \"2s\"; };")),
	    "FILE:1: services[0].health.timeout: must not be longer than the interval (1000 ms)");
	assert_string_equal(error_of(ONE_SERVICE("health = { path = \"x\"; };")),
			    "FILE:1: services[0].health.path: must start with '/'");
	assert_string_equal(error_of(ONE_SERVICE("health = { host = \"a b\"; };")),
			    "FILE:1: services[0].health.host: must not contain spaces or control "
			    "characters");
	assert_string_equal(error_of("io_uring = { buffers = 1000; };\n" ONE_SERVICE("")),
			    "FILE:1: io_uring.buffers: must be a power of two, got 1000");
	assert_string_equal(
	    error_of("services = ( { name = \"a\"; listen = [\"127.0.0.1:1\"]; instances = ( "
		     "{ address = \"127.0.0.1:2\"; }, { address = \"127.0.0.1:2\"; } ); } );"),
	    "FILE:1: services[0].instances[1].address: duplicate instance 127.0.0.1:2 in service "
	    "'a'");
	assert_string_equal(
	    error_of("services = ( { name = \"a\"; listen = [\"127.0.0.1:1\"]; instances = ( "
		     "{ address = \"127.0.0.1:2\"; state = \"off\"; } ); } );"),
	    "FILE:1: services[0].instances[0].state: expected one of \"ready\", \"drain\", "
	    "\"maint\", got \"off\"");
	assert_string_equal(
	    error_of("services = ( { name = \"a\"; listen = [\"127.0.0.1:1\"]; instances = ( "
		     "{ address = \"127.0.0.1:2\"; } ); }, { name = \"a\"; listen = "
		     "[\"127.0.0.1:3\"]; instances = ( { address = \"127.0.0.1:2\"; } ); } );"),
	    "FILE:1: services[1].name: duplicate service name 'a'");
}

static void test_attach_shares_records_across_snapshots(void **state)
{
	struct l4_state st;
	struct l4_config *a, *b;
	struct cfg_err err;

	assert_int_equal(l4_state_init(&st, NULL), 0);
	assert_int_equal(parse(full, &a, &err), 0);
	assert_int_equal(l4_config_attach(a, &st, 2, &err), 0);
	assert_non_null(a->svc[0].bal);
	assert_int_equal(balance_count(a->svc[0].bal), 2);
	assert_int_equal(a->n_workers, 2);
	struct l4_inst_rt *rt0 = a->svc[0].inst[0].rt, *rt1 = a->svc[0].inst[1].rt;
	assert_non_null(rt0);
	/* Configured drain: not available; new instances start up. */
	assert_true(atomic_load(&rt0->up));
	assert_true(balance_live_available(&rt0->live));
	assert_int_equal(atomic_load(&rt1->admin), L4_ADMIN_DRAIN);
	assert_false(balance_live_available(&rt1->live));

	/* A runtime `set instance` survives a reload that does not touch the
	 * instance's configured state (test_config_state_change_wins: one that
	 * does wins). */
	atomic_store(&rt0->admin, L4_ADMIN_MAINT);
	l4_inst_update_available(rt0);
	assert_int_equal(parse(full, &b, &err), 0);
	assert_int_equal(l4_config_attach(b, &st, 2, &err), 0);
	assert_ptr_equal(b->svc[0].inst[0].rt, rt0);
	assert_ptr_equal(b->svc[0].rt, a->svc[0].rt);
	assert_int_equal(atomic_load(&rt0->admin), L4_ADMIN_MAINT);
	assert_false(balance_live_available(&rt0->live));
	snap_put(&b->hdr);

	snap_put(&a->hdr);
	l4_state_fini(&st);
}

static void test_config_state_change_wins(void **state)
{
	const char *ready = "services = ( { name = \"a\"; listen = [\"127.0.0.1:1\"]; instances = "
			    "( { address = \"127.0.0.1:2\"; state = \"ready\"; } ); } );";
	const char *drain = "services = ( { name = \"a\"; listen = [\"127.0.0.1:1\"]; instances = "
			    "( { address = \"127.0.0.1:2\"; state = \"drain\"; } ); } );";
	struct l4_state st;
	struct l4_config *c;
	struct cfg_err err;

	assert_int_equal(l4_state_init(&st, NULL), 0);
	assert_int_equal(parse(ready, &c, &err), 0);
	assert_int_equal(l4_config_attach(c, &st, 1, &err), 0);
	struct l4_inst_rt *rt = c->svc[0].inst[0].rt;
	snap_put(&c->hdr);
	atomic_store(&rt->admin, L4_ADMIN_MAINT); /* stratactl */
	assert_int_equal(parse(ready, &c, &err), 0);
	assert_int_equal(l4_config_attach(c, &st, 1, &err), 0);
	assert_int_equal(atomic_load(&rt->admin), L4_ADMIN_MAINT);
	snap_put(&c->hdr);
	assert_int_equal(parse(drain, &c, &err), 0);
	assert_int_equal(l4_config_attach(c, &st, 1, &err), 0);
	assert_int_equal(atomic_load(&rt->admin), L4_ADMIN_DRAIN);
	assert_false(balance_live_available(&rt->live));
	snap_put(&c->hdr);
	l4_state_fini(&st);
}

static void test_retired_series_hidden_and_revived(void **state)
{
	const char *two =
	    "services = ( { name = \"a\"; listen = [\"127.0.0.1:1\"]; instances = "
	    "( { address = \"127.0.0.1:2\"; }, { address = \"127.0.0.1:3\"; } ); } );";
	const char *one = "services = ( { name = \"a\"; listen = [\"127.0.0.1:1\"]; instances = "
			  "( { address = \"127.0.0.1:2\"; } ); } );";
	struct metrics_reg *reg = metrics_reg_new(4, 0);
	struct l4_state st;
	struct l4_config *c;
	struct cfg_err err;
	size_t len;
	char *text;

	assert_non_null(reg);
	assert_int_equal(l4_state_init(&st, reg), 0);
	l4_mw = metrics_worker(reg, 0);
	assert_int_equal(parse(two, &c, &err), 0);
	assert_int_equal(l4_config_attach(c, &st, 1, &err), 0);
	metrics_add(l4_mw, c->svc[0].inst[1].rt->m_conns, 7);
	snap_put(&c->hdr);
	assert_int_equal(parse(one, &c, &err), 0);
	assert_int_equal(l4_config_attach(c, &st, 1, &err), 0);
	l4_state_retire_unused(&st, c);
	text = metrics_render(reg, &len);
	assert_non_null(strstr(text, "instance=\"127.0.0.1:2\""));
	assert_null(strstr(text, "instance=\"127.0.0.1:3\""));
	free(text);
	snap_put(&c->hdr);
	assert_int_equal(parse(two, &c, &err), 0);
	assert_int_equal(l4_config_attach(c, &st, 1, &err), 0);
	text = metrics_render(reg, &len);
	assert_non_null(strstr(text, "strata_l4_instance_connections_total{service=\"a\","
				     "instance=\"127.0.0.1:3\"} 7"));
	/* Gauges count per-writer deltas: both instances up and available. */
	assert_non_null(
	    strstr(text, "strata_l4_instance_up{service=\"a\",instance=\"127.0.0.1:3\"} 1"));
	free(text);
	snap_put(&c->hdr);
	l4_mw = NULL;
	l4_state_fini(&st);
	metrics_reg_free(reg);
}

static void test_check_builder(void **state)
{
	void *snap = NULL;
	struct cfg_err err;
	int fd;

	strcpy(path, "/tmp/test_l4_check_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, full, strlen(full)), (ssize_t)strlen(full));
	close(fd);
	cfg_err_init(&err);
	assert_int_equal(l4_config_check(path, &snap, &err), 0);
	assert_non_null(snap);
	l4_config_check_free(snap);
	unlink(path);
	assert_int_not_equal(l4_config_check("/nonexistent/l4.conf", &snap, &err), 0);
	assert_null(snap);
	assert_non_null(strstr(err.msg, "/nonexistent/l4.conf: cannot read"));
}

static void test_names(void **state)
{
	enum l4_admin a;

	assert_string_equal(l4_admin_name(L4_ADMIN_MAINT), "maint");
	assert_int_equal(l4_admin_parse("drain", &a), 0);
	assert_int_equal(a, L4_ADMIN_DRAIN);
	assert_int_equal(l4_admin_parse("Drain", &a), -EINVAL);
	assert_string_equal(l4_data_path_name(L4_PATH_SPLICE), "splice");
	assert_string_equal(l4_check_name(L4_CHECK_HTTP), "http");
	assert_string_equal(l4_cerr_name(L4_CERR_TIMEOUT), "timeout");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_every_key),
	    cmocka_unit_test(test_error_lines),
	    cmocka_unit_test(test_attach_shares_records_across_snapshots),
	    cmocka_unit_test(test_config_state_change_wins),
	    cmocka_unit_test(test_retired_series_hidden_and_revived),
	    cmocka_unit_test(test_check_builder),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
