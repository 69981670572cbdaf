/* strata-l4: io_uring TCP balancer that speaks PROXY protocol v2 to the L7 pool. */
#include "daemon.h"
#include "log.h"

static const struct daemon_info info = {
	.name = "strata-l4",
	.summary = "io_uring TCP balancer that speaks PROXY protocol v2 to the L7 pool",
	.default_config = "/etc/strata/l4.conf",
};

int main(int argc, char **argv)
{
	struct daemon_opts opts;

	log_init(info.name, LOG_LVL_INFO);
	daemon_parse_args(argc, argv, &info, &opts);
	log_err("not implemented yet");
	return 1;
}
