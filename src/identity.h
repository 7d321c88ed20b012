/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* identity.h - cgroup ids, ports and owner pids -> service and container labels; bounded cache.
 * The public interface of identity.c and of the sources it combines. */
#ifndef SOCKEYE_IDENTITY_H
#define SOCKEYE_IDENTITY_H

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "snapshot.h"

/* The sources, each with its parsers (tests/unit/test_identity.c) and its I/O. */
#include "identity_cgroup.h" /* cgroup id -> path -> container id, pod uid */
#include "identity_k8s.h"    /* pod uid -> namespace, pod, container names */
#include "identity_proc.h"   /* /proc/PID -> name, executable, OTEL_SERVICE_NAME, listeners */

/* ---- Pure helpers (no I/O; tests/unit/test_identity.c) ---------------------------------- */

/* The first rule whose every criterion holds. exe_real[i] is rules[i].exe with symlinks
 * resolved (or NULL); exe may be NULL (unknown: rules with exe never match). cgroup matches
 * the rule's cgroup and every cgroup below it. Returns NULL when none matches. */
const struct sockeye_identity_rule *identity_match_rule(const struct sockeye_identity_rule *rules,
							const char *const *exe_real, size_t n,
							const char *exe, uint16_t port,
							const char *cgroup);

/* Copies s into out (size bytes) as valid UTF-8: invalid bytes become '?', and a cut never
 * splits a character. */
void identity_copy_utf8(char *out, size_t size, const char *s, size_t len);

/* ---- The cache -------------------------------------------------------------------------- */

struct identity_options {
	const char *cgroup_root;  /* the cgroup2 mount (loader_find_cgroup2) */
	const char *pods_log_dir; /* --kubernetes.pods-log-dir */
	const char *proc_root;	  /* "/proc" unless a test says otherwise */
	const struct sockeye_identity_rule *rules;
	size_t n_rules;
};

/* One series group to name: the fields of struct sockeye_owner_key, and the sock_owner value
 * for it (NULL when the map has none). */
struct identity_query {
	__u64 cgroup_id;
	__u16 server_port;
	__u8 role;    /* enum sockeye_role, or IDENTITY_ROLE_PROCESS */
	__u32 group;  /* tells groups of one cgroup, role and port apart; 0 for HTTP's */
	const struct sockeye_owner *owner;
};

/* The role of a function metrics' process group (collect_funcs.c): no port, no listener; its
 * group is a hash of its comm, its owner the last process seen counting. */
#define IDENTITY_ROLE_PROCESS SOCKEYE_ROLE_MAX

struct identity_cache;

/* Returns NULL with errno set. */
struct identity_cache *identity_new(const struct identity_options *o);
void identity_free(struct identity_cache *c); /* NULL-safe */

/* One pass per scrape: begin, resolve each series group once, end. Entries not resolved in a
 * pass, processes that exited and cgroups that were removed are evicted at the end; labels
 * already given to a series group stay with it while it is resolved in every pass. */
void identity_begin(struct identity_cache *c);
void identity_resolve(struct identity_cache *c, const struct identity_query *q,
		      struct sockeye_identity *out);
void identity_end(struct identity_cache *c);

/* CPU time and resident memory summed over the live processes behind every series group
 * resolved to id in this pass. Returns 0, or -ENOENT when there are none. */
int identity_usage(const struct identity_cache *c, const struct sockeye_identity *id,
		   double *cpu_seconds, uint64_t *resident_bytes);

/* Entries now and evictions so far, per enum sockeye_id_cache. */
void identity_stats(const struct identity_cache *c, uint64_t *entries, uint64_t *evictions);

#endif /* SOCKEYE_IDENTITY_H */
