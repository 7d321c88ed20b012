/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* collect.h - BPF maps -> struct sockeye_snapshot; reads only, never writes or resets. */
#ifndef SOCKEYE_COLLECT_H
#define SOCKEYE_COLLECT_H

#include "config.h"
#include "loader.h"
#include "snapshot.h"

struct identity_cache;

/* Fills snap from the maps (per-CPU values summed, series merged and sorted) and from cfg
 * (bounds, static labels, prefix). With ids, series carry identity labels and the services'
 * processes are measured (NULL: neither). Returns 0 or a negative errno; free with
 * collect_free. */
int collect_snapshot(const struct loader_fds *fds, const struct sockeye_config *cfg,
		     struct identity_cache *ids, struct sockeye_snapshot *snap);
void collect_free(struct sockeye_snapshot *snap);

/* Orders series by role, port, route, method, status, version, identity labels; exposed for
 * tests. */
int collect_series_cmp(const void *a, const void *b);
/* Sorts HTTP series and merges those whose labels are equal (the same key in http_dur and its
 * spill map, the same route and service in two cgroups): what collect_snapshot does to them
 * after naming them. Returns the new count. */
size_t collect_merge(struct sockeye_http_series *s, size_t n);

#endif /* SOCKEYE_COLLECT_H */
