/* The event loop: one io_uring per worker thread, slots with generations,
 * a provided-buffer ring, a timer wheel and cross-thread posting.
 *
 * Model (docs/event-loop.md has the long version):
 * - An object that issues io_uring requests (a connection, a listener) opens
 *   a *slot*: loop_slot_open(loop, ops, obj) -> id. Every request is queued
 *   with a loop_prep_*() helper taking (loop, id, op); `op` is the owner's own
 *   operation number (0..LOOP_OP_MAX). The completion comes back as
 *   ops->on_cqe(loop, obj, op, cqe). user_data packs (generation, slot, op),
 *   never a pointer.
 * - The loop counts each slot's requests in flight. A completion without
 *   IORING_CQE_F_MORE ends its request. loop_slot_close() marks the slot
 *   closing: the owner keeps receiving the completions of what is still in
 *   flight (to put buffers back), and once the count is zero ops->on_free()
 *   runs (from the loop, never re-entrantly) and the slot is reused with
 *   generation + 1. A completion whose generation does not match is stale:
 *   it is dropped, its buffer goes back to the ring, stats.stale counts it.
 * - Handlers only queue requests; the loop submits once per turn, with the
 *   wait (io_uring_submit_and_wait_timeout) bounded by the next timer.
 * - Single thread: everything here except loop_post() and loop_stop() must
 *   be called on the loop's thread, which must also be the thread that
 *   called loop_create() (IORING_SETUP_SINGLE_ISSUER).
 */
#ifndef STRATA_LOOP_H
#define STRATA_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <liburing.h>

#include "bufring.h"
#include "timer.h"

struct loop;

#define LOOP_OP_MAX	0xEFu	  /* owner op numbers are 0..LOOP_OP_MAX */
#define LOOP_SLOTS_MAX	0xFFFFF0u /* slot ids are 24 bits */
#define LOOP_DRAIN_MS	5000u	  /* loop_stop() gives up reaping after this */
#define LOOP_POOL_RECVS 2u	  /* pool-mode recvs in flight per slot */

struct loop_ops {
	/* A completion for `op`. `cqe` is valid only during the call. When it
	 * carries IORING_CQE_F_BUFFER (see loop_cqe_bid()) the owner now owns
	 * that buffer, whatever cqe->res says, and must bufring_put() it. */
	void (*on_cqe)(struct loop *loop, void *obj, unsigned op, const struct io_uring_cqe *cqe);
	/* The slot is closed and nothing is in flight: release `obj`. */
	void (*on_free)(struct loop *loop, void *obj);
};

/* Zero means "default" for every number; the booleans force fallbacks. */
struct loop_params {
	unsigned entries;	  /* SQ entries (default 1024); the CQ gets 4x */
	unsigned slots;		  /* slot table capacity (default 4096) */
	unsigned buf_count;	  /* provided buffers, power of two (default 1024) */
	unsigned buf_size;	  /* bytes per buffer (default 16384) */
	bool no_defer_taskrun;	  /* COOP_TASKRUN|TASKRUN_FLAG instead */
	bool no_recv_multishot;	  /* single-shot recv on the buffer ring */
	bool no_accept_multishot; /* single-shot accept */
	bool no_buf_ring;	  /* plain recv into pool buffers */
};

enum loop_feature {
	LOOP_F_SINGLE_ISSUER = 1u << 0,
	LOOP_F_DEFER_TASKRUN = 1u << 1,
	LOOP_F_COOP_TASKRUN = 1u << 2,
	LOOP_F_EXT_ARG = 1u << 3,
	LOOP_F_BUF_RING = 1u << 4,
	LOOP_F_RECV_MULTISHOT = 1u << 5,
	LOOP_F_ACCEPT_MULTISHOT = 1u << 6,
	LOOP_F_CANCEL_ANY = 1u << 7, /* IORING_ASYNC_CANCEL_ANY/ALL/FD */
	LOOP_F__COUNT = 8
};

struct loop_stats {
	uint64_t turns;
	uint64_t cqes;
	uint64_t stale;	  /* completions for a slot generation that is gone */
	uint64_t enobufs; /* recvs that ended because the buffer ring was empty */
	uint64_t parked;  /* recvs held back until buffers came back */
	uint64_t sq_full; /* early submits because the SQ was full */
	uint64_t posted;  /* functions run from loop_post() */
};

/* Fills `p` with the defaults. */
void loop_params_default(struct loop_params *p);

/* Creates a loop on the calling thread (which must run it). `p` may be NULL.
 * Returns NULL with errno set on failure. Logs the features used once per
 * process (again if a later loop uses a different set). */
struct loop *loop_create(const struct loop_params *p);

/* On the loop's thread: cancels and reaps whatever is still in flight (as
 * loop_stop() does), runs functions still posted, calls on_free for every
 * slot still open, then frees everything. Timers still armed are simply
 * forgotten. No other thread may post to the loop any more. NULL is a no-op. */
void loop_destroy(struct loop *loop);

/* Runs turns until loop_stop(); then cancels everything in flight and reaps
 * until nothing is (at most LOOP_DRAIN_MS). Returns 0, -ETIMEDOUT when
 * requests were still in flight at the drain deadline, or the ring's -errno
 * when io_uring itself failed (returned at once, without the drain wait). A
 * stopped loop can only be destroyed. */
int loop_run(struct loop *loop);

/* One turn: submit, wait up to `timeout_ms` (-1: until the next timer or a
 * completion, 0: do not block) for completions, dispatch them, run due
 * timers and posted functions. Returns the number of completions handled,
 * or -errno from the ring. */
int loop_run_once(struct loop *loop, int timeout_ms);

/* Asks loop_run() to return. Thread-safe; from the loop thread it takes
 * effect at the end of the current turn. The loop's thread may destroy the
 * loop as soon as loop_run() returns: loop_destroy() waits for a loop_stop()
 * or loop_post() still running on another thread. */
void loop_stop(struct loop *loop);

typedef void (*loop_post_fn)(struct loop *loop, void *arg);

/* Sets the function run at the end of every turn, on the loop's thread:
 * after the turn's completions, due timers and posted functions, before
 * the next submit, so work the turn's handlers queued (a send per
 * connection for every response piece the turn produced) leaves with that
 * submit. A timer cannot do this: one armed for "now" fires at the next
 * millisecond at the earliest. Like timers, it does not run while the
 * loop drains. One hook per loop; fn NULL removes it. */
void loop_set_turn_hook(struct loop *loop, loop_post_fn fn, void *arg);

/* Queues fn(loop, arg) to run on the loop's thread during a coming turn, in
 * posting order. Thread-safe. Returns 0, or -ENOMEM. */
int loop_post(struct loop *loop, loop_post_fn fn, void *arg);

/* Milliseconds (CLOCK_MONOTONIC) read once per turn: cheap for timestamps. */
uint64_t loop_now_ms(const struct loop *loop);
/* The same reading in nanoseconds: when this turn's completions arrived, as
 * precise as a latency measured by the loop can be (HAProxy and nginx stamp
 * requests with their loop's cached time the same way). */
uint64_t loop_now_ns(const struct loop *loop);

unsigned loop_features(const struct loop *loop);
/* "single_issuer defer_taskrun ..." into buf; returns buf. */
const char *loop_features_str(unsigned features, char *buf, size_t len);
const struct loop_stats *loop_stats(const struct loop *loop);
struct bufring *loop_bufring(struct loop *loop);
struct timer_wheel *loop_timers(struct loop *loop);
/* Requests queued or in flight, loop-wide (internal ones included). */
unsigned loop_inflight(const struct loop *loop);

/* Arms `t` to fire `delay_ms` after this turn's clock. */
void loop_timer_arm(struct loop *loop, struct timer *t, uint64_t delay_ms);
void loop_timer_cancel(struct loop *loop, struct timer *t);

/* --- slots ----------------------------------------------------------------- */

/* Opens a slot for `obj` with `ops` (kept, not copied). Returns the slot id
 * (>= 0) or -ENOSPC when the table is full. */
int loop_slot_open(struct loop *loop, const struct loop_ops *ops, void *obj);

/* Marks the slot closing. Completions of requests still in flight keep
 * coming to on_cqe (the owner should cancel them: loop_prep_cancel_slot());
 * on_free runs once nothing is in flight. The owner may still queue requests
 * on a closing slot (a close, a shutdown); the id must not be used after
 * on_free. Closing twice is a programming error (asserted). */
void loop_slot_close(struct loop *loop, int id);

/* Frees the slot now, whatever is in flight: late completions become stale
 * (dropped, buffers returned, descriptors of accepts queued as ops 0..63
 * closed) and on_free is NOT called. Nothing is cancelled: a multishot
 * request stays armed until its fd goes or it is cancelled by fd
 * (loop_prep_cancel_slot() before abandoning does it). Only for owners whose
 * in-flight requests reference no memory of theirs (a multishot recv on the
 * buffer ring, an accept without address) -- and for tests. */
void loop_slot_abandon(struct loop *loop, int id);

/* Requests in flight for the slot (parked recvs included). */
unsigned loop_slot_inflight(const struct loop *loop, int id);

/* True when a recv of the slot waits in the loop for buffers (parked: not
 * in the kernel yet, so nothing done to the socket completes it; only a
 * cancel does). */
bool loop_slot_parked(const struct loop *loop, int id);

/* --- requests -----------------------------------------------------------------
 * Each helper queues one request for slot `id` (open or closing) and counts
 * it in flight; the loop submits it with the turn's wait. An op number names
 * one kind of request of the slot (the loop matches a pool-mode recv's
 * buffer and a timed connect by op): use distinct ops for distinct fds and
 * request kinds (OP_RECV_CLIENT, OP_RECV_BACKEND, ...). When the SQ is full
 * the loop submits early and retries. They return 0, or -ECANCELED while
 * the loop is draining after loop_stop() (close, shutdown and cancel are
 * still accepted then), or -EBUSY when the ring refuses even after an early
 * submit (treat it as fatal for that connection). Memory passed in (send
 * data, msghdr, address) must stay valid until the completion.
 */

/* Accepts on `listen_fd` (SOCK_NONBLOCK|SOCK_CLOEXEC, no fixed files).
 * Multishot: one completion per connection (res = new fd) with F_MORE; a
 * completion without F_MORE means accepting stopped (error in res) and the
 * owner re-arms if it wants more. Single-shot fallback: every completion
 * lacks F_MORE. Take the peer address with getpeername(). */
int loop_prep_accept(struct loop *loop, int id, unsigned op, int listen_fd);

/* Receives on `fd` into buffers of the loop's bufring. Each completion with
 * res > 0 carries a buffer (loop_cqe_bid()) holding res bytes. res == 0 is
 * EOF. Whenever F_MORE is absent the recv is no longer armed: on res > 0 or
 * -ENOBUFS (ring ran dry) call loop_prep_recv() again -- if no buffer is
 * available then, the recv is parked inside the loop and submitted as soon
 * as buffers are put back. Multishot when available, else single-shot; in
 * pool mode a plain recv into a pool buffer, with the same completions. */
int loop_prep_recv(struct loop *loop, int id, unsigned op, int fd);

/* Plain recv into the owner's buffer (MSG_PEEK for a ClientHello, TLS
 * records): one completion, res = bytes, no buffer id. */
int loop_prep_recv_into(struct loop *loop, int id, unsigned op, int fd, void *buf, size_t len,
			int flags);

/* send(2) with MSG_NOSIGNAL added. res may be short: send the rest. */
int loop_prep_send(struct loop *loop, int id, unsigned op, int fd, const void *buf, size_t len,
		   int flags);

/* sendmsg(2) with MSG_NOSIGNAL added; res may be short. */
int loop_prep_sendmsg(struct loop *loop, int id, unsigned op, int fd, const struct msghdr *msg,
		      int flags);

/* connect(2) on a non-blocking socket. With timeout_ms > 0 a linked timeout
 * bounds it: on expiry the owner sees -ETIMEDOUT. The timeout's own
 * completion never reaches the owner: the connect's is held back until both
 * have arrived, so nothing of the pair is in flight when on_cqe runs. A
 * timed connect the owner cancelled itself reports -ECANCELED. One timed
 * connect per slot at a time. `sa` must stay valid until the completion. */
int loop_prep_connect(struct loop *loop, int id, unsigned op, int fd, const struct sockaddr *sa,
		      socklen_t salen, unsigned timeout_ms);

/* Poll on `fd` for `mask` (POLLIN, ...): res = the events that are ready.
 * One-shot: one completion, checked against the file's state when armed
 * (readiness that is already there completes at once). Multishot: a
 * completion each time the file is woken up with an event of `mask`
 * (edge-triggered: what was ready before it was armed or consumed by no
 * one completes nothing), F_MORE while it stays armed; it ends (no F_MORE)
 * when cancelled (-ECANCELED) or dropped by the kernel. Readiness without
 * taking bytes, for an owner that reads with a system call of its own. */
int loop_prep_poll(struct loop *loop, int id, unsigned op, int fd, unsigned mask, bool multishot);

/* splice(2) between a socket and a pipe, no offsets. Runs on io_uring's
 * worker threads: it completes late, count it (the loop does). */
int loop_prep_splice(struct loop *loop, int id, unsigned op, int fd_in, int fd_out, unsigned len,
		     unsigned splice_flags);

/* shutdown(2); also completes late on io_uring's worker threads. */
int loop_prep_shutdown(struct loop *loop, int id, unsigned op, int fd, int how);

/* close(2) through the ring. */
int loop_prep_close(struct loop *loop, int id, unsigned op, int fd);

/* A no-op that completes (res 0) in the next turn: "call me back soon"
 * without recursion, a post, or a timer's millisecond. */
int loop_prep_nop(struct loop *loop, int id, unsigned op);

/* Cancels every request of slot `id` queued as `op`. Each cancelled request
 * completes with -ECANCELED (a multishot one without F_MORE); the cancel's
 * own completion is swallowed by the loop. */
int loop_prep_cancel(struct loop *loop, int id, unsigned op);

/* Cancels every request on `fd` (all slots). For a splice, the request's fd
 * is fd_out. Parked recvs of the slot on `fd` complete with -ECANCELED. */
int loop_prep_cancel_fd(struct loop *loop, int id, int fd);

/* Cancels every request of slot `id` whose op is 0..63 (one cancel per op
 * the slot has used since it was opened) and its parked recvs: the usual
 * first step of closing a connection. */
int loop_prep_cancel_slot(struct loop *loop, int id);

/* --- completions -------------------------------------------------------------- */

/* The provided buffer a completion hands over, or -1. */
static inline int loop_cqe_bid(const struct io_uring_cqe *cqe)
{
	return (cqe->flags & IORING_CQE_F_BUFFER) ? (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT)
						  : -1;
}

/* True when the request stays armed (multishot) after this completion. */
static inline bool loop_cqe_more(const struct io_uring_cqe *cqe)
{
	return (cqe->flags & IORING_CQE_F_MORE) != 0;
}

#endif
