/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* http_pair.bpf.h - the HTTP module: drives the HTTP parser (http.bpf.h) over one direction of
 * one connection and turns its events into counts. Shared by the socket hooks (the stream
 * core hands it the bytes of a segment not seen before, inline: HTTP is the hot path) and the
 * TLS uprobes (plaintext of an SSL_read/SSL_write), so both paths produce the same series.
 *
 * A connection is a server when its first payload is a request arriving (ingress, or
 * SSL_read), a client when its first payload is a request leaving (egress, SSL_write). The
 * request direction feeds the request parser and the route, the other direction the response
 * parser. Requests wait in a small per-connection FIFO (pipelining) until their response's
 * status line is seen; then count, duration sum and bucket are added per CPU.
 */
#ifndef SOCKEYE_HTTP_PAIR_BPF_H
#define SOCKEYE_HTTP_PAIR_BPF_H

/* The window scan calls the parser through global functions (defined below). */
struct http_parser;
struct route_state;
struct words3;
int sockeye_step(struct http_parser *p, struct route_state *r, char c, __u64 now);
int sockeye_fast(struct http_parser *p, struct route_state *r, const struct words3 *w, __u64 now);
#define HTTP_STEP(p, r, c, now) sockeye_step(p, r, c, now)
#define HTTP_FAST(p, r, w, now) sockeye_fast(p, r, (const struct words3 *)(w), now)
/* The route code's questions, answered from route_cfg, route_trie and the learning maps. */
struct sockeye_route_cfg;
struct sockeye_route_node;
int sockeye_route_cfg(struct sockeye_route_cfg *out);
int sockeye_route_edge(__u32 node, __u32 kind, __u64 hash, struct sockeye_route_node *out);
int sockeye_route_learn(__u64 prefix, __u64 value, __u32 max);
#define ROUTE_CFG(c) sockeye_route_cfg(c)
#define ROUTE_EDGE(node, kind, hash, out) sockeye_route_edge(node, kind, hash, out)
#define ROUTE_LEARN(prefix, value, max) sockeye_route_learn(prefix, value, max)
struct route_state;
int sockeye_route_seg_end(struct route_state *r);
int sockeye_route_path_start(struct route_state *r);
#define ROUTE_SEG_END(r) sockeye_route_seg_end(r)
#define ROUTE_PATH_START(r) sockeye_route_path_start(r)

#include "http.bpf.h"
#include "hist.bpf.h"
#include "maps.bpf.h"
#include "stream.bpf.h"
#include "tcp.bpf.h"

/* What a scan knows about the segment or SSL call it walks, and where it is. Like the window,
 * it lives in the scratch map value: kept on the stack, these counters would be tracked
 * exactly by the verifier, which then follows the bpf_loop callback once per value they can
 * take (kernels from 6.8 on check callbacks until their state converges). */
struct scan_vars {
	__u64 now;
	__u32 off;	/* first payload byte of the segment */
	__u32 pos;	/* next byte to look at */
	__u32 end;	/* end of the payload */
	__u32 win_base; /* the window holds [win_base, win_base + win.n) */
	__u32 windows;	/* windows loaded so far */
	__u32 req_dir;	/* 1: the request direction */
};

/* Per-CPU scratch: a scan's window and variables (the stack is 512 B). A program can be
 * interrupted on its CPU by another one (task-context egress by softirq ingress or egress),
 * so each nesting level has its own slot (maps.bpf.h): see scratch_get. */
struct scratch {
	struct http_window win;
	struct scan_vars v;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* Takes this nesting level's scratch slot; pair with scratch_put. NULL when nested too deep. */
static __always_inline struct scratch *scratch_get(__u32 **depth)
{
	__u32 zero = 0, slot;

	*depth = bpf_map_lookup_elem(&scratch_depth, &zero);
	if (!*depth)
		return NULL;
	slot = **depth;
	if (slot >= SCRATCH_SLOTS) {
		*depth = NULL; /* nothing taken: nothing to put back */
		return NULL;
	}
	**depth = slot + 1;
	return bpf_map_lookup_elem(&scratch, &slot);
}

/* A request waiting for its response (and, once answered, the response being received). */
struct pending {
	__u64 start_ns;
	__u64 route_id;
	__u64 req_body; /* request body bytes, set when the request ends */
	__u8 method;
	__u8 version;
	__u16 status;	/* of the response (cur only) */
	__u8 pad[4];
};

/* One connection's HTTP state: in the socket's sk_storage value (struct sock_state,
 * sockeye.bpf.c) beside the stream core's, or in a TLS connection's state (tls.bpf.c). */
struct http_conn {
	__u8 kind; /* enum sock_kind: the core's, or the TLS probes' decision */
	__u8 fifo_head;
	__u8 fifo_tail;
	__u8 owner_seen; /* record_owner done */
	__u16 server_port;
	__u16 pad1;
	__u32 http_slot; /* conn_stats index + 1 for the HTTP role's in-flight counts, 0 none */
	__u32 pad3;
	__u64 last_route_hash; /* route_hash of the last request, 0 before one */
	__u64 last_route_id;   /* its id: the hash, or SOCKEYE_ROUTE_OTHER */
	struct http_parser req;	 /* the direction carrying requests */
	struct http_parser resp; /* the direction carrying responses */
	struct route_state route;
	struct pending fifo[SOCKEYE_PIPELINE_DEPTH];
	struct pending cur; /* the response being received, until its body ends */
	__u8 cur_valid;
	__u8 req_entry; /* FIFO index + 1 of the request being received, 0 none */
	__u8 pad2[6];
};
_Static_assert((SOCKEYE_PIPELINE_DEPTH & (SOCKEYE_PIPELINE_DEPTH - 1)) == 0, "FIFO index masks");

/* The histogram updates are global functions: the bucket search branches once per bound, and
 * inlined, each branch would carry the rest of its caller through the verifier again. */
__noinline int sockeye_size_add(struct sockeye_size_hist *h, __u64 v)
{
	__u32 slot = HIST_SLOT(size_bounds, n_size_bounds, v);

	if (!h)
		return 0;
	hist_add(&h->count, &h->sum, h->buckets, SOCKEYE_SIZE_BOUNDS, slot, v);
	return 0;
}

__noinline int sockeye_dur_add(struct sockeye_http_val *h, __u64 v)
{
	__u32 slot = HIST_SLOT(bounds_ns, n_bounds, v);

	if (!h)
		return 0;
	hist_add(&h->count, &h->sum_ns, h->buckets, SOCKEYE_MAX_BUCKETS, slot, v);
	return 0;
}

/* The series of the response being received (cur): its labels. */
static __always_inline void cur_key(struct sockeye_http_key *key, __u64 cgroup_id,
				    const struct http_conn *st)
{
	key->cgroup_id = cgroup_id;
	key->route_id = st->cur.route_id;
	key->server_port = st->server_port;
	key->status = st->cur.status;
	key->role = st->kind == KIND_SERVER ? SOCKEYE_ROLE_SERVER : SOCKEYE_ROLE_CLIENT;
	key->method = st->cur.method;
	key->version = st->cur.version;
}

/* The response (cur) ended: its request's and its own body sizes, under the same labels as
 * its duration. */
static __always_inline void record_sizes(__u64 cgroup_id, struct http_conn *st,
					 __u64 resp_body)
{
	const struct zero_vals *z = zeros();
	struct sockeye_http_key key = {};
	struct sockeye_size_val *val;

	cur_key(&key, cgroup_id, st);
	st->cur_valid = 0;
	if (!z || bench_stage == BENCH_STAGE_NOHIST)
		return;
	val = lookup_or_init(&http_sizes, &http_size_spill, &key, &z->sizes);
	if (!val)
		return;
	sockeye_size_add(&val->req, st->cur.req_body);
	sockeye_size_add(&val->resp, resp_body);
}

/* The response (cur) started: its duration from its request's first byte. */
static __always_inline void record(__u64 cgroup_id, struct http_conn *st, struct scratch *sc,
				   __u64 now)
{
	struct sockeye_http_key key = {};
	struct sockeye_http_val *val;

	cur_key(&key, cgroup_id, st);
	if (bench_stage == BENCH_STAGE_NOHIST)
		return;
	val = bpf_map_lookup_elem(&http_dur, &key);
	if (!val) /* a series whose first insert found http_dur's allocator empty */
		val = bpf_map_lookup_elem(&http_dur_spill, &key);
	if (!val) {
		/* A new series: past http.series_budget it is its service's {other} series (the
		 * sizes follow through cur.route_id). */
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&http_series_n, &zero);
		struct sockeye_route_cfg *cfg = bpf_map_lookup_elem(&route_cfg, &zero);

		if (n && cfg && cfg->series_budget && *n >= cfg->series_budget &&
		    key.route_id != SOCKEYE_ROUTE_OTHER) {
			stat_inc(SOCKEYE_STAT_SERIES_BUDGET);
			key.route_id = SOCKEYE_ROUTE_OTHER;
			st->cur.route_id = SOCKEYE_ROUTE_OTHER;
			val = bpf_map_lookup_elem(&http_dur, &key);
		}
		if (!val) {
			const struct zero_vals *z = zeros();

			val = z ? lookup_or_init(&http_dur, &http_dur_spill, &key, &z->dur) : NULL;
			if (val && n)
				__sync_fetch_and_add(n, 1);
		}
	}
	if (val)
		sockeye_dur_add(val, now > st->cur.start_ns ? now - st->cur.start_ns : 0);
}

/* http_*_active_requests: +1 started when a request line completes, +1 ended when its
 * response starts or the request is abandoned (connection closed, parser lost the stream).
 * Requests on ignored paths (http.routes.ignore) count nowhere. */
static __always_inline void inflight_add(struct http_conn *st, const struct pending *e,
					 int started)
{
	struct sockeye_conn_val *v;
	__u32 m = e->method;

	if (e->route_id == SOCKEYE_ROUTE_IGNORE)
		return;
	v = conn_val(st->http_slot);
	/* The check and the index must be the same register, or the 6.1 verifier sees an index
	 * up to 255: the barrier keeps the compiler from checking a copy. */
	BARRIER_VAR(m);
	if (!v || m >= SOCKEYE_METHOD_MAX)
		return;
	if (started)
		__sync_fetch_and_add(&v->req_started[m], 1);
	else
		__sync_fetch_and_add(&v->req_ended[m], 1);
}

/* Every request still waiting for its response is abandoned. */
static __always_inline void fifo_abandon(struct http_conn *st)
{
	for (int i = 0; i < SOCKEYE_PIPELINE_DEPTH; i++) {
		if (st->fifo_head == st->fifo_tail)
			break;
		inflight_add(st, &st->fifo[st->fifo_head & (SOCKEYE_PIPELINE_DEPTH - 1)], 0);
		st->fifo_head++;
	}
	st->fifo_head = st->fifo_tail;
}

/* A connection became HTTP (server or client): its in-flight counter group. */
static __always_inline void http_conn_init(struct http_conn *st, __u64 cgroup_id)
{
	/* low_cardinality learns per service: (cgroup, port, role) starts its prefixes. */
	st->route.seed = route_chain(route_chain(ROUTE_FNV_OFFSET, cgroup_id),
				     (__u64)st->server_port << 8 | st->kind);
	st->http_slot = conn_slot(cgroup_id, st->server_port,
				  st->kind == KIND_SERVER ? SOCKEYE_ROLE_SERVER : SOCKEYE_ROLE_CLIENT);
}

static __always_inline void on_request(struct http_conn *st)
{
	struct route_state *r = &st->route;
	__u64 hash, id;
	struct pending *e;

	if (r->flags & RTF_STATES_FULL)
		stat_inc(SOCKEYE_STAT_ROUTE_STATES_FULL);
	if (r->match_id) {
		/* A pattern (its name is in the route table from the start), or ignored. */
		id = r->match_id;
	} else {
		hash = route_hash(r);
		id = hash;
		/* Keep-alive connections mostly repeat a route: remember the last one's id. */
		if (hash == st->last_route_hash) {
			id = st->last_route_id;
			if (id == SOCKEYE_ROUTE_OTHER)
				stat_inc(SOCKEYE_STAT_ROUTE_TABLE_FULL);
		} else if (!bpf_map_lookup_elem(&http_routes, &id)) {
			/* Through the stack: 6.1 takes no memory that came into a global function
			 * as an argument as a map value to insert. */
			struct sockeye_route name;
			long err;

			__builtin_memcpy(&name, r->out, sizeof(name));
			err = bpf_map_update_elem(&http_routes, &id, &name, BPF_NOEXIST);

			if (err && err != -17 /* EEXIST */) {
				stat_inc(SOCKEYE_STAT_ROUTE_TABLE_FULL);
				id = SOCKEYE_ROUTE_OTHER;
			}
		}
		st->last_route_hash = hash;
		st->last_route_id = id;
	}
	if ((__u8)(st->fifo_tail - st->fifo_head) >= SOCKEYE_PIPELINE_DEPTH) {
		stat_inc(SOCKEYE_STAT_PIPELINE_FULL);
		st->req_entry = 0;
		return;
	}
	e = &st->fifo[st->fifo_tail & (SOCKEYE_PIPELINE_DEPTH - 1)];
	e->start_ns = st->req.msg_start_ns;
	e->route_id = id;
	e->method = st->req.method;
	e->version = st->req.version;
	e->req_body = 0;
	st->req_entry = (st->fifo_tail & (SOCKEYE_PIPELINE_DEPTH - 1)) + 1;
	st->fifo_tail++;
	inflight_add(st, e, 1);
}

static __always_inline void on_response(__u64 cgroup_id, struct http_conn *st,
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
	if (st->req_entry == (st->fifo_head & (SOCKEYE_PIPELINE_DEPTH - 1)) + 1)
		st->req_entry = 0; /* answered before its body ended: its size so far */
	st->fifo_head++;
	inflight_add(st, e, 0);
	st->cur = *e;
	st->cur.status = status;
	/* An ignored request's response is framed (its body skipped), never recorded. */
	st->cur_valid = e->route_id != SOCKEYE_ROUTE_IGNORE;
	if (e->method == SOCKEYE_METHOD_HEAD)
		p->flags |= HPF_NO_BODY;
	if (status == 101 || (e->method == SOCKEYE_METHOD_CONNECT && status >= 200 && status < 300)) {
		/* Upgrade or tunnel: after this response the bytes are not HTTP/1.x. */
		p->flags |= HPF_TUNNEL;
		st->req.state = HP_CLOSED;
	}
	if (st->cur_valid)
		record(cgroup_id, st, sc, now);
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
static __always_inline void on_error(struct http_conn *st, struct http_parser *p, int why)
{
	if (why == LOST_PARSE && st->req.messages == 0 && st->resp.messages == 0) {
		st->kind = KIND_IGNORE;
		stat_inc(SOCKEYE_STAT_NOT_HTTP);
		return;
	}
	stat_inc(SOCKEYE_STAT_DESYNC);
	p->state = HP_ERROR;
	if (why != LOST_TOO_LONG)
		fifo_abandon(st);
}

/* What happens per message, as global functions: verified once each, not once per path of
 * the scan callback that calls them (which the verifier walks several times). */
__noinline int sockeye_on_request(struct http_conn *st)
{
	if (st)
		on_request(st);
	return 0;
}

__noinline int sockeye_on_response(struct http_conn *st, struct scratch *sc, __u64 cgroup_id)
{
	if (st && sc)
		on_response(cgroup_id, st, sc, sc->v.now);
	return 0;
}

__noinline int sockeye_record_sizes(struct http_conn *st, __u64 cgroup_id, __u64 resp_body)
{
	if (st)
		record_sizes(cgroup_id, st, resp_body);
	return 0;
}

/* The parser's entry points as global functions: the verifier checks a global function once,
 * on its own, instead of once per place (and per state) it is inlined into. A BPF-to-BPF
 * call per unit is cheap; verifying the parser inside the scan loop was not (over the 1M
 * instruction limit). Pointer arguments of global functions may be NULL. */
__noinline int sockeye_step(struct http_parser *p, struct route_state *r, char c, __u64 now)
{
	if (!p)
		return HE_ERROR;
	return http_step(p, r, c, now);
}

/* route_cfg's one entry; 1 when there is none (never, once the loader ran). */
__noinline int sockeye_route_cfg(struct sockeye_route_cfg *out)
{
	__u32 zero = 0;
	struct sockeye_route_cfg *c = bpf_map_lookup_elem(&route_cfg, &zero);

	if (!out || !c)
		return 1;
	*out = *c;
	return 0;
}

/* The trie edge (node, kind, hash): 1 and its child in *out, or 0. */
__noinline int sockeye_route_edge(__u32 node, __u32 kind, __u64 hash,
				  struct sockeye_route_node *out)
{
	struct sockeye_route_edge e = { .node = node, .kind = kind, .hash = hash };
	struct sockeye_route_node *n = bpf_map_lookup_elem(&route_trie, &e);

	if (!out || !n)
		return 0;
	*out = *n;
	return 1;
}

/* low_cardinality: 1 when the literal value may stay in the route (seen before under this
 * prefix, or the prefix has room for another), 0 when its position becomes {*}. Two CPUs may
 * each admit one value past max at the same moment. */
__noinline int sockeye_route_learn(__u64 prefix, __u64 value, __u32 max)
{
	struct route_value_key k = { .prefix = prefix, .value = value };
	__u32 *n, zero = 0;
	__u8 one = 1;

	if (bpf_map_lookup_elem(&route_values, &k))
		return 1;
	n = bpf_map_lookup_elem(&route_prefixes, &prefix);
	if (!n) {
		bpf_map_update_elem(&route_prefixes, &prefix, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&route_prefixes, &prefix);
		if (!n)
			return 1;
	}
	if (*n >= max)
		return 0;
	__sync_fetch_and_add(n, 1);
	bpf_map_update_elem(&route_values, &k, &one, BPF_ANY);
	return 1;
}

__noinline int sockeye_route_seg_end(struct route_state *r)
{
	if (r)
		route_seg_end(r);
	return 0;
}

__noinline int sockeye_route_path_start(struct route_state *r)
{
	if (r)
		route_path_start(r);
	return 0;
}

/* 24 bytes for the fast paths: a global function's pointer argument must name its size. */
struct words3 {
	__u64 w[3];
};

/* Returns the bytes consumed in the low 16 bits and the event above them. */
__noinline int sockeye_fast(struct http_parser *p, struct route_state *r, const struct words3 *w,
			    __u64 now)
{
	if (!p || !w)
		return 0;
	return http_fast_packed(p, r, w->w, now);
}

/* One window's worth of parsing (http_scan_window), verified once. */
__noinline int sockeye_scan(struct http_parser *p, struct route_state *r, struct http_window *w,
			    __u64 now)
{
	if (!p || !w)
		return 0;
	http_scan_window(p, r, w, now);
	return 0;
}

/* The bpf_loop callback's context, on the caller's stack: pointers only, which stay the same
 * through the loop. */
struct scan_ctx {
	struct __sk_buff *skb; /* the segment (socket hooks) */
	const char *ubuf;      /* or the plaintext in user memory (TLS uprobes) */
	struct http_conn *st;
	struct scratch *sc; /* sc->v: struct scan_vars, sc->win: the window */
	struct http_parser *p;
	struct route_state *r; /* NULL on the response direction */
};

/* Copies len bytes at pos of the scanned data to dst. from_user is a constant in each caller,
 * so each object only contains the helper its program type may call. */
static __always_inline long scan_load(struct scan_ctx *c, __u32 pos, void *dst, __u32 len,
				      const int from_user)
{
	if (from_user)
		return bpf_probe_read_user(dst, len, c->ubuf + pos);
	return bpf_skb_load_bytes(c->skb, pos, dst, len);
}

static __always_inline __u64 scan_cgroup_id(struct scan_ctx *c, const int from_user)
{
	return from_user ? bpf_get_current_cgroup_id() : bpf_skb_cgroup_id(c->skb);
}

/* Handles an event the parser returned. Returns 1 when the scan must stop. */
static __always_inline int on_event(struct scan_ctx *c, int ev, const int from_user)
{
	if (ev == HE_REQUEST) {
		sockeye_on_request(c->st);
		return 0;
	}
	if (ev == HE_RESPONSE && !c->sc->v.req_dir) {
		sockeye_on_response(c->st, c->sc, scan_cgroup_id(c, from_user));
		return 0;
	}
	/* HE_ERROR, or a response where requests go */
	on_error(c->st, c->p, LOST_PARSE);
	return 1;
}

/* A message ended (its body too): a request's body size waits in its FIFO entry, a
 * response's is recorded with its request's under the response's labels. */
static __always_inline void on_end(struct scan_ctx *c, const int from_user)
{
	struct http_conn *st = c->st;
	struct http_parser *p = c->p;

	p->ended = 0;
	if (c->sc->v.req_dir) {
		if (st->req_entry) {
			st->fifo[(st->req_entry - 1) & (SOCKEYE_PIPELINE_DEPTH - 1)].req_body =
				p->body_size;
			st->req_entry = 0;
		}
	} else if (st->cur_valid) {
		sockeye_record_sizes(st, scan_cgroup_id(c, from_user), p->body_size);
	}
}

/* One unit of work per call: a message end, a body skip, a window load and a window's worth of
 * parsing. Everything the scan does happens here, so the verifier checks it once. */
static __always_inline long scan_step(struct scan_ctx *c, const int from_user)
{
	struct http_parser *p = c->p;
	struct scratch *sc = c->sc;
	struct scan_vars *v = &sc->v;
	__u32 pos = v->pos, end = v->end;
	int ev;

	if (p->ended)
		on_end(c, from_user);
	if (pos >= end || p->state == HP_CLOSED)
		return 1;
	if (p->state == HP_ERROR) {
		/* Resynchronise only at a segment that starts like a message. */
		char first;

		if (pos != v->off || scan_load(c, pos, &first, 1, from_user) || first < 'A' ||
		    first > 'Z')
			return 1;
		p->state = HP_START;
	}
	if (http_is_skip_state(p->state)) {
		v->pos = pos + http_skip(p, end - pos);
		return 0;
	}
	if (pos - v->win_base >= sc->win.n) {
		__u32 len = end - pos;

		if (v->windows >= SOCKEYE_SCAN_WINDOWS) {
			stat_inc(SOCKEYE_STAT_HEADER_TOO_LONG);
			on_error(c->st, p, LOST_TOO_LONG);
			return 1;
		}
		if (len > SOCKEYE_SCAN_WINDOW)
			len = SOCKEYE_SCAN_WINDOW;
		/* len is 1..256 here (pos < end). The 6.1 verifier learns no lower bound from a
		 * "len != 0" test, and bpf_skb_load_bytes refuses a size that may be 0: say it
		 * with arithmetic it follows (the barrier keeps the compiler from dropping it). */
		BARRIER_VAR(len);
		len = ((len - 1) & (SOCKEYE_SCAN_WINDOW - 1)) + 1;
		if (scan_load(c, pos, sc->win.buf, len, from_user))
			return 1;
		v->win_base = pos;
		sc->win.n = len;
		v->windows++;
	}
	sc->win.i = pos - v->win_base;
	sockeye_scan(p, c->r, &sc->win, v->now);
	v->pos = v->win_base + sc->win.i;
	ev = sc->win.ev;
	if (ev != HE_NONE)
		return on_event(c, ev, from_user);
	return 0;
}

/* Starts a scan of [off, end) with the scratch's window empty. */
static __always_inline void scan_begin(struct scratch *sc, __u32 off, __u32 end, int req_dir)
{
	sc->v.now = bpf_ktime_get_ns();
	sc->v.off = off;
	sc->v.pos = off;
	sc->v.end = end;
	sc->v.win_base = off;
	sc->v.windows = 0;
	sc->v.req_dir = req_dir;
	sc->win.n = 0;
}

/* Upper bound of callback calls per segment: a window's worth of parsing stops at most after
 * HTTP_SCAN_UNITS units of a byte or more, plus skips, message ends and loads. */
#define SCAN_STEPS (SOCKEYE_SCAN_WINDOWS * SOCKEYE_SCAN_WINDOW + 256)

/* The bpf_loop callbacks; an object defines only the one its programs use. */
#define DEFINE_SCAN_CB(name, from_user)                                                            \
	static __attribute__((unused)) long name(__u32 idx, void *arg)                                                     \
	{                                                                                          \
		return scan_step(arg, from_user);                                                  \
	}

/* Records the sending process as the owner of this connection's series (once per connection,
 * from process context: the first request a client sends, the first response a server
 * sends). */
static __always_inline void record_owner(struct http_conn *st, __u64 cgroup_id)
{
	if (st->owner_seen || (bpf_get_current_pid_tgid() >> 32) == 0)
		return;
	st->owner_seen = 1;
	owner_put(cgroup_id, st->server_port,
		  st->kind == KIND_SERVER ? SOCKEYE_ROLE_SERVER : SOCKEYE_ROLE_CLIENT);
}

/* --- The socket hooks' side (the stream core calls these for PROTO_HTTP) ------------------ */

DEFINE_SCAN_CB(scan_cb_skb, 0)

/* Whether a connection's first payload bytes are HTTP/1.x: a request start (an upper-case
 * token) travels client -> server (1), a status line ("HTTP/") server -> client (2): that is
 * how connections already open when the agent started are picked up. */
static __always_inline int http_detect(const char first[8], __u32 len, int egress)
{
	if (len < 1 || first[0] < 'A' || first[0] > 'Z')
		return 0;
	if (len >= 5 && first[0] == 'H' && first[1] == 'T' && first[2] == 'T' && first[3] == 'P' &&
	    first[4] == '/')
		return 2;
	return 1;
}

/* The connection became HTTP (the core decided its side and port). */
static __always_inline void http_start(struct http_conn *st, __u8 kind, __u16 server_port,
				       __u64 cgroup_id)
{
	st->kind = kind;
	st->server_port = server_port;
	http_conn_init(st, cgroup_id);
}

/* Feeds the payload [off, skb->len) of one segment, new bytes only, to the parser of its
 * direction; gap bytes of that direction before off were never seen. */
static __always_inline void http_segment(struct __sk_buff *skb, struct http_conn *st, int req_dir,
					 __u32 off, __u32 gap)
{
	struct http_parser *p = req_dir ? &st->req : &st->resp;
	struct scan_ctx ctx = {};
	__u32 *depth = NULL;
	struct scratch *sc;

	if (gap) {
		/* Bytes we have not seen: harmless inside a body (http_gap). */
		if (p->state != HP_ERROR && !http_gap(p, gap))
			on_error(st, p, LOST_GAP);
		if (st->kind == KIND_IGNORE)
			return;
	}
	sc = scratch_get(&depth);
	if (!sc) {
		scratch_put(depth);
		return;
	}
	scan_begin(sc, off, skb->len, req_dir);
	ctx.skb = skb;
	ctx.st = st;
	ctx.sc = sc;
	ctx.p = p;
	ctx.r = req_dir ? &st->route : NULL;
	if (bench_stage == BENCH_STAGE_NOSCAN) {
		scratch_put(depth);
		return;
	}
	bpf_loop(SCAN_STEPS, scan_cb_skb, &ctx, 0);
	if (p->ended)
		on_end(&ctx, 0);
	scratch_put(depth);
}

/* The socket closed (tp_sock_state): requests still waiting for a response are no longer in
 * flight, and a response delimited by the close ends with it. */
static __always_inline void http_close(struct http_conn *st, const struct sock *sk)
{
	fifo_abandon(st);
	if (st->cur_valid && st->resp.state == HP_BODY_CLOSE)
		record_sizes(sk_cgroup_id(sk), st, st->resp.body_size);
}

#endif /* SOCKEYE_HTTP_PAIR_BPF_H */
