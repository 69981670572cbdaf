/* Refcounted immutable config snapshots and the slot that publishes them.
 *
 * A daemon's snapshot embeds struct snap as its first member:
 *
 *   struct l7_snapshot { struct snap hdr; ... };
 *
 * The builder creates it with snap_init() (one reference, the builder's),
 * hands that reference to snap_slot_publish(), and never writes it again.
 * Anyone holding a reference may read it from any thread; the last
 * snap_put() calls destroy.
 *
 * The slot is read without locks on the hot path. A reader borrows the
 * slot word with one atomic add (split reference counting: the count of
 * readers between "saw the pointer" and "took a real reference" lives in
 * the slot word next to the pointer), so a concurrent publish can never
 * free the snapshot under it; the publisher folds the borrowed count into
 * the old snapshot's refcount when it swaps the pointer. Publishing is
 * serialised by a mutex: it happens on reload, off the hot path.
 *
 * Workers typically keep one reference and call snap_slot_refresh() once
 * per loop turn: an atomic load of the generation when nothing changed.
 * A connection that must see one config for its whole life takes its own
 * reference with snap_get() and drops it when it closes.
 */
#ifndef STRATA_SNAPSHOT_H
#define STRATA_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct snap {
	atomic_ulong refcount;
	void (*destroy)(struct snap *s); /* frees the enclosing object */
	uint64_t generation;		 /* set by snap_slot_publish(); 0 before */
};

/* Starts with one reference owned by the caller. */
void snap_init(struct snap *s, void (*destroy)(struct snap *s));

/* Takes one more reference; returns s. NULL-safe. */
struct snap *snap_get(struct snap *s);

/* Drops one reference; the last calls s->destroy. NULL-safe. */
void snap_put(struct snap *s);

/* Readers in the middle of an acquire fit in the slot word's top 16 bits:
 * far more than the number of threads a daemon runs. */
#define SNAP_BORROW_BITS 16

struct snap_slot {
	/* pointer in the low 48 bits, borrowed references in the top 16 */
	_Atomic uint64_t word;
	_Atomic uint64_t generation; /* of the published snapshot; 0 when empty */
	pthread_mutex_t publish_lock;
	uint64_t next_generation; /* under publish_lock */
};

/* An empty slot. */
void snap_slot_init(struct snap_slot *slot);

/* Drops the slot's reference to the current snapshot (other holders keep
 * theirs). No acquire may run concurrently. */
void snap_slot_destroy(struct snap_slot *slot);

/* Publishes `s`, taking over the caller's reference, and drops the slot's
 * reference to the previous snapshot. Assigns s->generation (1, 2, ...).
 * A snapshot is published once: republishing one is a programming error.
 * Returns the generation. */
uint64_t snap_slot_publish(struct snap_slot *slot, struct snap *s);

/* Returns the current snapshot with a new reference (snap_put() it), or
 * NULL when nothing was published. Lock-free; safe against a concurrent
 * publish from another thread. */
struct snap *snap_slot_acquire(struct snap_slot *slot);

/* Generation of the current snapshot (0 when empty): a cheap "did it
 * change?" check. */
uint64_t snap_slot_generation(struct snap_slot *slot);

/* Keeps *held current: when the slot publishes a newer snapshot, acquires
 * it and drops the old reference. *held may be NULL at first. Returns the
 * snapshot now held. */
struct snap *snap_slot_refresh(struct snap_slot *slot, struct snap **held);

#endif
