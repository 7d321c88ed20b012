// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_redis_parser.c - bpf/redis.bpf.h compiled as C: RESP2/RESP3 framing, command names,
 * replies, errors, nils and cache results, pipelining, MULTI/EXEC and pub/sub, with every
 * conversation also cut at every byte offset and fed a byte at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_feed.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct feed F; /* large: not on the stack */

/* What one operation should have produced. */
struct want {
	const char *name; /* "" for a name longer than 16 bytes */
	const char *status;
	int error;
	int cache; /* 1: hits and misses below */
	unsigned hits, misses;
	uint64_t dur_ns;
};

static void expect_result(const struct redis_result *r, const struct want *w, size_t i)
{
	char name[SOCKEYE_DB_NAME_LEN + 1] = { 0 }, status[SOCKEYE_DB_NAME_LEN + 1] = { 0 };

	memcpy(name, r->name, SOCKEYE_DB_NAME_LEN);
	memcpy(status, r->status, SOCKEYE_DB_NAME_LEN);
	if (strcmp(name, w->name) || strcmp(status, w->status) || r->error != w->error ||
	    r->cache != w->cache || (w->cache && (r->hits != w->hits || r->misses != w->misses)) ||
	    (w->dur_ns && r->dur_ns != w->dur_ns))
		fail_msg("result %zu: got name=%s status=%s error=%d cache=%d hits=%u misses=%u "
			 "dur=%llu; want name=%s status=%s error=%d cache=%d hits=%u misses=%u "
			 "dur=%llu",
			 i, name, status, r->error, r->cache, r->hits, r->misses,
			 (unsigned long long)r->dur_ns, w->name, w->status, w->error, w->cache,
			 w->hits, w->misses, (unsigned long long)w->dur_ns);
	/* Unused name bytes are zero: the key of db_ops and db_dur. */
	for (size_t k = strlen(name); k < SOCKEYE_DB_NAME_LEN; k++)
		assert_int_equal(r->name[k], 0);
}

static void expect_results(const struct want *w, size_t n)
{
	if (F.n_res != n)
		fail_msg("%u results, want %zu (pipeline_full %u unmatched %u desync %u)", F.n_res,
			 n, F.pipeline_full, F.unmatched, F.desync);
	for (size_t i = 0; i < n; i++)
		expect_result(&F.res[i], &w[i], i);
}

/* The commands (client bytes) at t=1000, then the replies at t=5000: whole, then cut in two at
 * every offset of each side, then a byte per segment, then a byte per window. */
static void run_cuts(const char *cmd, const char *rep, const struct want *w, size_t n)
{
	size_t lc = strlen(cmd), lr = strlen(rep);

	for (size_t mode = 0; mode < 3; mode++) {
		size_t cuts = mode == 1 ? (lc > lr ? lc : lr) + 1 : 1;

		for (size_t k = 0; k < cuts; k++) {
			size_t kc = k < lc ? k : lc, kr = k < lr ? k : lr;

			feed_init(&F);
			F.bytewise = mode == 2;
			if (mode == 0 || mode == 2) {
				feed(&F, cmd, lc, 1, 1000);
				feed(&F, rep, lr, 0, 5000);
			} else {
				feed(&F, cmd, kc, 1, 1000);
				feed(&F, cmd + kc, lc - kc, 1, 1000);
				feed(&F, rep, kr, 0, 5000);
				feed(&F, rep + kr, lr - kr, 0, 5000);
			}
			assert_int_equal(F.desync, 0);
			assert_int_equal(F.unmatched, 0);
			assert_int_equal(F.pipeline_full, 0);
			assert_int_equal(F.used, 0);
			expect_results(w, n);
		}
	}
	/* A byte per segment, each at its own time: a command's time is its first byte's. */
	feed_init(&F);
	for (size_t i = 0; i < lc; i++)
		feed(&F, cmd + i, 1, 1, 1000 + i);
	for (size_t i = 0; i < lr; i++)
		feed(&F, rep + i, 1, 0, 100000 + i);
	assert_int_equal(F.n_res, n);
	assert_int_equal(F.desync, 0);
}

#define OK_ { "", "", 0, 0, 0, 0, 0 }

static void test_get_hit_and_miss(void **state)
{
	const char cmd[] = "*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n"
			   "*2\r\n$3\r\nGET\r\n$4\r\nnope\r\n";
	const char rep[] = "$5\r\nhello\r\n$-1\r\n";
	const struct want w[] = {
		{ "GET", "", 0, 1, 1, 0, 4000 },
		{ "GET", "", 0, 1, 0, 1, 4000 },
	};

	(void)state;
	run_cuts(cmd, rep, w, ARRAY_SIZE(w));
}

static void test_mget_hmget_exists_and_sets(void **state)
{
	const char cmd[] = "*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
			   "*4\r\n$5\r\nHMGET\r\n$1\r\nh\r\n$1\r\nx\r\n$1\r\ny\r\n"
			   "*4\r\n$6\r\nEXISTS\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
			   "*3\r\n$9\r\nSISMEMBER\r\n$1\r\ns\r\n$1\r\nm\r\n"
			   "*5\r\n$10\r\nSMISMEMBER\r\n$1\r\ns\r\n$1\r\nm\r\n$1\r\nn\r\n$1\r\no\r\n"
			   "*3\r\n$4\r\nHGET\r\n$1\r\nh\r\n$1\r\nx\r\n"
			   "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
	const char rep[] = "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n"
			   "*2\r\n$-1\r\n$-1\r\n"
			   ":2\r\n"
			   ":1\r\n"
			   "*3\r\n:1\r\n:0\r\n:1\r\n"
			   "_\r\n" /* RESP3 nil */
			   "+OK\r\n";
	const struct want w[] = {
		{ "MGET", "", 0, 1, 2, 1, 0 },	  { "HMGET", "", 0, 1, 0, 2, 0 },
		{ "EXISTS", "", 0, 1, 2, 1, 0 },  { "SISMEMBER", "", 0, 1, 1, 0, 0 },
		{ "SMISMEMBER", "", 0, 1, 2, 1, 0 }, { "HGET", "", 0, 1, 0, 1, 0 },
		{ "SET", "", 0, 0, 0, 0, 0 },
	};

	(void)state;
	run_cuts(cmd, rep, w, ARRAY_SIZE(w));
}

static void test_errors_keep_their_prefix(void **state)
{
	const char cmd[] = "*2\r\n$4\r\nINCR\r\n$1\r\nh\r\n"
			   "*1\r\n$7\r\nNOSUCHC\r\n"
			   "*2\r\n$3\r\nGET\r\n$1\r\nh\r\n"
			   "*1\r\n$4\r\nPING\r\n"
			   "*1\r\n$4\r\nPING\r\n";
	const char rep[] = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
			   "-ERR unknown command 'NOSUCHC', with args beginning with: \r\n"
			   "!21\r\nSYNTAX invalid syntax\r\n" /* RESP3 blob error */
			   "-ABCDEFGHIJKLMNOPQRSTUVWXYZ long prefix\r\n"
			   "-lower case\r\n";
	const struct want w[] = {
		{ "INCR", "WRONGTYPE", SOCKEYE_DB_ERR_RESPONSE, 0, 0, 0, 0 },
		{ "NOSUCHC", "ERR", SOCKEYE_DB_ERR_RESPONSE, 0, 0, 0, 0 },
		{ "GET", "SYNTAX", SOCKEYE_DB_ERR_RESPONSE, 0, 0, 0, 0 }, /* no cache result */
		{ "PING", "ABCDEFGHIJKLMNOP", SOCKEYE_DB_ERR_RESPONSE, 0, 0, 0, 0 },
		{ "PING", "", SOCKEYE_DB_ERR_RESPONSE, 0, 0, 0, 0 },
	};

	(void)state;
	run_cuts(cmd, rep, w, ARRAY_SIZE(w));
}

/* RESP3 types, nesting far deeper than any stack, maps, sets, attributes, and a push between
 * two replies that answers nothing. */
static void test_resp3_nesting_and_push(void **state)
{
	char rep[4096];
	const char cmd[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"
			   "*1\r\n$4\r\nEVAL\r\n"
			   "*1\r\n$6\r\nCONFIG\r\n"
			   "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
			   "*1\r\n$4\r\nPING\r\n";
	const struct want w[] = {
		{ "HELLO", "", 0, 0, 0, 0, 0 }, { "EVAL", "", 0, 0, 0, 0, 0 },
		{ "CONFIG", "", 0, 0, 0, 0, 0 }, { "GET", "", 0, 1, 1, 0, 0 },
		{ "PING", "", 0, 0, 0, 0, 0 },
	};
	size_t n = 0;

	(void)state;
	n += sprintf(rep + n, "%%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n+proto\r\n:3\r\n"
			      "$7\r\nmodules\r\n*0\r\n");
	/* 40 levels of one-element arrays around a set, a double, a bool, a big number and a
	 * verbatim string. */
	for (int i = 0; i < 40; i++)
		n += sprintf(rep + n, "*1\r\n");
	n += sprintf(rep + n, "~5\r\n,3.14\r\n#t\r\n(12345678901234567890\r\n=7\r\ntxt:abc\r\n"
			      "_\r\n");
	n += sprintf(rep + n, "|1\r\n+key-popularity\r\n*2\r\n$1\r\na\r\n,0.1923\r\n"
			      "*2\r\n+a\r\n+b\r\n");
	n += sprintf(rep + n, ">3\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$-1\r\n");
	n += sprintf(rep + n, "$1\r\nv\r\n");
	n += sprintf(rep + n, ">2\r\n+x\r\n+y\r\n+PONG\r\n");
	run_cuts(cmd, rep, w, ARRAY_SIZE(w));
	feed_init(&F);
	feed(&F, cmd, strlen(cmd), 1, 1);
	feed(&F, rep, n, 0, 2);
	assert_int_equal(F.pushes, 2);
}

/* A value far larger than a segment is skipped by length, in pieces, whatever it holds. */
static void test_large_values_are_skipped_by_length(void **state)
{
	enum { BIG = 1 << 20 };
	char *cmd = malloc(BIG + 64), *rep = malloc(BIG + 64);
	size_t lc, lr;

	(void)state;
	lc = (size_t)sprintf(cmd, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n", BIG);
	memset(cmd + lc, '*', BIG); /* bytes that look like RESP */
	lc += BIG;
	lc += (size_t)sprintf(cmd + lc, "\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
	lr = (size_t)sprintf(rep, "+OK\r\n$%d\r\n", BIG);
	memset(rep + lr, '$', BIG);
	lr += BIG;
	lr += (size_t)sprintf(rep + lr, "\r\n");
	feed_init(&F);
	for (size_t off = 0; off < lc; off += 1448)
		feed(&F, cmd + off, lc - off < 1448 ? lc - off : 1448, 1, 10);
	for (size_t off = 0; off < lr; off += 1448)
		feed(&F, rep + off, lr - off < 1448 ? lr - off : 1448, 0, 20 + off);
	{
		const struct want w[] = { { "SET", "", 0, 0, 0, 0, 10 },
					  { "GET", "", 0, 1, 1, 0, 20 + (lr - 1) / 1448 * 1448 - 10 } };

		expect_results(w, ARRAY_SIZE(w));
	}
	assert_int_equal(F.desync, 0);
	free(cmd);
	free(rep);
}

/* redis-benchmark -P 16: sixteen commands in one segment, sixteen replies in one. */
static void test_pipeline_of_16_is_exact(void **state)
{
	char cmd[2048], rep[1024];
	struct want w[16];
	size_t lc = 0, lr = 0;

	(void)state;
	for (int i = 0; i < 16; i++) {
		if (i % 2 == 0) {
			lc += sprintf(cmd + lc, "*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n"
						"$3\r\nxxx\r\n");
			lr += sprintf(rep + lr, "+OK\r\n");
			w[i] = (struct want){ "SET", "", 0, 0, 0, 0, 4000 };
		} else {
			lc += sprintf(cmd + lc, "*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n");
			lr += sprintf(rep + lr, "$3\r\nxxx\r\n");
			w[i] = (struct want){ "GET", "", 0, 1, 1, 0, 4000 };
		}
	}
	run_cuts(cmd, rep, w, 16);
	/* Used while any is outstanding, idle after the last reply. */
	feed_init(&F);
	feed(&F, cmd, lc, 1, 1);
	assert_int_equal(F.used, 1);
	feed(&F, rep, lr - 1, 0, 2);
	assert_int_equal(F.used, 1);
	assert_int_equal(F.n_res, 15);
	feed(&F, rep + lr - 1, 1, 0, 3);
	assert_int_equal(F.used, 0);
	assert_int_equal(F.open, 1);
	assert_int_equal(F.n_res, 16);
}

/* More outstanding commands than the FIFO holds: the first REDIS_FIFO are timed, the rest are
 * counted as pipeline_full and their replies consumed in order; what follows is exact again. */
#define GET_K "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"

static void test_pipeline_overflow_is_counted_not_miscounted(void **state)
{
	char *cmd = malloc(64 * 40), *rep = malloc(64 * 40);
	size_t lc = 0, lr = 0;
	const int n = REDIS_FIFO + 8;

	(void)state;
	for (int i = 0; i < n; i++) {
		lc += sprintf(cmd + lc, "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n");
		lr += sprintf(rep + lr, ":%d\r\n", i + 1);
	}
	feed_init(&F);
	feed(&F, cmd, lc, 1, 1);
	assert_int_equal(F.pipeline_full, 8);
	/* Half the replies: a new command now must still wait behind the dropped ones. */
	feed(&F, rep, lr / 2, 0, 2);
	feed(&F, GET_K, strlen(GET_K), 1, 3);
	assert_int_equal(F.pipeline_full, 9);
	feed(&F, rep + lr / 2, lr - lr / 2, 0, 4);
	feed(&F, "$2\r\n40\r\n", 8, 0, 5);
	assert_int_equal(F.n_res, REDIS_FIFO);
	assert_int_equal(F.desync, 0);
	assert_int_equal(F.unmatched, 0);
	assert_int_equal(F.used, 0);
	/* Then one command, one reply: timed again. */
	feed(&F, GET_K, strlen(GET_K), 1, 10);
	feed(&F, "$2\r\n40\r\n", 8, 0, 17);
	assert_int_equal(F.n_res, REDIS_FIFO + 1);
	{
		const struct want w = { "GET", "", 0, 1, 1, 0, 7 };

		expect_result(&F.res[REDIS_FIFO], &w, REDIS_FIFO);
	}
	free(cmd);
	free(rep);
}

/* MULTI/EXEC: every command counts when answered; queued reads answer +QUEUED, which is no
 * lookup result, and EXEC's array is EXEC's. */
static void test_multi_exec(void **state)
{
	const char cmd[] = "*1\r\n$5\r\nMULTI\r\n"
			   "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
			   "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
			   "*1\r\n$4\r\nEXEC\r\n";
	const char rep[] = "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\n1\r\n";
	const struct want w[] = {
		{ "MULTI", "", 0, 0, 0, 0, 0 },
		{ "SET", "", 0, 0, 0, 0, 0 },
		{ "GET", "", 0, 0, 0, 0, 0 },
		{ "EXEC", "", 0, 0, 0, 0, 0 },
	};

	(void)state;
	run_cuts(cmd, rep, w, ARRAY_SIZE(w));
}

/* SUBSCRIBE turns the connection into a message stream: nothing after it is parsed. With a
 * command still outstanding, that one is answered and counted first. */
static void test_subscribe_connections_are_left(void **state)
{
	const char sub[] = "*2\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n";
	const char msgs[] = "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
			    "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";

	(void)state;
	feed_init(&F);
	feed(&F, sub, strlen(sub), 1, 1);
	feed(&F, msgs, strlen(msgs), 0, 2);
	assert_int_equal(F.ignored, 1);
	assert_int_equal(F.n_res, 0);
	assert_int_equal(F.unmatched, 0);
	assert_int_equal(F.used, 0);
	assert_int_equal(F.open, 0); /* a pub/sub connection is not in the pool's gauges */

	feed_init(&F);
	feed(&F, "*1\r\n$4\r\nPING\r\n", 14, 1, 1);
	feed(&F, "*2\r\n$10\r\nPSUBSCRIBE\r\n$2\r\nc*\r\n", 29, 1, 1);
	assert_int_equal(F.ignored, 0);
	assert_int_equal(F.used, 1);
	feed(&F, "+PONG\r\n", 7, 0, 5);
	feed(&F, msgs, strlen(msgs), 0, 6);
	assert_int_equal(F.n_res, 1);
	assert_int_equal(F.ignored, 1);
	assert_int_equal(F.used, 0);
	assert_int_equal(F.unmatched, 0);
}

static void test_names_longer_than_16_bytes_are_zero(void **state)
{
	const char cmd[] = "*2\r\n$17\r\ngeoradiusbymember\r\n$1\r\nk\r\n"
			   "*1\r\n$16\r\nzrevrangebyscore\r\n"
			   "*1\r\n$0\r\n\r\n";
	const char rep[] = "*0\r\n*0\r\n-ERR unknown command ''\r\n";
	const struct want w[] = {
		{ "", "", 0, 0, 0, 0, 0 },
		{ "ZREVRANGEBYSCORE", "", 0, 0, 0, 0, 0 },
		{ "", "ERR", SOCKEYE_DB_ERR_RESPONSE, 0, 0, 0, 0 },
	};

	(void)state;
	run_cuts(cmd, rep, w, ARRAY_SIZE(w));
}

/* What is not RESP drops the connection (counted as desync by the kernel), never a guess. */
static void test_broken_framing_drops_the_connection(void **state)
{
	static const char *const bad_cmds[] = {
		"PING\r\n",			    /* inline command */
		"*1\r\n+PING\r\n",		    /* not a bulk string */
		"*1\r\n$4\r\nPINGX\r\n",	    /* payload longer than its length */
		"*x\r\n",			    /* no count */
		"*1\r\n$99999999999999\r\n",	    /* longer than RESP allows */
	};
	static const char *const bad_reps[] = {
		"?garbage\r\n",
		"$3\r\nabcd\r\n",
		"$-2\r\n",
		":\r\n",
		"$?\r\n;4\r\nHell\r\n;0\r\n", /* streamed string: not sent by Redis */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_cmds); i++) {
		feed_init(&F);
		feed(&F, bad_cmds[i], strlen(bad_cmds[i]), 1, 1);
		if (F.desync != 1)
			fail_msg("command %zu accepted", i);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_reps); i++) {
		feed_init(&F);
		feed(&F, "*1\r\n$4\r\nPING\r\n", 14, 1, 1);
		feed(&F, bad_reps[i], strlen(bad_reps[i]), 0, 2);
		if (F.desync != 1)
			fail_msg("reply %zu accepted", i);
		assert_int_equal(F.n_res, 0);
		assert_int_equal(F.used, 0); /* a dropped connection is not busy */
	}
	/* A reply nobody asked for. */
	feed_init(&F);
	feed(&F, "+OK\r\n", 5, 0, 1);
	assert_int_equal(F.unmatched, 1);
}

static void test_detection_by_first_bytes(void **state)
{
	(void)state;
	assert_int_equal(redis_detect_bytes("*1\r\n$4\r\n", 8), 1);
	assert_int_equal(redis_detect_bytes("*3\r\n$3\r\n", 8), 1);
	assert_int_equal(redis_detect_bytes("*0\r\n", 4), 0);
	assert_int_equal(redis_detect_bytes("GET / HT", 8), 0);
	assert_int_equal(redis_detect_bytes("PING\r\n", 6), 0);
	assert_int_equal(redis_detect_bytes("+OK\r\n", 5), 0); /* a reply: not a first byte */
	assert_int_equal(redis_detect_bytes("*", 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_hit_and_miss),
		cmocka_unit_test(test_mget_hmget_exists_and_sets),
		cmocka_unit_test(test_errors_keep_their_prefix),
		cmocka_unit_test(test_resp3_nesting_and_push),
		cmocka_unit_test(test_large_values_are_skipped_by_length),
		cmocka_unit_test(test_pipeline_of_16_is_exact),
		cmocka_unit_test(test_pipeline_overflow_is_counted_not_miscounted),
		cmocka_unit_test(test_multi_exec),
		cmocka_unit_test(test_subscribe_connections_are_left),
		cmocka_unit_test(test_names_longer_than_16_bytes_are_zero),
		cmocka_unit_test(test_broken_framing_drops_the_connection),
		cmocka_unit_test(test_detection_by_first_bytes),
	};

	return cmocka_run_group_tests_name("redis_parser", tests, NULL, NULL);
}
