/* Private to the l7_config*.c files: the build context, the snapshot's
 * arena, and typed getters that copy into it. Not an API for the engine. */
#ifndef STRATA_L7_CONFIG_INT_H
#define STRATA_L7_CONFIG_INT_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

#include "l7_config.h"

/* Bump allocator owning every string and array of one snapshot: one free()
 * per chunk at destroy, no per-object ownership to get wrong. */
struct l7_arena;

struct l7_arena *l7_arena_new(void);
void l7_arena_free(struct l7_arena *a);
/* Zeroed, 16-byte aligned; NULL when out of memory. */
void *l7_arena_alloc(struct l7_arena *a, size_t size);

struct l7_build {
	struct l7_snapshot *s;
	struct l7_arena *arena;
	struct cfg_err *err;
};

/* Records "out of memory" at `at`; returns -EINVAL. */
int l7b_oom(struct l7_build *b, const config_setting_t *at);

/* Copies len bytes (plus a NUL) into the arena; false when out of memory. */
bool l7b_copy(struct l7_build *b, const char *s, size_t len, struct l7_str *out);

/* Arrays in the arena, zeroed; NULL (and "out of memory" recorded) on failure. */
void *l7b_array(struct l7_build *b, const config_setting_t *at, size_t n, size_t size);

/* A string copied into the arena; absent: def (copied), or unset when NULL. */
int l7b_string(struct l7_build *b, const config_setting_t *g, const char *key, const char *def,
	       struct l7_str *out);

/* A name (listener, upstream, server, route, node, cookie): 1..L7_NAME_MAX
 * bytes of A-Z a-z 0-9 . _ -; required unless def is given. */
int l7b_name(struct l7_build *b, const config_setting_t *g, const char *key, const char *def,
	     struct l7_str *out);

/* An unsigned integer in [min, max]. */
int l7b_uint(struct l7_build *b, const config_setting_t *g, const char *key, uint32_t def,
	     uint32_t min, uint32_t max, uint32_t *out);

/* A duration in whole milliseconds within [min_ms, max_ms]. */
int l7b_ms(struct l7_build *b, const config_setting_t *g, const char *key, uint32_t def_ms,
	   uint32_t min_ms, uint32_t max_ms, uint32_t *out);

/* A string, or a list/array of strings: how many entries (0 when absent),
 * each fetched with l7b_item(); < 0 after recording a type error. */
int l7b_items(struct l7_build *b, const config_setting_t *g, const char *key,
	      const config_setting_t **s, unsigned max, const char *what);
const config_setting_t *l7b_item(const config_setting_t *s, int i);

/* Checks a field name (a token, RFC 9110 §5.1) / value (field-vchar, SP,
 * HTAB; no leading or trailing whitespace, RFC 9110 §5.5). */
bool l7_is_token(const char *s, size_t len);
bool l7_is_field_value(const char *s, size_t len);

/* "did you mean" over configured names: the closest of names[0..n). */
const char *l7b_closest(const char *word, const struct l7_str *names, size_t stride, size_t n);

/* The parts of the snapshot, in build order (each file builds one). */
int l7_build_listeners(struct l7_build *b, const config_setting_t *root);
int l7_build_upstreams(struct l7_build *b, const config_setting_t *root);
int l7_build_routes(struct l7_build *b, const config_setting_t *root);
int l7_build_match(struct l7_build *b, const config_setting_t *route, struct l7_match *m);
int l7_build_hdr_rules(struct l7_build *b, const config_setting_t *route, const char *key,
		       bool request, struct l7_hdr_rules *r);
void l7_free_routes(struct l7_snapshot *s);

/* Traffic management keys (l7_config_traffic.c, docs/traffic.md): the
 * top-level rate_limits (after upstreams, before routes), a listener's
 * connection limits, an upstream's breaker group and retry budget (`r`:
 * its retry group, may be NULL), a route's rate_limit list and its split
 * action. */
int l7_build_rate_limits(struct l7_build *b, const config_setting_t *root);
int l7_build_listener_limits(struct l7_build *b, const config_setting_t *lg, struct l7_listener *l);
int l7_build_breaker(struct l7_build *b, const config_setting_t *ug, struct l7_upstream *u);
int l7_build_retry_budget(struct l7_build *b, const config_setting_t *r, struct l7_upstream *u);
int l7_build_route_limits(struct l7_build *b, const config_setting_t *rg, struct l7_route *r);
int l7_build_split(struct l7_build *b, const config_setting_t *rg, struct l7_route *r);

#endif
