/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* routes.h - http.routes patterns: checked, then compiled into the kernel's segment trie. */
#ifndef SOCKEYE_ROUTES_H
#define SOCKEYE_ROUTES_H

#include <linux/types.h>
#include <stddef.h>

#include "sockeye.h"

/* One edge of the trie as route_trie holds it. */
struct routes_edge {
	struct sockeye_route_edge key;
	struct sockeye_route_node child;
};

/* A pattern's label, for the route table (http_routes). */
struct routes_name {
	__u64 route_id;
	char text[SOCKEYE_ROUTE_LEN]; /* zero-filled: the kernel hashes all of it */
};

struct routes_trie {
	struct sockeye_route_node root; /* root.flags 0: nothing to match */
	struct routes_edge *edges;
	size_t n_edges;
	struct routes_name *names;
	size_t n_names;
};

/* Whether p is a valid pattern: NULL, or why not with *at the offset of the fault. Patterns
 * start with '/'; segments are literals, {name} (one segment), {name...} (one or more; once
 * per pattern) or a last '*' (the rest, also nothing); no query or fragment; at most
 * SOCKEYE_ROUTE_LEN - 1 bytes (the label is the pattern as written). */
const char *routes_check_pattern(const char *p, size_t *at);

/* Builds the trie: ignore entries first (route_id SOCKEYE_ROUTE_IGNORE), then the patterns in
 * order (the first that matches wins). Node ids start at base (0 or SOCKEYE_ROUTE_GEN_BIT).
 * Every entry must have passed routes_check_pattern. Returns 0 or -ENOMEM / -E2BIG (more
 * edges than route_trie holds for one generation). */
int routes_build(const char *const *patterns, size_t n_patterns, const char *const *ignore,
		 size_t n_ignore, __u32 base, struct routes_trie *out);
void routes_free(struct routes_trie *t);

/* The route_id of a route's text (the kernel's route_hash over its zero-filled 64 bytes). */
__u64 routes_id_of(const char *text);

#endif /* SOCKEYE_ROUTES_H */
