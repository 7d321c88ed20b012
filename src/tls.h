/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tls.h - HTTPS without keys: finds the libssl files processes map, attaches the TLS object's
 * uprobes once per library inode where tls_derive.c says, and follows processes as they exec
 * and exit. Owned by loader.c (tls_start/tls_stop). */
#ifndef SOCKEYE_TLS_H
#define SOCKEYE_TLS_H

#include <linux/types.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "snapshot.h"

struct bpf_object;
struct progload_report;
struct tls;

/* Same size as FILTER_MAX in bpf/filter.bpf.h (checked in loader.c). */
#define TLS_FILTER_MAX 64

/* The socket hooks' tunables, as the loader computed them: the TLS object uses the same. */
struct tls_tunables {
	__u64 bounds_ns[SOCKEYE_MAX_BUCKETS];
	__u32 n_bounds;
	__u16 include_ports[TLS_FILTER_MAX];
	__u32 n_include_ports;
	__u16 exclude_ports[TLS_FILTER_MAX];
	__u32 n_exclude_ports;
	__u64 include_cgroups[TLS_FILTER_MAX];
	__u32 include_cgroup_levels[TLS_FILTER_MAX];
	__u32 n_include_cgroups;
	__u64 exclude_cgroups[TLS_FILTER_MAX];
	__u32 exclude_cgroup_levels[TLS_FILTER_MAX];
	__u32 n_exclude_cgroups;
};

/* Loads the TLS object sharing main_obj's maps (every map of the same name, except the
 * per-object scratch maps), attaches its tracepoints and the uprobes of every libssl found
 * (system library directories, /proc/PID/maps), then follows processes in a thread. Each
 * program's verifier figures are appended to report. Returns
 * NULL with errno set after logging what failed. */
struct tls *tls_start(const struct sockeye_config *cfg, const struct bpf_object *main_obj,
		      const struct tls_tunables *tun, struct progload_report *report);
/* Detaches everything and frees (NULL-safe). */
void tls_stop(struct tls *t);
/* Lists the TLS object's programs in report as off, with why (HTTPS not started). */
void tls_report_off(struct progload_report *report, const char *why);
/* Logs (and prints to out when not NULL) which library is probed how. */
void tls_report(struct tls *t, FILE *out);

/* For collect.c: the attached libraries (thread-safe; returns a malloc'd array, *n entries,
 * NULL when none), and file descriptors of the TLS maps and programs. */
struct sockeye_tls_library *tls_libraries(struct tls *t, size_t *n);
int tls_stats_fd(const struct tls *t); /* sockeye_tls_events_total */
int tls_hits_fd(const struct tls *t);  /* sockeye_tls_probe_hits_total */
int tls_attr_fd(const struct tls *t);  /* sockeye_tls_attributions_total */
size_t tls_prog_fds(const struct tls *t, int *fds, const char **names, size_t max);
size_t tls_map_fds(const struct tls *t, int *fds, size_t max);

#endif /* SOCKEYE_TLS_H */
