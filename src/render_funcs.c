// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* render_funcs.c - function metrics -> exposition text: the declared counter and histogram
 * families, and the self metrics of their probes; pure: no syscalls or globals. */
#include <string.h>

#include "funcs_snapshot.h"
#include "render_group.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NAME_LEN      256

/* Sync note: indexed by enum sockeye_func_stat (include/sockeye.h); never rename one. */
static const char *const func_stat_names[] = {
	[SOCKEYE_FUNC_STAT_NO_ENTRY] = "return_without_entry",
	[SOCKEYE_FUNC_STAT_SERIES_FULL] = "series_map_full",
	[SOCKEYE_FUNC_STAT_OTHER] = "counted_as_other",
	[SOCKEYE_FUNC_STAT_STRING_FAULT] = "string_unreadable",
	[SOCKEYE_FUNC_STAT_USDT_ARG] = "usdt_argument_unreadable",
};
_Static_assert(ARRAY_SIZE(func_stat_names) == SOCKEYE_FUNC_STAT_MAX,
	       "func_stat_names[] out of sync with enum sockeye_func_stat");

/* probe="" values of sockeye_function_probe_hits_total, by enum sockeye_func_hit. */
static const char *const hit_names[] = {
	[SOCKEYE_FUNC_HIT_ENTRY] = "entry",
	[SOCKEYE_FUNC_HIT_RETURN] = "return",
};
_Static_assert(ARRAY_SIZE(hit_names) == SOCKEYE_FUNC_HIT_MAX, "hit_names[] vs enum");

/* A counter's family name is its metric without "_total" (the header and samples add it). */
static const char *family_name(const struct sockeye_func_family *f, char *buf)
{
	size_t n = strlen(f->metric);

	if (n >= NAME_LEN)
		n = NAME_LEN - 1;
	if (f->type == SOCKEYE_FUNC_COUNTER && n > 6 && strcmp(f->metric + n - 6, "_total") == 0)
		n -= 6;
	memcpy(buf, f->metric, n);
	buf[n] = '\0';
	return buf;
}

static void put_series(const struct expo *w, const struct sockeye_func_family *f, const char *name,
		       const struct sockeye_func_series *s)
{
	struct sockeye_label own[SOCKEYE_FUNC_MAX_LABELS];
	char value[EXPO_NUMBER_LEN];
	const struct sockeye_label *labels;
	struct expo_labels lb;
	size_t i;

	for (i = 0; i < f->n_labels && i < SOCKEYE_FUNC_MAX_LABELS; i++) {
		own[i].name = f->label_names[i];
		own[i].value = s->values[i];
	}
	labels = expo_with_identity(&lb, own, i, s->identity);
	if (f->type == SOCKEYE_FUNC_COUNTER) {
		expo_sample(w, "", name, "_total", labels, lb.n, NULL, expo_u64(value, s->count));
		return;
	}
	expo_histogram(w, "", name, labels, lb.n,
		       &(const struct expo_histogram){
			       .bounds = f->bounds_ns,
			       .n_bounds = f->n_bounds < SOCKEYE_MAX_BUCKETS ? f->n_bounds
									     : SOCKEYE_MAX_BUCKETS,
			       .buckets = s->buckets, /* count: their total, as collected */
			       .sum = s->sum_ns,
			       .unit = EXPO_UNIT_NS,
		       });
}

void render_funcs(const struct render_ctx *c)
{
	const struct sockeye_func_snapshot *fs = c->snap->funcs;
	const struct expo *w = &c->w;
	char name[NAME_LEN];

	for (size_t i = 0; fs && i < fs->n_families; i++) {
		const struct sockeye_func_family *f = &fs->families[i];

		family_name(f, name);
		expo_header(w, "", name,
			    f->type == SOCKEYE_FUNC_COUNTER ? METRIC_COUNTER : METRIC_HISTOGRAM,
			    f->help);
		for (size_t j = 0; j < f->n_series; j++)
			put_series(w, f, name, &f->series[j]);
	}
}

void render_funcs_self(const struct render_ctx *c)
{
	const struct sockeye_func_snapshot *fs = c->snap->funcs;
	const struct expo *w = &c->w;
	const char *prefix = c->self_prefix;
	char value[EXPO_NUMBER_LEN];

	if (!fs)
		return;
	if (fs->n_families) {
		expo_header(w, prefix, "function_probes", METRIC_GAUGE,
			    "Probe points of each declared function metric (entry, return, USDT "
			    "sites), by state: attached, or failed (the log says why).");
		for (size_t i = 0; i < fs->n_families; i++) {
			const struct sockeye_func_family *f = &fs->families[i];
			const struct sockeye_label a[] = {{"metric", f->metric},
							  {"binary", f->binary},
							  {"state", "attached"}};
			const struct sockeye_label b[] = {
				{"metric", f->metric}, {"binary", f->binary}, {"state", "failed"}};

			expo_sample(w, prefix, "function_probes", "", a, ARRAY_SIZE(a), NULL,
				    expo_u64(value, f->probes_attached));
			expo_sample(w, prefix, "function_probes", "", b, ARRAY_SIZE(b), NULL,
				    expo_u64(value, f->probes_failed));
		}
		expo_header(
			w, prefix, "function_probe_hits", METRIC_COUNTER,
			"Times the probes of each declared function metric ran, by probe: entry "
			"(a function's entry or a USDT probe), return.");
		for (size_t i = 0; i < fs->n_families; i++) {
			const struct sockeye_func_family *f = &fs->families[i];

			for (size_t k = 0; k < SOCKEYE_FUNC_HIT_MAX; k++) {
				const struct sockeye_label l[] = {
					{"metric", f->metric},
					{"binary", f->binary},
					{"probe", f->usdt && k == SOCKEYE_FUNC_HIT_ENTRY
							  ? "usdt"
							  : hit_names[k]},
				};

				if (!(f->hit_kinds & (1u << k)))
					continue;
				expo_sample(w, prefix, "function_probe_hits", "_total", l,
					    ARRAY_SIZE(l), NULL, expo_u64(value, f->hits[k]));
			}
		}
	}
	expo_header(w, prefix, "function_events", METRIC_COUNTER,
		    "Calls of declared functions not counted, or counted only under \"{other}\", "
		    "by event.");
	for (size_t k = 0; k < SOCKEYE_FUNC_STAT_MAX; k++) {
		const struct sockeye_label l = {"event", func_stat_names[k]};

		expo_sample(w, prefix, "function_events", "_total", &l, 1, NULL,
			    expo_u64(value, fs->stats[k]));
	}
}
