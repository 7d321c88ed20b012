// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* collect_db.c - the database client maps -> the db families of a snapshot: keys turned into
 * label values, clients named, series with equal labels merged. Reads only, never writes to
 * the maps. Knows no protocol: whatever a module counted is rendered. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect_db.h"
#include "collect_group.h"
#include "identity.h"
#include "merge.h"

void collect_db_name(const char *raw, char *out)
{
	identity_copy_utf8(out, SOCKEYE_DB_NAME_STR, raw, strnlen(raw, SOCKEYE_DB_NAME_LEN));
}

/* Grows *arr (elements of size sz) to hold one more; NULL when out of memory. */
static void *grow(void **arr, size_t *n, size_t *cap, size_t sz)
{
	char *p;

	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 32;

		p = realloc(*arr, c * sz);
		if (!p)
			return NULL;
		*arr = p;
		*cap = c;
	}
	p = (char *)*arr + (*n)++ * sz;
	memset(p, 0, sz);
	return p;
}

static int read_ops(int fd, int ncpu, struct sockeye_db_snapshot *ds)
{
	struct sockeye_db_key key, next;
	struct sockeye_http_val *vals = calloc(ncpu, sizeof(*vals));
	size_t cap = 0;
	void *prev = NULL;

	if (!vals)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct sockeye_db_op_series *s;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue; /* never deleted: does not happen */
		s = grow((void **)&ds->ops, &ds->n_ops, &cap, sizeof(*s));
		if (!s) {
			free(vals);
			return -ENOMEM;
		}
		s->system = key.system;
		s->error = key.error;
		s->server_port = key.server_port;
		s->cgroup_id = key.cgroup_id;
		collect_db_name(key.op, s->op);
		collect_db_name(key.status, s->status);
		for (int c = 0; c < ncpu; c++) {
			s->sum_ns += vals[c].sum_ns;
			for (size_t k = 0; k < SOCKEYE_SLOTS; k++)
				s->buckets[k] += vals[c].buckets[k];
		}
		/* _count is the bucket total, not the count field, so that it equals the +Inf
		 * bucket even when a CPU is between its adds (as for HTTP). */
		for (size_t k = 0; k < SOCKEYE_SLOTS; k++)
			s->count += s->buckets[k];
	}
	free(vals);
	return 0;
}

static int read_cache(int fd, int ncpu, struct sockeye_db_snapshot *ds)
{
	struct sockeye_db_cache_key key, next;
	struct sockeye_db_cache_val *vals = calloc(ncpu, sizeof(*vals));
	size_t cap = 0;
	void *prev = NULL;

	if (!vals)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct sockeye_db_cache_series *s;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		s = grow((void **)&ds->cache, &ds->n_cache, &cap, sizeof(*s));
		if (!s) {
			free(vals);
			return -ENOMEM;
		}
		s->system = key.system;
		s->server_port = key.server_port;
		s->cgroup_id = key.cgroup_id;
		collect_db_name(key.op, s->op);
		for (int c = 0; c < ncpu; c++) {
			s->hits += vals[c].hits;
			s->misses += vals[c].misses;
		}
	}
	free(vals);
	return 0;
}

static int read_conns(int fd, int ncpu, struct sockeye_db_snapshot *ds)
{
	struct sockeye_db_conn_key key, next;
	struct sockeye_db_conn_val *vals = calloc(ncpu, sizeof(*vals));
	size_t cap = 0;
	void *prev = NULL;

	if (!vals)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct sockeye_db_conn_series *s;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		s = grow((void **)&ds->conns, &ds->n_conns, &cap, sizeof(*s));
		if (!s) {
			free(vals);
			return -ENOMEM;
		}
		s->system = key.system;
		s->server_port = key.server_port;
		s->cgroup_id = key.cgroup_id;
		for (int c = 0; c < ncpu; c++) {
			s->open += vals[c].open;
			s->used += vals[c].used;
		}
	}
	free(vals);
	return 0;
}

static void read_stats(int fd, int ncpu, struct sockeye_db_snapshot *ds)
{
	__u64 *vals = calloc(ncpu, sizeof(*vals));

	if (!vals)
		return;
	for (__u32 sys = 0; sys < SOCKEYE_DB_SYSTEM_MAX; sys++) {
		for (__u32 i = 0; i < SOCKEYE_DB_STAT_MAX; i++) {
			__u32 k = sys * SOCKEYE_DB_STAT_MAX + i;

			if (bpf_map_lookup_elem(fd, &k, vals))
				continue;
			for (int c = 0; c < ncpu; c++)
				ds->stats[sys][i] += vals[c];
		}
	}
	free(vals);
}

int collect_db(const struct collect_db_fds *fds, const uint64_t *bounds_ns, size_t n_bounds,
	       struct sockeye_snapshot *snap)
{
	struct sockeye_db_snapshot *ds;
	int ncpu = libbpf_num_possible_cpus();
	int err;

	if (!fds || fds->dur < 0 || fds->cache < 0 || fds->conns < 0 || fds->stats < 0)
		return 0;
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	ds = calloc(1, sizeof(*ds));
	if (!ds)
		return -ENOMEM;
	snap->db = ds;
	if (n_bounds > SOCKEYE_MAX_BUCKETS)
		n_bounds = SOCKEYE_MAX_BUCKETS;
	memcpy(ds->bounds_ns, bounds_ns, n_bounds * sizeof(*bounds_ns));
	ds->n_bounds = n_bounds;
	err = read_ops(fds->dur, ncpu, ds);
	if (!err)
		err = read_cache(fds->cache, ncpu, ds);
	if (!err)
		err = read_conns(fds->conns, ncpu, ds);
	read_stats(fds->stats, ncpu, ds);
	return err;
}

/* Each series is a client of its server port, named as the HTTP client series are (the
 * identity pass asks sock_owner for the process). */
static void identify_db(struct sockeye_snapshot *snap, collect_visit_fn visit, void *arg)
{
	struct sockeye_db_snapshot *ds = snap->db;

#define VISIT(arr, n)                                                                              \
	for (size_t i = 0; ds && i < (n); i++) {                                                   \
		struct identity_query q = { .cgroup_id = (arr)[i].cgroup_id,                       \
					    .server_port = (arr)[i].server_port,                   \
					    .role = SOCKEYE_ROLE_CLIENT };                         \
		visit(arg, &q, &(arr)[i].identity);                                                \
	}
	if (!ds)
		return;
	VISIT(ds->ops, ds->n_ops)
	VISIT(ds->cache, ds->n_cache)
	VISIT(ds->conns, ds->n_conns)
#undef VISIT
}

#define CMP_FIELD(x, y, f)                                                                         \
	do {                                                                                       \
		if ((x)->f != (y)->f)                                                              \
			return (x)->f < (y)->f ? -1 : 1;                                           \
	} while (0)

static int op_cmp(const void *a, const void *b)
{
	const struct sockeye_db_op_series *x = a, *y = b;
	int c;

	CMP_FIELD(x, y, system);
	c = strcmp(x->op, y->op);
	if (c)
		return c;
	c = strcmp(x->status, y->status);
	if (c)
		return c;
	CMP_FIELD(x, y, error);
	CMP_FIELD(x, y, server_port);
	return merge_identity_cmp(x->identity, y->identity);
}

static int cache_cmp(const void *a, const void *b)
{
	const struct sockeye_db_cache_series *x = a, *y = b;
	int c;

	CMP_FIELD(x, y, system);
	c = strcmp(x->op, y->op);
	if (c)
		return c;
	CMP_FIELD(x, y, server_port);
	return merge_identity_cmp(x->identity, y->identity);
}

static int conn_cmp(const void *a, const void *b)
{
	const struct sockeye_db_conn_series *x = a, *y = b;

	CMP_FIELD(x, y, system);
	CMP_FIELD(x, y, server_port);
	return merge_identity_cmp(x->identity, y->identity);
}

static void op_add(void *acc, const void *v)
{
	struct sockeye_db_op_series *a = acc;
	const struct sockeye_db_op_series *s = v;

	a->count += s->count;
	a->sum_ns += s->sum_ns;
	merge_u64(a->buckets, s->buckets, SOCKEYE_SLOTS);
}

static void cache_add(void *acc, const void *v)
{
	struct sockeye_db_cache_series *a = acc;
	const struct sockeye_db_cache_series *s = v;

	a->hits += s->hits;
	a->misses += s->misses;
}

static void conn_add(void *acc, const void *v)
{
	struct sockeye_db_conn_series *a = acc;
	const struct sockeye_db_conn_series *s = v;

	a->open += s->open;
	a->used += s->used;
}

static void merge_db(struct sockeye_snapshot *snap)
{
	struct sockeye_db_snapshot *ds = snap->db;

	if (!ds)
		return;
	ds->n_ops = merge_series(ds->ops, ds->n_ops, sizeof(*ds->ops), op_cmp, op_add);
	ds->n_cache = merge_series(ds->cache, ds->n_cache, sizeof(*ds->cache), cache_cmp, cache_add);
	ds->n_conns = merge_series(ds->conns, ds->n_conns, sizeof(*ds->conns), conn_cmp, conn_add);
}

void collect_db_free(struct sockeye_db_snapshot *ds)
{
	if (!ds)
		return;
	free(ds->ops);
	free(ds->cache);
	free(ds->conns);
	free(ds);
}

static int collect_db_group(const struct collect_ctx *ctx, struct sockeye_snapshot *snap)
{
	return collect_db(&ctx->fds->db, ctx->cfg->db_bounds_ns, ctx->cfg->n_db_bounds, snap);
}

static void free_db(struct sockeye_snapshot *snap)
{
	collect_db_free(snap->db);
	snap->db = NULL;
}

const struct collect_group collect_group_db = {
	.what = SOCKEYE_MAP_DB_DUR "/" SOCKEYE_MAP_DB_CACHE "/" SOCKEYE_MAP_DB_CONNS,
	.collect = collect_db_group,
	.identify = identify_db,
	.merge = merge_db,
	.free = free_db,
};
