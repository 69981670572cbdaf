/* Logging to stderr with levels and rate limiting; see log.h. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static const char *log_program = "strata";
static int log_level = LOG_LVL_INFO;

static const char *const level_names[LOG_LVL__COUNT] = {
	[LOG_LVL_ERR] = "err",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_init(const char *program, enum log_level level)
{
	log_program = program;
	log_set_level(level);
}

void log_set_level(enum log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	return (enum log_level)__atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (int i = 0; i < LOG_LVL__COUNT; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	return (unsigned)level < LOG_LVL__COUNT ? level_names[level] : "?";
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int n;

	if ((int)level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	n = snprintf(line, sizeof(line), "%s %s: ", log_level_name(level), log_program);
	if (n < 0)
		return;
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so lines from different threads never interleave. */
	while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

bool log_ratelimit_allow(struct log_ratelimit *rl, uint32_t *suppressed_out)
{
	uint64_t now = log_now_ms();
	uint64_t start = __atomic_load_n(&rl->window_start_ms, __ATOMIC_RELAXED);

	*suppressed_out = 0;
	if (now - start >= rl->interval_ms &&
	    __atomic_compare_exchange_n(&rl->window_start_ms, &start, now, false, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED)) {
		__atomic_store_n(&rl->in_window, 0, __ATOMIC_RELAXED);
		*suppressed_out = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
	}
	if (__atomic_add_fetch(&rl->in_window, 1, __ATOMIC_RELAXED) <= rl->burst)
		return true;
	__atomic_add_fetch(&rl->suppressed, 1, __ATOMIC_RELAXED);
	return false;
}

uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t log_now_ms(void)
{
	return clock_now_ns() / 1000000ull;
}
