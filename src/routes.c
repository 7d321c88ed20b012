// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* routes.c - http.routes patterns: checked, then compiled into the kernel's segment trie
 * (docs/routes.md). Pure: no I/O; loader.c writes the result into route_trie. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.bpf.h"
#include "routes.h"

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* One segment of a pattern: its kind, and its bytes for a literal. */
struct seg {
	enum sockeye_route_edge_kind kind;
	const char *s;
	size_t n;
};

/* The segment at p[*i] (after a '/'): fills *out, advances *i past it. NULL or why. */
static const char *next_seg(const char *p, size_t *i, struct seg *out, int *many_seen)
{
	size_t start = *i, end = start;

	while (p[end] && p[end] != '/')
		end++;
	out->s = p + start;
	out->n = end - start;
	out->kind = SOCKEYE_EDGE_LITERAL;
	if (out->n == 1 && p[start] == '*') {
		if (p[end]) {
			*i = start;
			return "'*' stands only as the last segment";
		}
		out->kind = SOCKEYE_EDGE_REST;
	} else if (out->n && p[start] == '{') {
		size_t k = start + 1, name = 0;

		while (k < end && is_name_char(p[k]))
			k++, name++;
		if (k < end && p[k] == '.' && k + 3 <= end && strncmp(p + k, "...", 3) == 0) {
			if (*many_seen) {
				*i = start;
				return "a pattern may have only one {name...}";
			}
			*many_seen = 1;
			out->kind = SOCKEYE_EDGE_MANY;
			k += 3;
		} else {
			out->kind = SOCKEYE_EDGE_ONE;
		}
		if (k >= end || p[k] != '}') {
			*i = k;
			return k >= end ? "'{' is not closed by '}' in its segment"
					: "a {name} holds letters, digits and '_' (and '...' at its end)";
		}
		if (!name) {
			*i = start;
			return "a {name} needs a name";
		}
		if (k + 1 != end) {
			*i = k + 1;
			return "a {name} takes its whole segment";
		}
	} else {
		for (size_t k = start; k < end; k++) {
			if (p[k] == '{' || p[k] == '}' || p[k] == '*') {
				*i = k;
				return "'{', '}' and '*' stand only as whole segments";
			}
		}
	}
	*i = end;
	return NULL;
}

const char *routes_check_pattern(const char *p, size_t *at)
{
	size_t i = 1, len = strlen(p);
	int many = 0;

	*at = 0;
	if (p[0] != '/')
		return "a pattern starts with '/'";
	if (len >= SOCKEYE_ROUTE_LEN) {
		*at = SOCKEYE_ROUTE_LEN - 1;
		return "a pattern has at most 63 bytes (it is the http_route label)";
	}
	for (size_t k = 0; k < len; k++) {
		if (p[k] == '?' || p[k] == '#') {
			*at = k;
			return "no query or fragment: routes are paths";
		}
		if ((unsigned char)p[k] < 0x21 || (unsigned char)p[k] > 0x7e) {
			*at = k;
			return "only visible ASCII characters";
		}
	}
	for (;;) {
		struct seg s;
		const char *why = next_seg(p, &i, &s, &many);

		if (why) {
			*at = i;
			return why;
		}
		if (!p[i])
			return NULL;
		i++; /* the '/' */
	}
}

/* The trie being built: nodes, and the edges between them by node index. */
struct bnode {
	__u16 flags;
	__u16 prio;
	__u64 route_id;
};

struct bedge {
	size_t parent, child;
	__u32 kind;
	__u64 hash;
};

struct builder {
	struct bnode *nodes;
	size_t n_nodes, cap_nodes;
	struct bedge *edges;
	size_t n_edges, cap_edges;
};

static const __u16 kind_flag[SOCKEYE_EDGE_MAX] = {
	[SOCKEYE_EDGE_LITERAL] = SOCKEYE_NODE_LITERAL,
	[SOCKEYE_EDGE_ONE] = SOCKEYE_NODE_ONE,
	[SOCKEYE_EDGE_MANY] = SOCKEYE_NODE_MANY,
	[SOCKEYE_EDGE_REST] = SOCKEYE_NODE_REST,
};

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	void *p;

	if (n < *cap)
		return 0;
	p = realloc(*arr, (*cap ? *cap * 2 : 16) * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = *cap ? *cap * 2 : 16;
	return 0;
}

/* The child of parent along (kind, hash), made when missing; returns its index or -errno. */
static long child_of(struct builder *b, size_t parent, __u32 kind, __u64 hash)
{
	for (size_t i = 0; i < b->n_edges; i++)
		if (b->edges[i].parent == parent && b->edges[i].kind == kind &&
		    b->edges[i].hash == hash)
			return (long)b->edges[i].child;
	if (b->n_edges >= SOCKEYE_ROUTE_TRIE_ENTRIES / 2)
		return -E2BIG;
	if (grow((void **)&b->nodes, &b->cap_nodes, b->n_nodes, sizeof(*b->nodes)) ||
	    grow((void **)&b->edges, &b->cap_edges, b->n_edges, sizeof(*b->edges)))
		return -ENOMEM;
	memset(&b->nodes[b->n_nodes], 0, sizeof(b->nodes[0]));
	if (kind == SOCKEYE_EDGE_MANY)
		b->nodes[b->n_nodes].flags = SOCKEYE_NODE_LOOP;
	b->edges[b->n_edges++] = (struct bedge){ parent, b->n_nodes, kind, hash };
	b->nodes[parent].flags |= kind_flag[kind];
	return (long)b->n_nodes++;
}

/* Adds one checked pattern ending with (route_id, prio); an earlier entry with the same path
 * keeps its place. */
static int add_pattern(struct builder *b, const char *p, __u64 route_id, __u16 prio)
{
	size_t i = 1, node = 0;
	int many = 0;

	for (;;) {
		struct seg s;
		long c;

		if (next_seg(p, &i, &s, &many))
			return -EINVAL;
		c = child_of(b, node, s.kind,
			     s.kind == SOCKEYE_EDGE_LITERAL ? route_seg_hash(s.s, s.n) : 0);
		if (c < 0)
			return (int)c;
		node = (size_t)c;
		if (!p[i])
			break;
		i++;
	}
	if (!(b->nodes[node].flags & SOCKEYE_NODE_END)) {
		b->nodes[node].flags |= SOCKEYE_NODE_END;
		b->nodes[node].route_id = route_id;
		b->nodes[node].prio = prio;
	}
	return 0;
}

static struct sockeye_route_node node_out(const struct builder *b, size_t i, __u32 base)
{
	return (struct sockeye_route_node){
		.route_id = b->nodes[i].route_id,
		.id = base + (__u32)i,
		.flags = b->nodes[i].flags,
		.prio = b->nodes[i].prio,
	};
}

__u64 routes_id_of(const char *text)
{
	__u64 w[SOCKEYE_ROUTE_LEN / 8] = { 0 };

	memcpy(w, text, strnlen(text, SOCKEYE_ROUTE_LEN - 1));
	return route_hash_words(w);
}

int routes_build(const char *const *patterns, size_t n_patterns, const char *const *ignore,
		 size_t n_ignore, __u32 base, struct routes_trie *out)
{
	struct builder b = { 0 };
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!n_patterns && !n_ignore)
		return 0;
	b.nodes = calloc(16, sizeof(*b.nodes));
	if (!b.nodes)
		return -ENOMEM;
	b.cap_nodes = 16;
	b.n_nodes = 1; /* the root */
	for (size_t i = 0; i < n_ignore && !err; i++)
		err = add_pattern(&b, ignore[i], SOCKEYE_ROUTE_IGNORE, (__u16)i);
	for (size_t i = 0; i < n_patterns && !err; i++)
		err = add_pattern(&b, patterns[i], routes_id_of(patterns[i]), (__u16)(n_ignore + i));
	if (err)
		goto out;
	out->edges = calloc(b.n_edges ? b.n_edges : 1, sizeof(*out->edges));
	out->names = calloc(n_patterns ? n_patterns : 1, sizeof(*out->names));
	if (!out->edges || !out->names) {
		err = -ENOMEM;
		goto out;
	}
	out->root = node_out(&b, 0, base);
	for (size_t i = 0; i < b.n_edges; i++) {
		struct routes_edge *e = &out->edges[out->n_edges++];

		e->key.node = base + (__u32)b.edges[i].parent;
		e->key.kind = b.edges[i].kind;
		e->key.hash = b.edges[i].hash;
		e->child = node_out(&b, b.edges[i].child, base);
	}
	for (size_t i = 0; i < n_patterns; i++) {
		struct routes_name *nm = &out->names[out->n_names++];

		nm->route_id = routes_id_of(patterns[i]);
		memcpy(nm->text, patterns[i], strnlen(patterns[i], sizeof(nm->text) - 1));
	}
out:
	free(b.nodes);
	free(b.edges);
	if (err)
		routes_free(out);
	return err;
}

void routes_free(struct routes_trie *t)
{
	free(t->edges);
	free(t->names);
	memset(t, 0, sizeof(*t));
}
