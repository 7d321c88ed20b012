// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* collect.c - read BPF maps into a sockeye_snapshot; never writes to them. Every family group
 * is one entry of groups[]: its collector reads its maps (collect_<group>.c), then the series
 * of all groups are named in one identity pass and merged in one place (merge.h). */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "collect_group.h"
#include "log.h"

#ifndef SOCKEYE_VERSION
#define SOCKEYE_VERSION "unknown"
#endif
#ifndef SOCKEYE_REVISION
#define SOCKEYE_REVISION "unknown"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The family groups, in the order their maps are read and their series named. */
static const struct collect_group *const groups[] = {
	&collect_group_http,
	&collect_group_conns,
	&collect_group_funcs,
	&collect_group_db,
	&collect_group_agent,
};

/* What the config says of every family: bounds, static labels, the self prefix. */
static void snapshot_config(const struct sockeye_config *cfg, struct sockeye_snapshot *snap)
{
	memcpy(snap->bounds_ns, cfg->bounds_ns, cfg->n_bounds * sizeof(cfg->bounds_ns[0]));
	snap->n_bounds = cfg->n_bounds;
	memcpy(snap->size_bounds, cfg->size_bounds, cfg->n_size_bounds * sizeof(__u64));
	snap->n_size_bounds = cfg->n_size_bounds;
	snap->static_labels = cfg->labels;
	snap->n_static_labels = cfg->n_labels;
	snap->self_prefix = cfg->self_prefix;
	snap->version = SOCKEYE_VERSION;
	snap->revision = SOCKEYE_REVISION;
}

int collect_snapshot(const struct loader_fds *fds, const struct sockeye_config *cfg,
		     struct identity_cache *ids, struct sockeye_snapshot *snap)
{
	struct collect_ctx ctx = { .fds = fds, .cfg = cfg, .ncpu = libbpf_num_possible_cpus() };
	int err;

	memset(snap, 0, sizeof(*snap));
	snap->scrape_duration_seconds = -1;
	if (ctx.ncpu <= 0)
		return ctx.ncpu ? ctx.ncpu : -EINVAL;
	snapshot_config(cfg, snap);
	for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
		err = groups[g]->collect(&ctx, snap);
		if (err) {
			pr_warn("reading %s: %s", groups[g]->what, strerror(-err));
			return err;
		}
	}
	if (ids) {
		err = collect_identities(&ctx, groups, ARRAY_SIZE(groups), ids, snap);
		if (err)
			pr_warn("resolving identity labels: %s", strerror(-err));
	}
	for (size_t g = 0; g < ARRAY_SIZE(groups); g++)
		if (groups[g]->merge)
			groups[g]->merge(snap);
	return 0;
}

void collect_free(struct sockeye_snapshot *snap)
{
	for (size_t g = 0; g < ARRAY_SIZE(groups); g++)
		if (groups[g]->free)
			groups[g]->free(snap);
	free(snap->identities);
	free(snap->services);
	memset(snap, 0, sizeof(*snap));
}
