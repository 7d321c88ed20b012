/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* identity_table.h - the bounded hash table behind identity.c's caches: entries of one size,
 * each starting with its 16-byte key, in a dense array that a sweep compacts. */
#ifndef SOCKEYE_IDENTITY_TABLE_H
#define SOCKEYE_IDENTITY_TABLE_H

#include <stddef.h>
#include <stdint.h>

/* The first member of every entry. */
struct tkey {
	uint64_t a, b;
};

struct table {
	char *items;
	size_t n, cap, item_size, max; /* item_size and max: set before first use */
	uint32_t *slots; /* index + 1 of an item, 0: empty */
	size_t n_slots;	 /* a power of two, more than twice n */
};

/* Entry i (i < n). */
void *table_at(const struct table *t, size_t i);
/* The entry with key k, or NULL. */
void *table_find(const struct table *t, const struct tkey *k);
/* A zeroed entry with key k, added; NULL with errno set when the table is at its bound
 * (ENOSPC) or memory ran out. Pointers to other entries of t are invalid afterwards. */
void *table_add(struct table *t, const struct tkey *k);
/* Keeps the entries keep() says to and drops the others after drop(). */
void table_sweep(struct table *t, int (*keep)(void *ctx, void *it),
		 void (*drop)(void *ctx, void *it), void *ctx);
void table_free(struct table *t);

#endif /* SOCKEYE_IDENTITY_TABLE_H */
