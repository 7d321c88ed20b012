// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* test_funcs.c - function metrics without a kernel: the functions: section (what is rejected,
 * where, and why; what an accepted one becomes), finding symbols and USDT probes in real ELF
 * files, the probe point, string labels cut by the kernel, and the exposition of the
 * families (exact text, promtool, prometheus_client). */
#include "testing.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/sdt.h>
#include <sys/stat.h>

#include <linux/types.h>

#include "collect_funcs.h"
#include "config.h"
#include "funcs_elf.h"
#include "funcs_snapshot.h"
#include "render.h"

#define PROMTOOL "/usr/bin/promtool"
#define SYSTEM_PYTHON "/usr/bin/python3"

static char tmpdir[] = "/tmp/test_funcs.XXXXXX";
static char self_exe[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir) || chdir(tmpdir) || !realpath("/proc/self/exe", self_exe))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Loads yaml as f.yaml (relative: messages start "f.yaml:") into cfg; returns the error and
 * what went to stderr. */
static int load(const char *yaml, struct sockeye_config *cfg, char **err)
{
	struct capture cap;
	char *out, *path = write_file(".", "f.yaml", yaml);
	int ret;

	free(path);
	config_defaults(cfg);
	cfg->config_file = "f.yaml";
	capture_start(&cap);
	ret = config_load_file(cfg);
	capture_end(&cap, &out, err);
	free(out);
	return ret;
}

/* ---- the functions: section --------------------------------------------------------------- */

struct reject_case {
	const char *name;
	const char *yaml;
	const char *want; /* stderr, exactly */
};

static const struct reject_case rejects[] = {
	{ "unknown key",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    colour: red\n",
	  "f.yaml:6:5: functions[]: unknown key 'colour' (expected metric, type, binary, symbol, usdt, buckets, max_series, labels, help or value)\n" },
	{ "neither symbol nor usdt",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n",
	  "f.yaml:2:5: functions[]: give exactly one of 'symbol' and 'usdt'\n" },
	{ "both symbol and usdt",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    usdt: \"shopd:x\"\n",
	  "f.yaml:5:13: functions[]: give exactly one of 'symbol' and 'usdt'\n" },
	{ "metric missing",
	  "functions:\n"
	  "  - type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:5: functions[]: 'metric' is missing\n" },
	{ "binary missing",
	  "functions:\n"
	  "  - metric: a_total\n"
	  "    type: counter\n"
	  "    symbol: main\n",
	  "f.yaml:2:5: functions[]: 'binary' is missing\n" },
	{ "type not counter or histogram",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: gauge\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:3:11: functions[].type: 'gauge' is not counter or histogram\n" },
	{ "metric starts with a digit",
	  "functions:\n"
	  "  - metric: 9shop_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:13: functions[].metric: '9shop_total': not a valid metric name: must match [a-zA-Z_][a-zA-Z0-9_]*\n" },
	{ "metric with a dash",
	  "functions:\n"
	  "  - metric: shop-calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:13: functions[].metric: 'shop-calls_total': not a valid metric name: must match [a-zA-Z_][a-zA-Z0-9_]*\n" },
	{ "metric with a colon",
	  "functions:\n"
	  "  - metric: shop:calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:13: functions[].metric: 'shop:calls_total': not a valid metric name here: ':' is reserved for recording rules\n" },
	{ "metric starting with __",
	  "functions:\n"
	  "  - metric: __shop_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:13: functions[].metric: '__shop_total': names starting with '__' are reserved for Prometheus\n" },
	{ "counter not ending in _total",
	  "functions:\n"
	  "  - metric: shop_calls\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:13: functions[].metric: 'shop_calls': a counter's name must end in _total\n" },
	{ "counter named _total",
	  "functions:\n"
	  "  - metric: _total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:13: functions[].metric: '_total': a counter's name must end in _total\n" },
	{ "histogram ending in _total",
	  "functions:\n"
	  "  - metric: shop_seconds_total\n"
	  "    type: histogram\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:13: functions[].metric: 'shop_seconds_total': a histogram's name must not end in _total, _bucket, _count or _sum\n" },
	{ "histogram ending in _count",
	  "functions:\n"
	  "  - metric: shop_seconds_count\n"
	  "    type: histogram\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:13: functions[].metric: 'shop_seconds_count': a histogram's name must not end in _total, _bucket, _count or _sum\n" },
	{ "metric in http_server_",
	  "functions:\n"
	  "  - metric: http_server_things_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:13: functions[].metric: 'http_server_things_total': names starting with http_server_, http_client_, process_ or service_process_ are sockeye's own families\n" },
	{ "metric with sockeye's prefix",
	  "functions:\n"
	  "  - metric: sockeye_things_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:2:13: functions[].metric: 'sockeye_things_total': names starting with 'sockeye_' (metric_prefix) are sockeye's own families\n" },
	{ "metric with a custom metric_prefix",
	  "functions:\n"
	  "  - metric: agent_things_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "metric_prefix: agent_\n",
	  "f.yaml:2:13: functions[].metric: 'agent_things_total': names starting with 'agent_' (metric_prefix) are sockeye's own families\n" },
	{ "metric declared twice",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:6:13: functions[].metric: 'shop_calls_total' declared twice (first at line 2)\n" },
	{ "relative binary",
	  "functions:\n"
	  "  - metric: a_total\n"
	  "    type: counter\n"
	  "    binary: bin/true\n"
	  "    symbol: main\n",
	  "f.yaml:4:13: functions[].binary: 'bin/true' must be an absolute path\n" },
	{ "usdt without provider",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    usdt: request_done\n",
	  "f.yaml:5:11: functions[].usdt: 'request_done' is not \"provider:name\"\n" },
	{ "usdt with two colons",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    usdt: \"a:b:c\"\n",
	  "f.yaml:5:11: functions[].usdt: 'a:b:c' is not \"provider:name\"\n" },
	{ "from arg7",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg7\n"
	  "        type: int\n",
	  "f.yaml:8:15: functions[].labels[].from: 'arg7' is not arg1..arg6 or return (x86-64 passes 6 arguments in registers)\n" },
	{ "from arg0",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg0\n"
	  "        type: int\n",
	  "f.yaml:8:15: functions[].labels[].from: 'arg0' is not arg1..arg6 or return (x86-64 passes 6 arguments in registers)\n" },
	{ "string label from the return value",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: return\n"
	  "        type: string\n",
	  "f.yaml:9:15: functions[].labels[]: a string label cannot come from the return value (only arguments are read as strings, at entry)\n" },
	{ "return label of a usdt probe",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    usdt: \"shopd:x\"\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: return\n"
	  "        type: int\n",
	  "f.yaml:8:15: functions[].labels[].from: a USDT probe has no return value\n" },
	{ "label type unknown",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg1\n"
	  "        type: float\n",
	  "f.yaml:9:15: functions[].labels[].type: 'float' is not int, long or string\n" },
	{ "label name invalid",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: 1x\n"
	  "        from: arg1\n"
	  "        type: int\n",
	  "f.yaml:7:15: functions[].labels[].name: bad label name '1x': must match [a-zA-Z_][a-zA-Z0-9_]*\n" },
	{ "label name le",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: le\n"
	  "        from: arg1\n"
	  "        type: int\n",
	  "f.yaml:7:15: functions[].labels[].name: bad label name 'le': sockeye sets this label itself\n" },
	{ "label name service_name",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: service_name\n"
	  "        from: arg1\n"
	  "        type: int\n",
	  "f.yaml:7:15: functions[].labels[].name: bad label name 'service_name': sockeye sets this label itself\n" },
	{ "label listed twice",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg1\n"
	  "        type: int\n"
	  "      - name: x\n"
	  "        from: arg2\n"
	  "        type: int\n",
	  "f.yaml:10:15: functions[].labels[].name: 'x' listed twice\n" },
	{ "label also a static label",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: env\n"
	  "        from: arg1\n"
	  "        type: int\n"
	  "labels:\n"
	  "  env: prod\n",
	  "f.yaml:8:15: functions[].labels[]: 'env' is also a static label (labels:)\n" },
	{ "label without from",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        type: int\n",
	  "f.yaml:7:9: functions[].labels[]: 'from' is missing\n" },
	{ "label unknown key",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg1\n"
	  "        type: int\n"
	  "        map: {}\n",
	  "f.yaml:10:9: functions[].labels[]: unknown key 'map' (expected name, from, type or values)\n" },
	{ "values on a string label",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg1\n"
	  "        type: string\n"
	  "        values: {0: a}\n",
	  "f.yaml:10:17: functions[].labels[].values: only for int and long labels\n" },
	{ "values key not an integer",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg1\n"
	  "        type: int\n"
	  "        values: {zero: a}\n",
	  "f.yaml:10:18: functions[].labels[].values: 'zero' is not a decimal integer\n" },
	{ "values key beyond 32 bits",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg1\n"
	  "        type: int\n"
	  "        values: {4294967296: a}\n",
	  "f.yaml:10:18: functions[].labels[].values: 4294967296 does not fit a 32-bit int (use type: long)\n" },
	{ "values key listed twice",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg1\n"
	  "        type: long\n"
	  "        values: {1: a, -1: b, 1: c}\n",
	  "f.yaml:10:31: functions[].labels[].values: duplicate key '1' (first at line 10)\n" },
	{ "values name empty",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg1\n"
	  "        type: int\n"
	  "        values: {1: \"\"}\n",
	  "f.yaml:10:21: functions[].labels[].values.1: empty name (an empty label is no label)\n" },
	{ "five labels",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: l0\n"
	  "        from: arg1\n"
	  "        type: int\n"
	  "      - name: l1\n"
	  "        from: arg2\n"
	  "        type: int\n"
	  "      - name: l2\n"
	  "        from: arg3\n"
	  "        type: int\n"
	  "      - name: l3\n"
	  "        from: arg4\n"
	  "        type: int\n"
	  "      - name: l4\n"
	  "        from: arg5\n"
	  "        type: int\n",
	  "f.yaml:19:9: functions[].labels: more than 4 labels\n" },
	{ "three string labels",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    labels:\n"
	  "      - name: s0\n"
	  "        from: arg1\n"
	  "        type: string\n"
	  "      - name: s1\n"
	  "        from: arg2\n"
	  "        type: string\n"
	  "      - name: s2\n"
	  "        from: arg3\n"
	  "        type: string\n",
	  "f.yaml:15:15: functions[].labels[]: more than 2 string labels\n" },
	{ "max_series 0",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    max_series: 0\n",
	  "f.yaml:6:17: functions[].max_series: '0' is not in 1..4096\n" },
	{ "max_series too large",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    max_series: 4097\n",
	  "f.yaml:6:17: functions[].max_series: '4097' is not in 1..4096\n" },
	{ "max_series quoted",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    max_series: \"64\"\n",
	  "f.yaml:6:17: functions[].max_series: expected a number, got a quoted string\n" },
	{ "buckets on a counter",
	  "functions:\n"
	  "  - metric: shop_calls_total\n"
	  "    type: counter\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    buckets: [0.1]\n",
	  "f.yaml:6:14: functions[].buckets: only for histograms\n" },
	{ "buckets not ascending",
	  "functions:\n"
	  "  - metric: shop_seconds\n"
	  "    type: histogram\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    buckets: [0.1, 0.01]\n",
	  "f.yaml:6:20: functions[].buckets: 0.01 is not above the bound before it (must be ascending)\n" },
	{ "value on a function histogram",
	  "functions:\n"
	  "  - metric: shop_seconds\n"
	  "    type: histogram\n"
	  "    binary: /bin/true\n"
	  "    symbol: main\n"
	  "    value: arg2\n",
	  "f.yaml:6:12: functions[].value: only for histograms of USDT probes (a function's histogram times its calls)\n" },
	{ "usdt histogram without value",
	  "functions:\n"
	  "  - metric: shop_seconds\n"
	  "    type: histogram\n"
	  "    binary: /bin/true\n"
	  "    usdt: \"shopd:x\"\n",
	  "f.yaml:2:5: functions[]: a histogram of a USDT probe needs 'value' (the argument holding a duration in nanoseconds): a probe point has no return to time\n" },
	{ "usdt histogram value from return",
	  "functions:\n"
	  "  - metric: shop_seconds\n"
	  "    type: histogram\n"
	  "    binary: /bin/true\n"
	  "    usdt: \"shopd:x\"\n"
	  "    value: return\n",
	  "f.yaml:6:12: functions[].value: 'return' is not arg1..arg6\n" },
	{ "functions not a list",
	  "functions:\n"
	  "  metric: a_total\n",
	  "f.yaml:2:3: functions: expected a list, got a mapping\n" },
};

static void test_bad_declarations_exit_with_file_line_column_and_reason(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(rejects); i++) {
		struct sockeye_config cfg;
		char *err;
		int ret = load(rejects[i].yaml, &cfg, &err);

		print_message("# Case %zu: %s\n", i, rejects[i].name);
		expect_int(rejects[i].name, ret, -EINVAL);
		expect_str(rejects[i].name, err, rejects[i].want);
		expect_int(rejects[i].name, cfg.n_functions, 0); /* a failed load changes nothing */
		free(err);
		config_free(&cfg);
	}
}

/* The example, with the http section (the default buckets) after it. */
static const char *const example =
	"functions:\n"
	"  - metric: shop_storage_operation_duration_seconds\n"
	"    type: histogram\n"
	"    binary: /usr/local/bin/shopd\n"
	"    symbol: storage_op\n"
	"    max_series: 64\n"
	"    labels:\n"
	"      - name: operation\n"
	"        from: arg1\n"
	"        type: string\n"
	"      - name: backend\n"
	"        from: arg2\n"
	"        type: int\n"
	"        values: {0: memory, 1: disk}\n"
	"  - metric: shop_cache_lookups_total\n"
	"    type: counter\n"
	"    binary: /usr/local/bin/shopd\n"
	"    symbol: cache_get\n"
	"    help: Cache lookups by result.\n"
	"    labels:\n"
	"      - name: result\n"
	"        from: return\n"
	"        type: int\n"
	"        values: {0: miss, 1: hit, -1: miss}\n"
	"  - metric: shop_request_seconds\n"
	"    type: histogram\n"
	"    binary: /usr/local/bin/shopd\n"
	"    usdt: \"shopd:request_done\"\n"
	"    buckets: [0.0005, 1]\n"
	"    value: arg2\n"
	"    max_series: 3\n"
	"http:\n"
	"  duration_buckets: [0.25, 0.5]\n";

static void test_example_declarations_are_read_as_written(void **state)
{
	struct sockeye_config cfg;
	const struct sockeye_func_cfg *f;
	char *err;

	(void)state;
	assert_int_equal(load(example, &cfg, &err), 0);
	expect_str("stderr", err, "");
	free(err);
	assert_int_equal(cfg.n_functions, 3);

	f = &cfg.functions[0];
	expect_str("metric", f->metric, "shop_storage_operation_duration_seconds");
	expect_int("type", f->type, SOCKEYE_FUNC_HISTOGRAM);
	expect_str("symbol", f->symbol, "storage_op");
	assert_null(f->usdt_name);
	assert_null(f->help);
	expect_int("default buckets: http.duration_buckets, read later", f->n_bounds, 2);
	expect_int("bound 0", f->bounds_ns[0], 250000000);
	expect_int("bound 1", f->bounds_ns[1], 500000000);
	expect_int("max_series", f->max_series, 64);
	expect_int("labels", f->n_labels, 2);
	expect_str("label 0", f->labels[0].name, "operation");
	expect_int("label 0 src", f->labels[0].src, SOCKEYE_FUNC_SRC_ARG1);
	expect_int("label 0 kind", f->labels[0].kind, SOCKEYE_FUNC_KIND_STRING);
	expect_int("label 1 src", f->labels[1].src, SOCKEYE_FUNC_SRC_ARG1 + 1);
	expect_int("label 1 values", f->labels[1].n_values, 2);
	expect_int("value 1", f->labels[1].values[1], 1);
	expect_str("value 1 name", f->labels[1].value_names[1], "disk");
	expect_int("probe_at line", f->probe_at.line, 5);
	expect_int("probe_at column", f->probe_at.column, 13);

	f = &cfg.functions[1];
	expect_int("type", f->type, SOCKEYE_FUNC_COUNTER);
	expect_str("help", f->help, "Cache lookups by result.");
	expect_int("counter: no buckets", f->n_bounds, 0);
	expect_int("return label", f->labels[0].src, SOCKEYE_FUNC_SRC_RETURN);
	expect_int("values", f->labels[0].n_values, 3);
	expect_int("negative value", f->labels[0].values[2], -1);
	expect_str("two values, one name", f->labels[0].value_names[2], "miss");

	f = &cfg.functions[2];
	expect_str("usdt provider", f->usdt_provider, "shopd");
	expect_str("usdt name", f->usdt_name, "request_done");
	assert_null(f->symbol);
	expect_int("value", f->value_src, SOCKEYE_FUNC_SRC_ARG1 + 1);
	expect_int("own buckets", f->n_bounds, 2);
	expect_int("bound 0", f->bounds_ns[0], 500000);
	expect_int("max_series", f->max_series, 3);
	config_free(&cfg);
}

static void test_empty_functions_section_declares_nothing(void **state)
{
	struct sockeye_config cfg;
	char *err;

	(void)state;
	assert_int_equal(load("functions:\n", &cfg, &err), 0);
	expect_str("stderr", err, "");
	expect_int("n_functions", cfg.n_functions, 0);
	free(err);
	config_free(&cfg);
	assert_int_equal(load("functions: []\n", &cfg, &err), 0);
	expect_int("n_functions", cfg.n_functions, 0);
	free(err);
	config_free(&cfg);
}

/* ---- symbols and USDT probes in real ELF files -------------------------------------------- */

/* Probed by the cases below: they live in this very executable. */
__attribute__((noinline, used)) int funcs_test_target(int a)
{
	DTRACE_PROBE2(sockeye_test, point, a, a + 1);
	return a * 3;
}

/* An array element as a USDT argument: gcc -O2 reads it as 8@(%base,%index,8). */
__attribute__((noinline, used)) void funcs_test_indexed(const char *const *names, long i)
{
	DTRACE_PROBE1(sockeye_test, indexed, names[i]);
}

struct elf_case {
	const char *name;
	const char *decl;   /* the lines after binary: (symbol/usdt and more) */
	const char *binary; /* NULL: this executable */
	const char *want;   /* stderr with %s for the binary; "" when it resolves */
};

static const struct elf_case elf_cases[] = {
	{ "a function of this executable", "    symbol: funcs_test_target\n", NULL, "" },
	{ "a symbol that is not there", "    symbol: no_such_function\n", NULL,
	  "f.yaml:5:13: functions[]: no function symbol 'no_such_function' in %s\n" },
	{ "a function this executable only imports", "    symbol: popen\n", NULL,
	  "f.yaml:5:13: functions[]: 'popen' is not defined in %s, only imported: declare it on "
	  "the shared library that defines it\n" },
	{ "an IFUNC resolver", "    symbol: strlen\n", "/lib/x86_64-linux-gnu/libc.so.6",
	  "f.yaml:5:13: functions[]: 'strlen' in %s is an IFUNC resolver, not the function it "
	  "selects: declare the implementation's symbol\n" },
	{ "a data symbol", "    symbol: self_exe\n", NULL,
	  "f.yaml:5:13: functions[]: no function symbol 'self_exe' in %s\n" },
	{ "a USDT probe of this executable", "    usdt: \"sockeye_test:point\"\n", NULL, "" },
	{ "a USDT probe that is not there", "    usdt: \"sockeye_test:nowhere\"\n", NULL,
	  "f.yaml:5:11: functions[]: no USDT probe 'sockeye_test:nowhere' in %s (readelf -n "
	  "lists them)\n" },
	{ "a USDT label from an argument the probe lacks",
	  "    usdt: \"sockeye_test:point\"\n"
	  "    labels:\n"
	  "      - name: x\n"
	  "        from: arg3\n"
	  "        type: int\n",
	  NULL, "f.yaml:8:15: functions[]: USDT probe 'sockeye_test:point' in %s has 2 arguments, "
		"not 3\n" },
	{ "a USDT argument libbpf cannot read", "    usdt: \"sockeye_test:indexed\"\n", NULL,
	  "f.yaml:5:11: functions[]: USDT probe 'sockeye_test:indexed' in %s has an argument "
	  "libbpf cannot read: '8@(%%rdi,%%rsi,8)' (a base and an index register)\n" },
	{ "a binary that does not exist", "    symbol: main\n", "/nonexistent/shopd",
	  "f.yaml:4:13: functions[]: %s: No such file or directory\n" },
	{ "a file that is not ELF", "    symbol: main\n", "@yaml",
	  "f.yaml:4:13: functions[]: %s: not an ELF file\n" },
};

static void test_symbols_and_usdt_probes_are_checked_in_their_files(void **state)
{
	char yaml_path[PATH_MAX];

	(void)state;
	snprintf(yaml_path, sizeof(yaml_path), "%s/f.yaml", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(elf_cases); i++) {
		const struct elf_case *c = &elf_cases[i];
		const char *bin = !c->binary ? self_exe : strcmp(c->binary, "@yaml") == 0 ? yaml_path
											 : c->binary;
		struct sockeye_config cfg;
		struct capture cap;
		char *yaml, *want, *err, *out;
		int ret;

#ifdef __SANITIZE_ADDRESS__
		/* ASan changes the registers gcc picks for the probe's operands: the indexed form
		 * this case needs is checked in the uninstrumented pass. */
		if (strstr(c->name, "libbpf cannot read"))
			continue;
#endif
		print_message("# Case %zu: %s\n", i, c->name);
		assert_true(asprintf(&yaml,
				     "functions:\n  - metric: t_total\n    type: counter\n"
				     "    binary: %s\n%s",
				     bin, c->decl) > 0);
		assert_int_equal(load(yaml, &cfg, &err), 0);
		free(err);
		capture_start(&cap);
		ret = funcs_elf_check_config(&cfg);
		capture_end(&cap, &out, &err);
		assert_true(asprintf(&want, c->want, bin) >= 0);
		expect_str(c->name, err, want);
		expect_int(c->name, ret, c->want[0] ? -EINVAL : 0);
		free(out);
		free(err);
		free(want);
		free(yaml);
		config_free(&cfg);
	}
}

static void test_resolved_symbol_is_at_its_file_offset(void **state)
{
	struct sockeye_config cfg;
	struct funcs_target t;
	struct config_mark at;
	char *yaml, *err, why[256], cmd[PATH_MAX + 128], out[256];
	unsigned long long addr = 0;

	(void)state;
	assert_true(asprintf(&yaml,
			     "functions:\n  - metric: t_total\n    type: counter\n    binary: %s\n"
			     "    usdt: \"sockeye_test:point\"\n  - metric: u_total\n"
			     "    type: counter\n    binary: %s\n    symbol: funcs_test_target\n",
			     self_exe, self_exe) > 0);
	assert_int_equal(load(yaml, &cfg, &err), 0);
	free(err);
	free(yaml);
	assert_int_equal(funcs_elf_resolve(&cfg.functions[0], &t, why, sizeof(why), &at), 0);
	expect_int("USDT sites", t.usdt_sites, 1);
	expect_int("USDT arguments", t.usdt_args, 2);
	assert_int_equal(funcs_elf_resolve(&cfg.functions[1], &t, why, sizeof(why), &at), 0);
	/* nm gives the symbol's address; this PIE's text is mapped at file offset = address. */
	snprintf(cmd, sizeof(cmd), "nm %s | awk '$3 == \"funcs_test_target\" { print $1 }'",
		 self_exe);
	assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
	assert_int_equal(sscanf(out, "%llx", &addr), 1);
	expect_int("offset", t.offset, addr + (t.skipped_endbr ? 4 : 0));
	config_free(&cfg);
}

/* ---- the probe point ---------------------------------------------------------------------- */

static void test_probe_point_is_a_push_the_kernel_emulates(void **state)
{
	static const struct {
		const char *name;
		unsigned char code[8];
		size_t n, off;
		bool emulated;
	} cases[] = {
		{ "push %rbp", { 0x55, 0x48, 0x89, 0xe5 }, 4, 0, true },
		{ "push %r12", { 0x41, 0x54, 0x55 }, 3, 0, true },
		{ "endbr64; push %rbx", { 0xf3, 0x0f, 0x1e, 0xfa, 0x53 }, 5, 4, true },
		{ "endbr64; push %r15", { 0xf3, 0x0f, 0x1e, 0xfa, 0x41, 0x57 }, 6, 4, true },
		{ "endbr64; sub $8,%rsp", { 0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x83, 0xec, 0x08 }, 8, 0,
		  false },
		{ "sub $8,%rsp", { 0x48, 0x83, 0xec, 0x08 }, 4, 0, false },
		{ "mov %rdi,%rax", { 0x48, 0x89, 0xf8 }, 3, 0, false },
		{ "rex.B without push", { 0x41, 0x89, 0xf8 }, 3, 0, false },
		{ "nothing read", { 0 }, 0, 0, false },
		{ "endbr64 cut short", { 0xf3, 0x0f, 0x1e }, 3, 0, false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		bool emulated = !cases[i].emulated;
		size_t off = funcs_elf_probe_point(cases[i].code, cases[i].n, &emulated);

		expect_int(cases[i].name, off, cases[i].off);
		expect_int(cases[i].name, emulated, cases[i].emulated);
	}
}

/* ---- string labels as the kernel cut them ------------------------------------------------- */

static void test_string_label_cut_by_the_kernel_never_splits_a_character(void **state)
{
	static const struct {
		const char *name;
		const char *raw; /* what bpf_probe_read_user_str left: at most 63 bytes */
		const char *want;
	} cases[] = {
		{ "short", "get", "get" },
		{ "empty", "", "" },
		{ "63 ASCII bytes: kept whole",
		  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk",
		  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk" },
		{ "62 bytes and the first of a 2-byte character: dropped",
		  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij\xc3",
		  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij" },
		{ "61 bytes and a whole 2-byte character: kept",
		  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghi\xc3\xa9",
		  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghi\xc3\xa9" },
		{ "60 bytes and 3 of a 4-byte character: dropped",
		  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefgh\xf0\x9f\x90",
		  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefgh" },
		{ "invalid bytes inside become ?", "a\xff" "b", "a?b" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char raw[SOCKEYE_FUNC_STR_LEN] = { 0 }, out[SOCKEYE_FUNC_VALUE_LEN];

		assert_true(strlen(cases[i].raw) < sizeof(raw));
		memcpy(raw, cases[i].raw, strlen(cases[i].raw));
		collect_funcs_string(raw, out, sizeof(out));
		expect_str(cases[i].name, out, cases[i].want);
	}
}

/* ---- exposition --------------------------------------------------------------------------- */

static const struct sockeye_identity ID_SHOP = { .v = { [SOCKEYE_ID_SERVICE_NAME] = "shop" } };

static struct sockeye_func_series cache_series[] = {
	{ .values = { "hit" }, .identity = &ID_SHOP, .count = 4 },
	{ .values = { "miss" }, .identity = &ID_SHOP, .count = 3 },
};

static struct sockeye_func_series storage_series[] = {
	{ .values = { "get", "memory" }, .identity = &ID_SHOP, .count = 5, .sum_ns = 10500000,
	  .buckets = { 0, 5 } },
	{ .values = { "{other}", "{other}" }, .count = 1, .sum_ns = 2000000000,
	  .buckets = { 0, 0, 1 } },
};

static struct sockeye_func_family families[] = {
	{ .metric = "shop_cache_lookups_total", .help = "Cache lookups by result.",
	  .binary = "/usr/local/bin/shopd", .type = SOCKEYE_FUNC_COUNTER,
	  .label_names = { "result" }, .n_labels = 1, .series = cache_series, .n_series = 2,
	  .probes_attached = 1, .hit_kinds = 1 << SOCKEYE_FUNC_HIT_RETURN,
	  .hits = { 0, 7 } },
	{ .metric = "shop_storage_operation_duration_seconds",
	  .help = "Duration of calls of storage_op in /usr/local/bin/shopd, entry to return, in "
		  "seconds.",
	  .binary = "/usr/local/bin/shopd", .type = SOCKEYE_FUNC_HISTOGRAM,
	  .label_names = { "operation", "backend" }, .n_labels = 2,
	  .bounds_ns = { 1000000, 1000000000 }, .n_bounds = 2, .series = storage_series,
	  .n_series = 2, .probes_attached = 1, .probes_failed = 1,
	  .hit_kinds = 1 << SOCKEYE_FUNC_HIT_ENTRY | 1 << SOCKEYE_FUNC_HIT_RETURN,
	  .hits = { 6, 6 } },
	{ .metric = "shop_messages_processed_total", .help = "Hits of USDT probe.",
	  .binary = "/usr/local/bin/shopd", .type = SOCKEYE_FUNC_COUNTER, .usdt = 1,
	  .probes_attached = 2, .hit_kinds = 1 << SOCKEYE_FUNC_HIT_ENTRY },
};

static struct sockeye_func_snapshot func_snap = {
	.families = families,
	.n_families = ARRAY_SIZE(families),
	.stats = { [SOCKEYE_FUNC_STAT_OTHER] = 1 },
};

static const struct sockeye_label static_labels[] = { { "zone", "eu" } };

static char *render_funcs_only(enum render_format fmt)
{
	struct sockeye_snapshot snap;
	struct sockeye_buf b;
	char *text, *start, *end;

	memset(&snap, 0, sizeof(snap));
	snap.funcs = &func_snap;
	snap.static_labels = static_labels;
	snap.n_static_labels = ARRAY_SIZE(static_labels);
	buf_init(&b);
	assert_int_equal(render_text(&snap, fmt, &b), 0);
	/* The declared families come after the HTTP ones and before sockeye_build_info; the
	 * self families after the TLS ones (absent here) and before the identity cache's. */
	start = strstr(b.data, "# HELP shop_cache_lookups");
	end = strstr(b.data, "# HELP sockeye_build_info");
	assert_non_null(start);
	assert_non_null(end);
	assert_true(start < end);
	text = strndup(start, (size_t)(end - start));
	start = strstr(b.data, "# HELP sockeye_function_probes");
	assert_non_null(start);
	/* ... up to the first family after sockeye_function_*. */
	for (end = start; (end = strstr(end + 1, "\n# HELP ")) &&
			  strncmp(end, "\n# HELP sockeye_function_", 25) == 0;)
		;
	if (!end)
		end = start + strlen(start);
	assert_true(asprintf(&end, "%s%.*s\n", text, (int)(end - start), start) > 0);
	free(text);
	buf_free(&b);
	return end;
}

static void test_families_render_exactly(void **state)
{
	static const char want[] =
		"# HELP shop_cache_lookups_total Cache lookups by result.\n"
		"# TYPE shop_cache_lookups_total counter\n"
		"shop_cache_lookups_total{result=\"hit\",service_name=\"shop\",zone=\"eu\"} 4\n"
		"shop_cache_lookups_total{result=\"miss\",service_name=\"shop\",zone=\"eu\"} 3\n"
		"# HELP shop_storage_operation_duration_seconds Duration of calls of storage_op in "
		"/usr/local/bin/shopd, entry to return, in seconds.\n"
		"# TYPE shop_storage_operation_duration_seconds histogram\n"
		"shop_storage_operation_duration_seconds_bucket{operation=\"get\",backend=\"memory\","
		"service_name=\"shop\",zone=\"eu\",le=\"0.001\"} 0\n"
		"shop_storage_operation_duration_seconds_bucket{operation=\"get\",backend=\"memory\","
		"service_name=\"shop\",zone=\"eu\",le=\"1\"} 5\n"
		"shop_storage_operation_duration_seconds_bucket{operation=\"get\",backend=\"memory\","
		"service_name=\"shop\",zone=\"eu\",le=\"+Inf\"} 5\n"
		"shop_storage_operation_duration_seconds_sum{operation=\"get\",backend=\"memory\","
		"service_name=\"shop\",zone=\"eu\"} 0.0105\n"
		"shop_storage_operation_duration_seconds_count{operation=\"get\",backend=\"memory\","
		"service_name=\"shop\",zone=\"eu\"} 5\n"
		"shop_storage_operation_duration_seconds_bucket{operation=\"{other}\",backend=\"{other}\","
		"zone=\"eu\",le=\"0.001\"} 0\n"
		"shop_storage_operation_duration_seconds_bucket{operation=\"{other}\",backend=\"{other}\","
		"zone=\"eu\",le=\"1\"} 0\n"
		"shop_storage_operation_duration_seconds_bucket{operation=\"{other}\",backend=\"{other}\","
		"zone=\"eu\",le=\"+Inf\"} 1\n"
		"shop_storage_operation_duration_seconds_sum{operation=\"{other}\",backend=\"{other}\","
		"zone=\"eu\"} 2\n"
		"shop_storage_operation_duration_seconds_count{operation=\"{other}\",backend=\"{other}\","
		"zone=\"eu\"} 1\n"
		"# HELP shop_messages_processed_total Hits of USDT probe.\n"
		"# TYPE shop_messages_processed_total counter\n"
		"# HELP sockeye_function_probes Probe points of each declared function metric (entry, "
		"return, USDT sites), by state: attached, or failed (the log says why).\n"
		"# TYPE sockeye_function_probes gauge\n"
		"sockeye_function_probes{metric=\"shop_cache_lookups_total\",binary=\"/usr/local/bin/"
		"shopd\",state=\"attached\",zone=\"eu\"} 1\n"
		"sockeye_function_probes{metric=\"shop_cache_lookups_total\",binary=\"/usr/local/bin/"
		"shopd\",state=\"failed\",zone=\"eu\"} 0\n"
		"sockeye_function_probes{metric=\"shop_storage_operation_duration_seconds\",binary=\"/"
		"usr/local/bin/shopd\",state=\"attached\",zone=\"eu\"} 1\n"
		"sockeye_function_probes{metric=\"shop_storage_operation_duration_seconds\",binary=\"/"
		"usr/local/bin/shopd\",state=\"failed\",zone=\"eu\"} 1\n"
		"sockeye_function_probes{metric=\"shop_messages_processed_total\",binary=\"/usr/local/"
		"bin/shopd\",state=\"attached\",zone=\"eu\"} 2\n"
		"sockeye_function_probes{metric=\"shop_messages_processed_total\",binary=\"/usr/local/"
		"bin/shopd\",state=\"failed\",zone=\"eu\"} 0\n"
		"# HELP sockeye_function_probe_hits_total Times the probes of each declared function "
		"metric ran, by probe: entry (a function's entry or a USDT probe), return.\n"
		"# TYPE sockeye_function_probe_hits_total counter\n"
		"sockeye_function_probe_hits_total{metric=\"shop_cache_lookups_total\",binary=\"/usr/"
		"local/bin/shopd\",probe=\"return\",zone=\"eu\"} 7\n"
		"sockeye_function_probe_hits_total{metric=\"shop_storage_operation_duration_seconds\","
		"binary=\"/usr/local/bin/shopd\",probe=\"entry\",zone=\"eu\"} 6\n"
		"sockeye_function_probe_hits_total{metric=\"shop_storage_operation_duration_seconds\","
		"binary=\"/usr/local/bin/shopd\",probe=\"return\",zone=\"eu\"} 6\n"
		"sockeye_function_probe_hits_total{metric=\"shop_messages_processed_total\",binary=\"/"
		"usr/local/bin/shopd\",probe=\"usdt\",zone=\"eu\"} 0\n"
		"# HELP sockeye_function_events_total Calls of declared functions not counted, or "
		"counted only under \"{other}\", by event.\n"
		"# TYPE sockeye_function_events_total counter\n"
		"sockeye_function_events_total{event=\"return_without_entry\",zone=\"eu\"} 0\n"
		"sockeye_function_events_total{event=\"series_map_full\",zone=\"eu\"} 0\n"
		"sockeye_function_events_total{event=\"counted_as_other\",zone=\"eu\"} 1\n"
		"sockeye_function_events_total{event=\"string_unreadable\",zone=\"eu\"} 0\n"
		"sockeye_function_events_total{event=\"usdt_argument_unreadable\",zone=\"eu\"} 0\n";
	char *got = render_funcs_only(RENDER_TEXT_004);

	(void)state;
	expect_str("text 0.0.4", got, want);
	free(got);
	got = render_funcs_only(RENDER_OPENMETRICS);
	/* OpenMetrics names a counter family without _total; its samples keep it. */
	assert_non_null(strstr(got, "# TYPE shop_cache_lookups counter\n"
				    "shop_cache_lookups_total{result=\"hit\""));
	assert_non_null(strstr(got, "# TYPE sockeye_function_events counter\n"));
	free(got);
}

#define PY_CHECK                                                                                   \
	"import sys\n"                                                                             \
	"from prometheus_client.parser import text_string_to_metric_families as text\n"           \
	"from prometheus_client.openmetrics.parser import text_string_to_metric_families as om\n" \
	"parse = om if sys.argv[2] == \"om\" else text\n"                                         \
	"fams = list(parse(open(sys.argv[1]).read()))\n"                                           \
	"shop = [f for f in fams if f.name.startswith(\"shop_\")]\n"                              \
	"print(\" \".join(\"%%s:%%s:%%d\" %% (f.name, f.type, len(f.samples)) for f in shop))\n"

static void test_families_pass_promtool_and_prometheus_client(void **state)
{
	static const char want[] = "shop_cache_lookups:counter:2 "
				   "shop_storage_operation_duration_seconds:histogram:10 "
				   "shop_messages_processed:counter:0\n";
	struct sockeye_snapshot snap;
	struct sockeye_buf b;
	const char *fmts[] = { "text", "om" };
	char out[4096], *cmd, *path;
	int rc;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		memset(&snap, 0, sizeof(snap));
		snap.funcs = &func_snap;
		snap.static_labels = static_labels;
		snap.n_static_labels = ARRAY_SIZE(static_labels);
		buf_init(&b);
		assert_int_equal(render_text(&snap, i ? RENDER_OPENMETRICS : RENDER_TEXT_004, &b), 0);
		path = write_file(tmpdir, i ? "f.om" : "f.prom", b.data);
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
		if (rc != 0 || strcmp(out, want) != 0)
			fail_msg("prometheus_client (%s, exit %d):\n%s\nwant:\n%s", fmts[i], rc, out,
				 want);
		free(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_declarations_exit_with_file_line_column_and_reason),
		cmocka_unit_test(test_example_declarations_are_read_as_written),
		cmocka_unit_test(test_empty_functions_section_declares_nothing),
		cmocka_unit_test(test_symbols_and_usdt_probes_are_checked_in_their_files),
		cmocka_unit_test(test_resolved_symbol_is_at_its_file_offset),
		cmocka_unit_test(test_probe_point_is_a_push_the_kernel_emulates),
		cmocka_unit_test(test_string_label_cut_by_the_kernel_never_splits_a_character),
		cmocka_unit_test(test_families_render_exactly),
		cmocka_unit_test(test_families_pass_promtool_and_prometheus_client),
	};

	return cmocka_run_group_tests_name("funcs", tests, setup, teardown);
}
