// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* merge.c - per-CPU values and series with equal labels added together (merge.h). */
#include <stdlib.h>
#include <string.h>

#include "merge.h"

size_t merge_series(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
		    merge_add_fn add)
{
	char *s = base;
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(s, n, size, cmp);
	for (size_t i = 1; i < n; i++) {
		char *acc = s + out * size, *it = s + i * size;

		if (cmp(acc, it) == 0) {
			add(acc, it);
		} else if (++out != i) {
			memcpy(s + out * size, it, size);
		}
	}
	return out + 1;
}

void merge_percpu(void *acc, const void *vals, int ncpu, size_t size, merge_add_fn add)
{
	for (int c = 0; c < ncpu; c++)
		add(acc, (const char *)vals + (size_t)c * size);
}

void merge_u64(__u64 *acc, const __u64 *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		acc[i] += v[i];
}

int merge_identity_cmp(const struct sockeye_identity *a, const struct sockeye_identity *b)
{
	static const struct sockeye_identity none;
	int c;

	if (a == b)
		return 0;
	a = a ? a : &none;
	b = b ? b : &none;
	for (int i = 0; i < SOCKEYE_ID_MAX; i++) {
		c = strncmp(a->v[i], b->v[i], sizeof(a->v[i]));
		if (c)
			return c;
	}
	return 0;
}
