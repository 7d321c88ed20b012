// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_render_db.c - the database client families: render_db.c against exact exposition
 * text, promtool and prometheus_client; collect_db.c's merge and names; db.buckets and the
 * feature flags in config.c; db_ops.c's name rules. */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collect_db.h"
#include "collect_group.h"
#include "config.h"
#include "db_ops.h"
#include "render.h"
#include "render_db.h"
#include "render_group.h"
#include "testing.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PROMTOOL "/usr/bin/promtool"
#define SYSTEM_PYTHON "/usr/bin/python3"

static char tmpdir[] = "/tmp/test_render_db.XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct sockeye_identity shop = { .v = { [SOCKEYE_ID_SERVICE_NAME] = "shop" } };
static const struct sockeye_label static_labels[] = { { "zone", "eu" } };

/* Two bounds (1 ms, 2.5 ms) keep the expected text short. */
static struct sockeye_db_snapshot db_snap(void)
{
	static struct sockeye_db_op_series ops[4];
	static struct sockeye_db_cache_series cache[1];
	static struct sockeye_db_conn_series conns[2];
	struct sockeye_db_snapshot ds = { 0 };

	memset(ops, 0, sizeof(ops));
	/* GET: 3 operations, 2 under 1 ms, 1 above 2.5 ms. */
	ops[0] = (struct sockeye_db_op_series){ .system = SOCKEYE_DB_REDIS,
						.server_port = 6379,
						.op = "GET",
						.identity = &shop,
						.count = 3,
						.sum_ns = 3500000,
						.buckets = { 2, 0, 1 } };
	/* A WRONGTYPE error. */
	ops[1] = (struct sockeye_db_op_series){ .system = SOCKEYE_DB_REDIS,
						.error = SOCKEYE_DB_ERR_RESPONSE,
						.server_port = 6379,
						.op = "GET",
						.status = "WRONGTYPE",
						.identity = &shop,
						.count = 1,
						.sum_ns = 250000,
						.buckets = { 1, 0, 0 } };
	/* A name not in db_ops, answered ERR. */
	ops[2] = (struct sockeye_db_op_series){ .system = SOCKEYE_DB_REDIS,
						.error = SOCKEYE_DB_ERR_RESPONSE,
						.server_port = 6379,
						.status = "ERR",
						.count = 1,
						.sum_ns = 1000000,
						.buckets = { 1, 0, 0 } };
	/* A PostgreSQL statement outstanding when its connection closed. */
	ops[3] = (struct sockeye_db_op_series){ .system = SOCKEYE_DB_POSTGRESQL,
						.error = SOCKEYE_DB_ERR_CLOSED,
						.server_port = 5432,
						.op = "SELECT",
						.count = 1,
						.sum_ns = 2000000,
						.buckets = { 0, 1, 0 } };
	cache[0] = (struct sockeye_db_cache_series){ .system = SOCKEYE_DB_REDIS,
						     .server_port = 6379,
						     .op = "MGET",
						     .identity = &shop,
						     .hits = 2,
						     .misses = 1 };
	conns[0] = (struct sockeye_db_conn_series){ .system = SOCKEYE_DB_REDIS,
						    .server_port = 6379,
						    .identity = &shop,
						    .open = 5,
						    .used = 2 };
	/* A scrape between a close's adds on two CPUs: used above open, open below 0. */
	conns[1] = (struct sockeye_db_conn_series){ .system = SOCKEYE_DB_POSTGRESQL,
						    .server_port = 5432,
						    .open = -1,
						    .used = 1 };
	ds.ops = ops;
	ds.n_ops = ARRAY_SIZE(ops);
	ds.cache = cache;
	ds.n_cache = ARRAY_SIZE(cache);
	ds.conns = conns;
	ds.n_conns = ARRAY_SIZE(conns);
	ds.bounds_ns[0] = 1000000;
	ds.bounds_ns[1] = 2500000;
	ds.n_bounds = 2;
	ds.stats[SOCKEYE_DB_REDIS][SOCKEYE_DB_STAT_PIPELINE_FULL] = 7;
	ds.stats[SOCKEYE_DB_POSTGRESQL][SOCKEYE_DB_STAT_IGNORED] = 1;
	return ds;
}

#define DUR "db_client_operation_duration_seconds"
#define GET_L "db_system_name=\"redis\",db_operation_name=\"GET\","
#define SHOP_EU "service_name=\"shop\",zone=\"eu\""

static const char want_text[] =
	"# HELP " DUR " Duration of database client operations: request sent to the end of its "
	"response, by operation name (Redis command, PostgreSQL statement keyword).\n"
	"# TYPE " DUR " histogram\n"
	DUR "_bucket{" GET_L "server_port=\"6379\"," SHOP_EU ",le=\"0.001\"} 2\n"
	DUR "_bucket{" GET_L "server_port=\"6379\"," SHOP_EU ",le=\"0.0025\"} 2\n"
	DUR "_bucket{" GET_L "server_port=\"6379\"," SHOP_EU ",le=\"+Inf\"} 3\n"
	DUR "_sum{" GET_L "server_port=\"6379\"," SHOP_EU "} 0.0035\n"
	DUR "_count{" GET_L "server_port=\"6379\"," SHOP_EU "} 3\n"
	DUR "_bucket{" GET_L "db_response_status_code=\"WRONGTYPE\",error_type=\"WRONGTYPE\","
	"server_port=\"6379\"," SHOP_EU ",le=\"0.001\"} 1\n"
	DUR "_bucket{" GET_L "db_response_status_code=\"WRONGTYPE\",error_type=\"WRONGTYPE\","
	"server_port=\"6379\"," SHOP_EU ",le=\"0.0025\"} 1\n"
	DUR "_bucket{" GET_L "db_response_status_code=\"WRONGTYPE\",error_type=\"WRONGTYPE\","
	"server_port=\"6379\"," SHOP_EU ",le=\"+Inf\"} 1\n"
	DUR "_sum{" GET_L "db_response_status_code=\"WRONGTYPE\",error_type=\"WRONGTYPE\","
	"server_port=\"6379\"," SHOP_EU "} 0.00025\n"
	DUR "_count{" GET_L "db_response_status_code=\"WRONGTYPE\",error_type=\"WRONGTYPE\","
	"server_port=\"6379\"," SHOP_EU "} 1\n"
	DUR "_bucket{db_system_name=\"redis\",db_operation_name=\"_OTHER\","
	"db_response_status_code=\"ERR\",error_type=\"ERR\",server_port=\"6379\",zone=\"eu\","
	"le=\"0.001\"} 1\n"
	DUR "_bucket{db_system_name=\"redis\",db_operation_name=\"_OTHER\","
	"db_response_status_code=\"ERR\",error_type=\"ERR\",server_port=\"6379\",zone=\"eu\","
	"le=\"0.0025\"} 1\n"
	DUR "_bucket{db_system_name=\"redis\",db_operation_name=\"_OTHER\","
	"db_response_status_code=\"ERR\",error_type=\"ERR\",server_port=\"6379\",zone=\"eu\","
	"le=\"+Inf\"} 1\n"
	DUR "_sum{db_system_name=\"redis\",db_operation_name=\"_OTHER\","
	"db_response_status_code=\"ERR\",error_type=\"ERR\",server_port=\"6379\",zone=\"eu\"} "
	"0.001\n"
	DUR "_count{db_system_name=\"redis\",db_operation_name=\"_OTHER\","
	"db_response_status_code=\"ERR\",error_type=\"ERR\",server_port=\"6379\",zone=\"eu\"} 1\n"
	DUR "_bucket{db_system_name=\"postgresql\",db_operation_name=\"SELECT\","
	"error_type=\"connection_closed\",server_port=\"5432\",zone=\"eu\",le=\"0.001\"} 0\n"
	DUR "_bucket{db_system_name=\"postgresql\",db_operation_name=\"SELECT\","
	"error_type=\"connection_closed\",server_port=\"5432\",zone=\"eu\",le=\"0.0025\"} 1\n"
	DUR "_bucket{db_system_name=\"postgresql\",db_operation_name=\"SELECT\","
	"error_type=\"connection_closed\",server_port=\"5432\",zone=\"eu\",le=\"+Inf\"} 1\n"
	DUR "_sum{db_system_name=\"postgresql\",db_operation_name=\"SELECT\","
	"error_type=\"connection_closed\",server_port=\"5432\",zone=\"eu\"} 0.002\n"
	DUR "_count{db_system_name=\"postgresql\",db_operation_name=\"SELECT\","
	"error_type=\"connection_closed\",server_port=\"5432\",zone=\"eu\"} 1\n"
	"# HELP db_client_connections Database client connections open to a server, by "
	"state: used (an operation in flight or, for PostgreSQL, a transaction open) or idle.\n"
	"# TYPE db_client_connections gauge\n"
	"db_client_connections{db_system_name=\"redis\",server_port=\"6379\","
	"db_client_connection_state=\"idle\"," SHOP_EU "} 3\n"
	"db_client_connections{db_system_name=\"redis\",server_port=\"6379\","
	"db_client_connection_state=\"used\"," SHOP_EU "} 2\n"
	"db_client_connections{db_system_name=\"postgresql\",server_port=\"5432\","
	"db_client_connection_state=\"idle\",zone=\"eu\"} 0\n"
	"db_client_connections{db_system_name=\"postgresql\",server_port=\"5432\","
	"db_client_connection_state=\"used\",zone=\"eu\"} 0\n"
	"# HELP sockeye_db_client_cache_lookups_total Keys and fields looked up by database "
	"client read commands, by result: hit (a value) or miss (nil).\n"
	"# TYPE sockeye_db_client_cache_lookups_total counter\n"
	"sockeye_db_client_cache_lookups_total{db_system_name=\"redis\",db_operation_name=\"MGET\","
	"result=\"hit\",server_port=\"6379\"," SHOP_EU "} 2\n"
	"sockeye_db_client_cache_lookups_total{db_system_name=\"redis\",db_operation_name=\"MGET\","
	"result=\"miss\",server_port=\"6379\"," SHOP_EU "} 1\n";

#define EV(sys, ev, v)                                                                             \
	"x_db_parser_events_total{db_system_name=\"" sys "\",event=\"" ev "\",zone=\"eu\"} " v "\n"

static const char want_self[] =
	"# HELP x_db_parser_events_total Operations, replies and connections the kernel database "
	"client parsers did not count, by system and event.\n"
	"# TYPE x_db_parser_events_total counter\n"
	EV("redis", "pipeline_full", "7") EV("redis", "unmatched_reply", "0")
	EV("redis", "desync", "0") EV("redis", "gap", "0") EV("redis", "map_full", "0")
	EV("redis", "storage_fail", "0") EV("redis", "connection_ignored", "0")
	EV("postgresql", "pipeline_full", "0") EV("postgresql", "unmatched_reply", "0")
	EV("postgresql", "desync", "0") EV("postgresql", "gap", "0")
	EV("postgresql", "map_full", "0") EV("postgresql", "storage_fail", "0")
	EV("postgresql", "connection_ignored", "1");

/* A render section of render.c over a snapshot that holds only ds (prefix "x_"). */
static void db_render(const struct expo *w, const struct sockeye_db_snapshot *ds,
		      void (*section)(const struct render_ctx *))
{
	const struct sockeye_snapshot snap = { .db = (struct sockeye_db_snapshot *)ds };
	const struct render_ctx c = { .snap = &snap, .self_prefix = "x_", .w = *w };

	section(&c);
}

static void test_families_render_exactly(void **state)
{
	struct sockeye_db_snapshot ds = db_snap();
	struct sockeye_buf b;
	struct expo w = { .static_labels = static_labels, .n_static_labels = 1 };

	(void)state;
	buf_init(&b);
	w.out = &b;
	db_render(&w, &ds, render_db);
	assert_int_equal(b.err, 0);
	expect_str("render_db", b.data, want_text);
	buf_free(&b);

	buf_init(&b);
	w.out = &b;
	db_render(&w, &ds, render_db_self);
	expect_str("render_db_self", b.data, want_self);
	buf_free(&b);

	/* No db snapshot (every system off): nothing at all. */
	buf_init(&b);
	w.out = &b;
	db_render(&w, NULL, render_db);
	db_render(&w, NULL, render_db_self);
	assert_int_equal(b.len, 0);
	buf_free(&b);

	/* OpenMetrics: the counter family is named without _total, its samples keep it. */
	buf_init(&b);
	w.out = &b;
	w.openmetrics = 1;
	db_render(&w, &ds, render_db);
	assert_non_null(strstr(b.data, "# TYPE sockeye_db_client_cache_lookups counter\n"
					"sockeye_db_client_cache_lookups_total{"));
	buf_free(&b);
}

#define PY_CHECK                                                                                   \
	"import sys\n"                                                                             \
	"from prometheus_client.parser import text_string_to_metric_families as text\n"           \
	"from prometheus_client.openmetrics.parser import text_string_to_metric_families as om\n" \
	"parse = om if sys.argv[2] == \"om\" else text\n"                                         \
	"fams = list(parse(open(sys.argv[1]).read()))\n"                                           \
	"db = [f for f in fams if \"db_\" in f.name]\n"                                            \
	"print(\" \".join(\"%%s:%%s:%%d\" %% (f.name, f.type, len(f.samples)) for f in db))\n"

/* The whole exposition (render_text) with the db families: both parsers accept it. */
static void test_families_pass_promtool_and_prometheus_client(void **state)
{
	static const char *const want[] = {
		"db_client_operation_duration_seconds:histogram:20 "
		"db_client_connections:gauge:4 "
		"sockeye_db_client_cache_lookups:counter:2 "
		"sockeye_db_parser_events:counter:14\n",
		"db_client_operation_duration_seconds:histogram:20 "
		"db_client_connections:gauge:4 "
		"sockeye_db_client_cache_lookups:counter:2 "
		"sockeye_db_parser_events:counter:14\n",
	};
	struct sockeye_db_snapshot ds = db_snap();
	struct sockeye_snapshot snap;
	struct sockeye_buf b;
	const char *fmts[] = { "text", "om" };
	char out[4096], *cmd, *path;
	int rc;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		memset(&snap, 0, sizeof(snap));
		snap.db = &ds;
		snap.static_labels = static_labels;
		snap.n_static_labels = ARRAY_SIZE(static_labels);
		buf_init(&b);
		assert_int_equal(render_text(&snap, i ? RENDER_OPENMETRICS : RENDER_TEXT_004, &b), 0);
		path = write_file(tmpdir, i ? "d.om" : "d.prom", b.data);
		buf_free(&b);
		if (i == 0) {
			assert_true(asprintf(&cmd, PROMTOOL " check metrics < %s 2>&1", path) > 0);
			rc = run_cmd(cmd, out, sizeof(out));
			free(cmd);
			if (rc != 0 || out[0])
				fail_msg("promtool check metrics (exit %d):\n%s", rc, out);
		}
		assert_true(asprintf(&cmd, "%s -c '" PY_CHECK "' %s %s 2>&1", SYSTEM_PYTHON, path,
				     fmts[i]) > 0);
		rc = run_cmd(cmd, out, sizeof(out));
		free(cmd);
		if (rc != 0 || strcmp(out, want[i]) != 0)
			fail_msg("prometheus_client (%s, exit %d):\n%s\nwant:\n%s", fmts[i], rc, out,
				 want[i]);
		free(path);
	}
}

/* Series that differ only in cgroup (not a label) are summed; the rest stay apart. */
static void test_merge_sums_equal_labels_only(void **state)
{
	struct sockeye_db_op_series ops[3] = {
		{ .system = 1, .server_port = 6379, .op = "SET", .cgroup_id = 1, .count = 2,
		  .sum_ns = 10, .buckets = { 2 } },
		{ .system = 1, .server_port = 6379, .op = "GET", .cgroup_id = 1, .count = 1,
		  .sum_ns = 5, .buckets = { 0, 1 } },
		{ .system = 1, .server_port = 6379, .op = "SET", .cgroup_id = 2, .count = 3,
		  .sum_ns = 20, .buckets = { 1, 2 } },
	};
	struct sockeye_db_cache_series cache[2] = {
		{ .system = 1, .server_port = 6379, .op = "GET", .cgroup_id = 1, .hits = 1 },
		{ .system = 1, .server_port = 6379, .op = "GET", .cgroup_id = 2, .misses = 4 },
	};
	struct sockeye_db_conn_series conns[3] = {
		{ .system = 1, .server_port = 6379, .cgroup_id = 1, .open = 2, .used = 1 },
		{ .system = 2, .server_port = 5432, .cgroup_id = 1, .open = 1 },
		{ .system = 1, .server_port = 6379, .cgroup_id = 3, .open = 1, .used = 1 },
	};
	struct sockeye_db_snapshot ds = { .ops = ops, .n_ops = 3, .cache = cache, .n_cache = 2,
					  .conns = conns, .n_conns = 3 };
	struct sockeye_snapshot snap = { .db = &ds };

	(void)state;
	collect_group_db.merge(&snap);
	assert_int_equal(ds.n_ops, 2);
	assert_string_equal(ds.ops[0].op, "GET");
	assert_string_equal(ds.ops[1].op, "SET");
	assert_int_equal(ds.ops[1].count, 5);
	assert_int_equal(ds.ops[1].sum_ns, 30);
	assert_int_equal(ds.ops[1].buckets[0], 3);
	assert_int_equal(ds.ops[1].buckets[1], 2);
	assert_int_equal(ds.n_cache, 1);
	assert_int_equal(ds.cache[0].hits, 1);
	assert_int_equal(ds.cache[0].misses, 4);
	assert_int_equal(ds.n_conns, 2);
	assert_int_equal(ds.conns[0].system, 1);
	assert_int_equal(ds.conns[0].open, 3);
	assert_int_equal(ds.conns[0].used, 2);
	assert_int_equal(ds.conns[1].system, 2);
}

/* A kernel name field: 16 bytes used to the brim, or with bytes that are not UTF-8. */
static void test_name_fields_become_utf8_label_values(void **state)
{
	char out[SOCKEYE_DB_NAME_STR];

	(void)state;
	collect_db_name("ZREVRANGEBYSCORE", out); /* exactly 16 bytes, unterminated */
	assert_string_equal(out, "ZREVRANGEBYSCORE");
	collect_db_name("GET\0\0\0\0\0\0\0\0\0\0\0\0", out);
	assert_string_equal(out, "GET");
	collect_db_name("ERR\xff\xfe" "X\0\0\0\0\0\0\0\0\0", out);
	assert_string_equal(out, "ERR??X");
}

static void test_op_names_are_checked_before_registering(void **state)
{
	size_t longest = 0;

	(void)state;
	assert_true(db_ops_valid_name("GET"));
	assert_true(db_ops_valid_name("RESTORE-ASKING"));
	assert_true(db_ops_valid_name("ZREVRANGEBYSCORE"));
	assert_false(db_ops_valid_name("GEORADIUSBYMEMBER")); /* 17 bytes */
	assert_false(db_ops_valid_name("get"));
	assert_false(db_ops_valid_name(""));
	assert_false(db_ops_valid_name("A\"B"));
	/* The Redis table: every name registers, and the usual ones are in it. */
	for (size_t i = 0; i < db_n_redis_commands; i++) {
		assert_true(db_ops_valid_name(db_redis_commands[i]));
		if (strlen(db_redis_commands[i]) > longest)
			longest = strlen(db_redis_commands[i]);
	}
	assert_true(longest <= SOCKEYE_DB_NAME_LEN);
	assert_true(db_n_redis_commands > 200 && db_n_redis_commands < SOCKEYE_DB_OPS_ENTRIES / 2);
	for (const char *const *n = (const char *const[]){ "GET", "SET", "MGET", "HGET", "EVALSHA",
							    "MULTI", "EXEC", "DEBUG", NULL };
	     *n; n++) {
		size_t i;

		for (i = 0; i < db_n_redis_commands; i++)
			if (strcmp(db_redis_commands[i], *n) == 0)
				break;
		if (i == db_n_redis_commands)
			fail_msg("%s missing from db_redis_commands", *n);
	}
}

/* Loads yaml as a config file; returns the error and stderr's text. */
static int load(const char *yaml, struct sockeye_config *cfg, char **err)
{
	char *path = write_file(tmpdir, "c.yaml", yaml);
	struct capture c;
	char *out;
	int rc;

	config_defaults(cfg);
	cfg->config_file = path;
	capture_start(&c);
	rc = config_load_file(cfg);
	capture_end(&c, &out, err);
	free(out);
	free(path);
	cfg->config_file = NULL;
	return rc;
}

static void test_db_buckets_default_and_configured(void **state)
{
	static const uint64_t def[] = { 500000,	   1000000,    2500000,	  5000000,   10000000,
					25000000,  50000000,   100000000, 250000000, 500000000,
					1000000000, 2500000000, 5000000000, 10000000000 };
	struct sockeye_config cfg;
	char *err;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.n_db_bounds, ARRAY_SIZE(def));
	assert_memory_equal(cfg.db_bounds_ns, def, sizeof(def));
	config_free(&cfg);

	assert_int_equal(load("db:\n  buckets: [0.0001, 0.002, 1]\n", &cfg, &err), 0);
	free(err);
	assert_int_equal(cfg.n_db_bounds, 3);
	assert_int_equal(cfg.db_bounds_ns[0], 100000);
	assert_int_equal(cfg.db_bounds_ns[1], 2000000);
	assert_int_equal(cfg.db_bounds_ns[2], 1000000000);
	assert_int_equal(cfg.n_bounds, 14); /* the HTTP buckets are not touched */
	config_free(&cfg);

	assert_int_not_equal(load("db:\n  buckets: [0.002, 0.001]\n", &cfg, &err), 0);
	if (!strstr(err, "2:20: db.buckets: 0.001 is not above the bound before it"))
		fail_msg("got: %s", err);
	free(err);
	config_free(&cfg);
	assert_int_not_equal(load("db:\n  bucket: [1]\n", &cfg, &err), 0);
	assert_non_null(strstr(err, "2:3: db: unknown key 'bucket' (expected buckets)"));
	free(err);
	config_free(&cfg);
}

static void test_feature_flags(void **state)
{
	struct sockeye_config cfg;
	char *argv[] = { "sockeye", "--redis.disable", "--postgresql.disable", NULL };
	char *argv2[] = { "sockeye", NULL };

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_parse_args(&cfg, 3, argv), 0);
	assert_true(cfg.redis_disable);
	assert_true(cfg.postgresql_disable);
	config_free(&cfg);
	config_defaults(&cfg);
	assert_int_equal(config_parse_args(&cfg, 1, argv2), 0);
	assert_false(cfg.redis_disable);
	assert_false(cfg.postgresql_disable);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families_render_exactly),
		cmocka_unit_test(test_families_pass_promtool_and_prometheus_client),
		cmocka_unit_test(test_merge_sums_equal_labels_only),
		cmocka_unit_test(test_name_fields_become_utf8_label_values),
		cmocka_unit_test(test_op_names_are_checked_before_registering),
		cmocka_unit_test(test_db_buckets_default_and_configured),
		cmocka_unit_test(test_feature_flags),
	};

	return cmocka_run_group_tests_name("render_db", tests, setup, teardown);
}
