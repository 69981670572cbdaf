/* Logging to stderr with levels and per-call-site rate limiting.
 *
 * Daemons run in the foreground and log to stderr (systemd-friendly). Every
 * line is "LEVEL program: message". Lines a peer can trigger (a malformed
 * header, a reset) go through log_ratelimited() so a hostile client cannot
 * flood the log.  Thread-safe: one write(2) per line.
 */
#ifndef STRATA_LOG_H
#define STRATA_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
	LOG_LVL__COUNT
};

/* A rate limit bucket for one call site: at most `burst` lines per
 * `interval_ms`; the number suppressed is reported on the next line let out. */
struct log_ratelimit {
	uint32_t interval_ms;
	uint32_t burst;
	uint64_t window_start_ms; /* atomic */
	uint32_t in_window;       /* atomic */
	uint32_t suppressed;      /* atomic */
};

#define LOG_RATELIMIT_INIT(ms, n) { .interval_ms = (ms), .burst = (n) }

/* Sets the program name printed on each line (pointer kept, not copied). */
void log_init(const char *program, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "err", "warn", "info", "debug"; returns -EINVAL for anything else. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

/* Returns true (and accounts the line) when this call site may log now. */
bool log_ratelimit_allow(struct log_ratelimit *rl, uint32_t *suppressed_out);

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_get_level() >= LOG_LVL_DEBUG)                                              \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

/* Logs at `level` at most 10 lines per second from this call site. */
#define log_rl(level, ...)                                                                         \
	do {                                                                                       \
		static struct log_ratelimit rl__ = LOG_RATELIMIT_INIT(1000, 10);                   \
		uint32_t sup__;                                                                    \
		if (log_get_level() >= (level) && log_ratelimit_allow(&rl__, &sup__)) {            \
			if (sup__)                                                                 \
				log_msg(level, "(%u similar lines suppressed)", sup__);            \
			log_msg(level, __VA_ARGS__);                                               \
		}                                                                                  \
	} while (0)

/* Monotonic clock in milliseconds / nanoseconds. */
uint64_t log_now_ms(void);
uint64_t clock_now_ns(void);

#endif
