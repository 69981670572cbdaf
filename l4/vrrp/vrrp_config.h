/* strata-vrrp configuration: the libconfig file (docs/vrrp.md is the
 * reference) parsed into one immutable snapshot.
 *
 * vrrp_config_load() builds a struct vrrp_cfg the caller owns and frees with
 * vrrp_config_free(); strings are copied out of libconfig, so the snapshot
 * outlives the parser. Every error reads "FILE:LINE: KEY: what is wrong"
 * (cfg.h); unknown keys are errors. Nothing here touches the network: an
 * interface that does not exist is found at start-up, not by `-t`.
 */
#ifndef STRATA_VRRP_CONFIG_H
#define STRATA_VRRP_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "cfg.h"
#include "log.h"

#include "vrrp_addr.h"
#include "vrrp_garp.h"
#include "vrrp_pkt.h"

#define VRRP_NAME_MAX		32
#define VRRP_PATH_MAX		256
#define VRRP_CMD_MAX		512
#define VRRP_MAX_INSTANCES	64
#define VRRP_MAX_TRACKERS	32
#define VRRP_MAX_TRACK_PER_INST 8
#define VRRP_MAX_PEERS		8
#define VRRP_MAX_GROUPS		16
#define VRRP_ADMIN_PATH_MAX	108	   /* sun_path */
#define VRRP_SHUTDOWN_WAIT_US	5000000ull /* shutdown_wait default */

enum vrrp_track_type {
	VRRP_TRACK_L4,	   /* strata-l4: pid file + pidfd, optional admin socket probe */
	VRRP_TRACK_IFACE,  /* an interface's link state (netlink events) */
	VRRP_TRACK_SCRIPT, /* a command's exit status, run every interval */
	VRRP_TRACK__COUNT
};

struct vrrp_track_cfg {
	char name[VRRP_NAME_MAX];
	enum vrrp_track_type type;
	/* 0: the instance goes to FAULT while this is down; < 0: priority
	 * lowered by -weight while down; > 0: raised by weight while up. */
	int weight;
	uint64_t interval_us; /* script runs / admin probes */
	uint64_t timeout_us;
	unsigned rise, fall; /* consecutive results needed to change verdict */
	char pid_file[VRRP_PATH_MAX];
	char admin_socket[VRRP_ADMIN_PATH_MAX];
	char process_name[16]; /* /proc/PID/comm must match when set */
	char ifname[IF_NAMESIZE];
	char command[VRRP_CMD_MAX];
};

struct vrrp_inst_cfg {
	char name[VRRP_NAME_MAX];
	char ifname[IF_NAMESIZE];
	uint8_t vrid;
	uint8_t priority;
	uint16_t adver_int; /* centiseconds */
	int family;
	unsigned nvip;
	struct vrrp_vip vip[VRRP_MAX_ADDRS];
	bool preempt;
	uint64_t preempt_delay_us;
	bool csum_v2; /* keepalived's v3_checksum_as_v2 */
	bool use_vmac;
	char vmac_name[IF_NAMESIZE];
	bool has_src;
	union vrrp_pkt_ip src; /* source of adverts; default: primary / link-local */
	unsigned npeer;
	union vrrp_pkt_ip peer[VRRP_MAX_PEERS]; /* unicast mode when npeer > 0 */
	unsigned ntrack;
	int track[VRRP_MAX_TRACK_PER_INST]; /* indexes into vrrp_cfg.track */
	char notify[VRRP_CMD_MAX];
	struct vrrp_garp_cfg garp;
	bool na_router;
	int group; /* index into vrrp_cfg.group, -1 when none */
};

struct vrrp_group_cfg {
	char name[VRRP_NAME_MAX];
	unsigned n;
	int member[VRRP_MAX_INSTANCES];
	char notify[VRRP_CMD_MAX];
};

struct vrrp_cfg {
	char path[VRRP_PATH_MAX];
	enum log_level log_level;
	char admin_socket[VRRP_ADMIN_PATH_MAX]; /* "" = no admin socket */
	char admin_group[VRRP_NAME_MAX];
	struct addr metrics; /* unset = no /metrics listener */
	char state_file[VRRP_PATH_MAX];
	char notify[VRRP_CMD_MAX];
	int rt_priority; /* SCHED_RR priority, 0 = stay SCHED_OTHER */
	bool lock_memory;
	uint64_t shutdown_wait_us; /* SIGTERM as master: wait for strata-l4; 0 = resign at once */
	unsigned ntrack;
	struct vrrp_track_cfg track[VRRP_MAX_TRACKERS];
	unsigned ninst;
	struct vrrp_inst_cfg inst[VRRP_MAX_INSTANCES];
	unsigned ngroup;
	struct vrrp_group_cfg group[VRRP_MAX_GROUPS];
};

/* Parses and validates `path`. Returns 0 with *out set (free with
 * vrrp_config_free), or -EINVAL/-errno with err set and *out NULL. */
int vrrp_config_load(const char *path, struct vrrp_cfg **out, struct cfg_err *err);
/* Same from a string (tests); `name` stands for the file name. */
int vrrp_config_load_string(const char *name, const char *text, struct vrrp_cfg **out,
			    struct cfg_err *err);
void vrrp_config_free(struct vrrp_cfg *cfg);

/* For cfg_check_main(): build/destroy with the void * signature. */
int vrrp_config_build(const char *path, void **snapshot, struct cfg_err *err);
void vrrp_config_destroy(void *snapshot);

const char *vrrp_track_type_name(enum vrrp_track_type t);

#endif
