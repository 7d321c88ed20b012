/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* funcs_snapshot.h - the function metrics of a scrape: collect_funcs.c fills it, render_funcs.c
 * prints it. Plain C; no BPF types. */
#ifndef SOCKEYE_FUNCS_SNAPSHOT_H
#define SOCKEYE_FUNCS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

/* Longest label value kept: a value name, a number or a string label (63 bytes read). */
#define SOCKEYE_FUNC_VALUE_LEN 128

/* One series of a declared family, per-CPU values summed. */
struct sockeye_func_series {
	char values[SOCKEYE_FUNC_MAX_LABELS][SOCKEYE_FUNC_VALUE_LEN]; /* as exported */
	const struct sockeye_identity *identity;		      /* NULL: no identity labels */
	uint64_t count;
	uint64_t sum_ns;		 /* histograms */
	__u64 buckets[SOCKEYE_SLOTS];	 /* histograms: per bucket, not cumulative */
	/* The process group behind it, for naming (collect only). */
	uint64_t cgroup_id;
	char comm[16];
	uint32_t tgid;
};

/* A declared family. The strings belong to the declaration (funcs.c) and live as long as it:
 * a scrape holds the agent lock, which a reload needs too. */
struct sockeye_func_family {
	const char *metric; /* as declared; a counter's ends in _total */
	const char *help;
	const char *binary;
	uint8_t type; /* enum sockeye_func_type */
	uint8_t usdt; /* 1: a USDT probe (its hits are entry hits) */
	const char *label_names[SOCKEYE_FUNC_MAX_LABELS];
	size_t n_labels;
	uint64_t bounds_ns[SOCKEYE_MAX_BUCKETS];
	size_t n_bounds;
	struct sockeye_func_series *series; /* sorted by values, then identity; unique */
	size_t n_series;
	uint32_t probes_attached, probes_failed;
	uint8_t hit_kinds; /* bit enum sockeye_func_hit: which hits it has */
	uint64_t hits[SOCKEYE_FUNC_HIT_MAX];
};

struct sockeye_func_snapshot {
	struct sockeye_func_family *families; /* sorted by metric */
	size_t n_families;
	uint64_t stats[SOCKEYE_FUNC_STAT_MAX]; /* enum sockeye_func_stat */
};

#endif /* SOCKEYE_FUNCS_SNAPSHOT_H */
