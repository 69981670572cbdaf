/* Metrics registry: families, series and per-writer arenas; see metrics.h.
 * The exposition is in metrics_render.c. The registry owns every family,
 * series and arena; all of them live until metrics_reg_free(). */
#include "metrics_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct metrics_reg *metrics_reg_new(unsigned n_writers, uint32_t max_cells)
{
	struct metrics_reg *reg;

	if (n_writers == 0 || n_writers > 4096)
		return NULL;
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return NULL;
	pthread_mutex_init(&reg->lock, NULL);
	reg->n_writers = n_writers;
	reg->max_cells = max_cells ? max_cells : METRICS_DEFAULT_CELLS;
	reg->arena_bytes = (size_t)reg->max_cells * sizeof(uint64_t);
	reg->writers = calloc(n_writers, sizeof(*reg->writers));
	if (!reg->writers)
		goto out_free;
	for (unsigned i = 0; i < n_writers; i++) {
		/* A mapping per writer: page-aligned, zeroed, lazily backed, and
		 * never sharing a cache line with another writer's cells. */
		void *m = mmap(NULL, reg->arena_bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			goto out_free;
		reg->writers[i].cells = m;
	}
	return reg;
out_free:
	metrics_reg_free(reg);
	return NULL;
}

void metrics_reg_free(struct metrics_reg *reg)
{
	if (!reg)
		return;
	for (unsigned f = 0; f < reg->n_fams; f++) {
		struct metrics_family *fam = reg->fams[f];

		for (size_t s = 0; s < fam->n_series; s++) {
			free(fam->series[s]->labels);
			free(fam->series[s]);
		}
		for (unsigned l = 0; l < fam->n_labels; l++)
			free(fam->label_names[l]);
		free(fam->series);
		free(fam->help);
		free(fam);
	}
	for (unsigned i = 0; reg->writers && i < reg->n_writers; i++)
		if (reg->writers[i].cells)
			munmap(reg->writers[i].cells, reg->arena_bytes);
	free(reg->writers);
	free(reg->hash);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

struct metrics_worker *metrics_worker(struct metrics_reg *reg, unsigned i)
{
	return i < reg->n_writers ? &reg->writers[i] : NULL;
}

unsigned metrics_n_writers(const struct metrics_reg *reg)
{
	return reg->n_writers;
}

/* --- names and escaping ------------------------------------------------- */

/* Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]*; label names starting with "__" are reserved. */
static bool is_valid_name(const char *s, bool metric)
{
	size_t n = strlen(s);

	if (n == 0 || n >= METRICS_NAME_MAX)
		return false;
	if (!metric && s[0] == '_' && s[1] == '_')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

/* Escapes for the text format: label values escape backslash, double quote
 * and line feed; HELP text escapes backslash and line feed only. Returns a
 * malloc'd string or NULL. */
static char *escape_text(const char *s, bool quote)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(2 * n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' || (quote && s[i] == '"')) {
			out[o++] = '\\';
			out[o++] = s[i];
		} else if (s[i] == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* --- families ----------------------------------------------------------- */

static int count_labels(const char *const *labels, bool hist)
{
	unsigned n = 0;

	for (; labels && labels[n]; n++) {
		if (n == METRICS_MAX_LABELS || !is_valid_name(labels[n], false))
			return -EINVAL;
		/* "le" is the bucket label of a histogram's _bucket series. */
		if (hist && strcmp(labels[n], "le") == 0)
			return -EINVAL;
		for (unsigned j = 0; j < n; j++)
			if (strcmp(labels[j], labels[n]) == 0)
				return -EINVAL;
	}
	return (int)n;
}

static bool same_shape(const struct metrics_family *f, enum metrics_type type,
		       const char *const *labels, unsigned n_labels)
{
	if (f->type != type || f->n_labels != n_labels)
		return false;
	for (unsigned i = 0; i < n_labels; i++)
		if (strcmp(f->label_names[i], labels[i]) != 0)
			return false;
	return true;
}

static int find_family(struct metrics_reg *reg, const char *name)
{
	for (unsigned i = 0; i < reg->n_fams; i++)
		if (strcmp(reg->fams[i]->name, name) == 0)
			return (int)i;
	return -1;
}

/* Creates the family; the caller holds the lock and checked the name. */
static int add_family(struct metrics_reg *reg, const char *name, const char *help,
		      enum metrics_type type, const char *const *labels, unsigned n_labels,
		      struct metrics_family **out)
{
	struct metrics_family *f;

	if (reg->n_fams == METRICS_MAX_FAMILIES)
		return -ENOSPC;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->type = type;
	f->help = escape_text(help ? help : "", false);
	if (!f->help)
		goto out_free;
	for (; f->n_labels < n_labels; f->n_labels++) {
		f->label_names[f->n_labels] = strdup(labels[f->n_labels]);
		if (!f->label_names[f->n_labels])
			goto out_free;
	}
	reg->fams[reg->n_fams] = f;
	*out = f;
	return (int)reg->n_fams++;
out_free:
	for (unsigned i = 0; i < f->n_labels; i++)
		free(f->label_names[i]);
	free(f->help);
	free(f);
	return -ENOMEM;
}

int metrics_family(struct metrics_reg *reg, const char *name, const char *help,
		   enum metrics_type type, const char *const *labels)
{
	struct metrics_family *f;
	int n, id;

	if (type != METRICS_COUNTER && type != METRICS_GAUGE)
		return -EINVAL;
	if (!is_valid_name(name, true))
		return -EINVAL;
	n = count_labels(labels, false);
	if (n < 0)
		return n;
	pthread_mutex_lock(&reg->lock);
	id = find_family(reg, name);
	if (id >= 0) {
		if (!same_shape(reg->fams[id], type, labels, (unsigned)n))
			id = -EEXIST;
	} else {
		id = add_family(reg, name, help, type, labels, (unsigned)n, &f);
	}
	pthread_mutex_unlock(&reg->lock);
	return id;
}

/* Converts bounds in exported units to integer thresholds: an observation
 * v lands in bucket i when v * unit <= bound[i]. The tiny relative nudge
 * absorbs representation error (0.0005 / 1e-9 is 499999.99999999994). */
static int hist_thresholds(struct metrics_hist *h, const double *bounds, unsigned n, double unit)
{
	if (n == 0 || n > METRICS_MAX_BOUNDS || !(unit > 0) || !isfinite(unit))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		double x = bounds[i] / unit * (1 + 1e-12);

		if (!isfinite(bounds[i]) || bounds[i] < 0 || x >= 1.8e19)
			return -EINVAL;
		h->thr[i] = (uint64_t)floor(x);
		if (i > 0 && (bounds[i] <= bounds[i - 1] || h->thr[i] <= h->thr[i - 1]))
			return -EINVAL;
	}
	h->n_bounds = n;
	return 0;
}

static bool same_bounds(const struct metrics_family *f, const double *bounds, unsigned n,
			double unit)
{
	return f->hist.n_bounds == n && f->unit == unit &&
	       memcmp(f->bounds, bounds, n * sizeof(*bounds)) == 0;
}

int metrics_histogram(struct metrics_reg *reg, const char *name, const char *help,
		      const char *const *labels, const double *bounds, unsigned n_bounds,
		      double unit)
{
	struct metrics_hist h;
	struct metrics_family *f;
	int n, id;

	if (!is_valid_name(name, true) || hist_thresholds(&h, bounds, n_bounds, unit) < 0)
		return -EINVAL;
	n = count_labels(labels, true);
	if (n < 0)
		return n;
	pthread_mutex_lock(&reg->lock);
	id = find_family(reg, name);
	if (id >= 0) {
		f = reg->fams[id];
		if (!same_shape(f, METRICS_HISTOGRAM, labels, (unsigned)n) ||
		    !same_bounds(f, bounds, n_bounds, unit))
			id = -EEXIST;
	} else {
		id = add_family(reg, name, help, METRICS_HISTOGRAM, labels, (unsigned)n, &f);
		if (id >= 0) {
			f->hist = h;
			f->unit = unit;
			memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
		}
	}
	pthread_mutex_unlock(&reg->lock);
	return id;
}

const struct metrics_hist *metrics_hist(struct metrics_reg *reg, int fam)
{
	const struct metrics_hist *h = NULL;

	pthread_mutex_lock(&reg->lock);
	if (fam >= 0 && (unsigned)fam < reg->n_fams && reg->fams[fam]->type == METRICS_HISTOGRAM)
		h = &reg->fams[fam]->hist;
	pthread_mutex_unlock(&reg->lock);
	return h;
}

/* --- series ------------------------------------------------------------- */

static uint32_t cells_of(const struct metrics_family *f)
{
	/* A histogram: one cell per bucket, the +Inf bucket, then _sum. */
	return f->type == METRICS_HISTOGRAM ? f->hist.n_bounds + 2 : 1;
}

static size_t hash_of(int fam, const char *labels)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)fam; /* FNV-1a */

	for (; *labels; labels++)
		h = (h ^ (unsigned char)*labels) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

/* The slot holding (fam, labels), or the empty slot where it would go. */
static struct metrics_series **hash_slot(struct metrics_reg *reg, int fam, const char *labels)
{
	size_t mask = reg->hash_cap - 1, i = hash_of(fam, labels) & mask;

	for (;; i = (i + 1) & mask) {
		struct metrics_series *s = reg->hash[i];

		if (!s || (s->fam == fam && strcmp(s->labels, labels) == 0))
			return &reg->hash[i];
	}
}

static int hash_grow(struct metrics_reg *reg)
{
	struct metrics_series **old = reg->hash;
	size_t old_cap = reg->hash_cap, cap = old_cap ? old_cap * 2 : 256;

	reg->hash = calloc(cap, sizeof(*reg->hash));
	if (!reg->hash) {
		reg->hash = old;
		return -ENOMEM;
	}
	reg->hash_cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i])
			*hash_slot(reg, old[i]->fam, old[i]->labels) = old[i];
	free(old);
	return 0;
}

/* `name="value",...` with values escaped; NULL on a missing or overlong
 * value or ENOMEM. */
static char *build_labels(const struct metrics_family *f, const char *const *values)
{
	size_t len = 1, o = 0;
	char *out, *esc;

	for (unsigned i = 0; i < f->n_labels; i++) {
		if (!values || !values[i] || strlen(values[i]) > METRICS_LABEL_VALUE_MAX)
			return NULL;
		len += strlen(f->label_names[i]) + 2 * strlen(values[i]) + 4;
	}
	out = malloc(len);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (unsigned i = 0; i < f->n_labels; i++) {
		esc = escape_text(values[i], true);
		if (!esc) {
			free(out);
			return NULL;
		}
		o += (size_t)snprintf(out + o, len - o, "%s%s=\"%s\"", i ? "," : "",
				      f->label_names[i], esc);
		free(esc);
	}
	return out;
}

/* Appends a new series; the caller holds the lock. Takes `labels`. */
static int64_t add_series(struct metrics_reg *reg, int fam, char *labels)
{
	struct metrics_family *f = reg->fams[fam];
	struct metrics_series *s;
	uint32_t need = cells_of(f);

	if (reg->max_cells - reg->next_cell < need)
		goto out_nospc;
	if ((reg->hash_used + 1) * 2 > reg->hash_cap && hash_grow(reg) < 0)
		goto out_nomem;
	if (f->n_series == f->cap_series) {
		size_t cap = f->cap_series ? f->cap_series * 2 : 8;
		void *v = realloc(f->series, cap * sizeof(*f->series));

		if (!v)
			goto out_nomem;
		f->series = v;
		f->cap_series = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out_nomem;
	s->cell = reg->next_cell;
	s->fam = fam;
	s->labels = labels;
	reg->next_cell += need;
	f->series[f->n_series++] = s;
	*hash_slot(reg, fam, labels) = s;
	reg->hash_used++;
	return s->cell;
out_nospc:
	free(labels);
	return -ENOSPC;
out_nomem:
	free(labels);
	return -ENOMEM;
}

int64_t metrics_series(struct metrics_reg *reg, int fam, const char *const *values)
{
	struct metrics_series **slot;
	int64_t ret = -EINVAL;
	char *labels;

	pthread_mutex_lock(&reg->lock);
	if (fam < 0 || (unsigned)fam >= reg->n_fams)
		goto out;
	labels = build_labels(reg->fams[fam], values);
	if (!labels)
		goto out;
	slot = reg->hash_cap ? hash_slot(reg, fam, labels) : NULL;
	if (slot && *slot) {
		(*slot)->stale = false;
		ret = (*slot)->cell;
		free(labels);
	} else {
		ret = add_series(reg, fam, labels);
	}
out:
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

int64_t metrics_simple(struct metrics_reg *reg, const char *name, const char *help,
		       enum metrics_type type)
{
	int fam = metrics_family(reg, name, help, type, NULL);

	return fam < 0 ? fam : metrics_series(reg, fam, NULL);
}

void metrics_mark_stale(struct metrics_reg *reg, int fam)
{
	pthread_mutex_lock(&reg->lock);
	for (unsigned f = 0; f < reg->n_fams; f++) {
		if (fam >= 0 && (unsigned)fam != f)
			continue;
		for (size_t s = 0; s < reg->fams[f]->n_series; s++)
			reg->fams[f]->series[s]->stale = true;
	}
	pthread_mutex_unlock(&reg->lock);
}

int metrics_series_stale(struct metrics_reg *reg, int fam, const char *const *values)
{
	struct metrics_series **slot;
	int ret = -ENOENT;
	char *labels;

	pthread_mutex_lock(&reg->lock);
	if (fam < 0 || (unsigned)fam >= reg->n_fams || !reg->hash_cap)
		goto out;
	labels = build_labels(reg->fams[fam], values);
	if (!labels)
		goto out;
	slot = hash_slot(reg, fam, labels);
	if (*slot) {
		(*slot)->stale = true;
		ret = 0;
	}
	free(labels);
out:
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

uint64_t metrics_read(struct metrics_reg *reg, uint32_t idx)
{
	uint64_t sum = 0;

	if (idx >= reg->max_cells)
		return 0;
	for (unsigned i = 0; i < reg->n_writers; i++)
		sum += __atomic_load_n(&reg->writers[i].cells[idx], __ATOMIC_RELAXED);
	return sum;
}
