/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* merge.h - the one place where collected values are added together: a map's per-CPU copies
 * into one value, and series whose exported labels are equal (the same key in a map and its
 * spill map, series that differ only in cgroup_id, cgroups that resolve to the same identity)
 * into one series. Each family group (collect_<group>.c) says what "equal" and "add" mean for
 * its series; render.c prints series as they are. */
#ifndef SOCKEYE_MERGE_H
#define SOCKEYE_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

/* Adds the value s into acc (both of the type the caller sorts). */
typedef void (*merge_add_fn)(void *acc, const void *s);

/* Sorts base[0..n) (elements of size bytes) by cmp, then adds each run of elements that cmp
 * finds equal into its first. Returns the number left. */
size_t merge_series(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
		    merge_add_fn add);

/* Adds ncpu per-CPU copies (size bytes apart in vals) into acc with add. */
void merge_percpu(void *acc, const void *vals, int ncpu, size_t size, merge_add_fn add);

/* acc[i] += v[i] for i < n: counters, histogram buckets. */
void merge_u64(__u64 *acc, const __u64 *v, size_t n);

/* Orders identities by their label values; NULL is the identity without labels. 0: the same
 * labels. */
int merge_identity_cmp(const struct sockeye_identity *a, const struct sockeye_identity *b);

#endif /* SOCKEYE_MERGE_H */
