/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* stream_probe.bpf.h - a protocol module for tests only (the object build/tests/stream_test.bpf.o,
 * never the agent's): a connection whose first bytes are "SOCKEYE!" (client -> server) or
 * "SOCKEYE?" (server -> client) is PROTO_TEST. Its programs record what the stream core handed
 * them, so that tests/bpf/test_stream.c can check the dispatch (detect, tail call per hook,
 * struct stream_seg, the module's own sk_storage, stream_ignore) on the real core. */
#ifndef SOCKEYE_STREAM_PROBE_BPF_H
#define SOCKEYE_STREAM_PROBE_BPF_H

/* Sync note: struct probe_rec in tests/bpf/test_stream.c. */
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
	__u8 byte;     /* the payload byte at seg->off */
	__u8 sk_calls; /* this socket's calls so far, from the module's own sk_storage */
};

/* Index: seg->egress. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct probe_rec);
} probe_recs SEC(".maps");

struct probe_state {
	__u64 calls;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct probe_state);
} probe_states SEC(".maps");

static __always_inline int test_detect(const char first[8], __u32 len, int egress)
{
	if (len < 8 || first[0] != 'S' || first[1] != 'O' || first[2] != 'C' || first[3] != 'K' ||
	    first[4] != 'E' || first[5] != 'Y' || first[6] != 'E')
		return 0;
	return first[7] == '!' ? 1 : first[7] == '?' ? 2 : 0;
}

static __always_inline void test_segment(struct __sk_buff *skb, struct bpf_sock *sk,
					 const struct stream_seg *seg)
{
	__u32 idx = seg->egress ? 1 : 0;
	struct probe_rec *r = bpf_map_lookup_elem(&probe_recs, &idx);
	struct probe_state *ps = bpf_sk_storage_get(&probe_states, sk, NULL,
						    BPF_SK_STORAGE_GET_F_CREATE);
	__u8 b = 0;

	if (!r || !ps)
		return;
	ps->calls++;
	bpf_skb_load_bytes(skb, seg->off, &b, 1);
	if (b == 'S' && seg->end - seg->off >= 12) {
		char w[4] = {};

		/* "SOCKEYE! bye": the module lets the socket go (stream_ignore). */
		if (!bpf_skb_load_bytes(skb, seg->off + 9, w, 3) && w[0] == 'b' && w[1] == 'y' &&
		    w[2] == 'e')
			stream_ignore(sk);
	}
	r->calls++;
	r->cgroup_id = seg->cgroup_id;
	r->now_ns = seg->now_ns;
	r->off = seg->off;
	r->end = seg->end;
	r->gap = seg->gap;
	r->server_port = seg->server_port;
	r->from_client = seg->from_client;
	r->first = seg->first;
	r->egress = seg->egress;
	r->proto = seg->proto;
	r->byte = b;
	r->sk_calls = ps->calls;
}

static __always_inline void test_close(struct sock *sk)
{
}

STREAM_PROTOCOL(test, PROTO_TEST)

#endif /* SOCKEYE_STREAM_PROBE_BPF_H */
