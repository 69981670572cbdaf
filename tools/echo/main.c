/* strata-echo: test backend that answers with its name and the request headers it saw. */
#include "daemon.h"
#include "log.h"

static const struct daemon_info info = {
	.name = "strata-echo",
	.summary = "test backend that answers with its name and the request headers it saw",
	.default_config = 0,
};

int main(int argc, char **argv)
{
	struct daemon_opts opts;

	log_init(info.name, LOG_LVL_INFO);
	daemon_parse_args(argc, argv, &info, &opts);
	log_err("not implemented yet");
	return 1;
}
