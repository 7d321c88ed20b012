// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netem.bpf.c - test only, tc programs standing in for netem (not in this kernel): TCP
 * segments with payload to or from one port are dropped or duplicated at random.
 * netem_drop runs at lo's ingress, below the receiver's cgroup hook and after the sender's
 * TCP counted the segment as sent: the receiver's hook sees the segments that followed first,
 * then TCP's retransmission: out of order. (A drop at egress would not do: TCP sees the local
 * failure and sends the same segment again, in order.) netem_dup runs at lo's egress and puts
 * a clone on lo's ingress: the receiver's hook sees the segment twice. */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_HLEN 14
#define ETH_P_IP 0x0800

/* Set by tests/tools/tcnetem before the program runs. */
struct netem_cfg {
	__u32 port;
	__u32 drop_pct;
	__u32 dup_pct;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netem_cfg);
} cfg SEC(".maps");

/* [0] segments dropped, [1] duplicated, [2] seen at ingress (clones included). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static void count(__u32 i)
{
	__u64 *n = bpf_map_lookup_elem(&counts, &i);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* The payload segments of the port under test (cfg), counted as seen. */
static struct netem_cfg *ours(struct __sk_buff *skb)
{
	struct iphdr ip;
	struct tcphdr tcp;
	struct netem_cfg *c;
	__u32 zero = 0, hl;

	if (skb->protocol != bpf_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) || ip.protocol != IPPROTO_TCP)
		return NULL;
	hl = ip.ihl * 4;
	if (hl < 20 || hl > 60 || bpf_skb_load_bytes(skb, ETH_HLEN + hl, &tcp, sizeof(tcp)))
		return NULL;
	c = bpf_map_lookup_elem(&cfg, &zero);
	if (!c || (tcp.source != bpf_htons(c->port) && tcp.dest != bpf_htons(c->port)))
		return NULL;
	/* Payload only: a lost SYN or pure ACK tests nothing of ours. IP tot_len is 0 in GSO
	 * skbs on loopback, so the length comes from the skb. */
	if (skb->len <= ETH_HLEN + hl + tcp.doff * 4)
		return NULL;
	return c;
}

SEC("tc")
int netem_drop(struct __sk_buff *skb)
{
	struct netem_cfg *c = ours(skb);

	if (!c)
		return TC_ACT_OK;
	count(2);
	if (bpf_get_prandom_u32() % 100 < c->drop_pct) {
		count(0);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

SEC("tc")
int netem_dup(struct __sk_buff *skb)
{
	struct netem_cfg *c = ours(skb);

	if (c && bpf_get_prandom_u32() % 100 < c->dup_pct &&
	    !bpf_clone_redirect(skb, skb->ifindex, BPF_F_INGRESS))
		count(1);
	return TC_ACT_OK;
}
