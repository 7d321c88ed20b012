/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* loader.h - owns the BPF skeleton: open, configure rodata, load, attach, destroy. */
#ifndef SOCKEYE_LOADER_H
#define SOCKEYE_LOADER_H

#include <stddef.h>
#include <stdio.h>

#include "collect_db.h"
#include "config.h"
#include "snapshot.h"

#define LOADER_MAX_PROGS 32
#define LOADER_MAX_MAPS 16

struct funcs;
struct tls;

/* What collect.c needs to read: file descriptors and names, no libbpf objects. */
struct loader_fds {
	int http_dur;	 /* SOCKEYE_MAP_HTTP */
	int http_routes; /* SOCKEYE_MAP_ROUTES */
	int http_sizes;	 /* SOCKEYE_MAP_SIZES */
	int http_dur_spill;  /* SOCKEYE_MAP_HTTP_SPILL */
	int http_size_spill; /* SOCKEYE_MAP_SIZES_SPILL */
	int stats;	 /* SOCKEYE_MAP_STATS */
	int conn_slots;	 /* SOCKEYE_MAP_CONN_SLOTS */
	int conn_stats;	 /* SOCKEYE_MAP_CONN_STATS */
	int sock_owner;	 /* SOCKEYE_MAP_OWNER */
	int progs[LOADER_MAX_PROGS];
	const char *prog_names[LOADER_MAX_PROGS]; /* full names (the kernel keeps 15 bytes) */
	size_t n_progs;
	int maps[LOADER_MAX_MAPS]; /* maps whose fill is exported */
	size_t n_maps;
	const __u64 *rtt_bounds_us; /* the RTT histogram bounds the programs were loaded with */
	size_t n_rtt_bounds;
	const struct sockeye_feature_state *features; /* what this kernel runs, enum sockeye_feature */
	size_t n_features;
	struct tls *tls; /* attached OpenSSL libraries (tls.c); NULL: TLS disabled */
	int tls_stats;	 /* SOCKEYE_MAP_TLS_STATS, when tls is set */
	struct funcs *funcs; /* function metrics (funcs.c); NULL: the feature is off */
	struct collect_db_fds db; /* the db client maps; -1 when every db system is off */
};

struct loader;

/* Finds the cgroup v2 mount in /proc/mounts. Returns 0 or -ENOENT. */
int loader_find_cgroup2(char *buf, size_t len);

/* Opens, configures (buckets, filters, route table size), loads and attaches every program.
 * Returns NULL with errno set after logging what failed. */
struct loader *loader_start(const struct sockeye_config *cfg);
const struct loader_fds *loader_fds(const struct loader *l);
/* Logs (and prints to out when not NULL) which program is attached where. */
void loader_report(const struct loader *l, FILE *out);
/* Probe points of declared functions that did not attach (0 without functions): --check
 * fails on them. */
unsigned loader_failed_function_probes(const struct loader *l);
/* Replaces the function metrics with cfg's functions (funcs_reload), loading their programs
 * first if no function was declared so far. The caller holds off scrapes meanwhile. Returns
 * 0, -EINVAL (a declaration does not resolve: nothing changed) or the error of loading. */
int loader_reload_functions(struct loader *l, const struct sockeye_config *cfg);
/* Writes cfg's http.routes (patterns, ignored paths, unmatched mode) and series budget into
 * the kernel's route maps; on a reload, as a new generation that replaces the old one without
 * a gap. Counters of unchanged series go on. Returns 0 or a negative errno (logged). */
int loader_set_routes(struct loader *l, const struct sockeye_config *cfg);
/* Detaches everything and frees (NULL-safe). */
void loader_stop(struct loader *l);

#endif /* SOCKEYE_LOADER_H */
