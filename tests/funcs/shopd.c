// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* shopd.c - the service the function metrics tests probe (tests/integration/test_functions.py
 * builds it with -O2). It reads one command per line on stdin, makes exactly the calls the
 * command says, and answers "ok" once they returned:
 *   storage OP BACKEND SLEEP_US N   storage_op(OP, BACKEND, SLEEP_US) N times
 *   cache HIT N                     cache_get(key, HIT) N times (returns HIT)
 *   tag V N                         tag(V) N times
 *   recurse DEPTH SLEEP_US          recurse(DEPTH, SLEEP_US): DEPTH nested calls
 *   threads T N SLEEP_US            T threads, each work(thread, SLEEP_US) N times, at once
 *   msg QUEUE SIZE N                USDT shopd:message_processed(QUEUE, SIZE) N times
 *   done OP NS N                    USDT shopd:request_done(OP, NS) N times
 *   longjmp N                       escape(): entered N times, left by longjmp
 *   lib KIND SLEEP_US N             lib_op(KIND, SLEEP_US) in libshop.so, N times
 *   pid                             prints its pid
 *   quit
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <unistd.h>

int lib_op(int kind, int sleep_us);

volatile long calls;

#define PROBED __attribute__((noinline, used))

PROBED int storage_op(const char *op, int backend, int sleep_us)
{
	calls++;
	if (sleep_us > 0)
		usleep(sleep_us);
	return (int)strlen(op) + backend;
}

PROBED int cache_get(int key, int hit)
{
	calls += key;
	return hit;
}

PROBED long tag(long v)
{
	calls++;
	return v;
}

/* The store after the call keeps gcc from turning the recursion into a loop. */
PROBED int recurse(int depth, int sleep_us)
{
	int r = 0;

	usleep(sleep_us);
	if (depth > 1)
		r = recurse(depth - 1, sleep_us);
	calls++;
	return r + 1;
}

PROBED int work(int thread, int sleep_us)
{
	calls++;
	if (sleep_us > 0)
		usleep(sleep_us);
	return thread;
}

static jmp_buf env;

PROBED void escape(int i)
{
	calls++;
	longjmp(env, i + 1);
}

struct job {
	pthread_t t;
	int id, n, sleep_us;
};

static void *thread_main(void *arg)
{
	struct job *j = arg;

	for (int i = 0; i < j->n; i++)
		work(j->id, j->sleep_us);
	return NULL;
}

int main(void)
{
	char line[512], word[64], text[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		long a = 0, b = 0, c = 0;

		if (sscanf(line, "%63s", word) != 1)
			continue;
		if (!strcmp(word, "storage") &&
		    sscanf(line, "%*s %255s %ld %ld %ld", text, &a, &b, &c) == 4) {
			for (long i = 0; i < c; i++)
				storage_op(text, (int)a, (int)b);
		} else if (!strcmp(word, "cache") && sscanf(line, "%*s %ld %ld", &a, &b) == 2) {
			for (long i = 0; i < b; i++)
				cache_get((int)i, (int)a);
		} else if (!strcmp(word, "tag") && sscanf(line, "%*s %ld %ld", &a, &b) == 2) {
			for (long i = 0; i < b; i++)
				tag(a);
		} else if (!strcmp(word, "recurse") && sscanf(line, "%*s %ld %ld", &a, &b) == 2) {
			recurse((int)a, (int)b);
		} else if (!strcmp(word, "threads") &&
			   sscanf(line, "%*s %ld %ld %ld", &a, &b, &c) == 3) {
			struct job jobs[64];

			for (long i = 0; i < a && i < 64; i++) {
				jobs[i] =
					(struct job){.id = (int)i, .n = (int)b, .sleep_us = (int)c};
				pthread_create(&jobs[i].t, NULL, thread_main, &jobs[i]);
			}
			for (long i = 0; i < a && i < 64; i++)
				pthread_join(jobs[i].t, NULL);
		} else if (!strcmp(word, "msg") &&
			   sscanf(line, "%*s %255s %ld %ld", text, &a, &b) == 3) {
			for (long i = 0; i < b; i++)
				DTRACE_PROBE2(shopd, message_processed, text, (int)a);
		} else if (!strcmp(word, "done") &&
			   sscanf(line, "%*s %255s %ld %ld", text, &a, &b) == 3) {
			for (long i = 0; i < b; i++)
				DTRACE_PROBE2(shopd, request_done, text, a);
		} else if (!strcmp(word, "longjmp") && sscanf(line, "%*s %ld", &a) == 1) {
			for (volatile long i = 0; i < a; i++)
				if (!setjmp(env))
					escape((int)i);
		} else if (!strcmp(word, "lib") &&
			   sscanf(line, "%*s %ld %ld %ld", &a, &b, &c) == 3) {
			for (long i = 0; i < c; i++)
				lib_op((int)a, (int)b);
		} else if (!strcmp(word, "pid")) {
			printf("%d\n", (int)getpid());
			continue;
		} else if (!strcmp(word, "quit")) {
			break;
		} else {
			printf("bad command: %s", line);
			continue;
		}
		printf("ok\n");
	}
	return 0;
}
