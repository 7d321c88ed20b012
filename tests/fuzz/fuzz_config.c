// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* fuzz_config.c - libFuzzer target: the agent config file (config_load_file, YAML). Invariants:
 * a failed load leaves the configuration as it was; an accepted one has ascending bounds within
 * their arrays, capacities above 0, cgroup paths starting with '/', identity rules naming a
 * service; and what it configures renders as valid exposition text (static labels and the
 * metric prefix on every family, the bounds as le), checked by fuzz.h's expo_check. */
#include "fuzz.h"

#include <errno.h>

#include "buf.h"
#include "config.h"
#include "render.h"

static struct sockeye_identity id = {.v = {"svc"}};

static void render_with(const struct sockeye_config *cfg)
{
	struct sockeye_http_series http = {
		.role = SOCKEYE_ROLE_SERVER,
		.method = SOCKEYE_METHOD_GET,
		.version = SOCKEYE_VERSION_1_1,
		.status = 200,
		.server_port = 8080,
		.identity = &id,
		.route = "/users/{id}",
		.count = 3,
		.sum_ns = 12345,
		.buckets = {1, 1, 1},
		.req_size = {.count = 1, .sum = 10, .buckets = {1}},
		.resp_size = {.count = 1, .sum = 1000, .buckets = {0, 1}},
	};
	struct sockeye_conn_series conn = {
		.side = SOCKEYE_ROLE_SERVER,
		.server_port = 8080,
		.identity = &id,
		.v = {.opened = 2, .closed = 1, .req_started = {0, 3}, .req_ended = {0, 3}},
	};
	struct sockeye_snapshot snap = {
		.http = &http,
		.n_http = 1,
		.conns = &conn,
		.n_conns = 1,
		.n_rtt_bounds = 2,
		.rtt_bounds_us = {100, 1000},
		.static_labels = cfg->labels,
		.n_static_labels = cfg->n_labels,
		.self_prefix = cfg->self_prefix,
		.version = "1",
		.revision = "r",
		.scrape_duration_seconds = 0.001,
	};

	memcpy(snap.bounds_ns, cfg->bounds_ns, sizeof(snap.bounds_ns));
	snap.n_bounds = cfg->n_bounds;
	memcpy(snap.size_bounds, cfg->size_bounds, sizeof(snap.size_bounds));
	snap.n_size_bounds = cfg->n_size_bounds;
	for (int fmt = RENDER_TEXT_004; fmt <= RENDER_OPENMETRICS; fmt++) {
		struct sockeye_buf b;

		buf_init(&b);
		CHECK(render_text(&snap, fmt, &b) == 0, "render_text failed");
		expo_check(b.data, b.len, fmt == RENDER_OPENMETRICS);
		buf_free(&b);
	}
}

static void check_bounds(const uint64_t *b, size_t n, size_t max, const char *what)
{
	CHECK(n >= 1 && n <= max, "%zu %s bounds", n, what);
	for (size_t i = 0; i < n; i++)
		CHECK(b[i] > 0 && (i == 0 || b[i] > b[i - 1]), "%s bound %zu not ascending", what,
		      i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[512];
	struct sockeye_config cfg, before;
	int err;

	if (!path[0])
		snprintf(path, sizeof(path), "%s/agent.yaml", fuzz_tmpdir("config"));
	write_file(path, data, size);
	config_defaults(&cfg);
	cfg.config_file = path;
	before = cfg;
	err = config_load_file(&cfg);
	if (err) {
		CHECK(err == -EINVAL || err == -ENOMEM || err == -EFBIG, "error %d", err);
		CHECK(!memcmp(&before, &cfg, sizeof(cfg)), "a failed load changed the config");
		config_free(&cfg);
		return 0;
	}
	check_bounds(cfg.bounds_ns, cfg.n_bounds, SOCKEYE_MAX_BUCKETS, "duration");
	check_bounds(cfg.size_bounds, cfg.n_size_bounds, SOCKEYE_SIZE_BOUNDS, "size");
	CHECK(cfg.route_capacity > 0 && cfg.series_capacity > 0, "a capacity of 0");
	CHECK(cfg.n_include_ports <= CONFIG_MAX_PORTS && cfg.n_exclude_ports <= CONFIG_MAX_PORTS,
	      "too many ports");
	CHECK(cfg.n_include_cgroups <= CONFIG_MAX_PORTS && cfg.n_exclude_cgroups <= CONFIG_MAX_PORTS,
	      "too many cgroups");
	for (size_t i = 0; i < cfg.n_include_cgroups; i++)
		CHECK(cfg.include_cgroups[i][0] == '/', "cgroup %s", cfg.include_cgroups[i]);
	for (size_t i = 0; i < cfg.n_exclude_cgroups; i++)
		CHECK(cfg.exclude_cgroups[i][0] == '/', "cgroup %s", cfg.exclude_cgroups[i]);
	CHECK(cfg.n_labels <= CONFIG_MAX_LABELS, "%zu labels", cfg.n_labels);
	CHECK(cfg.n_rules <= CONFIG_MAX_RULES, "%zu rules", cfg.n_rules);
	for (size_t i = 0; i < cfg.n_rules; i++) {
		const struct sockeye_identity_rule *r = &cfg.rules[i];

		CHECK(r->service_name && r->service_name[0], "rule %zu without a service name", i);
		CHECK(strlen(r->service_name) < SOCKEYE_ID_VALUE_LEN, "rule %zu name too long", i);
		CHECK(r->exe || r->cgroup || r->port, "rule %zu matches everything", i);
	}
	render_with(&cfg);
	config_free(&cfg);
	return 0;
}
