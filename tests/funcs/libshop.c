// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libshop.c - a shared library whose function two test services call: the function metrics
 * tests probe lib_op in this file, not in either executable. */
#include <unistd.h>

volatile long lib_calls;

/* kind: 0 read, 1 write (the test maps them); sleeps sleep_us. */
__attribute__((noinline, visibility("default"))) int lib_op(int kind, int sleep_us)
{
	lib_calls++;
	if (sleep_us > 0)
		usleep(sleep_us);
	return kind;
}
