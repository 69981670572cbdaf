/* Tests for the access log: record format, lines intact with several writer
 * threads (file and FIFO), reopen for rotation, timer flush, drops when the
 * destination is full or a record is too long. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "alog.h"
#include "log.h"

#define THREADS	   4
#define LINES_EACH 20000

struct fixture {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/strata-alog-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/access.log", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* One record as the load tests write it: thread, sequence, padding whose
 * length varies with the sequence, so torn lines cannot go unnoticed. */
static void put_record(struct alog_writer *w, int t, int seq)
{
	static const char pad[] =
	    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";
	struct json_buf *b = alog_begin(w);

	json_key(b, "t");
	json_int(b, t);
	json_key(b, "seq");
	json_int(b, seq);
	json_key(b, "pad");
	json_str(b, pad, (size_t)(seq % 64));
	alog_commit(w);
}

static int count_lines_in(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Checks every line is a whole record and, unless next_seq is NULL, that
 * each thread's lines come in order. Returns the number of lines. */
static int check_records(const char *text, int *next_seq)
{
	regex_t re;
	regmatch_t m[4];
	int lines = 0;
	const char *p = text;

	assert_int_equal(
	    regcomp(&re,
		    "^\\{\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
		    "\\.[0-9]{3}Z\",\"t\":([0-9]+),\"seq\":([0-9]+),\"pad\":\"([0-9a-z]*)\"\\}$",
		    REG_EXTENDED),
	    0);
	while (*p) {
		const char *nl = strchr(p, '\n');
		char line[512];
		int t, seq;

		assert_non_null(nl); /* every line is terminated */
		assert_true(nl - p < (long)sizeof(line));
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (regexec(&re, line, 4, m, 0) != 0)
			fail_msg("torn or malformed line: '%s'", line);
		t = atoi(line + m[1].rm_so);
		seq = atoi(line + m[2].rm_so);
		assert_true(t >= 0 && t < THREADS);
		assert_int_equal(m[3].rm_eo - m[3].rm_so, seq % 64);
		if (next_seq) { /* one worker's lines keep their order, maybe with gaps */
			assert_true(seq >= next_seq[t]);
			next_seq[t] = seq + 1;
		}
		lines++;
		p = nl + 1;
	}
	regfree(&re);
	return lines;
}

static void test_record_format_and_exit_flush(void **state)
{
	struct fixture *f = *state;
	struct alog *log;
	struct alog_writer *w;
	struct alog_stats st;
	struct json_buf *b;
	struct stat sb;
	char *text;

	assert_int_equal(alog_open(f->path, &log), 0);
	w = alog_worker_new(log);
	b = alog_begin(w);
	json_key(b, "client");
	json_cstr(b, "10.77.0.1:5555");
	json_key(b, "path");
	json_cstr(b, "/a\"b\n");
	json_key(b, "status");
	json_int(b, 200);
	alog_commit(w);
	text = slurp(f->path, NULL);
	assert_string_equal(text, ""); /* buffered */
	free(text);
	alog_worker_free(w);
	text = slurp(f->path, NULL);
	assert_int_equal(strlen(text), 90);
	assert_memory_equal(text, "{\"ts\":\"", 7);
	assert_string_equal(
	    text + 31,
	    "\",\"client\":\"10.77.0.1:5555\",\"path\":\"/a\\\"b\\n\",\"status\":200}\n");
	free(text);
	alog_get_stats(log, &st);
	assert_int_equal(st.lines, 1);
	assert_int_equal(st.bytes, 90);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	alog_close(log);
}

struct load {
	struct alog *log;
	int t;
	int lines;
	bool tick;
};

static void *load_thread(void *arg)
{
	struct load *l = arg;
	struct alog_writer *w = alog_worker_new(l->log);

	for (int i = 0; i < l->lines; i++) {
		put_record(w, l->t, i);
		if (l->tick && i % 97 == 0)
			alog_tick(w, log_now_ms());
	}
	alog_worker_free(w);
	return NULL;
}

static void run_load(struct alog *log, int lines, bool tick)
{
	pthread_t th[THREADS];
	struct load l[THREADS];

	for (int i = 0; i < THREADS; i++) {
		l[i] = (struct load){.log = log, .t = i, .lines = lines, .tick = tick};
		pthread_create(&th[i], NULL, load_thread, &l[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
}

static void test_threads_never_interleave_in_a_file(void **state)
{
	struct fixture *f = *state;
	int next[THREADS] = {0};
	struct alog_stats st;
	struct alog *log;
	char *text;

	assert_int_equal(alog_open(f->path, &log), 0);
	run_load(log, LINES_EACH, true);
	text = slurp(f->path, NULL);
	assert_int_equal(check_records(text, next), THREADS * LINES_EACH);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(next[i], LINES_EACH);
	alog_get_stats(log, &st);
	assert_int_equal(st.lines, THREADS * LINES_EACH);
	assert_int_equal(st.dropped, 0);
	free(text);
	alog_close(log);
}

static void *rotator(void *arg)
{
	struct fixture *f = arg;
	char old[128];

	for (int i = 0; i < 5; i++) {
		usleep(2000);
		snprintf(old, sizeof(old), "%s.%d", f->path, i);
		rename(f->path, old);
	}
	return NULL;
}

static void test_reopen_after_rename(void **state)
{
	struct fixture *f = *state;
	struct alog *log;
	struct alog_writer *w;
	struct alog_stats st;
	char rotated[128], *a, *b;
	int next[THREADS] = {0}, total = 0;

	assert_int_equal(alog_open(f->path, &log), 0);
	w = alog_worker_new(log);
	for (int i = 0; i < 10; i++)
		put_record(w, 0, i);
	assert_int_equal(alog_flush(w), 0);
	snprintf(rotated, sizeof(rotated), "%s.1", f->path);
	assert_int_equal(rename(f->path, rotated), 0);
	put_record(w, 0, 10); /* still buffered: lands in the new file */
	assert_int_equal(alog_reopen(log), 0);
	for (int i = 11; i < 20; i++)
		put_record(w, 0, i);
	alog_worker_free(w);
	a = slurp(rotated, NULL);
	b = slurp(f->path, NULL);
	assert_int_equal(check_records(a, next), 10);
	assert_int_equal(check_records(b, next), 10);
	assert_int_equal(next[0], 20);
	free(a);
	free(b);

	/* Rotation while four threads write: every line whole, none lost. */
	memset(next, 0, sizeof(next));
	pthread_t rot;
	unlink(rotated);
	unlink(f->path);
	assert_int_equal(alog_reopen(log), 0);
	pthread_create(&rot, NULL, rotator, f);
	for (int round = 0; round < 5; round++) {
		run_load(log, 2000, false);
		alog_reopen(log);
	}
	pthread_join(rot, NULL);
	alog_reopen(log);
	for (int i = -1; i < 5; i++) {
		char name[128];

		if (i < 0)
			snprintf(name, sizeof(name), "%s", f->path);
		else
			snprintf(name, sizeof(name), "%s.%d", f->path, i);
		a = slurp(name, NULL);
		if (!a)
			continue;
		total += check_records(a, NULL);
		free(a);
	}
	assert_int_equal(total, 5 * THREADS * 2000);
	alog_get_stats(log, &st);
	assert_true(st.reopens >= 7);
	alog_close(log);
}

static void test_timer_flush(void **state)
{
	struct fixture *f = *state;
	struct alog *log;
	struct alog_writer *w;
	uint64_t t0;
	char *text;

	assert_int_equal(alog_open(f->path, &log), 0);
	w = alog_worker_new(log);
	t0 = log_now_ms();
	put_record(w, 0, 1);
	alog_tick(w, t0 + ALOG_FLUSH_MS / 2);
	text = slurp(f->path, NULL);
	assert_string_equal(text, "");
	free(text);
	alog_tick(w, t0 + ALOG_FLUSH_MS + 10);
	text = slurp(f->path, NULL);
	assert_int_equal(count_lines_in(text), 1);
	free(text);
	alog_worker_free(w);
	alog_close(log);
}

static void test_overlong_record_dropped(void **state)
{
	struct fixture *f = *state;
	static char big[ALOG_LINE_MAX];
	struct alog_stats st;
	struct alog *log;
	struct alog_writer *w;
	struct json_buf *b;
	int next[THREADS] = {0};
	char *text;

	memset(big, 'x', sizeof(big));
	assert_int_equal(alog_open(f->path, &log), 0);
	w = alog_worker_new(log);
	put_record(w, 0, 0);
	b = alog_begin(w);
	json_key(b, "big");
	json_str(b, big, sizeof(big) - 40);
	alog_commit(w);
	put_record(w, 0, 1);
	alog_worker_free(w);
	text = slurp(f->path, NULL);
	assert_int_equal(check_records(text, next), 2);
	free(text);
	alog_get_stats(log, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.lines, 2);
	alog_close(log);
}

static void test_reopen_failure_keeps_old_file(void **state)
{
	struct fixture *f = *state;
	char sub[128], path[160], *text;
	struct alog *log;
	struct alog_writer *w;
	int next[THREADS] = {0};

	snprintf(sub, sizeof(sub), "%s/sub", f->dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/x.log", sub);
	assert_int_equal(alog_open(path, &log), 0);
	w = alog_worker_new(log);
	put_record(w, 0, 0);
	assert_int_equal(alog_flush(w), 0);
	snprintf(sub, sizeof(sub), "%s/moved", f->dir);
	assert_int_equal(rename(path, sub), 0); /* rotated... */
	snprintf(path, sizeof(path), "%s/sub", f->dir);
	assert_int_equal(rmdir(path), 0); /* ...and the directory is gone */
	assert_int_equal(alog_reopen(log), -ENOENT);
	put_record(w, 0, 1);
	alog_worker_free(w);
	text = slurp(sub, NULL); /* both lines in the file still open */
	assert_int_equal(check_records(text, next), 2);
	free(text);
	alog_close(log);
}

static void test_full_fifo_drops_instead_of_blocking(void **state)
{
	struct fixture *f = *state;
	struct alog_stats st;
	struct alog *log;
	struct alog_writer *w;
	uint64_t t0 = log_now_ms();
	static char buf[1 << 20];
	ssize_t n;
	size_t got = 0;
	int rfd;

	assert_int_equal(mkfifo(f->path, 0600), 0);
	assert_int_equal(alog_open(f->path, &log), -ENXIO); /* no reader: fail, not block */
	rfd = open(f->path, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	assert_int_equal(alog_open(f->path, &log), 0);
	w = alog_worker_new(log);
	for (int i = 0; i < 20000; i++)
		put_record(w, 0, i); /* ~2 MB into a 64 KiB pipe nobody reads */
	assert_true(log_now_ms() - t0 < 2000);
	alog_get_stats(log, &st);
	assert_true(st.dropped > 0);
	assert_true(st.lines > 0 && st.lines < 20000);
	while ((n = read(rfd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	int next[THREADS] = {0};
	int lines = check_records(buf, next); /* whole lines only, in order */
	assert_int_equal((uint64_t)lines, st.lines);
	alog_worker_free(w);
	alog_close(log);
	close(rfd);
}

struct drain {
	int fd;
	char *buf;
	size_t len, cap;
};

static void *drain_fifo(void *arg)
{
	struct drain *d = arg;
	ssize_t n;

	/* A slow reader with small reads keeps the pipe nearly full, so the
	 * writers race for space: the case where torn lines would show. */
	while ((n = read(d->fd, d->buf + d->len, 1000)) > 0) {
		d->len += (size_t)n;
		if (d->len + 1000 >= d->cap)
			break;
		usleep(20);
	}
	d->buf[d->len] = '\0';
	return NULL;
}

static void test_threads_never_interleave_in_a_fifo(void **state)
{
	struct fixture *f = *state;
	struct drain d = {.cap = 32 << 20};
	struct alog_stats st;
	struct alog *log;
	pthread_t reader;
	int wfd, next[THREADS] = {0};

	assert_int_equal(mkfifo(f->path, 0600), 0);
	d.fd = open(f->path, O_RDONLY | O_NONBLOCK);
	wfd = open(f->path, O_WRONLY); /* keeps the FIFO open until all is read */
	fcntl(d.fd, F_SETFL, 0);       /* blocking reads from here on */
	fcntl(wfd, F_SETPIPE_SZ, 16384);
	d.buf = malloc(d.cap);
	pthread_create(&reader, NULL, drain_fifo, &d);
	assert_int_equal(alog_open(f->path, &log), 0);
	run_load(log, 5000, true);
	alog_get_stats(log, &st);
	alog_close(log);
	close(wfd);
	pthread_join(reader, NULL);
	/* Drops are allowed when the reader lags, torn lines are not. */
	assert_int_equal((uint64_t)check_records(d.buf, next), st.lines);
	assert_int_equal(st.lines + st.dropped, THREADS * 5000);
	free(d.buf);
}

static void test_stderr_destination(void **state)
{
	struct fixture *f = *state;
	int saved = dup(2), fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	struct alog *log;
	struct alog_writer *w;
	int next[THREADS] = {0};
	char *text;

	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	assert_int_equal(alog_open("-", &log), 0);
	assert_int_equal(alog_reopen(log), 0); /* nothing to reopen */
	w = alog_worker_new(log);
	put_record(w, 1, 0);
	alog_worker_free(w);
	alog_close(log);
	dup2(saved, 2);
	close(saved);
	text = slurp(f->path, NULL);
	assert_int_equal(check_records(text, next), 1);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_record_format_and_exit_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads_never_interleave_in_a_file, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timer_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overlong_record_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_failure_keeps_old_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_fifo_drops_instead_of_blocking, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_threads_never_interleave_in_a_fifo, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stderr_destination, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
