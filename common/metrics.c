/* Metrics registry: families, series, per-writer arenas and the Prometheus
 * text exposition; see metrics.h. The registry owns every family, series and
 * arena; all of them live until metrics_reg_free(). */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct metrics_series {
	uint32_t cell;
	int fam;
	bool stale;
	char *labels; /* escaped `a="x",b="y"`; "" for a label-less family */
};

struct metrics_family {
	char name[METRICS_NAME_MAX];
	char *help; /* escaped for a # HELP line */
	enum metrics_type type;
	unsigned n_labels;
	char *label_names[METRICS_MAX_LABELS];
	struct metrics_hist hist;
	double bounds[METRICS_MAX_BOUNDS];
	double unit;
	struct metrics_series **series;
	size_t n_series, cap_series;
};

struct metrics_reg {
	pthread_mutex_t lock;
	unsigned n_writers;
	uint32_t max_cells, next_cell;
	size_t arena_bytes;
	struct metrics_worker *writers;
	struct metrics_family *fams[METRICS_MAX_FAMILIES];
	unsigned n_fams;
	struct metrics_series **hash; /* open addressing, power-of-two size */
	size_t hash_cap, hash_used;
};

static const char *const type_names[METRICS_TYPE__COUNT] = {
    [METRICS_COUNTER] = "counter",
    [METRICS_GAUGE] = "gauge",
    [METRICS_HISTOGRAM] = "histogram",
};

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

/* --- exposition ---------------------------------------------------------- */

struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int pass = 0; pass < 2 && !t->oom; pass++) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap * 2 + (size_t)n + 1;
		char *p = realloc(t->p, cap);

		if (!p) {
			t->oom = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
}

/* The shortest %g form that reads back as the same double. */
static void fmt_double(char *out, size_t cap, double v)
{
	if (v == floor(v) && fabs(v) < 1e15) { /* "10", not "1e+01" */
		snprintf(out, cap, "%.0f", v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, cap, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

/* units * unit; dividing by an integral 1/unit (1e9 for nanoseconds) is
 * correctly rounded, so 2001001 us prints as 2.001001, not 2.0010009999. */
static double scaled(uint64_t units, double unit)
{
	double inv = 1.0 / unit, r = round(inv);

	if (inv >= 1 && fabs(inv - r) < 1e-9 * inv)
		return (double)units / r;
	return (double)units * unit;
}

static void render_hist(struct text *t, struct metrics_reg *reg, const struct metrics_family *f,
			const struct metrics_series *s)
{
	const char *sep = s->labels[0] ? "," : "";
	uint64_t cum = 0;
	char num[32];

	for (uint32_t b = 0; b <= f->hist.n_bounds; b++) {
		cum += metrics_read(reg, s->cell + b);
		if (b < f->hist.n_bounds)
			fmt_double(num, sizeof(num), f->bounds[b]);
		else
			snprintf(num, sizeof(num), "+Inf");
		text_printf(t, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", f->name, s->labels, sep,
			    num, cum);
	}
	fmt_double(num, sizeof(num),
		   scaled(metrics_read(reg, s->cell + f->hist.n_bounds + 1), f->unit));
	if (s->labels[0]) {
		text_printf(t, "%s_sum{%s} %s\n", f->name, s->labels, num);
		text_printf(t, "%s_count{%s} %" PRIu64 "\n", f->name, s->labels, cum);
	} else {
		text_printf(t, "%s_sum %s\n%s_count %" PRIu64 "\n", f->name, num, f->name, cum);
	}
}

static void render_family(struct text *t, struct metrics_reg *reg, const struct metrics_family *f)
{
	bool header = false;

	for (size_t i = 0; i < f->n_series; i++) {
		const struct metrics_series *s = f->series[i];
		uint64_t v;

		if (s->stale)
			continue;
		if (!header) {
			text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
				    type_names[f->type]);
			header = true;
		}
		if (f->type == METRICS_HISTOGRAM) {
			render_hist(t, reg, f, s);
			continue;
		}
		v = metrics_read(reg, s->cell);
		text_printf(t, "%s%s%s%s ", f->name, s->labels[0] ? "{" : "", s->labels,
			    s->labels[0] ? "}" : "");
		if (f->type == METRICS_GAUGE)
			text_printf(t, "%" PRId64 "\n", (int64_t)v);
		else
			text_printf(t, "%" PRIu64 "\n", v);
	}
}

char *metrics_render(struct metrics_reg *reg, size_t *len)
{
	struct text t = {.cap = 4096};

	t.p = malloc(t.cap);
	if (!t.p)
		return NULL;
	t.p[0] = '\0';
	pthread_mutex_lock(&reg->lock);
	for (unsigned f = 0; f < reg->n_fams; f++)
		render_family(&t, reg, reg->fams[f]);
	pthread_mutex_unlock(&reg->lock);
	if (t.oom) {
		free(t.p);
		return NULL;
	}
	if (len)
		*len = t.len;
	return t.p;
}
