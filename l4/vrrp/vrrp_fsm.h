/* The VRRP state machine of one virtual router (RFC 5798 §6.4), pure.
 *
 * No sockets and no clock: every event carries `now` (monotonic
 * microseconds) and the machine acts through two callbacks (send an
 * advertisement, report a state change), so the unit tests drive it with a
 * fake clock. The caller owns the struct; the FSM owns nothing.
 *
 * Intervals are in centiseconds as on the wire; deadlines in microseconds so
 * that Skew_Time keeps its fraction (keepalived computes it the same way).
 */
#ifndef STRATA_VRRP_FSM_H
#define STRATA_VRRP_FSM_H

#include <stdbool.h>
#include <stdint.h>

enum vrrp_state {
	VRRP_ST_INIT, /* RFC 5798 "Initialize" */
	VRRP_ST_BACKUP,
	VRRP_ST_MASTER,
	VRRP_ST_FAULT, /* not in the RFC: a tracker or the link failed (keepalived's FAULT) */
	VRRP_ST__COUNT
};

/* Why the state changed; logged and passed to the notify script. */
enum vrrp_cause {
	VRRP_CAUSE_STARTUP,
	VRRP_CAUSE_OWNER,	/* priority 255 goes straight to master */
	VRRP_CAUSE_MASTER_DOWN, /* Master_Down_Timer fired */
	VRRP_CAUSE_PREEMPTED,	/* higher priority (or higher address) advert */
	VRRP_CAUSE_SHUTDOWN,
	VRRP_CAUSE_FAULT,
	VRRP_CAUSE_FAULT_CLEARED,
	VRRP_CAUSE_SYNC, /* another member of the sync group moved */
	VRRP_CAUSE__COUNT
};

struct vrrp_fsm;

struct vrrp_fsm_ops {
	/* Send an advertisement now with this priority (0 when resigning). */
	void (*send_advert)(void *ctx, uint8_t priority);
	/* Called after every transition; entering MASTER the caller adds the
	 * VIPs and announces them, leaving it removes them. */
	void (*on_state)(void *ctx, enum vrrp_state from, enum vrrp_state to,
			 enum vrrp_cause cause);
};

struct vrrp_fsm {
	enum vrrp_state state;
	/* RFC 5798 §6.1 parameters */
	uint8_t priority;	   /* effective priority, 1..255 */
	uint16_t adver_int;	   /* Advertisement_Interval, cs */
	uint16_t master_adver_int; /* Master_Adver_Interval, cs (learnt in Backup) */
	bool preempt;		   /* Preempt_Mode */
	uint64_t preempt_delay_us; /* keepalived's preempt_delay; 0 = none */
	/* timers: absolute deadlines in µs, 0 = not running */
	uint64_t adver_timer;
	uint64_t down_timer;
	uint64_t preempt_at; /* preempt not before this; 0 = not started */
	const struct vrrp_fsm_ops *ops;
	void *ctx;
};

/* Sets the parameters and the INIT state; `priority` 1..255, `adver_int`
 * 1..4095 cs. Nothing is sent until vrrp_fsm_startup(). */
void vrrp_fsm_init(struct vrrp_fsm *fsm, uint8_t priority, uint16_t adver_int, bool preempt,
		   uint64_t preempt_delay_us, const struct vrrp_fsm_ops *ops, void *ctx);

/* RFC 5798 §6.4.1 Startup event (also used to leave FAULT). */
void vrrp_fsm_startup(struct vrrp_fsm *fsm, uint64_t now);

/* §6.4.2/§6.4.3 Shutdown event: a master sends priority 0 first. */
void vrrp_fsm_shutdown(struct vrrp_fsm *fsm, uint64_t now);

/* Runs whatever timer has expired at `now`. */
void vrrp_fsm_timer(struct vrrp_fsm *fsm, uint64_t now);

/* Earliest running deadline, or 0 when none runs. */
uint64_t vrrp_fsm_next_deadline(const struct vrrp_fsm *fsm);

/* A valid advertisement for this VRID arrived (the caller has run every §7.1
 * check). `sender_cmp` compares the sender's primary address with ours:
 * > 0 when the sender's is greater (§6.4.3 tie-break). */
void vrrp_fsm_advert(struct vrrp_fsm *fsm, uint64_t now, uint8_t priority, uint16_t max_adver_int,
		     int sender_cmp);

/* Enter (true) or leave (false) FAULT; a master resigns with priority 0 so
 * the backup takes over after Skew_Time instead of Master_Down_Interval. */
void vrrp_fsm_set_fault(struct vrrp_fsm *fsm, uint64_t now, bool fault);

/* Changes the effective priority (trackers with a weight). A master
 * advertises the new value at once. */
void vrrp_fsm_set_priority(struct vrrp_fsm *fsm, uint64_t now, uint8_t priority);

/* Sync groups: move a BACKUP member to MASTER or a MASTER member to BACKUP
 * because another member of its group moved. Other states are left alone. */
void vrrp_fsm_sync(struct vrrp_fsm *fsm, uint64_t now, enum vrrp_state to);

/* RFC 5798 §6.1 derived values, in µs, for the current priority. */
uint64_t vrrp_fsm_skew_us(const struct vrrp_fsm *fsm);
uint64_t vrrp_fsm_master_down_us(const struct vrrp_fsm *fsm);

const char *vrrp_state_name(enum vrrp_state st); /* "MASTER" */
const char *vrrp_cause_name(enum vrrp_cause cause);

#endif
