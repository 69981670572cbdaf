/* strata-l7 configuration: one libconfig file (docs/l7-config.md is the
 * reference) parsed and validated into one immutable snapshot.
 *
 * l7_config_build() returns a struct l7_snapshot holding one reference (the
 * caller's); it is read-only from then on and may be shared by every worker
 * thread. Every value is already parsed (addresses, CIDR lists, durations in
 * milliseconds, sizes in bytes, compiled PCRE2 regexes, routes resolved to
 * their upstream), every string is copied out of libconfig (NUL-terminated,
 * with its length) and owned by the snapshot. The last snap_put() frees it
 * all (l7_snapshot_free() is that destroy).
 *
 * Validation is complete here: a snapshot that builds never surprises the
 * engine. Errors read "FILE:LINE: KEY: what is wrong" (cfg.h); the first
 * error wins and nothing is returned. Nothing here touches the network or
 * the file system beyond reading the file: binding, users and sockets are
 * the engine's start-up work.
 */
#ifndef STRATA_L7_CONFIG_H
#define STRATA_L7_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "balance.h"
#include "cfg.h"
#include "cidr.h"
#include "log.h"
#include "snapshot.h"

#include "breaker.h"
#include "h2.h"
#include "http1_parse.h"
#include "ratelimit.h"
#include "retry_budget.h"
#include "split.h"

struct l7_tls_conf;

/* Hard ceilings, each checked with a clear error at build time. */
#define L7_NAME_MAX	     64 /* listener, upstream, server, route names */
#define L7_MAX_LISTENERS     64 /* route listener masks are 64-bit */
#define L7_MAX_LISTEN_ADDRS  16 /* addresses of one listener */
#define L7_MAX_UPSTREAMS     256
#define L7_MAX_SERVERS	     1024 /* servers of one upstream */
#define L7_MAX_ROUTES	     1024
#define L7_MAX_HOSTS	     64 /* host patterns of one route */
#define L7_MAX_METHODS	     16 /* method names of one route */
#define L7_MAX_HDR_RULES     32 /* entries of one add, set or remove list */
#define L7_MAX_WORKERS	     BALANCE_MAX_WORKERS
#define L7_MAX_CPUS	     1024
#define L7_HOST_MAX	     255	   /* RFC 1035 §2.3.4: names up to 255 octets */
#define L7_HDR_VALUE_MAX     4096	   /* a configured header value */
#define L7_BODY_MAX	     65536	   /* a fixed response body */
#define L7_MAX_BUFFERED_BODY (64ull << 20) /* max_body ceiling with buffer_request */

/* A string the snapshot owns: NUL-terminated, len excludes the NUL. An unset
 * optional string has ptr == NULL and len 0; "" has a ptr and len 0. */
struct l7_str {
	const char *ptr;
	uint32_t len;
};

enum l7_pp_mode {
	L7_PP_REQUIRED, /* a PROXY header (v1 or v2) from a trusted peer, or close */
	L7_PP_OPTIONAL, /* a header when the first bytes look like one */
	L7_PP_OFF,	/* never: the socket peer is the client */
	L7_PP__COUNT
};

/* Forwarding headers (fwd.c), bit per header, in this order everywhere. */
enum l7_fwd_hdr {
	L7_FWD_XFF,	   /* X-Forwarded-For */
	L7_FWD_REAL_IP,	   /* X-Real-IP */
	L7_FWD_PROTO,	   /* X-Forwarded-Proto */
	L7_FWD_HOST,	   /* X-Forwarded-Host */
	L7_FWD_FORWARDED,  /* Forwarded (RFC 7239) */
	L7_FWD_REQUEST_ID, /* X-Request-Id */
	L7_FWD__COUNT
};

struct l7_listener {
	struct l7_str name;
	uint32_t index;	     /* position in snapshot->listeners */
	struct addr *listen; /* n_listen >= 1 addresses, distinct across listeners */
	uint32_t n_listen;
	enum l7_pp_mode proxy_protocol;
	struct cidr_list trusted;	     /* who may send PPv1/PPv2 */
	struct l7_str health_path;	     /* answered locally on PPv2 LOCAL connections */
	struct cidr_list trusted_forwarders; /* clients whose forwarding headers are kept */
	uint32_t fwd;			     /* bit (1u << enum l7_fwd_hdr) per header enabled */
	bool forwarded_by;		     /* Forwarded: add by=<local address> (extension) */
	struct l7_tls_conf *tls;	     /* tls = { ... } (tls_ctx.h); NULL: plaintext */
	struct l7_h2_conf http2;	     /* http2 = { ... } (h2.h); defaults when absent */
	/* max_conns_per_ip (connlimit.h, docs/traffic.md): 0 = no limit */
	uint32_t max_conns_per_ip;
	uint8_t cl_v4_prefix, cl_v6_prefix; /* conn_limit_ipv4/6_prefix */
	uint32_t cl_scope;		    /* hash of the name: the count's scope across reloads */
};

/* balance = hash: what is hashed (sticky.c). */
enum l7_hash_key {
	L7_HASH_CLIENT_IP, /* the client address (PPv2 source), without port */
	L7_HASH_HEADER,	   /* hash_name's value; client ip when absent */
	L7_HASH_COOKIE,	   /* cookie hash_name's value; client ip when absent */
	L7_HASH__COUNT
};

/* retry.on conditions (bit per condition). */
enum l7_retry_on {
	L7_RETRY_CONNECT_ERROR,
	L7_RETRY_TIMEOUT,
	L7_RETRY_502,
	L7_RETRY_503,
	L7_RETRY_504,
	L7_RETRY__COUNT
};

struct l7_server {
	struct l7_str name;  /* unique in its upstream; default: the address text */
	uint32_t index;	     /* position in upstream->servers */
	struct addr address; /* IP:port or unix:path */
	uint32_t weight;     /* 0..10000; 0 is never picked */
	bool backup;
};

struct l7_health {
	bool enabled;
	struct l7_str method;	       /* token, default "GET" */
	struct l7_str path;	       /* origin-form, default "/healthz" */
	struct l7_str host;	       /* Host to send; "" = the server's address */
	uint16_t expect_lo, expect_hi; /* inclusive status range, default 200-399 */
	uint32_t interval_ms, timeout_ms;
	uint32_t rise, fall;
};

struct l7_upstream {
	struct l7_str name;
	uint32_t index;		   /* position in snapshot->upstreams */
	enum balance_algo balance; /* BALANCE_MAGLEV for "hash" */
	enum l7_hash_key hash_key;
	struct l7_str hash_name;     /* header or cookie name for hash_key; else unset */
	struct l7_str sticky_cookie; /* len 0: off; else insert indirect nocache */
	struct l7_server *servers;   /* n_servers >= 1 */
	uint32_t n_servers;
	struct {
		uint32_t max_idle_per_server; /* 0: no pooling */
		uint32_t idle_timeout_ms;
		uint32_t max_requests; /* per connection; 0: unlimited */
	} pool;
	struct {
		uint32_t connect_ms, send_ms, read_ms;
	} timeouts;
	struct {
		uint32_t on;	      /* bit (1u << enum l7_retry_on) per condition */
		uint32_t tries;	      /* attempts in all, the first included (1..16) */
		uint32_t deadline_ms; /* no new attempt after this since the first */
	} retry;
	struct l7_health health;
	struct {
		uint32_t failures; /* consecutive failures that eject; 0: off */
		uint32_t cooldown_ms;
	} passive;
	/* breaker = { ... } (breaker.h): without the group the state machine
	 * is off (enabled false) and there are no request limits */
	bool has_breaker;
	struct l7_brk_params breaker;
	struct l7_rb_params retry_budget; /* retry.budget_*, retry.backoff* */
	bool has_retry_budget;		  /* budget_percent or budget_min given */
};

/* One host pattern, lowercased at build time. */
struct l7_host_pat {
	struct l7_str name; /* exact: "example.com"; wildcard: the suffix ".example.com" */
	bool wildcard;	    /* "*.example.com": one or more labels before the suffix */
};

/* header / cookie / query conditions: present, or equal to value. */
struct l7_kv_match {
	struct l7_str name; /* header names are matched case-insensitively */
	struct l7_str value;
	bool has_value; /* false: presence is enough */
};

/* l7_match.need: the conditions a route has (all must hold). */
#define L7_M_LISTENER 0x001
#define L7_M_HOST     0x002
#define L7_M_PATH     0x004
#define L7_M_PREFIX   0x008
#define L7_M_REGEX    0x010
#define L7_M_METHOD   0x020
#define L7_M_HEADER   0x040
#define L7_M_COOKIE   0x080
#define L7_M_QUERY    0x100
#define L7_M_SOURCE   0x200

struct l7_match {
	uint32_t need;	    /* L7_M_*; 0 matches every request */
	uint64_t listeners; /* bit per listener index (extension: match.listeners) */
	struct l7_host_pat *hosts;
	uint32_t n_hosts;
	struct l7_str path; /* exact path (no query) */
	struct l7_str path_prefix;
	struct l7_str path_regex;     /* source text, for logs */
	void *regex;		      /* pcre2_code_8 *, JIT-compiled when available */
	uint32_t methods;	      /* bit (1u << enum http1_method) for the known methods */
	struct l7_str *other_methods; /* method tokens outside enum http1_method */
	uint32_t n_other_methods;
	struct l7_kv_match header, cookie, query;
	struct cidr_list source; /* extension: match.source, client address in these */
};

enum l7_action {
	L7_ACT_UPSTREAM, /* proxy to route->upstream */
	L7_ACT_RESPOND,	 /* fixed response (respond.c) */
	L7_ACT_REDIRECT, /* redirect with $path/$host/$query/$uri expanded (respond.c) */
	L7_ACT_SPLIT,	 /* proxy to one of route->split_ups by weight (split.h) */
	L7_ACT__COUNT
};

struct l7_hdr_pair {
	struct l7_str name; /* a token, as written */
	struct l7_str value;
};

/* request_headers / response_headers. Applied in this order: the remove
 * names and the set names drop every received field of that name; then the
 * set pairs and the add pairs are appended. */
struct l7_hdr_rules {
	struct l7_hdr_pair *set;
	uint32_t n_set;
	struct l7_hdr_pair *add;
	uint32_t n_add;
	struct l7_str *remove;
	uint32_t n_remove;
	uint32_t fwd_override; /* request side: L7_FWD_* bits the set/remove names cover */
	uint64_t drop_lens;    /* bit (len & 63) per remove/set name: a quick "not named" */
};

/* A redirect location split at its variables. */
enum l7_tmpl_kind { L7_TMPL_TEXT, L7_TMPL_PATH, L7_TMPL_HOST, L7_TMPL_QUERY, L7_TMPL_URI };
struct l7_tmpl_seg {
	uint8_t kind;	    /* enum l7_tmpl_kind */
	struct l7_str text; /* L7_TMPL_TEXT only */
};

struct l7_route {
	struct l7_str name;
	uint32_t index; /* position in snapshot->routes */
	struct l7_match match;
	enum l7_action action;
	const struct l7_upstream *upstream; /* L7_ACT_UPSTREAM, else NULL */
	struct {
		uint16_t status; /* 200..599 */
		struct l7_str body;
		struct l7_str content_type; /* default "text/plain" */
	} respond;
	struct {
		uint16_t status;	/* 301, 302, 303, 307 or 308 */
		struct l7_str location; /* the template, as written */
		struct l7_tmpl_seg *segs;
		uint32_t n_segs;
	} redirect;
	struct l7_hdr_rules req_hdrs, resp_hdrs;
	uint64_t max_body; /* bytes; 0: no limit (nginx's client_max_body_size 0) */
	bool buffer_request;
	/* rate_limit: policies of snapshot->rate_limits, checked in order */
	const struct l7_rl_policy **rate_limits;
	uint32_t n_rate_limits;
	/* L7_ACT_SPLIT: the sides (names are the upstreams' names, owned by
	 * the snapshot) and the upstream of each side */
	struct l7_split_params *split;
	const struct l7_upstream **split_ups;
	/* one copy of this route per side, with action upstream and that
	 * side's upstream: the exchange proxies through the side's copy */
	struct l7_route *split_routes;
};

struct l7_limits {
	uint32_t max_conns;	   /* client connections per process */
	struct http1_limits http1; /* request_line, header_bytes, header_count */
};

struct l7_timeouts {
	uint32_t client_header_ms, client_body_ms, keepalive_ms, drain_ms;
};

struct l7_snapshot {
	struct snap hdr;	 /* first: snap_put(&s->hdr) */
	struct l7_str path;	 /* the file it was built from */
	struct l7_str node_name; /* default: gethostname() */
	uint32_t workers;	 /* 0: one per online CPU */
	int *cpu_affinity;	 /* NULL when not pinned */
	uint32_t n_cpu_affinity;
	struct l7_str user, group; /* unset: keep the starting identity */
	enum log_level log_level;
	struct {
		struct l7_str socket; /* path of the admin socket */
		struct l7_str group;  /* "": 0600, else 0660 for this group */
	} admin;
	struct addr metrics_listen; /* AF_UNSPEC: no /metrics endpoint */
	struct {
		bool enabled;
		struct l7_str path; /* a file, or "stderr" */
	} access_log;
	struct l7_limits limits;
	struct l7_timeouts timeouts;
	struct l7_listener *listeners; /* n_listeners >= 1 */
	uint32_t n_listeners;
	struct l7_upstream *upstreams;
	uint32_t n_upstreams;
	struct l7_route *routes; /* in config order: first match wins */
	uint32_t n_routes;
	struct l7_rl_policy *rate_limits; /* rate_limits = ( ... ), names unique */
	uint32_t n_rate_limits;
	uint32_t rate_limit_table; /* buckets of the process table (fixed at start) */
	void *regex_mctx;	   /* pcre2_match_context_8 * with match limits; shared read-only */
	void *arena;		   /* private: owns every string and array above */
};

/* Reads and validates `path`. On success *out holds a new snapshot with one
 * reference and 0 is returned; on failure *out is NULL, err holds the line
 * and -EINVAL (or -errno for an unreadable file) is returned. */
int l7_config_build(const char *path, struct l7_snapshot **out, struct cfg_err *err);

/* The same from text in memory; `name` stands for the file in errors and is
 * copied. @include directives are refused (nothing outside `text` is read),
 * which keeps the fuzz target off the disk. */
int l7_config_build_string(const char *name, const char *text, struct l7_snapshot **out,
			   struct cfg_err *err);

/* The destroy behind snap_put(): frees everything. Use snap_put(&s->hdr)
 * once the snapshot has been shared; NULL-safe. */
void l7_snapshot_free(struct l7_snapshot *s);

/* Adapters for cfg_check_main(path, l7_config_check_build, l7_config_check_destroy). */
int l7_config_check_build(const char *path, void **snapshot, struct cfg_err *err);
void l7_config_check_destroy(void *snapshot);

/* Lookups by name (linear; for the admin socket and tests, not per request).
 * NULL when absent. */
const struct l7_listener *l7_config_listener(const struct l7_snapshot *s, const char *name);
const struct l7_upstream *l7_config_upstream(const struct l7_snapshot *s, const char *name);
const struct l7_route *l7_config_route(const struct l7_snapshot *s, const char *name);
const struct l7_server *l7_config_server(const struct l7_upstream *u, const char *name, size_t len);

/* Names for logs and docs. */
const char *l7_pp_mode_name(enum l7_pp_mode m);
const char *l7_action_name(enum l7_action a);
const char *l7_fwd_hdr_name(enum l7_fwd_hdr h); /* "X-Forwarded-For", ... */

#endif
