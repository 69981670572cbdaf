/* strata-vrrp: VRRPv3 daemon that moves the VIPs of the L4 tier. */
#include "daemon.h"
#include "log.h"

static const struct daemon_info info = {
	.name = "strata-vrrp",
	.summary = "VRRPv3 daemon that moves the VIPs of the L4 tier",
	.default_config = "/etc/strata/vrrp.conf",
};

int main(int argc, char **argv)
{
	struct daemon_opts opts;

	log_init(info.name, LOG_LVL_INFO);
	daemon_parse_args(argc, argv, &info, &opts);
	log_err("not implemented yet");
	return 1;
}
