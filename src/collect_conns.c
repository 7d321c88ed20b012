// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* collect_conns.c - the TCP connection family group: conn_slots and conn_stats -> snap->conns
 * (sockeye_tcp_* and http_{server,client}_active_requests). Reads only. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect_group.h"
#include "merge.h"

/* Same labels: side, port and identity (cgroup_id is not a label). */
static int conn_cmp(const void *a, const void *b)
{
	const struct sockeye_conn_series *x = a, *y = b;

	if (x->side != y->side)
		return x->side < y->side ? -1 : 1;
	if (x->server_port != y->server_port)
		return x->server_port < y->server_port ? -1 : 1;
	/* Identities are shared objects of the snapshot: equal labels, same pointer. */
	if (x->identity != y->identity)
		return (uintptr_t)x->identity < (uintptr_t)y->identity ? -1 : 1;
	return 0;
}

static void conn_val_add(void *acc, const void *val)
{
	struct sockeye_conn_val *a = acc;
	const struct sockeye_conn_val *v = val;

	a->opened += v->opened;
	a->closed += v->closed;
	a->bytes_sent += v->bytes_sent;
	a->bytes_received += v->bytes_received;
	a->retrans += v->retrans;
	a->rtt_count += v->rtt_count;
	a->rtt_sum_us += v->rtt_sum_us;
	merge_u64(a->rtt_buckets, v->rtt_buckets, SOCKEYE_RTT_SLOTS);
	merge_u64(a->req_started, v->req_started, SOCKEYE_METHOD_MAX);
	merge_u64(a->req_ended, v->req_ended, SOCKEYE_METHOD_MAX);
}

static void conn_series_add(void *acc, const void *s)
{
	conn_val_add(&((struct sockeye_conn_series *)acc)->v,
		     &((const struct sockeye_conn_series *)s)->v);
}

/* conn_slots names each group's index in the per-CPU array conn_stats. */
static int collect_conns(const struct collect_ctx *ctx, struct sockeye_snapshot *snap)
{
	const struct loader_fds *fds = ctx->fds;
	struct sockeye_conn_key key, next;
	struct sockeye_conn_val *vals = calloc(ctx->ncpu, sizeof(*vals));
	struct sockeye_conn_series *out = NULL, *grown;
	size_t n = 0, cap = 0;
	void *prev = NULL;
	__u32 idx;
	int err = 0;

	if (!vals)
		return -ENOMEM;
	/* The RTT bounds the loader gave the kernel: the le of sockeye_tcp_rtt_seconds. */
	memcpy(snap->rtt_bounds_us, fds->rtt_bounds_us, fds->n_rtt_bounds * sizeof(__u64));
	snap->n_rtt_bounds = fds->n_rtt_bounds;
	while (bpf_map_get_next_key(fds->conn_slots, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fds->conn_slots, &key, &idx) ||
		    bpf_map_lookup_elem(fds->conn_stats, &idx, vals))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(out, cap * sizeof(*out));
			if (!grown) {
				err = -ENOMEM;
				goto fail;
			}
			out = grown;
		}
		struct sockeye_conn_series *s = &out[n++];

		memset(s, 0, sizeof(*s));
		s->side = key.side;
		s->server_port = key.server_port;
		s->cgroup_id = key.cgroup_id;
		merge_percpu(&s->v, vals, ctx->ncpu, sizeof(*vals), conn_val_add);
	}
	snap->conns = out;
	snap->n_conns = n;
	out = NULL;
fail:
	free(out);
	free(vals);
	return err;
}

static void identify_conns(struct sockeye_snapshot *snap, collect_visit_fn visit, void *arg)
{
	for (size_t i = 0; i < snap->n_conns; i++) {
		struct identity_query q = { .cgroup_id = snap->conns[i].cgroup_id,
					    .server_port = snap->conns[i].server_port,
					    .role = snap->conns[i].side };

		visit(arg, &q, &snap->conns[i].identity);
	}
}

static void merge_conns(struct sockeye_snapshot *snap)
{
	snap->n_conns = merge_series(snap->conns, snap->n_conns, sizeof(*snap->conns), conn_cmp,
				     conn_series_add);
}

static void free_conns(struct sockeye_snapshot *snap)
{
	free(snap->conns);
}

const struct collect_group collect_group_conns = {
	.what = SOCKEYE_MAP_CONN_STATS,
	.collect = collect_conns,
	.identify = identify_conns,
	.services = 1,
	.merge = merge_conns,
	.free = free_conns,
};
