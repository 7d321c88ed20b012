/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* stream.bpf.h - the stream core: what every protocol module gets from a TCP segment.
 *
 * The socket hooks (sockeye.bpf.c) turn a segment into the payload bytes not seen before on
 * their socket and direction (sequence numbers per direction: retransmitted bytes skipped,
 * gaps measured), decide a connection's protocol from its first payload bytes (each module's
 * detect, in protocols.bpf.h) and apply the port and cgroup filters once, for every protocol.
 * Then HTTP, the hot path, is parsed inline; any other protocol gets a struct stream_seg and a
 * tail call to its program of the hook's direction (STREAM_PROTOCOL). docs/protocols.md is the
 * contract.
 */
#ifndef SOCKEYE_STREAM_BPF_H
#define SOCKEYE_STREAM_BPF_H

#include "filter.bpf.h"
#include "maps.bpf.h"

enum stream_proto {
	PROTO_NONE = 0, /* not decided yet (or never: see sock_kind) */
	PROTO_HTTP,	/* inline: http_pair.bpf.h */
	PROTO_REDIS,
	PROTO_POSTGRES,
#ifdef STREAM_TEST_MODULE
	PROTO_TEST, /* tests/bpf/stream_probe.bpf.h, in the test object only */
#endif
	PROTO_MAX,
};

/* The local socket's side once its protocol is known. */
enum sock_kind {
	KIND_UNKNOWN = 0, /* fresh storage: no protocol recognised yet */
	KIND_SERVER,
	KIND_CLIENT,
	KIND_IGNORE, /* filtered out, or its bytes are no protocol we parse */
};

/* Directions, as indexes: the hook a segment went through. */
#define STREAM_IN  0
#define STREAM_OUT 1

/* The core's part of a socket's sk_storage value (struct sock_state, sockeye.bpf.c). */
struct stream_state {
	__u8 proto; /* enum stream_proto */
	__u8 kind;  /* enum sock_kind */
	__u16 server_port;
	__u8 seq_valid;	  /* bit STREAM_IN/OUT: seq_hi of that direction holds */
	__u8 seen;	  /* bit STREAM_IN/OUT: the protocol got bytes of that direction */
	__u8 tcp_tracked; /* counted as opened in conn_stats, not yet as closed */
	__u8 tcp_side;	  /* enum sockeye_role: inbound (server) or outbound (client) */
	__u32 seq_hi[2];  /* per direction: sequence number after the highest byte seen */
	__u32 tcp_slot;	  /* conn_stats index + 1 for the TCP counters, 0 none */
	__u16 tcp_port;	  /* server port of the TCP group */
	__u16 pad;
	__u32 retrans; /* retransmitted segments counted so far */
};

/* What the core hands a protocol program, in stream_segs at the program's nesting level,
 * before it tail-calls the protocol's program of that direction. */
struct stream_seg {
	__u64 cgroup_id;   /* bpf_skb_cgroup_id(skb) */
	__u64 now_ns;	   /* bpf_ktime_get_ns(), read once per segment */
	__u32 off;	   /* first payload byte not seen before (retransmitted bytes skipped) */
	__u32 end;	   /* skb->len */
	__u32 gap;	   /* bytes of this direction lost just before off; 0: contiguous */
	__u16 server_port; /* host order */
	__u8 from_client;  /* 1: these bytes travel client -> server */
	__u8 first;	   /* 1: the first bytes of this direction the protocol gets */
	__u8 egress;	   /* 1: the egress hook (the local socket sent them) */
	__u8 proto;	   /* enum stream_proto: the protocol the core chose */
	__u8 pad[6];
};
_Static_assert(sizeof(struct stream_seg) == 40, "stream_seg layout");

/* One per nesting level and CPU, like the scratch (maps.bpf.h): a segment's program can be
 * interrupted on its CPU by another hook's between the core's write and the module's read. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct stream_seg);
} stream_segs SEC(".maps");

/* Only bench/breakdown.py sets this (through SOCKEYE_BENCH_STAGE, src/loader.c): the socket
 * hooks stop after a stage of their work, to measure what each stage costs under load
 * (docs/performance.md). 0, the default: every stage; the verifier drops the other branches.
 * Sync note: the stages are listed in bench/breakdown.py and docs/performance.md. */
enum bench_stage {
	BENCH_STAGE_FULL = 0,
	BENCH_STAGE_ENTRY,   /* 1: return at once (the cost of being attached) */
	BENCH_STAGE_STORAGE, /* 2: headers, socket, sk_storage lookup */
	BENCH_STAGE_CORE,    /* 3: + sequence numbers, TCP counters, protocol decision */
	BENCH_STAGE_NOSCAN,  /* 4: + the HTTP driver up to its scan (scratch, clock) */
	BENCH_STAGE_NOHIST,  /* 5: + the scan and pairing, no histogram recorded */
	BENCH_STAGE_MAX,
};
_Static_assert(BENCH_STAGE_MAX == SOCKEYE_BENCH_STAGES, "bench stages");
const volatile __u8 bench_stage = 0;

/* Only bench/bpfcost sets this: BPF_PROG_TEST_RUN repeats one segment on one socket, which
 * would otherwise be skipped as a retransmit. The verifier drops the branch when it is 0. */
const volatile __u8 bench_ignore_seq = 0;

/* The sequence numbers [seq, seq + len) of one segment of direction dir against what the
 * socket saw: 0 when every byte was seen before; else *skip bytes at its start were (a
 * partial retransmit) and *gap bytes just before it were never seen (lost before the hook,
 * reordered: they may arrive later, then as a retransmit). TCP byte counts and every protocol
 * use the same figures. */
static __always_inline int stream_seq(struct stream_state *s, const int dir, __u32 seq, __u32 len,
				      __u32 *skip, __u32 *gap)
{
	__u32 end = seq + len, hi = s->seq_hi[dir];

	*skip = 0;
	*gap = 0;
	if (s->seq_valid & (1 << dir)) {
		if ((__s32)(end - hi) <= 0)
			return 0;
		if ((__s32)(seq - hi) < 0)
			*skip = hi - seq;
		else
			*gap = seq - hi;
	}
	s->seq_hi[dir] = end;
	s->seq_valid |= 1 << dir;
	return 1;
}

/* The core's side of a tail call: writes the segment at this nesting level and takes the
 * level (the protocol's program gives it back). NULL when nested too deep. */
static __always_inline struct stream_seg *stream_seg_put(__u32 **depth)
{
	__u32 zero = 0, slot;

	*depth = bpf_map_lookup_elem(&scratch_depth, &zero);
	if (!*depth)
		return NULL;
	slot = **depth;
	if (slot >= SCRATCH_SLOTS) {
		*depth = NULL;
		return NULL;
	}
	**depth = slot + 1;
	return bpf_map_lookup_elem(&stream_segs, &slot);
}

/* The protocol program's side: the segment of the level below its own. */
static __always_inline const struct stream_seg *stream_seg_take(__u32 **depth)
{
	__u32 zero = 0, slot;

	*depth = bpf_map_lookup_elem(&scratch_depth, &zero);
	if (!*depth)
		return NULL;
	slot = **depth - 1;
	if (slot >= SCRATCH_SLOTS) {
		*depth = NULL; /* run without the core (depth 0): nothing to give back */
		return NULL;
	}
	return bpf_map_lookup_elem(&stream_segs, &slot);
}

/* The two programs of a protocol module: the tail-call targets of the ingress and egress
 * hooks (a target must have its caller's attach type, hence one per direction). They are
 * never attached: protocols.bpf.h puts them in stream_progs_in/out. name##_segment parses
 * [seg->off, seg->end) of skb; sk is the segment's full socket (for the module's sk_storage). */
#define STREAM_PROTOCOL(name, proto_id)                                                               \
	static __always_inline int stream_run_##name(struct __sk_buff *skb)                      \
	{                                                                                          \
		const struct stream_seg *seg;                                                      \
		struct bpf_sock *sk = skb->sk;                                                     \
		__u32 *depth;                                                                      \
                                                                                                   \
		seg = stream_seg_take(&depth);                                                     \
		if (seg && seg->proto == (proto_id) && sk) {                                       \
			sk = bpf_sk_fullsock(sk);                                                  \
			if (sk)                                                                    \
				name##_segment(skb, sk, seg);                                      \
		}                                                                                  \
		scratch_put(depth);                                                                \
		return 1; /* a verdict: always allow */                                           \
	}                                                                                          \
	SEC("cgroup_skb/ingress")                                                                  \
	int proto_##name##_in(struct __sk_buff *skb)                                               \
	{                                                                                          \
		return stream_run_##name(skb);                                                     \
	}                                                                                          \
	SEC("cgroup_skb/egress")                                                                   \
	int proto_##name##_out(struct __sk_buff *skb)                                              \
	{                                                                                          \
		return stream_run_##name(skb);                                                     \
	}

/* A protocol's slot in stream_progs_in/out (protocols.bpf.h). */
#define STREAM_SLOT_IN(name, proto)  [proto] = (void *)&proto_##name##_in
#define STREAM_SLOT_OUT(name, proto) [proto] = (void *)&proto_##name##_out

#endif /* SOCKEYE_STREAM_BPF_H */
