/* The VRRP state machine of one virtual router, RFC 5798 §6.4; see vrrp_fsm.h.
 *
 *  from    event                                  action                     to
 *  ------  -------------------------------------  -------------------------  ------
 *  INIT    Startup, Priority = 255                advert, Adver_Timer = AI   MASTER
 *  INIT    Startup, Priority < 255                MAI = AI, Down = MDI       BACKUP
 *  BACKUP  Master_Down_Timer fires                advert, Adver_Timer = AI   MASTER
 *  BACKUP  advert, priority 0                     Down = Skew_Time           BACKUP
 *  BACKUP  advert, !Preempt or prio >= ours       MAI = advert's, Down = MDI BACKUP
 *          (or preempt_delay still running)
 *  BACKUP  advert, Preempt and prio < ours        discard                    BACKUP
 *  BACKUP  Shutdown                               stop Down                  INIT
 *  MASTER  Adver_Timer fires                      advert, Adver_Timer = AI   MASTER
 *  MASTER  advert, priority 0                     advert, Adver_Timer = AI   MASTER
 *  MASTER  advert, prio > ours, or = ours and     stop Adver, MAI = advert's BACKUP
 *          sender address > ours                  Down = MDI
 *  MASTER  advert, lower                          advert at once (*)         MASTER
 *  MASTER  Shutdown                               advert priority 0          INIT
 *  any     fault                                  MASTER: advert priority 0  FAULT
 *  FAULT   fault cleared                          as Startup                 BACKUP/MASTER
 *  BACKUP  sync group member became MASTER        as Master_Down_Timer       MASTER
 *  MASTER  sync group member became BACKUP        as preempted               BACKUP
 *
 *  AI = Advertisement_Interval, MAI = Master_Adver_Interval,
 *  MDI = Master_Down_Interval = 3 * MAI + Skew_Time,
 *  Skew_Time = ((256 - Priority) * MAI) / 256                     (§6.1)
 *  (*) The RFC discards it; answering at once (as keepalived does) makes the
 *  lower master step down within one packet after a split brain heals. At
 *  most one such answer per tenth of the interval, so a flood of adverts
 *  (ours are link-local multicast) is not amplified.
 */
#include "vrrp_fsm.h"

#include <assert.h>
#include <stddef.h>

#define CS_US 10000ull /* microseconds per centisecond */

static const char *const state_names[VRRP_ST__COUNT] = {
    [VRRP_ST_INIT] = "INIT",
    [VRRP_ST_BACKUP] = "BACKUP",
    [VRRP_ST_MASTER] = "MASTER",
    [VRRP_ST_FAULT] = "FAULT",
};

static const char *const cause_names[VRRP_CAUSE__COUNT] = {
    [VRRP_CAUSE_STARTUP] = "startup",
    [VRRP_CAUSE_OWNER] = "address owner",
    [VRRP_CAUSE_MASTER_DOWN] = "master down",
    [VRRP_CAUSE_PREEMPTED] = "preempted by a higher priority",
    [VRRP_CAUSE_SHUTDOWN] = "shutdown",
    [VRRP_CAUSE_FAULT] = "fault",
    [VRRP_CAUSE_FAULT_CLEARED] = "fault cleared",
    [VRRP_CAUSE_SYNC] = "sync group",
};

/* allowed[from] is a bit set of the states `from` may move to. */
static const unsigned allowed[VRRP_ST__COUNT] = {
    [VRRP_ST_INIT] = 1u << VRRP_ST_BACKUP | 1u << VRRP_ST_MASTER | 1u << VRRP_ST_FAULT,
    [VRRP_ST_BACKUP] = 1u << VRRP_ST_MASTER | 1u << VRRP_ST_INIT | 1u << VRRP_ST_FAULT,
    [VRRP_ST_MASTER] = 1u << VRRP_ST_BACKUP | 1u << VRRP_ST_INIT | 1u << VRRP_ST_FAULT,
    [VRRP_ST_FAULT] = 1u << VRRP_ST_BACKUP | 1u << VRRP_ST_MASTER | 1u << VRRP_ST_INIT,
};

const char *vrrp_state_name(enum vrrp_state st)
{
	return (unsigned)st < VRRP_ST__COUNT ? state_names[st] : "?";
}

const char *vrrp_cause_name(enum vrrp_cause cause)
{
	return (unsigned)cause < VRRP_CAUSE__COUNT ? cause_names[cause] : "?";
}

/* The only place the state changes. */
static void set_state(struct vrrp_fsm *fsm, enum vrrp_state to, enum vrrp_cause cause)
{
	enum vrrp_state from = fsm->state;

	assert(allowed[from] & (1u << to));
	fsm->state = to;
	if (to != VRRP_ST_MASTER)
		fsm->adver_timer = 0;
	if (to != VRRP_ST_BACKUP)
		fsm->down_timer = 0;
	if (fsm->ops && fsm->ops->on_state)
		fsm->ops->on_state(fsm->ctx, from, to, cause);
}

static void send_advert(struct vrrp_fsm *fsm, uint8_t priority)
{
	if (fsm->ops && fsm->ops->send_advert)
		fsm->ops->send_advert(fsm->ctx, priority);
}

uint64_t vrrp_fsm_skew_us(const struct vrrp_fsm *fsm)
{
	return ((256u - fsm->priority) * (uint64_t)fsm->master_adver_int * CS_US) / 256u;
}

uint64_t vrrp_fsm_master_down_us(const struct vrrp_fsm *fsm)
{
	return 3u * (uint64_t)fsm->master_adver_int * CS_US + vrrp_fsm_skew_us(fsm);
}

void vrrp_fsm_init(struct vrrp_fsm *fsm, uint8_t priority, uint16_t adver_int, bool preempt,
		   uint64_t preempt_delay_us, const struct vrrp_fsm_ops *ops, void *ctx)
{
	*fsm = (struct vrrp_fsm){
	    .state = VRRP_ST_INIT,
	    .priority = priority ? priority : 1,
	    .adver_int = adver_int ? adver_int : 1,
	    .master_adver_int = adver_int ? adver_int : 1,
	    .preempt = preempt,
	    .preempt_delay_us = preempt_delay_us,
	    .ops = ops,
	    .ctx = ctx,
	};
}

static void become_master(struct vrrp_fsm *fsm, uint64_t now, enum vrrp_cause cause)
{
	send_advert(fsm, fsm->priority);
	fsm->adver_timer = now + fsm->adver_int * CS_US;
	fsm->preempt_at = 0;
	set_state(fsm, VRRP_ST_MASTER, cause);
}

static void become_backup(struct vrrp_fsm *fsm, uint64_t now, uint16_t mai, enum vrrp_cause cause)
{
	fsm->master_adver_int = mai;
	set_state(fsm, VRRP_ST_BACKUP, cause);
	fsm->down_timer = now + vrrp_fsm_master_down_us(fsm);
}

/* §6.4.1, shared by Startup and by leaving FAULT. */
static void initialize(struct vrrp_fsm *fsm, uint64_t now, enum vrrp_cause cause)
{
	if (fsm->priority == 255) {
		become_master(fsm, now, VRRP_CAUSE_OWNER);
		return;
	}
	/* keepalived's preempt_delay also counts from start-up. */
	fsm->preempt_at = fsm->preempt_delay_us ? now + fsm->preempt_delay_us : 0;
	become_backup(fsm, now, fsm->adver_int, cause);
}

void vrrp_fsm_startup(struct vrrp_fsm *fsm, uint64_t now)
{
	if (fsm->state == VRRP_ST_INIT)
		initialize(fsm, now, VRRP_CAUSE_STARTUP);
}

void vrrp_fsm_shutdown(struct vrrp_fsm *fsm, uint64_t now)
{
	switch (fsm->state) {
	case VRRP_ST_MASTER:
		/* §6.4.3: Priority 0 tells the backup to take over after Skew_Time. */
		send_advert(fsm, 0);
		set_state(fsm, VRRP_ST_INIT, VRRP_CAUSE_SHUTDOWN);
		break;
	case VRRP_ST_BACKUP:
	case VRRP_ST_FAULT:
		set_state(fsm, VRRP_ST_INIT, VRRP_CAUSE_SHUTDOWN);
		break;
	default:
		break;
	}
}

void vrrp_fsm_timer(struct vrrp_fsm *fsm, uint64_t now)
{
	uint64_t ai = fsm->adver_int * CS_US;

	if (fsm->state == VRRP_ST_BACKUP && fsm->down_timer && now >= fsm->down_timer) {
		become_master(fsm, now, VRRP_CAUSE_MASTER_DOWN);
	} else if (fsm->state == VRRP_ST_MASTER && fsm->adver_timer && now >= fsm->adver_timer) {
		send_advert(fsm, fsm->priority);
		/* Keep the cadence when woken a little late; restart if far behind. */
		fsm->adver_timer += ai;
		if (fsm->adver_timer <= now)
			fsm->adver_timer = now + ai;
	}
}

uint64_t vrrp_fsm_next_deadline(const struct vrrp_fsm *fsm)
{
	if (fsm->state == VRRP_ST_MASTER)
		return fsm->adver_timer;
	if (fsm->state == VRRP_ST_BACKUP)
		return fsm->down_timer;
	return 0;
}

/* §6.4.2 with keepalived's preempt_delay: a lower-priority master is
 * tolerated until the delay, started when it is first seen, runs out. */
static bool backup_accepts(struct vrrp_fsm *fsm, uint64_t now, uint8_t priority)
{
	if (!fsm->preempt || priority >= fsm->priority) {
		if (priority >= fsm->priority)
			fsm->preempt_at = 0;
		return true;
	}
	if (!fsm->preempt_delay_us)
		return false;
	if (!fsm->preempt_at)
		fsm->preempt_at = now + fsm->preempt_delay_us;
	return now < fsm->preempt_at;
}

static void backup_rx(struct vrrp_fsm *fsm, uint64_t now, uint8_t priority, uint16_t mai)
{
	if (priority == 0) {
		/* §6.4.2: the master resigned; wait only Skew_Time. */
		fsm->down_timer = now + vrrp_fsm_skew_us(fsm);
		return;
	}
	if (!backup_accepts(fsm, now, priority))
		return; /* discard: the down timer runs out and we preempt */
	fsm->master_adver_int = mai;
	fsm->down_timer = now + vrrp_fsm_master_down_us(fsm);
}

/* An advert now instead of at the timer, unless one left less than a tenth
 * of the interval ago: a flood of adverts must not become a flood of ours. */
static void answer_now(struct vrrp_fsm *fsm, uint64_t now)
{
	uint64_t ai = fsm->adver_int * CS_US;

	if (fsm->adver_timer > now + ai - ai / 10)
		return;
	send_advert(fsm, fsm->priority);
	fsm->adver_timer = now + ai;
}

static void master_rx(struct vrrp_fsm *fsm, uint64_t now, uint8_t priority, uint16_t mai,
		      int sender_cmp)
{
	if (priority == 0) {
		/* §6.4.3: answer a resigning peer at once so backups stay put. */
		answer_now(fsm, now);
		return;
	}
	if (priority > fsm->priority || (priority == fsm->priority && sender_cmp > 0)) {
		become_backup(fsm, now, mai, VRRP_CAUSE_PREEMPTED);
		return;
	}
	answer_now(fsm, now);
}

void vrrp_fsm_advert(struct vrrp_fsm *fsm, uint64_t now, uint8_t priority, uint16_t max_adver_int,
		     int sender_cmp)
{
	if (max_adver_int == 0)
		return; /* RFC 9568 §7.1; the codec refuses it already */
	if (fsm->state == VRRP_ST_BACKUP)
		backup_rx(fsm, now, priority, max_adver_int);
	else if (fsm->state == VRRP_ST_MASTER)
		master_rx(fsm, now, priority, max_adver_int, sender_cmp);
}

void vrrp_fsm_set_fault(struct vrrp_fsm *fsm, uint64_t now, bool fault)
{
	if (fault) {
		if (fsm->state == VRRP_ST_FAULT)
			return;
		if (fsm->state == VRRP_ST_MASTER)
			send_advert(fsm, 0);
		set_state(fsm, VRRP_ST_FAULT, VRRP_CAUSE_FAULT);
		return;
	}
	if (fsm->state == VRRP_ST_FAULT)
		initialize(fsm, now, VRRP_CAUSE_FAULT_CLEARED);
}

void vrrp_fsm_set_priority(struct vrrp_fsm *fsm, uint64_t now, uint8_t priority)
{
	if (priority == 0 || priority == fsm->priority)
		return;
	fsm->priority = priority;
	if (fsm->state == VRRP_ST_MASTER) {
		send_advert(fsm, priority);
		fsm->adver_timer = now + fsm->adver_int * CS_US;
	}
}

void vrrp_fsm_sync(struct vrrp_fsm *fsm, uint64_t now, enum vrrp_state to)
{
	if (to == VRRP_ST_MASTER && fsm->state == VRRP_ST_BACKUP)
		become_master(fsm, now, VRRP_CAUSE_SYNC);
	else if (to == VRRP_ST_BACKUP && fsm->state == VRRP_ST_MASTER)
		become_backup(fsm, now, fsm->adver_int, VRRP_CAUSE_SYNC);
}
