// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_routes.c - http.routes: pattern checks, the trie routes.c builds, and the kernel's
 * route code (bpf/http.bpf.h) walking it request by request, with the maps it asks replaced by
 * this file's tables. Every unmatched mode on the same paths. */
#include <linux/types.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sockeye.h"

#include "route_maps.h"
#include "http.bpf.h"

/* Sets the trie (generation base) and the configuration. */
static void setup_routes(const char *const *patterns, size_t n, const char *const *ignore,
			 size_t n_ignore, __u32 unmatched, __u32 max_values, __u32 base)
{
	routes_free(&route_maps.trie);
	assert_int_equal(routes_build(patterns, n, ignore, n_ignore, base, &route_maps.trie), 0);
	memset(&route_maps.cfg, 0, sizeof(route_maps.cfg));
	route_maps.cfg.root = route_maps.trie.root;
	route_maps.cfg.unmatched = unmatched;
	route_maps.cfg.max_segment_values = max_values;
	route_maps.n_learnt = 0;
}

/* The http_route label of one request with this target, as the agent would export it:
 * "IGNORED" for an ignored path. */
static void route_of(const char *target, char *out, size_t size)
{
	char req[1024];
	struct http_parser p = { 0 };
	struct route_state r = { 0 };
	int ev = HE_NONE;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n", target);
	for (size_t i = 0; req[i] && ev == HE_NONE; i++)
		ev = http_step(&p, &r, req[i], 1);
	assert_int_equal(ev, HE_REQUEST);
	if (r.match_id == SOCKEYE_ROUTE_IGNORE) {
		snprintf(out, size, "IGNORED");
		return;
	}
	if (r.match_id) {
		for (size_t i = 0; i < route_maps.trie.n_names; i++)
			if (route_maps.trie.names[i].route_id == r.match_id) {
				snprintf(out, size, "%s", route_maps.trie.names[i].text);
				return;
			}
		fail_msg("%s: match_id %llx names no pattern", target,
			 (unsigned long long)r.match_id);
	}
	snprintf(out, size, "%s", r.out);
}

struct route_case {
	const char *target, *want;
};

static void expect_routes(const struct route_case *cases, size_t n)
{
	char got[256];

	for (size_t i = 0; i < n; i++) {
		route_of(cases[i].target, got, sizeof(got));
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("target %s: route %s, want %s", cases[i].target, got,
				 cases[i].want);
	}
}

static const char *const registry[] = {
	"/v2/{name...}/blobs/uploads/",
	"/v2/{name...}/blobs/{digest}",
	"/v2/{name...}/manifests/{reference}",
	"/users/{id}/orders/{order}",
	"/users/me",
	"/users/{id}",
	"/static/*",
	"/",
};
static const char *const ignored[] = { "/healthz", "/readyz", "/metrics", "/debug/*" };

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_patterns_match_first_in_list_order(void **state)
{
	static const struct route_case cases[] = {
		{ "/v2/library/ubuntu/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		  "/v2/{name...}/blobs/{digest}" },
		{ "/v2/team/app/web/manifests/v1.2.3", "/v2/{name...}/manifests/{reference}" },
		{ "/v2/x/blobs/uploads/", "/v2/{name...}/blobs/uploads/" },
		{ "/v2/x/blobs/uploads", "/v2/{name...}/blobs/{digest}" },
		{ "/v2/a/b/c/d/e/f/g/h/i/j/blobs/sha", "/v2/{name...}/blobs/{digest}" },
		{ "/users/42/orders/7?x=1#frag", "/users/{id}/orders/{order}" },
		{ "/users/me", "/users/me" },
		{ "/users/alice", "/users/{id}" },
		{ "/static/css/site.css", "/static/*" },
		{ "/static", "/static/*" },
		{ "/static/", "/static/*" },
		{ "/", "/" },
		{ "/?q=1", "/" },
		{ "http://example.com/users/7", "/users/{id}" },
	};

	(void)state;
	setup_routes(registry, N(registry), ignored, N(ignored), SOCKEYE_UNMATCHED_HEURISTIC, 10,
		     0);
	expect_routes(cases, N(cases));
}

static void test_unmatched_paths_follow_the_heuristic_by_default(void **state)
{
	static const struct route_case cases[] = {
		/* {name...} takes one segment at least: nothing is left for it here. */
		{ "/v2/blobs/sha", "/v2/blobs/sha" },
		/* {id} takes no empty segment. */
		{ "/users//orders/7", "/users//orders/{id}" },
		{ "/orders/123/items", "/orders/{id}/items" },
		{ "/users/42/orders/7/extra", "/users/{id}/orders/{id}/extra" },
	};

	(void)state;
	setup_routes(registry, N(registry), ignored, N(ignored), SOCKEYE_UNMATCHED_HEURISTIC, 10,
		     0);
	expect_routes(cases, N(cases));
}

static void test_ignored_paths_are_ignored_before_any_pattern(void **state)
{
	static const struct route_case cases[] = {
		{ "/healthz", "IGNORED" },
		{ "/healthz?verbose=1", "IGNORED" },
		{ "/metrics", "IGNORED" },
		{ "/debug/pprof/heap", "IGNORED" },
		{ "/healthz/deep", "/healthz/deep" },
	};
	static const char *const catch_all[] = { "/*" };

	(void)state;
	setup_routes(registry, N(registry), ignored, N(ignored), SOCKEYE_UNMATCHED_HEURISTIC, 10,
		     0);
	expect_routes(cases, N(cases));
	/* A pattern matching everything does not take what is ignored. */
	setup_routes(catch_all, 1, ignored, N(ignored), SOCKEYE_UNMATCHED_HEURISTIC, 10, 0);
	expect_routes(cases, 4);
}

static void test_each_unmatched_mode_on_the_same_paths(void **state)
{
	static const char *const pats[] = { "/users/{id}" };
	static const struct route_case heuristic[] = {
		{ "/users/7", "/users/{id}" },
		{ "/orders/123", "/orders/{id}" },
		{ "/search/red-shoes", "/search/red-shoes" },
	};
	static const struct route_case path[] = {
		{ "/users/7", "/users/{id}" },
		{ "/orders/123", "/orders/123" },
		{ "/search/red-shoes", "/search/red-shoes" },
	};
	static const struct route_case wildcard[] = {
		{ "/users/7", "/users/{id}" },
		{ "/orders/123", "/*" },
		{ "/search/red-shoes?page=2", "/*" },
	};

	(void)state;
	setup_routes(pats, 1, NULL, 0, SOCKEYE_UNMATCHED_HEURISTIC, 10, 0);
	expect_routes(heuristic, N(heuristic));
	setup_routes(pats, 1, NULL, 0, SOCKEYE_UNMATCHED_PATH, 10, 0);
	expect_routes(path, N(path));
	setup_routes(pats, 1, NULL, 0, SOCKEYE_UNMATCHED_WILDCARD, 10, 0);
	expect_routes(wildcard, N(wildcard));
}

static void test_low_cardinality_turns_a_crowded_position_into_a_star(void **state)
{
	static const struct route_case cases[] = {
		{ "/search/red", "/search/red" },
		{ "/search/green", "/search/green" },
		{ "/search/blue", "/search/blue" },
		{ "/search/yellow", "/search/{*}" },
		{ "/search/red", "/search/red" }, /* seen before: keeps its name */
		{ "/search/mauve/page", "/search/{*}/page" },
		{ "/users/1", "/users/{id}" },	  /* identifiers never count */
		{ "/users/2", "/users/{id}" },
		{ "/users/3", "/users/{id}" },
		{ "/users/4", "/users/{id}" },
		{ "/a/x", "/a/x" },		  /* another prefix has its own budget */
	};

	(void)state;
	setup_routes(NULL, 0, NULL, 0, SOCKEYE_UNMATCHED_LOW_CARDINALITY, 3, 0);
	expect_routes(cases, N(cases));
}

static void test_generations_and_no_patterns(void **state)
{
	static const struct route_case cases[] = {
		{ "/users/alice", "/users/{id}" },
		{ "/orders/9", "/orders/{id}" },
	};

	(void)state;
	/* The second generation's node ids carry the generation bit. */
	setup_routes(registry, N(registry), NULL, 0, SOCKEYE_UNMATCHED_HEURISTIC, 10,
		     SOCKEYE_ROUTE_GEN_BIT);
	assert_int_equal(route_maps.trie.root.id, SOCKEYE_ROUTE_GEN_BIT);
	for (size_t i = 0; i < route_maps.trie.n_edges; i++)
		assert_true(route_maps.trie.edges[i].key.node & SOCKEYE_ROUTE_GEN_BIT);
	expect_routes(cases, N(cases));
	/* No pattern: an empty trie, a root without flags, today's routes. */
	setup_routes(NULL, 0, NULL, 0, SOCKEYE_UNMATCHED_HEURISTIC, 10, 0);
	assert_int_equal(route_maps.trie.root.flags, 0);
	assert_int_equal(route_maps.trie.n_edges, 0);
	expect_routes(cases + 1, 1);
}

static void test_bad_patterns_say_why_and_where(void **state)
{
	static const struct {
		const char *p, *why_part;
		size_t at;
	} bad[] = {
		{ "users/{id}", "starts with '/'", 0 },
		{ "/users/{id", "not closed", 10 },
		{ "/v2/{a...}/x/{b...}", "only one {name...}", 13 },
		{ "/static/*/x", "last segment", 8 },
		{ "/a/b*", "whole segments", 4 },
		{ "/a/{}", "needs a name", 3 },
		{ "/a/{x}y", "whole segment", 6 },
		{ "/a?b", "no query", 2 },
	};
	static const char *const good[] = { "/", "/a", "/a/", "/{x}", "/{x...}", "/*",
					    "/a/{b_1}/{c...}/d/*", "/v1.2/x-y_z~" };
	size_t at;

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		const char *why = routes_check_pattern(bad[i].p, &at);

		if (!why || !strstr(why, bad[i].why_part) || at != bad[i].at)
			fail_msg("%s: why %s at %zu, want '%s' at %zu", bad[i].p,
				 why ? why : "(none)", at, bad[i].why_part, bad[i].at);
	}
	for (size_t i = 0; i < N(good); i++) {
		const char *why = routes_check_pattern(good[i], &at);

		if (why)
			fail_msg("%s: %s at %zu", good[i], why, at);
	}
	assert_non_null(routes_check_pattern(
		"/0123456789012345678901234567890123456789012345678901234567890123", &at));
}

static int teardown(void **state)
{
	(void)state;
	routes_free(&route_maps.trie);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns_match_first_in_list_order),
		cmocka_unit_test(test_unmatched_paths_follow_the_heuristic_by_default),
		cmocka_unit_test(test_ignored_paths_are_ignored_before_any_pattern),
		cmocka_unit_test(test_each_unmatched_mode_on_the_same_paths),
		cmocka_unit_test(test_low_cardinality_turns_a_crowded_position_into_a_star),
		cmocka_unit_test(test_generations_and_no_patterns),
		cmocka_unit_test(test_bad_patterns_say_why_and_where),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
