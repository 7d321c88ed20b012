// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* render_agent.c - the agent's own family group -> sockeye_build_info, parser events, BPF
 * programs and maps, features, the TLS probes, the scrape's duration and process_*; pure: no
 * syscalls or globals. */
#include <stdint.h>

#include "render_group.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Sync note: indexed by enum sockeye_stat (include/sockeye.h); these are the event="" values
 * users alert on, so never rename one. */
static const char *const stat_names[] = {
	[SOCKEYE_STAT_ROUTE_TABLE_FULL] = "route_table_full",
	[SOCKEYE_STAT_HTTP_MAP_FULL] = "http_map_full",
	[SOCKEYE_STAT_PIPELINE_FULL] = "pipeline_full",
	[SOCKEYE_STAT_UNMATCHED_RESPONSE] = "unmatched_response",
	[SOCKEYE_STAT_RETRANSMIT] = "retransmit",
	[SOCKEYE_STAT_DESYNC] = "desync",
	[SOCKEYE_STAT_HEADER_TOO_LONG] = "header_too_long",
	[SOCKEYE_STAT_NOT_HTTP] = "not_http",
	[SOCKEYE_STAT_STORAGE_FAIL] = "storage_fail",
	[SOCKEYE_STAT_CONN_TABLE_FULL] = "conn_table_full",
	[SOCKEYE_STAT_SERIES_BUDGET] = "series_budget",
	[SOCKEYE_STAT_ROUTE_STATES_FULL] = "route_states_full",
};
_Static_assert(ARRAY_SIZE(stat_names) == SOCKEYE_STAT_MAX,
	       "stat_names[] out of sync with enum sockeye_stat");

/* Sync note: indexed by enum sockeye_tls_mode (src/snapshot.h); mode="" values. */
static const char *const tls_mode_names[] = {
	[SOCKEYE_TLS_MODE_INTERNAL] = "internal",
	[SOCKEYE_TLS_MODE_PUBLIC] = "public",
};
_Static_assert(ARRAY_SIZE(tls_mode_names) == SOCKEYE_TLS_MODE_MAX,
	       "tls_mode_names[] out of sync with enum sockeye_tls_mode");

/* Sync note: indexed by enum sockeye_tls_stat (include/sockeye.h); never rename one. */
static const char *const tls_stat_names[] = {
	[SOCKEYE_TLS_STAT_UNATTRIBUTED] = "unattributed",
	[SOCKEYE_TLS_STAT_SOCKET_CHANGED] = "socket_changed",
	[SOCKEYE_TLS_STAT_STATE_FAIL] = "state_fail",
};
_Static_assert(ARRAY_SIZE(tls_stat_names) == SOCKEYE_TLS_STAT_MAX,
	       "tls_stat_names[] out of sync with enum sockeye_tls_stat");

/* Sync note: indexed by enum sockeye_tls_probe (include/sockeye.h); never rename one. */
static const char *const tls_probe_names[] = {
	[SOCKEYE_TLS_PROBE_READ] = "read",
	[SOCKEYE_TLS_PROBE_READ_RETURN] = "read_return",
	[SOCKEYE_TLS_PROBE_WRITE] = "write",
	[SOCKEYE_TLS_PROBE_WRITE_RETURN] = "write_return",
	[SOCKEYE_TLS_PROBE_FREE] = "free",
};
_Static_assert(ARRAY_SIZE(tls_probe_names) == SOCKEYE_TLS_PROBE_MAX,
	       "tls_probe_names[] out of sync with enum sockeye_tls_probe");

/* Sync note: indexed by enum sockeye_tls_attr (include/sockeye.h); never rename one. */
static const char *const tls_attr_names[] = {
	[SOCKEYE_TLS_ATTR_SOCKET_BIO] = "socket_bio",
	[SOCKEYE_TLS_ATTR_IO_SCAN] = "io_scan",
};
_Static_assert(ARRAY_SIZE(tls_attr_names) == SOCKEYE_TLS_ATTR_MAX,
	       "tls_attr_names[] out of sync with enum sockeye_tls_attr");

static void put_build_info(const struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	const struct sockeye_label labels[] = {
		{ "version", snap->version ? snap->version : "unknown" },
		{ "revision", snap->revision ? snap->revision : "unknown" },
	};

	expo_header(&c->w, c->self_prefix, "build_info", METRIC_GAUGE,
		    "A metric with a constant '1' value labeled by version and revision of "
		    "sockeye.");
	expo_sample(&c->w, c->self_prefix, "build_info", "", labels, ARRAY_SIZE(labels), NULL, "1");
}

static void put_parser_events(const struct render_ctx *c)
{
	char value[EXPO_NUMBER_LEN];
	size_t i;

	expo_header(&c->w, c->self_prefix, "parser_events", METRIC_COUNTER,
		    "Requests, responses, segments and sockets the kernel HTTP parser dropped, "
		    "skipped or overflowed, by event.");
	for (i = 0; i < SOCKEYE_STAT_MAX; i++) {
		const struct sockeye_label label = { "event", stat_names[i] };

		expo_sample(&c->w, c->self_prefix, "parser_events", "_total", &label, 1, NULL,
			    expo_u64(value, c->snap->stats[i]));
	}
}

static void put_progs(const struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char name[sizeof(snap->progs->name) + 1], value[EXPO_SECONDS_LEN];
	const struct sockeye_label label = { "program", name };
	size_t i;

	if (!snap->n_progs)
		return;
	expo_header(&c->w, c->self_prefix, "bpf_program_runs", METRIC_COUNTER,
		    "Times each sockeye BPF program ran (counted while "
		    "kernel.bpf_stats_enabled=1).");
	for (i = 0; i < snap->n_progs; i++) {
		expo_bounded(name, snap->progs[i].name, sizeof(snap->progs[i].name));
		expo_sample(&c->w, c->self_prefix, "bpf_program_runs", "_total", &label, 1, NULL,
			    expo_u64(value, snap->progs[i].run_cnt));
	}
	expo_header(&c->w, c->self_prefix, "bpf_program_run_seconds", METRIC_COUNTER,
		    "Time spent running each sockeye BPF program in seconds (counted while "
		    "kernel.bpf_stats_enabled=1).");
	for (i = 0; i < snap->n_progs; i++) {
		expo_bounded(name, snap->progs[i].name, sizeof(snap->progs[i].name));
		expo_sample(&c->w, c->self_prefix, "bpf_program_run_seconds", "_total", &label, 1, NULL,
			    expo_seconds(value, snap->progs[i].run_time_ns));
	}
	expo_header(&c->w, c->self_prefix, "bpf_program_verified_instructions", METRIC_GAUGE,
		    "Instructions the kernel's verifier processed to load each sockeye BPF "
		    "program (its verification cost; the limit is 1000000).");
	for (i = 0; i < snap->n_progs; i++) {
		expo_bounded(name, snap->progs[i].name, sizeof(snap->progs[i].name));
		expo_sample(&c->w, c->self_prefix, "bpf_program_verified_instructions", "", &label, 1,
			    NULL, expo_u64(value, snap->progs[i].verified_insns));
	}
}

/* What this kernel runs of sockeye: 1 on, 0 off (the log says why, once, at start). */
static void put_features(const struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char value[EXPO_NUMBER_LEN];
	size_t i;

	if (!snap->n_features)
		return;
	expo_header(&c->w, c->self_prefix, "feature_enabled", METRIC_GAUGE,
		    "Whether a part of sockeye runs on this kernel (1) or is off (0; the log says "
		    "why at start).");
	for (i = 0; i < snap->n_features; i++) {
		const struct sockeye_label label = { "feature", snap->features[i].name };

		expo_sample(&c->w, c->self_prefix, "feature_enabled", "", &label, 1, NULL,
			    expo_u64(value, snap->features[i].enabled));
	}
}

static void put_maps(const struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char name[sizeof(snap->maps->name) + 1], value[EXPO_NUMBER_LEN];
	const struct sockeye_label label = { "map", name };
	size_t i;

	if (!snap->n_maps)
		return;
	expo_header(&c->w, c->self_prefix, "bpf_map_entries", METRIC_GAUGE,
		    "Entries currently in each sockeye BPF map.");
	for (i = 0; i < snap->n_maps; i++) {
		expo_bounded(name, snap->maps[i].name, sizeof(snap->maps[i].name));
		expo_sample(&c->w, c->self_prefix, "bpf_map_entries", "", &label, 1, NULL,
			    expo_u64(value, snap->maps[i].entries));
	}
	expo_header(&c->w, c->self_prefix, "bpf_map_capacity", METRIC_GAUGE,
		    "Maximum entries (max_entries) of each sockeye BPF map.");
	for (i = 0; i < snap->n_maps; i++) {
		expo_bounded(name, snap->maps[i].name, sizeof(snap->maps[i].name));
		expo_sample(&c->w, c->self_prefix, "bpf_map_capacity", "", &label, 1, NULL,
			    expo_u64(value, snap->maps[i].capacity));
	}
}

/* A library's row of counters of family name, one sample per names[i] as label. */
static void put_library_counters(const struct render_ctx *c, const struct sockeye_tls_library *t,
				 const char *name, const char *label, const char *const *names,
				 const uint64_t *vals, size_t n)
{
	char lib[SOCKEYE_TLS_LIBRARY_LEN + 1], value[EXPO_NUMBER_LEN];

	for (size_t k = 0; k < n; k++) {
		const struct sockeye_label labels[] = {
			{ "library", expo_bounded(lib, t->library, sizeof(t->library)) },
			{ label, names[k] },
		};

		expo_sample(&c->w, c->self_prefix, name, "_total", labels, ARRAY_SIZE(labels), NULL,
			    expo_u64(value, vals[k]));
	}
}

/* The OpenSSL libraries the TLS probes are attached to, and how (docs/tls.md); the TLS path's
 * counters. Omitted when TLS is disabled. */
void render_tls(const struct render_ctx *c)
{
	const struct sockeye_snapshot *snap = c->snap;
	char lib[SOCKEYE_TLS_LIBRARY_LEN + 1];
	size_t i;

	if (!snap->tls_valid)
		return;
	if (snap->n_tls_libs)
		expo_header(&c->w, c->self_prefix, "tls_probe_mode", METRIC_GAUGE,
			    "OpenSSL libraries probed for HTTPS, by where: mode=\"internal\" "
			    "(internal read/write functions) or mode=\"public\" (SSL_read/SSL_write, "
			    "a single-stepped breakpoint per call).");
	for (i = 0; i < snap->n_tls_libs; i++) {
		const struct sockeye_tls_library *t = &snap->tls_libs[i];
		const struct sockeye_label labels[] = {
			{ "library", expo_bounded(lib, t->library, sizeof(t->library)) },
			{ "mode", t->mode < ARRAY_SIZE(tls_mode_names) ? tls_mode_names[t->mode] : "" },
		};

		expo_sample(&c->w, c->self_prefix, "tls_probe_mode", "", labels, ARRAY_SIZE(labels), NULL,
			    "1");
	}
	if (snap->n_tls_libs)
		expo_header(&c->w, c->self_prefix, "tls_socket_bio_lookup", METRIC_GAUGE,
			    "1 when the probes of an OpenSSL library find an SSL object's socket "
			    "through its socket BIO's descriptor (offsets derived from the library), "
			    "0 when only by the socket I/O of its write calls.");
	for (i = 0; i < snap->n_tls_libs; i++) {
		const struct sockeye_tls_library *t = &snap->tls_libs[i];
		const struct sockeye_label label = {
			"library", expo_bounded(lib, t->library, sizeof(t->library))
		};

		expo_sample(&c->w, c->self_prefix, "tls_socket_bio_lookup", "", &label, 1, NULL,
			    t->fd_lookup ? "1" : "0");
	}
	if (snap->n_tls_libs)
		expo_header(&c->w, c->self_prefix, "tls_probe_hits", METRIC_COUNTER,
			    "Hits of the OpenSSL uprobes (each a breakpoint in the calling process), "
			    "by library and probe.");
	for (i = 0; i < snap->n_tls_libs; i++)
		put_library_counters(c, &snap->tls_libs[i], "tls_probe_hits", "probe",
				     tls_probe_names, snap->tls_libs[i].hits, SOCKEYE_TLS_PROBE_MAX);
	expo_header(&c->w, c->self_prefix, "tls_events", METRIC_COUNTER,
		    "TLS connections and calls the OpenSSL probes skipped or reset, by event.");
	for (i = 0; i < SOCKEYE_TLS_STAT_MAX; i++) {
		const struct sockeye_label label = { "event", tls_stat_names[i] };
		char value[EXPO_NUMBER_LEN];

		expo_sample(&c->w, c->self_prefix, "tls_events", "_total", &label, 1, NULL,
			    expo_u64(value, snap->tls_stats[i]));
	}
	if (snap->n_tls_libs)
		expo_header(&c->w, c->self_prefix, "tls_attributions", METRIC_COUNTER,
			    "TLS connections that learned their socket, by library and how: "
			    "method=\"socket_bio\" (the descriptor of the SSL object's socket BIO) or "
			    "method=\"io_scan\" (the one TCP socket of the process a call moved).");
	for (i = 0; i < snap->n_tls_libs; i++)
		put_library_counters(c, &snap->tls_libs[i], "tls_attributions", "method",
				     tls_attr_names, snap->tls_libs[i].attr, SOCKEYE_TLS_ATTR_MAX);
}

static void put_scrape_duration(const struct render_ctx *c)
{
	char value[EXPO_NUMBER_LEN];

	/* Also false for NaN: "unknown" is no sample, not a NaN sample. */
	if (!(c->snap->scrape_duration_seconds >= 0))
		return;
	expo_header(&c->w, c->self_prefix, "scrape_duration_seconds", METRIC_GAUGE,
		    "Time sockeye took to read its BPF maps for this scrape, in seconds.");
	expo_sample(&c->w, c->self_prefix, "scrape_duration_seconds", "", NULL, 0, NULL,
		    expo_double(value, c->snap->scrape_duration_seconds));
}

/* The process_* families under the names and HELP texts of the Prometheus client libraries,
 * so the dashboards made for those work unchanged. */
static void put_process(const struct render_ctx *c)
{
	const struct sockeye_process *p = &c->snap->process;
	char value[EXPO_NUMBER_LEN];

	if (!p->valid)
		return;
	expo_header(&c->w, "", "process_cpu_seconds", METRIC_COUNTER,
		    "Total user and system CPU time spent in seconds.");
	expo_sample(&c->w, "", "process_cpu_seconds", "_total", NULL, 0, NULL,
		    expo_double(value, p->cpu_seconds));
	expo_header(&c->w, "", "process_resident_memory_bytes", METRIC_GAUGE,
		    "Resident memory size in bytes.");
	expo_sample(&c->w, "", "process_resident_memory_bytes", "", NULL, 0, NULL,
		    expo_u64(value, p->resident_bytes));
	expo_header(&c->w, "", "process_virtual_memory_bytes", METRIC_GAUGE,
		    "Virtual memory size in bytes.");
	expo_sample(&c->w, "", "process_virtual_memory_bytes", "", NULL, 0, NULL,
		    expo_u64(value, p->virtual_bytes));
	expo_header(&c->w, "", "process_open_fds", METRIC_GAUGE, "Number of open file descriptors.");
	expo_sample(&c->w, "", "process_open_fds", "", NULL, 0, NULL, expo_u64(value, p->open_fds));
	expo_header(&c->w, "", "process_max_fds", METRIC_GAUGE,
		    "Maximum number of open file descriptors.");
	expo_sample(&c->w, "", "process_max_fds", "", NULL, 0, NULL, expo_u64(value, p->max_fds));
	expo_header(&c->w, "", "process_start_time_seconds", METRIC_GAUGE,
		    "Start time of the process since unix epoch in seconds.");
	expo_sample(&c->w, "", "process_start_time_seconds", "", NULL, 0, NULL,
		    expo_double(value, p->start_time_seconds));
}

void render_agent(const struct render_ctx *c)
{
	put_build_info(c);
	put_parser_events(c);
	put_progs(c);
	put_features(c);
	put_maps(c);
}

void render_process(const struct render_ctx *c)
{
	put_scrape_duration(c);
	put_process(c);
}
