/* Tests for vrrp_config.c / vrrp_config_inst.c: every key lands where it
 * should, defaults match the docs (and keepalived where it has one), and
 * each mistake gives its exact "FILE:LINE: KEY: ..." line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "../../l4/vrrp/vrrp_config.h"

static struct vrrp_cfg *load_ok(const char *text)
{
	struct vrrp_cfg *cfg = NULL;
	struct cfg_err err;

	cfg_err_init(&err);
	if (vrrp_config_load_string("t.conf", text, &cfg, &err) != 0)
		fail_msg("unexpected error: %s", err.msg);
	return cfg;
}

static void expect_err(const char *text, const char *line)
{
	struct vrrp_cfg *cfg = NULL;
	struct cfg_err err;

	cfg_err_init(&err);
	assert_int_equal(vrrp_config_load_string("t.conf", text, &cfg, &err), -EINVAL);
	assert_null(cfg);
	assert_string_equal(err.msg, line);
}

#define MINIMAL                                                                                    \
	"instances = ( { name = \"VI_1\"; interface = \"eth0\"; vrid = 51;\n"                      \
	"  virtual_addresses = [ \"10.77.1.100/24\" ]; } );\n"

static void test_defaults(void **state)
{
	struct vrrp_cfg *cfg = load_ok(MINIMAL);
	const struct vrrp_inst_cfg *i = &cfg->inst[0];

	assert_int_equal(cfg->ninst, 1);
	assert_int_equal(i->vrid, 51);
	assert_int_equal(i->priority, 100);
	assert_int_equal(i->adver_int, 10); /* 100 ms, in centiseconds */
	assert_true(i->preempt);
	assert_int_equal(i->preempt_delay_us, 0);
	assert_false(i->csum_v2);
	assert_false(i->use_vmac);
	assert_string_equal(i->vmac_name, "vrrp.51");
	assert_int_equal(i->family, AF_INET);
	assert_int_equal(i->nvip, 1);
	assert_int_equal(i->vip[0].prefix, 24);
	assert_int_equal(i->npeer, 0);
	assert_int_equal(i->group, -1);
	assert_true(i->na_router);
	/* keepalived's GARP defaults: 5 at once, 5 more after 5 s. */
	assert_int_equal(i->garp.count, 5);
	assert_int_equal(i->garp.repeat_delay_us, 5000000);
	assert_int_equal(i->garp.repeat_count, 5);
	assert_int_equal(cfg->rt_priority, 50);
	assert_true(cfg->lock_memory);
	assert_int_equal(cfg->log_level, LOG_LVL_INFO);
	vrrp_config_free(cfg);
}

static void test_every_key(void **state)
{
	static const char text[] =
	    "log_level = \"debug\";\n"
	    "admin_socket = \"/run/strata/vrrp.sock\";\n"
	    "admin_group = \"adm\";\n"
	    "metrics = \"127.0.0.1:9120\";\n"
	    "state_file = \"/run/strata/vrrp.state\";\n"
	    "notify = \"/etc/strata/notify.sh\";\n"
	    "realtime_priority = 20;\n"
	    "lock_memory = false;\n"
	    "garp = { count = 3; interval = \"20ms\"; repeat_delay = \"2s\"; repeat_count = 1;\n"
	    "  refresh = \"60s\"; };\n"
	    "trackers = (\n"
	    "  { name = \"l4\"; type = \"strata-l4\"; pid_file = \"/run/strata/l4.pid\";\n"
	    "    admin_socket = \"/run/strata/l4.sock\"; process_name = \"strata-l4\";\n"
	    "    interval = \"200ms\"; timeout = \"100ms\"; rise = 2; fall = 3; },\n"
	    "  { name = \"up\"; type = \"interface\"; interface = \"eth1\"; weight = -50; },\n"
	    "  { name = \"chk\"; type = \"script\"; command = \"test -f /tmp/ok\"; weight = 10; }\n"
	    ");\n"
	    "instances = (\n"
	    "  { name = \"V4\"; interface = \"eth0\"; vrid = 1; priority = 255;\n"
	    "    advert_interval = \"1s\"; virtual_addresses = [ \"10.77.1.100\", "
	    "\"10.77.1.101/24\" ];\n"
	    "    preempt = false; preempt_delay = \"30s\"; accept = true; v3_checksum_as_v2 = "
	    "true;\n"
	    "    use_vmac = true; vmac_interface = \"vm1\"; source_address = \"10.77.1.1\";\n"
	    "    unicast_peers = [ \"10.77.1.2\", \"10.77.1.3\" ]; track = [ \"l4\", \"up\" ];\n"
	    "    notify = \"/bin/true\"; garp = { count = 1; }; na_router_flag = false; },\n"
	    "  { name = \"V6\"; interface = \"eth0\"; vrid = 1; virtual_addresses = "
	    "\"fd77::1/64\";\n"
	    "    track = \"chk\"; }\n"
	    ");\n"
	    "sync_groups = ( { name = \"G\"; instances = [ \"V4\", \"V6\" ]; notify = "
	    "\"/bin/true\"; } "
	    ");\n";
	struct vrrp_cfg *cfg = load_ok(text);
	const struct vrrp_inst_cfg *a = &cfg->inst[0], *b = &cfg->inst[1];
	char ip[INET6_ADDRSTRLEN];

	assert_int_equal(cfg->log_level, LOG_LVL_DEBUG);
	assert_string_equal(cfg->admin_socket, "/run/strata/vrrp.sock");
	assert_string_equal(cfg->admin_group, "adm");
	assert_int_equal(addr_port(&cfg->metrics), 9120);
	assert_string_equal(cfg->state_file, "/run/strata/vrrp.state");
	assert_string_equal(cfg->notify, "/etc/strata/notify.sh");
	assert_int_equal(cfg->rt_priority, 20);
	assert_false(cfg->lock_memory);
	assert_int_equal(cfg->ntrack, 3);
	assert_int_equal(cfg->track[0].type, VRRP_TRACK_L4);
	assert_string_equal(cfg->track[0].process_name, "strata-l4");
	assert_int_equal(cfg->track[0].interval_us, 200000);
	assert_int_equal(cfg->track[0].timeout_us, 100000);
	assert_int_equal(cfg->track[0].rise, 2);
	assert_int_equal(cfg->track[0].fall, 3);
	assert_int_equal(cfg->track[0].weight, 0);
	assert_int_equal(cfg->track[1].weight, -50);
	assert_string_equal(cfg->track[1].ifname, "eth1");
	assert_string_equal(cfg->track[2].command, "test -f /tmp/ok");
	assert_int_equal(a->priority, 255);
	assert_int_equal(a->adver_int, 100);
	assert_int_equal(a->nvip, 2);
	assert_int_equal(a->vip[0].prefix, 32);
	assert_false(a->preempt);
	assert_int_equal(a->preempt_delay_us, 30000000);
	assert_true(a->csum_v2);
	assert_true(a->use_vmac);
	assert_string_equal(a->vmac_name, "vm1");
	assert_true(a->has_src);
	assert_string_equal(inet_ntop(AF_INET, &a->src, ip, sizeof(ip)), "10.77.1.1");
	assert_int_equal(a->npeer, 2);
	assert_string_equal(inet_ntop(AF_INET, &a->peer[1], ip, sizeof(ip)), "10.77.1.3");
	assert_int_equal(a->ntrack, 2);
	assert_int_equal(a->track[1], 1);
	assert_int_equal(a->garp.count, 1);
	assert_int_equal(a->garp.repeat_delay_us, 2000000); /* from the global garp */
	assert_int_equal(a->garp.interval_us, 20000);
	assert_int_equal(a->garp.refresh_us, 60000000);
	assert_false(a->na_router);
	assert_int_equal(b->family, AF_INET6);
	assert_int_equal(b->track[0], 2);
	assert_int_equal(cfg->ngroup, 1);
	assert_int_equal(cfg->group[0].n, 2);
	assert_int_equal(a->group, 0);
	assert_int_equal(b->group, 0);
	vrrp_config_free(cfg);
}

static void test_errors(void **state)
{
	expect_err("instances = ( { name = \"VI_1\"; interface = \"eth0\"; vrid = 51;\n"
		   "  priorty = 150; virtual_addresses = [ \"10.77.1.100\" ]; } );\n",
		   "t.conf:2: instances[0].priorty: unknown key (did you mean 'priority'?)");
	expect_err(MINIMAL "advert_intervall = 1;\n",
		   "t.conf:3: advert_intervall: unknown key (known keys: 'log_level', "
		   "'admin_socket', 'admin_group', 'metrics', 'state_file', 'notify', "
		   "'realtime_priority', 'lock_memory', 'shutdown_wait', 'garp', 'trackers', "
		   "'sync_groups', "
		   "'instances')");
	expect_err("instances = ( { name = \"VI_1\"; interface = \"eth0\"; vrid = 51;\n"
		   "  advert_interval = \"15ms\"; virtual_addresses = [ \"10.77.1.100\" ]; } );\n",
		   "t.conf:2: instances[0].advert_interval: must be a whole number of "
		   "centiseconds (10ms steps)");
	expect_err("instances = ( { name = \"VI_1\"; interface = \"eth0\"; vrid = 256;\n"
		   "  virtual_addresses = [ \"10.77.1.100\" ]; } );\n",
		   "t.conf:1: instances[0].vrid: must be between 1 and 255, got 256");
	expect_err("instances = ( { name = \"VI_1\"; interface = \"eth0\"; vrid = 5;\n"
		   "  virtual_addresses = [ \"10.77.1.100\", \"fd77::1\" ]; } );\n",
		   "t.conf:2: instances[0].virtual_addresses[1]: mixes IPv4 and IPv6 (use one "
		   "instance per family)");
	expect_err("instances = ( { name = \"VI_1\"; interface = \"eth0\"; vrid = 5;\n"
		   "  virtual_addresses = [ \"vip.example.com\" ]; } );\n",
		   "t.conf:2: instances[0].virtual_addresses[0]: not an IPv4 or IPv6 address "
		   "(host names are not accepted)");
	expect_err("instances = ( { name = \"VI_1\"; interface = \"eth0\"; vrid = 5;\n"
		   "  track = [ \"l4\" ]; virtual_addresses = [ \"10.77.1.100\" ]; } );\n",
		   "t.conf:2: instances[0].track[0]: no tracker named 'l4' in trackers");
	expect_err(MINIMAL "trackers = ( { name = \"x\"; type = \"interface\";\n"
			   "  interface = \"eth1\"; command = \"true\"; } );\n",
		   "t.conf:4: trackers[0].command: not used by trackers of type \"interface\"");
	expect_err(MINIMAL "trackers = ( { name = \"x\"; type = \"strata-l4\"; } );\n",
		   "t.conf:3: trackers[0]: a strata-l4 tracker needs pid_file, admin_socket or "
		   "both");
	expect_err("instances = ( { name = \"A\"; interface = \"eth0\"; vrid = 5;\n"
		   "  virtual_addresses = [ \"10.77.1.100\" ]; },\n"
		   "  { name = \"B\"; interface = \"eth0\"; vrid = 5;\n"
		   "  virtual_addresses = [ \"10.77.1.101\" ]; } );\n",
		   "t.conf:3: instances[1].vrid: VRID 5 already used on eth0 by 'A'");
	expect_err("instances = ( { name = \"A\"; interface = \"eth0\"; vrid = 5; accept = false;\n"
		   "  virtual_addresses = [ \"10.77.1.100\" ]; } );\n",
		   "t.conf:1: instances[0].accept: false is not supported: strata-l4 must receive "
		   "on the VIP");
	expect_err(MINIMAL "sync_groups = ( { name = \"G\"; instances = [ \"VI_1\", \"VI_9\" ]; } "
			   ");\n",
		   "t.conf:3: sync_groups[0].instances[1]: no instance named 'VI_9'");
	expect_err("log_level = \"info\";\n", "t.conf:1: instances: required key is missing");
	expect_err(MINIMAL "garp = { refresh = \"100ms\"; };\n",
		   "t.conf:3: garp.refresh: must be 0 (off) or at least 1s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_every_key),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
