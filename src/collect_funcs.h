/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* collect_funcs.h - the function metrics maps -> snap->funcs; reads only. Called by
 * collect.c in this order: collect_funcs, collect_funcs_identities (inside the identity
 * pass), collect_funcs_merge; collect_funcs_free from collect_free. */
#ifndef SOCKEYE_COLLECT_FUNCS_H
#define SOCKEYE_COLLECT_FUNCS_H

#include <stddef.h>

#include "snapshot.h"

struct funcs;
struct identity_cache;
struct sockeye_func_snapshot;

/* Fills snap->funcs from the maps (nothing when f is NULL). Returns 0 or -ENOMEM. */
int collect_funcs(const struct funcs *f, struct sockeye_snapshot *snap);
/* Names each series' process group (cgroup, comm) through the identity cache. */
void collect_funcs_identities(struct identity_cache *ids, struct sockeye_snapshot *snap);
/* Sorts each family's series and sums those whose exported labels are equal. */
void collect_funcs_merge(struct sockeye_snapshot *snap);
void collect_funcs_free(struct sockeye_func_snapshot *fs);

/* A string label as exported: UTF-8, and a character the kernel's cut split is dropped.
 * Exposed for tests. */
void collect_funcs_string(const char *raw, char *out, size_t size);

#endif /* SOCKEYE_COLLECT_FUNCS_H */
