/* Prometheus text exposition of a metrics registry (text format 0.0.4,
 * prometheus/docs content/docs/instrumenting/exposition_formats.md); see
 * metrics.h. The rendered text is malloc'd and handed to the caller. */
#include "metrics_impl.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[METRICS_TYPE__COUNT] = {
    [METRICS_COUNTER] = "counter",
    [METRICS_GAUGE] = "gauge",
    [METRICS_HISTOGRAM] = "histogram",
};

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
