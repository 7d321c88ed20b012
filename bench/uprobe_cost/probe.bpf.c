// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* probe.bpf.c - empty uprobe and uretprobe programs: what remains is the kernel's cost of a hit. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("uprobe")
int entry(void *ctx)
{
	return 0;
}

SEC("uretprobe")
int ret(void *ctx)
{
	return 0;
}
