// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sockeye.bpf.c - cgroup_skb programs that follow every TCP socket of the host through the
 * stream core (stream.bpf.h) into its protocol's module: HTTP/1.x inline (http_pair.bpf.h),
 * the others by tail call (protocols.bpf.h). Everything is aggregated in per-CPU maps: no
 * per-request events leave the kernel. Plus the TCP state tracepoint: connection counting
 * (tcp.bpf.h) and each protocol's close.
 *
 * Attached to the cgroup v2 root, each program sees both directions of every socket. The
 * per-connection state lives in sk_storage (struct sock_state).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "http_pair.bpf.h"
#include "filter.bpf.h"
#include "stream.bpf.h"
#include "tcp.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6

/* Whether cgroup_skb programs may ask for the current task (bpf_get_current_pid_tgid and
 * bpf_get_current_comm: not on 6.1, not comm on 6.12). The loader sets it after probing; when
 * 0 the verifier drops the branch that calls them, and a client's owner is recorded when it
 * connects (tp_sock_state) instead of when it first sends. */
const volatile __u8 owner_on_send = 0;

/* A socket's sk_storage value: the stream core's state, and HTTP's (inline: the hot path
 * pays one storage lookup per segment). Other protocols keep theirs in their own sk_storage
 * maps. */
struct sock_state {
	struct stream_state s;
	struct http_conn http;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} sk_state SEC(".maps");

#include "protocols.bpf.h"

/* --- TCP states: connections opened and closed -------------------------------------------- */

/* Every TCP state change of the host: connections opened (by direction), closed, and those
 * that were open before the agent started, from their first change; a closing socket's
 * protocol is told. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_sock_state, const struct sock *sk, int oldstate, int newstate)
{
	struct sock_state *st;
	__u16 local, remote;
	__u64 cg;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
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
		tcp_open(&st->s, sk_cgroup_id(sk), port, side);
		return 0;
	}
	if (!established_like(oldstate))
		return 0; /* listeners, failed connects, SYN_RECV children that never completed */
	st = bpf_sk_storage_get(&sk_state, (void *)sk, NULL, 0);
	if (!st || (!st->s.tcp_tracked && st->s.kind != KIND_IGNORE && !st->s.tcp_slot)) {
		/* First event of a connection open before the agent started. A socket whose
		 * local port is already released (its last transitions to CLOSE) can no longer
		 * be told apart: such a connection, never seen before, is left alone (it was
		 * filtered out while it had its port). */
		local = BPF_CORE_READ(sk, __sk_common.skc_num);
		remote = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (!local || !remote || !cgroup_wanted(FILTER_SOCK, NULL, sk) ||
		    !port_wanted(is_ephemeral(local) ? remote : local))
			return 0;
		if (!st)
			st = bpf_sk_storage_get(&sk_state, (void *)sk, NULL,
						BPF_SK_STORAGE_GET_F_CREATE);
		if (!st)
			return 0;
		cg = sk_cgroup_id(sk);
		tcp_first_sight(&st->s, cg, local, remote);
	}
	if (newstate == TCP_CLOSE) {
		protocols_close(sk, st);
		tcp_close(&st->s, sk);
	}
	return 0;
}

/* --- Segments: the stream core ----------------------------------------------------------- */

/* A connection whose protocol is not known yet: its first payload bytes go through each
 * module's detect. The protocol, its side (the direction the bytes travel) and the server port
 * are decided once; the filters apply to every protocol. Until then each segment costs a load
 * of up to 8 bytes. A global function: verified once, on its own, however many modules'
 * detects it calls, not once more per path of the hook around it. ports: the local port in
 * the high 16 bits, the remote one in the low (host order). */
__noinline int stream_detect(struct __sk_buff *skb, struct sock_state *st, __u32 off, __u32 ports,
			     int egress)
{
	char first[8] = {};
	__u32 len, proto;
	__u16 port;
	int dir = 0, client;

	if (!skb || !st || off >= skb->len)
		return 0;
	len = skb->len - off;
	if (len > 8)
		len = 8;
	/* len is 1..8 here. Said with arithmetic the 6.1 verifier follows (see scan_step). */
	BARRIER_VAR(len);
	len = ((len - 1) & 7) + 1;
	if (bpf_skb_load_bytes(skb, off, first, len))
		return 0;
	proto = protocols_detect(first, len, egress, &dir);
	if (proto == PROTO_NONE)
		return 0;
	client = (dir == 1) == !!egress; /* the local socket sends client -> server bytes */
	port = client ? (__u16)ports : (__u16)(ports >> 16);
	if (!port_wanted(port) || !cgroup_wanted(FILTER_SKB, skb, NULL)) {
		st->s.kind = KIND_IGNORE;
		return 0;
	}
	st->s.kind = client ? KIND_CLIENT : KIND_SERVER;
	st->s.server_port = port;
	st->s.proto = proto;
	if (proto == PROTO_HTTP)
		http_start(&st->http, st->s.kind, port, bpf_skb_cgroup_id(skb));
	return 0;
}

static __always_inline int handle(struct __sk_buff *skb, const int egress)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	__u32 off, seq, len, skip, gap;
	struct bpf_sock *sk;
	struct sock_state *st;
	struct tcphdr *tcp;
	int fresh, first;

	if (bench_stage == BENCH_STAGE_ENTRY)
		return 1;
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
	len = skb->len - off;

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

		if (!port_wanted(is_ephemeral(local) ? remote : local) ||
		    !cgroup_wanted(FILTER_SKB, skb, NULL))
			return 1;
		st = bpf_sk_storage_get(&sk_state, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			stat_inc(SOCKEYE_STAT_STORAGE_FAIL);
			return 1;
		}
		tcp_first_sight(&st->s, bpf_skb_cgroup_id(skb), local, remote);
	}

	if (bench_stage == BENCH_STAGE_STORAGE)
		return 1;
	/* Sequence numbers, once for the TCP counters and the protocol. */
	fresh = stream_seq(&st->s, egress, seq, len, &skip, &gap);
	if (st->s.tcp_tracked)
		tcp_account(&st->s, egress, fresh, len, skip, gap);
	if (st->s.kind == KIND_UNKNOWN) {
		if (!fresh)
			return 1;
		stream_detect(skb, st, off + skip,
			      (__u32)sk->src_port << 16 | bpf_ntohs(sk->dst_port), egress);
	}
	if (st->s.kind != KIND_SERVER && st->s.kind != KIND_CLIENT)
		return 1;
	first = !(st->s.seen & (1 << egress));
	if (bench_ignore_seq) {
		skip = 0, gap = 0;
	} else if (!fresh || skip) {
		/* Counted as the parser's event once the protocol had bytes of this direction. */
		if (!first)
			stat_inc(SOCKEYE_STAT_RETRANSMIT);
		if (!fresh)
			return 1;
	}
	if (first)
		gap = 0; /* bytes before a direction's first are not the protocol's loss */
	if (bench_stage == BENCH_STAGE_CORE)
		return 1;
	st->s.seen |= 1 << egress;
	off += skip;

	if (st->s.proto == PROTO_HTTP) {
		/* Inline: no tail call on the hot path. */
		struct http_conn *h = &st->http;

		if (owner_on_send && egress && !h->owner_seen)
			record_owner(h, bpf_skb_cgroup_id(skb));
		http_segment(skb, h, (st->s.kind == KIND_SERVER) != egress, off, gap);
		if (h->kind == KIND_IGNORE)
			st->s.kind = KIND_IGNORE; /* its first bytes were not HTTP/1.x after all */
		return 1;
	}
	protocols_dispatch(skb, &st->s, egress, off, gap, first);
	return 1; /* a verdict: always allow */
}

SEC("cgroup_skb/ingress")
int cgskb_ingress(struct __sk_buff *skb)
{
	return handle(skb, STREAM_IN);
}

SEC("cgroup_skb/egress")
int cgskb_egress(struct __sk_buff *skb)
{
	return handle(skb, STREAM_OUT);
}
