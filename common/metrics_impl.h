/* Internals of the metrics registry shared by metrics.c (registration,
 * series, arenas) and metrics_render.c (the text exposition). Not an API:
 * only those two files include it. Every field below is written under
 * metrics_reg.lock, except the arenas' cells (see metrics.h). */
#ifndef STRATA_METRICS_IMPL_H
#define STRATA_METRICS_IMPL_H

#include "metrics.h"

#include <pthread.h>

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

#endif
