/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tcp.bpf.h - TCP connection counting: sockeye_tcp_* (connections opened and closed per
 * direction, bytes, retransmissions, round-trip times), beside the stream core. The counters
 * of a group (cgroup, server port, side) live in conn_stats, which the HTTP module's in-flight
 * counts share (sockeye.h: struct sockeye_conn_val).
 *
 * Fed by the socket hooks (bytes of each segment, with the stream core's sequence figures) and
 * by tp_sock_state (sockeye.bpf.c: opens and closes).
 */
#ifndef SOCKEYE_TCP_BPF_H
#define SOCKEYE_TCP_BPF_H

#include <bpf/bpf_core_read.h>

#include "hist.bpf.h"
#include "maps.bpf.h"
#include "stream.bpf.h"

/* Tunables written by the loader before load (the verifier sees them as constants). */
const volatile __u64 rtt_bounds_us[SOCKEYE_RTT_BOUNDS] = {};
const volatile __u32 n_rtt_bounds = 0;
/* The local port range (net.ipv4.ip_local_port_range): a connection first seen after it was
 * established is outbound when its local port is in it. */
const volatile __u16 ephemeral_lo = 32768;
const volatile __u16 ephemeral_hi = 60999;

/* sockeye_tcp_*, http_*_active_requests: group -> index into conn_stats, allocated from
 * conn_next. A race between two CPUs allocating for one group wastes an index, never counts. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCKEYE_CONN_ENTRIES);
	__type(key, struct sockeye_conn_key);
	__type(value, __u32);
} conn_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOCKEYE_CONN_ENTRIES);
	__type(key, __u32);
	__type(value, struct sockeye_conn_val);
} conn_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} conn_next SEC(".maps");

/* The conn_stats index of a group, allocated on first use; returns index + 1, 0 when full. */
static __always_inline __u32 conn_slot(__u64 cgroup_id, __u16 port, __u8 side)
{
	struct sockeye_conn_key k = {};
	__u32 *idx, *next, zero = 0, n;

	k.cgroup_id = cgroup_id;
	k.server_port = port;
	k.side = side;
	idx = bpf_map_lookup_elem(&conn_slots, &k);
	if (idx)
		return *idx + 1;
	next = bpf_map_lookup_elem(&conn_next, &zero);
	if (!next)
		return 0;
	n = __sync_fetch_and_add(next, 1);
	if (n >= SOCKEYE_CONN_ENTRIES) {
		stat_inc(SOCKEYE_STAT_CONN_TABLE_FULL);
		return 0;
	}
	if (bpf_map_update_elem(&conn_slots, &k, &n, BPF_NOEXIST)) {
		idx = bpf_map_lookup_elem(&conn_slots, &k); /* another CPU won: use its index */
		return idx ? *idx + 1 : 0;
	}
	return n + 1;
}

static __always_inline struct sockeye_conn_val *conn_val(__u32 slot)
{
	__u32 idx = slot - 1;

	if (!slot)
		return NULL;
	return bpf_map_lookup_elem(&conn_stats, &idx);
}

/* The cgroup v2 id of a socket seen from a tracepoint. */
static __always_inline __u64 sk_cgroup_id(const struct sock *sk)
{
	struct cgroup *cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	struct kernfs_node *kn = BPF_CORE_READ(cg, kn);

	return BPF_CORE_READ(kn, id);
}

static __always_inline int is_ephemeral(__u16 local_port)
{
	return local_port >= ephemeral_lo && local_port <= ephemeral_hi;
}

/* Starts counting a connection in its group: opened + 1. */
static __always_inline void tcp_open(struct stream_state *s, __u64 cgroup_id, __u16 port,
				     __u8 side)
{
	struct sockeye_conn_val *v;

	if (s->tcp_tracked)
		return;
	s->tcp_side = side;
	s->tcp_port = port;
	s->tcp_slot = conn_slot(cgroup_id, port, side);
	v = conn_val(s->tcp_slot);
	if (!v)
		return;
	s->tcp_tracked = 1;
	__sync_fetch_and_add(&v->opened, 1);
}

/* A connection seen for the first time after it was established (open before the agent
 * started): its direction is guessed from the local port. */
static __always_inline void tcp_first_sight(struct stream_state *s, __u64 cgroup_id,
					    __u16 local_port, __u16 remote_port)
{
	if (is_ephemeral(local_port))
		tcp_open(s, cgroup_id, remote_port, SOCKEYE_ROLE_CLIENT);
	else
		tcp_open(s, cgroup_id, local_port, SOCKEYE_ROLE_SERVER);
}

/* Payload bytes of one segment of len bytes, from the stream core's figures (stream_seq):
 * retransmitted bytes are not counted again (and a retransmitted segment sent is counted as
 * one); a gap is counted now, and the bytes filling it later arrive as a retransmission. */
static __always_inline void tcp_account(struct stream_state *s, const int egress, int fresh,
					__u32 len, __u32 skip, __u32 gap)
{
	struct sockeye_conn_val *v = conn_val(s->tcp_slot);

	if (!v)
		return;
	if (egress && (!fresh || skip)) {
		__sync_fetch_and_add(&v->retrans, 1);
		s->retrans++;
	}
	if (!fresh)
		return;
	if (egress)
		__sync_fetch_and_add(&v->bytes_sent, gap + len - skip);
	else
		__sync_fetch_and_add(&v->bytes_received, gap + len - skip);
}

/* The connection closed: closed + 1, its smoothed RTT into the histogram, and retransmissions
 * the segment hooks could not see (TLP probes coalesced in one skb) added from the kernel's
 * own count. */
static __always_inline void tcp_close(struct stream_state *s, const struct sock *sk)
{
	struct sockeye_conn_val *v = conn_val(s->tcp_tracked ? s->tcp_slot : 0);
	struct tcp_sock *tp;

	if (!v)
		return;
	s->tcp_tracked = 0;
	__sync_fetch_and_add(&v->closed, 1);
	tp = bpf_skc_to_tcp_sock((void *)sk);
	if (tp) {
		__u32 srtt = BPF_CORE_READ(tp, srtt_us) >> 3, total = BPF_CORE_READ(tp, total_retrans);

		if (srtt)
			hist_add(&v->rtt_count, &v->rtt_sum_us, v->rtt_buckets, SOCKEYE_RTT_BOUNDS,
				 HIST_SLOT(rtt_bounds_us, n_rtt_bounds, srtt), srtt);
		if (total > s->retrans)
			__sync_fetch_and_add(&v->retrans, total - s->retrans);
	}
}

static __always_inline int established_like(int state)
{
	return state == TCP_ESTABLISHED || state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 ||
	       state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK || state == TCP_CLOSING;
}

#endif /* SOCKEYE_TCP_BPF_H */
