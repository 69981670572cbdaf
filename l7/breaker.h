/* Circuit breaking per upstream server, and per-upstream limits on
 * requests and pending requests (Envoy's circuit breakers and outlier
 * detection, in one small state machine per server).
 *
 * States (every change goes through set_state(), which checks this table):
 *
 *   from \ to   CLOSED             OPEN                       HALF_OPEN
 *   CLOSED      -                  consecutive failures,      -
 *                                  error rate, latency, admin
 *   OPEN        admin              -                          open time over
 *   HALF_OPEN   probes all good,   a probe failed, admin      -
 *               admin
 *
 * CLOSED lets everything through and watches three triggers, each off
 * when its key is 0: `consecutive` failures in a row; an error rate of
 * `error_percent` or more over the last `window_ms` once it holds
 * `min_requests`; the `latency_permille` percentile of the window above
 * `latency_ms`. OPEN rejects without touching the server (the engine fails
 * fast with 503 or tries another server: on_open) for open_ms, doubled on
 * each failed probe round up to open_max_ms. HALF_OPEN lets
 * `half_open_probes` requests through; all good closes, one bad reopens.
 *
 * Windows. Outcomes land in the reporting worker's own sliding window (10
 * slices of window_ms / 10, each with counts and a small fixed-bucket
 * latency histogram): a plain store into a cache line no other thread
 * writes. Every L7_BRK_EVAL_MS one reporting worker (elected with a
 * compare-and-swap on the next evaluation time) sums every worker's slices
 * and decides. The latency trigger is exact: "the p-th percentile is above
 * L" is the same statement as "more than n - ceil(p * n) of the n requests
 * took longer than L" (nearest rank), so each slice counts requests slower
 * than L; the histogram gives the percentile's value for logs and stratactl.
 * Consecutive failures are one shared counter, written on failures only (a
 * success reads it and writes only when it is not already 0).
 *
 * The state word (state, epoch, probes) is read once per request and
 * written only on transitions and probes, so in the closed state no request
 * writes a shared cache line. Transitions take the breaker's mutex (rare);
 * tickets carry the epoch they were admitted in, so an outcome from before
 * a transition never counts after it.
 *
 * Lifetime. A breaker belongs with the server's run-time state (struct
 * l7_server_rt: it outlives snapshots); params come from the snapshot the
 * request holds and are passed to every call, so a reload applies at once.
 * Times are CLOCK_MONOTONIC ms from the caller (tests use a fake clock).
 */
#ifndef STRATA_L7_BREAKER_H
#define STRATA_L7_BREAKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define L7_BRK_SLICES	   10  /* a window is this many slices */
#define L7_BRK_LAT_BUCKETS 17  /* latency histogram of a slice */
#define L7_BRK_EVAL_MS	   100 /* windows are summed and judged this often */
#define L7_BRK_MAX_PROBES  1000
#define L7_BRK_MAX_WINDOW  (3600u * 1000u)
#define L7_BRK_MAX_OPEN_MS (3600u * 1000u)
#define L7_BRK_MAX_WORKERS 256
#define L7_BRK_LAT_INF	   UINT32_MAX /* l7_brk_view latency: past the last bound */

enum l7_brk_state { L7_BRK_CLOSED, L7_BRK_OPEN, L7_BRK_HALF_OPEN, L7_BRK__COUNT };

/* Why the last transition happened. */
enum l7_brk_reason {
	L7_BRK_R_NONE,	      /* never changed */
	L7_BRK_R_CONSECUTIVE, /* consecutive failures */
	L7_BRK_R_ERROR_RATE,  /* error rate over the window */
	L7_BRK_R_LATENCY,     /* latency percentile over the window */
	L7_BRK_R_OPEN_OVER,   /* open time elapsed: probing */
	L7_BRK_R_PROBE_FAILED,
	L7_BRK_R_PROBES_OK,
	L7_BRK_R_ADMIN,
	L7_BRK_R__COUNT
};

enum l7_brk_verdict {
	L7_BRK_ALLOW,	       /* closed: send it */
	L7_BRK_PROBE,	       /* half-open: send it, it is a probe */
	L7_BRK_REJECT_OPEN,    /* open: do not contact the server */
	L7_BRK_REJECT_PROBING, /* half-open and every probe is out */
	L7_BRK_VERDICT__COUNT
};

/* What the engine does with a rejected request. */
enum l7_brk_on_open {
	L7_BRK_ON_OPEN_NEXT, /* pick another server (exclude this one); 503 when none */
	L7_BRK_ON_OPEN_FAIL, /* 503 at once */
	L7_BRK_ON_OPEN__COUNT
};

struct l7_brk_params {
	bool enabled;		   /* false: allow everything, record nothing */
	uint32_t consecutive;	   /* failures in a row that open; 0: off */
	uint32_t error_percent;	   /* 1..100; 0: off */
	uint32_t min_requests;	   /* in the window before the rate or latency counts */
	uint32_t window_ms;	   /* sliding window, >= L7_BRK_SLICES ms */
	uint32_t latency_ms;	   /* 0: off */
	uint32_t latency_permille; /* which percentile: 990 = p99, 500 = median */
	uint32_t open_ms;	   /* first open period */
	uint32_t open_max_ms;	   /* ceiling of the doubling */
	uint32_t half_open_probes; /* 1..L7_BRK_MAX_PROBES */
	bool count_5xx;		   /* a 5xx response is a failure (as are connect
				    * errors, resets and timeouts, always) */
	uint8_t on_open;	   /* enum l7_brk_on_open */
	uint32_t max_requests;	   /* per upstream in flight; 0: no limit */
	uint32_t max_pending;	   /* per upstream waiting for a connection; 0: no limit */
};

/* What an admitted request carries until its outcome is reported. */
struct l7_brk_ticket {
	uint64_t epoch;
	bool probe;
	bool counted; /* admitted by an enabled breaker: report or cancel it */
};

struct l7_breaker;

/* Called after every transition, outside the breaker's lock, on the thread
 * that caused it (a worker, or the admin thread): log it and count it. */
typedef void (*l7_brk_hook)(void *arg, const struct l7_breaker *b, enum l7_brk_state from,
			    enum l7_brk_state to, enum l7_brk_reason why);

/* State for the admin socket and metrics (l7_brk_view). */
struct l7_brk_view {
	enum l7_brk_state state;
	enum l7_brk_reason reason; /* of the last transition */
	uint64_t since_ms;	   /* of the last transition */
	uint64_t open_until_ms;	   /* OPEN: when probing starts */
	uint32_t consecutive;	   /* failures in a row so far */
	uint32_t probes_out, probes_ok;
	uint32_t requests, failures, slow; /* in the window */
	uint32_t latency_us;		 /* the configured percentile, estimated; L7_BRK_LAT_INF */
	uint64_t entered[L7_BRK__COUNT]; /* transitions into each state */
};

/* Per-upstream limits (one per upstream per runtime generation, like the
 * retry budget). One shared atomic each: exact, and touched only when a
 * limit is configured. */
struct l7_brk_limits {
	_Atomic uint32_t requests, pending;
	_Atomic uint64_t over_requests, over_pending; /* refusals, for metrics */
};

/* Defaults: enabled, 5 consecutive, 50 % over 10 s with at least 20
 * requests, latency off (p99 when set), open 5 s doubling to 60 s, 3
 * probes, 5xx counted, next server on open, no request limits. */
void l7_brk_params_default(struct l7_brk_params *p);

/* Returns 0 or -EINVAL with *why naming the key that is out of range. */
int l7_brk_params_check(const struct l7_brk_params *p, const char **why);

/* A closed breaker for `workers` reporting threads (1..256). `hook` may be
 * NULL. NULL on bad arguments or ENOMEM. */
struct l7_breaker *l7_brk_new(unsigned workers, l7_brk_hook hook, void *hook_arg);
void l7_brk_free(struct l7_breaker *b); /* NULL-safe; nothing may run on it */

/* Admission for one request at `now_ms`. Fills *t (pass it to
 * l7_brk_report or l7_brk_cancel exactly once when the verdict admits).
 * Any thread. */
enum l7_brk_verdict l7_brk_allow(struct l7_breaker *b, const struct l7_brk_params *p,
				 uint64_t now_ms, struct l7_brk_ticket *t);

static inline bool l7_brk_admits(enum l7_brk_verdict v)
{
	return v == L7_BRK_ALLOW || v == L7_BRK_PROBE;
}

/* The outcome of an admitted request, reported by worker `wi`: `ok` false
 * for a connect error, reset, timeout or (count_5xx) a 5xx; latency_us
 * from sending the request to the response head (or to the failure). */
void l7_brk_report(struct l7_breaker *b, const struct l7_brk_params *p, unsigned wi,
		   const struct l7_brk_ticket *t, bool ok, uint32_t latency_us, uint64_t now_ms);

/* An admitted request that ended without an outcome (client gone): gives
 * its probe slot back. */
void l7_brk_cancel(struct l7_breaker *b, const struct l7_brk_ticket *t);

/* Is this response status a failure under p (count_5xx and 500..599)? */
bool l7_brk_status_fails(const struct l7_brk_params *p, int status);

/* Admin (stratactl): forces CLOSED (a reset: counters and windows cleared)
 * or OPEN. Returns 0, or -EALREADY when already in that state, -EINVAL for
 * HALF_OPEN. */
int l7_brk_force(struct l7_breaker *b, const struct l7_brk_params *p, enum l7_brk_state to,
		 uint64_t now_ms);

enum l7_brk_state l7_brk_state(const struct l7_breaker *b);

/* Sums the windows: admin thread and metrics, not the hot path. */
void l7_brk_view(struct l7_breaker *b, const struct l7_brk_params *p, uint64_t now_ms,
		 struct l7_brk_view *out);

/* One `show breakers` line (no newline) from a view: "open for 1200ms
 * reason=error_rate consecutive=2 window=100/63 slow=0 p99.0=2.400ms
 * probes=0/0 opened=1 retry_in=3800ms". Returns the length or -E2BIG
 * (L7_BRK_VIEW_MAX always suffices). */
#define L7_BRK_VIEW_MAX 256
int l7_brk_view_format(char *out, size_t cap, const struct l7_brk_view *v,
		       const struct l7_brk_params *p, uint64_t now_ms);

const char *l7_brk_state_name(enum l7_brk_state s);   /* "closed", "open", "half_open" */
const char *l7_brk_reason_name(enum l7_brk_reason r); /* "consecutive", ... */
const char *l7_brk_verdict_name(enum l7_brk_verdict v);
int l7_brk_on_open_parse(const char *s, enum l7_brk_on_open *out); /* "next", "fail" */

/* Limits: true when the request (or the wait for a connection) may go on;
 * false when `max` is reached (fail fast: 503). Every true needs its end. */
bool l7_brk_request_begin(struct l7_brk_limits *l, uint32_t max);
void l7_brk_request_end(struct l7_brk_limits *l, uint32_t max);
bool l7_brk_pending_begin(struct l7_brk_limits *l, uint32_t max);
void l7_brk_pending_end(struct l7_brk_limits *l, uint32_t max);

#endif
