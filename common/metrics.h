/* Metrics registry with per-thread counter arenas and Prometheus exposition.
 *
 * Model: a registry holds families (name, help, type, label names) and series
 * (a family + label values). Each series owns one cell index (a histogram:
 * a run of cells) that is valid in every writer's arena. A writer is one
 * thread (normally a worker; the daemon may add one for its control thread):
 * it owns an arena of uint64 cells and updates them with plain relaxed
 * load+store, no atomic read-modify-write, no lock. Arenas are separate
 * page-aligned mappings, so two writers never share a cache line. Readers sum
 * a cell over all arenas. Relaxed atomics make the reader race-free (TSan
 * clean) at the cost of a plain mov on x86.
 *
 * Gauges: either per-writer deltas (metrics_inc on open, metrics_dec on
 * close; the sum is the level, read as int64) or a value set by one owning
 * writer with metrics_set(). Use one style per series.
 *
 * Histograms: observations are unsigned integers in a unit chosen per family
 * (e.g. nanoseconds, unit 1e-9 to export seconds); bucket bounds are fixed
 * per family and converted to integer thresholds once. Cells are stored per
 * bucket (not cumulative) and made cumulative on exposition; _count is the
 * sum of the buckets, so _count always equals the +Inf bucket.
 *
 * Registration (families, series, staleness) takes the registry mutex and
 * is meant for start-up and reload, never the hot path. A series is found or
 * created by its label values, so a reload that keeps an instance keeps its
 * counters. Cells are never reused: a removed series is marked stale (hidden
 * from exposition) and revived with its old values if it comes back, so an
 * old connection still counting into it writes into valid memory.
 *
 * Exposition follows the Prometheus text format 0.0.4
 * (prometheus/docs content/docs/instrumenting/exposition_formats.md).
 */
#ifndef STRATA_METRICS_H
#define STRATA_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define METRICS_MAX_FAMILIES	512
#define METRICS_MAX_LABELS	8
#define METRICS_MAX_BOUNDS	24
#define METRICS_NAME_MAX	128  /* metric and label names */
#define METRICS_LABEL_VALUE_MAX 1024 /* one label value, unescaped */
#define METRICS_DEFAULT_CELLS	65536
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM, METRICS_TYPE__COUNT };

/* One writer's arena; owned by exactly one thread. */
struct metrics_worker {
	uint64_t *cells;
};

/* Integer bucket thresholds of a histogram family, in observation units. */
struct metrics_hist {
	uint32_t n_bounds;
	uint64_t thr[METRICS_MAX_BOUNDS];
};

struct metrics_reg;

/* A registry for `n_writers` writer threads with room for `max_cells` cells
 * (0: METRICS_DEFAULT_CELLS). Returns NULL on bad arguments or ENOMEM. */
struct metrics_reg *metrics_reg_new(unsigned n_writers, uint32_t max_cells);
void metrics_reg_free(struct metrics_reg *reg);

/* Writer `i` (< n_writers); the pointer stays valid until metrics_reg_free. */
struct metrics_worker *metrics_worker(struct metrics_reg *reg, unsigned i);
unsigned metrics_n_writers(const struct metrics_reg *reg);

/* Registers (or finds, when the same name, type and label names are already
 * registered) a counter or gauge family. `labels` is a NULL-terminated list
 * of label names, or NULL. Returns the family id (>= 0), -EINVAL for a bad
 * name, type or label, -EEXIST when the name exists with another shape,
 * -ENOSPC when the family table is full, -ENOMEM. */
int metrics_family(struct metrics_reg *reg, const char *name, const char *help,
		   enum metrics_type type, const char *const *labels);

/* Same for a histogram: `n_bounds` strictly increasing finite upper bounds
 * (>= 0, in exported units) and the exported value of one observation unit
 * (e.g. 1e-9 when observations are nanoseconds and the metric is seconds). */
int metrics_histogram(struct metrics_reg *reg, const char *name, const char *help,
		      const char *const *labels, const double *bounds, unsigned n_bounds,
		      double unit);

/* The thresholds of histogram family `fam`, for metrics_observe(); NULL when
 * `fam` is not a histogram. Valid until metrics_reg_free. */
const struct metrics_hist *metrics_hist(struct metrics_reg *reg, int fam);

/* Finds or creates the series of `fam` with these label values (one per label
 * name, in order; NULL when the family has no labels) and clears its stale
 * mark. Returns its first cell index (>= 0), -EINVAL (bad family or value),
 * -ENOSPC (out of cells), -ENOMEM. */
int64_t metrics_series(struct metrics_reg *reg, int fam, const char *const *values);

/* Shortcut: a label-less family with its single series; returns the cell. */
int64_t metrics_simple(struct metrics_reg *reg, const char *name, const char *help,
		       enum metrics_type type);

/* Marks every series of `fam` (-1: of every family) stale. A reload marks all
 * stale, registers what the new configuration has (which revives those), and
 * what stays stale disappears from the exposition. */
void metrics_mark_stale(struct metrics_reg *reg, int fam);

/* Marks one series stale; returns 0 or -ENOENT. */
int metrics_series_stale(struct metrics_reg *reg, int fam, const char *const *values);

/* Readers (any thread): the sum of a cell over all writers. */
uint64_t metrics_read(struct metrics_reg *reg, uint32_t idx);
static inline int64_t metrics_read_gauge(struct metrics_reg *reg, uint32_t idx)
{
	return (int64_t)metrics_read(reg, idx);
}

/* The exposition text of every live series, NUL-terminated, malloc'd (the
 * caller frees it); *len gets its length. NULL on ENOMEM. */
char *metrics_render(struct metrics_reg *reg, size_t *len);

/* --- hot path: only the thread owning `w` calls these ------------------- */

static inline void metrics_add(struct metrics_worker *w, uint32_t idx, uint64_t n)
{
	uint64_t *c = &w->cells[idx];

	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void metrics_inc(struct metrics_worker *w, uint32_t idx)
{
	metrics_add(w, idx, 1);
}

/* Gauge delta; the per-writer cell may wrap below zero, the sum is right. */
static inline void metrics_dec(struct metrics_worker *w, uint32_t idx)
{
	metrics_add(w, idx, UINT64_MAX);
}

static inline void metrics_sub(struct metrics_worker *w, uint32_t idx, uint64_t n)
{
	metrics_add(w, idx, (uint64_t)0 - n);
}

/* A "set" gauge: only one writer may ever touch this series. */
static inline void metrics_set(struct metrics_worker *w, uint32_t idx, int64_t v)
{
	__atomic_store_n(&w->cells[idx], (uint64_t)v, __ATOMIC_RELAXED);
}

/* Records observation `v` (in the family's unit) in histogram series `idx`. */
static inline void metrics_observe(struct metrics_worker *w, const struct metrics_hist *h,
				   uint32_t idx, uint64_t v)
{
	uint32_t b = 0;

	while (b < h->n_bounds && v > h->thr[b])
		b++;
	metrics_inc(w, idx + b);
	metrics_add(w, idx + h->n_bounds + 1, v);
}

/* --- exposition endpoints (metrics_http.c) ------------------------------ */

struct metrics_http;
struct admin_out;

#define METRICS_HTTP_MAX_CLIENTS 16
#define METRICS_HTTP_MAX_REQUEST 4096 /* request line + headers */
#define METRICS_HTTP_TIMEOUT_MS	 5000 /* per connection, reading and writing */

/* Binds `addr` (SO_REUSEADDR), listens and starts the server thread that
 * answers GET /metrics. On success *out gets the server and 0 is returned;
 * otherwise -errno. */
int metrics_http_start(struct metrics_reg *reg, const struct sockaddr *addr, socklen_t addrlen,
		       struct metrics_http **out);

/* The bound port (host order), useful after binding port 0. */
int metrics_http_port(const struct metrics_http *h);

/* Stops the thread, closes every socket, frees `h`. Safe on NULL. */
void metrics_http_stop(struct metrics_http *h);

/* An admin handler (register it read-only with `arg` = the registry):
 * `metrics [PREFIX]` prints the exposition, optionally only the families
 * whose name starts with PREFIX. */
int metrics_admin_cmd(void *arg, int argc, char **argv, struct admin_out *out);

#endif
