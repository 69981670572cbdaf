/* strata-l7: HTTP reverse proxy behind strata-l4 (PPv2 intake, routing,
 * upstream pools). main() parses the options and turns signals into
 * l7_daemon_* calls; everything else runs in the worker, health and admin
 * threads (docs/l7.md). */
#include <signal.h>
#include <stdlib.h>

#include "alog.h"
#include "cfg.h"
#include "daemon.h"
#include "log.h"
#include "worker.h"

#include "l7_config.h"
#include "l7_daemon.h"
#include "l7_worker.h"

static const struct daemon_info info = {
    .name = "strata-l7",
    .summary = "HTTP reverse proxy behind strata-l4 (PPv2 intake, routing, upstream pools)",
    .default_config = "/etc/strata/l7.conf",
};

static void wait_signals(void)
{
	for (;;) {
		int sig = worker_signals_wait(-1);
		char err[CFG_ERR_MAX];
		uint64_t gen;

		switch (sig) {
		case SIGHUP:
			/* Rotation first: the new file takes this reload's lines. */
			if (l7_proc.alog)
				alog_reopen(l7_proc.alog);
			l7_daemon_reload(err, sizeof(err), &gen);
			break;
		case SIGTERM:
			l7_daemon_drain();
			return;
		case SIGINT:
			return;
		default:
			break; /* SIGCHLD, timeouts */
		}
	}
}

int main(int argc, char **argv)
{
	struct daemon_opts opts;
	int ret;

	log_init(info.name, LOG_LVL_INFO);
	daemon_parse_args(argc, argv, &info, &opts);
	if (opts.check_only)
		return cfg_check_main(opts.config_path, l7_config_check_build,
				      l7_config_check_destroy);
	ret = worker_signals_block();
	if (ret < 0) {
		log_err("cannot block signals");
		return 1;
	}
	if (l7_daemon_start(opts.config_path) < 0) {
		l7_daemon_stop();
		return 1;
	}
	if (opts.debug)
		log_set_level(LOG_LVL_DEBUG);
	wait_signals();
	l7_daemon_stop();
	log_info("stopped");
	return 0;
}
