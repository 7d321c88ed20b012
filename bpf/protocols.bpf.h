/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* protocols.bpf.h - the registry of protocol modules: the one file of the stream core a new
 * protocol edits. A module is a header (bpf/<name>.bpf.h) that defines <name>_detect,
 * <name>_segment, <name>_close and STREAM_PROTOCOL(<name>, PROTO_X) (docs/protocols.md);
 * here it is included, its programs get their slots in the prog arrays, and its detect and
 * close are called.
 *
 * Included by sockeye.bpf.c after the stream core, the HTTP module and struct sock_state.
 */
#ifndef SOCKEYE_PROTOCOLS_BPF_H
#define SOCKEYE_PROTOCOLS_BPF_H

#include "stream.bpf.h"
#include "http_pair.bpf.h"

/* For a module's programs: hand this socket's segments to no protocol any more (its bytes
 * turned out not to be the module's, or are of no interest, such as a Redis pub/sub
 * connection). The module's close is still called when the socket closes. */
static __always_inline void stream_ignore(struct bpf_sock *sk)
{
	struct sock_state *st = bpf_sk_storage_get(&sk_state, sk, NULL, 0);

	if (st)
		st->s.kind = KIND_IGNORE;
}

/* --- The modules (tail-called) --------------------------------------------------------- */
#include "redis_pair.bpf.h" /* bpf/redis.bpf.h's parser and pairing, driven over segments */
#include "postgres_pair.bpf.h" /* bpf/postgres.bpf.h's framing and pairing, likewise */
#ifdef STREAM_TEST_MODULE
#include STREAM_TEST_MODULE
#endif

/* Tail-call targets by enum stream_proto, one array per hook: a program may only tail-call
 * programs of its own attach type. Filled by libbpf when the object loads; PROTO_HTTP has no
 * slot (parsed inline). An empty slot's tail call falls through: nothing is parsed. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, PROTO_MAX);
	__uint(key_size, sizeof(__u32)); /* no BTF key type: prog arrays take none */
	__array(values, int(struct __sk_buff *));
} stream_progs_in SEC(".maps") = {
	.values = {
		STREAM_SLOT_IN(redis, PROTO_REDIS),
		STREAM_SLOT_IN(postgres, PROTO_POSTGRES),
#ifdef STREAM_TEST_MODULE
		STREAM_SLOT_IN(test, PROTO_TEST),
#endif
	},
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, PROTO_MAX);
	__uint(key_size, sizeof(__u32)); /* no BTF key type: prog arrays take none */
	__array(values, int(struct __sk_buff *));
} stream_progs_out SEC(".maps") = {
	.values = {
		STREAM_SLOT_OUT(redis, PROTO_REDIS),
		STREAM_SLOT_OUT(postgres, PROTO_POSTGRES),
#ifdef STREAM_TEST_MODULE
		STREAM_SLOT_OUT(test, PROTO_TEST),
#endif
	},
};

/* The protocol of a connection's first payload bytes (len of them in first, zero-padded to 8),
 * PROTO_NONE when no module recognises them; *dir: 1 they travel client -> server, 2 server ->
 * client. Runs once per connection (and per segment of a connection nothing recognised yet),
 * inside the global function stream_detect (sockeye.bpf.c), so modules' detects add nothing
 * to the hooks' verification. HTTP comes last: any upper-case token looks like a method to
 * it. */
static __always_inline __u32 protocols_detect(const char first[8], __u32 len, int egress,
					      int *dir)
{
	int d;

	d = redis_detect(first, len, egress);
	if (d) {
		*dir = d;
		return PROTO_REDIS;
	}
	d = postgres_detect(first, len, egress);
	if (d) {
		*dir = d;
		return PROTO_POSTGRES;
	}
#ifdef STREAM_TEST_MODULE
	d = test_detect(first, len, egress);
	if (d) {
		*dir = d;
		return PROTO_TEST;
	}
#endif
	d = http_detect(first, len, egress);
	if (d) {
		*dir = d;
		return PROTO_HTTP;
	}
	return PROTO_NONE;
}

/* The socket closed (tp_sock_state): its protocol's close. */
static __always_inline void protocols_close(const struct sock *sk, struct sock_state *st)
{
	switch (st->s.proto) {
	case PROTO_HTTP:
		http_close(&st->http, sk);
		break;
	case PROTO_REDIS:
		redis_close((struct sock *)sk);
		break;
	case PROTO_POSTGRES:
		postgres_close((struct sock *)sk);
		break;
#ifdef STREAM_TEST_MODULE
	case PROTO_TEST:
		test_close((struct sock *)sk);
		break;
#endif
	default:
		break;
	}
}

/* Hands [off, skb->len) of a segment to the protocol's program of this hook (egress is a
 * constant in each caller). Returns only when the tail call did not happen. */
static __always_inline void protocols_dispatch(struct __sk_buff *skb, const struct stream_state *s,
					       const int egress, __u32 off, __u32 gap, int first)
{
	struct stream_seg *seg;
	__u32 *depth;

	seg = stream_seg_put(&depth);
	if (!seg) {
		scratch_put(depth);
		return;
	}
	seg->cgroup_id = bpf_skb_cgroup_id(skb);
	seg->now_ns = bpf_ktime_get_ns();
	seg->off = off;
	seg->end = skb->len;
	seg->gap = gap;
	seg->server_port = s->server_port;
	seg->from_client = (s->kind == KIND_CLIENT) == egress;
	seg->first = first;
	seg->egress = egress;
	seg->proto = s->proto;
	if (egress)
		bpf_tail_call(skb, &stream_progs_out, s->proto);
	else
		bpf_tail_call(skb, &stream_progs_in, s->proto);
	scratch_put(depth); /* no program in the slot */
}

#endif /* SOCKEYE_PROTOCOLS_BPF_H */
