/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* db.bpf.h - what the database client modules (redis, postgres) share: the maps of
 * include/sockeye_db.h, the db histogram bounds, and the helpers that count into them.
 * Nothing here knows a protocol: a module hands in names and durations. */
#ifndef SOCKEYE_DB_BPF_H
#define SOCKEYE_DB_BPF_H

#include "hist.bpf.h"
#include "sockeye.h"
#include "sockeye_db.h"

/* Written by the loader before load (--redis.disable, --postgresql.disable): a disabled
 * system is never detected. The bounds (db_bounds_ns, n_db_bounds) and the histogram add
 * (sockeye_db_dur_add) are hist.bpf.h's. */
const volatile __u8 db_enabled[SOCKEYE_DB_SYSTEM_MAX] = {};

/* (system, name) -> 1: the operation names exported as themselves (loader: db_ops.c). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCKEYE_DB_OPS_ENTRIES);
	__type(key, struct sockeye_db_op_key);
	__type(value, __u8);
} db_ops SEC(".maps");

/* db_client_operation_duration_seconds. Allocated as series appear (see http_dur). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SOCKEYE_DB_ENTRIES);
	__type(key, struct sockeye_db_key);
	__type(value, struct sockeye_http_val);
} db_dur SEC(".maps");

/* sockeye_db_client_cache_lookups_total */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SOCKEYE_DB_ENTRIES);
	__type(key, struct sockeye_db_cache_key);
	__type(value, struct sockeye_db_cache_val);
} db_cache SEC(".maps");

/* db_client_connection_count: per-CPU signed sums (an open and its close may run on two
 * CPUs); never deleted, so a group's gauges go back to 0, not away. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SOCKEYE_DB_CONN_ENTRIES);
	__type(key, struct sockeye_db_conn_key);
	__type(value, struct sockeye_db_conn_val);
} db_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOCKEYE_DB_STAT_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} db_stats SEC(".maps");

static __always_inline void db_stat(__u32 system, __u32 stat)
{
	__u32 k = system * SOCKEYE_DB_STAT_MAX + stat;
	__u64 *v = bpf_map_lookup_elem(&db_stats, &k);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* name when it is in db_ops for system, else all zero (_OTHER). Both 16 bytes. */
static __always_inline void db_op_name(__u8 system, const char *name, char *out)
{
	struct sockeye_db_op_key k = {};

	k.system = system;
	__builtin_memcpy(k.name, name, SOCKEYE_DB_NAME_LEN);
	if (bpf_map_lookup_elem(&db_ops, &k))
		__builtin_memcpy(out, name, SOCKEYE_DB_NAME_LEN);
	else
		__builtin_memset(out, 0, SOCKEYE_DB_NAME_LEN);
}

/* One finished operation into db_dur (key built by the caller, pad zeroed). */
static __always_inline void db_record(struct sockeye_db_key *key, __u64 dur_ns)
{
	static const struct sockeye_http_val zero = {};
	struct sockeye_http_val *v = bpf_map_lookup_elem(&db_dur, key);

	if (!v) {
		bpf_map_update_elem(&db_dur, key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&db_dur, key);
		if (!v) {
			db_stat(key->system, SOCKEYE_DB_STAT_MAP_FULL);
			return;
		}
	}
	sockeye_db_dur_add(v, dur_ns);
}

/* hits and misses of one reply into db_cache. */
static __always_inline void db_cache_add(struct sockeye_db_cache_key *key, __u32 hits,
					 __u32 misses)
{
	static const struct sockeye_db_cache_val zero = {};
	struct sockeye_db_cache_val *v = bpf_map_lookup_elem(&db_cache, key);

	if (!v) {
		bpf_map_update_elem(&db_cache, key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&db_cache, key);
		if (!v) {
			db_stat(key->system, SOCKEYE_DB_STAT_MAP_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&v->hits, hits);
	__sync_fetch_and_add(&v->misses, misses);
}

#ifndef BARRIER_VAR
#define BARRIER_VAR(v) asm volatile("" : "+r"(v))
#endif

/* The modules step a segment's bytes through windows of DB_WIN. */
#define DB_WIN 64

/* Loads skb's bytes [pos, min(end, pos + DB_WIN)) into buf (pos < end); returns how many, 0
 * when the load failed. */
static __always_inline __u32 db_win_load(struct __sk_buff *skb, __u32 pos, __u32 end, char *buf)
{
	__u32 len = end - pos;

	if (len > DB_WIN)
		len = DB_WIN;
	/* 1..DB_WIN, in a form the 6.1 verifier bounds away from 0. */
	BARRIER_VAR(len);
	len = ((len - 1) & (DB_WIN - 1)) + 1;
	if (bpf_skb_load_bytes(skb, pos, buf, len))
		return 0;
	return len;
}

/* Adds d_open and d_used to a connection group's gauges. */
static __always_inline void db_conn_add(__u64 cgroup_id, __u16 server_port, __u8 system,
					__s64 d_open, __s64 d_used)
{
	static const struct sockeye_db_conn_val zero = {};
	struct sockeye_db_conn_key k = {};
	struct sockeye_db_conn_val *v;

	k.cgroup_id = cgroup_id;
	k.server_port = server_port;
	k.system = system;
	v = bpf_map_lookup_elem(&db_conns, &k);
	if (!v) {
		bpf_map_update_elem(&db_conns, &k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&db_conns, &k);
		if (!v) {
			db_stat(system, SOCKEYE_DB_STAT_MAP_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&v->open, d_open);
	__sync_fetch_and_add(&v->used, d_used);
}

#endif /* SOCKEYE_DB_BPF_H */
