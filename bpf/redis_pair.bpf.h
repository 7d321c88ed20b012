/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* redis_pair.bpf.h - the Redis client module over the stream core (docs/protocols.md): its
 * per-socket state (redis_sk), the driver of bpf/redis.bpf.h over a segment's bytes, and what
 * an operation, a lookup and a connection add to the db maps (bpf/db.bpf.h).
 *
 * A connection is Redis when its client sends "*<digit>" first (redis_detect): any port. Only
 * the client's socket is measured (the server's side of the same connection is not detected).
 * A command's time is its first byte's segment; its reply's end is the last byte's segment.
 */
#ifndef SOCKEYE_REDIS_PAIR_BPF_H
#define SOCKEYE_REDIS_PAIR_BPF_H

#include "db.bpf.h"

struct resp_parser;
__noinline int redis_step_req(struct resp_parser *p, int c);
__noinline int redis_step_rep(struct resp_parser *p, int c);
#define RESP_STEP(p, c, from_client)                                                               \
	((from_client) ? redis_step_req(p, c) : redis_step_rep(p, c))

#include "redis.bpf.h"

_Static_assert(REDIS_WIN == DB_WIN, "the window db_win_load fills");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct redis_conn);
} redis_sk SEC(".maps");

/* The bpf_loop state of one segment's scan: in a per-CPU map, not the stack (the verifier's
 * state would explode on 6.8+). One slot per nesting level: a softirq's segment may interrupt
 * a process's on the same CPU. */
struct redis_scratch {
	struct redis_win w;
	struct redis_result r;
	__u64 now;
	__u32 pos;
	__u32 end;
	__u32 from_client;
	__u32 win_base; /* segment offset of w.buf[0] */
};

#define REDIS_SCRATCH_SLOTS 4

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, REDIS_SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct redis_scratch);
} redis_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} redis_depth SEC(".maps");

/* Upper bound of loop steps per segment: a window of REDIS_WIN bytes, a skip or an event per
 * step. A 64 KB segment of the smallest pipelined commands needs about 4,000; a segment that
 * needs more loses the connection's framing (counted as desync). */
#define REDIS_STEPS 16384

/* Detection (the stream core calls it with a connection's first payload bytes). */
static __always_inline int redis_detect(const char first[8], __u32 len, int egress)
{
	(void)egress;
	if (!db_enabled[SOCKEYE_DB_REDIS])
		return 0;
	return redis_detect_bytes(first, len);
}

/* One byte of each direction: global functions, so that the window's loop verifies a call
 * per byte rather than the whole state machine per byte. */
__noinline int redis_step_req(struct resp_parser *p, int c)
{
	if (!p)
		return RE_ERROR;
	return resp_req_step(p, (char)c);
}

__noinline int redis_step_rep(struct resp_parser *p, int c)
{
	if (!p)
		return RE_ERROR;
	return resp_rep_step(p, (char)c);
}

/* The window steps are global functions: verified once, not in every branch of the loop. */
__noinline int redis_scan_req(struct resp_parser *p, struct redis_win *w)
{
	if (!p || !w)
		return 0;
	redis_scan(p, w, 1);
	return 0;
}

__noinline int redis_scan_rep(struct resp_parser *p, struct redis_win *w)
{
	if (!p || !w)
		return 0;
	redis_scan(p, w, 0);
	return 0;
}

/* One operation into db_dur (and db_cache). The keys are built on this function's stack: the
 * 6.1 verifier refuses a global function's memory arguments as map keys. */
__noinline int redis_record(const struct redis_conn *c, const struct redis_result *r)
{
	struct sockeye_db_key key = {};
	struct sockeye_db_cache_key ck = {};
	char name[SOCKEYE_DB_NAME_LEN];

	if (!c || !r)
		return 0;
	__builtin_memcpy(name, r->name, SOCKEYE_DB_NAME_LEN);
	key.cgroup_id = c->cgroup_id;
	key.server_port = c->server_port;
	key.system = SOCKEYE_DB_REDIS;
	key.error = r->error;
	db_op_name(SOCKEYE_DB_REDIS, name, key.op);
	__builtin_memcpy(key.status, r->status, SOCKEYE_DB_NAME_LEN);
	db_record(&key, r->dur_ns);
	if (!r->cache)
		return 0;
	ck.cgroup_id = c->cgroup_id;
	ck.server_port = c->server_port;
	ck.system = SOCKEYE_DB_REDIS;
	__builtin_memcpy(ck.op, key.op, SOCKEYE_DB_NAME_LEN);
	db_cache_add(&ck, r->hits, r->misses);
	return 0;
}

/* The used gauge follows "a command is outstanding"; the open gauge goes when the connection
 * is left (pub/sub, lost framing) or closes. */
static __always_inline void redis_gauges(struct redis_conn *c)
{
	int d = redis_used_change(c);

	if (d)
		db_conn_add(c->cgroup_id, c->server_port, SOCKEYE_DB_REDIS, 0, d);
	if (redis_open_leaves(c))
		db_conn_add(c->cgroup_id, c->server_port, SOCKEYE_DB_REDIS, -1, 0);
}

struct redis_scan_ctx {
	struct __sk_buff *skb;
	struct redis_conn *c;
	struct redis_scratch *sc;
};

static __always_inline void redis_event(struct redis_conn *c, struct redis_scratch *sc)
{
	int a = 0;

	switch (sc->w.ev) {
	case RE_COMMAND:
		a = redis_on_command(c);
		c->cmd_start_ns = sc->now; /* the next command begins in this segment */
		break;
	case RE_REPLY:
		a = redis_on_reply(c, sc->now, &sc->r);
		break;
	case RE_ERROR:
		redis_set_ignored(c);
		db_stat(SOCKEYE_DB_REDIS, SOCKEYE_DB_STAT_DESYNC);
		break;
	default: /* RE_PUSH: answers nothing */
		break;
	}
	if (a & REDIS_A_RECORD)
		redis_record(c, &sc->r);
	if (a & REDIS_A_PIPELINE_FULL)
		db_stat(SOCKEYE_DB_REDIS, SOCKEYE_DB_STAT_PIPELINE_FULL);
	if (a & REDIS_A_UNMATCHED)
		db_stat(SOCKEYE_DB_REDIS, SOCKEYE_DB_STAT_UNMATCHED);
	if (a & REDIS_A_IGNORE)
		db_stat(SOCKEYE_DB_REDIS, SOCKEYE_DB_STAT_IGNORED);
}

/* One unit per call: a payload skip, or a window loaded and stepped up to an event. */
static long redis_loop_cb(__u32 idx, void *arg)
{
	struct redis_scan_ctx *x = arg;
	struct redis_conn *c = x->c;
	struct redis_scratch *sc = x->sc;
	struct resp_parser *p;
	__u32 pos = sc->pos, end = sc->end, len;

	if (pos >= end || (c->flags & REDIS_C_IGNORED))
		return 1;
	p = sc->from_client ? &c->req : &c->rep;
	if (p->state == RS_SKIP) {
		sc->pos = pos + (__u32)resp_skip(p, end - pos);
		return 0;
	}
	if (pos >= sc->win_base && pos - sc->win_base < sc->w.n) {
		/* Still inside the loaded window (after an event, or a short payload skipped):
		 * go on there; a load per window, not per event. */
		sc->w.i = pos - sc->win_base;
	} else {
		len = db_win_load(x->skb, pos, end, sc->w.buf);
		if (!len)
			return 1;
		sc->win_base = pos;
		sc->w.n = len;
		sc->w.i = 0;
	}
	pos = sc->win_base;
	if (sc->from_client)
		redis_scan_req(&c->req, &sc->w);
	else
		redis_scan_rep(&c->rep, &sc->w);
	sc->pos = pos + sc->w.i;
	if (sc->w.ev != RE_NONE)
		redis_event(c, sc);
	return 0;
}

/* The connection is left for good: nothing more is parsed, the gauges go. */
static __always_inline void redis_leave(struct redis_conn *c, __u32 why)
{
	redis_set_ignored(c);
	db_stat(SOCKEYE_DB_REDIS, why);
	redis_gauges(c);
}

/* [seg->off, seg->end) of a Redis connection's segment. */
static __always_inline void redis_segment(struct __sk_buff *skb, struct bpf_sock *sk,
					  const struct stream_seg *seg)
{
	struct redis_scan_ctx x = {};
	struct redis_conn *c;
	struct redis_scratch *sc;
	struct resp_parser *p;
	__u32 zero = 0, *depth, slot;

	if (seg->from_client != seg->egress) {
		/* The server's side of a Redis connection (commands arrive): not a client. */
		stream_ignore(sk);
		return;
	}
	c = bpf_sk_storage_get(&redis_sk, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!c) {
		db_stat(SOCKEYE_DB_REDIS, SOCKEYE_DB_STAT_STORAGE_FAIL);
		return;
	}
	if (c->flags & REDIS_C_IGNORED) {
		stream_ignore(sk);
		return;
	}
	if (!(c->flags & REDIS_C_OPEN)) {
		if (c->cgroup_id) /* closed, or left: never counted again */
			return;
		c->cgroup_id = seg->cgroup_id;
		c->server_port = seg->server_port;
		__sync_fetch_and_or(&c->flags, REDIS_C_OPEN);
		db_conn_add(c->cgroup_id, c->server_port, SOCKEYE_DB_REDIS, 1, 0);
	}
	/* As HTTP clients: the process that sends is the series' owner (where cgroup_skb
	 * programs may read the current task; elsewhere tp_sock_state took it at connect). */
	if (owner_on_send && seg->egress && !(c->flags & REDIS_C_OWNER)) {
		__sync_fetch_and_or(&c->flags, REDIS_C_OWNER);
		owner_put(c->cgroup_id, c->server_port, SOCKEYE_ROLE_CLIENT);
	}
	p = seg->from_client ? &c->req : &c->rep;
	if (seg->gap) {
		/* Bytes lost inside a payload being skipped are harmless; anywhere else the
		 * framing is gone. */
		if (p->state == RS_SKIP && p->left > seg->gap) {
			p->left -= seg->gap;
		} else {
			redis_leave(c, SOCKEYE_DB_STAT_GAP);
			return;
		}
	}
	if (seg->off >= seg->end)
		return;
	depth = bpf_map_lookup_elem(&redis_depth, &zero);
	if (!depth)
		return;
	slot = *depth;
	if (slot >= REDIS_SCRATCH_SLOTS)
		return;
	sc = bpf_map_lookup_elem(&redis_scratch, &slot);
	if (!sc)
		return;
	*depth = slot + 1;
	redis_seg_begin(c, seg->from_client, seg->now_ns);
	sc->now = seg->now_ns;
	sc->pos = seg->off;
	sc->end = seg->end;
	sc->from_client = seg->from_client;
	sc->win_base = 0;
	sc->w.n = 0; /* nothing loaded from this segment yet */
	x.skb = skb;
	x.c = c;
	x.sc = sc;
	bpf_loop(REDIS_STEPS, redis_loop_cb, &x, 0);
	if (sc->pos < sc->end && !(c->flags & REDIS_C_IGNORED))
		redis_leave(c, SOCKEYE_DB_STAT_DESYNC); /* out of steps: framing lost */
	*depth = slot;
	redis_gauges(c);
}

/* The socket closes (the stream core's TCP state tracepoint): commands still outstanding end
 * as error_type="connection_closed", the gauges go. */
static __always_inline void redis_close(struct sock *sk)
{
	struct redis_conn *c = bpf_sk_storage_get(&redis_sk, sk, NULL, 0);
	struct redis_result r = {};
	__u64 now;
	__u32 i;

	if (!c || !(c->flags & REDIS_C_OPEN) || (c->flags & REDIS_C_IGNORED))
		return;
	now = bpf_ktime_get_ns();
	for (i = 0; i < REDIS_FIFO; i++) {
		struct redis_pending *e;

		if (i >= redis_queued(c))
			break;
		e = &c->fifo[(c->head + i) & (REDIS_FIFO - 1)];
		r.dur_ns = now > e->start_ns ? now - e->start_ns : 0;
		__builtin_memcpy(r.name, e->name, SOCKEYE_DB_NAME_LEN);
		r.error = SOCKEYE_DB_ERR_CLOSED;
		redis_record(c, &r);
	}
	redis_set_ignored(c); /* not busy any more: the used gauge goes too */
	redis_gauges(c);
}

STREAM_PROTOCOL(redis, PROTO_REDIS)

#endif /* SOCKEYE_REDIS_PAIR_BPF_H */
