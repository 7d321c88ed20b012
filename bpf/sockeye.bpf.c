// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sockeye.bpf.c - cgroup_skb programs that parse HTTP/1.x on every TCP socket of the host and
 * aggregate request counts and latency histograms in per-CPU maps. No per-request events
 * leave the kernel.
 *
 * Attached to the cgroup v2 root, each program sees both directions of every socket. A socket
 * becomes a server socket when its first payload is a request arriving on ingress, a client
 * socket when its first payload is a request leaving on egress; the request direction feeds
 * the request parser (and the route), the other direction the response parser. Requests wait
 * in a small per-socket FIFO (pipelining) until their response's status line is seen.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sockeye.h"
#include "http.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6

/* Tunables written by the loader before load (the verifier sees them as constants). */
const volatile __u64 bounds_ns[SOCKEYE_MAX_BUCKETS] = {};
const volatile __u32 n_bounds = 0;
#define FILTER_MAX 64
const volatile __u16 include_ports[FILTER_MAX] = {};
const volatile __u32 n_include_ports = 0;
const volatile __u16 exclude_ports[FILTER_MAX] = {};
const volatile __u32 n_exclude_ports = 0;
const volatile __u64 include_cgroups[FILTER_MAX] = {}; /* cgroup ids */
const volatile __u32 include_cgroup_levels[FILTER_MAX] = {};
const volatile __u32 n_include_cgroups = 0;
const volatile __u64 exclude_cgroups[FILTER_MAX] = {};
const volatile __u32 exclude_cgroup_levels[FILTER_MAX] = {};
const volatile __u32 n_exclude_cgroups = 0;

enum sock_kind {
	KIND_UNKNOWN = 0, /* fresh storage */
	KIND_SERVER,
	KIND_CLIENT,
	KIND_IGNORE, /* filtered out, or not HTTP/1.x */
};

/* A request waiting for its response. */
struct pending {
	__u64 start_ns;
	__u64 route_id;
	__u8 method;
	__u8 version;
	__u8 pad[6];
};

/* Per-socket state in sk_storage. */
struct sock_state {
	__u8 kind; /* enum sock_kind */
	__u8 fifo_head;
	__u8 fifo_tail;
	__u8 pad[3];
	__u16 server_port;
	struct http_parser req;	 /* the direction carrying requests */
	struct http_parser resp; /* the direction carrying responses */
	struct route_state route;
	struct pending fifo[SOCKEYE_PIPELINE_DEPTH];
};
_Static_assert((SOCKEYE_PIPELINE_DEPTH & (SOCKEYE_PIPELINE_DEPTH - 1)) == 0, "FIFO index masks");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} sk_state SEC(".maps");

/* http_server_request_duration_seconds, http_client_request_duration_seconds */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SOCKEYE_HTTP_ENTRIES);
	__type(key, struct sockeye_http_key);
	__type(value, struct sockeye_http_val);
} http_dur SEC(".maps");

/* route_id -> route string, for the http_route label. max_entries set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SOCKEYE_ROUTE_ENTRIES_DEFAULT);
	__type(key, __u64);
	__type(value, struct sockeye_route);
} http_routes SEC(".maps");

/* sockeye_parser_events_total{event} */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SOCKEYE_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sockeye_stats SEC(".maps");

/* Per-CPU scratch: the payload window and a zeroed histogram value (the stack is 512 B). */
struct scratch {
	char buf[SOCKEYE_SCAN_WINDOW + 24]; /* word loads at any masked index stay inside */
	struct sockeye_http_val zero;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&sockeye_stats, &which);

	if (v)
		*v += 1;
}

static __always_inline int port_wanted(__u16 port)
{
	__u32 i;

	for (i = 0; i < FILTER_MAX && i < n_exclude_ports; i++)
		if (exclude_ports[i] == port)
			return 0;
	if (n_include_ports == 0)
		return 1;
	for (i = 0; i < FILTER_MAX && i < n_include_ports; i++)
		if (include_ports[i] == port)
			return 1;
	return 0;
}

static __always_inline int cgroup_wanted(struct __sk_buff *skb)
{
	__u32 i;

	for (i = 0; i < FILTER_MAX && i < n_exclude_cgroups; i++)
		if (bpf_skb_ancestor_cgroup_id(skb, exclude_cgroup_levels[i]) == exclude_cgroups[i])
			return 0;
	if (n_include_cgroups == 0)
		return 1;
	for (i = 0; i < FILTER_MAX && i < n_include_cgroups; i++)
		if (bpf_skb_ancestor_cgroup_id(skb, include_cgroup_levels[i]) == include_cgroups[i])
			return 1;
	return 0;
}

/* Slot i counts durations in (bound[i-1], bound[i]]; slot n_bounds those above every bound. */
static __always_inline __u32 bucket_of(__u64 v)
{
	__u32 i;

	for (i = 0; i < SOCKEYE_MAX_BUCKETS; i++) {
		if (i >= n_bounds || v <= bounds_ns[i])
			break;
	}
	return i;
}

static __always_inline void record(struct __sk_buff *skb, struct sock_state *st,
				   struct scratch *sc, const struct pending *e, __u16 status,
				   __u64 now)
{
	struct sockeye_http_key key = {};
	struct sockeye_http_val *val;
	__u64 dur = now > e->start_ns ? now - e->start_ns : 0;
	__u32 slot = bucket_of(dur);

	key.cgroup_id = bpf_skb_cgroup_id(skb);
	key.route_id = e->route_id;
	key.server_port = st->server_port;
	key.status = status;
	key.role = st->kind == KIND_SERVER ? SOCKEYE_ROLE_SERVER : SOCKEYE_ROLE_CLIENT;
	key.method = e->method;
	key.version = e->version;

	val = bpf_map_lookup_elem(&http_dur, &key);
	if (!val) {
		/* Another CPU may insert the same key first: -EEXIST is fine, look up again. */
		long err = bpf_map_update_elem(&http_dur, &key, &sc->zero, BPF_NOEXIST);

		if (err && err != -17 /* EEXIST */) {
			stat_inc(SOCKEYE_STAT_HTTP_MAP_FULL);
			return;
		}
		val = bpf_map_lookup_elem(&http_dur, &key);
		if (!val)
			return;
	}
	val->count++;
	val->sum_ns += dur;
	if (slot > SOCKEYE_MAX_BUCKETS)
		slot = SOCKEYE_MAX_BUCKETS;
	val->buckets[slot]++;
}

static __always_inline void on_request(struct sock_state *st)
{
	struct route_state *r = &st->route;
	__u64 id = route_hash(r);
	struct pending *e;

	if (!bpf_map_lookup_elem(&http_routes, &id)) {
		long err = bpf_map_update_elem(&http_routes, &id, r->out, BPF_NOEXIST);

		if (err && err != -17 /* EEXIST */) {
			stat_inc(SOCKEYE_STAT_ROUTE_TABLE_FULL);
			id = SOCKEYE_ROUTE_OTHER;
		}
	}
	if ((__u8)(st->fifo_tail - st->fifo_head) >= SOCKEYE_PIPELINE_DEPTH) {
		stat_inc(SOCKEYE_STAT_PIPELINE_FULL);
		return;
	}
	e = &st->fifo[st->fifo_tail & (SOCKEYE_PIPELINE_DEPTH - 1)];
	e->start_ns = st->req.msg_start_ns;
	e->route_id = id;
	e->method = st->req.method;
	e->version = st->req.version;
	st->fifo_tail++;
}

static __always_inline void on_response(struct __sk_buff *skb, struct sock_state *st,
					struct scratch *sc, __u64 now)
{
	struct http_parser *p = &st->resp;
	__u16 status = p->status;
	struct pending *e;

	if (status < 200 && status != 101)
		return; /* interim (100 Continue, 103 Early Hints): the final response follows */
	if (st->fifo_head == st->fifo_tail) {
		stat_inc(SOCKEYE_STAT_UNMATCHED_RESPONSE);
		return;
	}
	e = &st->fifo[st->fifo_head & (SOCKEYE_PIPELINE_DEPTH - 1)];
	st->fifo_head++;
	if (e->method == SOCKEYE_METHOD_HEAD)
		p->flags |= HPF_NO_BODY;
	if (status == 101 || (e->method == SOCKEYE_METHOD_CONNECT && status >= 200 && status < 300)) {
		/* Upgrade or tunnel: after this response the bytes are not HTTP/1.x. */
		p->flags |= HPF_TUNNEL;
		st->req.state = HP_CLOSED;
	}
	record(skb, st, sc, e, status, now);
}

/* Why a parser lost its stream. */
enum lost_why {
	LOST_PARSE,    /* bytes that are not HTTP/1.x where a message should be */
	LOST_GAP,      /* bytes we never saw (a segment lost before the hook, reordering) */
	LOST_TOO_LONG, /* a header section longer than the scan bound in one segment */
};

/* The parser lost the stream. A socket whose bytes were never HTTP/1.x is ignored from now
 * on; otherwise the parser waits for a segment that starts a message (see scan_cb).
 * Outstanding requests stay paired with their responses when nothing could have been
 * missed (an over-long header section was already counted from its start line); after a gap
 * or garbage they can no longer be paired reliably and are dropped. */
static __always_inline void on_error(struct sock_state *st, struct http_parser *p, int why)
{
	if (why == LOST_PARSE && st->req.messages == 0 && st->resp.messages == 0) {
		st->kind = KIND_IGNORE;
		stat_inc(SOCKEYE_STAT_NOT_HTTP);
		return;
	}
	stat_inc(SOCKEYE_STAT_DESYNC);
	p->state = HP_ERROR;
	if (why != LOST_TOO_LONG)
		st->fifo_head = st->fifo_tail;
}

/* The parser's entry points as global functions: the verifier checks a global function once,
 * on its own, instead of once per place (and per state) it is inlined into. A BPF-to-BPF
 * call per step is cheap; verifying the parser inside every loop of the driver was not
 * (over the 1M instruction limit). Pointer arguments of global functions may be NULL. */
__noinline int sockeye_step(struct http_parser *p, struct route_state *r, char c, __u64 now)
{
	if (!p)
		return HE_ERROR;
	return http_step(p, r, c, now);
}

/* Returns the bytes consumed in the low 16 bits and the event above them. */
struct words3 {
	__u64 w[3];
};

__noinline int sockeye_fast(struct http_parser *p, struct route_state *r, const struct words3 *w,
			    __u64 now)
{
	int ev;
	__u32 used;

	if (!p || !w)
		return 0;
	used = http_fast(p, r, w->w[0], w->w[1], w->w[2], now, &ev);
	return (int)(used | (__u32)ev << 16);
}

/* State of one segment's scan, shared with the bpf_loop callback. */
struct scan_ctx {
	struct __sk_buff *skb;
	struct sock_state *st;
	struct scratch *sc;
	struct http_parser *p;
	struct route_state *r; /* NULL on the response direction */
	__u64 now;
	__u32 off; /* first payload byte of the segment */
	__u32 pos; /* next byte to look at */
	__u32 end;
	__u32 win_base; /* sc->buf holds [win_base, win_base + win_len) */
	__u32 win_len;
	__u32 windows;
	__u32 req_dir;
};

/* Handles an event the parser returned. Returns 1 when the scan must stop. */
static __always_inline int on_event(struct scan_ctx *c, int ev)
{
	if (ev == HE_REQUEST) {
		on_request(c->st);
		return 0;
	}
	if (ev == HE_RESPONSE && !c->req_dir) {
		on_response(c->skb, c->st, c->sc, c->now);
		return 0;
	}
	/* HE_ERROR, or a response where requests go */
	on_error(c->st, c->p, LOST_PARSE);
	return 1;
}

#define BYTES_PER_CALL 8 /* verifier cost grows with it: 8 -> ~400k insns processed */

/* One unit of work per call: up to BYTES_PER_CALL bytes, a body skip, or a window load. Everything the scan
 * does happens here, so the verifier checks it once, not once per unrolled round. */
static long scan_cb(__u32 idx, void *arg)
{
	struct scan_ctx *c = arg;
	struct http_parser *p = c->p;
	int ev;

	if (c->pos >= c->end || p->state == HP_CLOSED)
		return 1;
	if (p->state == HP_ERROR) {
		/* Resynchronise only at a segment that starts like a message. */
		char first;

		if (c->pos != c->off || bpf_skb_load_bytes(c->skb, c->pos, &first, 1) ||
		    first < 'A' || first > 'Z')
			return 1;
		p->state = HP_START;
	}
	if (http_is_skip_state(p->state)) {
		c->pos += http_skip(p, c->end - c->pos);
		return 0;
	}
	if (c->pos - c->win_base >= c->win_len) {
		__u32 len = c->end - c->pos;

		if (c->windows >= SOCKEYE_SCAN_WINDOWS) {
			stat_inc(SOCKEYE_STAT_HEADER_TOO_LONG);
			on_error(c->st, p, LOST_TOO_LONG);
			return 1;
		}
		if (len > SOCKEYE_SCAN_WINDOW)
			len = SOCKEYE_SCAN_WINDOW;
		if (len == 0 || bpf_skb_load_bytes(c->skb, c->pos, c->sc->buf, len))
			return 1;
		c->win_base = c->pos;
		c->win_len = len;
		c->windows++;
	}
	{
		__u32 i = c->pos - c->win_base, n = c->win_len, k;
		const char *buf = c->sc->buf;
		struct route_state *r = c->r;
		__u64 now = c->now;

		/* Start lines and header lines of the usual shapes, a word at a time. */
		if (n - i >= 24) {
			int res = sockeye_fast(
				p, r, (const struct words3 *)&buf[i & (SOCKEYE_SCAN_WINDOW - 1)], now);

			i += res & 0xffff;
			ev = res >> 16;
			if (ev != HE_NONE) {
				c->pos = c->win_base + i;
				return on_event(c, ev);
			}
		}
		/* Most header bytes are values we skip: jump over whole words without a '\n'
		 * (8 bytes per check), then step byte by byte to the LF. */
		if (p->state == HP_SKIP_LINE || p->state == HP_TRL_LINE) {
			for (k = 0; k < SOCKEYE_SCAN_WINDOW / 8; k++) {
				__u64 w, t;

				if (i + 8 > n)
					break;
				w = *(__u64 *)&buf[i & (SOCKEYE_SCAN_WINDOW - 1)];
				w ^= 0x0a0a0a0a0a0a0a0aULL;
				t = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
				if (t)
					break;
				i += 8;
			}
		}
		/* Then a few bytes one at a time, until something the paths above handle. */
		for (k = 0; k < BYTES_PER_CALL; k++) {
			if (i >= n)
				break;
			ev = sockeye_step(p, r, buf[i & (SOCKEYE_SCAN_WINDOW - 1)], now);
			i++;
			if (ev != HE_NONE) {
				c->pos = c->win_base + i;
				return on_event(c, ev);
			}
			if (p->state == HP_SKIP_LINE || p->state == HP_LINE_START ||
			    p->state == HP_START || p->state == HP_TRL_LINE ||
			    http_is_skip_state(p->state) || p->state == HP_CLOSED)
				break;
		}
		c->pos = c->win_base + i;
	}
	return 0;
}

/* Upper bound of callback calls per segment: every window byte, plus skips and loads. */
#define SCAN_STEPS (SOCKEYE_SCAN_WINDOWS * SOCKEYE_SCAN_WINDOW + 256)

/* Feeds the payload [off, skb->len) of one segment to the parser of its direction. */
static __always_inline void process(struct __sk_buff *skb, struct sock_state *st, int req_dir,
				    __u32 off, __u32 seq)
{
	struct http_parser *p = req_dir ? &st->req : &st->resp;
	struct scan_ctx ctx = {};
	__u32 zero = 0, end = skb->len, end_seq;

	ctx.pos = off;
	/* Sequence numbers: skip what was processed already (retransmits), resync after gaps. */
	end_seq = seq + (end - off);
	if (p->seq_valid) {
		if ((__s32)(end_seq - p->next_seq) <= 0) {
			stat_inc(SOCKEYE_STAT_RETRANSMIT);
			return;
		}
		if ((__s32)(seq - p->next_seq) < 0) {
			stat_inc(SOCKEYE_STAT_RETRANSMIT);
			ctx.pos += p->next_seq - seq;
		} else if (seq != p->next_seq && p->state != HP_ERROR && p->state != HP_CLOSED) {
			on_error(st, p, LOST_GAP);
			if (st->kind == KIND_IGNORE)
				return;
		}
	}
	p->next_seq = end_seq;
	p->seq_valid = 1;

	ctx.sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!ctx.sc)
		return;
	ctx.skb = skb;
	ctx.st = st;
	ctx.p = p;
	ctx.r = req_dir ? &st->route : NULL;
	ctx.now = bpf_ktime_get_ns();
	ctx.off = off;
	ctx.end = end;
	ctx.req_dir = req_dir;
	bpf_loop(SCAN_STEPS, scan_cb, &ctx, 0);
}

static __always_inline int handle(struct __sk_buff *skb, int egress)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct bpf_sock *sk;
	struct sock_state *st;
	struct tcphdr *tcp;
	__u32 off, seq;
	int req_dir;

	/* Cheapest exits first: no room for a payload byte, not TCP, no payload. */
	if (skb->len <= 40)
		return 1;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP)
			return 1;
		off = ip->ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_TCP)
			return 1;
		off = sizeof(*ip6);
	} else {
		return 1;
	}
	if (off < 20 || off > 60)
		return 1;
	tcp = data + off;
	if ((void *)(tcp + 1) > data_end)
		return 1;
	off += tcp->doff * 4;
	if (off >= skb->len)
		return 1; /* pure ACK, SYN, FIN without data */
	seq = bpf_ntohl(tcp->seq);

	sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	st = bpf_sk_storage_get(&sk_state, sk, NULL, 0);
	if (!st) {
		/* A socket's first payload decides: a request start makes it ours, on the side
		 * it travels from; so does a status line ("HTTP/"), on the other side: that is
		 * how connections already open when the agent started are picked up. Others pay
		 * one load per segment and get no storage. */
		char first[5];
		__u16 port;
		int client;

		if (bpf_skb_load_bytes(skb, off, first, 1) || first[0] < 'A' || first[0] > 'Z')
			return 1;
		client = egress;
		if (first[0] == 'H' && !bpf_skb_load_bytes(skb, off, first, 5) && first[1] == 'T' &&
		    first[2] == 'T' && first[3] == 'P' && first[4] == '/')
			client = !egress;
		st = bpf_sk_storage_get(&sk_state, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			stat_inc(SOCKEYE_STAT_STORAGE_FAIL);
			return 1;
		}
		port = client ? bpf_ntohs(sk->dst_port) : (__u16)sk->src_port;
		if (!port_wanted(port) || !cgroup_wanted(skb)) {
			st->kind = KIND_IGNORE;
			return 1;
		}
		st->kind = client ? KIND_CLIENT : KIND_SERVER;
		st->server_port = port;
	}
	if (st->kind != KIND_SERVER && st->kind != KIND_CLIENT)
		return 1;
	req_dir = (st->kind == KIND_SERVER) != egress;
	process(skb, st, req_dir, off, seq);
	return 1; /* a verdict: always allow */
}

SEC("cgroup_skb/ingress")
int cgskb_ingress(struct __sk_buff *skb)
{
	return handle(skb, 0);
}

SEC("cgroup_skb/egress")
int cgskb_egress(struct __sk_buff *skb)
{
	return handle(skb, 1);
}
