// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_postgres_parser.c - bpf/postgres.bpf.h compiled as C: startup with SSL refused or
 * accepted, simple queries and their keywords, errors with their SQLSTATE, the extended
 * protocol with unnamed and named statements, pipelines with an error, COPY, large rows, the
 * transaction gauge, framing lost, and close; every conversation also cut at every byte offset
 * and fed a byte at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "postgres_feed.h"

static struct pg_feed F; /* large: not on the stack */

struct buf {
	char b[1 << 18];
	size_t n;
};

static struct buf CL, SV; /* what the client sends, what the server answers */

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put32(struct buf *b, uint32_t v)
{
	unsigned char x[4] = { v >> 24, v >> 16, v >> 8, v };

	put(b, x, 4);
}

/* A message: type, then body (n bytes; n < 0: strlen + its NUL). */
static void msg(struct buf *b, char type, const char *body, long n)
{
	size_t len = n < 0 ? strlen(body) + 1 : (size_t)n;

	put(b, &type, 1);
	put32(b, (uint32_t)len + 4);
	put(b, body, len);
}

static void startup(int ssl)
{
	static const char params[] = "user\0postgres\0database\0postgres\0\0";

	if (ssl) {
		put32(&CL, 8);
		put32(&CL, PG_SSL_REQUEST);
		put(&SV, "N", 1);
	}
	put32(&CL, 8 + sizeof(params) - 1);
	put32(&CL, PG_PROTOCOL_3);
	put(&CL, params, sizeof(params) - 1);
	msg(&SV, 'R', "\0\0\0\0", 4);
	msg(&SV, 'S', "server_version\00015.18", 20);
	msg(&SV, 'K', "\0\0\0\1\0\0\0\2", 8);
	msg(&SV, 'Z', "I", 1);
}

static void error(struct buf *b, const char *code)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "SERROR%cVERROR%cC%s%cMsomething failed%c", 0, 0,
			 code, 0, 0);

	body[n++] = 0; /* the fields' end */
	msg(b, 'E', body, n);
}

/* Parse name/query, Bind portal ""/statement name, Describe portal, Execute. */
static void parse(const char *name, const char *query)
{
	char body[512];
	size_t a = strlen(name) + 1, q = strlen(query) + 1;

	memcpy(body, name, a);
	memcpy(body + a, query, q);
	memset(body + a + q, 0, 2); /* no parameter types */
	msg(&CL, 'P', body, (long)(a + q + 2));
}

static void bind_exec(const char *name)
{
	char body[128];
	size_t a = strlen(name) + 1;

	body[0] = 0; /* the unnamed portal */
	memcpy(body + 1, name, a);
	memset(body + 1 + a, 0, 6); /* no formats, no parameters, no result formats */
	msg(&CL, 'B', body, (long)(1 + a + 6));
	msg(&CL, 'D', "P", 2);
	msg(&CL, 'E', "\0\0\0\0", 5);
}

static void sync_(void)
{
	msg(&CL, 'S', "", 0);
}

static void ok_exec(const char *tag)
{
	msg(&SV, '2', "", 0);
	msg(&SV, 'C', tag, -1);
}

/* What one operation should have produced. */
struct want {
	const char *name;
	const char *status;
	int error;
};

static void expect(const struct want *w, size_t n, const char *how)
{
	if (F.n_res != n)
		fail_msg("%s: %u results, want %zu (unmatched %u desync %u full %u)", how, F.n_res, n,
			 F.unmatched, F.desync, F.pipeline_full);
	for (size_t i = 0; i < n; i++) {
		char name[17] = { 0 }, status[17] = { 0 };

		memcpy(name, F.res[i].name, 16);
		memcpy(status, F.res[i].status, 16);
		if (strcmp(name, w[i].name) || strcmp(status, w[i].status) ||
		    F.res[i].error != w[i].error)
			fail_msg("%s: result %zu: got %s/%s/%d, want %s/%s/%d", how, i, name, status,
				 F.res[i].error, w[i].name, w[i].status, w[i].error);
	}
}

/* The conversation (CL at t=1000, then SV at t=5000): whole, cut in two at every offset of
 * each side, and a byte per window. Returns with F holding the last run. */
static void run(const struct want *w, size_t n, int used_after)
{
	char how[64];

	for (int bytewise = 0; bytewise < 2; bytewise++) {
		pg_feed_init(&F);
		F.bytewise = bytewise;
		pg_feed(&F, CL.b, CL.n, 1, 1000);
		pg_feed(&F, SV.b, SV.n, 0, 5000);
		snprintf(how, sizeof(how), "whole%s", bytewise ? ", bytewise" : "");
		expect(w, n, how);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(F.res[i].dur_ns, 4000);
		assert_int_equal(F.used, used_after);
		assert_int_equal(F.used, pg_busy(&F.c));
	}
	for (int side = 0; side < 2; side++) {
		const struct buf *b = side ? &SV : &CL;

		for (size_t cut = 1; cut < b->n; cut++) {
			pg_feed_init(&F);
			if (side) {
				pg_feed(&F, CL.b, CL.n, 1, 1000);
				pg_feed(&F, SV.b, cut, 0, 5000);
				pg_feed(&F, SV.b + cut, SV.n - cut, 0, 5000);
			} else {
				pg_feed(&F, CL.b, cut, 1, 1000);
				pg_feed(&F, CL.b + cut, CL.n - cut, 1, 1000);
				pg_feed(&F, SV.b, SV.n, 0, 5000);
			}
			snprintf(how, sizeof(how), "%s cut at %zu", side ? "server" : "client", cut);
			expect(w, n, how);
			assert_int_equal(F.used, used_after);
		}
	}
}

static int setup(void **state)
{
	(void)state;
	CL.n = SV.n = 0;
	return 0;
}

static void test_simple_queries_and_keywords(void **state)
{
	(void)state;
	startup(1);
	msg(&CL, 'Q', "SELECT 1", -1);
	msg(&CL, 'Q', "  /* a comment */ insert into t values (1)", -1);
	msg(&CL, 'Q', "-- line\n(select 2)", -1);
	msg(&CL, 'Q', "AVERYLONGKEYWORDOFSEVENTEEN x", -1);
	msg(&CL, 'Q', "123", -1);
	for (int i = 0; i < 5; i++) {
		msg(&SV, 'T', "\0\1?column?\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24);
		msg(&SV, 'D', "\0\1\0\0\0\1x", 7);
		msg(&SV, 'C', "SELECT 1", -1);
		msg(&SV, 'Z', "I", 1);
	}
	static const struct want w[] = { { "SELECT", "", 0 }, { "INSERT", "", 0 },
					 { "SELECT", "", 0 }, { "", "", 0 }, { "", "", 0 } };
	run(w, 5, 0);
	assert_int_equal(F.unmatched, 0);
	assert_int_equal(F.open, 1);
}

static void test_simple_query_error_and_multi_statement(void **state)
{
	(void)state;
	startup(0);
	msg(&CL, 'Q', "select 1/0", -1);
	error(&SV, "22012");
	msg(&SV, 'Z', "I", 1);
	msg(&CL, 'Q', "UPDATE a SET x = 1; SELECT 1/0; SELECT 3", -1);
	msg(&SV, 'C', "UPDATE 1", -1);
	error(&SV, "22012");
	msg(&SV, 'Z', "I", 1);
	static const struct want w[] = { { "SELECT", "22012", SOCKEYE_DB_ERR_RESPONSE },
					 { "UPDATE", "22012", SOCKEYE_DB_ERR_RESPONSE } };
	run(w, 2, 0);
}

static void test_extended_unnamed_and_named_statements(void **state)
{
	(void)state;
	startup(1);
	parse("", "SELECT * FROM t WHERE id = $1");
	bind_exec("");
	sync_();
	msg(&SV, '1', "", 0);
	ok_exec("SELECT 1");
	msg(&SV, 'Z', "I", 1);
	parse("P0_1", "UPDATE t SET v = 1");
	parse("P0_2", "DELETE FROM t");
	bind_exec("P0_1");
	bind_exec("P0_2");
	bind_exec("P0_1");
	sync_();
	msg(&SV, '1', "", 0);
	msg(&SV, '1', "", 0);
	ok_exec("UPDATE 1");
	ok_exec("DELETE 0");
	ok_exec("UPDATE 1");
	msg(&SV, 'Z', "I", 1);
	/* Closed: its name no longer names anything. */
	msg(&CL, 'C', "SP0_2", -1);
	bind_exec("P0_2");
	sync_();
	msg(&SV, '3', "", 0);
	ok_exec("DELETE 0");
	msg(&SV, 'Z', "I", 1);
	static const struct want w[] = { { "SELECT", "", 0 }, { "UPDATE", "", 0 },
					 { "DELETE", "", 0 }, { "UPDATE", "", 0 }, { "", "", 0 } };
	run(w, 5, 0);
	assert_int_equal(F.unmatched, 0);
	assert_int_equal(pg_queued(&F.c), 0);
}

static void test_pipeline_with_an_error(void **state)
{
	(void)state;
	startup(0);
	parse("", "INSERT INTO a VALUES (1)");
	bind_exec("");
	parse("", "SELECT * FROM nosuch");
	bind_exec("");
	parse("", "DELETE FROM a");
	bind_exec(""); /* skipped by the server after the error: never run, not counted */
	sync_();
	parse("", "SELECT 1");
	bind_exec("");
	sync_();
	msg(&SV, '1', "", 0);
	ok_exec("INSERT 0 1");
	error(&SV, "42P01");
	msg(&SV, 'Z', "I", 1);
	msg(&SV, '1', "", 0);
	ok_exec("SELECT 1");
	msg(&SV, 'Z', "I", 1);
	static const struct want w[] = { { "INSERT", "", 0 },
					 { "SELECT", "42P01", SOCKEYE_DB_ERR_RESPONSE },
					 { "SELECT", "", 0 } };
	run(w, 3, 0);
	assert_int_equal(pg_queued(&F.c), 0);
}

static void test_transaction_keeps_the_connection_used(void **state)
{
	(void)state;
	startup(0);
	msg(&CL, 'Q', "BEGIN", -1);
	msg(&CL, 'Q', "SELECT 1", -1);
	msg(&SV, 'C', "BEGIN", -1);
	msg(&SV, 'Z', "T", 1);
	msg(&SV, 'C', "SELECT 1", -1);
	msg(&SV, 'Z', "T", 1);
	static const struct want w[] = { { "BEGIN", "", 0 }, { "SELECT", "", 0 } };
	run(w, 2, 1);
	/* A failed transaction ('E') is used too; COMMIT ends it. */
	msg(&CL, 'Q', "COMMIT", -1);
	pg_feed(&F, CL.b + CL.n - 12, 12, 1, 6000);
	assert_int_equal(F.used, 1);
	static const char z[] = "C\0\0\0\x0b" "COMMIT\0Z\0\0\0\5I";
	pg_feed(&F, z, sizeof(z) - 1, 0, 7000);
	assert_int_equal(F.n_res, 3);
	assert_int_equal(F.used, 0);
}

static void test_copy_and_large_rows_are_skipped(void **state)
{
	static char big[100000];

	(void)state;
	memset(big, 'Q', sizeof(big)); /* looks like messages if it were framed wrongly */
	startup(0);
	msg(&CL, 'Q', "COPY t FROM STDIN", -1);
	msg(&SV, 'G', "\0\0\1\0\0", 5);
	msg(&CL, 'd', big, 5000);
	msg(&CL, 'd', big, 70000);
	msg(&CL, 'c', "", 0);
	msg(&SV, 'C', "COPY 2", -1);
	msg(&SV, 'Z', "I", 1);
	msg(&CL, 'Q', "COPY t TO STDOUT", -1);
	msg(&SV, 'H', "\0\0\1\0\0", 5);
	msg(&SV, 'd', big, 90000);
	msg(&SV, 'N', "SNOTICE\0Mhi\0\0", 13);
	msg(&SV, 'c', "", 0);
	msg(&SV, 'C', "COPY 1", -1);
	msg(&SV, 'Z', "I", 1);
	msg(&CL, 'Q', "SELECT big", -1);
	msg(&SV, 'D', big, 100000);
	msg(&SV, 'C', "SELECT 1", -1);
	msg(&SV, 'Z', "I", 1);
	static const struct want w[] = { { "COPY", "", 0 }, { "COPY", "", 0 },
					 { "SELECT", "", 0 } };
	pg_feed_init(&F);
	pg_feed(&F, CL.b, CL.n, 1, 1000);
	pg_feed(&F, SV.b, SV.n, 0, 5000);
	expect(w, 3, "whole");
	F.bytewise = 1; /* and again a byte per window, in segments of 1448 bytes */
	pg_feed_init(&F);
	F.bytewise = 1;
	for (size_t i = 0; i < CL.n; i += 1448)
		pg_feed(&F, CL.b + i, CL.n - i < 1448 ? CL.n - i : 1448, 1, 1000);
	for (size_t i = 0; i < SV.n; i += 1448)
		pg_feed(&F, SV.b + i, SV.n - i < 1448 ? SV.n - i : 1448, 0, 5000);
	expect(w, 3, "segments");
	assert_int_equal(F.desync, 0);
}

static void test_ssl_accepted_leaves_the_connection(void **state)
{
	static const char req[] = "\0\0\0\x08\x04\xd2\x16\x2f";

	(void)state;
	pg_feed_init(&F);
	assert_int_equal(pg_detect_bytes(req, 8), 1);
	pg_feed(&F, req, 8, 1, 1000);
	pg_feed(&F, "S", 1, 0, 2000);
	assert_int_equal(F.ignored, 1);
	assert_int_equal(F.open, 0);
	pg_feed(&F, "\x16\x03\x01\x02\x00", 5, 1, 3000); /* a ClientHello: not parsed */
	assert_int_equal(F.desync, 0);
	assert_int_equal(F.n_res, 0);
}

static void test_detection(void **state)
{
	(void)state;
	startup(0);
	assert_int_equal(pg_detect_bytes(CL.b, 8), 1);
	assert_int_equal(pg_detect_bytes("\0\0\0\x10\x04\xd2\x16\x2e", 8), 0); /* cancel */
	assert_int_equal(pg_detect_bytes("GET / HT", 8), 0);
	assert_int_equal(pg_detect_bytes("*1\r\n$4\r\n", 8), 0);
	assert_int_equal(pg_detect_bytes("\0\0\0\x08\0\3\0\0", 8), 0); /* no parameters */
	assert_int_equal(pg_detect_bytes(CL.b, 7), 0);
}

static void test_bad_length_is_desync(void **state)
{
	(void)state;
	startup(0);
	pg_feed_init(&F);
	pg_feed(&F, CL.b, CL.n, 1, 1000);
	pg_feed(&F, "Q\0\0\0\x02", 5, 1, 1000);
	assert_int_equal(F.desync, 1);
	assert_int_equal(F.open, 0);
	assert_int_equal(F.used, 0);
	pg_feed_init(&F);
	pg_feed(&F, CL.b, CL.n, 1, 1000);
	pg_feed(&F, "D\x7f\0\0\0", 5, 0, 1000); /* 2 GiB */
	assert_int_equal(F.desync, 1);
}

static void test_close_with_operations_outstanding(void **state)
{
	(void)state;
	startup(0);
	pg_feed_init(&F);
	pg_feed(&F, CL.b, CL.n, 1, 1000);
	pg_feed(&F, SV.b, SV.n, 0, 1000);
	CL.n = 0;
	msg(&CL, 'Q', "SELECT pg_sleep(10)", -1);
	parse("", "UPDATE x SET y = 1");
	bind_exec("");
	sync_();
	pg_feed(&F, CL.b, CL.n, 1, 2000);
	assert_int_equal(F.used, 1);
	pg_feed_close(&F, 9000);
	static const struct want w[] = { { "SELECT", "", SOCKEYE_DB_ERR_CLOSED },
					 { "UPDATE", "", SOCKEYE_DB_ERR_CLOSED } };
	expect(w, 2, "close");
	assert_int_equal(F.res[0].dur_ns, 7000);
	assert_int_equal(F.used, 0);
	assert_int_equal(F.open, 0);
}

static void test_fifo_full_leaves_the_connection(void **state)
{
	(void)state;
	startup(0);
	for (int i = 0; i < PG_FIFO + 1; i++)
		msg(&CL, 'Q', "SELECT 1", -1);
	pg_feed_init(&F);
	pg_feed(&F, CL.b, CL.n, 1, 1000);
	assert_int_equal(F.pipeline_full, 1);
	assert_int_equal(F.open, 0);
	assert_int_equal(F.used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_simple_queries_and_keywords, setup),
		cmocka_unit_test_setup(test_simple_query_error_and_multi_statement, setup),
		cmocka_unit_test_setup(test_extended_unnamed_and_named_statements, setup),
		cmocka_unit_test_setup(test_pipeline_with_an_error, setup),
		cmocka_unit_test_setup(test_transaction_keeps_the_connection_used, setup),
		cmocka_unit_test_setup(test_copy_and_large_rows_are_skipped, setup),
		cmocka_unit_test_setup(test_ssl_accepted_leaves_the_connection, setup),
		cmocka_unit_test_setup(test_detection, setup),
		cmocka_unit_test_setup(test_bad_length_is_desync, setup),
		cmocka_unit_test_setup(test_close_with_operations_outstanding, setup),
		cmocka_unit_test_setup(test_fifo_full_leaves_the_connection, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
