/* Token buckets in one fixed set-associative table shared by every worker
 * (ratelimit.h): GCRA arithmetic, per-set spinlocks, eviction, the rate
 * parser and the 429 / RateLimit field writers. The table belongs to its
 * creator (the engine makes one per process at start-up). */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#include "headers.h"
#include "ratelimit.h"

#define RL_SET_BYTES 128 /* two cache lines: the lock word and 7 entries */
#define RL_SPINS     256 /* pauses before yielding to a preempted lock holder */
#define NS_PER_MS    1000000ull
#define NS_PER_S     1000000000ull

/* key 0 marks an empty way (l7_rl_key_hash never returns 0); tat is in ns */
struct rl_entry {
	uint64_t key;
	uint64_t tat;
};

struct rl_set {
	uint32_t lock;	    /* 0 free, 1 held */
	uint32_t evictions; /* under the lock; summed into 64 bits by stats */
	struct rl_entry e[L7_RL_WAYS];
} __attribute__((aligned(RL_SET_BYTES)));

_Static_assert(sizeof(struct rl_set) == RL_SET_BYTES, "a set is two cache lines");

struct l7_rl_table {
	struct rl_set *sets;
	uint32_t n_sets;
	uint64_t seed;
};

/* --- the table ----------------------------------------------------------- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Test-and-test-and-set. The holder keeps it for a few dozen instructions;
 * yielding after a while covers a holder that was preempted, which on a
 * 2-core box with other work is not rare. */
static void set_lock(struct rl_set *s)
{
	unsigned spins = 0;

	while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE)) {
		do {
			if (++spins < RL_SPINS) {
				cpu_relax();
			} else {
				sched_yield();
				spins = 0;
			}
		} while (__atomic_load_n(&s->lock, __ATOMIC_RELAXED));
	}
}

static void set_unlock(struct rl_set *s)
{
	__atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

/* Lemire's multiply-shift range reduction: any number of sets, no modulo.
 * The high half of the hash picks the set; the whole hash is the tag. */
static inline struct rl_set *set_of(const struct l7_rl_table *t, uint64_t key)
{
	return &t->sets[((key >> 32) * (uint64_t)t->n_sets) >> 32];
}

struct l7_rl_table *l7_rl_table_new(uint32_t max_keys, uint64_t seed)
{
	struct l7_rl_table *t;
	size_t bytes;

	if (max_keys < L7_RL_MIN_KEYS || max_keys > L7_RL_MAX_KEYS)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->n_sets = (max_keys + L7_RL_WAYS - 1) / L7_RL_WAYS;
	t->seed = seed;
	bytes = (size_t)t->n_sets * sizeof(struct rl_set);
	t->sets = aligned_alloc(RL_SET_BYTES, bytes);
	if (!t->sets) {
		free(t);
		return NULL;
	}
	/* touch it all now: memory use is what it will be under a flood */
	memset(t->sets, 0, bytes);
	return t;
}

void l7_rl_table_free(struct l7_rl_table *t)
{
	if (!t)
		return;
	free(t->sets);
	free(t);
}

uint32_t l7_rl_table_capacity(const struct l7_rl_table *t)
{
	return t->n_sets * L7_RL_WAYS;
}

size_t l7_rl_table_bytes(const struct l7_rl_table *t)
{
	return sizeof(*t) + (size_t)t->n_sets * sizeof(struct rl_set);
}

void l7_rl_table_stats(struct l7_rl_table *t, uint64_t now_ns, struct l7_rl_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->capacity = l7_rl_table_capacity(t);
	out->bytes = l7_rl_table_bytes(t);
	for (uint32_t i = 0; i < t->n_sets; i++) {
		struct rl_set *s = &t->sets[i];

		set_lock(s);
		for (unsigned w = 0; w < L7_RL_WAYS; w++)
			out->live += s->e[w].key && s->e[w].tat > now_ns;
		out->evictions += s->evictions;
		set_unlock(s);
	}
}

uint64_t l7_rl_key_hash(const struct l7_rl_table *t, const struct l7_rl_policy *p,
			enum l7_rl_key kind, const void *key, size_t len)
{
	/* the kind is in the seed so a header value can never name an
	 * address's bucket, and the policy id so policies never share one */
	uint64_t seed = hash_mix64(t->seed ^ p->id ^ ((uint64_t)kind + 1) * 0x9E3779B97F4A7C15ull);
	uint64_t h = hash_bytes_seed(key, len, seed);

	return h ? h : 1;
}

/* The way holding `key`, or the way it takes over: an empty one, one whose
 * bucket is full again (no state lost), else the one with the earliest tat
 * (the least state lost; ratelimit.h "Eviction"). Called under the lock. */
static struct rl_entry *find_or_claim(struct rl_set *s, uint64_t key, uint64_t now)
{
	struct rl_entry *spare = NULL, *oldest = &s->e[0];

	for (unsigned w = 0; w < L7_RL_WAYS; w++) {
		struct rl_entry *e = &s->e[w];

		if (e->key == key)
			return e;
		if (!spare && (!e->key || e->tat <= now))
			spare = e;
		if (e->tat < oldest->tat)
			oldest = e;
	}
	if (!spare) {
		spare = oldest;
		s->evictions++;
	}
	spare->key = key;
	spare->tat = 0;
	return spare;
}

bool l7_rl_take(struct l7_rl_table *t, const struct l7_rl_policy *p, uint64_t key_hash,
		uint64_t now_ns, struct l7_rl_result *out)
{
	struct rl_set *s = set_of(t, key_hash);
	struct rl_entry *e;
	uint64_t debt;
	bool ok;

	set_lock(s);
	e = find_or_claim(s, key_hash, now_ns);
	debt = e->tat > now_ns ? e->tat - now_ns : 0;
	/* GCRA: allowed when this request's interval still fits the bucket */
	ok = debt + p->interval_ns <= p->capacity_ns;
	if (ok) {
		debt += p->interval_ns;
		e->tat = now_ns + debt;
	}
	set_unlock(s);

	if (out) {
		out->allowed = ok;
		out->reset_ns = debt;
		if (ok) {
			out->remaining = (uint32_t)((p->capacity_ns - debt) / p->interval_ns);
			out->retry_after_ns = 0;
		} else {
			out->remaining = 0;
			out->retry_after_ns = debt - (p->capacity_ns - p->interval_ns);
		}
	}
	return ok;
}

/* --- policies and keys -------------------------------------------------- */

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int l7_rl_policy_init(struct l7_rl_policy *p, const char *name, uint32_t count, uint32_t period_ms,
		      uint32_t burst)
{
	size_t len = name ? strlen(name) : 0;
	uint64_t period_ns = (uint64_t)period_ms * NS_PER_MS;

	memset(p, 0, sizeof(*p));
	if (!len || len > L7_RL_NAME_MAX)
		return -EINVAL;
	/* the name goes into an sf-string in RateLimit fields: keep it plain */
	for (size_t i = 0; i < len; i++)
		if (!is_name_char(name[i]))
			return -EINVAL;
	if (!count || count > L7_RL_MAX_COUNT || !period_ms || period_ms > L7_RL_MAX_PERIOD ||
	    burst > L7_RL_MAX_BURST || period_ns < count)
		return -EINVAL;
	memcpy(p->name, name, len);
	p->count = count;
	p->period_ms = period_ms;
	p->burst = burst ? burst : count;
	p->interval_ns = period_ns / count;
	if (p->burst > UINT64_MAX / 4 / p->interval_ns)
		return -EINVAL;
	p->capacity_ns = p->burst * p->interval_ns;
	p->id = hash_bytes(name, len);
	p->key = L7_RL_KEY_CLIENT_IP;
	p->v4_prefix = 32;
	p->v6_prefix = 64; /* a /64 is one subscriber: rotating within it is free */
	return 0;
}

int l7_rl_policy_key(struct l7_rl_policy *p, enum l7_rl_key key, const char *header)
{
	size_t len;

	if (key >= L7_RL_KEY__COUNT)
		return -EINVAL;
	if (key == L7_RL_KEY_HEADER) {
		len = header ? strlen(header) : 0;
		if (!len || len > L7_RL_HDR_NAME_MAX)
			return -EINVAL;
		for (size_t i = 0; i < len; i++)
			if (!(http1_cclass[(unsigned char)header[i]] & HTTP1_C_TCHAR))
				return -EINVAL;
		memcpy(p->header, header, len);
		p->header[len] = '\0';
		p->header_len = (uint8_t)len;
	}
	p->key = (uint8_t)key;
	return 0;
}

const char *l7_rl_key_name(enum l7_rl_key key)
{
	static const char *const names[L7_RL_KEY__COUNT] = {"client_ip", "header", "route"};

	return key < L7_RL_KEY__COUNT ? names[key] : "?";
}

/* Clears every bit past the first `prefix` of n bytes. */
static void mask_bits(uint8_t *b, size_t n, unsigned prefix)
{
	for (size_t i = 0; i < n; i++) {
		if (prefix >= 8) {
			prefix -= 8;
			continue;
		}
		b[i] &= (uint8_t)(0xff00u >> prefix);
		prefix = 0;
	}
}

size_t l7_rl_addr_key(const struct addr *a, unsigned v4_prefix, unsigned v6_prefix,
		      uint8_t out[L7_RL_ADDR_KEY_MAX])
{
	struct addr n;

	out[0] = 0;
	if (!a || !a->len)
		return 1;
	n = *a;
	addr_normalize(&n);
	switch (addr_family(&n)) {
	case AF_INET:
		out[0] = 4;
		memcpy(out + 1, &n.u.in4.sin_addr, 4);
		mask_bits(out + 1, 4, v4_prefix);
		return 5;
	case AF_INET6:
		out[0] = 6;
		memcpy(out + 1, &n.u.in6.sin6_addr, 16);
		mask_bits(out + 1, 16, v6_prefix);
		return 17;
	default:
		out[0] = 'u';
		return 1;
	}
}

static bool find_header(const struct http1_request *req, const char *name, size_t len,
			struct http1_view *out)
{
	for (unsigned i = 0; i < req->h.nheaders; i++) {
		const struct http1_header *f = &req->h.headers[i];

		if (f->name.len == len && l7_name_eq(f->name.ptr, name, len)) {
			*out = f->value;
			return true;
		}
	}
	return false;
}

bool l7_rl_check(struct l7_rl_table *t, const struct l7_rl_policy *p,
		 const struct http1_request *req, const struct addr *client, const char *route,
		 size_t route_len, uint64_t now_ns, struct l7_rl_result *out)
{
	uint8_t ak[L7_RL_ADDR_KEY_MAX];
	struct http1_view v;
	uint64_t h;
	size_t n;

	if (p->key == L7_RL_KEY_ROUTE) {
		h = l7_rl_key_hash(t, p, L7_RL_KEY_ROUTE, route, route ? route_len : 0);
	} else if (p->key == L7_RL_KEY_HEADER && req &&
		   find_header(req, p->header, p->header_len, &v) && v.len) {
		h = l7_rl_key_hash(t, p, L7_RL_KEY_HEADER, v.ptr, v.len);
	} else {
		/* client_ip, or a header policy whose request has no key: the
		 * address the PROXY header gave stands for the client */
		n = l7_rl_addr_key(client, p->v4_prefix, p->v6_prefix, ak);
		h = l7_rl_key_hash(t, p, L7_RL_KEY_CLIENT_IP, ak, n);
	}
	return l7_rl_take(t, p, h, now_ns, out);
}

/* --- the rate parser ----------------------------------------------------- */

static int rate_err(enum l7_rl_err *why, enum l7_rl_err e, int rc)
{
	*why = e;
	return rc;
}

/* Reads 1*DIGIT at *i (at most 10 digits so it cannot overflow 64 bits);
 * returns false when there is no digit. *big when over 10 digits. */
static bool read_num(const char *s, size_t len, size_t *i, uint64_t *v, bool *big)
{
	size_t start = *i;

	*v = 0;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		if (*i - start >= 10)
			*big = true;
		else
			*v = *v * 10 + (uint64_t)(s[*i] - '0');
		(*i)++;
	}
	return *i > start;
}

/* The unit at s[i..len): its length in ms, or 0 when unknown. */
static uint64_t unit_ms(const char *s, size_t i, size_t len)
{
	size_t n = len - i;

	if (n == 2 && s[i] == 'm' && s[i + 1] == 's')
		return 1;
	if (n != 1)
		return 0;
	switch (s[i]) {
	case 's':
		return 1000;
	case 'm':
		return 60 * 1000;
	case 'h':
		return 3600 * 1000;
	case 'd':
		return 86400 * 1000;
	default:
		return 0;
	}
}

int l7_rl_parse_rate(const char *s, size_t len, uint32_t *count, uint32_t *period_ms,
		     enum l7_rl_err *why)
{
	uint64_t c, mult = 1, unit, period;
	bool big = false;
	size_t i = 0;

	*why = L7_RL_ERR_NONE;
	if (len > L7_RL_RATE_MAX_LEN)
		return rate_err(why, L7_RL_ERR_TOO_LARGE, -E2BIG);
	if (!len || s[0] == '/')
		return rate_err(why, L7_RL_ERR_EMPTY, -EBADMSG);
	if (!read_num(s, len, &i, &c, &big))
		return rate_err(why, L7_RL_ERR_COUNT, -EBADMSG);
	if (i < len && s[i] == 'r') /* nginx's "10r/s" */
		i++;
	if (i >= len || s[i] != '/')
		return rate_err(why, L7_RL_ERR_SLASH, -EBADMSG);
	i++;
	if (i < len && s[i] >= '0' && s[i] <= '9')
		read_num(s, len, &i, &mult, &big);
	if (i >= len)
		return rate_err(why, L7_RL_ERR_UNIT, -EBADMSG);
	unit = unit_ms(s, i, len);
	if (!unit) {
		/* tell a bad unit from junk after a good one ("5/sx") */
		bool unit_then_junk = len - i > 1 && (unit_ms(s, i, i + 1) || unit_ms(s, i, i + 2));

		return rate_err(why, unit_then_junk ? L7_RL_ERR_TRAILING : L7_RL_ERR_UNIT,
				-EBADMSG);
	}
	if (!c || !mult)
		return rate_err(why, L7_RL_ERR_ZERO, -EBADMSG);
	period = mult * unit;
	if (big || c > L7_RL_MAX_COUNT || period > L7_RL_MAX_PERIOD)
		return rate_err(why, L7_RL_ERR_TOO_LARGE, -E2BIG);
	if (period * NS_PER_MS < c)
		return rate_err(why, L7_RL_ERR_TOO_FAST, -E2BIG);
	*count = (uint32_t)c;
	*period_ms = (uint32_t)period;
	return (int)len;
}

const char *l7_rl_err_text(enum l7_rl_err why)
{
	static const char *const text[L7_RL_ERR__COUNT] = {
	    [L7_RL_ERR_NONE] = "no error",
	    [L7_RL_ERR_EMPTY] = "empty rate (expected COUNT/PERIOD, e.g. 100/s)",
	    [L7_RL_ERR_COUNT] = "the count is not a decimal number",
	    [L7_RL_ERR_SLASH] = "expected '/' after the count",
	    [L7_RL_ERR_UNIT] = "unknown period unit (ms, s, m, h or d)",
	    [L7_RL_ERR_TRAILING] = "unexpected bytes after the period unit",
	    [L7_RL_ERR_ZERO] = "count and period must be above 0",
	    [L7_RL_ERR_TOO_LARGE] = "count above 1000000000 or period above one day",
	    [L7_RL_ERR_TOO_FAST] = "more than one request per nanosecond",
	};

	return why < L7_RL_ERR__COUNT ? text[why] : "?";
}

/* --- RateLimit fields and the 429 --------------------------------------- */

static uint32_t ceil_s(uint64_t ns)
{
	uint64_t s = (ns + NS_PER_S - 1) / NS_PER_S;

	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

uint32_t l7_rl_retry_after_s(const struct l7_rl_result *r)
{
	return r->allowed ? 0 : ceil_s(r->retry_after_ns);
}

int l7_rl_format_headers(char *out, size_t cap, const struct l7_rl_policy *p,
			 const struct l7_rl_result *r)
{
	/* the draft's w is whole seconds: a sub-second or odd period is
	 * restated as the quota of the whole-second window it rounds up to */
	uint32_t w = (p->period_ms + 999) / 1000;
	uint64_t q = (uint64_t)p->count * w * 1000 / p->period_ms;
	int n, m = 0;

	n = snprintf(out, cap,
		     "RateLimit-Policy: \"%s\";q=%llu;w=%u\r\n"
		     "RateLimit: \"%s\";r=%u;t=%u\r\n",
		     p->name, (unsigned long long)q, w, p->name, r->remaining, ceil_s(r->reset_ns));
	if (n < 0 || (size_t)n >= cap)
		return -E2BIG;
	if (!r->allowed) {
		m = snprintf(out + n, cap - (size_t)n, "Retry-After: %u\r\n",
			     l7_rl_retry_after_s(r));
		if (m < 0 || (size_t)m >= cap - (size_t)n)
			return -E2BIG;
	}
	return n + m;
}

int l7_rl_respond_429(uint8_t *out, size_t cap, const struct l7_rl_policy *p,
		      const struct l7_rl_result *r, bool close)
{
	char hdrs[L7_RL_HDRS_MAX], body[64];
	int hn, bn, n;

	hn = l7_rl_format_headers(hdrs, sizeof(hdrs), p, r);
	if (hn < 0)
		return hn;
	bn = snprintf(body, sizeof(body), "too many requests, retry in %u s\n",
		      l7_rl_retry_after_s(r));
	/* RFC 6585 §4: 429 Too Many Requests, MAY carry Retry-After */
	n = snprintf((char *)out, cap,
		     "HTTP/1.1 429 Too Many Requests\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: %d\r\n"
		     "Cache-Control: no-store\r\n"
		     "%s"
		     "Connection: %s\r\n"
		     "\r\n"
		     "%s",
		     bn, hdrs, close ? "close" : "keep-alive", body);
	if (n < 0 || (size_t)n >= cap)
		return -E2BIG;
	return n;
}
