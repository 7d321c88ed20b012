// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cgdrop.c - test only: attaches build/tests/drop_once.bpf.o to a cgroup's ingress, prints
 * "ready", waits for stdin to close, then prints "drops N" and detaches. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	struct bpf_link *link = NULL;
	__u32 zero = 0;
	__u64 drops = 0;
	int cg = -1, err = 1;
	char c;

	if (argc != 3) {
		fprintf(stderr, "usage: cgdrop CGROUP_DIR OBJECT\n");
		return 2;
	}
	cg = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (cg < 0) {
		fprintf(stderr, "cgdrop: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	obj = bpf_object__open_file(argv[2], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "cgdrop: loading %s: %s\n", argv[2], strerror(errno));
		goto out;
	}
	prog = bpf_object__find_program_by_name(obj, "drop_once");
	link = prog ? bpf_program__attach_cgroup(prog, cg) : NULL;
	if (!link) {
		fprintf(stderr, "cgdrop: attaching to %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	printf("ready\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "drops"), &zero, &drops);
	printf("drops %llu\n", (unsigned long long)drops);
	err = 0;
out:
	bpf_link__destroy(link);
	bpf_object__close(obj);
	close(cg);
	return err;
}
