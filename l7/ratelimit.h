/* Request rate limiting: token buckets keyed by client address, a header
 * value or a route, exact across every worker thread of one strata-l7
 * process, in a fixed-size table that never grows (docs/traffic.md).
 *
 * Algorithm. Each bucket is one 64-bit "theoretical arrival time" (GCRA,
 * the virtual-scheduling form of a token bucket, ITU-T I.371 / RFC 2697's
 * single-rate idea): a policy of `count` requests per `period` with `burst`
 * has an emission interval T = period / count and a capacity of burst * T.
 * The bucket's debt is max(0, tat - now); a request is allowed when
 * debt + T <= capacity and then adds T. A bucket whose tat has passed is
 * full, which is the same as no bucket at all: that is what makes eviction
 * cheap and, most of the time, lossless.
 *
 * Table. One table per process, shared by every policy (the key hash is
 * seeded with the policy's name, so policies never share buckets) and every
 * worker. It is an array of sets of L7_RL_WAYS entries, each set 128 bytes
 * (two cache lines) guarded by its own spinlock held for a dozen loads and
 * stores: exact (no N x overshoot, as per-worker buckets would give) and
 * without contention unless two workers hit the same set at the same time.
 * Entries keep only the 64-bit key hash (the table's seed is random per
 * process, so collisions cannot be aimed), so memory is
 * capacity / L7_RL_WAYS * 128 bytes, fixed at creation, whatever the number
 * of distinct keys.
 *
 * Eviction. A new key takes an empty way, else a way whose bucket is full
 * again (tat <= now: nothing is lost), else the way with the smallest tat:
 * the bucket closest to full, so the key losing state gains the fewest
 * tokens when it comes back, and a flood of one-request keys evicts itself
 * before it can evict a client that is being limited (whose tat is the
 * furthest ahead). Such evictions are counted.
 *
 * Everything takes `now_ns` from the caller (CLOCK_MONOTONIC, clock_now_ns()):
 * the engine passes its loop time and tests a fake clock.
 */
#ifndef STRATA_L7_RATELIMIT_H
#define STRATA_L7_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#include "http1_parse.h"

#define L7_RL_WAYS	   7				 /* entries of one 128-byte set */
#define L7_RL_MIN_KEYS	   1024				 /* smallest table */
#define L7_RL_MAX_KEYS	   (1u << 26)			 /* largest table (~1.2 GiB) */
#define L7_RL_DEFAULT_KEYS (1u << 18)			 /* 262144 keys in 4.6 MiB */
#define L7_RL_MAX_COUNT	   1000000000u			 /* requests per period */
#define L7_RL_MAX_PERIOD   (86400u * 1000u)		 /* one day, in ms */
#define L7_RL_MAX_BURST	   1000000000u			 /* tokens */
#define L7_RL_NAME_MAX	   64				 /* policy name (an sf-string) */
#define L7_RL_HDR_NAME_MAX 64				 /* header a policy is keyed by */
#define L7_RL_ADDR_KEY_MAX 17				 /* family tag + 16 address bytes */
#define L7_RL_RATE_MAX_LEN 32				 /* longest rate text accepted */
#define L7_RL_HDRS_MAX	   (3 * 40 + 2 * L7_RL_NAME_MAX) /* l7_rl_format_headers */
#define L7_RL_429_MAX	   (L7_RL_HDRS_MAX + 256)	 /* l7_rl_respond_429 */

/* What a policy's buckets are keyed by. */
enum l7_rl_key {
	L7_RL_KEY_CLIENT_IP, /* the client address (PPv2 source), masked to a prefix */
	L7_RL_KEY_HEADER,    /* a header's value (an API key); client ip when absent */
	L7_RL_KEY_ROUTE,     /* one bucket per route: a global limit */
	L7_RL_KEY__COUNT
};

/* One policy as configured, plus what l7_rl_policy_init() derives. Plain
 * data: it lives in the config snapshot and is read by every worker. */
struct l7_rl_policy {
	char name[L7_RL_NAME_MAX + 1];	     /* [A-Za-z0-9._-]+, in RateLimit headers */
	char header[L7_RL_HDR_NAME_MAX + 1]; /* L7_RL_KEY_HEADER: the field name */
	uint8_t header_len;
	uint8_t key;	    /* enum l7_rl_key */
	uint8_t v4_prefix;  /* client_ip: IPv4 bits kept (1..32) */
	uint8_t v6_prefix;  /* client_ip: IPv6 bits kept (1..128) */
	bool send_headers;  /* RateLimit fields on allowed responses too */
	bool dry_run;	    /* the engine counts refusals but lets them through */
	uint32_t count;	    /* requests ... */
	uint32_t period_ms; /* ... per this period */
	uint32_t burst;	    /* bucket size in requests (>= 1) */
	/* derived */
	uint64_t id;	      /* hash of the name: seeds key hashes */
	uint64_t interval_ns; /* T = period / count */
	uint64_t capacity_ns; /* burst * T */
};

/* The verdict of one request. */
struct l7_rl_result {
	bool allowed;
	uint32_t remaining;	 /* whole requests still allowed now (after this one) */
	uint64_t retry_after_ns; /* limited: until one request is allowed again; else 0 */
	uint64_t reset_ns;	 /* until the bucket is full again */
};

/* Why l7_rl_parse_rate() refused a text. */
enum l7_rl_err {
	L7_RL_ERR_NONE,
	L7_RL_ERR_EMPTY,     /* nothing, or nothing before "/" */
	L7_RL_ERR_COUNT,     /* the count is not a decimal number */
	L7_RL_ERR_SLASH,     /* no "/" after the count */
	L7_RL_ERR_UNIT,	     /* unknown or missing unit */
	L7_RL_ERR_TRAILING,  /* bytes after the unit */
	L7_RL_ERR_ZERO,	     /* a count or period of 0 */
	L7_RL_ERR_TOO_LARGE, /* count over L7_RL_MAX_COUNT or period over a day */
	L7_RL_ERR_TOO_FAST,  /* more than one request per nanosecond */
	L7_RL_ERR__COUNT
};

struct l7_rl_table;

/* Statistics for `show ratelimit` and metrics (l7_rl_table_stats). */
struct l7_rl_stats {
	uint32_t capacity;  /* entries */
	uint32_t live;	    /* entries whose bucket is not full at `now` */
	uint64_t evictions; /* buckets dropped before they were full again */
	size_t bytes;	    /* table memory */
};

/* "COUNT/PERIOD" with an optional nginx-style "r" after the count and an
 * optional multiplier before the unit: "100/s", "10r/s", "6000/m", "5/10s",
 * "1/500ms", "86400/d". Units: ms, s, m, h, d. The whole of `len` bytes must
 * be the rate (no spaces). Returns len (> 0) with *count and *period_ms set,
 * -EBADMSG for malformed text, -E2BIG for values over the limits above (also
 * for text longer than L7_RL_RATE_MAX_LEN); *why says which. Never reads
 * past len. Pure: no allocation, no logging. */
int l7_rl_parse_rate(const char *s, size_t len, uint32_t *count, uint32_t *period_ms,
		     enum l7_rl_err *why);
const char *l7_rl_err_text(enum l7_rl_err why);

/* Fills `p` for `name` with count/period and burst (0: burst = count),
 * keyed by client ip (/32, /64) without headers on allowed responses; set
 * p->key and friends afterwards or with l7_rl_policy_key(). Returns 0, or
 * -EINVAL for a bad name, a zero count or period, limits exceeded, or a
 * rate faster than one request per nanosecond. */
int l7_rl_policy_init(struct l7_rl_policy *p, const char *name, uint32_t count, uint32_t period_ms,
		      uint32_t burst);

/* Keys the policy by `key`; `header` (a token, 1..L7_RL_HDR_NAME_MAX bytes)
 * is required for L7_RL_KEY_HEADER and ignored otherwise. Returns 0 or
 * -EINVAL. */
int l7_rl_policy_key(struct l7_rl_policy *p, enum l7_rl_key key, const char *header);

/* "client_ip", "header", "route". */
const char *l7_rl_key_name(enum l7_rl_key key);

/* A table of at least `max_keys` entries (rounded up to whole sets;
 * L7_RL_MIN_KEYS..L7_RL_MAX_KEYS), all memory allocated and touched now. `seed` keys the hashes
 * (pass random bytes; tests pass a constant). NULL on bad size or ENOMEM. Owned by the caller; it
 * must outlive every snapshot whose policies use it. */
struct l7_rl_table *l7_rl_table_new(uint32_t max_keys, uint64_t seed);
void l7_rl_table_free(struct l7_rl_table *t); /* NULL-safe; no take may run */

uint32_t l7_rl_table_capacity(const struct l7_rl_table *t);
size_t l7_rl_table_bytes(const struct l7_rl_table *t);

/* Walks every set under its lock: for the admin thread, never the hot path. */
void l7_rl_table_stats(struct l7_rl_table *t, uint64_t now_ns, struct l7_rl_stats *out);

/* The bucket key of `len` bytes for policy `p` of kind `kind` (never 0). */
uint64_t l7_rl_key_hash(const struct l7_rl_table *t, const struct l7_rl_policy *p,
			enum l7_rl_key kind, const void *key, size_t len);

/* Spends one request from bucket `key_hash` of `p` at `now_ns`. Returns
 * true when allowed. `out` (may be NULL) receives the verdict with the
 * numbers the RateLimit headers need. Thread-safe; any worker. */
bool l7_rl_take(struct l7_rl_table *t, const struct l7_rl_policy *p, uint64_t key_hash,
		uint64_t now_ns, struct l7_rl_result *out);

/* The bytes a client address is keyed by: a family tag then the address
 * masked to v4_prefix / v6_prefix bits (v4-mapped IPv6 counts as IPv4, so
 * dual-stack listeners agree). AF_UNIX and unset addresses give just the
 * tag: they share one bucket. Returns the length (1..L7_RL_ADDR_KEY_MAX). */
size_t l7_rl_addr_key(const struct addr *a, unsigned v4_prefix, unsigned v6_prefix,
		      uint8_t out[L7_RL_ADDR_KEY_MAX]);

/* The whole per-request step: picks the key the policy asks for from the
 * request (`client` is the PPv2 source, never a header; `route` the route's
 * name for L7_RL_KEY_ROUTE) and takes one request. Header policies fall back
 * to the client address when the header is absent or empty. */
bool l7_rl_check(struct l7_rl_table *t, const struct l7_rl_policy *p,
		 const struct http1_request *req, const struct addr *client, const char *route,
		 size_t route_len, uint64_t now_ns, struct l7_rl_result *out);

/* Retry-After in whole seconds (RFC 9110 §10.2.3 delay-seconds), rounded
 * up so a client that waits that long is allowed; 0 when allowed. */
uint32_t l7_rl_retry_after_s(const struct l7_rl_result *r);

/* Writes the draft-ietf-httpapi-ratelimit-headers (-08) fields for `p` and
 * `r`, each ending in CRLF:
 *   RateLimit-Policy: "NAME";q=QUOTA;w=WINDOW
 *   RateLimit: "NAME";r=REMAINING;t=RESET
 * and, when r is a refusal, Retry-After: SECONDS. Returns the length or
 * -E2BIG (L7_RL_HDRS_MAX always suffices). */
int l7_rl_format_headers(char *out, size_t cap, const struct l7_rl_policy *p,
			 const struct l7_rl_result *r);

/* A complete "429 Too Many Requests" (RFC 6585 §4) with the fields above,
 * Content-Type: text/plain, Cache-Control: no-store, Connection: close or
 * keep-alive, and a one-line body. Returns the length or -E2BIG
 * (L7_RL_429_MAX always suffices). */
int l7_rl_respond_429(uint8_t *out, size_t cap, const struct l7_rl_policy *p,
		      const struct l7_rl_result *r, bool close);

#endif
