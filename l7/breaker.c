/* Circuit breaker state machine, per-worker sliding windows and the
 * per-upstream limits (breaker.h). A breaker is owned by the server
 * run-time state that created it; its windows belong to it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"

/* The state word: state in bits 0-1, probes let out in 2-11, probes good
 * in 12-21, the epoch (bumped by every transition) above. */
#define W_STATE(w)   ((enum l7_brk_state)((w)&3u))
#define W_OUT(w)     ((uint32_t)(((w) >> 2) & 0x3ffu))
#define W_OK(w)	     ((uint32_t)(((w) >> 12) & 0x3ffu))
#define W_EPOCH(w)   ((w) >> 22)
#define W_MAKE(s, e) ((uint64_t)(s) | ((uint64_t)(e) << 22))
#define W_ONE_OUT    (1ull << 2)
#define W_ONE_OK     (1ull << 12)

_Static_assert(L7_BRK_MAX_PROBES < 1024, "probe counts fit 10 bits");

/* Upper bounds of the latency buckets in microseconds (a 1-2.5-5 series
 * from 100 us to 10 s); the last bucket is everything slower. */
static const uint32_t lat_bound_us[L7_BRK_LAT_BUCKETS - 1] = {
    100,   250,	   500,	   1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

/* One slice of one worker's window. Written only by that worker (relaxed
 * atomic stores), read by the evaluating worker and the admin thread. */
struct brk_slice {
	uint64_t start_ms;
	uint32_t total, failures, slow;
	uint32_t lat[L7_BRK_LAT_BUCKETS];
};

struct brk_window {
	struct brk_slice s[L7_BRK_SLICES];
} __attribute__((aligned(64)));

struct l7_breaker {
	/* read by every request; written on transitions and probes */
	_Atomic uint64_t word;
	uint64_t open_until_ms;
	uint64_t floor_ms; /* slices starting before this do not count */
	/* written on failures, and by the elected evaluator */
	uint32_t consec __attribute__((aligned(64)));
	uint64_t next_eval_ms;
	/* transitions (under lock) and what the admin reads */
	pthread_mutex_t lock __attribute__((aligned(64)));
	uint32_t level; /* open_ms doublings so far */
	uint64_t since_ms;
	int reason;
	uint64_t entered[L7_BRK__COUNT];
	l7_brk_hook hook;
	void *hook_arg;
	unsigned workers;
	struct brk_window *win;
};

#define LOAD(p)	    __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* --- parameters ---------------------------------------------------------- */

void l7_brk_params_default(struct l7_brk_params *p)
{
	memset(p, 0, sizeof(*p));
	p->enabled = true;
	p->consecutive = 5;
	p->error_percent = 50;
	p->min_requests = 20;
	p->window_ms = 10000;
	p->latency_permille = 990;
	p->open_ms = 5000;
	p->open_max_ms = 60000;
	p->half_open_probes = 3;
	p->count_5xx = true;
	p->on_open = L7_BRK_ON_OPEN_NEXT;
}

int l7_brk_params_check(const struct l7_brk_params *p, const char **why)
{
	*why = NULL;
	if (p->error_percent > 100)
		*why = "error_percent";
	else if (p->window_ms < L7_BRK_SLICES || p->window_ms > L7_BRK_MAX_WINDOW)
		*why = "window";
	else if (p->latency_permille < 1 || p->latency_permille > 999)
		*why = "latency_percentile";
	else if (!p->open_ms || p->open_ms > p->open_max_ms || p->open_max_ms > L7_BRK_MAX_OPEN_MS)
		*why = "open";
	else if (!p->half_open_probes || p->half_open_probes > L7_BRK_MAX_PROBES)
		*why = "half_open_probes";
	else if (p->on_open >= L7_BRK_ON_OPEN__COUNT)
		*why = "on_open";
	return *why ? -EINVAL : 0;
}

/* --- creation ------------------------------------------------------------ */

struct l7_breaker *l7_brk_new(unsigned workers, l7_brk_hook hook, void *hook_arg)
{
	struct l7_breaker *b;
	size_t wbytes = (size_t)workers * sizeof(struct brk_window);

	if (!workers || workers > L7_BRK_MAX_WORKERS)
		return NULL;
	b = aligned_alloc(64, (sizeof(*b) + 63) & ~(size_t)63);
	if (!b)
		return NULL;
	memset(b, 0, sizeof(*b));
	b->win = aligned_alloc(64, wbytes);
	if (!b->win) {
		free(b);
		return NULL;
	}
	memset(b->win, 0, wbytes);
	pthread_mutex_init(&b->lock, NULL);
	b->workers = workers;
	b->hook = hook;
	b->hook_arg = hook_arg;
	return b;
}

void l7_brk_free(struct l7_breaker *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b->win);
	free(b);
}

/* --- the state machine --------------------------------------------------- */

/* breaker.h's table: allowed[from][to]. */
static const bool allowed[L7_BRK__COUNT][L7_BRK__COUNT] = {
    [L7_BRK_CLOSED] = {[L7_BRK_OPEN] = true},
    [L7_BRK_OPEN] = {[L7_BRK_CLOSED] = true, [L7_BRK_HALF_OPEN] = true},
    [L7_BRK_HALF_OPEN] = {[L7_BRK_CLOSED] = true, [L7_BRK_OPEN] = true},
};

/* Entry actions, under the lock, before the new word is published. */
static void on_enter(struct l7_breaker *b, const struct l7_brk_params *p, enum l7_brk_state from,
		     enum l7_brk_state to, enum l7_brk_reason why, uint64_t now)
{
	uint64_t dur;

	switch (to) {
	case L7_BRK_OPEN:
		/* a failed probe round doubles the wait; a fresh trip starts over */
		b->level = from == L7_BRK_HALF_OPEN && why != L7_BRK_R_ADMIN ? b->level + 1 : 0;
		dur = p->open_ms;
		for (uint32_t i = 0; i < b->level && dur < p->open_max_ms; i++)
			dur <<= 1;
		if (dur > p->open_max_ms)
			dur = p->open_max_ms;
		STORE(&b->open_until_ms, now + dur);
		break;
	case L7_BRK_CLOSED:
		b->level = 0;
		STORE(&b->consec, 0);
		/* a fresh start: no slice holding an outcome from before now
		 * counts against the server (the current one is dropped whole) */
		STORE(&b->floor_ms, now + 1);
		break;
	default:
		break;
	}
}

/* Moves from the state seen in `seen` to `to`. Returns false when someone
 * else moved first (the epoch or state changed) or the table forbids it. */
static bool set_state(struct l7_breaker *b, const struct l7_brk_params *p, uint64_t seen,
		      enum l7_brk_state to, enum l7_brk_reason why, uint64_t now)
{
	enum l7_brk_state from = W_STATE(seen);
	uint64_t cur, next;

	pthread_mutex_lock(&b->lock);
	cur = atomic_load_explicit(&b->word, memory_order_relaxed);
	if (W_EPOCH(cur) != W_EPOCH(seen) || W_STATE(cur) != from || !allowed[from][to]) {
		pthread_mutex_unlock(&b->lock);
		return false;
	}
	on_enter(b, p, from, to, why, now);
	next = W_MAKE(to, W_EPOCH(cur) + 1);
	/* only the probe counts can change under us (CAS outside the lock) */
	while (!atomic_compare_exchange_weak_explicit(&b->word, &cur, next, memory_order_release,
						      memory_order_relaxed))
		;
	STORE(&b->since_ms, now);
	STORE(&b->reason, (int)why);
	__atomic_fetch_add(&b->entered[to], 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&b->lock);
	if (b->hook)
		b->hook(b->hook_arg, b, from, to, why);
	return true;
}

enum l7_brk_verdict l7_brk_allow(struct l7_breaker *b, const struct l7_brk_params *p,
				 uint64_t now_ms, struct l7_brk_ticket *t)
{
	uint64_t w;

	t->counted = false;
	t->probe = false;
	if (!p->enabled)
		return L7_BRK_ALLOW;
	for (;;) {
		w = atomic_load_explicit(&b->word, memory_order_acquire);
		t->epoch = W_EPOCH(w);
		switch (W_STATE(w)) {
		case L7_BRK_CLOSED:
			t->counted = true;
			return L7_BRK_ALLOW;
		case L7_BRK_OPEN:
			if (now_ms < LOAD(&b->open_until_ms))
				return L7_BRK_REJECT_OPEN;
			set_state(b, p, w, L7_BRK_HALF_OPEN, L7_BRK_R_OPEN_OVER, now_ms);
			continue; /* whoever moved it, look again */
		default:
			if (W_OUT(w) >= p->half_open_probes)
				return L7_BRK_REJECT_PROBING;
			if (!atomic_compare_exchange_weak_explicit(&b->word, &w, w + W_ONE_OUT,
								   memory_order_relaxed,
								   memory_order_relaxed))
				continue;
			t->counted = true;
			t->probe = true;
			return L7_BRK_PROBE;
		}
	}
}

void l7_brk_cancel(struct l7_breaker *b, const struct l7_brk_ticket *t)
{
	uint64_t w = atomic_load_explicit(&b->word, memory_order_relaxed);

	if (!t->counted || !t->probe)
		return;
	/* give the probe slot back, if its round is still on */
	while (W_EPOCH(w) == t->epoch && W_STATE(w) == L7_BRK_HALF_OPEN && W_OUT(w) > 0)
		if (atomic_compare_exchange_weak_explicit(
			&b->word, &w, w - W_ONE_OUT, memory_order_relaxed, memory_order_relaxed))
			return;
}

/* --- windows ------------------------------------------------------------- */

static unsigned lat_bucket(uint32_t us)
{
	unsigned lo = 0, hi = L7_BRK_LAT_BUCKETS - 1;

	while (lo < hi) { /* first bound >= us */
		unsigned mid = (lo + hi) / 2;

		if (us <= lat_bound_us[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static uint32_t slice_ms(const struct l7_brk_params *p)
{
	uint32_t len = p->window_ms / L7_BRK_SLICES;

	return len ? len : 1; /* unchecked params must not divide by zero */
}

static void record(struct l7_breaker *b, const struct l7_brk_params *p, unsigned wi, bool ok,
		   uint32_t latency_us, uint64_t now)
{
	uint32_t len = slice_ms(p);
	uint64_t start = now - now % len;
	struct brk_slice *s = &b->win[wi].s[(now / len) % L7_BRK_SLICES];
	unsigned lb = lat_bucket(latency_us);

	if (LOAD(&s->start_ms) != start) {
		STORE(&s->total, 0);
		STORE(&s->failures, 0);
		STORE(&s->slow, 0);
		for (unsigned i = 0; i < L7_BRK_LAT_BUCKETS; i++)
			STORE(&s->lat[i], 0);
		__atomic_store_n(&s->start_ms, start, __ATOMIC_RELEASE);
	}
	STORE(&s->total, LOAD(&s->total) + 1);
	if (!ok)
		STORE(&s->failures, LOAD(&s->failures) + 1);
	if (p->latency_ms && latency_us > (uint64_t)p->latency_ms * 1000)
		STORE(&s->slow, LOAD(&s->slow) + 1);
	STORE(&s->lat[lb], LOAD(&s->lat[lb]) + 1);
}

struct brk_sum {
	uint32_t total, failures, slow;
	uint32_t lat[L7_BRK_LAT_BUCKETS];
};

/* Every worker's slices that lie in the window and after the floor. */
static void merge(struct l7_breaker *b, const struct l7_brk_params *p, uint64_t now,
		  struct brk_sum *sum)
{
	uint64_t floor = LOAD(&b->floor_ms);

	memset(sum, 0, sizeof(*sum));
	for (unsigned w = 0; w < b->workers; w++) {
		for (unsigned i = 0; i < L7_BRK_SLICES; i++) {
			const struct brk_slice *s = &b->win[w].s[i];
			uint64_t start = __atomic_load_n(&s->start_ms, __ATOMIC_ACQUIRE);

			if (start + p->window_ms <= now || start < floor)
				continue;
			sum->total += LOAD(&s->total);
			sum->failures += LOAD(&s->failures);
			sum->slow += LOAD(&s->slow);
			for (unsigned k = 0; k < L7_BRK_LAT_BUCKETS; k++)
				sum->lat[k] += LOAD(&s->lat[k]);
		}
	}
}

/* Which window trigger holds, or L7_BRK_R_NONE. */
static enum l7_brk_reason judge(const struct l7_brk_params *p, const struct brk_sum *s)
{
	uint64_t n = s->total;

	if (!n || n < p->min_requests)
		return L7_BRK_R_NONE;
	if (p->error_percent && (uint64_t)s->failures * 100 >= n * p->error_percent)
		return L7_BRK_R_ERROR_RATE;
	/* nearest rank: the percentile is above the limit iff more than
	 * n - ceil(n * p) requests were slower than it (breaker.h) */
	if (p->latency_ms && s->slow > n - (n * p->latency_permille + 999) / 1000)
		return L7_BRK_R_LATENCY;
	return L7_BRK_R_NONE;
}

/* Linear interpolation inside the bucket holding the rank, as Prometheus's
 * histogram_quantile does; L7_BRK_LAT_INF past the last bound. */
static uint32_t estimate(const struct brk_sum *s, uint32_t permille)
{
	uint64_t rank = ((uint64_t)s->total * permille + 999) / 1000, cum = 0;

	if (!s->total)
		return 0;
	if (!rank)
		rank = 1;
	for (unsigned k = 0; k < L7_BRK_LAT_BUCKETS - 1; k++) {
		uint32_t lo = k ? lat_bound_us[k - 1] : 0, hi = lat_bound_us[k];

		if (cum + s->lat[k] >= rank)
			return lo + (uint32_t)((uint64_t)(hi - lo) * (rank - cum) / s->lat[k]);
		cum += s->lat[k];
	}
	return L7_BRK_LAT_INF;
}

/* --- outcomes ------------------------------------------------------------ */

/* CLOSED: the consecutive counter at once, the windows when due. */
static void closed_outcome(struct l7_breaker *b, const struct l7_brk_params *p, uint64_t w, bool ok,
			   uint64_t now)
{
	uint64_t due = LOAD(&b->next_eval_ms);
	struct brk_sum sum;
	enum l7_brk_reason why;

	if (ok) {
		if (LOAD(&b->consec))
			STORE(&b->consec, 0);
	} else if (p->consecutive &&
		   __atomic_fetch_add(&b->consec, 1, __ATOMIC_RELAXED) + 1 >= p->consecutive) {
		set_state(b, p, w, L7_BRK_OPEN, L7_BRK_R_CONSECUTIVE, now);
		return;
	}
	/* one reporter per period wins the right to judge */
	if (now < due || !__atomic_compare_exchange_n(&b->next_eval_ms, &due, now + L7_BRK_EVAL_MS,
						      false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	merge(b, p, now, &sum);
	why = judge(p, &sum);
	if (why != L7_BRK_R_NONE)
		set_state(b, p, w, L7_BRK_OPEN, why, now);
}

/* HALF_OPEN: a bad probe reopens; the last good one closes. */
static void probe_outcome(struct l7_breaker *b, const struct l7_brk_params *p, uint64_t w, bool ok,
			  uint64_t now)
{
	if (!ok) {
		set_state(b, p, w, L7_BRK_OPEN, L7_BRK_R_PROBE_FAILED, now);
		return;
	}
	while (!atomic_compare_exchange_weak_explicit(&b->word, &w, w + W_ONE_OK,
						      memory_order_relaxed, memory_order_relaxed))
		if (W_STATE(w) != L7_BRK_HALF_OPEN)
			return; /* the round ended meanwhile */
	w += W_ONE_OK;
	if (W_OK(w) >= p->half_open_probes)
		set_state(b, p, w, L7_BRK_CLOSED, L7_BRK_R_PROBES_OK, now);
}

void l7_brk_report(struct l7_breaker *b, const struct l7_brk_params *p, unsigned wi,
		   const struct l7_brk_ticket *t, bool ok, uint32_t latency_us, uint64_t now_ms)
{
	uint64_t w;

	if (!t->counted || !p->enabled)
		return;
	/* a slow answer is a bad answer when the latency trigger is on */
	if (ok && p->latency_ms && t->probe && latency_us > (uint64_t)p->latency_ms * 1000)
		ok = false;
	w = atomic_load_explicit(&b->word, memory_order_acquire);
	if (W_EPOCH(w) != t->epoch)
		return; /* admitted before the last transition: it counts nowhere */
	if (wi < b->workers)
		record(b, p, wi, ok, latency_us, now_ms);
	if (W_STATE(w) == L7_BRK_CLOSED)
		closed_outcome(b, p, w, ok, now_ms);
	else if (W_STATE(w) == L7_BRK_HALF_OPEN && t->probe)
		probe_outcome(b, p, w, ok, now_ms);
}

bool l7_brk_status_fails(const struct l7_brk_params *p, int status)
{
	return p->count_5xx && status >= 500 && status <= 599;
}

/* --- admin --------------------------------------------------------------- */

int l7_brk_force(struct l7_breaker *b, const struct l7_brk_params *p, enum l7_brk_state to,
		 uint64_t now_ms)
{
	uint64_t w;

	if (to != L7_BRK_CLOSED && to != L7_BRK_OPEN)
		return -EINVAL;
	do {
		w = atomic_load_explicit(&b->word, memory_order_acquire);
		if (W_STATE(w) == to)
			return -EALREADY;
	} while (!set_state(b, p, w, to, L7_BRK_R_ADMIN, now_ms));
	return 0;
}

enum l7_brk_state l7_brk_state(const struct l7_breaker *b)
{
	return W_STATE(atomic_load_explicit(&b->word, memory_order_acquire));
}

void l7_brk_view(struct l7_breaker *b, const struct l7_brk_params *p, uint64_t now_ms,
		 struct l7_brk_view *out)
{
	uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire);
	struct brk_sum sum;

	memset(out, 0, sizeof(*out));
	out->state = W_STATE(w);
	out->probes_out = W_OUT(w);
	out->probes_ok = W_OK(w);
	out->reason = (enum l7_brk_reason)LOAD(&b->reason);
	out->since_ms = LOAD(&b->since_ms);
	out->open_until_ms = LOAD(&b->open_until_ms);
	out->consecutive = LOAD(&b->consec);
	for (unsigned i = 0; i < L7_BRK__COUNT; i++)
		out->entered[i] = LOAD(&b->entered[i]);
	merge(b, p, now_ms, &sum);
	out->requests = sum.total;
	out->failures = sum.failures;
	out->slow = sum.slow;
	out->latency_us = estimate(&sum, p->latency_permille);
}

const char *l7_brk_state_name(enum l7_brk_state s)
{
	static const char *const names[L7_BRK__COUNT] = {"closed", "open", "half_open"};

	return s < L7_BRK__COUNT ? names[s] : "?";
}

const char *l7_brk_reason_name(enum l7_brk_reason r)
{
	static const char *const names[L7_BRK_R__COUNT] = {
	    "none",	    "consecutive",  "error_rate", "latency",
	    "open_elapsed", "probe_failed", "probes_ok",  "admin",
	};

	return r < L7_BRK_R__COUNT ? names[r] : "?";
}

const char *l7_brk_verdict_name(enum l7_brk_verdict v)
{
	static const char *const names[L7_BRK_VERDICT__COUNT] = {"allow", "probe", "open",
								 "probing"};

	return v < L7_BRK_VERDICT__COUNT ? names[v] : "?";
}

int l7_brk_on_open_parse(const char *s, enum l7_brk_on_open *out)
{
	if (!strcmp(s, "next"))
		*out = L7_BRK_ON_OPEN_NEXT;
	else if (!strcmp(s, "fail"))
		*out = L7_BRK_ON_OPEN_FAIL;
	else
		return -EINVAL;
	return 0;
}

int l7_brk_view_format(char *out, size_t cap, const struct l7_brk_view *v,
		       const struct l7_brk_params *p, uint64_t now_ms)
{
	char lat[32];
	int n;

	if (v->latency_us == L7_BRK_LAT_INF)
		snprintf(lat, sizeof(lat), ">10s");
	else
		snprintf(lat, sizeof(lat), "%u.%03ums", v->latency_us / 1000, v->latency_us % 1000);
	n = snprintf(out, cap,
		     "%s for %llums reason=%s consecutive=%u window=%u/%u slow=%u p%u.%u=%s "
		     "probes=%u/%u opened=%llu",
		     l7_brk_state_name(v->state),
		     (unsigned long long)(now_ms > v->since_ms ? now_ms - v->since_ms : 0),
		     l7_brk_reason_name(v->reason), v->consecutive, v->requests, v->failures,
		     v->slow, p->latency_permille / 10, p->latency_permille % 10, lat,
		     v->probes_out, v->probes_ok, (unsigned long long)v->entered[L7_BRK_OPEN]);
	if (n >= 0 && (size_t)n < cap && v->state == L7_BRK_OPEN) {
		int m = snprintf(out + n, cap - (size_t)n, " retry_in=%llums",
				 (unsigned long long)(v->open_until_ms > now_ms
							  ? v->open_until_ms - now_ms
							  : 0));
		n = m < 0 ? m : n + m;
	}
	return n < 0 || (size_t)n >= cap ? -E2BIG : n;
}

/* --- per-upstream limits -------------------------------------------------- */

/* Increment first, then compare: two workers racing for the last place
 * cannot both win (a check-then-increment could). */
static bool limit_take(_Atomic uint32_t *n, _Atomic uint64_t *over, uint32_t max)
{
	if (!max)
		return true;
	if (atomic_fetch_add_explicit(n, 1, memory_order_relaxed) < max)
		return true;
	atomic_fetch_sub_explicit(n, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(over, 1, memory_order_relaxed);
	return false;
}

bool l7_brk_request_begin(struct l7_brk_limits *l, uint32_t max)
{
	return limit_take(&l->requests, &l->over_requests, max);
}

void l7_brk_request_end(struct l7_brk_limits *l, uint32_t max)
{
	if (max)
		atomic_fetch_sub_explicit(&l->requests, 1, memory_order_relaxed);
}

bool l7_brk_pending_begin(struct l7_brk_limits *l, uint32_t max)
{
	return limit_take(&l->pending, &l->over_pending, max);
}

void l7_brk_pending_end(struct l7_brk_limits *l, uint32_t max)
{
	if (max)
		atomic_fetch_sub_explicit(&l->pending, 1, memory_order_relaxed);
}
