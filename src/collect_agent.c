// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* collect_agent.c - the agent's own family group: the parser's event counters
 * (sockeye_stats), the BPF programs' and maps' statistics, the features, and the TLS probes'
 * libraries and counters. Reads only. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect_group.h"
#include "merge.h"
#include "tls.h"

static __u64 count_keys(int fd, __u32 key_size)
{
	char key[256], next[256]; /* fn_counts keys are 192 bytes */
	void *prev = NULL;
	__u64 n = 0;

	if (key_size > sizeof(key))
		return 0;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

static void u64_add(void *acc, const void *v)
{
	*(uint64_t *)acc += *(const __u64 *)v;
}

/* n counters of a per-CPU array from index first, summed over CPUs into out (vals: ncpu
 * scratch values; NULL when they could not be had: the counters stay 0). */
static void sum_counters(int fd, uint64_t *out, __u32 first, __u32 n, __u64 *vals, int ncpu)
{
	for (__u32 i = 0; vals && i < n; i++) {
		__u32 key = first + i;

		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		merge_percpu(&out[i], vals, ncpu, sizeof(*vals), u64_add);
	}
}

/* The TLS probes: attached libraries and their counters (tls_valid stays 0 without TLS). */
static void collect_tls(const struct loader_fds *fds, struct sockeye_snapshot *snap,
			__u64 *vals, int ncpu)
{
	if (!fds->tls)
		return;
	snap->tls_valid = 1;
	snap->tls_libs = tls_libraries(fds->tls, &snap->n_tls_libs);
	sum_counters(fds->tls_stats, snap->tls_stats, 0, SOCKEYE_TLS_STAT_MAX, vals, ncpu);
	for (size_t l = 0; l < snap->n_tls_libs; l++) {
		struct sockeye_tls_library *lib = &snap->tls_libs[l];

		sum_counters(tls_hits_fd(fds->tls), lib->hits, lib->slot * SOCKEYE_TLS_PROBE_MAX,
			     SOCKEYE_TLS_PROBE_MAX, vals, ncpu);
		sum_counters(tls_attr_fd(fds->tls), lib->attr, lib->slot * SOCKEYE_TLS_ATTR_MAX,
			     SOCKEYE_TLS_ATTR_MAX, vals, ncpu);
	}
}

static void collect_objects(const struct loader_fds *fds, struct sockeye_snapshot *snap)
{
	snap->features = fds->features;
	snap->n_features = fds->n_features;
	snap->progs = calloc(fds->n_progs, sizeof(*snap->progs));
	snap->maps = calloc(fds->n_maps, sizeof(*snap->maps));
	if (!snap->progs || !snap->maps)
		return;
	for (size_t i = 0; i < fds->n_progs; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(fds->progs[i], &info, &len))
			continue;
		struct sockeye_prog_stat *p = &snap->progs[snap->n_progs++];

		snprintf(p->name, sizeof(p->name), "%s",
			 fds->prog_names[i] ? fds->prog_names[i] : (const char *)info.name);
		p->run_cnt = info.run_cnt;
		p->run_time_ns = info.run_time_ns;
		p->verified_insns = info.verified_insns;
	}
	for (size_t i = 0; i < fds->n_maps; i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(fds->maps[i], &info, &len))
			continue;
		struct sockeye_map_stat *m = &snap->maps[snap->n_maps++];

		snprintf(m->name, sizeof(m->name), "%s", info.name);
		m->capacity = info.max_entries;
		m->entries = count_keys(fds->maps[i], info.key_size);
	}
}

/* Nothing here fails the scrape: a counter that cannot be read stays 0. */
static int collect_agent(const struct collect_ctx *ctx, struct sockeye_snapshot *snap)
{
	__u64 *vals = calloc(ctx->ncpu, sizeof(*vals));

	sum_counters(ctx->fds->stats, snap->stats, 0, SOCKEYE_STAT_MAX, vals, ctx->ncpu);
	collect_objects(ctx->fds, snap);
	collect_tls(ctx->fds, snap, vals, ctx->ncpu);
	free(vals);
	return 0;
}

static void free_agent(struct sockeye_snapshot *snap)
{
	free(snap->progs);
	free(snap->maps);
	free(snap->tls_libs);
}

const struct collect_group collect_group_agent = {
	.what = SOCKEYE_MAP_STATS,
	.collect = collect_agent,
	.free = free_agent,
};
