/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* filter.bpf.h - the agent config's port and cgroup filters, shared by every BPF object: the
 * loader writes the same tunables into each, so all paths count the same connections. */
#ifndef SOCKEYE_FILTER_BPF_H
#define SOCKEYE_FILTER_BPF_H

#include <bpf/bpf_core_read.h>

/* Sync note: TLS_FILTER_MAX in src/tls.h (the loader copies these tunables). */
#define FILTER_MAX 64
const volatile __u16 include_ports[FILTER_MAX] = {};
const volatile __u32 n_include_ports = 0;
const volatile __u16 exclude_ports[FILTER_MAX] = {};
const volatile __u32 n_exclude_ports = 0;
const volatile __u64 include_cgroups[FILTER_MAX] = {}; /* cgroup ids */
const volatile __u32 include_cgroup_levels[FILTER_MAX] = {};
const volatile __u32 n_include_cgroups = 0;
const volatile __u64 exclude_cgroups[FILTER_MAX] = {};
const volatile __u32 exclude_cgroup_levels[FILTER_MAX] = {};
const volatile __u32 n_exclude_cgroups = 0;

static __always_inline int port_wanted(__u16 port)
{
	__u32 i;

	for (i = 0; i < FILTER_MAX && i < n_exclude_ports; i++)
		if (exclude_ports[i] == port)
			return 0;
	if (n_include_ports == 0)
		return 1;
	for (i = 0; i < FILTER_MAX && i < n_include_ports; i++)
		if (include_ports[i] == port)
			return 1;
	return 0;
}

/* Where the filtered cgroup comes from; a constant in each caller, so each object keeps only
 * the helper its program type may call. */
enum filter_from {
	FILTER_SKB,  /* the socket of a segment (cgroup_skb) */
	FILTER_TASK, /* the current task (uprobes) */
	FILTER_SOCK, /* a socket seen from a tracepoint */
};

/* The id of the filtered cgroup's ancestor at level lvl (0 when it is not that deep). */
static __always_inline __u64 filter_ancestor(const int from, struct __sk_buff *skb,
					     const struct sock *sk, __u32 lvl)
{
	struct cgroup *cg, *anc;

	if (from == FILTER_SKB)
		return bpf_skb_ancestor_cgroup_id(skb, lvl);
	if (from == FILTER_TASK)
		return bpf_get_current_ancestor_cgroup_id(lvl);
	cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	if (lvl > (__u32)BPF_CORE_READ(cg, level) ||
	    bpf_probe_read_kernel(&anc, sizeof(anc),
				  (char *)cg + bpf_core_field_offset(struct cgroup, ancestors) +
					  lvl * sizeof(anc)))
		return 0;
	return BPF_CORE_READ(anc, kn, id);
}

/* A cgroup is wanted when it is not below an excluded one and, if any are included, below
 * an included one (or one of them). */
static __always_inline int cgroup_wanted(const int from, struct __sk_buff *skb,
					 const struct sock *sk)
{
	__u32 i;

	for (i = 0; i < FILTER_MAX && i < n_exclude_cgroups; i++)
		if (filter_ancestor(from, skb, sk, exclude_cgroup_levels[i]) == exclude_cgroups[i])
			return 0;
	if (n_include_cgroups == 0)
		return 1;
	for (i = 0; i < FILTER_MAX && i < n_include_cgroups; i++)
		if (filter_ancestor(from, skb, sk, include_cgroup_levels[i]) == include_cgroups[i])
			return 1;
	return 0;
}

#endif /* SOCKEYE_FILTER_BPF_H */
