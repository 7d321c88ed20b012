// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_bpf_parser.c - the real cgroup_skb programs, loaded from the real object and run on
 * crafted packets with BPF_PROG_TEST_RUN.
 *
 * A test run gives the program a dummy socket that lives for one run (or for all repeats of
 * one run), so a request and its response cannot meet here: what a single segment leaves
 * behind is checked instead (routes inserted, parser events counted, the verdict). Request and
 * response pairing is tested on real sockets in tests/integration.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/types.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sockeye.h"
#include "sockeye.skel.h"

static struct sockeye_bpf *skel;

/* Ethernet (stripped by the kernel), IPv4 or IPv6, TCP without options, payload. */
static size_t build_packet(unsigned char *pkt, int ipv6, __u32 seq, const void *payload,
			   size_t len, int proto)
{
	size_t off = 0, l3;
	unsigned char *tcp;

	memset(pkt, 0, 14 + 40 + 20);
	pkt[12] = ipv6 ? 0x86 : 0x08;
	pkt[13] = ipv6 ? 0xdd : 0x00;
	off = 14;
	if (ipv6) {
		pkt[off] = 0x60;
		pkt[off + 4] = (20 + len) >> 8;
		pkt[off + 5] = (20 + len) & 0xff;
		pkt[off + 6] = proto;
		pkt[off + 7] = 64;
		pkt[off + 23] = 1; /* ::1 */
		pkt[off + 39] = 1;
		l3 = 40;
	} else {
		__u16 tot = 20 + 20 + len;

		pkt[off] = 0x45;
		pkt[off + 2] = tot >> 8;
		pkt[off + 3] = tot & 0xff;
		pkt[off + 8] = 64;
		pkt[off + 9] = proto;
		pkt[off + 12] = 127, pkt[off + 15] = 1;
		pkt[off + 16] = 127, pkt[off + 19] = 1;
		l3 = 20;
	}
	tcp = pkt + off + l3;
	tcp[0] = 0xc3, tcp[1] = 0x50; /* 50000 */
	tcp[2] = 0x1f, tcp[3] = 0x90; /* 8080 */
	tcp[4] = seq >> 24, tcp[5] = seq >> 16, tcp[6] = seq >> 8, tcp[7] = seq;
	tcp[12] = 5 << 4;
	tcp[13] = 0x18; /* PSH ACK */
	memcpy(tcp + 20, payload, len);
	return off + l3 + 20 + len;
}

/* Runs one program on one packet `repeat` times; returns the verdict. */
static int run(struct bpf_program *prog, int ipv6, const void *payload, size_t len, int repeat,
	       int proto)
{
	static unsigned char pkt[16384];
	size_t n = build_packet(pkt, ipv6, 1000, payload, len, proto);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = n,
		    .repeat = repeat);
	int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);

	if (err)
		fail_msg("bpf_prog_test_run_opts: %s", strerror(-err));
	return (int)opts.retval;
}

static __u64 stat_of(enum sockeye_stat which)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 vals[ncpu], sum = 0;
	__u32 key = which;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.sockeye_stats), &key, vals), 0);
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

static int route_present(const char *route)
{
	int fd = bpf_map__fd(skel->maps.http_routes);
	__u64 key, next;
	void *prev = NULL;
	struct sockeye_route r;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &r) == 0 && strcmp(r.path, route) == 0)
			return 1;
	}
	return 0;
}

static size_t route_count(void)
{
	int fd = bpf_map__fd(skel->maps.http_routes);
	__u64 key, next;
	void *prev = NULL;
	size_t n = 0;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		n++;
	}
	return n;
}

struct stats_before {
	__u64 v[SOCKEYE_STAT_MAX];
	size_t routes;
};

static void snap(struct stats_before *b)
{
	for (int i = 0; i < SOCKEYE_STAT_MAX; i++)
		b->v[i] = stat_of(i);
	b->routes = route_count();
}

/* Every stat unchanged except `which`, which grew by `by`. */
static void expect_stats(const struct stats_before *b, int which, __u64 by)
{
	for (int i = 0; i < SOCKEYE_STAT_MAX; i++) {
		__u64 want = b->v[i] + (i == which ? by : 0), got = stat_of(i);

		if (got != want)
			fail_msg("stat %d: want %llu, got %llu", i, (unsigned long long)want,
				 (unsigned long long)got);
	}
}

#define STR(s) s, sizeof(s) - 1

static void test_pipelined_requests_in_one_segment_each_get_their_route(void **state)
{
	static const char req[] = "GET /pipe/1/items HTTP/1.1\r\nHost: a\r\n\r\n"
				  "POST /pipe/two HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
				  "DELETE /pipe/deadbeef12 HTTP/1.0\r\n\r\n"
				  "PATCH /pipe/3f2b8c1e-9d4a-4e5b-8f6a-1b2c3d4e5f60?x=secret HTTP/1.1\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n"
				  "OPTIONS * HTTP/1.1\r\n\r\n";
	struct stats_before b;

	(void)state;
	snap(&b);
	assert_int_equal(run(skel->progs.cgskb_ingress, 0, STR(req), 1, 6), 1);
	assert_true(route_present("/pipe/{id}/items"));
	assert_true(route_present("/pipe/two"));
	assert_true(route_present("/pipe/{id}"));
	assert_true(route_present("*"));
	assert_int_equal(route_count(), b.routes + 4); /* /pipe/{id} twice: one entry */
	expect_stats(&b, -1, 0);
}

static void test_ipv6_request_is_parsed(void **state)
{
	static const char req[] = "GET /six/42 HTTP/1.1\r\nHost: [::1]\r\n\r\n";
	struct stats_before b;

	(void)state;
	snap(&b);
	assert_int_equal(run(skel->progs.cgskb_ingress, 1, STR(req), 1, 6), 1);
	assert_true(route_present("/six/{id}"));
	assert_int_equal(route_count(), b.routes + 1);
	expect_stats(&b, -1, 0);
}

static void test_client_request_on_egress_is_parsed(void **state)
{
	static const char req[] = "PUT /egress/7 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
	struct stats_before b;

	(void)state;
	snap(&b);
	assert_int_equal(run(skel->progs.cgskb_egress, 0, STR(req), 1, 6), 1);
	assert_true(route_present("/egress/{id}"));
	expect_stats(&b, -1, 0);
}

static void test_body_that_looks_like_a_request_is_not_one(void **state)
{
	static const char req[] = "POST /real HTTP/1.1\r\ncontent-length: 36\r\n\r\n"
				  "GET /fake HTTP/1.1\r\nHost: x\r\n\r\n12345";
	struct stats_before b;

	(void)state;
	snap(&b);
	run(skel->progs.cgskb_ingress, 0, STR(req), 1, 6);
	assert_true(route_present("/real"));
	assert_false(route_present("/fake"));
	expect_stats(&b, -1, 0);
}

static void test_binary_garbage_is_ignored_without_state(void **state)
{
	unsigned char junk[1024];
	struct stats_before b;

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	junk[0] = 0x16; /* a TLS record */
	snap(&b);
	assert_int_equal(run(skel->progs.cgskb_ingress, 0, junk, sizeof(junk), 1, 6), 1);
	assert_int_equal(run(skel->progs.cgskb_egress, 1, junk, sizeof(junk), 1, 6), 1);
	assert_int_equal(route_count(), b.routes);
	expect_stats(&b, -1, 0);
}

static void test_upper_case_garbage_is_not_http(void **state)
{
	static const char junk[] = "XYZZY\x01\x02\x03 not a request";
	struct stats_before b;

	(void)state;
	snap(&b);
	assert_int_equal(run(skel->progs.cgskb_ingress, 0, STR(junk), 1, 6), 1);
	assert_int_equal(route_count(), b.routes);
	expect_stats(&b, SOCKEYE_STAT_NOT_HTTP, 1);
}

static void test_http2_preface_is_not_http1(void **state)
{
	static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00";
	struct stats_before b;

	(void)state;
	snap(&b);
	assert_int_equal(run(skel->progs.cgskb_ingress, 0, STR(pri), 1, 6), 1);
	assert_int_equal(route_count(), b.routes);
	expect_stats(&b, SOCKEYE_STAT_NOT_HTTP, 1);
}

static void test_truncated_request_line_waits_for_more(void **state)
{
	static const char part[] = "GET /truncated/line/that/never/ends";
	struct stats_before b;

	(void)state;
	snap(&b);
	assert_int_equal(run(skel->progs.cgskb_ingress, 0, STR(part), 1, 6), 1);
	assert_false(route_present("/truncated/line/that/never/ends"));
	assert_int_equal(route_count(), b.routes);
	expect_stats(&b, -1, 0);
}

static void test_same_segment_again_is_a_retransmit(void **state)
{
	static const char req[] = "GET /retransmitted HTTP/1.1\r\n\r\n";
	struct stats_before b;

	(void)state;
	snap(&b);
	/* repeat reuses the dummy socket: the second and third runs see the same sequence. */
	assert_int_equal(run(skel->progs.cgskb_ingress, 0, STR(req), 3, 6), 1);
	assert_true(route_present("/retransmitted"));
	assert_int_equal(route_count(), b.routes + 1);
	expect_stats(&b, SOCKEYE_STAT_RETRANSMIT, 2);
}

static void test_response_without_request_is_unmatched(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct stats_before b;

	(void)state;
	snap(&b);
	assert_int_equal(run(skel->progs.cgskb_ingress, 0, STR(resp), 1, 6), 1);
	expect_stats(&b, SOCKEYE_STAT_UNMATCHED_RESPONSE, 1);
}

/* Test runs take at most about a page of data, so the 8 KiB scan bound itself is tested on a
 * real socket (tests/integration/test_segments.py); here: many windows in one segment. */
static void test_headers_spanning_many_windows_are_framed(void **state)
{
	static char req[3400];
	struct stats_before b;
	size_t n;

	(void)state;
	n = (size_t)snprintf(req, sizeof(req), "GET /big/headers HTTP/1.1\r\n");
	while (n < sizeof(req) - 200)
		n += (size_t)snprintf(req + n, sizeof(req) - n,
				      "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\nGET /after/big HTTP/1.1\r\n\r\n");
	snap(&b);
	assert_int_equal(run(skel->progs.cgskb_ingress, 0, req, n, 1, 6), 1);
	assert_true(route_present("/big/headers"));
	assert_true(route_present("/after/big"));
	expect_stats(&b, -1, 0);
}

static void test_every_verdict_is_allow(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";
	unsigned char tiny[1] = {'G'};

	(void)state;
	assert_int_equal(run(skel->progs.cgskb_ingress, 0, STR(req), 1, 17 /* UDP */), 1);
	assert_int_equal(run(skel->progs.cgskb_egress, 0, STR(req), 1, 17), 1);
	assert_int_equal(run(skel->progs.cgskb_ingress, 0, tiny, 0, 1, 6), 1);
	assert_int_equal(run(skel->progs.cgskb_egress, 1, tiny, 1, 1, 6), 1);
}

static int setup(void **state)
{
	(void)state;
	skel = sockeye_bpf__open();
	if (!skel)
		return -1;
	/* The default buckets, as the agent configures them. */
	static const __u64 b[] = {5000000,   10000000,	 25000000,   50000000,	75000000,
				  100000000, 250000000,	 500000000,  750000000, 1000000000,
				  2500000000, 5000000000, 7500000000, 10000000000};
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		skel->rodata->bounds_ns[i] = b[i];
	skel->rodata->n_bounds = sizeof(b) / sizeof(b[0]);
	if (sockeye_bpf__load(skel)) {
		fprintf(stderr, "loading the BPF object failed: %s\n", strerror(errno));
		sockeye_bpf__destroy(skel);
		skel = NULL;
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sockeye_bpf__destroy(skel);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_requests_in_one_segment_each_get_their_route),
		cmocka_unit_test(test_ipv6_request_is_parsed),
		cmocka_unit_test(test_client_request_on_egress_is_parsed),
		cmocka_unit_test(test_body_that_looks_like_a_request_is_not_one),
		cmocka_unit_test(test_binary_garbage_is_ignored_without_state),
		cmocka_unit_test(test_upper_case_garbage_is_not_http),
		cmocka_unit_test(test_http2_preface_is_not_http1),
		cmocka_unit_test(test_truncated_request_line_waits_for_more),
		cmocka_unit_test(test_same_segment_again_is_a_retransmit),
		cmocka_unit_test(test_response_without_request_is_unmatched),
		cmocka_unit_test(test_headers_spanning_many_windows_are_framed),
		cmocka_unit_test(test_every_verdict_is_allow),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
