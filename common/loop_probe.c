/* io_uring feature probing (once per process), loop parameters and ring
 * setup.
 *
 * Setup flags are probed by trying them (the kernel answers -EINVAL for
 * flags it does not know); opcodes with io_uring_get_probe_ring(); buffer
 * rings by registering a tiny one; multishot recv and multishot accept by
 * running one on a private AF_UNIX socket pair / listener, because the
 * opcode probe cannot tell whether the multishot flag is understood.
 * Everything the probe starts is cancelled and reaped before the probe ring
 * is torn down, so no request can outlive the memory it points to.
 */
#include "loop_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define PROBE_WAIT_MS 1000

static const unsigned char needed_ops[] = {
    IORING_OP_ACCEPT,	IORING_OP_RECV,		IORING_OP_SEND,		IORING_OP_SENDMSG,
    IORING_OP_CONNECT,	IORING_OP_LINK_TIMEOUT, IORING_OP_ASYNC_CANCEL, IORING_OP_SPLICE,
    IORING_OP_SHUTDOWN, IORING_OP_CLOSE,	IORING_OP_READ,
};

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static unsigned probed;
static int probe_status = -ENOSYS;

/* Waits for the completion with `ud` (ignoring others); returns its res and
 * flags, or -ETIME. */
static int probe_wait(struct io_uring *ring, uint64_t ud, unsigned *flags)
{
	struct __kernel_timespec ts = {.tv_nsec = PROBE_WAIT_MS * 1000000LL};
	struct io_uring_cqe *cqe;

	for (;;) {
		if (io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL) < 0)
			return -ETIME;
		uint64_t got = cqe->user_data;
		int res = cqe->res;

		if (flags)
			*flags = cqe->flags;
		io_uring_cqe_seen(ring, cqe);
		if (got == ud)
			return res;
	}
}

/* Cancels everything on the probe ring and reaps until `pending` final
 * completions (plus the cancel's own) have arrived. */
static void probe_cancel_all(struct io_uring *ring, int pending)
{
	struct __kernel_timespec ts = {.tv_nsec = PROBE_WAIT_MS * 1000000LL};
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;

	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, 99);
	pending++;
	while (pending > 0 && io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL) >= 0) {
		if (!(cqe->flags & IORING_CQE_F_MORE))
			pending--;
		io_uring_cqe_seen(ring, cqe);
	}
}

static bool probe_recv_multishot(struct io_uring *ring)
{
	struct io_uring_sqe *sqe;
	unsigned flags = 0;
	int sv[2], res = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	if (write(sv[1], "p", 1) != 1)
		goto out_close;
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, 1);
	res = probe_wait(ring, 1, &flags);
	if (res == 1 && (flags & IORING_CQE_F_MORE))
		probe_cancel_all(ring, 1);
out_close:
	close(sv[0]);
	close(sv[1]);
	return res == 1 && (flags & IORING_CQE_F_MORE);
}

static bool probe_accept_multishot(struct io_uring *ring)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t len = sizeof(sa_family_t);
	struct io_uring_sqe *sqe;
	unsigned flags = 0;
	int lfd, cfd = -1, res = -1;

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return false;
	/* Autobind: an abstract name of the kernel's choosing, nothing on disk. */
	if (bind(lfd, (struct sockaddr *)&sun, len) < 0 || listen(lfd, 4) < 0)
		goto out_close;
	len = sizeof(sun);
	if (getsockname(lfd, (struct sockaddr *)&sun, &len) < 0)
		goto out_close;
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&sun, len) < 0)
		goto out_close;
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, 2);
	res = probe_wait(ring, 2, &flags);
	if (res >= 0) {
		close(res);
		if (flags & IORING_CQE_F_MORE)
			probe_cancel_all(ring, 1);
	}
out_close:
	if (cfd >= 0)
		close(cfd);
	close(lfd);
	return res >= 0 && (flags & IORING_CQE_F_MORE);
}

/* IORING_ASYNC_CANCEL_ANY|ALL matching nothing answers 0 (or -ENOENT) where
 * supported, -EINVAL where the flags are unknown. */
static bool probe_cancel_any(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int res;

	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, 3);
	res = probe_wait(ring, 3, NULL);
	return res >= 0 || res == -ENOENT;
}

static bool probe_ops(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	bool ok = p != NULL;

	for (size_t i = 0; ok && i < sizeof(needed_ops); i++)
		ok = io_uring_opcode_supported(p, needed_ops[i]);
	io_uring_free_probe(p);
	return ok;
}

static int probe_setup(struct io_uring *ring, unsigned *f)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	if (io_uring_queue_init_params(8, ring, &p) == 0) {
		*f |= LOOP_F_SINGLE_ISSUER | LOOP_F_DEFER_TASKRUN;
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	if (io_uring_queue_init_params(8, ring, &p) == 0) {
		*f |= LOOP_F_COOP_TASKRUN;
		goto out;
	}
	memset(&p, 0, sizeof(p));
	if (io_uring_queue_init_params(8, ring, &p) < 0)
		return -1;
out:
	if (p.features & IORING_FEAT_EXT_ARG)
		*f |= LOOP_F_EXT_ARG;
	return 0;
}

static void probe_run(void)
{
	struct io_uring ring;
	struct bufring br;
	unsigned f = 0;

	if (probe_setup(&ring, &f) < 0)
		return; /* probe_status stays -ENOSYS */
	if (!probe_ops(&ring)) {
		io_uring_queue_exit(&ring);
		return;
	}
	/* Shutdown relies on one cancel matching everything (5.19+). */
	if (!probe_cancel_any(&ring)) {
		io_uring_queue_exit(&ring);
		return;
	}
	f |= LOOP_F_CANCEL_ANY;
	if (bufring_init(&br, &ring, 0, 4, 64, false) == 0) {
		f |= LOOP_F_BUF_RING;
		if (probe_recv_multishot(&ring))
			f |= LOOP_F_RECV_MULTISHOT;
		bufring_fini(&br);
	}
	if (probe_accept_multishot(&ring))
		f |= LOOP_F_ACCEPT_MULTISHOT;
	io_uring_queue_exit(&ring);
	probed = f;
	probe_status = 0;
}

static int probe_kernel(unsigned *features)
{
	pthread_once(&probe_once, probe_run);
	*features = probed;
	return probe_status;
}

static unsigned setup_flags(unsigned features)
{
	unsigned flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL;

	if (features & LOOP_F_SINGLE_ISSUER)
		flags |= IORING_SETUP_SINGLE_ISSUER;
	if (features & LOOP_F_DEFER_TASKRUN)
		flags |= IORING_SETUP_DEFER_TASKRUN;
	if (features & LOOP_F_COOP_TASKRUN)
		flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	return flags;
}

/* --- parameters and ring setup ------------------------------------------------- */

void loop_params_default(struct loop_params *p)
{
	*p = (struct loop_params){
	    .entries = 1024,
	    .slots = 4096,
	    .buf_count = 1024,
	    .buf_size = 16384,
	};
}

static void params_fill(struct loop_params *out, const struct loop_params *in)
{
	loop_params_default(out);
	if (!in)
		return;
	out->entries = in->entries ? in->entries : out->entries;
	out->slots = in->slots ? in->slots : out->slots;
	out->buf_count = in->buf_count ? in->buf_count : out->buf_count;
	out->buf_size = in->buf_size ? in->buf_size : out->buf_size;
	out->no_defer_taskrun = in->no_defer_taskrun;
	out->no_recv_multishot = in->no_recv_multishot;
	out->no_accept_multishot = in->no_accept_multishot;
	out->no_buf_ring = in->no_buf_ring;
}

static unsigned features_for(unsigned kernel, const struct loop_params *p)
{
	unsigned f = kernel;

	if (p->no_defer_taskrun && (f & LOOP_F_DEFER_TASKRUN))
		f = (f & ~LOOP_F_DEFER_TASKRUN) | LOOP_F_COOP_TASKRUN;
	if (p->no_buf_ring)
		f &= ~(LOOP_F_BUF_RING | LOOP_F_RECV_MULTISHOT);
	if (p->no_recv_multishot)
		f &= ~LOOP_F_RECV_MULTISHOT;
	if (p->no_accept_multishot)
		f &= ~LOOP_F_ACCEPT_MULTISHOT;
	return f;
}

void loop_log_features(unsigned f)
{
	static unsigned logged = ~0u;
	char buf[160];

	if (__atomic_exchange_n(&logged, f, __ATOMIC_RELAXED) != f)
		log_info("io_uring: %s", loop_features_str(f, buf, sizeof(buf)));
}

int loop_setup_ring(struct loop *l, const struct loop_params *p)
{
	struct io_uring_params ip;
	int ret;

	memset(&ip, 0, sizeof(ip));
	ip.flags = setup_flags(l->features);
	ip.cq_entries = p->entries * 4;
	ret = io_uring_queue_init_params(p->entries, &l->ring, &ip);
	if (ret < 0)
		return ret;
	l->sq_entries = l->ring.sq.ring_entries;
	l->sqe_ts = calloc(l->sq_entries, sizeof(*l->sqe_ts));
	return l->sqe_ts ? 0 : -ENOMEM;
}

static int check_params(const struct loop_params *p)
{
	if (p->slots == 0 || p->slots > LOOP_SLOTS_MAX || p->entries == 0)
		return -EINVAL;
	if (p->buf_count > BUFRING_MAX_COUNT || (p->buf_count & (p->buf_count - 1)))
		return -EINVAL;
	return 0;
}

int loop_params_resolve(const struct loop_params *in, struct loop_params *out, unsigned *features)
{
	unsigned kernel;
	int ret;

	params_fill(out, in);
	ret = check_params(out);
	if (ret == 0)
		ret = probe_kernel(&kernel);
	if (ret == 0)
		*features = features_for(kernel, out);
	return ret;
}

const char *loop_features_str(unsigned features, char *buf, size_t len)
{
	static const char *const names[LOOP_F__COUNT] = {
	    "single_issuer", "defer_taskrun",  "coop_taskrun",	   "ext_arg",
	    "buf_ring",	     "recv_multishot", "accept_multishot", "cancel_any",
	};
	size_t n = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < LOOP_F__COUNT && n < len; i++) {
		if (!(features & (1u << i)))
			continue;
		int w = snprintf(buf + n, len - n, "%s%s", n ? " " : "", names[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
	return buf;
}
