// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* collect_funcs.c - the function metrics family group: fn_counts / fn_hists / fn_hits /
 * fn_stats -> snap->funcs, keys turned into label values; its series are named by process
 * group and merged through collect_group.h's hooks. Reads only, never writes to the maps. */
#include <bpf/bpf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect_funcs.h"
#include "collect_group.h"
#include "funcs.h"
#include "funcs_snapshot.h"
#include "identity.h"
#include "merge.h"

/* Grows a family's series array by one; NULL when out of memory. */
static struct sockeye_func_series *series_add(struct sockeye_func_family *fam, size_t *cap)
{
	struct sockeye_func_series *s;

	if (fam->n_series == *cap) {
		size_t n = *cap ? *cap * 2 : 16;

		s = realloc(fam->series, n * sizeof(*s));
		if (!s)
			return NULL;
		fam->series = s;
		*cap = n;
	}
	s = &fam->series[fam->n_series++];
	memset(s, 0, sizeof(*s));
	return s;
}

/* A string label as the kernel read it: at most SOCKEYE_FUNC_STR_LEN - 1 bytes, so a longer
 * string was cut at a byte. A character cut in two is dropped; bytes that are not UTF-8
 * become '?' (label values must be UTF-8). */
void collect_funcs_string(const char *raw, char *out, size_t size)
{
	const unsigned char *u = (const unsigned char *)raw;
	size_t n = strnlen(raw, SOCKEYE_FUNC_STR_LEN);

	if (n == SOCKEYE_FUNC_STR_LEN - 1) {
		size_t k = n, cont = 0;

		while (k > 0 && cont < 3 && (u[k - 1] & 0xc0) == 0x80) {
			k--;
			cont++;
		}
		if (k > 0) {
			unsigned char lead = u[k - 1];
			size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;

			if (need > 1 && cont + 1 < need)
				n = k - 1;
		}
	}
	identity_copy_utf8(out, size, raw, n);
}

/* Label i of key as exported. */
static void label_value(const struct sockeye_func_cfg *c, const struct sockeye_func_key *key,
			size_t i, char *out)
{
	const struct sockeye_func_label_cfg *l = &c->labels[i];
	size_t slot = 0;

	if (key->other) {
		snprintf(out, SOCKEYE_FUNC_VALUE_LEN, "{other}");
		return;
	}
	if (l->kind == SOCKEYE_FUNC_KIND_STRING) {
		for (size_t k = 0; k < i; k++)
			slot += c->labels[k].kind == SOCKEYE_FUNC_KIND_STRING;
		if (key->unreadable & (1u << i) || slot >= SOCKEYE_FUNC_MAX_STR_LABELS)
			snprintf(out, SOCKEYE_FUNC_VALUE_LEN, "{unreadable}");
		else
			collect_funcs_string(key->strs[slot], out, SOCKEYE_FUNC_VALUE_LEN);
		return;
	}
	if (!l->n_values) {
		snprintf(out, SOCKEYE_FUNC_VALUE_LEN, "%" PRId64, (int64_t)key->ints[i]);
		return;
	}
	if (key->ints[i] >= 1 && (uint64_t)key->ints[i] <= l->n_values) {
		const char *name = l->value_names[key->ints[i] - 1];

		identity_copy_utf8(out, SOCKEYE_FUNC_VALUE_LEN, name, strlen(name));
		return;
	}
	snprintf(out, SOCKEYE_FUNC_VALUE_LEN, "other");
}

static void key_to_series(const struct sockeye_func_cfg *c, const struct sockeye_func_key *key,
			  struct sockeye_func_series *s)
{
	for (size_t i = 0; i < c->n_labels; i++)
		label_value(c, key, i, s->values[i]);
	s->cgroup_id = key->cgroup_id;
	memcpy(s->comm, key->comm, sizeof(s->comm));
	s->comm[sizeof(s->comm) - 1] = '\0';
}

/* Reads one series map (counts or histograms) into the families it feeds. */
static int read_series(int fd, int hist, struct sockeye_func_family *fams,
		       const struct funcs_decl_view *views, const int *fam_of, size_t *caps)
{
	struct sockeye_func_key key, next;
	struct sockeye_func_count n;
	struct sockeye_func_hist h;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct sockeye_func_series *s;
		int f;

		key = next;
		prev = &key;
		f = key.decl < SOCKEYE_FUNC_MAX_DECLS ? fam_of[key.decl] : -1;
		if (f < 0 || (fams[f].type == SOCKEYE_FUNC_HISTOGRAM) != hist)
			continue; /* a declaration being replaced */
		if (bpf_map_lookup_elem(fd, &key, hist ? (void *)&h : (void *)&n))
			continue;
		s = series_add(&fams[f], &caps[f]);
		if (!s)
			return -ENOMEM;
		key_to_series(views[f].cfg, &key, s);
		if (!hist) {
			s->count = n.count;
			s->tgid = n.tgid;
			continue;
		}
		/* As for HTTP: _count is the bucket total, so it equals the +Inf bucket even when
		 * a program is between its adds. */
		s->sum_ns = h.sum_ns;
		s->tgid = h.tgid;
		for (size_t k = 0; k < SOCKEYE_SLOTS; k++) {
			s->buckets[k] = h.buckets[k];
			s->count += h.buckets[k];
		}
	}
	return 0;
}

static uint64_t array_value(int fd, __u32 key)
{
	__u64 v = 0;

	return bpf_map_lookup_elem(fd, &key, &v) ? 0 : v;
}

static int family_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sockeye_func_family *)a)->metric,
		      ((const struct sockeye_func_family *)b)->metric);
}

static int collect_funcs(const struct collect_ctx *ctx, struct sockeye_snapshot *snap)
{
	const struct funcs *f = ctx->fds->funcs;
	struct sockeye_func_snapshot *fs;
	struct funcs_decl_view *views = NULL;
	int fam_of[SOCKEYE_FUNC_MAX_DECLS];
	size_t n, *caps = NULL;
	int err = -ENOMEM;

	if (!f)
		return 0;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	snap->funcs = fs;
	n = funcs_decls(f, NULL, 0);
	views = calloc(n ? n : 1, sizeof(*views));
	fs->families = calloc(n ? n : 1, sizeof(*fs->families));
	caps = calloc(n ? n : 1, sizeof(*caps));
	if (!views || !fs->families || !caps)
		goto out;
	funcs_decls(f, views, n);
	for (size_t i = 0; i < SOCKEYE_FUNC_MAX_DECLS; i++)
		fam_of[i] = -1;
	for (size_t i = 0; i < n; i++) {
		const struct sockeye_func_cfg *c = views[i].cfg;
		struct sockeye_func_family *fam = &fs->families[i];

		fam_of[views[i].idx] = (int)i;
		fam->metric = c->metric;
		fam->help = views[i].help;
		fam->binary = c->binary;
		fam->type = c->type;
		fam->usdt = c->usdt_name != NULL;
		fam->n_labels = c->n_labels;
		for (size_t k = 0; k < c->n_labels; k++)
			fam->label_names[k] = c->labels[k].name;
		fam->n_bounds = c->n_bounds;
		memcpy(fam->bounds_ns, c->bounds_ns, c->n_bounds * sizeof(c->bounds_ns[0]));
		fam->probes_attached = views[i].probes_attached;
		fam->probes_failed = views[i].probes_failed;
		fam->hit_kinds = views[i].hit_kinds;
		for (__u32 k = 0; k < SOCKEYE_FUNC_HIT_MAX; k++)
			fam->hits[k] = array_value(funcs_map_fd(f, FUNCS_MAP_HITS),
						   views[i].idx * SOCKEYE_FUNC_HIT_MAX + k);
	}
	fs->n_families = n;
	err = read_series(funcs_map_fd(f, FUNCS_MAP_COUNTS), 0, fs->families, views, fam_of, caps);
	if (!err)
		err = read_series(funcs_map_fd(f, FUNCS_MAP_HISTS), 1, fs->families, views, fam_of,
				  caps);
	for (__u32 k = 0; k < SOCKEYE_FUNC_STAT_MAX; k++)
		fs->stats[k] = array_value(funcs_map_fd(f, FUNCS_MAP_STATS), k);
	qsort(fs->families, fs->n_families, sizeof(*fs->families), family_cmp);
out:
	free(views);
	free(caps);
	return err;
}

/* A 32-bit name for a comm, never 0 (the HTTP series groups' value). */
static uint32_t comm_group(const char *comm)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < 16 && comm[i]; i++)
		h = (h ^ (unsigned char)comm[i]) * 16777619u;
	return h ? h : 1;
}

/* Each series' process group: its cgroup and comm, with the last process seen counting. */
static void identify_funcs(struct sockeye_snapshot *snap, collect_visit_fn visit, void *arg)
{
	struct sockeye_func_snapshot *fs = snap->funcs;

	for (size_t i = 0; fs && i < fs->n_families; i++) {
		for (size_t j = 0; j < fs->families[i].n_series; j++) {
			struct sockeye_func_series *s = &fs->families[i].series[j];
			struct sockeye_owner owner = {.tgid = s->tgid};
			struct identity_query q = {
				.cgroup_id = s->cgroup_id,
				.role = IDENTITY_ROLE_PROCESS,
				.group = comm_group(s->comm),
				.owner = &owner,
			};

			memcpy(owner.comm, s->comm, sizeof(owner.comm));
			visit(arg, &q, &s->identity);
		}
	}
}

static int series_cmp(const void *a, const void *b)
{
	const struct sockeye_func_series *x = a, *y = b;
	int c;

	for (size_t i = 0; i < SOCKEYE_FUNC_MAX_LABELS; i++) {
		c = strcmp(x->values[i], y->values[i]);
		if (c)
			return c;
	}
	return merge_identity_cmp(x->identity, y->identity);
}

static void func_series_add(void *acc, const void *v)
{
	struct sockeye_func_series *a = acc;
	const struct sockeye_func_series *s = v;

	a->count += s->count;
	a->sum_ns += s->sum_ns;
	merge_u64(a->buckets, s->buckets, SOCKEYE_SLOTS);
}

static void merge_funcs(struct sockeye_snapshot *snap)
{
	struct sockeye_func_snapshot *fs = snap->funcs;

	for (size_t i = 0; fs && i < fs->n_families; i++) {
		struct sockeye_func_family *fam = &fs->families[i];

		fam->n_series = merge_series(fam->series, fam->n_series, sizeof(*fam->series),
					     series_cmp, func_series_add);
	}
}

static void free_funcs(struct sockeye_snapshot *snap)
{
	struct sockeye_func_snapshot *fs = snap->funcs;

	if (!fs)
		return;
	for (size_t i = 0; i < fs->n_families; i++)
		free(fs->families[i].series);
	free(fs->families);
	free(fs);
}

const struct collect_group collect_group_funcs = {
	.what = SOCKEYE_MAP_FN_COUNTS "/" SOCKEYE_MAP_FN_HISTS,
	.collect = collect_funcs,
	.identify = identify_funcs,
	.merge = merge_funcs,
	.free = free_funcs,
};
