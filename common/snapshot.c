/* Refcounted snapshots and their lock-free publication slot; see snapshot.h.
 *
 * Why the split count is race-free: between reading the slot's pointer and
 * incrementing the snapshot's refcount, a reader holds a "borrow" recorded
 * in the slot word itself (taken by the same atomic add that read the
 * pointer). A publisher swaps the whole word, so it learns exactly how many
 * borrows were outstanding on the old pointer and moves them into the old
 * snapshot's refcount. Each borrower gives its borrow back: to the slot
 * word while the slot still holds its snapshot, otherwise to the snapshot
 * (where the publisher moved it).
 *
 * A borrower may give back to the snapshot before the publisher has added
 * the borrows there, and may even drop its own reference too. So before the
 * swap the publisher adds SNAP_BIAS (more than any number of borrowers) to
 * the old refcount and takes it off again together with the count it found:
 * in between, early decrements cannot reach zero.
 *
 * ABA cannot happen: a reader holds a real reference while it inspects the
 * word, so its snapshot's address cannot be reused, and a snapshot is never
 * published twice.
 */
#include "snapshot.h"

#include <assert.h>
#include <stddef.h>

#define SNAP_PTR_BITS	(64 - SNAP_BORROW_BITS)
#define SNAP_PTR_MASK	((UINT64_C(1) << SNAP_PTR_BITS) - 1)
#define SNAP_ONE_BORROW (UINT64_C(1) << SNAP_PTR_BITS)
#define SNAP_BIAS	(1ul << 32) /* > 2^SNAP_BORROW_BITS borrowers */

_Static_assert(sizeof(void *) == 8, "the slot word packs a 48-bit pointer");

static struct snap *word_ptr(uint64_t w)
{
	return (struct snap *)(uintptr_t)(w & SNAP_PTR_MASK);
}

void snap_init(struct snap *s, void (*destroy)(struct snap *s))
{
	atomic_init(&s->refcount, 1);
	s->destroy = destroy;
	s->generation = 0;
}

struct snap *snap_get(struct snap *s)
{
	if (s)
		atomic_fetch_add_explicit(&s->refcount, 1, memory_order_relaxed);
	return s;
}

void snap_put(struct snap *s)
{
	/* acq_rel: every holder's reads happen before the destroy that follows
	 * the last decrement */
	if (s && atomic_fetch_sub_explicit(&s->refcount, 1, memory_order_acq_rel) == 1)
		s->destroy(s);
}

void snap_slot_init(struct snap_slot *slot)
{
	atomic_init(&slot->word, 0);
	atomic_init(&slot->generation, 0);
	pthread_mutex_init(&slot->publish_lock, NULL);
	slot->next_generation = 0;
}

/* Swaps `next` into the slot and drops the slot's reference to the old
 * snapshot after moving the borrows outstanding on it into its refcount.
 * Caller holds publish_lock, so the pointer cannot change under it; only
 * the borrow count can. */
static void swap_locked(struct snap_slot *slot, struct snap *next)
{
	struct snap *old = word_ptr(atomic_load_explicit(&slot->word, memory_order_relaxed));
	uint64_t w;

	if (old)
		atomic_fetch_add_explicit(&old->refcount, SNAP_BIAS, memory_order_relaxed);
	/* release: the new snapshot's contents (and the bias) are visible to
	 * whoever sees the new word */
	w = atomic_exchange_explicit(&slot->word, (uint64_t)(uintptr_t)next, memory_order_acq_rel);
	assert(word_ptr(w) == old);
	if (!old)
		return;
	atomic_fetch_sub_explicit(&old->refcount, SNAP_BIAS - (w >> SNAP_PTR_BITS),
				  memory_order_relaxed);
	snap_put(old);
}

void snap_slot_destroy(struct snap_slot *slot)
{
	pthread_mutex_lock(&slot->publish_lock);
	swap_locked(slot, NULL);
	atomic_store_explicit(&slot->generation, 0, memory_order_release);
	pthread_mutex_unlock(&slot->publish_lock);
	pthread_mutex_destroy(&slot->publish_lock);
}

uint64_t snap_slot_publish(struct snap_slot *slot, struct snap *s)
{
	uint64_t gen;

	assert(s && s->generation == 0);
	assert(((uintptr_t)s & ~(uintptr_t)SNAP_PTR_MASK) == 0);
	pthread_mutex_lock(&slot->publish_lock);
	gen = ++slot->next_generation;
	s->generation = gen;
	swap_locked(slot, s);
	atomic_store_explicit(&slot->generation, gen, memory_order_release);
	pthread_mutex_unlock(&slot->publish_lock);
	return gen;
}

struct snap *snap_slot_acquire(struct snap_slot *slot)
{
	uint64_t w = atomic_fetch_add_explicit(&slot->word, SNAP_ONE_BORROW, memory_order_acquire);
	struct snap *s = word_ptr(w);
	uint64_t cur;

	if (s)
		atomic_fetch_add_explicit(&s->refcount, 1, memory_order_relaxed);
	/* give the borrow back where it now lives; acquire: seeing the swap
	 * means seeing the publisher's bias on s too */
	cur = atomic_load_explicit(&slot->word, memory_order_acquire);
	while (word_ptr(cur) == s) {
		if (atomic_compare_exchange_weak_explicit(&slot->word, &cur, cur - SNAP_ONE_BORROW,
							  memory_order_acq_rel,
							  memory_order_acquire))
			return s;
	}
	/* swapped out meanwhile: the publisher moved our borrow into s */
	snap_put(s);
	return s;
}

uint64_t snap_slot_generation(struct snap_slot *slot)
{
	return atomic_load_explicit(&slot->generation, memory_order_acquire);
}

struct snap *snap_slot_refresh(struct snap_slot *slot, struct snap **held)
{
	uint64_t gen = snap_slot_generation(slot);
	struct snap *s;

	if (*held && (*held)->generation == gen)
		return *held;
	s = snap_slot_acquire(slot);
	snap_put(*held);
	*held = s;
	return s;
}
