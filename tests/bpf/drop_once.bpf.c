// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* drop_once.bpf.c - test only: drops, once, the first TCP segment entering a cgroup whose
 * payload starts with "GET /retransmit", so that TCP must retransmit it. */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

SEC("cgroup_skb/ingress")
int drop_once(struct __sk_buff *skb)
{
	static const char marker[16] = "GET /retransmit";
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data;
	struct tcphdr *tcp;
	char buf[15];
	__u32 zero = 0, off;
	__u64 *n;

	if (skb->protocol != bpf_htons(0x0800) || (void *)(ip + 1) > data_end || ip->protocol != 6)
		return 1;
	off = ip->ihl * 4;
	if (off < 20 || off > 60)
		return 1;
	tcp = data + off;
	if ((void *)(tcp + 1) > data_end)
		return 1;
	off += tcp->doff * 4;
	if (bpf_skb_load_bytes(skb, off, buf, sizeof(buf)))
		return 1;
	for (int i = 0; i < (int)sizeof(buf); i++)
		if (buf[i] != marker[i])
			return 1;
	n = bpf_map_lookup_elem(&drops, &zero);
	if (!n || *n)
		return 1;
	*n = 1;
	return 0;
}
