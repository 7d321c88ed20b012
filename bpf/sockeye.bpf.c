// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sockeye.bpf.c - cgroup_skb programs that parse HTTP/1.x on every TCP socket of the host and
 * aggregate request counts and latency histograms in per-CPU maps. No per-request events
 * leave the kernel.
 *
 * Attached to the cgroup v2 root, each program sees both directions of every socket. The
 * per-connection state lives in sk_storage; driver.bpf.h does the parsing and counting.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "driver.bpf.h"
#include "filter.bpf.h"
#include "db.bpf.h"

/* TEMPORARY until the stream core (branch core) lands: its segment description, and a direct
 * call of the Redis module from handle() (no retransmit or gap tracking). */
struct stream_seg {
	__u64 cgroup_id;
	__u64 now_ns;
	__u32 off;
	__u32 end;
	__u32 gap;
	__u16 server_port;
	__u8 from_client;
	__u8 first;
};
#include "redis_pair.bpf.h"

static __always_inline void shim_redis(struct __sk_buff *skb, struct bpf_sock *sk, __u32 off,
				       int egress)
{
	struct stream_seg seg = {};

	seg.cgroup_id = bpf_skb_cgroup_id(skb);
	seg.now_ns = bpf_ktime_get_ns();
	seg.off = off;
	seg.end = skb->len;
	seg.server_port = bpf_ntohs(sk->dst_port);
	seg.from_client = egress;
	redis_segment(skb, sk, &seg);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6

/* Tunables written by the loader before load (the verifier sees them as constants). */
const volatile __u64 rtt_bounds_us[SOCKEYE_RTT_BOUNDS] = {};
const volatile __u32 n_rtt_bounds = 0;
/* The local port range (net.ipv4.ip_local_port_range): a connection first seen after it was
 * established is outbound when its local port is in it. */
const volatile __u16 ephemeral_lo = 32768;
const volatile __u16 ephemeral_hi = 60999;
/* Whether cgroup_skb programs may ask for the current task (bpf_get_current_pid_tgid and
 * bpf_get_current_comm: not on 6.1, not comm on 6.12). The loader sets it after probing; when
 * 0 the verifier drops the branch that calls them, and a client's owner is recorded when it
 * connects (tp_sock_state) instead of when it first sends. */
const volatile __u8 owner_on_send = 0;
/* Only bench/bpfcost sets this: BPF_PROG_TEST_RUN repeats one segment on one socket, which
 * would otherwise be skipped as a retransmit. The verifier drops the branch when it is 0. */
const volatile __u8 bench_ignore_seq = 0;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} sk_state SEC(".maps");

DEFINE_SCAN_CB(scan_cb_skb, 0)

/* Feeds the payload [off, skb->len) of one segment to the parser of its direction. */
static __always_inline void process(struct __sk_buff *skb, struct sock_state *st, int req_dir,
				    __u32 off, __u32 seq)
{
	struct http_parser *p = req_dir ? &st->req : &st->resp;
	struct scan_ctx ctx = {};
	__u32 end = skb->len, end_seq, *depth = NULL;
	struct scratch *sc;

	/* Sequence numbers: skip what was processed already (retransmits), resync after gaps. */
	end_seq = seq + (end - off);
	if (p->seq_valid && !bench_ignore_seq) {
		if ((__s32)(end_seq - p->next_seq) <= 0) {
			stat_inc(SOCKEYE_STAT_RETRANSMIT);
			return;
		}
		if ((__s32)(seq - p->next_seq) < 0) {
			stat_inc(SOCKEYE_STAT_RETRANSMIT);
			off += p->next_seq - seq;
		} else if (seq != p->next_seq) {
			/* Bytes we have not seen: harmless inside a body (http_gap). */
			if (p->state != HP_ERROR && !http_gap(p, seq - p->next_seq))
				on_error(st, p, LOST_GAP);
			if (st->kind == KIND_IGNORE)
				return;
		}
	}
	p->next_seq = end_seq;
	p->seq_valid = 1;

	sc = scratch_get(&depth);
	if (!sc) {
		scratch_put(depth);
		return;
	}
	scan_begin(sc, off, end, req_dir);
	ctx.skb = skb;
	ctx.st = st;
	ctx.sc = sc;
	ctx.p = p;
	ctx.r = req_dir ? &st->route : NULL;
	bpf_loop(SCAN_STEPS, scan_cb_skb, &ctx, 0);
	if (p->ended)
		on_end(&ctx, 0);
	scratch_put(depth);
}

/* --- TCP connections: sockeye_tcp_* ------------------------------------------------------ */

static __always_inline __u64 sk_cgroup_id(const struct sock *sk)
{
	struct cgroup *cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	struct kernfs_node *kn = BPF_CORE_READ(cg, kn);

	return BPF_CORE_READ(kn, id);
}

/* Starts counting a connection in its group: opened + 1. */
static __always_inline void tcp_open(struct sock_state *st, __u64 cgroup_id, __u16 port,
				     __u8 side)
{
	struct sockeye_conn_val *v;

	if (st->tcp_tracked)
		return;
	st->tcp_side = side;
	st->tcp_port = port;
	st->tcp_slot = conn_slot(cgroup_id, port, side);
	v = conn_val(st->tcp_slot);
	if (!v)
		return;
	st->tcp_tracked = 1;
	__sync_fetch_and_add(&v->opened, 1);
}

/* A connection seen for the first time after it was established (open before the agent
 * started): its direction is guessed from the local port. */
static __always_inline void tcp_first_sight(struct sock_state *st, __u64 cgroup_id,
					    __u16 local_port, __u16 remote_port)
{
	if (local_port >= ephemeral_lo && local_port <= ephemeral_hi)
		tcp_open(st, cgroup_id, remote_port, SOCKEYE_ROLE_CLIENT);
	else
		tcp_open(st, cgroup_id, local_port, SOCKEYE_ROLE_SERVER);
}

/* Payload bytes of one segment, by sequence number: retransmitted bytes are not counted
 * again (and a retransmitted segment sent is counted as one). */
static __always_inline void tcp_account(struct sock_state *st, int egress, __u32 seq, __u32 len)
{
	struct sockeye_conn_val *v = conn_val(st->tcp_tracked ? st->tcp_slot : 0);
	__u32 end = seq + len, *hi = egress ? &st->snd_hi : &st->rcv_hi;
	__u8 *valid = egress ? &st->snd_valid : &st->rcv_valid;
	__u32 fresh = len;

	if (!v)
		return;
	if (*valid) {
		/* Everything up to end is new once: a gap (bytes not seen yet) is counted now,
		 * and the bytes filling it later arrive as a retransmission. */
		if ((__s32)(end - *hi) <= 0)
			fresh = 0;
		else
			fresh = end - *hi;
		if ((__s32)(seq - *hi) < 0 && egress) {
			__sync_fetch_and_add(&v->retrans, 1);
			st->retrans++;
		}
	}
	if (fresh) {
		*hi = end;
		*valid = 1;
		if (egress)
			__sync_fetch_and_add(&v->bytes_sent, fresh);
		else
			__sync_fetch_and_add(&v->bytes_received, fresh);
	}
}

static __always_inline __u32 rtt_bucket(__u64 us)
{
	__u32 i;

	for (i = 0; i < SOCKEYE_RTT_BOUNDS; i++) {
		if (i >= n_rtt_bounds || us <= rtt_bounds_us[i])
			break;
	}
	return i;
}

/* The connection closed: closed + 1, its smoothed RTT into the histogram, retransmissions
 * the segment hooks could not see (TLP probes coalesced in one skb) added from the kernel's
 * own count, and requests still waiting for a response are no longer in flight. */
static __always_inline void tcp_close(struct sock_state *st, const struct sock *sk)
{
	struct sockeye_conn_val *v = conn_val(st->tcp_tracked ? st->tcp_slot : 0);
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

	fifo_abandon(st);
	if (st->cur_valid && st->resp.state == HP_BODY_CLOSE)
		record_sizes(sk_cgroup_id(sk), st, st->resp.body_size); /* ends with the close */
	if (!v)
		return;
	st->tcp_tracked = 0;
	__sync_fetch_and_add(&v->closed, 1);
	if (tp) {
		__u32 srtt = BPF_CORE_READ(tp, srtt_us) >> 3, total = BPF_CORE_READ(tp, total_retrans);
		__u32 slot = rtt_bucket(srtt);

		if (srtt) {
			__sync_fetch_and_add(&v->rtt_count, 1);
			__sync_fetch_and_add(&v->rtt_sum_us, srtt);
			if (slot > SOCKEYE_RTT_BOUNDS)
				slot = SOCKEYE_RTT_BOUNDS;
			__sync_fetch_and_add(&v->rtt_buckets[slot], 1);
		}
		if (total > st->retrans)
			__sync_fetch_and_add(&v->retrans, total - st->retrans);
	}
}

static __always_inline int established_like(int state)
{
	return state == TCP_ESTABLISHED || state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 ||
	       state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK || state == TCP_CLOSING;
}

/* Every TCP state change of the host: connections opened (by direction), closed, and those
 * that were open before the agent started, from their first change. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_sock_state, const struct sock *sk, int oldstate, int newstate)
{
	struct sock_state *st;
	__u16 local, remote;
	__u64 cg;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_CLOSE)
		redis_close((void *)sk); /* TEMPORARY: the stream core's close dispatch */
	if (newstate == TCP_SYN_SENT && !owner_on_send) {
		/* connect(): the caller's process context. */
		remote = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (port_wanted(remote) && cgroup_wanted(FILTER_SOCK, NULL, sk))
			owner_put(sk_cgroup_id(sk), remote, SOCKEYE_ROLE_CLIENT);
		return 0;
	}
	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		__u8 side = oldstate == TCP_SYN_SENT ? SOCKEYE_ROLE_CLIENT : SOCKEYE_ROLE_SERVER;
		__u16 port;

		local = BPF_CORE_READ(sk, __sk_common.skc_num);
		remote = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		port = side == SOCKEYE_ROLE_CLIENT ? remote : local;
		if (!port_wanted(port) || !cgroup_wanted(FILTER_SOCK, NULL, sk))
			return 0;
		st = bpf_sk_storage_get(&sk_state, (void *)sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			stat_inc(SOCKEYE_STAT_STORAGE_FAIL);
			return 0;
		}
		tcp_open(st, sk_cgroup_id(sk), port, side);
		return 0;
	}
	if (!established_like(oldstate))
		return 0; /* listeners, failed connects, SYN_RECV children that never completed */
	st = bpf_sk_storage_get(&sk_state, (void *)sk, NULL, 0);
	if (!st || (!st->tcp_tracked && st->kind != KIND_IGNORE && !st->tcp_slot)) {
		/* First event of a connection open before the agent started. A socket whose
		 * local port is already released (its last transitions to CLOSE) can no longer
		 * be told apart: such a connection, never seen before, is left alone (it was
		 * filtered out while it had its port). */
		local = BPF_CORE_READ(sk, __sk_common.skc_num);
		remote = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (!local || !remote || !cgroup_wanted(FILTER_SOCK, NULL, sk) ||
		    !port_wanted(local >= ephemeral_lo && local <= ephemeral_hi ? remote : local))
			return 0;
		if (!st)
			st = bpf_sk_storage_get(&sk_state, (void *)sk, NULL,
						BPF_SK_STORAGE_GET_F_CREATE);
		if (!st)
			return 0;
		cg = sk_cgroup_id(sk);
		tcp_first_sight(st, cg, local, remote);
	}
	if (newstate == TCP_CLOSE)
		tcp_close(st, sk);
	return 0;
}

/* --- Segments: HTTP and TCP byte counts --------------------------------------------------- */

static __always_inline int handle(struct __sk_buff *skb, int egress)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct bpf_sock *sk;
	struct sock_state *st;
	struct tcphdr *tcp;
	__u32 off, seq;
	int req_dir;

	/* Cheapest exits first: no room for a payload byte, not TCP, no payload. */
	if (skb->len <= 40)
		return 1;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP)
			return 1;
		off = ip->ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_TCP)
			return 1;
		off = sizeof(*ip6);
	} else {
		return 1;
	}
	if (off < 20 || off > 60)
		return 1;
	tcp = data + off;
	if ((void *)(tcp + 1) > data_end)
		return 1;
	off += tcp->doff * 4;
	if (off >= skb->len)
		return 1; /* pure ACK, SYN, FIN without data */
	seq = bpf_ntohl(tcp->seq);

	sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	st = bpf_sk_storage_get(&sk_state, sk, NULL, 0);
	if (!st) {
		/* Established before the agent started (or filtered: then it stays ignored). */
		__u16 local = sk->src_port, remote = bpf_ntohs(sk->dst_port);

		if (!port_wanted(local >= ephemeral_lo && local <= ephemeral_hi ? remote : local) ||
		    !cgroup_wanted(FILTER_SKB, skb, NULL))
			return 1;
		st = bpf_sk_storage_get(&sk_state, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			stat_inc(SOCKEYE_STAT_STORAGE_FAIL);
			return 1;
		}
		tcp_first_sight(st, bpf_skb_cgroup_id(skb), local, remote);
	}
	if (st->tcp_tracked)
		tcp_account(st, egress, seq, skb->len - off);
	if (st->kind == KIND_IGNORE) { /* TEMPORARY: the stream core's dispatch */
		if (bpf_sk_storage_get(&redis_sk, sk, NULL, 0))
			shim_redis(skb, sk, off, egress);
		return 1;
	}
	if (st->kind == KIND_UNKNOWN) {
		char rfirst[2];

		if (!bpf_skb_load_bytes(skb, off, rfirst, 2) && redis_detect(rfirst, 2, 1) &&
		    !egress) {
			st->kind = KIND_IGNORE; /* a Redis server's socket */
			return 1;
		}
		if (!bpf_skb_load_bytes(skb, off, rfirst, 2) && redis_detect(rfirst, 2, egress) &&
		    port_wanted(bpf_ntohs(sk->dst_port)) && cgroup_wanted(FILTER_SKB, skb, NULL)) {
			st->kind = KIND_IGNORE;
			if (owner_on_send)
				owner_put(bpf_skb_cgroup_id(skb), bpf_ntohs(sk->dst_port),
					  SOCKEYE_ROLE_CLIENT);
			shim_redis(skb, sk, off, egress);
			return 1;
		}
	}
	if (st->kind == KIND_UNKNOWN) {
		/* A connection's first payload that starts a request makes it HTTP, on the side it
		 * travels from; so does a status line ("HTTP/"), on the other side: that is how
		 * connections already open when the agent started are picked up. Until then
		 * each segment costs a one-byte load. */
		char first[5];
		__u16 port;
		int client;

		if (bpf_skb_load_bytes(skb, off, first, 1) || first[0] < 'A' || first[0] > 'Z')
			return 1;
		client = egress;
		if (first[0] == 'H' && !bpf_skb_load_bytes(skb, off, first, 5) && first[1] == 'T' &&
		    first[2] == 'T' && first[3] == 'P' && first[4] == '/')
			client = !egress;
		port = client ? bpf_ntohs(sk->dst_port) : (__u16)sk->src_port;
		if (!port_wanted(port) || !cgroup_wanted(FILTER_SKB, skb, NULL)) {
			st->kind = KIND_IGNORE;
			return 1;
		}
		st->kind = client ? KIND_CLIENT : KIND_SERVER;
		st->server_port = port;
		http_conn_init(st, bpf_skb_cgroup_id(skb));
	}
	if (st->kind != KIND_SERVER && st->kind != KIND_CLIENT)
		return 1;
	req_dir = (st->kind == KIND_SERVER) != egress;
	if (owner_on_send && egress && !st->owner_seen)
		record_owner(st, bpf_skb_cgroup_id(skb));
	process(skb, st, req_dir, off, seq);
	return 1; /* a verdict: always allow */
}

SEC("cgroup_skb/ingress")
int cgskb_ingress(struct __sk_buff *skb)
{
	return handle(skb, 0);
}

SEC("cgroup_skb/egress")
int cgskb_egress(struct __sk_buff *skb)
{
	return handle(skb, 1);
}
