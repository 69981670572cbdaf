/* Access log: JSON lines (one object per line) to a file or stderr, buffered
 * per worker.
 *
 * Ownership: struct alog is the destination (shared by every worker, owned
 * by the daemon's main thread); struct alog_writer is one worker's batch
 * buffer, used only by that worker. Free every writer before the alog.
 *
 * A record is built in the writer's line buffer with json_* calls between
 * alog_begin() and alog_commit(), then copied into the batch. A batch goes
 * out with exactly one write(2) when the next line does not fit, when
 * alog_tick() finds its oldest line ALOG_FLUSH_MS old, and at
 * alog_worker_free(). One write per batch is what keeps lines of different
 * workers from interleaving:
 *   - regular files are opened O_APPEND, and Linux appends a whole write()
 *     under the inode lock, so batches of any size stay contiguous;
 *   - pipes and FIFOs get batches of at most PIPE_BUF bytes, which POSIX
 *     makes atomic, through a private non-blocking open file description;
 *   - sockets (journald's stderr stream) get PIPE_BUF batches sent with
 *     MSG_DONTWAIT.
 * The hot path never blocks: when a pipe or socket is full, the new line is
 * dropped and counted (`dropped`), and the batch is retried later.
 *
 * Rotation: after the log file is renamed, alog_reopen() (async-signal-safe,
 * so a SIGHUP handler may call it) opens the path anew and dup3()s it onto
 * the descriptor the writers use, so no writer ever sees a closed or reused
 * descriptor; batches in flight land in the old or the new file, whole.
 */
#ifndef STRATA_ALOG_H
#define STRATA_ALOG_H

#include <stdint.h>

#include "json.h"

#define ALOG_LINE_MAX	  4096	      /* one record including its '\n' */
#define ALOG_BUF_SIZE	  (64 * 1024) /* a worker's batch for a regular file */
#define ALOG_FLUSH_MS	  200	      /* oldest buffered line waits at most this */
#define ALOG_EXIT_WAIT_MS 1000	      /* alog_worker_free waits this for a full pipe */

struct alog;
struct alog_writer;

struct alog_stats {
	uint64_t lines;	       /* written */
	uint64_t dropped;      /* lost: destination full, record too long, write error */
	uint64_t bytes;	       /* written */
	uint64_t write_errors; /* write(2) failures other than "would block" */
	uint64_t reopens;
};

/* Opens the destination: a file path (created 0640, appended to), or stderr
 * for NULL, "" , "-" or "stderr". A FIFO without a reader fails (-ENXIO)
 * instead of blocking. Returns 0 and *out, or -errno. */
int alog_open(const char *path, struct alog **out);

/* Re-opens the path (log rotation); a no-op for stderr. On failure the old
 * file stays in use and -errno is returned. Async-signal-safe. */
int alog_reopen(struct alog *log);

/* Closes the destination. Every writer must be freed first. Safe on NULL. */
void alog_close(struct alog *log);

/* Counters summed over all writers (relaxed reads; any thread). */
void alog_get_stats(struct alog *log, struct alog_stats *out);

/* A worker's writer; NULL on ENOMEM. */
struct alog_writer *alog_worker_new(struct alog *log);

/* Flushes (waiting up to ALOG_EXIT_WAIT_MS for a full pipe) and frees.
 * Safe on NULL. */
void alog_worker_free(struct alog_writer *w);

/* Starts a record: returns the line's JSON buffer with the object opened and
 * "ts" (UTC, RFC 3339 with milliseconds) written. Add fields with json_key()
 * and a value; no allocation. */
struct json_buf *alog_begin(struct alog_writer *w);

/* Ends the record and queues it; a record that overflowed ALOG_LINE_MAX is
 * dropped and counted. May flush the batch (one non-blocking write). */
void alog_commit(struct alog_writer *w);

/* Writes the batch now: 0 when it is empty afterwards, -EAGAIN when the
 * destination is full (kept for later), other -errno (dropped, counted). */
int alog_flush(struct alog_writer *w);

/* Call from the worker's timer every ~100 ms: flushes when the oldest
 * buffered line is ALOG_FLUSH_MS old. `now_ms` is log_now_ms(). */
void alog_tick(struct alog_writer *w, uint64_t now_ms);

#endif
