// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* render_identity.c - the identity pass's families -> service_process_* (the observed services'
 * processes) and sockeye_identity_cache_*; pure: no syscalls or globals. */
#include <stdint.h>

#include "render_group.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Sync note: indexed by enum sockeye_id_cache (src/snapshot.h). */
static const char *const id_cache_names[] = {
	[SOCKEYE_ID_CACHE_SERIES] = "series",
	[SOCKEYE_ID_CACHE_PROCESS] = "process",
	[SOCKEYE_ID_CACHE_CGROUP] = "cgroup",
};
_Static_assert(ARRAY_SIZE(id_cache_names) == SOCKEYE_ID_CACHE_MAX,
	       "id_cache_names[] out of sync with enum sockeye_id_cache");

/* --- The observed services' own processes and the identity cache --------------------------- */

/* Named like the process_* families a client library gives a service, so the same queries
 * work with service_ in front; the identity labels say whose processes they are. */
void render_services(const struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char value[EXPO_NUMBER_LEN];
	struct expo_labels lb;
	size_t i;

	if (!snap->n_services)
		return;
	expo_header(&c->w, "", "service_process_cpu_seconds", METRIC_COUNTER,
		    "Total user and system CPU time spent in seconds by the live processes of "
		    "each observed service.");
	for (i = 0; i < snap->n_services; i++) {
		const struct sockeye_label *labels =
			expo_with_identity(&lb, NULL, 0, snap->services[i].identity);

		expo_sample(&c->w, "", "service_process_cpu_seconds", "_total", labels, lb.n, NULL,
			    expo_double(value, snap->services[i].cpu_seconds));
	}
	expo_header(&c->w, "", "service_process_resident_memory_bytes", METRIC_GAUGE,
		    "Resident memory size in bytes of the live processes of each observed "
		    "service.");
	for (i = 0; i < snap->n_services; i++) {
		const struct sockeye_label *labels =
			expo_with_identity(&lb, NULL, 0, snap->services[i].identity);

		expo_sample(&c->w, "", "service_process_resident_memory_bytes", "", labels, lb.n,
			    NULL, expo_u64(value, snap->services[i].resident_bytes));
	}
}

void render_id_cache(const struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char value[EXPO_NUMBER_LEN];
	size_t i;

	if (!snap->id_cache_valid)
		return;
	expo_header(&c->w, c->self_prefix, "identity_cache_entries", METRIC_GAUGE,
		    "Entries in each of sockeye's identity label caches.");
	for (i = 0; i < SOCKEYE_ID_CACHE_MAX; i++) {
		const struct sockeye_label label = { "cache", id_cache_names[i] };

		expo_sample(&c->w, c->self_prefix, "identity_cache_entries", "", &label, 1, NULL,
			    expo_u64(value, snap->id_cache_entries[i]));
	}
	expo_header(&c->w, c->self_prefix, "identity_cache_evictions", METRIC_COUNTER,
		    "Entries evicted from each identity label cache: series gone from the kernel "
		    "map, processes that exited, cgroups that were removed.");
	for (i = 0; i < SOCKEYE_ID_CACHE_MAX; i++) {
		const struct sockeye_label label = { "cache", id_cache_names[i] };

		expo_sample(&c->w, c->self_prefix, "identity_cache_evictions", "_total", &label, 1, NULL,
			    expo_u64(value, snap->id_cache_evictions[i]));
	}
}
