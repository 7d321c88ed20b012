// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* refused.bpf.c - test only: three small programs, the second of which every verifier refuses
 * (it reads past the end of a map value), for tests/bpf/test_progload.c. One section for all
 * three: libbpf orders programs by section, then by place in it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} words SEC(".maps");

SEC("cgroup_skb/ingress")
int accepted(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *w = bpf_map_lookup_elem(&words, &zero);

	if (w)
		*w += skb->len;
	return 1;
}

SEC("cgroup_skb/ingress")
int out_of_bounds(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *w = bpf_map_lookup_elem(&words, &zero);

	/* The value is 8 bytes: w[1] is past its end. */
	if (w)
		return (int)(w[1] & 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int after_the_refused_one(struct __sk_buff *skb)
{
	return 1;
}
