/* Per-worker pool of splice pipes (lbworker.h).
 *
 * DESIGN.md pitfalls: a pipe per connection made short connections ten
 * times slower, so pipes are created on demand up to a cap, lent to a
 * direction only while it splices a bulk flow, and returned empty. A pipe
 * that still holds bytes when its connection dies is closed instead: its
 * contents belong to nobody.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "lbworker.h"
#include "log.h"

void l4_pipes_init(struct l4_pipes *pp, unsigned cap)
{
	*pp = (struct l4_pipes){.cap = cap};
	if (cap == 0)
		return;
	pp->p = calloc(cap, sizeof(*pp->p));
	pp->free = calloc(cap, sizeof(*pp->free));
	if (!pp->p || !pp->free) {
		free(pp->p);
		free(pp->free);
		*pp = (struct l4_pipes){0};
	}
}

void l4_pipes_fini(struct l4_pipes *pp)
{
	for (unsigned i = 0; i < pp->n; i++) {
		if (pp->p[i].rfd >= 0)
			close(pp->p[i].rfd);
		if (pp->p[i].wfd >= 0)
			close(pp->p[i].wfd);
	}
	free(pp->p);
	free(pp->free);
	*pp = (struct l4_pipes){0};
}

static int pipe_open(struct l4_pipe *p)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_rl(LOG_LVL_WARN, "splice: cannot create a pipe: %m");
		p->rfd = p->wfd = -1;
		return -errno;
	}
	p->rfd = fds[0];
	p->wfd = fds[1];
	/* A bigger pipe takes what the socket holds in fewer splices. Failing
	 * this (pipe-max-size, pipe-user-pages-soft) only costs speed. */
	fcntl(p->wfd, F_SETPIPE_SZ, (int)L4_SPLICE_CHUNK);
	return 0;
}

int l4_pipes_get(struct l4_pipes *pp)
{
	if (pp->n_free)
		return pp->free[--pp->n_free];
	if (pp->n == pp->cap || pipe_open(&pp->p[pp->n]) < 0)
		return -1;
	return (int)pp->n++;
}

void l4_pipes_put(struct l4_pipes *pp, int idx, bool dirty)
{
	struct l4_pipe *p = &pp->p[idx];

	if (dirty) {
		close(p->rfd);
		close(p->wfd);
		if (pipe_open(p) < 0)
			return; /* slot lost; the pool is one pipe smaller */
	}
	pp->free[pp->n_free++] = idx;
}
