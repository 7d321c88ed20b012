// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* collect_http.c - the HTTP family group: http_dur and its spill map, http_sizes and its spill
 * map, http_routes -> snap->http (http_{server,client}_request_duration_seconds and the body
 * size families). Reads only, never writes to the maps. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "collect_group.h"
#include "merge.h"

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
	return merge_identity_cmp(x->identity, y->identity);
}

static void size_hist_add(struct sockeye_size_hist *acc, const struct sockeye_size_hist *h)
{
	acc->count += h->count;
	acc->sum += h->sum;
	merge_u64(acc->buckets, h->buckets, SOCKEYE_SIZE_SLOTS);
}

static void size_val_add(void *acc, const void *v)
{
	struct sockeye_size_val *a = acc;
	const struct sockeye_size_val *s = v;

	size_hist_add(&a->req, &s->req);
	size_hist_add(&a->resp, &s->resp);
}

static void http_val_add(void *acc, const void *v)
{
	struct sockeye_http_val *a = acc;
	const struct sockeye_http_val *s = v;

	a->sum_ns += s->sum_ns;
	merge_u64(a->buckets, s->buckets, SOCKEYE_SLOTS);
}

static void http_series_add(void *acc, const void *v)
{
	struct sockeye_http_series *a = acc;
	const struct sockeye_http_series *s = v;

	a->count += s->count;
	a->sum_ns += s->sum_ns;
	merge_u64(a->buckets, s->buckets, SOCKEYE_SLOTS);
	size_hist_add(&a->req_size, &s->req_size);
	size_hist_add(&a->resp_size, &s->resp_size);
}

/* As for durations, _count is the bucket total, so it always equals the +Inf bucket. */
static void size_hist_recount(struct sockeye_size_hist *h)
{
	h->count = 0;
	for (size_t k = 0; k < SOCKEYE_SIZE_SLOTS; k++)
		h->count += h->buckets[k];
}

size_t collect_merge(struct sockeye_http_series *s, size_t n)
{
	return merge_series(s, n, sizeof(*s), collect_series_cmp, http_series_add);
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

/* The series being collected and the per-CPU buffers to read values into. */
struct http_acc {
	struct sockeye_http_series *series;
	size_t n, cap;
	struct sockeye_http_val *vals;	 /* ncpu */
	struct sockeye_size_val *sizes; /* ncpu */
};

/* Adds the sizes under key in the map fd (if it holds the key; ncpu values, or one for the
 * spill map) to s. */
static void add_sizes(struct http_acc *a, int fd, int ncpu, const struct sockeye_http_key *key,
		      struct sockeye_http_series *s)
{
	struct sockeye_size_val sum = { 0 };

	if (bpf_map_lookup_elem(fd, key, a->sizes))
		return;
	merge_percpu(&sum, a->sizes, ncpu, sizeof(*a->sizes), size_val_add);
	size_hist_add(&s->req_size, &sum.req);
	size_hist_add(&s->resp_size, &sum.resp);
}

/* One series for key from the durations map dur_fd (ncpu values per key: 1 for the spill
 * map); with_sizes: also its body sizes, from http_sizes and its spill map (each request's
 * sizes are in one of them). */
static int append_series(const struct collect_ctx *ctx, struct http_acc *a, int dur_fd, int ncpu,
			 const struct sockeye_http_key *key, bool with_sizes)
{
	const struct loader_fds *fds = ctx->fds;
	struct sockeye_http_val sum = { 0 };
	struct sockeye_http_series *s;

	if (bpf_map_lookup_elem(dur_fd, key, a->vals))
		return 0; /* never deleted, so this does not happen */
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		struct sockeye_http_series *grown = realloc(a->series, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		a->series = grown;
		a->cap = cap;
	}
	s = &a->series[a->n++];
	memset(s, 0, sizeof(*s));
	s->role = key->role;
	s->method = key->method < SOCKEYE_METHOD_MAX ? key->method : SOCKEYE_METHOD_OTHER;
	s->version = key->version < SOCKEYE_VERSION_MAX ? key->version : SOCKEYE_VERSION_1_1;
	s->status = key->status;
	s->server_port = key->server_port;
	s->cgroup_id = key->cgroup_id;
	route_name(fds->http_routes, key->route_id, s->route);
	merge_percpu(&sum, a->vals, ncpu, sizeof(*a->vals), http_val_add);
	s->sum_ns = sum.sum_ns;
	memcpy(s->buckets, sum.buckets, sizeof(s->buckets));
	/* _count is the sum of the buckets, not the count field: a CPU may be between its
	 * two increments while we read, and _count must equal the +Inf bucket. */
	for (size_t k = 0; k < SOCKEYE_SLOTS; k++)
		s->count += s->buckets[k];
	/* Body sizes are recorded when the response ends, under the same key. */
	if (with_sizes) {
		add_sizes(a, fds->http_sizes, ctx->ncpu, key, s);
		add_sizes(a, fds->http_size_spill, 1, key, s);
		size_hist_recount(&s->req_size);
		size_hist_recount(&s->resp_size);
	}
	return 0;
}

/* Every key of http_dur, then those of its spill map (a key may be in both: the two series
 * are merged; its sizes go with the first). */
static int collect_http(const struct collect_ctx *ctx, struct sockeye_snapshot *snap)
{
	const struct loader_fds *fds = ctx->fds;
	struct http_acc a = { 0 };
	struct sockeye_http_key key, next;
	void *prev = NULL;
	int err = 0;

	a.vals = calloc(ctx->ncpu, sizeof(*a.vals));
	a.sizes = calloc(ctx->ncpu, sizeof(*a.sizes));
	if (!a.vals || !a.sizes) {
		err = -ENOMEM;
		goto out;
	}
	while (!err && bpf_map_get_next_key(fds->http_dur, prev, &next) == 0) {
		key = next;
		prev = &key;
		err = append_series(ctx, &a, fds->http_dur, ctx->ncpu, &key, true);
	}
	prev = NULL;
	while (!err && bpf_map_get_next_key(fds->http_dur_spill, prev, &next) == 0) {
		key = next;
		prev = &key;
		err = append_series(ctx, &a, fds->http_dur_spill, 1, &key,
				    bpf_map_lookup_elem(fds->http_dur, &key, a.vals) != 0);
	}
	if (err)
		goto out;
	snap->http = a.series;
	snap->n_http = a.n;
	a.series = NULL;
out:
	free(a.series);
	free(a.vals);
	free(a.sizes);
	return err;
}

static void identify_http(struct sockeye_snapshot *snap, collect_visit_fn visit, void *arg)
{
	for (size_t i = 0; i < snap->n_http; i++) {
		struct identity_query q = { .cgroup_id = snap->http[i].cgroup_id,
					    .server_port = snap->http[i].server_port,
					    .role = snap->http[i].role };

		visit(arg, &q, &snap->http[i].identity);
	}
}

static void merge_http(struct sockeye_snapshot *snap)
{
	snap->n_http = collect_merge(snap->http, snap->n_http);
}

static void free_http(struct sockeye_snapshot *snap)
{
	free(snap->http);
}

const struct collect_group collect_group_http = {
	.what = SOCKEYE_MAP_HTTP,
	.collect = collect_http,
	.identify = identify_http,
	.services = 1,
	.merge = merge_http,
	.free = free_http,
};
