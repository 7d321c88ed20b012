// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vshim.c - LD_PRELOAD shim for the kernel matrix: reports, for `sockeye --check`, what the
 * verifier said about each program, whatever the agent itself prints. On stderr:
 *   vshim: prog=NAME loaded insns=N      each program the kernel accepted (verified_insns)
 *   vshim: prog=NAME verifier: LINE      the last VSHIM_LINES (default 30) lines of the log of
 *                                        a program the kernel refused
 * The agent's own log cuts messages at 1024 bytes: the head of the verifier log, where the
 * tail says why. Both hooks leave the agent's behaviour unchanged:
 * - bpf_prog_load() (reached through libbpf's PLT) calls the real one and, on success, reads
 *   bpf_prog_info.verified_insns (kernel >= 5.16; 0 before);
 * - libbpf_set_print() installs the agent's callback behind ours, which also prints the tail of
 *   a "-- BEGIN PROG LOAD LOG --" message. libbpf prints that log only for a failed load with a
 *   log buffer it allocated itself; an agent passing its own log_buf must report it itself.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libbpf 1.1's format (libbpf.c, bpf_object_load_prog), after pr_warn's "libbpf: " prefix.
 * Another format with the marker is formatted whole and shown from its end. */
#define LOAD_LOG_FMT "prog '%s': -- BEGIN PROG LOAD LOG --\n%s-- END PROG LOAD LOG --\n"

static libbpf_print_fn_t agent_print;

static void print_tail(const char *prog, const char *log, size_t len)
{
	const char *env = getenv("VSHIM_LINES");
	int want = env ? atoi(env) : 30, seen = 0;
	size_t start = len;

	/* Walk back over want newline-terminated lines; a trailing newline ends the last. */
	if (start > 0 && log[start - 1] == '\n')
		start--;
	while (start > 0) {
		if (log[start - 1] == '\n' && ++seen == want)
			break;
		start--;
	}
	while (start < len) {
		const char *nl = memchr(log + start, '\n', len - start);
		size_t n = nl ? (size_t)(nl - (log + start)) : len - start;

		if (n && strncmp(log + start, "-- END PROG LOAD LOG --", n) != 0)
			fprintf(stderr, "vshim: prog=%s verifier: %.*s\n", prog, (int)n, log + start);
		start += n + 1;
	}
	fflush(stderr);
}

static int shim_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	const char *tail = strstr(fmt, LOAD_LOG_FMT);
	va_list aq;

	va_copy(aq, ap);
	if (tail && !memchr(fmt, '%', tail - fmt) && strlen(tail) == strlen(LOAD_LOG_FMT)) {
		const char *prog = va_arg(aq, const char *);
		const char *log = va_arg(aq, const char *);

		print_tail(prog, log, strlen(log));
	} else if (strstr(fmt, "BEGIN PROG LOAD LOG")) {
		char *s = NULL;
		int n = vasprintf(&s, fmt, aq);

		if (n > 0)
			print_tail("?", s, n);
		free(s);
	}
	va_end(aq);
	return agent_print ? agent_print(level, fmt, ap) : 0;
}

libbpf_print_fn_t libbpf_set_print(libbpf_print_fn_t fn)
{
	libbpf_print_fn_t (*real)(libbpf_print_fn_t) = dlsym(RTLD_NEXT, "libbpf_set_print");
	libbpf_print_fn_t old = agent_print;

	agent_print = fn;
	if (real)
		real(shim_print);
	return old;
}

int bpf_prog_load(enum bpf_prog_type type, const char *name, const char *license,
		  const struct bpf_insn *insns, size_t insn_cnt, const struct bpf_prog_load_opts *opts)
{
	static int (*real)(enum bpf_prog_type, const char *, const char *, const struct bpf_insn *,
			   size_t, const struct bpf_prog_load_opts *);
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int fd;

	if (!real)
		real = dlsym(RTLD_NEXT, "bpf_prog_load");
	fd = real(type, name, license, insns, insn_cnt, opts);
	/* libbpf's feature probes load nameless or "libbpf_*" programs: not ours. */
	if (fd < 0 || !name || !name[0] || strncmp(name, "libbpf_", 7) == 0)
		return fd;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		fprintf(stderr, "vshim: prog=%s loaded insns=%u\n", name, info.verified_insns);
	return fd;
}
