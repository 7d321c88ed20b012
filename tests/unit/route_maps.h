/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* route_maps.h - user-space stand-ins for the kernel's route maps (route_cfg, route_trie and
 * the low_cardinality learning maps), for tests that run bpf/http.bpf.h's route code: include
 * it before http.bpf.h; set route_maps.trie and route_maps.cfg, clear n_learnt per case. */
#ifndef SOCKEYE_TEST_ROUTE_MAPS_H
#define SOCKEYE_TEST_ROUTE_MAPS_H

#include <linux/types.h>
#include <stddef.h>

#include "routes.h"

#ifndef ROUTE_MAPS_LEARN_MAX
#define ROUTE_MAPS_LEARN_MAX 256
#endif

static struct {
	struct routes_trie trie;
	struct sockeye_route_cfg cfg;
	struct {
		__u64 prefix, value;
	} learnt[ROUTE_MAPS_LEARN_MAX];
	size_t n_learnt;
} route_maps;

static int route_maps_cfg(struct sockeye_route_cfg *c)
{
	*c = route_maps.cfg;
	return 0;
}

static int route_maps_edge(__u32 node, __u32 kind, __u64 hash, struct sockeye_route_node *out)
{
	for (size_t i = 0; i < route_maps.trie.n_edges; i++) {
		const struct routes_edge *e = &route_maps.trie.edges[i];

		if (e->key.node == node && e->key.kind == kind && e->key.hash == hash) {
			*out = e->child;
			return 1;
		}
	}
	return 0;
}

/* As sockeye_route_learn: 1 when the value may keep its name under prefix. */
static int route_maps_learn(__u64 prefix, __u64 value, __u32 max)
{
	__u32 count = 0;

	for (size_t i = 0; i < route_maps.n_learnt; i++) {
		if (route_maps.learnt[i].prefix != prefix)
			continue;
		if (route_maps.learnt[i].value == value)
			return 1;
		count++;
	}
	if (count >= max || route_maps.n_learnt >= ROUTE_MAPS_LEARN_MAX)
		return 0;
	route_maps.learnt[route_maps.n_learnt].prefix = prefix;
	route_maps.learnt[route_maps.n_learnt++].value = value;
	return 1;
}

#define ROUTE_CFG(c) route_maps_cfg(c)
#define ROUTE_EDGE(node, kind, hash, out) route_maps_edge(node, kind, hash, out)
#define ROUTE_LEARN(prefix, value, max) route_maps_learn(prefix, value, max)

#endif /* SOCKEYE_TEST_ROUTE_MAPS_H */
