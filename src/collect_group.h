/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* collect_group.h - what a family group's collector (collect_<group>.c) gives collect.c, which
 * lists every group in one table and runs them: read the maps, name the series through the
 * identity cache, merge (merge.h). Adding a protocol's families is adding a group. */
#ifndef SOCKEYE_COLLECT_GROUP_H
#define SOCKEYE_COLLECT_GROUP_H

#include "config.h"
#include "identity.h"
#include "loader.h"
#include "snapshot.h"

/* What every collector reads from. */
struct collect_ctx {
	const struct loader_fds *fds;
	const struct sockeye_config *cfg;
	int ncpu; /* per-CPU maps hold this many values per key */
};

/* Called by a group for each series to name: q says which series group it belongs to (with
 * q->owner NULL, the sock_owner map is asked for it); slot receives the snapshot's shared
 * identity with those labels (NULL: none). q is copied. */
typedef void (*collect_visit_fn)(void *arg, const struct identity_query *q,
				 const struct sockeye_identity **slot);

struct collect_group {
	const char *what; /* for the log: "reading <what>: ..." */
	/* Reads the group's maps into snap, per-CPU values summed. 0 or a negative errno. */
	int (*collect)(const struct collect_ctx *ctx, struct sockeye_snapshot *snap);
	/* Visits each series that carries identity labels (NULL: none do). */
	void (*identify)(struct sockeye_snapshot *snap, collect_visit_fn visit, void *arg);
	/* Its identities are observed services: service_process_* are measured for them. */
	int services;
	/* Sorts the series and merges those whose exported labels are equal (NULL: nothing). */
	void (*merge)(struct sockeye_snapshot *snap);
	void (*free)(struct sockeye_snapshot *snap); /* NULL: nothing owned */
};

/* The groups (collect_http.c, collect_conns.c, collect_funcs.c, collect_db.c,
 * collect_agent.c). */
extern const struct collect_group collect_group_http;
extern const struct collect_group collect_group_conns;
extern const struct collect_group collect_group_funcs;
extern const struct collect_group collect_group_db; /* collect_db.c */
extern const struct collect_group collect_group_agent;

/* The identity pass (collect_identity.c): names every group's series once, shares equal
 * identities, measures the services' processes and reads the cache's own counts. */
int collect_identities(const struct collect_ctx *ctx, const struct collect_group *const *groups,
		       size_t n_groups, struct identity_cache *ids, struct sockeye_snapshot *snap);

#endif /* SOCKEYE_COLLECT_GROUP_H */
