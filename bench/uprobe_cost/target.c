// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* target.c - calls one of three tiny functions in a loop and prints the time per call; the
 * functions start with the instructions a uprobe may sit on: push (emulated by the kernel), a
 * 5-byte nop (optimized into a call on kernels that can) and sub (single-stepped).
 *   target p|n|s CALLS */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__asm__(".globl f_push\n.type f_push,@function\nf_push:\n push %rbx\n lea 1(%rdi),%rax\n"
	" pop %rbx\n ret\n");
__asm__(".globl f_nop5\n.type f_nop5,@function\nf_nop5:\n .byte 0x0f,0x1f,0x44,0x00,0x00\n"
	" lea 1(%rdi),%rax\n ret\n");
__asm__(".globl f_sub\n.type f_sub,@function\nf_sub:\n sub $8,%rsp\n lea 1(%rdi),%rax\n"
	" add $8,%rsp\n ret\n");
long f_push(long);
long f_nop5(long);
long f_sub(long);

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long (*f)(long) = NULL, n, s = 0;
	double t0;

	if (argc != 3 || argv[1][1])
		return 2;
	f = argv[1][0] == 'p'	? f_push
	    : argv[1][0] == 'n' ? f_nop5
	    : argv[1][0] == 's' ? f_sub
				: NULL;
	n = atol(argv[2]);
	if (!f || n <= 0)
		return 2;
	t0 = now();
	for (long i = 0; i < n; i++)
		s += f(i);
	printf("%.3f\n", (now() - t0) / n * 1e6 + (s == 42 ? 1e-9 : 0));
	return 0;
}
