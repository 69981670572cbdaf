/* Weighted traffic splits between upstreams: canary (5/95), blue/green
 * (100/0 -> 0/100), A/B/C.
 *
 * Each client has a stable bucket in [0, L7_SPLIT_BUCKETS): a fixed-seed
 * hash of its sticky key (a cookie or header value when configured and
 * present, else the client address the PROXY header gave). The sides own
 * consecutive ranges of buckets sized by their weights (cumulative bounds),
 * so a client stays on its side until the weights move its bucket, and
 * moving weight between two neighbouring sides moves exactly the clients in
 * between: the fewest possible (5/95 -> 10/90 moves 5 % of the clients, all
 * from the second side to the first). The hash seed is a constant, so every
 * strata-l7 instance and every restart puts a client on the same side.
 *
 * A request header or cookie naming a side forces it (even one at weight
 * 0: try green before shifting traffic to it); anyone able to send the
 * header can choose, so enable it only where that is acceptable.
 *
 * Run-time state. A struct l7_split outlives config snapshots (the engine
 * keeps one per split route, by route name). Weights change at run time
 * (stratactl, reload) through a seqlock: one writer at a time under a
 * mutex, readers lock-free and never blocked, always seeing one complete
 * set of bounds, so a switch fails no request. Names and keys are fixed at
 * creation; a reload that changes them builds a new split.
 */
#ifndef STRATA_L7_SPLIT_H
#define STRATA_L7_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#include "http1_parse.h"

#define L7_SPLIT_BUCKETS    10000 /* 0.01 % granularity */
#define L7_SPLIT_MAX_SIDES  16
#define L7_SPLIT_NAME_MAX   64 /* a side's name (normally its upstream's) */
#define L7_SPLIT_FIELD_MAX  64 /* a header or cookie name */
#define L7_SPLIT_MAX_WEIGHT 1000000
#define L7_SPLIT_SPEC_MAX                                                                          \
	(L7_SPLIT_MAX_SIDES * (L7_SPLIT_NAME_MAX + 9)) /* l7_split_parse_weights */

/* What keeps a client on its side. */
enum l7_split_key {
	L7_SPLIT_KEY_CLIENT_IP, /* the client address (PPv2 source) */
	L7_SPLIT_KEY_COOKIE,	/* a cookie's value; client ip when absent */
	L7_SPLIT_KEY_HEADER,	/* a header's value; client ip when absent */
	L7_SPLIT_KEY__COUNT
};

/* How a request's side was chosen (access log, metrics). */
enum l7_split_why {
	L7_SPLIT_WHY_HEADER_FORCED, /* force_header named a side */
	L7_SPLIT_WHY_COOKIE_FORCED, /* force_cookie named a side */
	L7_SPLIT_WHY_COOKIE,	    /* bucket of the sticky cookie */
	L7_SPLIT_WHY_HEADER,	    /* bucket of the sticky header */
	L7_SPLIT_WHY_CLIENT_IP,	    /* bucket of the client address */
	L7_SPLIT_WHY__COUNT
};

/* Why l7_split_parse_weights() refused a text. */
enum l7_split_err {
	L7_SPLIT_ERR_NONE,
	L7_SPLIT_ERR_EMPTY,	/* no name=weight pair (or an empty one) */
	L7_SPLIT_ERR_NO_EQUALS, /* a pair without '=' */
	L7_SPLIT_ERR_UNKNOWN,	/* a name that is not a side */
	L7_SPLIT_ERR_DUPLICATE, /* a side named twice */
	L7_SPLIT_ERR_WEIGHT,	/* not a decimal weight */
	L7_SPLIT_ERR_TOO_LARGE, /* weight over L7_SPLIT_MAX_WEIGHT, or text too long */
	L7_SPLIT_ERR_ALL_ZERO,	/* every side would be at 0 */
	L7_SPLIT_ERR__COUNT
};

struct l7_split_side_cfg {
	const char *name; /* copied */
	uint32_t weight;  /* 0..L7_SPLIT_MAX_WEIGHT */
};

struct l7_split_params {
	struct l7_split_side_cfg sides[L7_SPLIT_MAX_SIDES];
	unsigned n_sides;	  /* 1..L7_SPLIT_MAX_SIDES */
	enum l7_split_key key;	  /* stickiness */
	const char *key_name;	  /* cookie or header name for key; else NULL */
	const char *force_header; /* NULL: off */
	const char *force_cookie; /* NULL: off */
};

struct l7_split_choice {
	int side;	 /* index into the sides, or -1 when every weight is 0 */
	uint32_t bucket; /* the client's bucket (forced picks too) */
	enum l7_split_why why;
};

struct l7_split;

/* A split as configured. Returns NULL for bad params (no sides, too many,
 * a name empty, too long or repeated, a weight over the maximum, every
 * weight 0, a field name that is not a token, a cookie or header key
 * without its name) or ENOMEM. Owned by the engine; l7_split_free(). */
struct l7_split *l7_split_new(const struct l7_split_params *p);
void l7_split_free(struct l7_split *sp); /* NULL-safe; no pick may run */

/* A reload: when `p` has the same sides (names, in order), key and forcing
 * fields, takes its weights if they differ from the ones configured last
 * (an operator's run-time change survives a reload that did not touch the
 * weights) and returns 0; otherwise -EINVAL and the caller builds a new
 * split for the new config. */
int l7_split_reconfigure(struct l7_split *sp, const struct l7_split_params *p);

/* The stable bucket of a sticky key (any bytes) or of a client address
 * (v4-mapped IPv6 counts as IPv4; the port is ignored). */
uint32_t l7_split_bucket(const void *key, size_t len);
uint32_t l7_split_bucket_addr(const struct addr *client);

/* The side owning `bucket` under the current weights, or -1 when every
 * weight is 0. Lock-free; any thread. */
int l7_split_pick(const struct l7_split *sp, uint32_t bucket);

/* The whole per-request step: forcing header, forcing cookie, then the
 * sticky key's bucket. `client` is the PPv2 source. Returns out->side. */
int l7_split_choose(const struct l7_split *sp, const struct http1_request *req,
		    const struct addr *client, struct l7_split_choice *out);

/* The side named `name` (ASCII case-insensitive), or -1. */
int l7_split_side(const struct l7_split *sp, const char *name, size_t len);
const char *l7_split_side_name(const struct l7_split *sp, unsigned side);
unsigned l7_split_count(const struct l7_split *sp);

/* Sets every side's weight at once (n == the number of sides). Returns 0,
 * or -EINVAL for a weight over the maximum or all zero. Any thread; the
 * picks that follow see either the old or the new weights whole. */
int l7_split_set_weights(struct l7_split *sp, const uint32_t *weights, unsigned n);

/* The current weights (consistent), for `show splits`; returns the count. */
unsigned l7_split_weights(const struct l7_split *sp, uint32_t *weights);

/* One `show splits` line (no newline): "blue=95 [0,9500) green=5
 * [9500,10000)". Returns the length or -E2BIG (L7_SPLIT_SPEC_MAX * 2
 * always suffices). */
int l7_split_format(const struct l7_split *sp, char *out, size_t cap);

/* Parses "NAME=WEIGHT[,NAME=WEIGHT...]" (stratactl's `set split ROUTE
 * blue=0,green=100`; spaces around names and weights allowed) against the
 * sides of `sp`: out[] gets the current weights with the named ones
 * replaced. Returns len (> 0), -EBADMSG or -E2BIG with *why set. Never reads
 * past len; no allocation. */
int l7_split_parse_weights(const struct l7_split *sp, const char *s, size_t len,
			   uint32_t out[L7_SPLIT_MAX_SIDES], enum l7_split_err *why);
const char *l7_split_err_text(enum l7_split_err why);

const char *l7_split_why_name(enum l7_split_why why);

#endif
