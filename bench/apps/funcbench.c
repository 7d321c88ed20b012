// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* funcbench.c - calls small functions in a tight loop and prints ns per call, for
 * bench/funcs.sh: each function is probed by one declaration (or none, for the baseline).
 * The probed functions are written in assembly so that their first instruction is known:
 * fn_push_* start with `push` (the kernel emulates it), fn_mov_count with `mov` (the kernel
 * single-steps it).
 *   funcbench NAME N    calls NAME N times; prints "NAME ns_per_call"
 * NAME "syscall" makes getppid() system calls instead: what entering the kernel costs on this
 * machine, for scale.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PUSH_FN(name)                                                                              \
	__asm__(".text\n.globl " #name "\n.type " #name ",@function\n" #name ":\n"                 \
		"\tpush %rbx\n\tmov %edi,%eax\n\tpop %rbx\n\tret\n.size " #name ", .-" #name "\n")
PUSH_FN(fn_push_count);
PUSH_FN(fn_push_hist);
PUSH_FN(fn_push_str);
__asm__(".text\n.globl fn_mov_count\n.type fn_mov_count,@function\nfn_mov_count:\n"
	"\tmov %edi,%eax\n\tret\n.size fn_mov_count, .-fn_mov_count\n");

int fn_push_count(int);
int fn_push_hist(int);
int fn_push_str(const char *);
int fn_mov_count(int);

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static const char *const ops[] = {"get", "put", "delete", "scan"};
	static const char *const names[] = {"fn_push_count", "fn_push_hist", "fn_push_str",
					    "fn_mov_count",  "usdt",	     "syscall"};
	volatile int sink = 0;
	int which = -1;
	long n;
	double t0, t1;

	for (int k = 0; argc == 3 && k < 6; k++)
		if (!strcmp(argv[1], names[k]))
			which = k;
	if (which < 0 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: funcbench fn_push_count|fn_push_hist|fn_push_str|"
				"fn_mov_count|usdt|syscall N\n");
		return 2;
	}
	t0 = now();
	for (long i = 0; i < n; i++) {
		switch (which) {
		case 0:
			sink += fn_push_count((int)(i & 3));
			break;
		case 1:
			sink += fn_push_hist((int)(i & 3));
			break;
		case 2:
			sink += fn_push_str(ops[i & 3]);
			break;
		case 3:
			sink += fn_mov_count((int)(i & 3));
			break;
		case 5:
			sink += (int)syscall(SYS_getppid);
			break;
		default: {
			/* In a register: libbpf 1.1 cannot read an 8@(%base,%index,8) argument. */
			const char *op = ops[i & 3];

			__asm__ volatile("" : "+r"(op));
			DTRACE_PROBE2(funcbench, op, op, (int)(i & 3));
		}
		}
	}
	t1 = now();
	printf("%s %.1f\n", argv[1], (t1 - t0) / n);
	return sink == -1;
}
