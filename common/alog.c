/* Access log: per-worker JSON-lines batches, one write(2) per batch, reopen
 * by dup3 for rotation; see alog.h. The alog owns its descriptor; each
 * writer owns its batch and line buffers. */
#include "alog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum alog_kind {
	ALOG_KIND_FILE,	  /* regular file: O_APPEND makes any write contiguous */
	ALOG_KIND_PIPE,	  /* pipe/FIFO: writes <= PIPE_BUF are atomic */
	ALOG_KIND_SOCKET, /* stream socket: send(MSG_DONTWAIT) */
	ALOG_KIND_OTHER,  /* tty or device: plain write */
	ALOG_KIND__COUNT
};

struct alog {
	int fd; /* never changes: reopen dup3()s onto it */
	enum alog_kind kind;
	bool is_stderr;
	size_t batch;
	char path[PATH_MAX]; /* fixed storage: reopen must not allocate */
	uint64_t lines, dropped, bytes, write_errors, reopens; /* atomic */
};

struct alog_writer {
	struct alog *log;
	size_t cap, len;
	uint32_t pending_lines;
	uint64_t first_ms; /* when the oldest buffered line was queued */
	time_t ts_sec;
	char ts_prefix[24]; /* "YYYY-MM-DDTHH:MM:SS" of ts_sec */
	struct json_buf jb;
	char line[ALOG_LINE_MAX];
	char batch[]; /* cap bytes */
};

#define OPEN_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

static void count(uint64_t *c, uint64_t n)
{
	__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

static enum alog_kind kind_of(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return ALOG_KIND_OTHER;
	if (S_ISREG(st.st_mode))
		return ALOG_KIND_FILE;
	if (S_ISFIFO(st.st_mode))
		return ALOG_KIND_PIPE;
	if (S_ISSOCK(st.st_mode))
		return ALOG_KIND_SOCKET;
	return ALOG_KIND_OTHER;
}

/* stderr is shared with log.c and maybe other processes; a pipe gets a
 * private open file description (via /proc) so O_NONBLOCK stays ours. */
static int open_stderr(struct alog *log)
{
	log->kind = kind_of(STDERR_FILENO);
	log->fd = -1;
	if (log->kind == ALOG_KIND_PIPE)
		log->fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (log->fd < 0)
		log->fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	return log->fd < 0 ? -errno : 0;
}

int alog_open(const char *path, struct alog **out)
{
	struct alog *log = calloc(1, sizeof(*log));
	int r = 0;

	if (!log)
		return -ENOMEM;
	if (!path || !*path || strcmp(path, "-") == 0 || strcmp(path, "stderr") == 0) {
		log->is_stderr = true;
		r = open_stderr(log);
	} else if (strlen(path) >= sizeof(log->path)) {
		r = -ENAMETOOLONG;
	} else {
		memcpy(log->path, path, strlen(path) + 1);
		log->fd = open(path, OPEN_FLAGS, 0640);
		r = log->fd < 0 ? -errno : 0;
		log->kind = kind_of(log->fd);
	}
	if (r < 0) {
		free(log);
		return r;
	}
	log->batch = log->kind == ALOG_KIND_FILE ? ALOG_BUF_SIZE : PIPE_BUF;
	*out = log;
	return 0;
}

int alog_reopen(struct alog *log)
{
	int fd, err;

	if (log->is_stderr)
		return 0;
	fd = open(log->path, OPEN_FLAGS, 0640);
	if (fd < 0)
		return -errno;
	/* Atomically points log->fd at the new file: a writer racing with us
	 * writes whole batches to one file or the other, never to a closed or
	 * reused descriptor. */
	if (dup3(fd, log->fd, O_CLOEXEC) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	close(fd);
	count(&log->reopens, 1);
	return 0;
}

void alog_close(struct alog *log)
{
	if (!log)
		return;
	close(log->fd);
	free(log);
}

void alog_get_stats(struct alog *log, struct alog_stats *out)
{
	out->lines = __atomic_load_n(&log->lines, __ATOMIC_RELAXED);
	out->dropped = __atomic_load_n(&log->dropped, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&log->bytes, __ATOMIC_RELAXED);
	out->write_errors = __atomic_load_n(&log->write_errors, __ATOMIC_RELAXED);
	out->reopens = __atomic_load_n(&log->reopens, __ATOMIC_RELAXED);
}

struct alog_writer *alog_worker_new(struct alog *log)
{
	struct alog_writer *w = calloc(1, sizeof(*w) + log->batch);

	if (!w)
		return NULL;
	w->log = log;
	w->cap = log->batch;
	w->ts_sec = -1;
	return w;
}

/* A write to a pipe whose reader is gone raises SIGPIPE; block it around the
 * write and swallow the pending one, leaving the caller's mask as it was. */
static ssize_t write_pipe(int fd, const char *p, size_t n)
{
	static const struct timespec zero = {0, 0};
	sigset_t pipe_set, old;
	ssize_t r;
	int err;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	r = write(fd, p, n);
	err = errno;
	if (r < 0 && err == EPIPE && !sigismember(&old, SIGPIPE))
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return r;
}

static ssize_t out_write(struct alog *log, const char *p, size_t n)
{
	ssize_t r;

	do {
		if (log->kind == ALOG_KIND_SOCKET)
			r = send(log->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		else if (log->kind == ALOG_KIND_PIPE)
			r = write_pipe(log->fd, p, n);
		else
			r = write(log->fd, p, n);
	} while (r < 0 && errno == EINTR);
	return r;
}

static uint32_t count_lines(const char *p, size_t n)
{
	uint32_t k = 0;

	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
		k++;
	return k;
}

int alog_flush(struct alog_writer *w)
{
	struct alog *log = w->log;
	ssize_t r;
	uint32_t k;

	if (!w->len)
		return 0;
	r = out_write(log, w->batch, w->len);
	if (r < 0) {
		int err = errno;

		if (err == EAGAIN)
			return -EAGAIN;
		count(&log->write_errors, 1);
		count(&log->dropped, w->pending_lines);
		w->len = 0;
		w->pending_lines = 0;
		return -err;
	}
	k = count_lines(w->batch, (size_t)r);
	count(&log->lines, k);
	count(&log->bytes, (uint64_t)r);
	w->pending_lines -= k;
	if ((size_t)r < w->len) { /* only sockets and full disks write short */
		memmove(w->batch, w->batch + r, w->len - (size_t)r);
		w->len -= (size_t)r;
		return -EAGAIN;
	}
	w->len = 0;
	return 0;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (RFC 3339 §5.6), the seconds part cached. */
static void format_ts(struct alog_writer *w, char out[32])
{
	struct timespec ts;
	struct tm tm;
	unsigned ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != w->ts_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		strftime(w->ts_prefix, sizeof(w->ts_prefix), "%Y-%m-%dT%H:%M:%S", &tm);
		w->ts_sec = ts.tv_sec;
	}
	ms = (unsigned)(ts.tv_nsec / 1000000);
	memcpy(out, w->ts_prefix, 19);
	out[19] = '.';
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
}

struct json_buf *alog_begin(struct alog_writer *w)
{
	char ts[32];

	json_init(&w->jb, w->line, sizeof(w->line) - 1); /* room for the '\n' */
	json_obj_begin(&w->jb);
	json_key(&w->jb, "ts");
	format_ts(w, ts);
	json_str(&w->jb, ts, 24);
	return &w->jb;
}

void alog_commit(struct alog_writer *w)
{
	size_t n;

	json_obj_end(&w->jb);
	if (!json_ok(&w->jb) || w->jb.depth != 0) {
		count(&w->log->dropped, 1);
		return;
	}
	w->line[w->jb.len] = '\n';
	n = w->jb.len + 1;
	if (n > w->cap - w->len) {
		alog_flush(w);
		if (n > w->cap - w->len) { /* destination full: drop, never block */
			count(&w->log->dropped, 1);
			return;
		}
	}
	if (w->len == 0)
		w->first_ms = log_now_ms();
	memcpy(w->batch + w->len, w->line, n);
	w->len += n;
	w->pending_lines++;
}

void alog_tick(struct alog_writer *w, uint64_t now_ms)
{
	if (w->len && now_ms - w->first_ms >= ALOG_FLUSH_MS)
		alog_flush(w);
}

void alog_worker_free(struct alog_writer *w)
{
	uint64_t deadline;

	if (!w)
		return;
	deadline = log_now_ms() + ALOG_EXIT_WAIT_MS;
	while (alog_flush(w) == -EAGAIN) {
		uint64_t now = log_now_ms();
		struct pollfd pfd = {.fd = w->log->fd, .events = POLLOUT};

		if (now >= deadline)
			break;
		poll(&pfd, 1, (int)(deadline - now));
	}
	count(&w->log->dropped, w->pending_lines);
	free(w);
}
