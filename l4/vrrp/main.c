/* strata-vrrp: VRRPv3 daemon that moves the VIPs of the L4 tier.
 *
 * main() parses the options, checks or loads the configuration, and hands
 * the snapshot to the daemon (vrrp_daemon.c), which runs until SIGTERM or
 * SIGINT and then resigns with a priority-0 advert before exiting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "daemon.h"
#include "log.h"

#include "vrrp_config.h"
#include "vrrp_daemon.h"

static const struct daemon_info info = {
    .name = "strata-vrrp",
    .summary = "VRRPv3 daemon that moves the VIPs of the L4 tier",
    .default_config = "/etc/strata/vrrp.conf",
};

int main(int argc, char **argv)
{
	static struct vrrp_daemon d; /* large; one per process */
	struct daemon_opts opts;
	struct vrrp_cfg *cfg;
	struct cfg_err err;
	int rc;

	log_init(info.name, LOG_LVL_INFO);
	daemon_parse_args(argc, argv, &info, &opts);
	if (opts.check_only)
		return cfg_check_main(opts.config_path, vrrp_config_build, vrrp_config_destroy);
	cfg_err_init(&err);
	if (vrrp_config_load(opts.config_path, &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	log_set_level(opts.debug ? LOG_LVL_DEBUG : cfg->log_level);
	if (geteuid() != 0)
		log_warn("not running as root: raw sockets and netlink need CAP_NET_RAW and "
			 "CAP_NET_ADMIN");
	rc = vrrp_daemon_start(&d, cfg);
	if (rc < 0) {
		log_err("start-up failed; nothing was left configured");
		vrrp_daemon_stop(&d);
		return 1;
	}
	rc = vrrp_daemon_run(&d);
	vrrp_daemon_stop(&d);
	log_info("stopped");
	return rc;
}
