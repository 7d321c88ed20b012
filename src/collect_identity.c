// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* collect_identity.c - the identity pass of a scrape: every group's series named once through
 * identity.c, equal labels made one shared identity of the snapshot (so series can be merged
 * by pointer), the services' processes measured. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect_group.h"
#include "merge.h"

/* A series to name. */
struct pending {
	struct identity_query q; /* q.owner is set when it is named */
	struct sockeye_owner owner;
	int own_owner; /* the group gave the owner; else sock_owner is asked */
	int services;
	const struct sockeye_identity **slot;
	size_t label; /* its index in labels[] */
};

struct pass {
	struct pending *p;
	size_t n, cap;
	int services; /* of the group being visited */
	int err;
};

static void visit(void *arg, const struct identity_query *q, const struct sockeye_identity **slot)
{
	struct pass *ps = arg;
	struct pending *it;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 256;
		struct pending *grown = realloc(ps->p, cap * sizeof(*grown));

		if (!grown) {
			ps->err = -ENOMEM;
			return;
		}
		ps->p = grown;
		ps->cap = cap;
	}
	it = &ps->p[ps->n++];
	memset(it, 0, sizeof(*it));
	it->q = *q;
	it->q.owner = NULL;
	if (q->owner) {
		it->owner = *q->owner;
		it->own_owner = 1;
	}
	it->slot = slot;
	it->services = ps->services;
}

/* Same series group: cgroup, role, port (the key of sock_owner). */
static int query_cmp(const struct identity_query *x, const struct identity_query *y)
{
	if (x->cgroup_id != y->cgroup_id)
		return x->cgroup_id < y->cgroup_id ? -1 : 1;
	if (x->role != y->role)
		return x->role < y->role ? -1 : 1;
	if (x->server_port != y->server_port)
		return x->server_port < y->server_port ? -1 : 1;
	return 0;
}

static int pending_ptr_cmp(const void *a, const void *b)
{
	return query_cmp(&(*(struct pending *const *)a)->q, &(*(struct pending *const *)b)->q);
}

static int identity_ptr_cmp(const void *a, const void *b)
{
	return merge_identity_cmp(*(const struct sockeye_identity *const *)a,
				  *(const struct sockeye_identity *const *)b);
}

/* The snapshot's identity equal to id (identities are sorted and unique); NULL for none. */
static struct sockeye_identity *find_identity(const struct sockeye_snapshot *snap,
					      const struct sockeye_identity *id)
{
	size_t lo = 0, hi = snap->n_identities;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = merge_identity_cmp(&snap->identities[mid], id);

		if (c == 0)
			return &snap->identities[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Names the pending series into labels[]: first those without an owner, once per series
 * group, with the owner sock_owner holds for it; then those that came with their own, one by
 * one (their owners differ). Returns the number of labels. */
static size_t resolve(const struct collect_ctx *ctx, struct identity_cache *ids,
		      struct pass *ps, struct pending **by_key, struct sockeye_identity *labels)
{
	size_t n_by_key = 0, n_labels = 0;

	for (size_t i = 0; i < ps->n; i++)
		if (!ps->p[i].own_owner)
			by_key[n_by_key++] = &ps->p[i];
	qsort(by_key, n_by_key, sizeof(*by_key), pending_ptr_cmp);
	for (size_t i = 0; i < n_by_key; i++) {
		struct pending *it = by_key[i];
		struct sockeye_owner_key ok = { .cgroup_id = it->q.cgroup_id,
						.server_port = it->q.server_port,
						.role = it->q.role };

		if (i && query_cmp(&by_key[i - 1]->q, &it->q) == 0) {
			it->label = by_key[i - 1]->label;
			continue;
		}
		if (bpf_map_lookup_elem(ctx->fds->sock_owner, &ok, &it->owner) == 0)
			it->q.owner = &it->owner;
		it->label = n_labels++;
		identity_resolve(ids, &it->q, &labels[it->label]);
	}
	for (size_t i = 0; i < ps->n; i++) {
		struct pending *it = &ps->p[i];

		if (!it->own_owner)
			continue;
		it->q.owner = &it->owner;
		it->label = n_labels++;
		identity_resolve(ids, &it->q, &labels[it->label]);
	}
	return n_labels;
}

/* One shared copy of each distinct identity, sorted; the label-less one is NULL. */
static int share(struct sockeye_snapshot *snap, const struct sockeye_identity *labels,
		 size_t n_labels)
{
	const struct sockeye_identity **sorted = calloc(n_labels ? n_labels : 1, sizeof(*sorted));
	size_t n_ids = 0;

	snap->identities = calloc(n_labels ? n_labels : 1, sizeof(*snap->identities));
	if (!sorted || !snap->identities) {
		free(sorted);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_labels; i++)
		sorted[i] = &labels[i];
	qsort(sorted, n_labels, sizeof(*sorted), identity_ptr_cmp);
	for (size_t i = 0; i < n_labels; i++) {
		if (merge_identity_cmp(sorted[i], NULL) == 0 ||
		    (n_ids && merge_identity_cmp(sorted[i], &snap->identities[n_ids - 1]) == 0))
			continue;
		snap->identities[n_ids++] = *sorted[i];
	}
	snap->n_identities = n_ids;
	free(sorted);
	return 0;
}

/* The processes of the identities that name services, in identity order. */
static int measure_services(struct identity_cache *ids, struct sockeye_snapshot *snap,
			    const unsigned char *is_service)
{
	snap->services = calloc(snap->n_identities ? snap->n_identities : 1,
				sizeof(*snap->services));
	if (!snap->services)
		return -ENOMEM;
	for (size_t i = 0; i < snap->n_identities; i++) {
		struct sockeye_service_process *sp = &snap->services[snap->n_services];

		if (is_service[i] && identity_usage(ids, &snap->identities[i], &sp->cpu_seconds,
						    &sp->resident_bytes) == 0) {
			sp->identity = &snap->identities[i];
			snap->n_services++;
		}
	}
	return 0;
}

int collect_identities(const struct collect_ctx *ctx, const struct collect_group *const *groups,
		       size_t n_groups, struct identity_cache *ids, struct sockeye_snapshot *snap)
{
	struct pass ps = { 0 };
	struct pending **by_key = NULL;
	struct sockeye_identity *labels = NULL;
	unsigned char *is_service = NULL;
	size_t n_labels;
	int err = -ENOMEM;

	for (size_t g = 0; g < n_groups; g++) {
		if (!groups[g]->identify)
			continue;
		ps.services = groups[g]->services;
		groups[g]->identify(snap, visit, &ps);
	}
	if (ps.err)
		goto out;
	by_key = calloc(ps.n ? ps.n : 1, sizeof(*by_key));
	labels = calloc(ps.n ? ps.n : 1, sizeof(*labels));
	if (!by_key || !labels)
		goto out;

	identity_begin(ids);
	n_labels = resolve(ctx, ids, &ps, by_key, labels);
	identity_end(ids);

	err = share(snap, labels, n_labels);
	if (err)
		goto out;
	is_service = calloc(snap->n_identities ? snap->n_identities : 1, 1);
	if (!is_service) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ps.n; i++) {
		struct sockeye_identity *id = find_identity(snap, &labels[ps.p[i].label]);

		*ps.p[i].slot = id;
		if (id && ps.p[i].services)
			is_service[id - snap->identities] = 1;
	}
	err = measure_services(ids, snap, is_service);
	if (err)
		goto out;
	identity_stats(ids, snap->id_cache_entries, snap->id_cache_evictions);
	snap->id_cache_valid = 1;
out:
	free(ps.p);
	free(by_key);
	free(labels);
	free(is_service);
	return err;
}
