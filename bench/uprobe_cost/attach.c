// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* attach.c - attaches probe.bpf.o's empty programs to a function of a binary (the entry, and
 * the return too with "ret"), prints "attached", and holds them until SIGTERM.
 *   attach OBJECT BINARY FUNCTION entry|ret */
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_term(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	struct bpf_object *o;
	struct bpf_link *e, *r = NULL;

	if (argc != 5)
		return 2;
	o = bpf_object__open_file(argv[1], NULL);
	if (!o || bpf_object__load(o)) {
		perror("loading the probe object");
		return 1;
	}
	{
		LIBBPF_OPTS(bpf_uprobe_opts, op, .func_name = argv[3]);

		e = bpf_program__attach_uprobe_opts(bpf_object__find_program_by_name(o, "entry"),
						    -1, argv[2], 0, &op);
		if (e && strcmp(argv[4], "ret") == 0) {
			op.retprobe = true;
			r = bpf_program__attach_uprobe_opts(
				bpf_object__find_program_by_name(o, "ret"), -1, argv[2], 0, &op);
		}
	}
	if (!e || (strcmp(argv[4], "ret") == 0 && !r)) {
		perror("attaching");
		return 1;
	}
	printf("attached\n");
	fflush(stdout);
	signal(SIGTERM, on_term);
	pause();
	bpf_link__destroy(r);
	bpf_link__destroy(e);
	bpf_object__close(o);
	return 0;
}
