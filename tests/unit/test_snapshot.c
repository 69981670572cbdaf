/* Tests for snapshots: refcounts, publication, and a race of one publisher
 * against reader threads (acquire/read/release and refresh) that must end
 * with exactly one destroy per published snapshot and no reader ever seeing
 * a destroyed one. Meant to run under ASan and TSan too. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "snapshot.h"

#define MAGIC_LIVE 0x5a5a5a5a5a5a5a5aull
#define MAGIC_DEAD 0xdeaddeaddeaddeadull

struct test_snap {
	struct snap hdr;
	uint64_t magic;
	uint64_t value; /* generation copy, checked by readers */
};

static atomic_ulong destroyed;
static atomic_ulong double_destroyed;

/* May run on a reader thread (the last put): no cmocka asserts here. */
static void test_snap_destroy(struct snap *s)
{
	struct test_snap *t = (struct test_snap *)s;

	if (t->magic != MAGIC_LIVE)
		atomic_fetch_add(&double_destroyed, 1);
	t->magic = MAGIC_DEAD;
	atomic_fetch_add(&destroyed, 1);
	free(t);
}

static struct test_snap *make(void)
{
	struct test_snap *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snap_init(&t->hdr, test_snap_destroy);
	t->magic = MAGIC_LIVE;
	return t;
}

static void test_refcount(void **state)
{
	struct test_snap *t = make();

	atomic_store(&destroyed, 0);
	assert_ptr_equal(snap_get(&t->hdr), &t->hdr);
	snap_put(&t->hdr);
	assert_int_equal(atomic_load(&destroyed), 0);
	snap_put(&t->hdr);
	assert_int_equal(atomic_load(&destroyed), 1);
	snap_put(NULL);
	assert_null(snap_get(NULL));
}

static void test_publish_and_hold(void **state)
{
	struct snap_slot slot;
	struct test_snap *a = make(), *b = make();
	struct snap *held, *cached = NULL;

	atomic_store(&destroyed, 0);
	snap_slot_init(&slot);
	assert_null(snap_slot_acquire(&slot));
	assert_int_equal(snap_slot_generation(&slot), 0);
	assert_null(snap_slot_refresh(&slot, &cached));

	assert_int_equal(snap_slot_publish(&slot, &a->hdr), 1);
	assert_int_equal(a->hdr.generation, 1);
	held = snap_slot_acquire(&slot);
	assert_ptr_equal(held, &a->hdr);
	assert_ptr_equal(snap_slot_refresh(&slot, &cached), &a->hdr);

	/* a new publish leaves holders of the old one alone */
	assert_int_equal(snap_slot_publish(&slot, &b->hdr), 2);
	assert_int_equal(snap_slot_generation(&slot), 2);
	assert_int_equal(atomic_load(&destroyed), 0);
	assert_int_equal(a->magic, MAGIC_LIVE);
	snap_put(held);
	assert_int_equal(atomic_load(&destroyed), 0); /* the cached reference */
	assert_ptr_equal(snap_slot_refresh(&slot, &cached), &b->hdr);
	assert_int_equal(atomic_load(&destroyed), 1);
	assert_ptr_equal(snap_slot_refresh(&slot, &cached), &b->hdr);

	snap_put(cached);
	snap_slot_destroy(&slot);
	assert_int_equal(atomic_load(&destroyed), 2);
}

#define READERS	      4
#define MIN_RACING_READS 10000 /* reads that overlapped publishing */
#define PUBLISHES     20000
#define RACE_DEADLINE 20 /* seconds; the loop is bounded in time as well */

struct race {
	struct snap_slot slot;
	atomic_bool stop;
	atomic_ulong reads;
	atomic_ulong bad;
};

static void check_snap(struct race *r, struct snap *s, uint64_t *last_gen)
{
	struct test_snap *t = (struct test_snap *)s;

	if (!s)
		return;
	if (t->magic != MAGIC_LIVE || t->value != s->generation || s->generation < *last_gen)
		atomic_fetch_add(&r->bad, 1);
	*last_gen = s->generation;
}

static void *reader(void *arg)
{
	struct race *r = arg;
	struct snap *cached = NULL;
	uint64_t last = 0, last_cached = 0;
	unsigned long n = 0;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		struct snap *s = snap_slot_acquire(&r->slot);

		check_snap(r, s, &last);
		snap_put(s);
		/* the per-worker pattern: one held reference, refreshed */
		check_snap(r, snap_slot_refresh(&r->slot, &cached), &last_cached);
		/* counted as we go: the publisher keeps publishing until readers
		 * have really raced it, even when a loaded machine starts them late */
		if (++n % 64 == 0)
			atomic_fetch_add_explicit(&r->reads, 64, memory_order_relaxed);
	}
	snap_put(cached);
	atomic_fetch_add(&r->reads, n % 64);
	return NULL;
}

static void test_publish_race(void **state)
{
	struct race r = {.stop = false};
	pthread_t th[READERS];
	time_t start = time(NULL);
	unsigned long published = 0;

	atomic_store(&destroyed, 0);
	snap_slot_init(&r.slot);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, &r), 0);
	while ((published < PUBLISHES || atomic_load(&r.reads) < MIN_RACING_READS) &&
	       time(NULL) - start < RACE_DEADLINE) {
		struct test_snap *t = make();

		/* value is what readers expect the generation to be */
		t->value = published + 1;
		assert_int_equal(snap_slot_publish(&r.slot, &t->hdr), published + 1);
		published++;
	}
	atomic_store(&r.stop, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	assert_true(published >= 1000);
	assert_int_equal(atomic_load(&r.bad), 0);
	assert_true(atomic_load(&r.reads) >= MIN_RACING_READS);
	/* everything but the current one is gone; destroying the slot ends it */
	assert_int_equal(atomic_load(&destroyed), published - 1);
	snap_slot_destroy(&r.slot);
	assert_int_equal(atomic_load(&destroyed), published);
	assert_int_equal(atomic_load(&double_destroyed), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refcount),
	    cmocka_unit_test(test_publish_and_hold),
	    cmocka_unit_test(test_publish_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
