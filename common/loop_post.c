/* Cross-thread entry points of the event loop: loop_post(), loop_stop() and
 * the eventfd wake-up they share, plus running the posted functions on the
 * loop's thread; see loop.h. A posted item is malloc'd by loop_post() and
 * freed by the loop once its function has run. */
#include "loop_impl.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

static void loop_wake(struct loop *l)
{
	uint64_t one = 1;

	if (__atomic_exchange_n(&l->wake_pending, 1, __ATOMIC_SEQ_CST))
		return; /* a wake-up is already on its way */
	while (write(l->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Other threads reach the loop only between these two: loop_destroy() waits
 * until no call is inside. The count is raised before the stop flag is set,
 * so a loop thread that sees the flag also sees the caller still inside,
 * and cannot free the loop under the eventfd write that follows. */
static void wakers_enter(struct loop *l)
{
	__atomic_add_fetch(&l->wakers, 1, __ATOMIC_SEQ_CST);
}

static void wakers_leave(struct loop *l)
{
	__atomic_sub_fetch(&l->wakers, 1, __ATOMIC_RELEASE);
}

void loop_wakers_wait(struct loop *l)
{
	while (__atomic_load_n(&l->wakers, __ATOMIC_ACQUIRE))
		sched_yield();
}

int loop_post(struct loop *l, loop_post_fn fn, void *arg)
{
	struct loop_post_item *it = malloc(sizeof(*it));

	if (!it)
		return -ENOMEM;
	*it = (struct loop_post_item){.fn = fn, .arg = arg};
	wakers_enter(l);
	pthread_mutex_lock(&l->post_lock);
	*l->post_tail = it;
	l->post_tail = &it->next;
	pthread_mutex_unlock(&l->post_lock);
	loop_wake(l);
	wakers_leave(l);
	return 0;
}

void loop_run_posts(struct loop *l)
{
	struct loop_post_item *it, *next;

	l->run_posts = false;
	/* Cleared before taking the list: a post that finds it clear writes the
	 * eventfd again, so nothing queued after this point is missed. */
	__atomic_store_n(&l->wake_pending, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&l->post_lock);
	it = l->post_head;
	l->post_head = NULL;
	l->post_tail = &l->post_head;
	pthread_mutex_unlock(&l->post_lock);
	for (; it; it = next) {
		next = it->next;
		it->fn(l, it->arg);
		free(it);
		l->stats.posted++;
	}
}

void loop_stop(struct loop *l)
{
	wakers_enter(l);
	__atomic_store_n(&l->stop, 1, __ATOMIC_SEQ_CST);
	loop_wake(l);
	wakers_leave(l);
}
