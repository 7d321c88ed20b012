// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_stream.c - the stream core's dispatch to a tail-called protocol module, on the real
 * socket hooks: build/tests/stream_test.bpf.o is bpf/sockeye.bpf.c with the test module
 * tests/bpf/stream_probe.bpf.h registered. Run with BPF_PROG_TEST_RUN: each run has a socket
 * of its own for all its repeats, so the core's sk_storage and sequence numbers are fresh per
 * run, and repeats of one segment are retransmits.
 *
 * Checked: the first bytes choose the module and the side; the module runs from the prog
 * array of the hook's direction (libbpf filled it when the object loaded); struct stream_seg
 * says what the core saw; retransmitted segments never reach the module; the module's own
 * sk_storage works; the nesting level taken for the segment is given back; a module can let
 * a socket go (stream_ignore); HTTP still goes inline beside it.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/types.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sockeye.h"

#define OBJ "build/tests/stream_test.bpf.o"
#define PROTO_TEST 4 /* enum stream_proto with STREAM_TEST_MODULE (bpf/stream.bpf.h) */

/* Sync note: struct probe_rec in tests/bpf/stream_probe.bpf.h. */
struct probe_rec {
	__u64 calls;
	__u64 cgroup_id;
	__u64 now_ns;
	__u32 off;
	__u32 end;
	__u32 gap;
	__u16 server_port;
	__u8 from_client;
	__u8 first;
	__u8 egress;
	__u8 proto;
	__u8 byte;
	__u8 sk_calls;
};

static struct bpf_object *obj;

static struct bpf_program *prog(const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);

	if (!p)
		fail_msg("no program %s in %s", name, OBJ);
	return p;
}

static int map_fd(const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m)
		fail_msg("no map %s in %s", name, OBJ);
	return bpf_map__fd(m);
}

/* IPv4 + TCP without options (20 + 20 bytes before the payload), after the Ethernet header
 * the kernel strips. */
static size_t packet(unsigned char *pkt, const char *payload)
{
	size_t len = strlen(payload);

	memset(pkt, 0, 54);
	pkt[12] = 0x08;
	pkt[14] = 0x45;
	pkt[16] = (40 + len) >> 8, pkt[17] = (40 + len) & 0xff;
	pkt[22] = 64, pkt[23] = 6;
	pkt[26] = 127, pkt[29] = 1, pkt[30] = 127, pkt[33] = 1;
	pkt[34] = 0xc3, pkt[35] = 0x50, pkt[36] = 0x1f, pkt[37] = 0x90;
	pkt[41] = 100; /* seq */
	pkt[46] = 5 << 4, pkt[47] = 0x18;
	memcpy(pkt + 54, payload, len);
	return 54 + len;
}

static void run(const char *name, const char *payload, int repeat)
{
	static unsigned char pkt[2048];
	size_t n = packet(pkt, payload);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = n, .repeat = repeat);

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(prog(name)), &o), 0);
	assert_int_equal(o.retval, 1); /* a verdict: always allow */
}

static struct probe_rec rec(int egress)
{
	struct probe_rec r;
	__u32 k = egress;

	assert_int_equal(bpf_map_lookup_elem(map_fd("probe_recs"), &k, &r), 0);
	return r;
}

static __u64 percpu_sum(const char *map, __u32 key, size_t size)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned char vals[ncpu * size];
	__u64 sum = 0;

	assert_int_equal(bpf_map_lookup_elem(map_fd(map), &key, vals), 0);
	for (int i = 0; i < ncpu; i++) {
		__u64 v = 0;

		memcpy(&v, vals + i * size, size < 8 ? size : 8);
		sum += v;
	}
	return sum;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void reset(void)
{
	struct probe_rec zero = {0};

	for (__u32 k = 0; k < 2; k++)
		assert_int_equal(bpf_map_update_elem(map_fd("probe_recs"), &k, &zero, BPF_ANY), 0);
}

static void test_client_bytes_arriving_reach_the_module_through_the_ingress_array(void **state)
{
	const char *payload = "SOCKEYE! hello";
	__u64 before = now_ns(), retrans = percpu_sum("sockeye_stats", SOCKEYE_STAT_RETRANSMIT, 8);
	struct probe_rec r;

	(void)state;
	reset();
	run("cgskb_ingress", payload, 3);
	r = rec(0);
	/* Once: the two repeats are the same sequence numbers again, skipped by the core. */
	assert_int_equal(r.calls, 1);
	assert_int_equal(percpu_sum("sockeye_stats", SOCKEYE_STAT_RETRANSMIT, 8), retrans + 2);
	assert_int_equal(r.proto, PROTO_TEST);
	assert_int_equal(r.egress, 0);
	assert_int_equal(r.from_client, 1); /* "SOCKEYE!" travels client -> server */
	assert_int_equal(r.first, 1);
	assert_int_equal(r.gap, 0);
	assert_int_equal(r.off, 40);
	assert_int_equal(r.end, 40 + strlen(payload));
	assert_int_equal(r.byte, 'S');
	assert_int_equal(r.sk_calls, 1);
	assert_true(r.now_ns >= before && r.now_ns <= now_ns());
	assert_true(r.cgroup_id != 0);
	assert_int_equal(rec(1).calls, 0); /* nothing through the egress array */
}

static void test_client_bytes_leaving_reach_the_module_through_the_egress_array(void **state)
{
	struct probe_rec r;

	(void)state;
	reset();
	run("cgskb_egress", "SOCKEYE! request", 1);
	r = rec(1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.egress, 1);
	assert_int_equal(r.from_client, 1); /* the local socket is the client */
	assert_int_equal(r.first, 1);
	assert_int_equal(r.sk_calls, 1);
	assert_int_equal(rec(0).calls, 0);
}

static void test_server_bytes_arriving_make_the_socket_a_client(void **state)
{
	struct probe_rec r;

	(void)state;
	reset();
	run("cgskb_ingress", "SOCKEYE? reply", 1);
	r = rec(0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.from_client, 0); /* "SOCKEYE?" travels server -> client */
}

static void test_other_bytes_never_reach_the_module(void **state)
{
	(void)state;
	reset();
	run("cgskb_ingress", "SOCKEYE. not ours", 1);
	run("cgskb_egress", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 1);
	run("cgskb_ingress", "GET /probe/http HTTP/1.1\r\nHost: x\r\n\r\n", 1);
	assert_int_equal(rec(0).calls, 0);
	assert_int_equal(rec(1).calls, 0);
}

/* HTTP beside a tail-called module: still parsed inline (its route is in the table). */
static void test_http_is_still_parsed_inline(void **state)
{
	char route[SOCKEYE_ROUTE_LEN] = {0};
	__u64 key, next;
	int fd = map_fd("http_routes"), found = 0;

	(void)state;
	run("cgskb_ingress", "GET /inline/route HTTP/1.1\r\nHost: x\r\n\r\n", 1);
	for (void *prev = NULL; !bpf_map_get_next_key(fd, prev, &next); prev = &key) {
		key = next;
		if (!bpf_map_lookup_elem(fd, &key, route) && !strcmp(route, "/inline/route"))
			found = 1;
	}
	assert_true(found);
}

/* Every nesting level the core took for a segment was given back by the module's program. */
static void test_nesting_levels_are_given_back(void **state)
{
	(void)state;
	run("cgskb_ingress", "SOCKEYE! again", 2);
	run("cgskb_egress", "SOCKEYE! again", 2);
	assert_int_equal(percpu_sum("scratch_depth", 0, 4), 0);
}

/* Sets a one-byte rodata variable of an object opened, not loaded yet. */
static int set_rodata_u8(struct bpf_object *o, const char *var, __u8 val)
{
	struct btf *btf = bpf_object__btf(o);
	const struct btf_var_secinfo *v;
	const struct btf_type *t;
	struct bpf_map *m, *ro = NULL;
	const void *init;
	size_t size;
	char *data;
	int id, err = -1;

	bpf_object__for_each_map(m, o)
		if (bpf_map__is_internal(m) && strstr(bpf_map__name(m), ".rodata"))
			ro = m;
	id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	if (!ro || id < 0)
		return -1;
	init = bpf_map__initial_value(ro, &size);
	data = init ? malloc(size) : NULL;
	if (!data)
		return -1;
	memcpy(data, init, size);
	t = btf__type_by_id(btf, id);
	v = btf_var_secinfos(t);
	for (int i = 0; i < btf_vlen(t); i++) {
		const struct btf_type *vt = btf__type_by_id(btf, v[i].type);

		if (!strcmp(btf__name_by_offset(btf, vt->name_off), var) && v[i].offset < size) {
			data[v[i].offset] = val;
			err = bpf_map__set_initial_value(ro, data, size);
			break;
		}
	}
	free(data);
	return err;
}

/* A module that calls stream_ignore gets none of the socket's later segments. With
 * bench_ignore_seq (an object of its own) every repeat of a segment is new bytes to the core,
 * so repeats stand for later segments of one socket. */
static void test_a_module_lets_a_socket_go(void **state)
{
	struct bpf_object *shared = obj;

	(void)state;
	obj = bpf_object__open_file(OBJ, NULL);
	assert_non_null(obj);
	assert_int_equal(set_rodata_u8(obj, "bench_ignore_seq", 1), 0);
	assert_int_equal(bpf_object__load(obj), 0);
	reset();
	run("cgskb_ingress", "SOCKEYE! hi there", 3);
	assert_int_equal(rec(0).calls, 3);
	assert_int_equal(rec(0).sk_calls, 3);
	reset();
	run("cgskb_ingress", "SOCKEYE! bye now", 3);
	assert_int_equal(rec(0).calls, 1);
	assert_int_equal(percpu_sum("scratch_depth", 0, 4), 0);
	bpf_object__close(obj);
	obj = shared;
}

static int setup(void **state)
{
	(void)state;
	obj = bpf_object__open_file(OBJ, NULL);
	if (!obj) {
		fprintf(stderr, "opening %s: %s\n", OBJ, strerror(errno));
		return -1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "loading %s failed: %s\n", OBJ, strerror(errno));
		bpf_object__close(obj);
		obj = NULL;
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bpf_object__close(obj);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_bytes_arriving_reach_the_module_through_the_ingress_array),
		cmocka_unit_test(test_client_bytes_leaving_reach_the_module_through_the_egress_array),
		cmocka_unit_test(test_server_bytes_arriving_make_the_socket_a_client),
		cmocka_unit_test(test_other_bytes_never_reach_the_module),
		cmocka_unit_test(test_http_is_still_parsed_inline),
		cmocka_unit_test(test_nesting_levels_are_given_back),
		cmocka_unit_test(test_a_module_lets_a_socket_go),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
