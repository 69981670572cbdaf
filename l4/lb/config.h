/* strata-l4 configuration: the immutable snapshot a config file becomes.
 *
 * l4_config_parse() is pure: it reads and validates the file into a
 * struct l4_config and touches no run-time state, so `-t` and a reload that
 * fails change nothing. l4_config_attach() then binds the snapshot to the
 * daemon's run-time registry (state.h: per-instance health/admin state and
 * metric series, which outlive snapshots) and builds one balancer per
 * service. The snapshot embeds struct snap (snapshot.h): workers hold a
 * reference, each connection holds one for its whole life, and the last
 * snap_put() frees it with every balancer in it.
 *
 * Keys are documented in docs/l4.md; defaults live in config.c and
 * config_service.c next to the code that reads them.
 */
#ifndef STRATA_L4_CONFIG_H
#define STRATA_L4_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "balance.h"
#include "cfg.h"
#include "log.h"
#include "snapshot.h"

#define L4_NAME_MAX	 64   /* service names */
#define L4_NODE_MAX	 64   /* node_name: keeps the connection id <= 128 bytes */
#define L4_MAX_SERVICES	 256  /* services in one config */
#define L4_MAX_LISTEN	 16   /* listen addresses per service */
#define L4_MAX_INSTANCES 1024 /* instances per service (Maglev allows 10485) */
#define L4_WEIGHT_MAX	 256  /* HAProxy's range; 0 keeps an instance out of picks */
#define L4_MAX_RETRIES	 16   /* connect_retries */
#define L4_HTTP_PATH_MAX 256  /* health check path and host */

enum l4_data_path { L4_PATH_COPY, L4_PATH_SPLICE, L4_PATH__COUNT };

/* Operator state of an instance (stratactl `set instance`). */
enum l4_admin {
	L4_ADMIN_READY, /* takes new connections when healthy */
	L4_ADMIN_DRAIN, /* no new connections; existing ones finish; still checked */
	L4_ADMIN_MAINT, /* out of balancing and not checked; existing ones finish */
	L4_ADMIN__COUNT
};

enum l4_check { L4_CHECK_NONE, L4_CHECK_TCP, L4_CHECK_HTTP, L4_CHECK__COUNT };

struct l4_health {
	enum l4_check type;
	uint32_t interval_ms;
	uint32_t timeout_ms;
	uint16_t rise;	 /* consecutive successes to come up */
	uint16_t fall;	 /* consecutive failures to go down */
	uint16_t expect; /* HTTP status that counts as healthy */
	bool send_proxy; /* HTTP: a PPv2 LOCAL header first (the L7 tier requires one) */
	char path[L4_HTTP_PATH_MAX];
	char host[L4_HTTP_PATH_MAX];
};

struct l4_inst_rt;
struct l4_svc_rt;
struct l4_state;

struct l4_instance {
	struct addr addr;
	char name[ADDR_STR_MAX]; /* "127.0.0.1:8100": identity for Maglev, logs, stratactl */
	uint32_t weight;
	bool backup;
	enum l4_admin state; /* as configured */
	struct l4_health health;
	struct l4_inst_rt *rt; /* set by l4_config_attach() */
};

/* One listen address and, once the daemon opened them, one socket per worker. */
struct l4_listen {
	struct addr addr;
	int *fds; /* n_workers descriptors, owned by the workers; NULL until opened */
};

struct l4_service {
	char name[L4_NAME_MAX + 1];
	struct l4_listen *listen;
	size_t n_listen;
	enum balance_algo algo;
	bool hash_port; /* maglev key: client IP (false) or IP + port */
	enum l4_data_path data_path;
	bool sni;		 /* peek the ClientHello before connecting */
	uint32_t sni_timeout_ms; /* a client silent that long on a TLS service is closed */
	bool pp_authority;	 /* send the SNI as PPv2 AUTHORITY (default: when sni) */
	bool pp_crc32c;		 /* append a PPv2 CRC32C TLV */
	uint32_t connect_timeout_ms;
	unsigned connect_retries; /* further instances tried after a failed connect */
	uint32_t idle_timeout_ms; /* no byte either way that long: close */
	uint32_t max_conns;	  /* 0: only the global limit */
	uint32_t queue_limit;	  /* bytes queued towards one side before reading stops */
	struct l4_health health;  /* defaults for the instances */
	struct l4_instance *inst;
	size_t n_inst;
	struct balance *bal;  /* set by l4_config_attach() */
	struct l4_svc_rt *rt; /* set by l4_config_attach() */
};

/* io_uring knobs (start-up only; a reload keeps the running values). */
struct l4_ring_cfg {
	unsigned entries;     /* SQ entries per worker */
	unsigned buffers;     /* provided buffers per worker (power of two) */
	unsigned buffer_size; /* bytes per buffer */
	unsigned pipes;	      /* splice pipes per worker, at most */
	bool recv_multishot;  /* false forces single-shot recvs (measurements) */
	bool send_inline;     /* try sendmsg(MSG_DONTWAIT) first (measurements: slower) */
	bool defer_taskrun;   /* false forces COOP_TASKRUN (measurements) */
};

struct l4_config {
	struct snap hdr; /* first: the snapshot header */
	char *path;
	char node_name[L4_NODE_MAX + 1];
	enum log_level log_level;
	unsigned workers; /* 0 in the file: one per CPU, resolved by the daemon */
	int *cpus;	  /* pin worker i to cpus[i % ncpus]; NULL: no pinning */
	unsigned ncpus;
	char *user;  /* run as; NULL: stay who we are */
	char *group; /* primary group after dropping root; NULL: the user's */
	uint32_t max_conns;
	uint32_t drain_timeout_ms;
	uint32_t drain_linger_ms; /* drain: exit when nothing was open this long */
	/* drain: close a connection idle this long after answering (drain.h); 0: never */
	uint32_t drain_close_idle_ms;
	uint32_t listen_backlog;
	char *admin_socket;  /* NULL: no admin socket */
	char *admin_group;   /* NULL: socket 0600 */
	struct addr metrics; /* AF_UNSPEC: no metrics listener */
	char *access_log;    /* NULL: off; "-" or "stderr": stderr */
	struct l4_ring_cfg ring;
	struct l4_service *svc;
	size_t n_svc;
	unsigned n_workers; /* workers the balancers and listen sockets were made for */
};

/* Reads and validates `path`. Returns 0 and a snapshot holding one reference
 * (snap_put() or l4_config_free() it), or -EINVAL/-errno with the first
 * error in `err` and *out NULL. */
int l4_config_parse(const char *path, struct l4_config **out, struct cfg_err *err);

/* Binds `c` to the run-time registry (creating state for instances seen for
 * the first time) and builds each service's balancer for `n_workers`
 * workers. Returns 0 or -errno with `err` set; on failure the snapshot is
 * still safe to free. */
int l4_config_attach(struct l4_config *c, struct l4_state *st, unsigned n_workers,
		     struct cfg_err *err);

/* Frees a snapshot nobody references (the snap destroy callback calls it);
 * it does not close listen sockets. Safe on NULL. */
void l4_config_free(struct l4_config *c);

/* The -t builder for cfg_check_main(): parse, then build the balancers
 * against a scratch registry, so -t catches everything a start would. */
int l4_config_check(const char *path, void **snapshot, struct cfg_err *err);
void l4_config_check_free(void *snapshot);

/* Lookups by name; NULL or -1 when absent. */
const struct l4_service *l4_config_service(const struct l4_config *c, const char *name);
int l4_service_instance(const struct l4_service *s, const char *name);

const char *l4_admin_name(enum l4_admin a);
int l4_admin_parse(const char *name, enum l4_admin *out);
const char *l4_data_path_name(enum l4_data_path p);
const char *l4_check_name(enum l4_check c);

/* config_service.c: one element of `services`. */
int l4_config_parse_service(const config_setting_t *s, struct l4_service *out, struct cfg_err *err);
void l4_config_free_service(struct l4_service *s);

#endif
