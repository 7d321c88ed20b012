// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* collect.c - read BPF maps into a sockeye_snapshot; never writes to them. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "log.h"

#ifndef SOCKEYE_VERSION
#define SOCKEYE_VERSION "unknown"
#endif
#ifndef SOCKEYE_REVISION
#define SOCKEYE_REVISION "unknown"
#endif

int collect_series_cmp(const void *a, const void *b)
{
	const struct sockeye_http_series *x = a, *y = b;
	int c;

	if (x->role != y->role)
		return x->role < y->role ? -1 : 1;
	if (x->server_port != y->server_port)
		return x->server_port < y->server_port ? -1 : 1;
	c = strcmp(x->route, y->route);
	if (c)
		return c;
	if (x->method != y->method)
		return x->method < y->method ? -1 : 1;
	if (x->status != y->status)
		return x->status < y->status ? -1 : 1;
	if (x->version != y->version)
		return x->version < y->version ? -1 : 1;
	return 0;
}

size_t collect_merge(struct sockeye_http_series *s, size_t n, size_t n_slots)
{
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(s, n, sizeof(*s), collect_series_cmp);
	for (size_t i = 1; i < n; i++) {
		if (collect_series_cmp(&s[out], &s[i]) == 0) {
			s[out].count += s[i].count;
			s[out].sum_ns += s[i].sum_ns;
			for (size_t k = 0; k < n_slots; k++)
				s[out].buckets[k] += s[i].buckets[k];
		} else {
			s[++out] = s[i];
		}
	}
	return out + 1;
}

static void route_name(int routes_fd, __u64 id, char *out)
{
	struct sockeye_route r;

	if (id == SOCKEYE_ROUTE_OTHER) {
		strcpy(out, "{other}");
		return;
	}
	if (bpf_map_lookup_elem(routes_fd, &id, &r)) {
		strcpy(out, "{unknown}"); /* inserted by the kernel just before us: never here */
		return;
	}
	memcpy(out, r.path, SOCKEYE_ROUTE_LEN);
	out[SOCKEYE_ROUTE_LEN - 1] = '\0';
}

static int collect_http(const struct loader_fds *fds, struct sockeye_snapshot *snap, int ncpu)
{
	struct sockeye_http_key key, next;
	struct sockeye_http_val *vals = calloc(ncpu, sizeof(*vals));
	struct sockeye_http_series *series = NULL, *grown;
	size_t n = 0, cap = 0;
	void *prev = NULL;
	int err = 0;

	if (!vals)
		return -ENOMEM;
	while (bpf_map_get_next_key(fds->http_dur, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fds->http_dur, &key, vals))
			continue; /* never deleted, so this does not happen */
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			grown = realloc(series, cap * sizeof(*series));
			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			series = grown;
		}
		struct sockeye_http_series *s = &series[n++];

		memset(s, 0, sizeof(*s));
		s->role = key.role;
		s->method = key.method < SOCKEYE_METHOD_MAX ? key.method : SOCKEYE_METHOD_OTHER;
		s->version = key.version < SOCKEYE_VERSION_MAX ? key.version : SOCKEYE_VERSION_1_1;
		s->status = key.status;
		s->server_port = key.server_port;
		s->cgroup_id = key.cgroup_id;
		route_name(fds->http_routes, key.route_id, s->route);
		for (int c = 0; c < ncpu; c++) {
			s->sum_ns += vals[c].sum_ns;
			for (size_t k = 0; k < SOCKEYE_SLOTS; k++)
				s->buckets[k] += vals[c].buckets[k];
		}
		/* _count is the sum of the buckets, not the count field: a CPU may be between its
		 * two increments while we read, and _count must equal the +Inf bucket. */
		for (size_t k = 0; k < SOCKEYE_SLOTS; k++)
			s->count += s->buckets[k];
	}
	n = collect_merge(series, n, SOCKEYE_SLOTS);
	snap->http = series;
	snap->n_http = n;
	series = NULL;
out:
	free(series);
	free(vals);
	return err;
}

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

static void conn_add(struct sockeye_conn_series *acc, const struct sockeye_conn_series *s)
{
	acc->opened += s->opened;
	acc->closed += s->closed;
	acc->bytes_sent += s->bytes_sent;
	acc->bytes_received += s->bytes_received;
	acc->retrans += s->retrans;
	acc->rtt_count += s->rtt_count;
	acc->rtt_sum_us += s->rtt_sum_us;
	for (size_t k = 0; k < SOCKEYE_RTT_SLOTS; k++)
		acc->rtt_buckets[k] += s->rtt_buckets[k];
	for (size_t k = 0; k < SOCKEYE_METHOD_MAX; k++) {
		acc->req_started[k] += s->req_started[k];
		acc->req_ended[k] += s->req_ended[k];
	}
}

/* conn_slots names each group's index in the per-CPU array conn_stats. */
static int collect_conns(const struct loader_fds *fds, struct sockeye_snapshot *snap, int ncpu)
{
	struct sockeye_conn_key key, next;
	struct sockeye_conn_val *vals = calloc(ncpu, sizeof(*vals));
	struct sockeye_conn_series *out = NULL, *grown;
	size_t n = 0, cap = 0, m = 0;
	void *prev = NULL;
	__u32 idx;
	int err = 0;

	if (!vals)
		return -ENOMEM;
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
		for (int c = 0; c < ncpu; c++) {
			const struct sockeye_conn_val *v = &vals[c];
			struct sockeye_conn_series one = {
				.opened = v->opened,
				.closed = v->closed,
				.bytes_sent = v->bytes_sent,
				.bytes_received = v->bytes_received,
				.retrans = v->retrans,
				.rtt_count = v->rtt_count,
				.rtt_sum_us = v->rtt_sum_us,
			};

			memcpy(one.rtt_buckets, v->rtt_buckets, sizeof(one.rtt_buckets));
			memcpy(one.req_started, v->req_started, sizeof(one.req_started));
			memcpy(one.req_ended, v->req_ended, sizeof(one.req_ended));
			conn_add(s, &one);
		}
	}
	if (n) {
		qsort(out, n, sizeof(*out), conn_cmp);
		for (size_t i = 1; i < n; i++) {
			if (conn_cmp(&out[m], &out[i]) == 0)
				conn_add(&out[m], &out[i]);
			else
				out[++m] = out[i];
		}
		m++;
	}
	snap->conns = out;
	snap->n_conns = m;
	out = NULL;
fail:
	free(out);
	free(vals);
	return err;
}

static void collect_stats(const struct loader_fds *fds, struct sockeye_snapshot *snap, int ncpu)
{
	__u64 *vals = calloc(ncpu, sizeof(*vals));

	if (!vals)
		return;
	for (__u32 i = 0; i < SOCKEYE_STAT_MAX; i++) {
		snap->stats[i] = 0;
		if (bpf_map_lookup_elem(fds->stats, &i, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			snap->stats[i] += vals[c];
	}
	free(vals);
}

static __u64 count_keys(int fd, __u32 key_size)
{
	char key[64], next[64];
	void *prev = NULL;
	__u64 n = 0;

	if (key_size > sizeof(key))
		return 0;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

static void collect_objects(const struct loader_fds *fds, struct sockeye_snapshot *snap)
{
	snap->progs = calloc(fds->n_progs, sizeof(*snap->progs));
	snap->maps = calloc(fds->n_maps, sizeof(*snap->maps));
	if (!snap->progs || !snap->maps)
		return;
	for (size_t i = 0; i < fds->n_progs; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(fds->progs[i], &info, &len))
			continue;
		struct sockeye_prog_stat *p = &snap->progs[snap->n_progs++];

		snprintf(p->name, sizeof(p->name), "%s", info.name);
		p->run_cnt = info.run_cnt;
		p->run_time_ns = info.run_time_ns;
	}
	for (size_t i = 0; i < fds->n_maps; i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(fds->maps[i], &info, &len))
			continue;
		struct sockeye_map_stat *m = &snap->maps[snap->n_maps++];

		snprintf(m->name, sizeof(m->name), "%s", info.name);
		m->capacity = info.max_entries;
		m->entries = count_keys(fds->maps[i], info.key_size);
	}
}

int collect_snapshot(const struct loader_fds *fds, const struct sockeye_config *cfg,
		     struct sockeye_snapshot *snap)
{
	int ncpu = libbpf_num_possible_cpus();
	int err;

	memset(snap, 0, sizeof(*snap));
	snap->scrape_duration_seconds = -1;
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	memcpy(snap->bounds_ns, cfg->bounds_ns, cfg->n_bounds * sizeof(cfg->bounds_ns[0]));
	snap->n_bounds = cfg->n_bounds;
	snap->static_labels = cfg->labels;
	snap->n_static_labels = cfg->n_labels;
	snap->self_prefix = cfg->self_prefix;
	snap->version = SOCKEYE_VERSION;
	snap->revision = SOCKEYE_REVISION;

	err = collect_http(fds, snap, ncpu);
	if (err) {
		pr_warn("reading %s: %s", SOCKEYE_MAP_HTTP, strerror(-err));
		return err;
	}
	err = collect_conns(fds, snap, ncpu);
	if (err) {
		pr_warn("reading %s: %s", SOCKEYE_MAP_CONN_STATS, strerror(-err));
		return err;
	}
	memcpy(snap->rtt_bounds_us, fds->rtt_bounds_us, fds->n_rtt_bounds * sizeof(__u64));
	snap->n_rtt_bounds = fds->n_rtt_bounds;
	collect_stats(fds, snap, ncpu);
	collect_objects(fds, snap);
	return 0;
}

void collect_free(struct sockeye_snapshot *snap)
{
	free(snap->http);
	free(snap->conns);
	free(snap->progs);
	free(snap->maps);
	memset(snap, 0, sizeof(*snap));
}
