// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* identity_table.c - open addressing over a dense array, for identity.c's bounded caches. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "identity_table.h"

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static size_t slot_of(const struct table *t, const void *key)
{
	const struct tkey *k = key;

	return (size_t)(mix64(k->a ^ mix64(k->b + 0x9e3779b97f4a7c15ULL)) & (t->n_slots - 1));
}

void *table_at(const struct table *t, size_t i)
{
	return t->items + i * t->item_size;
}

void *table_find(const struct table *t, const struct tkey *k)
{
	if (!t->n_slots)
		return NULL;
	for (size_t h = slot_of(t, k);; h = (h + 1) & (t->n_slots - 1)) {
		uint32_t s = t->slots[h];

		if (!s)
			return NULL;
		if (memcmp(table_at(t, s - 1), k, sizeof(*k)) == 0)
			return table_at(t, s - 1);
	}
}

static void table_index(struct table *t)
{
	memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
	for (size_t i = 0; i < t->n; i++) {
		size_t h = slot_of(t, table_at(t, i));

		while (t->slots[h])
			h = (h + 1) & (t->n_slots - 1);
		t->slots[h] = (uint32_t)(i + 1);
	}
}

void *table_add(struct table *t, const struct tkey *k)
{
	size_t h;
	void *it;

	if (t->n >= t->max) {
		errno = ENOSPC;
		return NULL;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char *items = realloc(t->items, cap * t->item_size);

		if (!items)
			return NULL;
		t->items = items;
		t->cap = cap;
	}
	if ((t->n + 1) * 2 >= t->n_slots) {
		size_t n_slots = t->n_slots ? t->n_slots * 2 : 256;
		uint32_t *slots = calloc(n_slots, sizeof(*slots));

		if (!slots)
			return NULL;
		free(t->slots);
		t->slots = slots;
		t->n_slots = n_slots;
		table_index(t);
	}
	it = table_at(t, t->n++);
	memset(it, 0, t->item_size);
	memcpy(it, k, sizeof(*k));
	h = slot_of(t, k);
	while (t->slots[h])
		h = (h + 1) & (t->n_slots - 1);
	t->slots[h] = (uint32_t)t->n;
	return it;
}

void table_sweep(struct table *t, int (*keep)(void *ctx, void *it),
		 void (*drop)(void *ctx, void *it), void *ctx)
{
	size_t j = 0;

	for (size_t i = 0; i < t->n; i++) {
		void *it = table_at(t, i);

		if (keep(ctx, it)) {
			if (i != j)
				memcpy(table_at(t, j), it, t->item_size);
			j++;
		} else {
			drop(ctx, it);
		}
	}
	t->n = j;
	if (t->slots)
		table_index(t);
}

void table_free(struct table *t)
{
	free(t->items);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}
