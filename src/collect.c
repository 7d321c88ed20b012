// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* collect.c - read BPF maps into a sockeye_snapshot; never writes to them. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "collect_db.h"
#include "collect_funcs.h"
#include "identity.h"
#include "log.h"
#include "tls.h"

#ifndef SOCKEYE_VERSION
#define SOCKEYE_VERSION "unknown"
#endif
#ifndef SOCKEYE_REVISION
#define SOCKEYE_REVISION "unknown"
#endif

/* NULL is the identity without labels. */
static int identity_cmp(const struct sockeye_identity *a, const struct sockeye_identity *b)
{
	static const struct sockeye_identity none;
	int c;

	if (a == b)
		return 0;
	a = a ? a : &none;
	b = b ? b : &none;
	for (int i = 0; i < SOCKEYE_ID_MAX; i++) {
		c = strcmp(a->v[i], b->v[i]);
		if (c)
			return c;
	}
	return 0;
}

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
	return identity_cmp(x->identity, y->identity);
}

static void size_hist_add(struct sockeye_size_hist *acc, const struct sockeye_size_hist *h)
{
	acc->count += h->count;
	acc->sum += h->sum;
	for (size_t k = 0; k < SOCKEYE_SIZE_SLOTS; k++)
		acc->buckets[k] += h->buckets[k];
}

/* As for durations, _count is the bucket total, so it always equals the +Inf bucket. */
static void size_hist_recount(struct sockeye_size_hist *h)
{
	h->count = 0;
	for (size_t k = 0; k < SOCKEYE_SIZE_SLOTS; k++)
		h->count += h->buckets[k];
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
			size_hist_add(&s[out].req_size, &s[i].req_size);
			size_hist_add(&s[out].resp_size, &s[i].resp_size);
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

/* The series being collected and the per-CPU buffers to read values into. */
struct http_acc {
	struct sockeye_http_series *series;
	size_t n, cap;
	struct sockeye_http_val *vals;	 /* ncpu */
	struct sockeye_size_val *sizes; /* ncpu */
	int ncpu;
};

/* Adds the sizes under key in the map fd (if it holds the key; ncpu values, or one for the
 * spill map) to s. */
static void add_sizes(struct http_acc *a, int fd, int ncpu, const struct sockeye_http_key *key,
		      struct sockeye_http_series *s)
{
	if (bpf_map_lookup_elem(fd, key, a->sizes))
		return;
	for (int c = 0; c < ncpu; c++) {
		size_hist_add(&s->req_size, &a->sizes[c].req);
		size_hist_add(&s->resp_size, &a->sizes[c].resp);
	}
}

/* One series for key from the durations map dur_fd (ncpu values per key: 1 for the spill
 * map); with_sizes: also its body sizes, from http_sizes and its spill map (each request's
 * sizes are in one of them). */
static int append_series(const struct loader_fds *fds, struct http_acc *a, int dur_fd, int ncpu,
			 const struct sockeye_http_key *key, bool with_sizes)
{
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
	for (int c = 0; c < ncpu; c++) {
		s->sum_ns += a->vals[c].sum_ns;
		for (size_t k = 0; k < SOCKEYE_SLOTS; k++)
			s->buckets[k] += a->vals[c].buckets[k];
	}
	/* _count is the sum of the buckets, not the count field: a CPU may be between its
	 * two increments while we read, and _count must equal the +Inf bucket. */
	for (size_t k = 0; k < SOCKEYE_SLOTS; k++)
		s->count += s->buckets[k];
	/* Body sizes are recorded when the response ends, under the same key. */
	if (with_sizes) {
		add_sizes(a, fds->http_sizes, a->ncpu, key, s);
		add_sizes(a, fds->http_size_spill, 1, key, s);
		size_hist_recount(&s->req_size);
		size_hist_recount(&s->resp_size);
	}
	return 0;
}

/* Every key of http_dur, then those of its spill map (a key may be in both: the series with
 * the same labels are summed when rendered; its sizes go with the first). */
static int collect_http(const struct loader_fds *fds, struct sockeye_snapshot *snap, int ncpu)
{
	struct http_acc a = { .ncpu = ncpu };
	struct sockeye_http_key key, next;
	void *prev = NULL;
	int err = 0;

	a.vals = calloc(ncpu, sizeof(*a.vals));
	a.sizes = calloc(ncpu, sizeof(*a.sizes));
	if (!a.vals || !a.sizes) {
		err = -ENOMEM;
		goto out;
	}
	while (!err && bpf_map_get_next_key(fds->http_dur, prev, &next) == 0) {
		key = next;
		prev = &key;
		err = append_series(fds, &a, fds->http_dur, ncpu, &key, true);
	}
	prev = NULL;
	while (!err && bpf_map_get_next_key(fds->http_dur_spill, prev, &next) == 0) {
		key = next;
		prev = &key;
		err = append_series(fds, &a, fds->http_dur_spill, 1, &key,
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

static void conn_val_add(struct sockeye_conn_val *acc, const struct sockeye_conn_val *v)
{
	acc->opened += v->opened;
	acc->closed += v->closed;
	acc->bytes_sent += v->bytes_sent;
	acc->bytes_received += v->bytes_received;
	acc->retrans += v->retrans;
	acc->rtt_count += v->rtt_count;
	acc->rtt_sum_us += v->rtt_sum_us;
	for (size_t k = 0; k < SOCKEYE_RTT_SLOTS; k++)
		acc->rtt_buckets[k] += v->rtt_buckets[k];
	for (size_t k = 0; k < SOCKEYE_METHOD_MAX; k++) {
		acc->req_started[k] += v->req_started[k];
		acc->req_ended[k] += v->req_ended[k];
	}
}

/* Sorts and sums groups with the same labels; returns the new count. */
static size_t conn_merge(struct sockeye_conn_series *s, size_t n)
{
	size_t m = 0;

	if (n == 0)
		return 0;
	qsort(s, n, sizeof(*s), conn_cmp);
	for (size_t i = 1; i < n; i++) {
		if (conn_cmp(&s[m], &s[i]) == 0)
			conn_val_add(&s[m].v, &s[i].v);
		else
			s[++m] = s[i];
	}
	return m + 1;
}

/* conn_slots names each group's index in the per-CPU array conn_stats. */
static int collect_conns(const struct loader_fds *fds, struct sockeye_snapshot *snap, int ncpu)
{
	struct sockeye_conn_key key, next;
	struct sockeye_conn_val *vals = calloc(ncpu, sizeof(*vals));
	struct sockeye_conn_series *out = NULL, *grown;
	size_t n = 0, cap = 0;
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
		for (int c = 0; c < ncpu; c++)
			conn_val_add(&s->v, &vals[c]);
	}
	snap->conns = out;
	snap->n_conns = n;
	out = NULL;
fail:
	free(out);
	free(vals);
	return err;
}

static int query_cmp(const void *a, const void *b)
{
	const struct identity_query *x = a, *y = b;

	if (x->cgroup_id != y->cgroup_id)
		return x->cgroup_id < y->cgroup_id ? -1 : 1;
	if (x->role != y->role)
		return x->role < y->role ? -1 : 1;
	if (x->server_port != y->server_port)
		return x->server_port < y->server_port ? -1 : 1;
	return 0;
}

static int identity_ptr_cmp(const void *a, const void *b)
{
	return identity_cmp(*(const struct sockeye_identity *const *)a,
			    *(const struct sockeye_identity *const *)b);
}

/* The snapshot's identity equal to id (identities are sorted and unique); NULL for none. */
static const struct sockeye_identity *find_identity(const struct sockeye_snapshot *snap,
						    const struct sockeye_identity *id)
{
	size_t lo = 0, hi = snap->n_identities;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = identity_cmp(&snap->identities[mid], id);

		if (c == 0)
			return &snap->identities[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The labels of each series group (cgroup, role, port), named once per scrape by identity.c
 * from the group's sock_owner entry; equal labels become one shared identity of the
 * snapshot, so series can be merged by pointer. */
static int collect_identities(const struct loader_fds *fds, struct identity_cache *ids,
			      struct sockeye_snapshot *snap)
{
	size_t n = snap->n_http + snap->n_conns, n_keys = 0, n_ids = 0;
	struct identity_query *q = calloc(n ? n : 1, sizeof(*q));
	struct sockeye_owner *owners = NULL;
	struct sockeye_identity *labels = NULL, **sorted = NULL;
	const struct sockeye_identity **of_key = NULL;
	int err = -ENOMEM;

	if (!q)
		return -ENOMEM;
	for (size_t i = 0; i < snap->n_http; i++)
		q[n_keys++] = (struct identity_query){ .cgroup_id = snap->http[i].cgroup_id,
						       .server_port = snap->http[i].server_port,
						       .role = snap->http[i].role };
	for (size_t i = 0; i < snap->n_conns; i++)
		q[n_keys++] = (struct identity_query){ .cgroup_id = snap->conns[i].cgroup_id,
						       .server_port = snap->conns[i].server_port,
						       .role = snap->conns[i].side };
	if (n_keys) {
		size_t m = 0;

		qsort(q, n_keys, sizeof(*q), query_cmp);
		for (size_t i = 1; i < n_keys; i++)
			if (query_cmp(&q[m], &q[i]) != 0)
				q[++m] = q[i];
		n_keys = m + 1;
	}
	owners = calloc(n_keys ? n_keys : 1, sizeof(*owners));
	labels = calloc(n_keys ? n_keys : 1, sizeof(*labels));
	sorted = calloc(n_keys ? n_keys : 1, sizeof(*sorted));
	of_key = calloc(n_keys ? n_keys : 1, sizeof(*of_key));
	if (!owners || !labels || !sorted || !of_key)
		goto out;

	identity_begin(ids);
	for (size_t i = 0; i < n_keys; i++) {
		struct sockeye_owner_key ok = { .cgroup_id = q[i].cgroup_id,
						.server_port = q[i].server_port,
						.role = q[i].role };

		if (bpf_map_lookup_elem(fds->sock_owner, &ok, &owners[i]) == 0)
			q[i].owner = &owners[i];
		identity_resolve(ids, &q[i], &labels[i]);
		sorted[i] = &labels[i];
	}
	collect_funcs_identities(ids, snap);
	collect_db_identities(ids, fds->sock_owner, snap);
	identity_end(ids);

	/* One shared copy of each distinct identity, sorted; the label-less one is NULL. */
	qsort(sorted, n_keys, sizeof(*sorted), identity_ptr_cmp);
	snap->identities = calloc(n_keys ? n_keys : 1, sizeof(*snap->identities));
	if (!snap->identities)
		goto out;
	for (size_t i = 0; i < n_keys; i++) {
		if (identity_cmp(sorted[i], NULL) == 0 ||
		    (n_ids && identity_cmp(sorted[i], &snap->identities[n_ids - 1]) == 0))
			continue;
		snap->identities[n_ids++] = *sorted[i];
	}
	snap->n_identities = n_ids;
	for (size_t i = 0; i < n_keys; i++)
		of_key[i] = find_identity(snap, &labels[i]);
	for (size_t i = 0; i < snap->n_http; i++) {
		struct identity_query k = { .cgroup_id = snap->http[i].cgroup_id,
					    .server_port = snap->http[i].server_port,
					    .role = snap->http[i].role };
		struct identity_query *hit = bsearch(&k, q, n_keys, sizeof(*q), query_cmp);

		snap->http[i].identity = hit ? of_key[hit - q] : NULL;
	}
	for (size_t i = 0; i < snap->n_conns; i++) {
		struct identity_query k = { .cgroup_id = snap->conns[i].cgroup_id,
					    .server_port = snap->conns[i].server_port,
					    .role = snap->conns[i].side };
		struct identity_query *hit = bsearch(&k, q, n_keys, sizeof(*q), query_cmp);

		snap->conns[i].identity = hit ? of_key[hit - q] : NULL;
	}

	/* The services' own processes, in identity order. */
	snap->services = calloc(n_ids ? n_ids : 1, sizeof(*snap->services));
	if (!snap->services)
		goto out;
	for (size_t i = 0; i < n_ids; i++) {
		struct sockeye_service_process *sp = &snap->services[snap->n_services];

		if (identity_usage(ids, &snap->identities[i], &sp->cpu_seconds,
				   &sp->resident_bytes) == 0) {
			sp->identity = &snap->identities[i];
			snap->n_services++;
		}
	}
	identity_stats(ids, snap->id_cache_entries, snap->id_cache_evictions);
	snap->id_cache_valid = 1;
	err = 0;
out:
	free(q);
	free(owners);
	free(labels);
	free(sorted);
	free(of_key);
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
	char key[256], next[256]; /* fn_counts keys are 192 bytes */
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

/* n counters of a per-CPU array from index first, summed over CPUs into out (vals: ncpu
 * scratch values). */
static void sum_counters(int fd, uint64_t *out, __u32 first, __u32 n, __u64 *vals, int ncpu)
{
	for (__u32 i = 0; i < n; i++) {
		__u32 key = first + i;

		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
}

/* The TLS probes: attached libraries and their counters (tls_valid stays 0 without TLS). */
static void collect_tls(const struct loader_fds *fds, struct sockeye_snapshot *snap, int ncpu)
{
	__u64 *vals;

	if (!fds->tls)
		return;
	snap->tls_valid = 1;
	snap->tls_libs = tls_libraries(fds->tls, &snap->n_tls_libs);
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return;
	sum_counters(fds->tls_stats, snap->tls_stats, 0, SOCKEYE_TLS_STAT_MAX, vals, ncpu);
	for (size_t l = 0; l < snap->n_tls_libs; l++) {
		struct sockeye_tls_library *lib = &snap->tls_libs[l];

		sum_counters(tls_hits_fd(fds->tls), lib->hits, lib->slot * SOCKEYE_TLS_PROBE_MAX,
			     SOCKEYE_TLS_PROBE_MAX, vals, ncpu);
		sum_counters(tls_attr_fd(fds->tls), lib->attr, lib->slot * SOCKEYE_TLS_ATTR_MAX,
			     SOCKEYE_TLS_ATTR_MAX, vals, ncpu);
	}
	free(vals);
}

static void collect_objects(const struct loader_fds *fds, struct sockeye_snapshot *snap)
{
	snap->features = fds->features;
	snap->n_features = fds->n_features;
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

		snprintf(p->name, sizeof(p->name), "%s",
			 fds->prog_names[i] ? fds->prog_names[i] : (const char *)info.name);
		p->run_cnt = info.run_cnt;
		p->run_time_ns = info.run_time_ns;
		p->verified_insns = info.verified_insns;
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
		     struct identity_cache *ids, struct sockeye_snapshot *snap)
{
	int ncpu = libbpf_num_possible_cpus();
	int err;

	memset(snap, 0, sizeof(*snap));
	snap->scrape_duration_seconds = -1;
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	memcpy(snap->bounds_ns, cfg->bounds_ns, cfg->n_bounds * sizeof(cfg->bounds_ns[0]));
	snap->n_bounds = cfg->n_bounds;
	memcpy(snap->size_bounds, cfg->size_bounds, cfg->n_size_bounds * sizeof(__u64));
	snap->n_size_bounds = cfg->n_size_bounds;
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
	err = collect_funcs(fds->funcs, snap);
	if (err) {
		pr_warn("reading %s/%s: %s", SOCKEYE_MAP_FN_COUNTS, SOCKEYE_MAP_FN_HISTS,
			strerror(-err));
		return err;
	}
	err = collect_db(&fds->db, cfg->db_bounds_ns, cfg->n_db_bounds, snap);
	if (err) {
		pr_warn("reading %s/%s/%s: %s", SOCKEYE_MAP_DB_DUR, SOCKEYE_MAP_DB_CACHE,
			SOCKEYE_MAP_DB_CONNS, strerror(-err));
		return err;
	}
	if (ids) {
		err = collect_identities(fds, ids, snap);
		if (err)
			pr_warn("resolving identity labels: %s", strerror(-err));
	}
	snap->n_http = collect_merge(snap->http, snap->n_http, SOCKEYE_SLOTS);
	snap->n_conns = conn_merge(snap->conns, snap->n_conns);
	collect_funcs_merge(snap);
	collect_db_merge(snap);
	memcpy(snap->rtt_bounds_us, fds->rtt_bounds_us, fds->n_rtt_bounds * sizeof(__u64));
	snap->n_rtt_bounds = fds->n_rtt_bounds;
	collect_stats(fds, snap, ncpu);
	collect_objects(fds, snap);
	collect_tls(fds, snap, ncpu);
	return 0;
}

void collect_free(struct sockeye_snapshot *snap)
{
	free(snap->http);
	free(snap->conns);
	free(snap->identities);
	free(snap->services);
	free(snap->progs);
	free(snap->maps);
	free(snap->tls_libs);
	collect_funcs_free(snap->funcs);
	collect_db_free(snap->db);
	memset(snap, 0, sizeof(*snap));
}
