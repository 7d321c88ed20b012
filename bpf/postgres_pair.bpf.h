/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* postgres_pair.bpf.h - the PostgreSQL client module over the stream core (docs/protocols.md):
 * its per-socket state (pg_sk), named prepared statements (pg_stmts), the driver of
 * bpf/postgres.bpf.h over a segment's bytes, and what an operation and a connection add to the
 * db maps (bpf/db.bpf.h).
 *
 * A connection is PostgreSQL when its client sends a StartupMessage (protocol 3.0), an
 * SSLRequest or a GSSENCRequest first (pg_detect_bytes): any port. Only the client's socket is
 * measured (the server's side of the same connection is left). An operation's time runs from
 * the segment of its Query/Execute to the segment of its end.
 */
#ifndef SOCKEYE_POSTGRES_PAIR_BPF_H
#define SOCKEYE_POSTGRES_PAIR_BPF_H

#include "db.bpf.h"

struct pg_dir;
__noinline int pg_step_req(struct pg_dir *d, int c);
__noinline int pg_step_rep(struct pg_dir *d, int c);
#define PG_STEP(d, c, from_client) ((from_client) ? pg_step_req(d, c) : pg_step_rep(d, c))

#include "postgres.bpf.h"

_Static_assert(PG_WIN == DB_WIN, "the window db_win_load fills");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pg_conn);
} pg_sk SEC(".maps");

/* Named prepared statements: (socket cookie, name hash) -> keyword. LRU: the statements of
 * closed connections are not looked for, they age out. */
struct pg_stmt_key {
	__u64 cookie;
	__u64 hash;
};

struct pg_stmt_val {
	char name[SOCKEYE_DB_NAME_LEN];
};

#define PG_STMT_ENTRIES 8192

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PG_STMT_ENTRIES);
	__type(key, struct pg_stmt_key);
	__type(value, struct pg_stmt_val);
} pg_stmts SEC(".maps");

/* The bpf_loop state of one segment's scan, per CPU and nesting level (as redis_scratch). */
struct pg_scratch {
	struct pg_win w;
	struct pg_result r;
	__u64 now;
	__u32 pos;
	__u32 end;
	__u32 from_client;
	__u32 win_base; /* segment offset of w.buf[0] */
};

#define PG_SCRATCH_SLOTS 4

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct pg_scratch);
} pg_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} pg_depth SEC(".maps");

/* Loop steps per segment: a window or a skip per step, an event per step at most. */
#define PG_STEPS 16384

static __always_inline int postgres_detect(const char first[8], __u32 len, int egress)
{
	(void)egress;
	if (!db_enabled[SOCKEYE_DB_POSTGRESQL])
		return 0;
	return pg_detect_bytes(first, len);
}

/* One byte of each direction, and a window of them: global functions, verified once. */
__noinline int pg_step_req(struct pg_dir *d, int c)
{
	if (!d)
		return PE_ERROR;
	return pg_step(d, (char)c, 1);
}

__noinline int pg_step_rep(struct pg_dir *d, int c)
{
	if (!d)
		return PE_ERROR;
	return pg_step(d, (char)c, 0);
}

__noinline int pg_scan_req(struct pg_dir *d, struct pg_win *w)
{
	if (!d || !w)
		return 0;
	pg_scan(d, w, 1);
	return 0;
}

__noinline int pg_scan_rep(struct pg_dir *d, struct pg_win *w)
{
	if (!d || !w)
		return 0;
	pg_scan(d, w, 0);
	return 0;
}

/* A message's pairing: global functions too. */
__noinline int pg_client_msg(struct pg_conn *c, struct pg_scratch *sc)
{
	if (!c || !sc)
		return 0;
	return pg_on_client_msg(c, sc->now, &sc->r);
}

__noinline int pg_server_msg(struct pg_conn *c, struct pg_scratch *sc)
{
	if (!c || !sc)
		return 0;
	return pg_on_server_msg(c, sc->now, &sc->r);
}

/* One operation into db_dur. The key is built on this function's stack: the 6.1 verifier
 * refuses a global function's memory arguments as map keys. */
__noinline int pg_record(const struct pg_conn *c, const struct pg_result *r)
{
	struct sockeye_db_key key = {};
	char name[SOCKEYE_DB_NAME_LEN];

	if (!c || !r)
		return 0;
	__builtin_memcpy(name, r->name, SOCKEYE_DB_NAME_LEN);
	key.cgroup_id = c->cgroup_id;
	key.server_port = c->server_port;
	key.system = SOCKEYE_DB_POSTGRESQL;
	key.error = r->error;
	db_op_name(SOCKEYE_DB_POSTGRESQL, name, key.op);
	__builtin_memcpy(key.status, r->status, SOCKEYE_DB_NAME_LEN);
	db_record(&key, r->dur_ns);
	return 0;
}

/* Named statements: remember, find (into c->bound), forget. */
__noinline int pg_stmt(struct pg_conn *c, const struct pg_result *r, int a)
{
	struct pg_stmt_key k = {};
	struct pg_stmt_val v = {}, *found;

	if (!c || !r)
		return 0;
	k.cookie = c->cookie;
	k.hash = r->hash;
	if (a & PG_A_STMT_PUT) {
		__builtin_memcpy(v.name, r->name, SOCKEYE_DB_NAME_LEN);
		if (bpf_map_update_elem(&pg_stmts, &k, &v, BPF_ANY))
			db_stat(SOCKEYE_DB_POSTGRESQL, SOCKEYE_DB_STAT_MAP_FULL);
	} else if (a & PG_A_STMT_GET) {
		found = bpf_map_lookup_elem(&pg_stmts, &k);
		if (found)
			__builtin_memcpy(v.name, found->name, SOCKEYE_DB_NAME_LEN);
		__builtin_memcpy(c->bound, v.name, SOCKEYE_DB_NAME_LEN);
	} else if (a & PG_A_STMT_DEL) {
		bpf_map_delete_elem(&pg_stmts, &k);
	}
	return 0;
}

/* The used gauge follows "an operation outstanding or a transaction open"; the open gauge
 * goes when the connection is left or closes. */
static __always_inline void pg_gauges(struct pg_conn *c)
{
	int d = pg_used_change(c);

	if (d)
		db_conn_add(c->cgroup_id, c->server_port, SOCKEYE_DB_POSTGRESQL, 0, d);
	if (pg_open_leaves(c))
		db_conn_add(c->cgroup_id, c->server_port, SOCKEYE_DB_POSTGRESQL, -1, 0);
}

struct pg_scan_ctx {
	struct __sk_buff *skb;
	struct pg_conn *c;
	struct pg_scratch *sc;
};

static __always_inline void pg_event(struct pg_conn *c, struct pg_scratch *sc)
{
	int a = 0;

	__builtin_memset(&sc->r, 0, sizeof(sc->r));
	switch (sc->w.ev) {
	case PE_MSG:
		if (sc->from_client)
			a = pg_client_msg(c, sc);
		else
			a = pg_server_msg(c, sc);
		break;
	case PE_SSL:
		a = pg_on_ssl(c);
		break;
	case PE_ERROR:
		pg_set_ignored(c);
		db_stat(SOCKEYE_DB_POSTGRESQL, SOCKEYE_DB_STAT_DESYNC);
		break;
	default:
		break;
	}
	if (a & PG_A_RECORD)
		pg_record(c, &sc->r);
	if (a & (PG_A_STMT_PUT | PG_A_STMT_GET | PG_A_STMT_DEL))
		pg_stmt(c, &sc->r, a);
	if (a & PG_A_PIPELINE_FULL)
		db_stat(SOCKEYE_DB_POSTGRESQL, SOCKEYE_DB_STAT_PIPELINE_FULL);
	if (a & PG_A_UNMATCHED)
		db_stat(SOCKEYE_DB_POSTGRESQL, SOCKEYE_DB_STAT_UNMATCHED);
	if (a & PG_A_IGNORE)
		db_stat(SOCKEYE_DB_POSTGRESQL, SOCKEYE_DB_STAT_IGNORED);
}

/* One unit per call: a body skip, or a window loaded and stepped up to an event. */
static long pg_loop_cb(__u32 idx, void *arg)
{
	struct pg_scan_ctx *x = arg;
	struct pg_conn *c = x->c;
	struct pg_scratch *sc = x->sc;
	struct pg_dir *d;
	__u32 pos = sc->pos, end = sc->end, len;

	if (pos >= end || (c->flags & PG_C_IGNORED))
		return 1;
	d = sc->from_client ? &c->req : &c->rep;
	if (d->state == PS_SKIP) {
		sc->pos = pos + pg_skip(d, end - pos);
		return 0;
	}
	if (pos >= sc->win_base && pos - sc->win_base < sc->w.n) {
		sc->w.i = pos - sc->win_base; /* still inside the loaded window */
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
		pg_scan_req(&c->req, &sc->w);
	else
		pg_scan_rep(&c->rep, &sc->w);
	sc->pos = pos + sc->w.i;
	if (sc->w.ev != PE_NONE)
		pg_event(c, sc);
	return 0;
}

static __always_inline void pg_leave(struct pg_conn *c, __u32 why)
{
	pg_set_ignored(c);
	db_stat(SOCKEYE_DB_POSTGRESQL, why);
	pg_gauges(c);
}

/* [seg->off, seg->end) of a PostgreSQL connection's segment. */
static __always_inline void postgres_segment(struct __sk_buff *skb, struct bpf_sock *sk,
					     const struct stream_seg *seg)
{
	struct pg_scan_ctx x = {};
	struct pg_conn *c;
	struct pg_scratch *sc;
	struct pg_dir *d;
	__u32 zero = 0, *depth, slot;

	if (seg->from_client != seg->egress) {
		/* The server's side of a PostgreSQL connection: not a client. */
		stream_ignore(sk);
		return;
	}
	c = bpf_sk_storage_get(&pg_sk, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!c) {
		db_stat(SOCKEYE_DB_POSTGRESQL, SOCKEYE_DB_STAT_STORAGE_FAIL);
		return;
	}
	if (c->flags & PG_C_IGNORED) {
		stream_ignore(sk);
		return;
	}
	if (!(c->flags & PG_C_OPEN)) {
		if (c->cgroup_id) /* closed, or left: never counted again */
			return;
		if (!seg->first || !seg->from_client) {
			/* Joined after the startup (the agent started later): the framing of the
			 * first bytes seen is unknown. Left. */
			stream_ignore(sk);
			return;
		}
		pg_conn_init(c);
		c->cgroup_id = seg->cgroup_id;
		c->server_port = seg->server_port;
		c->cookie = bpf_get_socket_cookie(skb);
		__sync_fetch_and_or(&c->flags, PG_C_OPEN);
		db_conn_add(c->cgroup_id, c->server_port, SOCKEYE_DB_POSTGRESQL, 1, 0);
	}
	if (owner_on_send && seg->egress && !(c->flags & PG_C_OWNER)) {
		__sync_fetch_and_or(&c->flags, PG_C_OWNER);
		owner_put(c->cgroup_id, c->server_port, SOCKEYE_ROLE_CLIENT);
	}
	d = seg->from_client ? &c->req : &c->rep;
	if (seg->gap) {
		/* Bytes lost inside a body being skipped are harmless; anywhere else the framing
		 * is gone. */
		if (d->state == PS_SKIP && d->left > seg->gap) {
			d->left -= seg->gap;
		} else {
			pg_leave(c, SOCKEYE_DB_STAT_GAP);
			return;
		}
	}
	if (seg->off >= seg->end)
		return;
	depth = bpf_map_lookup_elem(&pg_depth, &zero);
	if (!depth)
		return;
	slot = *depth;
	if (slot >= PG_SCRATCH_SLOTS)
		return;
	sc = bpf_map_lookup_elem(&pg_scratch, &slot);
	if (!sc)
		return;
	*depth = slot + 1;
	sc->now = seg->now_ns;
	sc->pos = seg->off;
	sc->end = seg->end;
	sc->from_client = seg->from_client;
	sc->win_base = 0;
	sc->w.n = 0;
	x.skb = skb;
	x.c = c;
	x.sc = sc;
	bpf_loop(PG_STEPS, pg_loop_cb, &x, 0);
	if (sc->pos < sc->end && !(c->flags & PG_C_IGNORED))
		pg_leave(c, SOCKEYE_DB_STAT_DESYNC); /* out of steps: framing lost */
	*depth = slot;
	pg_gauges(c);
}

/* The socket closes: operations still outstanding end as error_type="connection_closed",
 * the gauges go. */
static __always_inline void postgres_close(struct sock *sk)
{
	struct pg_conn *c = bpf_sk_storage_get(&pg_sk, sk, NULL, 0);
	struct pg_result r = {};
	__u64 now;
	__u32 i;

	if (!c || !(c->flags & PG_C_OPEN) || (c->flags & PG_C_IGNORED))
		return;
	now = bpf_ktime_get_ns();
	for (i = 0; i < PG_FIFO; i++) {
		if (i >= pg_queued(c))
			break;
		if (pg_closed(c, i, now, &r))
			pg_record(c, &r);
	}
	pg_set_ignored(c);
	pg_gauges(c);
}

STREAM_PROTOCOL(postgres, PROTO_POSTGRES)

#endif /* SOCKEYE_POSTGRES_PAIR_BPF_H */
