// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* funcs.bpf.c - function metrics: one generic set of uprobe, uretprobe and USDT programs
 * serves every function declared in the config's functions: section.
 *
 * A declaration is an entry of fn_decls (written by src/funcs.c before its probes attach), and
 * the bpf_cookie of each of its probes is that entry's index. Nothing is generated or
 * compiled per declaration. Labels come from the arguments (read at entry), the return value
 * (at return) or a USDT probe's arguments; a histogram times entry -> return. Counts and
 * buckets are added up in fn_counts / fn_hists; nothing per call leaves the kernel.
 *
 * A call in progress is keyed by (thread, stack pointer at entry, declaration): recursion
 * gives each level its own entry, and the return probe finds its own at sp + 8 (x86-64: the
 * return address was popped). A thread that never returns (longjmp, exit) leaves an entry
 * in an LRU map of fixed size, which newer calls evict first or overwrite (same thread and
 * stack depth): nothing grows.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "hist.bpf.h"
#include "sockeye.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#if defined(__TARGET_ARCH_x86)
#define RET_SP_DELTA 8 /* `ret` popped the return address the entry saw at the stack top */
#define PARM6(ctx)   ((ctx)->r9)
#elif defined(__TARGET_ARCH_arm64)
#define RET_SP_DELTA 0
#define PARM6(ctx)   ((ctx)->regs[5])
#else
#error "funcs.bpf.c: unsupported architecture"
#endif

#define EEXIST 17

struct call_key {
	__u64 pid_tgid;
	__u64 sp; /* stack pointer at entry */
	__u32 decl;
	__u32 pad;
};

/* What the entry probe leaves for the return probe. */
struct call_state {
	__u64 start_ns;
	struct sockeye_func_key key; /* labels from arguments, filled at entry */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SOCKEYE_FUNC_MAX_DECLS);
	__type(key, __u32);
	__type(value, struct sockeye_func_decl);
} fn_decls SEC(".maps");

/* Counter families (the declaration's metric name is in user space). Allocated per key as
 * series appear, like http_dur, but one value for all CPUs, added to atomically: every call
 * already costs a breakpoint trap (microseconds), next to which a contended atomic add is
 * small, and a per-CPU value would cost a copy per possible CPU (17 KB per histogram series
 * on a 64-CPU host) and per-CPU allocations in the probe, which 6.1 fails under pressure. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SOCKEYE_FUNC_SERIES_ENTRIES);
	__type(key, struct sockeye_func_key);
	__type(value, struct sockeye_func_count);
} fn_counts SEC(".maps");

/* Histogram families, as fn_counts. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SOCKEYE_FUNC_SERIES_ENTRIES);
	__type(key, struct sockeye_func_key);
	__type(value, struct sockeye_func_hist);
} fn_hists SEC(".maps");

/* Keys each declaration created so far, against its max_series. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SOCKEYE_FUNC_MAX_DECLS);
	__type(key, __u32);
	__type(value, __u64);
} fn_nseries SEC(".maps");

/* Calls in progress. LRU: a call whose return never comes is evicted, never accumulated. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCKEYE_FUNC_CALL_ENTRIES);
	__type(key, struct call_key);
	__type(value, struct call_state);
} fn_calls SEC(".maps");

/* sockeye_function_probe_hits_total{metric,binary,probe} */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SOCKEYE_FUNC_MAX_DECLS *SOCKEYE_FUNC_HIT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} fn_hits SEC(".maps");

/* sockeye_function_events_total{event} */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SOCKEYE_FUNC_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} fn_stats SEC(".maps");

/* Initial values of new series (never written). */
static struct sockeye_func_count zero_count;
static struct sockeye_func_hist zero_hist;

/* Every value is shared by all CPUs (and uprobe programs are preemptible): adds are atomic. */
static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&fn_stats, &which);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void hit(__u32 decl, __u32 kind)
{
	__u32 idx = decl * SOCKEYE_FUNC_HIT_MAX + kind;
	__u64 *v = bpf_map_lookup_elem(&fn_hits, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* The registers a label may come from, indexed by enum sockeye_func_src. Loaded one by one
 * at fixed offsets: the verifier refuses a ctx access at a computed offset. */
static __always_inline void load_regs(struct pt_regs *ctx, __u64 regs[8])
{
	regs[0] = 0;
	regs[SOCKEYE_FUNC_SRC_ARG1] = PT_REGS_PARM1(ctx);
	regs[SOCKEYE_FUNC_SRC_ARG1 + 1] = PT_REGS_PARM2(ctx);
	regs[SOCKEYE_FUNC_SRC_ARG1 + 2] = PT_REGS_PARM3(ctx);
	regs[SOCKEYE_FUNC_SRC_ARG1 + 3] = PT_REGS_PARM4(ctx);
	regs[SOCKEYE_FUNC_SRC_ARG1 + 4] = PT_REGS_PARM5(ctx);
	regs[SOCKEYE_FUNC_SRC_ARG1 + 5] = PARM6(ctx);
	regs[SOCKEYE_FUNC_SRC_RETURN] = PT_REGS_RC(ctx);
}

/* 1 + the index of v among label's named values, 0 ("other") when it is not one. Global:
 * the verifier checks it once, not once per label and path (the 6.1 verifier ran past its
 * limit with the search inlined for each label). */
__noinline __s64 fn_named_value(__u32 decl, __u32 label, __s64 v)
{
	const struct sockeye_func_decl *d = bpf_map_lookup_elem(&fn_decls, &decl);
	const struct sockeye_func_label *l;

	if (!d || label >= SOCKEYE_FUNC_MAX_LABELS)
		return 0;
	l = &d->labels[label];
	for (__u32 j = 0; j < SOCKEYE_FUNC_MAX_VALUES; j++) {
		if (j >= l->n_values)
			break;
		if (l->values[j] == v)
			return j + 1;
	}
	return 0;
}

/* Sets label i of key from raw: an int is mapped through the label's values (1 + index,
 * 0 for "other") or kept as the number; a string is read from user memory. */
static __always_inline void set_label(struct sockeye_func_key *key,
				      const struct sockeye_func_label *l, __u32 i, __u64 raw,
				      int usdt)
{
	__s64 v;

	if (i >= SOCKEYE_FUNC_MAX_LABELS)
		return;
	if (l->kind == SOCKEYE_FUNC_KIND_STRING) {
		__u32 slot = l->str_slot & (SOCKEYE_FUNC_MAX_STR_LABELS - 1);

		if (bpf_probe_read_user_str(key->strs[slot], SOCKEYE_FUNC_STR_LEN,
					    (const void *)raw) < 0) {
			/* Nothing of it is kept: the key compares every byte. */
			__builtin_memset(key->strs[slot], 0, SOCKEYE_FUNC_STR_LEN);
			key->unreadable |= 1 << i;
			stat_inc(SOCKEYE_FUNC_STAT_STRING_FAULT);
		}
		return;
	}
	/* A USDT argument comes sign- or zero-extended by its size already. */
	if (l->kind == SOCKEYE_FUNC_KIND_INT && !usdt)
		v = (__s64)(__s32)raw;
	else
		v = (__s64)raw;
	if (l->n_values)
		v = fn_named_value(key->decl, i, v);
	key->ints[i] = v;
}

/* The labels taken from the arguments (at entry), or only those from the return value. */
static __always_inline void uprobe_labels(struct pt_regs *ctx, const struct sockeye_func_decl *d,
					  struct sockeye_func_key *key, int at_return)
{
	__u64 regs[8];

	load_regs(ctx, regs);
	for (__u32 i = 0; i < SOCKEYE_FUNC_MAX_LABELS; i++) {
		const struct sockeye_func_label *l = &d->labels[i];

		if (i >= d->n_labels)
			break;
		if ((l->src == SOCKEYE_FUNC_SRC_RETURN) != at_return)
			continue;
		set_label(key, l, i, regs[l->src & 7], 0);
	}
}

static __always_inline void key_init(struct sockeye_func_key *key, __u32 decl)
{
	key->decl = decl;
	key->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(key->comm, sizeof(key->comm));
}

/* The value of key in map, created from zero while the declaration has fewer than max_series
 * keys; past that the call goes to the declaration's "{other}" key (of the same process
 * group), which does not count against the limit. NULL (counted) when the map is full. */
static __always_inline void *series(void *map, struct sockeye_func_key *key,
				    const struct sockeye_func_decl *d, const void *zero)
{
	void *val = bpf_map_lookup_elem(map, key);
	__u64 *n, used;
	long err;

	if (val)
		return val;
	n = bpf_map_lookup_elem(&fn_nseries, &key->decl);
	if (!n)
		return NULL;
	used = __sync_fetch_and_add(n, 1);
	if (used >= d->max_series) {
		__sync_fetch_and_add(n, -1);
		stat_inc(SOCKEYE_FUNC_STAT_OTHER);
		key->other = 1;
		key->unreadable = 0;
		__builtin_memset(key->ints, 0, sizeof(key->ints));
		__builtin_memset(key->strs, 0, sizeof(key->strs));
		val = bpf_map_lookup_elem(map, key);
		if (val)
			return val;
		err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	} else {
		err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
		if (err)
			__sync_fetch_and_add(n, -1); /* another CPU made it, or no room */
	}
	if (err && err != -EEXIST) {
		stat_inc(SOCKEYE_FUNC_STAT_SERIES_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}

static __always_inline void count(struct sockeye_func_key *key, const struct sockeye_func_decl *d)
{
	struct sockeye_func_count *c = series(&fn_counts, key, d, &zero_count);

	if (!c)
		return;
	__sync_fetch_and_add(&c->count, 1);
	c->tgid = bpf_get_current_pid_tgid() >> 32;
}

/* A value into the declaration's histogram, over its own bounds (hist.bpf.h). */
static __always_inline void observe(struct sockeye_func_key *key, const struct sockeye_func_decl *d,
				    __u64 v)
{
	struct sockeye_func_hist *h = series(&fn_hists, key, d, &zero_hist);

	if (!h)
		return;
	hist_add(&h->count, &h->sum_ns, h->buckets, SOCKEYE_MAX_BUCKETS,
		 hist_slot(d->bounds_ns, d->n_bounds, SOCKEYE_MAX_BUCKETS, v), v);
	h->tgid = bpf_get_current_pid_tgid() >> 32;
}

/* Entry of a declared function. */
SEC("uprobe")
int uprobe_func(struct pt_regs *ctx)
{
	__u32 decl = bpf_get_attach_cookie(ctx);
	const struct sockeye_func_decl *d = bpf_map_lookup_elem(&fn_decls, &decl);
	struct call_state st = {};
	struct call_key ck = {};

	if (!d || !d->max_series)
		return 0; /* no declaration there (being removed) */
	hit(decl, SOCKEYE_FUNC_HIT_ENTRY);
	key_init(&st.key, decl);
	uprobe_labels(ctx, d, &st.key, 0);
	if (!d->entry_state) {
		count(&st.key, d); /* a counter whose labels are all arguments */
		return 0;
	}
	ck.pid_tgid = bpf_get_current_pid_tgid();
	ck.sp = PT_REGS_SP(ctx);
	ck.decl = decl;
	st.start_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&fn_calls, &ck, &st, BPF_ANY);
	return 0;
}

/* Return of a declared function: the entry's state (when it keeps one) gives the start time
 * and the argument labels. */
SEC("uretprobe")
int uretprobe_func(struct pt_regs *ctx)
{
	__u32 decl = bpf_get_attach_cookie(ctx);
	const struct sockeye_func_decl *d = bpf_map_lookup_elem(&fn_decls, &decl);
	struct call_state st = {};
	struct call_state *saved;
	struct call_key ck = {};
	__u64 now = bpf_ktime_get_ns();

	if (!d || !d->max_series)
		return 0; /* no declaration there (being removed) */
	hit(decl, SOCKEYE_FUNC_HIT_RETURN);
	if (d->entry_state) {
		ck.pid_tgid = bpf_get_current_pid_tgid();
		ck.sp = PT_REGS_SP(ctx) - RET_SP_DELTA;
		ck.decl = decl;
		saved = bpf_map_lookup_elem(&fn_calls, &ck);
		if (!saved) {
			stat_inc(SOCKEYE_FUNC_STAT_NO_ENTRY);
			return 0;
		}
		st = *saved;
		bpf_map_delete_elem(&fn_calls, &ck);
	} else {
		key_init(&st.key, decl);
	}
	uprobe_labels(ctx, d, &st.key, 1);
	if (d->type == SOCKEYE_FUNC_HISTOGRAM)
		observe(&st.key, d, now - st.start_ns);
	else
		count(&st.key, d);
	return 0;
}

/* USDT argument n (0-based) as libbpf's attach recorded it in spec: a constant, a register,
 * or memory at a register plus an offset; cast from its size to 64 bits as the spec says.
 * libbpf's bpf_usdt_arg does the same; it is not used because its pointer argument and its
 * four inlined copies (one per label) took the 6.1 verifier past its limit. Returns 0, or -1
 * (counted) when the argument cannot be read. */
static __always_inline int usdt_arg(struct pt_regs *ctx, const struct __bpf_usdt_spec *spec,
				    __u32 n, __u64 *out)
{
	const struct __bpf_usdt_arg_spec *a;
	unsigned long val = 0;

	/* The caller checked n already; the barrier makes clang check it again here, on the
	 * register the verifier then sees used as the index. */
	asm volatile("" : "+r"(n));
	if (n > 5 || n >= (__u32)spec->arg_cnt)
		goto bad;
	a = &spec->args[n];
	if (a->arg_type == BPF_USDT_ARG_CONST) {
		val = a->val_off;
	} else {
		if (bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + a->reg_off))
			goto bad;
		if (a->arg_type == BPF_USDT_ARG_REG_DEREF &&
		    bpf_probe_read_user(&val, sizeof(val), (void *)val + a->val_off))
			goto bad;
	}
	val <<= a->arg_bitshift;
	if (a->arg_signed)
		val = ((long)val) >> a->arg_bitshift;
	else
		val = val >> a->arg_bitshift;
	*out = val;
	return 0;
bad:
	stat_inc(SOCKEYE_FUNC_STAT_USDT_ARG);
	return -1;
}

/* A USDT probe point: counted, or its value argument observed. */
SEC("usdt")
int usdt_func(struct pt_regs *ctx)
{
	int spec_id = __bpf_usdt_spec_id(ctx);
	const struct __bpf_usdt_spec *spec;
	const struct sockeye_func_decl *d;
	struct sockeye_func_key key = {};
	__u64 raw;
	__u32 decl;

	if (spec_id < 0)
		return 0;
	spec = bpf_map_lookup_elem(&__bpf_usdt_specs, &spec_id);
	if (!spec)
		return 0;
	decl = spec->usdt_cookie; /* what bpf_usdt_cookie() returns */
	d = bpf_map_lookup_elem(&fn_decls, &decl);
	if (!d || !d->max_series)
		return 0; /* no declaration there (being removed) */
	hit(decl, SOCKEYE_FUNC_HIT_ENTRY);
	key_init(&key, decl);
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < SOCKEYE_FUNC_MAX_LABELS; i++) {
		const struct sockeye_func_label *l = &d->labels[i];

		if (i >= d->n_labels)
			break;
		if (l->src < SOCKEYE_FUNC_SRC_ARG1 || l->src >= SOCKEYE_FUNC_SRC_RETURN)
			continue;
		if (usdt_arg(ctx, spec, l->src - SOCKEYE_FUNC_SRC_ARG1, &raw))
			return 0;
		set_label(&key, l, i, raw, 1);
	}
	if (d->type != SOCKEYE_FUNC_HISTOGRAM) {
		count(&key, d);
		return 0;
	}
	if (d->value_src < SOCKEYE_FUNC_SRC_ARG1 ||
	    usdt_arg(ctx, spec, d->value_src - SOCKEYE_FUNC_SRC_ARG1, &raw))
		return 0;
	observe(&key, d, (__s64)raw < 0 ? 0 : raw);
	return 0;
}
