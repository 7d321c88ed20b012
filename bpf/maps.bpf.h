/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* maps.bpf.h - the maps every sockeye BPF object shares (the loader hands the second object
 * the first one's map fds), and the tunables each object gets from the loader. */
#ifndef SOCKEYE_MAPS_BPF_H
#define SOCKEYE_MAPS_BPF_H

#include "sockeye.h"

/* Written by the loader before load (the verifier sees them as constants). */
const volatile __u64 bounds_ns[SOCKEYE_MAX_BUCKETS] = {};
const volatile __u32 n_bounds = 0;
const volatile __u64 size_bounds[SOCKEYE_SIZE_BOUNDS] = {};
const volatile __u32 n_size_bounds = 0;

/* http_server_request_duration_seconds, http_client_request_duration_seconds */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	/* Allocated per key as series appear: preallocated, 16384 keys of per-CPU values would
	 * cost 8.6 MB per CPU (550 MB on a 64-CPU host) before the first request. New keys
	 * are rare; lookups of existing ones cost the same. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SOCKEYE_HTTP_ENTRIES);
	__type(key, struct sockeye_http_key);
	__type(value, struct sockeye_http_val);
} http_dur SEC(".maps");

/* http_{server,client}_{request,response}_body_size_bytes, keyed like http_dur. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* as http_dur */
	__uint(max_entries, SOCKEYE_HTTP_ENTRIES);
	__type(key, struct sockeye_http_key);
	__type(value, struct sockeye_size_val);
} http_sizes SEC(".maps");

/* The preallocated fallbacks (sockeye.h): shared values, added to atomically like the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCKEYE_SPILL_ENTRIES);
	__type(key, struct sockeye_http_key);
	__type(value, struct sockeye_http_val);
} http_dur_spill SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCKEYE_SPILL_ENTRIES);
	__type(key, struct sockeye_http_key);
	__type(value, struct sockeye_size_val);
} http_size_spill SEC(".maps");

/* route_id -> route string, for the http_route label. max_entries set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCKEYE_ROUTE_ENTRIES_DEFAULT);
	__type(key, __u64);
	__type(value, struct sockeye_route);
} http_routes SEC(".maps");

/* http.routes: the patterns' segment trie and the route configuration (loader.c fills them,
 * a reload rewrites them). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCKEYE_ROUTE_TRIE_ENTRIES);
	__type(key, struct sockeye_route_edge);
	__type(value, struct sockeye_route_node);
} route_trie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sockeye_route_cfg);
} route_cfg SEC(".maps");

/* http.routes.unmatched: low_cardinality: literal values seen per (prefix, value), and how
 * many per prefix. LRU: junk that was never admitted does not stay. */
struct route_value_key {
	__u64 prefix;
	__u64 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKEYE_ROUTE_LEARN_ENTRIES);
	__type(key, struct route_value_key);
	__type(value, __u8);
} route_values SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKEYE_ROUTE_LEARN_ENTRIES);
	__type(key, __u64);
	__type(value, __u32);
} route_prefixes SEC(".maps");

/* Keys of http_dur created so far, against http.series_budget. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} http_series_n SEC(".maps");

/* sockeye_parser_events_total{event} */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOCKEYE_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sockeye_stats SEC(".maps");

/* Who owns the sockets behind a series: the process that sent the first request of a client
 * socket, or the first response of a server socket (both in process context). User space
 * turns it into service labels (identity.c). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKEYE_OWNER_ENTRIES);
	__type(key, struct sockeye_owner_key);
	__type(value, struct sockeye_owner);
} sock_owner SEC(".maps");

/* Zeroed values new series start from, never written. A map value: every kernel's helpers take
 * it as the value to insert (6.1 refuses memory that came into a global function as an
 * argument, such as a pointer into the scratch). */
struct zero_vals {
	struct sockeye_http_val dur;
	struct sockeye_size_val sizes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zero_vals);
} zero_vals SEC(".maps");

static __always_inline const struct zero_vals *zeros(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&zero_vals, &zero);
}

/* Nesting levels of the per-CPU scratch values (the HTTP scan's window, the stream core's
 * segment handed to a protocol program): a program can be interrupted on its CPU by another
 * one (task-context egress by softirq ingress or egress), so each level has its own slot. */
#define SCRATCH_SLOTS 4

/* Nesting depth of scanning programs on this CPU. Plain increments are safe: nested runs
 * finish (and restore the depth) before the run they interrupted resumes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} scratch_depth SEC(".maps");

/* Gives back a nesting level taken by scratch_get or stream_seg_put. */
static __always_inline void scratch_put(__u32 *depth)
{
	if (depth && *depth > 0)
		*depth -= 1;
}

/* Counters are added atomically even though they are per CPU: an interrupting program may
 * update the same value between our load and store. */
static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&sockeye_stats, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* The value of key in a series map, created from zero on first use. Another CPU may insert the
 * same key first: -EEXIST is fine, look up again. When the insert fails otherwise (the map is
 * full, or its allocator has nothing left on this CPU for now) the key is counted in the
 * preallocated spill map instead; NULL (counted) when that fails too. */
static __always_inline void *lookup_or_init(void *map, void *spill, const void *key,
					    const void *zero)
{
	void *val = bpf_map_lookup_elem(map, key);
	long err;

	if (val)
		return val;
	err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (!err || err == -17 /* EEXIST */)
		return bpf_map_lookup_elem(map, key);
	val = bpf_map_lookup_elem(spill, key);
	if (val)
		return val;
	err = bpf_map_update_elem(spill, key, zero, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST */) {
		stat_inc(SOCKEYE_STAT_HTTP_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(spill, key);
}

/* The current process as the owner of a series' sockets (sock_owner). A tgid of 0 is
 * interrupt context on an idle CPU: not an owner. */
static __always_inline void owner_put(__u64 cgroup_id, __u16 server_port, __u8 role)
{
	struct sockeye_owner_key k = {};
	struct sockeye_owner v = {};
	__u64 id = bpf_get_current_pid_tgid();

	if ((id >> 32) == 0)
		return;
	k.cgroup_id = cgroup_id;
	k.server_port = server_port;
	k.role = role;
	v.tgid = id >> 32;
	bpf_get_current_comm(v.comm, sizeof(v.comm));
	bpf_map_update_elem(&sock_owner, &k, &v, BPF_ANY);
}

#endif /* SOCKEYE_MAPS_BPF_H */
