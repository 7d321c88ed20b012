// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcnetem.c - test only: attaches build/tests/netem.bpf.o to lo in the current network
 * namespace (run it under `ip netns exec`): DROP% of the TCP segments with payload to or from
 * PORT dropped at ingress, DUP% duplicated at egress. Prints "ready", waits for stdin to close,
 * prints "seen N dropped N duplicated N" and detaches. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/types.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct netem_cfg {
	__u32 port;
	__u32 drop_pct;
	__u32 dup_pct;
};

static int attach(struct bpf_object *obj, const char *name, enum bpf_tc_attach_point where)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, name);
	int err;

	hook.ifindex = (int)if_nametoindex("lo");
	opts.prog_fd = prog ? bpf_program__fd(prog) : -1;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		fprintf(stderr, "tcnetem: attaching %s to lo: %s\n", name, strerror(-err));
	return err;
}

int main(int argc, char **argv)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	struct bpf_object *obj = NULL;
	struct netem_cfg c;
	__u64 n[3] = {0};
	__u32 zero = 0;
	int err = 1;
	char ch;

	if (argc != 5) {
		fprintf(stderr, "usage: tcnetem OBJECT PORT DROP_PCT DUP_PCT\n");
		return 2;
	}
	c.port = (__u32)atoi(argv[2]);
	c.drop_pct = (__u32)atoi(argv[3]);
	c.dup_pct = (__u32)atoi(argv[4]);
	hook.ifindex = (int)if_nametoindex("lo");
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "tcnetem: loading %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	if (bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "cfg"), &zero, &c, 0)) {
		fprintf(stderr, "tcnetem: setting cfg: %s\n", strerror(errno));
		goto out;
	}
	err = bpf_tc_hook_create(&hook); /* the clsact qdisc, for both directions */
	if (err) {
		fprintf(stderr, "tcnetem: clsact on lo: %s\n", strerror(-err));
		err = 1;
		goto out;
	}
	err = 1;
	if (attach(obj, "netem_drop", BPF_TC_INGRESS) || attach(obj, "netem_dup", BPF_TC_EGRESS))
		goto out;
	printf("ready\n");
	fflush(stdout);
	while (read(0, &ch, 1) > 0)
		;
	for (__u32 i = 0; i < 3; i++)
		bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "counts"), &i, &n[i]);
	printf("seen %llu dropped %llu duplicated %llu\n", (unsigned long long)n[2],
	       (unsigned long long)n[0], (unsigned long long)n[1]);
	err = 0;
out:
	/* Removing the clsact qdisc detaches both programs; the namespace is ours alone. */
	bpf_tc_hook_destroy(&hook);
	bpf_object__close(obj);
	return err;
}
