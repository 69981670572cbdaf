/* strata-l4's SIGTERM drain: listeners stop answering SYNs (a socket
 * filter, not a close), connections run to completion, and the process
 * exits once nothing is open and the VIP has left (or drain_linger passed),
 * or at drain_timeout (docs/vrrp.md "Planned maintenance").
 */
#ifndef STRATA_L4_DRAIN_H
#define STRATA_L4_DRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "loop.h"

struct l4_proc;
struct l4_worker;

#define L4_DRAIN_POLL_MS   20 /* main thread: active count and VIP re-checked this often */
#define L4_DRAIN_MAX_ADDRS 64 /* non-wildcard listen addresses watched for leaving */

enum l4_drain_verdict {
	L4_DRAIN_WAIT,	  /* keep serving */
	L4_DRAIN_GONE,	  /* nothing open and every listen address left: exit */
	L4_DRAIN_LINGER,  /* nothing open for drain_linger: exit */
	L4_DRAIN_TIMEOUT, /* drain_timeout: close what is left, exit */
	L4_DRAIN__COUNT
};

/* What the drain loop decides from; times in ms on one monotonic clock. */
struct l4_drain_view {
	uint64_t now, start;
	uint64_t last_busy; /* last instant a connection was open (start if none) */
	uint32_t active;
	bool addrs_gone; /* every listen address is a specific one and none is local */
	uint32_t linger_ms, timeout_ms;
};

/* Pure: the verdict for `v` (timeout first, then GONE, then LINGER). */
enum l4_drain_verdict l4_drain_decide(const struct l4_drain_view *v);
const char *l4_drain_verdict_name(enum l4_drain_verdict v);

/* Attaches to listening socket `fd` a classic BPF filter that drops pure
 * SYNs (SYN without ACK) and passes every other segment, so new clients
 * repeat their SYN after their RTO instead of reading a RST, while
 * handshakes already answered complete and are accepted. 0 or -errno. */
int l4_drain_filter_syns(int fd);

/* True when `a` (a specific address) is configured on this host now: a
 * datagram socket can bind it without IP_FREEBIND. Errors other than
 * EADDRNOTAVAIL count as local (keep waiting). */
bool l4_drain_addr_is_local(const struct addr *a);

struct l4_conn;

/* A connection "at a switch": relaying, nothing queued either way, at
 * least one byte each way so far, and by TCP_INFO the last byte we sent the
 * client is acknowledged, `idle_ms` old and not older than the last one it
 * sent us, and on the instance side its last byte is not older than ours.
 * For HTTP/1.1 that is a keep-alive connection between a whole answer and
 * the next request, which a client may repeat on a new connection if we
 * close it (RFC 9112 §9.3.1); a request waiting for a slow answer has the
 * client's byte (and ours to the instance) last and stays. The ages have
 * jiffy resolution: a next request sent within the same few ms as the last
 * answer and then left unanswered for `idle_ms` cannot be told apart and is
 * closed too (docs/vrrp.md "Planned maintenance"). */
bool l4_drain_conn_at_switch(const struct l4_conn *c, uint32_t idle_ms);

/* Worker thread, posted by main every L4_DRAIN_POLL_MS during the drain
 * when drain_close_idle is set (`arg` carries it in ms): closes this
 * worker's connections at a switch. */
void l4_drain_on_tick(struct loop *loop, void *arg);

/* Worker thread (posted by main on SIGTERM): filters SYNs on every
 * listener of `w` and keeps accepting what completed; a listener whose
 * filter cannot be attached is closed as before. */
void l4_drain_quiesce(struct l4_worker *w);

/* Main thread, on SIGTERM: quiesces the workers, waits for the verdict
 * (SIGINT cuts it short), at drain_timeout closes what is left (bounded
 * wait), and returns. Sets p->draining and p->drain_start_ms. */
void l4_drain_run(struct l4_proc *p);

#endif
