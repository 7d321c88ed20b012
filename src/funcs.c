// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* funcs.c - function metrics: loads the generic programs of bpf/funcs.bpf.c once, and for
 * each functions: declaration writes an fn_decls entry and attaches probes whose bpf_cookie is
 * that entry's index. Attached by file path with pid -1, a probe covers every process that
 * maps the file, those started later included. A reload keeps unchanged declarations (their
 * probes and counts), drops removed ones with their series, attaches new ones. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "funcs.h"
#include "funcs.skel.h"
#include "funcs_elf.h"
#include "log.h"
#include "progload.h"

#define HELP_LEN 512

/* One declaration in place at fn_decls[idx]. */
struct fn_decl {
	bool used;
	struct sockeye_func_cfg cfg; /* a deep copy: every string is ours */
	struct funcs_target tgt;
	char *help;		   /* cfg.help or the default */
	struct bpf_link *links[2]; /* entry and return, or the USDT probe */
	size_t n_links;
	uint32_t attached, failed; /* probe points */
	uint8_t hit_kinds;	   /* bit enum sockeye_func_hit */
	bool entry, ret;	   /* symbol: which probes it needs */
};

struct funcs {
	struct funcs_bpf *skel;
	struct fn_decl d[SOCKEYE_FUNC_MAX_DECLS];
};

/* ---- declarations: copies, comparison ---------------------------------------------------- */

static void cfg_free(struct sockeye_func_cfg *c)
{
	free((void *)c->metric);
	free((void *)c->help);
	free((void *)c->binary);
	free((void *)c->symbol);
	free((void *)c->usdt_provider);
	free((void *)c->usdt_name);
	for (size_t i = 0; i < c->n_labels; i++) {
		free((void *)c->labels[i].name);
		for (size_t k = 0; k < c->labels[i].n_values; k++)
			free((void *)c->labels[i].value_names[k]);
	}
	memset(c, 0, sizeof(*c));
}

static bool dup_str(const char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst;
}

static int cfg_copy(struct sockeye_func_cfg *dst, const struct sockeye_func_cfg *src)
{
	bool ok = true;

	*dst = *src;
	ok &= dup_str(&dst->metric, src->metric);
	ok &= dup_str(&dst->help, src->help);
	ok &= dup_str(&dst->binary, src->binary);
	ok &= dup_str(&dst->symbol, src->symbol);
	ok &= dup_str(&dst->usdt_provider, src->usdt_provider);
	ok &= dup_str(&dst->usdt_name, src->usdt_name);
	for (size_t i = 0; i < src->n_labels; i++) {
		ok &= dup_str(&dst->labels[i].name, src->labels[i].name);
		for (size_t k = 0; k < src->labels[i].n_values; k++)
			ok &= dup_str(&dst->labels[i].value_names[k],
				      src->labels[i].value_names[k]);
	}
	if (!ok) {
		cfg_free(dst);
		return -ENOMEM;
	}
	return 0;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Equal declarations export the same series: positions in the file do not matter. */
static bool cfg_equal(const struct sockeye_func_cfg *a, const struct sockeye_func_cfg *b)
{
	if (a->type != b->type || !str_eq(a->metric, b->metric) || !str_eq(a->help, b->help) ||
	    !str_eq(a->binary, b->binary) || !str_eq(a->symbol, b->symbol) ||
	    !str_eq(a->usdt_provider, b->usdt_provider) || !str_eq(a->usdt_name, b->usdt_name) ||
	    a->value_src != b->value_src || a->n_bounds != b->n_bounds ||
	    memcmp(a->bounds_ns, b->bounds_ns, a->n_bounds * sizeof(a->bounds_ns[0])) != 0 ||
	    a->max_series != b->max_series || a->n_labels != b->n_labels)
		return false;
	for (size_t i = 0; i < a->n_labels; i++) {
		const struct sockeye_func_label_cfg *x = &a->labels[i], *y = &b->labels[i];

		if (!str_eq(x->name, y->name) || x->src != y->src || x->kind != y->kind ||
		    x->n_values != y->n_values)
			return false;
		for (size_t k = 0; k < x->n_values; k++)
			if (x->values[k] != y->values[k] ||
			    !str_eq(x->value_names[k], y->value_names[k]))
				return false;
	}
	return true;
}

static bool target_equal(const struct funcs_target *a, const struct funcs_target *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->offset == b->offset &&
	       a->usdt_sites == b->usdt_sites;
}

static char *default_help(const struct sockeye_func_cfg *c)
{
	char *s = malloc(HELP_LEN);

	if (!s)
		return NULL;
	if (c->usdt_name && c->type == SOCKEYE_FUNC_HISTOGRAM)
		snprintf(s, HELP_LEN,
			 "Argument %d of USDT probe %s:%s in %s (nanoseconds), in seconds.",
			 c->value_src - SOCKEYE_FUNC_SRC_ARG1 + 1, c->usdt_provider, c->usdt_name,
			 c->binary);
	else if (c->usdt_name)
		snprintf(s, HELP_LEN, "Hits of USDT probe %s:%s in %s.", c->usdt_provider,
			 c->usdt_name, c->binary);
	else if (c->type == SOCKEYE_FUNC_HISTOGRAM)
		snprintf(s, HELP_LEN, "Duration of calls of %s in %s, entry to return, in seconds.",
			 c->symbol, c->binary);
	else
		snprintf(s, HELP_LEN, "Calls of %s in %s.", c->symbol, c->binary);
	return s;
}

/* ---- the kernel's view ------------------------------------------------------------------- */

static void kernel_decl(const struct fn_decl *d, struct sockeye_func_decl *kd)
{
	const struct sockeye_func_cfg *c = &d->cfg;
	__u8 str_slot = 0;

	memset(kd, 0, sizeof(*kd));
	kd->type = c->type;
	kd->probe = c->usdt_name ? SOCKEYE_FUNC_PROBE_USDT : SOCKEYE_FUNC_PROBE_SYMBOL;
	kd->entry_state = d->entry && d->ret;
	kd->value_src = c->value_src;
	kd->n_labels = (__u8)c->n_labels;
	kd->n_bounds = (__u8)c->n_bounds;
	kd->max_series = c->max_series;
	memcpy(kd->bounds_ns, c->bounds_ns, c->n_bounds * sizeof(c->bounds_ns[0]));
	for (size_t i = 0; i < c->n_labels; i++) {
		const struct sockeye_func_label_cfg *l = &c->labels[i];
		struct sockeye_func_label *kl = &kd->labels[i];

		kl->src = l->src;
		kl->kind = l->kind;
		kl->n_values = (__u8)l->n_values;
		if (l->kind == SOCKEYE_FUNC_KIND_STRING)
			kl->str_slot = str_slot++;
		for (size_t k = 0; k < l->n_values; k++)
			kl->values[k] = l->values[k];
	}
}

/* Which probes a function declaration needs: a histogram both (the entry keeps the time and
 * the argument labels); a counter its entry when it has argument labels or none at all, its
 * return when a label is the return value (with the entry keeping the argument labels). */
static void plan_probes(struct fn_decl *d)
{
	bool arg_labels = false, ret_labels = false;

	for (size_t i = 0; i < d->cfg.n_labels; i++) {
		if (d->cfg.labels[i].src == SOCKEYE_FUNC_SRC_RETURN)
			ret_labels = true;
		else
			arg_labels = true;
	}
	if (d->cfg.usdt_name) {
		d->entry = true;
		d->ret = false;
	} else if (d->cfg.type == SOCKEYE_FUNC_HISTOGRAM) {
		d->entry = d->ret = true;
	} else {
		d->ret = ret_labels;
		d->entry = arg_labels || !ret_labels;
	}
	d->hit_kinds = (d->entry ? 1 << SOCKEYE_FUNC_HIT_ENTRY : 0) |
		       (d->ret ? 1 << SOCKEYE_FUNC_HIT_RETURN : 0);
}

/* Drops every key of fn_decls index idx from a series map. */
static void purge_keys(int fd, __u32 idx)
{
	struct sockeye_func_key key, next, *doomed = NULL, *grown;
	size_t n = 0, cap = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (key.decl != idx)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(doomed, cap * sizeof(*doomed));
			if (!grown)
				break;
			doomed = grown;
		}
		doomed[n++] = key;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &doomed[i]);
	free(doomed);
}

/* Index idx starts from nothing: no series, no count of them, no hits. */
static void reset_index(struct funcs *f, __u32 idx)
{
	struct funcs_bpf *s = f->skel;
	__u64 zero = 0;

	purge_keys(bpf_map__fd(s->maps.fn_counts), idx);
	purge_keys(bpf_map__fd(s->maps.fn_hists), idx);
	bpf_map_update_elem(bpf_map__fd(s->maps.fn_nseries), &idx, &zero, BPF_ANY);
	for (__u32 k = 0; k < SOCKEYE_FUNC_HIT_MAX; k++) {
		__u32 h = idx * SOCKEYE_FUNC_HIT_MAX + k;

		bpf_map_update_elem(bpf_map__fd(s->maps.fn_hits), &h, &zero, BPF_ANY);
	}
}

static const char *probe_name(const struct fn_decl *d, char *buf, size_t len)
{
	if (d->cfg.usdt_name)
		snprintf(buf, len, "usdt %s:%s", d->cfg.usdt_provider, d->cfg.usdt_name);
	else
		snprintf(buf, len, "symbol %s", d->cfg.symbol);
	return buf;
}

static void add_link(struct fn_decl *d, struct bpf_link *link, uint32_t points, const char *what)
{
	char name[160];

	if (link) {
		d->links[d->n_links++] = link;
		d->attached += points;
		return;
	}
	d->failed += points;
	pr_error("functions: attaching the %s probe of %s (%s in %s): %s", what, d->cfg.metric,
		 probe_name(d, name, sizeof(name)), d->cfg.binary, strerror(errno));
}

static void decl_attach(struct funcs *f, __u32 idx)
{
	struct fn_decl *d = &f->d[idx];
	struct funcs_bpf *s = f->skel;
	struct sockeye_func_decl kd;
	char name[160];
	int err;

	reset_index(f, idx); /* leftovers of an earlier declaration at this index */
	kernel_decl(d, &kd);
	err = bpf_map_update_elem(bpf_map__fd(s->maps.fn_decls), &idx, &kd, BPF_ANY);
	if (err) {
		d->failed = d->cfg.usdt_name ? d->tgt.usdt_sites : (uint32_t)d->entry + d->ret;
		pr_error("functions: writing the declaration of %s: %s", d->cfg.metric,
			 strerror(-err));
		return;
	}
	if (d->cfg.usdt_name) {
		LIBBPF_OPTS(bpf_usdt_opts, uo, .usdt_cookie = idx);

		add_link(d,
			 bpf_program__attach_usdt(s->progs.usdt_func, -1, d->cfg.binary,
						  d->cfg.usdt_provider, d->cfg.usdt_name, &uo),
			 d->tgt.usdt_sites, "USDT");
	} else {
		LIBBPF_OPTS(bpf_uprobe_opts, po, .bpf_cookie = idx);

		if (d->entry)
			add_link(d,
				 bpf_program__attach_uprobe_opts(s->progs.uprobe_func, -1,
								 d->cfg.binary, d->tgt.offset, &po),
				 1, "entry");
		po.retprobe = true;
		if (d->ret)
			add_link(d,
				 bpf_program__attach_uprobe_opts(s->progs.uretprobe_func, -1,
								 d->cfg.binary, d->tgt.offset, &po),
				 1, "return");
	}
	probe_name(d, name, sizeof(name));
	if (d->failed)
		return;
	if (d->cfg.usdt_name)
		pr_info("functions: metric=%s binary=%s probe=\"%s\" sites=%u attached",
			d->cfg.metric, d->cfg.binary, name, d->tgt.usdt_sites);
	else
		pr_info("functions: metric=%s binary=%s probe=\"%s\" offset=0x%llx entry=%d "
			"return=%d attached",
			d->cfg.metric, d->cfg.binary, name, (unsigned long long)d->tgt.offset,
			d->entry, d->ret);
	if (!d->cfg.usdt_name && !d->tgt.emulated)
		pr_warn("functions: %s (%s in %s) does not start with a push: the kernel "
			"single-steps its probe on every call (microseconds per call on a VM; "
			"docs/functions.md)",
			d->cfg.metric, d->cfg.symbol, d->cfg.binary);
}

/* Detaches index idx and forgets its declaration and series. The declaration goes first
 * (max_series 0: the programs count nothing for it), then the probes, then the series. */
static void decl_remove(struct funcs *f, __u32 idx)
{
	struct fn_decl *d = &f->d[idx];
	struct sockeye_func_decl none;

	memset(&none, 0, sizeof(none));
	bpf_map_update_elem(bpf_map__fd(f->skel->maps.fn_decls), &idx, &none, BPF_ANY);
	for (size_t i = 0; i < d->n_links; i++)
		bpf_link__destroy(d->links[i]);
	reset_index(f, idx);
	cfg_free(&d->cfg);
	free(d->help);
	memset(d, 0, sizeof(*d));
}

/* ---- lifecycle --------------------------------------------------------------------------- */

int funcs_reload(struct funcs *f, const struct sockeye_config *cfg)
{
	size_t n = cfg->n_functions, kept = 0, added = 0, removed = 0;
	struct funcs_target *tgt = calloc(n ? n : 1, sizeof(*tgt));
	bool *have = calloc(n ? n : 1, sizeof(*have));
	int err = 0;

	if (!tgt || !have) {
		err = -ENOMEM;
		goto out;
	}
	/* Every declaration resolves, or nothing changes. */
	for (size_t i = 0; i < n; i++) {
		struct config_mark at;
		char why[512];

		if (funcs_elf_resolve(&cfg->functions[i], &tgt[i], why, sizeof(why), &at) == 0)
			continue;
		fprintf(stderr, "%s:%u:%u: functions[]: %s\n", cfg->config_file, at.line, at.column,
			why);
		err = -EINVAL;
	}
	if (err)
		goto out;

	for (__u32 idx = 0; idx < SOCKEYE_FUNC_MAX_DECLS; idx++) {
		struct fn_decl *d = &f->d[idx];
		size_t i;

		if (!d->used)
			continue;
		for (i = 0; i < n; i++)
			if (!have[i] && cfg_equal(&d->cfg, &cfg->functions[i]) &&
			    target_equal(&d->tgt, &tgt[i]))
				break;
		if (i < n) {
			have[i] = true;
			kept++;
		} else {
			decl_remove(f, idx);
			removed++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		__u32 idx = 0;

		if (have[i])
			continue;
		while (idx < SOCKEYE_FUNC_MAX_DECLS && f->d[idx].used)
			idx++;
		if (idx == SOCKEYE_FUNC_MAX_DECLS) { /* the config allows no more: never here */
			err = -ENOSPC;
			break;
		}
		struct fn_decl *d = &f->d[idx];

		memset(d, 0, sizeof(*d));
		err = cfg_copy(&d->cfg, &cfg->functions[i]);
		d->help = err			   ? NULL
			  : cfg->functions[i].help ? strdup(cfg->functions[i].help)
						   : default_help(&d->cfg);
		if (err || !d->help) {
			cfg_free(&d->cfg);
			free(d->help);
			d->help = NULL;
			err = -ENOMEM;
			break;
		}
		d->tgt = tgt[i];
		d->used = true;
		plan_probes(d);
		decl_attach(f, idx);
		added++;
	}
	pr_info("functions: %zu declaration%s kept, %zu removed, %zu added", kept,
		kept == 1 ? "" : "s", removed, added);
out:
	free(tgt);
	free(have);
	return err;
}

/* The function metrics' maps and their names in include/sockeye.h. */
static int check_map_names(const struct funcs_bpf *s)
{
	const struct progload_map_name maps[] = {
		{ s->maps.fn_decls, SOCKEYE_MAP_FN_DECLS },
		{ s->maps.fn_counts, SOCKEYE_MAP_FN_COUNTS },
		{ s->maps.fn_hists, SOCKEYE_MAP_FN_HISTS },
		{ s->maps.fn_nseries, SOCKEYE_MAP_FN_NSERIES },
		{ s->maps.fn_calls, SOCKEYE_MAP_FN_CALLS },
		{ s->maps.fn_hits, SOCKEYE_MAP_FN_HITS },
		{ s->maps.fn_stats, SOCKEYE_MAP_FN_STATS },
	};

	return progload_check_map_names(maps, sizeof(maps) / sizeof(maps[0]), "funcs");
}

struct funcs *funcs_start(const struct sockeye_config *cfg, struct progload_report *report)
{
	struct funcs *f = calloc(1, sizeof(*f));
	int err, failed;

	if (!f)
		return NULL;
	f->skel = funcs_bpf__open();
	if (!f->skel) {
		err = -errno;
		pr_error("functions: opening the BPF object: %s", strerror(-err));
		goto cleanup;
	}
	err = check_map_names(f->skel);
	if (err)
		goto cleanup;
	err = progload_object(f->skel->obj, "funcs", NULL, report, &failed);
	if (err) {
		pr_error("functions: loading BPF program %s: %s: %s",
			 failed >= 0 ? report->progs[failed].name : "(none)", strerror(-err),
			 failed >= 0 ? report->progs[failed].why : "");
		goto cleanup;
	}
	err = funcs_reload(f, cfg);
	if (err)
		goto cleanup;
	return f;

cleanup:
	funcs_stop(f);
	errno = -err;
	return NULL;
}

void funcs_report_off(struct progload_report *report, const char *why)
{
	struct funcs_bpf *s = funcs_bpf__open();

	if (!s)
		return;
	progload_list_off(s->obj, "funcs", why, report);
	funcs_bpf__destroy(s);
}

void funcs_stop(struct funcs *f)
{
	if (!f)
		return;
	for (__u32 idx = 0; idx < SOCKEYE_FUNC_MAX_DECLS; idx++) {
		struct fn_decl *d = &f->d[idx];

		for (size_t i = 0; i < d->n_links; i++)
			bpf_link__destroy(d->links[i]);
		if (d->used)
			cfg_free(&d->cfg);
		free(d->help);
	}
	funcs_bpf__destroy(f->skel);
	free(f);
}

void funcs_report(const struct funcs *f, FILE *out)
{
	for (__u32 idx = 0; idx < SOCKEYE_FUNC_MAX_DECLS; idx++) {
		const struct fn_decl *d = &f->d[idx];
		char name[160];

		if (!d->used || !out)
			continue;
		probe_name(d, name, sizeof(name));
		if (d->failed)
			fprintf(out, "function %s failed: %u of %u probes (%s in %s)\n",
				d->cfg.metric, d->failed, d->failed + d->attached, name,
				d->cfg.binary);
		else if (d->cfg.usdt_name)
			fprintf(out, "function %s attached: %s in %s, %u site%s\n", d->cfg.metric,
				name, d->cfg.binary, d->attached, d->attached == 1 ? "" : "s");
		else
			fprintf(out,
				"function %s attached: %s in %s at file offset 0x%llx (%s%s)\n",
				d->cfg.metric, name, d->cfg.binary,
				(unsigned long long)d->tgt.offset,
				d->entry && d->ret ? "entry and return"
				: d->entry	   ? "entry"
						   : "return",
				d->tgt.emulated ? ", emulated" : ", single-stepped");
	}
}

uint32_t funcs_failed_probes(const struct funcs *f)
{
	uint32_t n = 0;

	for (__u32 idx = 0; idx < SOCKEYE_FUNC_MAX_DECLS; idx++)
		if (f->d[idx].used)
			n += f->d[idx].failed;
	return n;
}

size_t funcs_decls(const struct funcs *f, struct funcs_decl_view *out, size_t max)
{
	size_t n = 0;

	for (__u32 idx = 0; idx < SOCKEYE_FUNC_MAX_DECLS; idx++) {
		const struct fn_decl *d = &f->d[idx];

		if (!d->used)
			continue;
		if (n < max)
			out[n] = (struct funcs_decl_view){
				.idx = idx,
				.cfg = &d->cfg,
				.help = d->help,
				.probes_attached = d->attached,
				.probes_failed = d->failed,
				.hit_kinds = d->hit_kinds,
			};
		n++;
	}
	return n;
}

int funcs_map_fd(const struct funcs *f, enum funcs_map m)
{
	switch (m) {
	case FUNCS_MAP_COUNTS:
		return bpf_map__fd(f->skel->maps.fn_counts);
	case FUNCS_MAP_HISTS:
		return bpf_map__fd(f->skel->maps.fn_hists);
	case FUNCS_MAP_HITS:
		return bpf_map__fd(f->skel->maps.fn_hits);
	case FUNCS_MAP_STATS:
		return bpf_map__fd(f->skel->maps.fn_stats);
	case FUNCS_MAP_CALLS:
		return bpf_map__fd(f->skel->maps.fn_calls);
	default:
		return -EINVAL;
	}
}

size_t funcs_prog_fds(const struct funcs *f, int *fds, const char **names, size_t max)
{
	struct bpf_program *progs[] = {
		f->skel->progs.uprobe_func,
		f->skel->progs.uretprobe_func,
		f->skel->progs.usdt_func,
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]) && n < max; i++) {
		names[n] = bpf_program__name(progs[i]);
		fds[n++] = bpf_program__fd(progs[i]);
	}
	return n;
}
