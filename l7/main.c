/* strata-l7: HTTP reverse proxy behind strata-l4 (PPv2 intake, routing, upstream pools). */
#include "daemon.h"
#include "log.h"

static const struct daemon_info info = {
	.name = "strata-l7",
	.summary = "HTTP reverse proxy behind strata-l4 (PPv2 intake, routing, upstream pools)",
	.default_config = "/etc/strata/l7.conf",
};

int main(int argc, char **argv)
{
	struct daemon_opts opts;

	log_init(info.name, LOG_LVL_INFO);
	daemon_parse_args(argc, argv, &info, &opts);
	log_err("not implemented yet");
	return 1;
}
