// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sockeye.bpf.c - cgroup_skb programs that parse HTTP/1.x on every TCP socket of the host and
 * aggregate request counts and latency histograms in per-CPU maps. No per-request events
 * leave the kernel.
 *
 * Attached to the cgroup v2 root, each program sees both directions of every socket. The
 * per-connection state lives in sk_storage; driver.bpf.h does the parsing and counting.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "driver.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6

/* Tunables written by the loader before load (the verifier sees them as constants). */
/* Only bench/bpfcost sets this: BPF_PROG_TEST_RUN repeats one segment on one socket, which
 * would otherwise be skipped as a retransmit. The verifier drops the branch when it is 0. */
const volatile __u8 bench_ignore_seq = 0;
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

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} sk_state SEC(".maps");

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

static __always_inline int cgroup_wanted(struct __sk_buff *skb)
{
	__u32 i;

	for (i = 0; i < FILTER_MAX && i < n_exclude_cgroups; i++)
		if (bpf_skb_ancestor_cgroup_id(skb, exclude_cgroup_levels[i]) == exclude_cgroups[i])
			return 0;
	if (n_include_cgroups == 0)
		return 1;
	for (i = 0; i < FILTER_MAX && i < n_include_cgroups; i++)
		if (bpf_skb_ancestor_cgroup_id(skb, include_cgroup_levels[i]) == include_cgroups[i])
			return 1;
	return 0;
}

DEFINE_SCAN_CB(scan_cb_skb, 0)

/* Feeds the payload [off, skb->len) of one segment to the parser of its direction. */
static __always_inline void process(struct __sk_buff *skb, struct sock_state *st, int req_dir,
				    __u32 off, __u32 seq)
{
	struct http_parser *p = req_dir ? &st->req : &st->resp;
	struct scan_ctx ctx = {};
	__u32 end = skb->len, end_seq, *depth = NULL;

	ctx.pos = off;
	/* Sequence numbers: skip what was processed already (retransmits), resync after gaps. */
	end_seq = seq + (end - off);
	if (p->seq_valid && !bench_ignore_seq) {
		if ((__s32)(end_seq - p->next_seq) <= 0) {
			stat_inc(SOCKEYE_STAT_RETRANSMIT);
			return;
		}
		if ((__s32)(seq - p->next_seq) < 0) {
			stat_inc(SOCKEYE_STAT_RETRANSMIT);
			ctx.pos += p->next_seq - seq;
		} else if (seq != p->next_seq && p->state != HP_ERROR && p->state != HP_CLOSED) {
			on_error(st, p, LOST_GAP);
			if (st->kind == KIND_IGNORE)
				return;
		}
	}
	p->next_seq = end_seq;
	p->seq_valid = 1;

	ctx.sc = scratch_get(&depth);
	if (!ctx.sc) {
		scratch_put(depth);
		return;
	}
	ctx.skb = skb;
	ctx.st = st;
	ctx.p = p;
	ctx.r = req_dir ? &st->route : NULL;
	ctx.now = bpf_ktime_get_ns();
	ctx.off = off;
	ctx.end = end;
	ctx.req_dir = req_dir;
	bpf_loop(SCAN_STEPS, scan_cb_skb, &ctx, 0);
	scratch_put(depth);
}

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
		/* A socket's first payload decides: a request start makes it ours, on the side
		 * it travels from; so does a status line ("HTTP/"), on the other side: that is
		 * how connections already open when the agent started are picked up. Others pay
		 * one load per segment and get no storage. */
		char first[5];
		__u16 port;
		int client;

		if (bpf_skb_load_bytes(skb, off, first, 1) || first[0] < 'A' || first[0] > 'Z')
			return 1;
		client = egress;
		if (first[0] == 'H' && !bpf_skb_load_bytes(skb, off, first, 5) && first[1] == 'T' &&
		    first[2] == 'T' && first[3] == 'P' && first[4] == '/')
			client = !egress;
		st = bpf_sk_storage_get(&sk_state, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			stat_inc(SOCKEYE_STAT_STORAGE_FAIL);
			return 1;
		}
		port = client ? bpf_ntohs(sk->dst_port) : (__u16)sk->src_port;
		if (!port_wanted(port) || !cgroup_wanted(skb)) {
			st->kind = KIND_IGNORE;
			return 1;
		}
		st->kind = client ? KIND_CLIENT : KIND_SERVER;
		st->server_port = port;
	}
	if (st->kind != KIND_SERVER && st->kind != KIND_CLIENT)
		return 1;
	req_dir = (st->kind == KIND_SERVER) != egress;
	if (egress && !st->owner_seen)
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
